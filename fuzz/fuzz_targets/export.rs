//! The label exporters: any volume size and geometry (NaN, zero and huge voxel sizes included)
//! and any labels, to NIfTI (plain, gzip), NPZ and a PNG slice. An export either succeeds or
//! says why; it never panics.
#![no_main]
use arbitrary::Arbitrary;
use daftseg::export::{export_volume_labels, VolumeExport};
use daftseg::medical::MedicalVolume;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    size: [u8; 3],
    affine: [[f64; 4]; 3],
    labels: Vec<u16>,
    slice: u8,
}

fuzz_target!(|input: Input| {
    let size = input.size.map(|n| n as usize % 17);
    let voxels = size.iter().product::<usize>();
    let mut affine = [[0.0; 4]; 4];
    affine[..3].copy_from_slice(&input.affine);
    affine[3][3] = 1.0;
    let Ok(volume) = MedicalVolume::new(size, 1, vec![0.0; voxels], affine, None, "fuzz") else {
        return;
    };
    let volume = volume.reoriented();
    let mut labels = input.labels;
    labels.resize(voxels, 0);
    for format in [
        VolumeExport::Nifti { gzip: false },
        VolumeExport::Nifti { gzip: true },
        VolumeExport::Npz,
        VolumeExport::PngSlice { z: input.slice as usize },
    ] {
        let _ = export_volume_labels(&volume, &labels, format);
    }
});
