//! The C allocator on wasm32-unknown-unknown, which has no libc: the JPEG 2000 decoder
//! (`openjp2`, a translation of OpenJPEG's C) calls `malloc`, `calloc`, `realloc`, `free` and
//! `strcpy`, which the browser would otherwise be asked to import from "env" (and the module
//! would not instantiate). Each block carries its size in a 16-byte header, so `free` and
//! `realloc` can give the layout back to Rust's allocator.

use std::alloc::{alloc, alloc_zeroed, dealloc, realloc as grow, Layout};

const HEADER: usize = 16;

fn layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(HEADER)?, HEADER).ok()
}

unsafe fn finish(block: *mut u8, size: usize) -> *mut u8 {
    if block.is_null() {
        return block;
    }
    (block as *mut usize).write(size);
    block.add(HEADER)
}

#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut u8 {
    match layout(size) {
        Some(l) => finish(alloc(l), size),
        None => std::ptr::null_mut(),
    }
}

#[no_mangle]
pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut u8 {
    match count
        .checked_mul(size)
        .and_then(|total| Some((total, layout(total)?)))
    {
        Some((total, l)) => finish(alloc_zeroed(l), total),
        None => std::ptr::null_mut(),
    }
}

#[no_mangle]
pub unsafe extern "C" fn free(pointer: *mut u8) {
    if pointer.is_null() {
        return;
    }
    let block = pointer.sub(HEADER);
    let size = (block as *const usize).read();
    dealloc(
        block,
        layout(size).expect("the layout it was allocated with"),
    );
}

#[no_mangle]
pub unsafe extern "C" fn realloc(pointer: *mut u8, size: usize) -> *mut u8 {
    if pointer.is_null() {
        return malloc(size);
    }
    let block = pointer.sub(HEADER);
    let old = (block as *const usize).read();
    match layout(size) {
        Some(new_layout) => finish(
            grow(
                block,
                layout(old).expect("allocated layout"),
                new_layout.size(),
            ),
            size,
        ),
        None => std::ptr::null_mut(),
    }
}

#[no_mangle]
pub unsafe extern "C" fn strcpy(destination: *mut u8, source: *const u8) -> *mut u8 {
    let mut i = 0;
    loop {
        let c = *source.add(i);
        *destination.add(i) = c;
        if c == 0 {
            return destination;
        }
        i += 1;
    }
}
