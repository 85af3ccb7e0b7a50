// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The bootloader's reserved regions as the UAT code sees them.
//!
//! The UAT code works on two small interfaces so that KUnit can run it on plain memory:
//! [`SharedMem`] (byte-addressed memory shared with the firmware: `handoff`, `ttbs`) and
//! [`TableMem`] (one 16 KiB page-table page: the kernel's upper-half root table, which the
//! bootloader placed at the start of `pagetables`). Here they are implemented over CPU
//! mappings of the real regions.

use core::sync::atomic::{
    fence,
    Ordering, //
};

use kernel::{
    of_reserved_mem::Mapping,
    prelude::*, //
};

use crate::uat::{
    handoff::SharedMem,
    pgtable::{
        Entries,
        TableMem, //
    },
};

/// A reserved region shared with the firmware, at least `min` bytes long.
pub(crate) struct RegionMem(Mapping);

impl RegionMem {
    /// Wraps `map`, which must cover every offset the UAT code uses (`min` bytes).
    pub(crate) fn new(map: Mapping, min: usize) -> Result<Self> {
        if map.size() < min {
            return Err(EINVAL);
        }
        Ok(Self(map))
    }
}

// The UAT code only uses its own constant offsets below the checked minimum size, so the
// bounds-checked accessors cannot fail; a failure would read as zero / drop the write.
impl SharedMem for RegionMem {
    fn read_u8(&self, off: usize) -> u8 {
        self.0.read8(off).unwrap_or(0)
    }

    fn read_u32(&self, off: usize) -> u32 {
        self.0.read32(off).unwrap_or(0)
    }

    fn read_u64(&self, off: usize) -> u64 {
        self.0.read64(off).unwrap_or(0)
    }

    fn write_u8(&self, off: usize, val: u8) {
        let _ = self.0.write8(off, val);
    }

    fn write_u32(&self, off: usize, val: u32) {
        let _ = self.0.write32(off, val);
    }

    fn write_u64(&self, off: usize, val: u64) {
        let _ = self.0.write64(off, val);
    }

    fn mb(&self) {
        fence(Ordering::SeqCst);
    }
}

/// The bootloader's upper-half root table: the first 16 KiB page of `pagetables`.
///
/// # Invariants
///
/// `map` covers at least [`ENTRIES`](crate::uat::pgtable::ENTRIES) aligned `u64`s from its start.
pub(crate) struct RootTable {
    map: Mapping,
    phys: u64,
}

impl RootTable {
    /// Wraps the mapping of the `pagetables` region, whose first page is the root table.
    pub(crate) fn new(map: Mapping, phys: u64) -> Result<Self> {
        if map.size() < size_of::<Entries>()
            || phys % 0x4000 != 0
            || map.as_ptr().align_offset(align_of::<u64>()) != 0
        {
            return Err(EINVAL);
        }
        // INVARIANT: Size and alignment checked above.
        Ok(Self { map, phys })
    }
}

impl TableMem for RootTable {
    fn phys(&self) -> u64 {
        self.phys
    }

    fn entries(&self) -> &Entries {
        // SAFETY: By the type invariant the mapping holds `ENTRIES` aligned `u64`s and lives
        // as long as `self`. `Desc` has the layout of `u64` and any bit pattern is valid; the
        // CPU accesses the table only through `Desc` (the firmware's own
        // entries outside the driver's window are only read), concurrently with the GPU.
        unsafe { &*self.map.as_ptr().cast::<Entries>() }
    }
}
