// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! CPU mappings of buffer objects through the DRM file, std only.

use std::{ffi::c_void, io};

extern "C" {
    fn mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, off: i64)
        -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> i32;
}

const PROT_READ: i32 = 1;
const PROT_WRITE: i32 = 2;
/// `MAP_SHARED`: the mapping shows the object itself.
pub(crate) const MAP_SHARED: i32 = 1;
/// `MAP_PRIVATE`: a copy-on-write mapping, which a device buffer cannot offer.
pub(crate) const MAP_PRIVATE: i32 = 2;

/// A readable and writable mapping of `len` bytes at a DRM mmap offset; unmapped on drop.
pub(crate) struct Mapping {
    ptr: *mut u64,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes of `fd` at `offset` with `flags`; the error is the errno.
    pub(crate) fn new(fd: i32, offset: u64, len: usize, flags: i32) -> Result<Self, i32> {
        let off = i64::try_from(offset).map_err(|_| 22)?;
        // SAFETY: A new mapping at an address of the kernel's choosing aliases no Rust object.
        let ptr = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                PROT_READ | PROT_WRITE,
                flags,
                fd,
                off,
            )
        };
        if ptr as isize == -1 {
            return Err(io::Error::last_os_error().raw_os_error().unwrap_or(0));
        }
        Ok(Self {
            ptr: ptr.cast(),
            len,
        })
    }

    /// Number of `u64` words in the mapping.
    pub(crate) fn words(&self) -> usize {
        self.len / 8
    }

    /// Reads word `i` (a volatile access: the memory is shared with the device).
    pub(crate) fn read(&self, i: usize) -> u64 {
        assert!(i < self.words());
        // SAFETY: `i` is inside the mapping, which is valid and aligned while `self` lives.
        unsafe { self.ptr.add(i).read_volatile() }
    }

    /// Writes word `i`.
    pub(crate) fn write(&self, i: usize, value: u64) {
        assert!(i < self.words());
        // SAFETY: As in `read`; the mapping is writable.
        unsafe { self.ptr.add(i).write_volatile(value) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: The range is exactly the mapping made in `new`, and nothing refers to it now.
        unsafe { munmap(self.ptr.cast(), self.len) };
    }
}
