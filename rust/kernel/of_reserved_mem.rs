// SPDX-License-Identifier: GPL-2.0

//! Reserved memory regions described in the device tree.
//!
//! A device-tree node can name carve-outs of physical memory that the bootloader set aside for
//! it (`memory-region` + `memory-region-names`). Drivers that share such memory with firmware
//! need the physical range of a region by name; mapping it is a separate step.
//!
//! C header: [`include/linux/of_reserved_mem.h`](srctree/include/linux/of_reserved_mem.h)

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
