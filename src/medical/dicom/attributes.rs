//! Reading elements of a data set: text, integers and decimals, sequence items, and values an
//! enhanced multi-frame object keeps in its functional groups.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

pub(super) fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let value = obj.element_opt(tag).ok()??.to_str().ok()?;
    let value = value.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!value.is_empty()).then(|| value.to_string())
}

pub(super) fn floats(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    obj.element_opt(tag).ok()??.to_multi_float64().ok()
}

pub(super) fn int(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    obj.element_opt(tag).ok()??.to_int::<i64>().ok()
}

/// A value directly in the data set, else in the first item of a functional group
/// (`group` -> `sequence` -> `tag`), as enhanced multi-frame objects keep geometry.
pub(super) fn floats_in(
    obj: &InMemDicomObject,
    groups: &[(Tag, Tag)],
    tag: Tag,
) -> Option<Vec<f64>> {
    floats(obj, tag).or_else(|| {
        groups.iter().find_map(|&(group, sequence)| {
            let item = obj.element_opt(group).ok()??.items()?.first()?;
            let inner = item.element_opt(sequence).ok()??.items()?.first()?;
            floats(inner, tag)
        })
    })
}

pub(super) const SHARED: Tag = tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE;
pub(super) const PER_FRAME: Tag = tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE;

pub(super) fn items(obj: &InMemDicomObject, tag: Tag) -> &[InMemDicomObject] {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.items())
        .unwrap_or(&[])
}

pub(super) fn first_item(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    items(obj, tag).first()
}
