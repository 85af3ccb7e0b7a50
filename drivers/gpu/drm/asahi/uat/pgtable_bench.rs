// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Page-table benchmark: the driver's UAT tables against the kernel's io-pgtable-arm.
//!
//! Apple's UAT uses the Arm VMSAv8 long-descriptor layout with a 16 KiB granule, which the
//! kernel's io-pgtable-arm also implements (LPAE stage 1), so the kernel's generic IOMMU page
//! tables are the natural yardstick for ours. Both get the same job: map, then unmap, `N`
//! pages of 16 KiB (`N` = 1, 256, 65536) in one call each, 39-bit input and 40-bit output
//! addresses (three levels), no TLB maintenance (ours is given a no-op invalidation, theirs
//! no gather), tables from the page allocator and walked coherently. Each line printed is
//!
//! `uat <map|unmap> <N> pages: ours <x> ns/page, io-pgtable-arm <y> ns/page`
//!
//! The figures are printed, never asserted (`make bench` collects them). What the suite does
//! assert is that both tables translate every sampled page to the same address after the map
//! and to nothing after the unmap, so a figure never comes from a table that did the wrong
//! thing. On a debug kernel (lockdep, SLUB debugging) both sides pay the same overheads.

use kernel::{
    bindings,
    ffi::c_void,
    prelude::*,
    time::{
        Instant,
        Monotonic, //
    },
};

use super::{
    pgtable::{
        KernelTables,
        PageTable,
        IAS, //
    },
    pte::{
        self,
        Scope,
        PROT_GPU_SHARED_RW, //
    },
};

/// Output address bits (t8103's UAT).
const OAS: u32 = 40;
/// First VA used.
const VA: u64 = 0x10_0000_0000;
/// First physical address mapped (never accessed: only written into descriptors).
const PA: u64 = 0x80_0000_0000;
/// Sizes, in 16 KiB pages.
const SIZES: [u64; 3] = [1, 256, 65536];
/// Repetitions for a size, so every size maps about as many pages in total.
const fn rounds(pages: u64) -> u64 {
    if pages >= 4096 {
        2
    } else {
        4096 / pages
    }
}

/// Nanoseconds per page of `rounds` runs of `pages` pages.
fn per_page(total_ns: i64, rounds: u64, pages: u64) -> u64 {
    (total_ns.max(0) as u64) / (rounds * pages)
}

/// The driver's tables for the bench.
struct Ours(PageTable<KernelTables>);

impl Ours {
    fn new() -> Result<Self> {
        Ok(Self(PageTable::new(
            KernelTables,
            Scope::NonGlobal,
            0,
            1 << IAS,
            OAS,
        )?))
    }

    fn map(&mut self, pages: u64) -> Result {
        self.0
            .map(VA, PA, pages * pte::PAGE_SIZE, PROT_GPU_SHARED_RW)
    }

    fn unmap(&mut self, pages: u64) -> Result {
        let n = self.0.unmap(VA, pages * pte::PAGE_SIZE, |_, _| {})?;
        if n as u64 == pages {
            Ok(())
        } else {
            Err(EIO)
        }
    }

    /// Physical address `va` translates to, 0 if none.
    fn lookup(&self, va: u64) -> u64 {
        self.0
            .lookup(va)
            .map_or(0, |desc| pte::desc_addr(desc) | (va & (pte::PAGE_SIZE - 1)))
    }
}

/// io-pgtable-arm's flush callbacks: nothing to flush, there is no device.
extern "C" fn no_flush_all(_cookie: *mut c_void) {}
/// As above.
extern "C" fn no_flush_walk(_iova: usize, _size: usize, _granule: usize, _c: *mut c_void) {}
/// As above.
extern "C" fn no_add_page(
    _gather: *mut bindings::iommu_iotlb_gather,
    _iova: usize,
    _granule: usize,
    _cookie: *mut c_void,
) {
}

static NO_FLUSH: bindings::iommu_flush_ops = bindings::iommu_flush_ops {
    tlb_flush_all: Some(no_flush_all),
    tlb_flush_walk: Some(no_flush_walk),
    tlb_add_page: Some(no_add_page),
};

/// An io-pgtable-arm LPAE stage-1 table with the UAT's geometry.
///
/// # Invariants
///
/// `ops` came from `alloc_io_pgtable_ops` and is freed only by `drop`.
struct Theirs {
    ops: *mut bindings::io_pgtable_ops,
}

impl Theirs {
    fn new() -> Result<Self> {
        let mut cfg = bindings::io_pgtable_cfg {
            pgsize_bitmap: pte::PAGE_SIZE as usize,
            ias: IAS,
            oas: OAS,
            coherent_walk: true,
            tlb: &NO_FLUSH,
            ..Default::default()
        };
        // SAFETY: `cfg` is fully initialised and only read during the call (io-pgtable keeps
        // its own copy); a null cookie is passed only to the no-op flush callbacks.
        let ops = unsafe {
            bindings::alloc_io_pgtable_ops(
                bindings::io_pgtable_fmt_ARM_64_LPAE_S1,
                &mut cfg,
                core::ptr::null_mut(),
            )
        };
        if ops.is_null() {
            return Err(ENOMEM);
        }
        Ok(Self { ops })
    }

