//! Which slice of a volume idle time encodes next. A frontend with idle time (the browser's
//! worker between requests) asks the session for one slice at a time, so any request the user
//! makes waits for at most the one encoder run in flight. The order is what the user will need
//! soonest: the shown slice, then every drawn box's slice range in the order 3D propagation
//! visits it (middle up to the top, then down to the bottom), then the rest outward from the
//! shown slice.

use crate::error::{Error, Result};

/// A box's slice range, `z_min..=z_max`.
pub type SliceRange = (usize, usize);

/// Slice ranges given as `[z_min, z_max]` pairs, flat.
pub fn slice_ranges(ranges: &[u32]) -> Result<Vec<SliceRange>> {
    if !ranges.len().is_multiple_of(2) {
        return Err(Error::invalid("slice ranges are 2 numbers each"));
    }
    Ok(ranges
        .chunks_exact(2)
        .map(|r| (r[0] as usize, r[1] as usize))
        .collect())
}

/// Every slice of a `depth`-slice volume once, in the order idle time encodes them (see the
/// module's description). Ranges outside the volume are clipped; an empty volume has no order.
pub fn encoding_order(depth: usize, shown: usize, ranges: &[SliceRange]) -> Vec<usize> {
    let mut order = Vec::with_capacity(depth);
    let mut seen = vec![false; depth];
    let mut take = |z: usize, order: &mut Vec<usize>| {
        if z < depth && !seen[z] {
            seen[z] = true;
            order.push(z);
        }
    };
    if depth == 0 {
        return order;
    }
    let shown = shown.min(depth - 1);
    take(shown, &mut order);
    for &(a, b) in ranges {
        let (low, high) = (a.min(b).min(depth - 1), a.max(b).min(depth - 1));
        // As segment::volume propagates: the middle slice up to the top, then down.
        let middle = (low + high) / 2;
        for z in (middle..=high).chain((low..middle).rev()) {
            take(z, &mut order);
        }
    }
    for distance in 1..depth {
        if let Some(z) = shown.checked_add(distance) {
            take(z, &mut order);
        }
        if let Some(z) = shown.checked_sub(distance) {
            take(z, &mut order);
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_slice_first_then_outward() {
        assert_eq!(encoding_order(5, 2, &[]), [2, 3, 1, 4, 0]);
        assert_eq!(encoding_order(4, 0, &[]), [0, 1, 2, 3]);
        assert_eq!(encoding_order(3, 9, &[]), [2, 1, 0]);
        assert!(encoding_order(0, 0, &[(0, 3)]).is_empty());
    }

    #[test]
    fn box_ranges_come_in_propagation_order_before_the_rest() {
        // Shown slice 1; a box over 4..=8 (middle 6): 6, 7, 8, then 5, 4; then outward from 1.
        assert_eq!(
            encoding_order(10, 1, &[(4, 8)]),
            [1, 6, 7, 8, 5, 4, 2, 0, 3, 9]
        );
        // Reversed and out-of-volume ranges are clipped, every slice still appears once.
        let order = encoding_order(6, 0, &[(9, 3), (2, 2)]);
        assert_eq!(order[..5], [0, 4, 5, 3, 2]);
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2, 3, 4, 5]);
    }
}
