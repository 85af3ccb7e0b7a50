// SPDX-License-Identifier: GPL-2.0

//! Reserved memory regions described in the device tree.
//!
//! A device-tree node can name carve-outs of physical memory that the bootloader set aside for
//! it (`memory-region` + `memory-region-names`). Drivers that share such memory with firmware
//! need the physical range of a region by name, and a CPU mapping of it.
//!
//! A reserved region is not a device resource: it belongs to the memory map from boot to
//! reboot, whether or not a driver is bound, so its mapping is owned and needs no borrow of
//! the device. That matters for memory a coprocessor keeps reading after its driver is
//! gone, and for objects built on it that are reference-counted by userspace-facing state
//! (a GPU's page tables referenced by open files) and so may outlive the binding.
//!
//! C header: [`include/linux/of_reserved_mem.h`](srctree/include/linux/of_reserved_mem.h)

use core::{
    ptr::NonNull, //
};

use crate::{
    bindings,
    device::{
        Bound,
        Device, //
    },
    error::{
        to_result,
        Result, //
    },
    io::{
        PhysAddr,
        ResourceSize, //
    },
    prelude::*,
};

/// The physical range of one reserved memory region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    start: PhysAddr,
    size: ResourceSize,
}

impl Region {
    /// Creates a region description from its start address and size in bytes.
    pub const fn new(start: PhysAddr, size: ResourceSize) -> Self {
        Self { start, size }
    }

    /// Returns the physical address of the first byte of the region.
    pub const fn start(&self) -> PhysAddr {
        self.start
    }

    /// Returns the size of the region in bytes.
    pub const fn size(&self) -> ResourceSize {
        self.size
    }

    /// Maps the region write-back for the CPU, for memory that is shared with a cache-coherent
    /// agent (such as a coprocessor's firmware).
    ///
    /// The device is the one whose `memory-region` named the region; the mapping itself does
    /// not depend on it staying bound.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for an empty region, [`ENOMEM`] if it cannot be mapped.
    pub fn map_wb(&self, _dev: &Device<Bound>) -> Result<Mapping> {
        let size = usize::try_from(self.size).map_err(|_| EINVAL)?;
        if size == 0 {
            return Err(EINVAL);
        }
        // SAFETY: `memremap` has no preconditions; it fails for ranges it cannot map.
        let ptr = unsafe {
            bindings::memremap(
                self.start,
                size,
                bindings::MEMREMAP_WB as crate::ffi::c_ulong,
            )
        };
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(ENOMEM)?;
        // INVARIANT: `ptr` maps `size` bytes until `memunmap` in `drop`.
        Ok(Mapping { ptr, size })
    }
}

/// A CPU mapping of a reserved region.
///
/// The memory is shared with another agent, so every access is volatile and nothing is assumed
/// about its contents between accesses.
///
/// # Invariants
///
/// `ptr` is a `memremap` mapping of `size` bytes, valid until the value is dropped.
pub struct Mapping {
    ptr: NonNull<u8>,
    size: usize,
}

// SAFETY: The mapping is plain memory and may be used from any thread.
unsafe impl Send for Mapping {}
// SAFETY: All accesses through `&self` are volatile reads and writes of plain memory.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Size of the mapping in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The mapping's first byte, for code that must hand the CPU address on.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Pointer to a `T` at `offset`, if it lies inside the mapping and is aligned.
    fn at<T>(&self, offset: usize) -> Result<*mut T> {
        let end = offset
            .checked_add(core::mem::size_of::<T>())
            .ok_or(EINVAL)?;
        if end > self.size || offset % core::mem::align_of::<T>() != 0 {
            return Err(EINVAL);
        }
        // SAFETY: `offset` is within the mapping, as checked above.
        Ok(unsafe { self.ptr.as_ptr().add(offset) }.cast::<T>())
    }

    /// Reads the `u32` at `offset` (which must be 4-byte aligned and inside the mapping).
    pub fn read32(&self, offset: usize) -> Result<u32> {
        let p = self.at::<u32>(offset)?;
        // SAFETY: `p` is aligned and inside the mapping, which is valid by the invariant.
        Ok(unsafe { p.read_volatile() })
    }

    /// Writes the `u32` at `offset` (which must be 4-byte aligned and inside the mapping).
    pub fn write32(&self, offset: usize, value: u32) -> Result {
        let p = self.at::<u32>(offset)?;
        // SAFETY: As in `read32`.
        unsafe { p.write_volatile(value) };
        Ok(())
    }

    /// Reads the `u64` at `offset` (which must be 8-byte aligned and inside the mapping).
    pub fn read64(&self, offset: usize) -> Result<u64> {
        let p = self.at::<u64>(offset)?;
        // SAFETY: As in `read32`.
        Ok(unsafe { p.read_volatile() })
    }

    /// Writes the `u64` at `offset` (which must be 8-byte aligned and inside the mapping).
    pub fn write64(&self, offset: usize, value: u64) -> Result {
        let p = self.at::<u64>(offset)?;
        // SAFETY: As in `read32`.
        unsafe { p.write_volatile(value) };
        Ok(())
    }

    /// Reads the byte at `offset`.
    pub fn read8(&self, offset: usize) -> Result<u8> {
        let p = self.at::<u8>(offset)?;
        // SAFETY: As in `read32`.
        Ok(unsafe { p.read_volatile() })
    }

    /// Writes the byte at `offset`.
    pub fn write8(&self, offset: usize, value: u8) -> Result {
        let p = self.at::<u8>(offset)?;
        // SAFETY: As in `read32`.
        unsafe { p.write_volatile(value) };
        Ok(())
    }

    /// Copies `buf.len()` bytes starting at `offset` out of the mapping.
    pub fn read_bytes(&self, offset: usize, buf: &mut [u8]) -> Result {
        let end = offset.checked_add(buf.len()).ok_or(EINVAL)?;
        if end > self.size {
            return Err(EINVAL);
        }
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.read8(offset + i)?;
        }
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: By the type invariant `ptr` came from `memremap` and is unmapped only here.
        unsafe { bindings::memunmap(self.ptr.as_ptr().cast()) };
    }
}

/// Looks up the reserved memory region that `dev`'s device-tree node names `name`.
///
/// # Errors
///
/// Returns [`ENODEV`] when the device has no device-tree node, and the C function's error
/// (`-ENODEV` when no region has that name, `-EINVAL` for a malformed entry) otherwise.
pub fn region_by_name(dev: &Device<Bound>, name: &CStr) -> Result<Region> {
    // SAFETY: `dev.as_raw()` is a valid `struct device` for the lifetime of `dev`.
    let np = unsafe { (*dev.as_raw()).of_node };
    if np.is_null() {
        return Err(ENODEV);
    }
    let mut res = bindings::resource::default();
    // SAFETY:
    // - `np` is the device's node, kept alive by the bound device;
    // - `name` is a valid NUL-terminated string for the duration of the call;
    // - `res` is a valid, writable `struct resource`.
    to_result(unsafe {
        bindings::of_reserved_mem_region_to_resource_byname(np, name.as_char_ptr(), &mut res)
    })?;
    let size = res
        .end
        .checked_sub(res.start)
        .and_then(|len| len.checked_add(1))
        .ok_or(EINVAL)?;
    Ok(Region::new(res.start, size))
}