    fn map(&mut self, pages: u64) -> Result {
        let prot = (bindings::IOMMU_READ | bindings::IOMMU_WRITE) as i32;
        let mut done = 0u64;
        while done < pages {
            let mut mapped = 0usize;
            // SAFETY: `self.ops` is valid (type invariant) and its table is only used from
            // here; `mapped` is a valid out-parameter.
            let ret = unsafe {
                let f = (*self.ops).map_pages.ok_or(EINVAL)?;
                f(
                    self.ops,
                    (VA + done * pte::PAGE_SIZE) as usize,
                    PA + done * pte::PAGE_SIZE,
                    pte::PAGE_SIZE as usize,
                    (pages - done) as usize,
                    prot,
                    bindings::GFP_KERNEL,
                    &mut mapped,
                )
            };
            kernel::error::to_result(ret)?;
            if mapped == 0 {
                return Err(EIO);
            }
            done += mapped as u64 / pte::PAGE_SIZE;
        }
        Ok(())
    }

    fn unmap(&mut self, pages: u64) -> Result {
        let mut done = 0u64;
        while done < pages {
            // SAFETY: As in `map`; no gather is passed, so nothing is queued for flushing.
            let n = unsafe {
                let f = (*self.ops).unmap_pages.ok_or(EINVAL)?;
                f(
                    self.ops,
                    (VA + done * pte::PAGE_SIZE) as usize,
                    pte::PAGE_SIZE as usize,
                    (pages - done) as usize,
                    core::ptr::null_mut(),
                )
            };
            if n == 0 {
                return Err(EIO);
            }
            done += n as u64 / pte::PAGE_SIZE;
        }
        Ok(())
    }

    fn lookup(&self, va: u64) -> Result<u64> {
        // SAFETY: As in `map`.
        Ok(unsafe {
            let f = (*self.ops).iova_to_phys.ok_or(EINVAL)?;
            f(self.ops, va as usize)
        })
    }
}

impl Drop for Theirs {
    fn drop(&mut self) {
        // SAFETY: `self.ops` came from `alloc_io_pgtable_ops` and is not used after this.
        unsafe { bindings::free_io_pgtable_ops(self.ops) };
    }
}

/// Pages whose translations are compared: both ends and a few in between.
fn samples(pages: u64) -> [u64; 4] {
    [0, pages / 3, pages / 2, pages - 1]
}

/// Both tables map to the same place, or to nothing, at the sampled pages.
fn agree(ours: &Ours, theirs: &Theirs, pages: u64, mapped: bool) -> Result<bool> {
    for i in samples(pages) {
        let va = VA + i * pte::PAGE_SIZE + 0x80;
        let want = if mapped {
            PA + i * pte::PAGE_SIZE + 0x80
        } else {
            0
        };
        if ours.lookup(va) != want || theirs.lookup(va)? != want {
            return Ok(false);
        }
    }
    Ok(true)
}

#[kernel::prelude::kunit_tests(asahi_uat_bench)]
mod tests {
    use super::*;

    /// Times `rounds(N)` map/unmap cycles of `N` pages on both tables and prints the
    /// figures; checks the translations of the last cycle.
    #[test]
    fn map_and_unmap_against_io_pgtable_arm() -> Result {
        let mut ours = Ours::new()?;
        let mut theirs = Theirs::new()?;
        for pages in SIZES {
            let n = rounds(pages);
            let (mut om, mut ou, mut tm, mut tu) = (0i64, 0i64, 0i64, 0i64);
            for round in 0..n {
                let last = round + 1 == n;

                let t = Instant::<Monotonic>::now();
                ours.map(pages)?;
                om += t.elapsed().as_nanos();
                let t = Instant::<Monotonic>::now();
                theirs.map(pages)?;
                tm += t.elapsed().as_nanos();

                if last {
                    assert!(agree(&ours, &theirs, pages, true)?);
                }

                let t = Instant::<Monotonic>::now();
                ours.unmap(pages)?;
                ou += t.elapsed().as_nanos();
                let t = Instant::<Monotonic>::now();
                theirs.unmap(pages)?;
                tu += t.elapsed().as_nanos();

                if last {
                    assert!(agree(&ours, &theirs, pages, false)?);
                }
            }
            pr_info!(
                "uat map {} pages: ours {} ns/page, io-pgtable-arm {} ns/page\n",
                pages,
                per_page(om, n, pages),
                per_page(tm, n, pages)
            );
            pr_info!(
                "uat unmap {} pages: ours {} ns/page, io-pgtable-arm {} ns/page\n",
                pages,
                per_page(ou, n, pages),
                per_page(tu, n, pages)
            );
        }
        Ok(())
    }
}
