//! The type of a label volume's values: a byte a voxel up to 255 objects, two beyond, so a
//! clinical-size volume's labels take as little memory as its objects allow.

/// A label value in a label volume: u8 up to 255 objects (a byte a voxel), u16 beyond.
pub trait LabelValue: Copy + Default + PartialOrd + Into<u16> + Send + Sync + 'static {
    /// The most labels the type holds.
    const MAX: usize;
    /// Label `n` (at most [`LabelValue::MAX`]).
    fn from_label(n: usize) -> Self;
}

impl LabelValue for u8 {
    const MAX: usize = u8::MAX as usize;
    fn from_label(n: usize) -> Self {
        n as u8
    }
}

impl LabelValue for u16 {
    const MAX: usize = u16::MAX as usize;
    fn from_label(n: usize) -> Self {
        n as u16
    }
}
