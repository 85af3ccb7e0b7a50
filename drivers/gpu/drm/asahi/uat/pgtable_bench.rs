// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Page-table benchmark: the driver's UAT tables against the kernel's io-pgtable-arm, and the
//! cost of a kernel heap allocation.
//!
//! Apple's UAT uses the Arm VMSAv8 long-descriptor layout with a 16 KiB granule, which the
//! kernel's io-pgtable-arm also implements (LPAE stage 1), so the kernel's generic IOMMU page
//! tables are the natural yardstick for ours. Both get the same job: 39-bit input and 40-bit
//! output addresses (three levels), tables from the page allocator, walked coherently, no TLB
//! maintenance (ours is given a no-op invalidation, theirs the no-op flush ops of
//! [`kernel::iommu::pgtable`]). A batch is `calls(N)` map (or unmap) calls of `N` pages of
//! 16 KiB each at consecutive VAs (`N` = 1, 256, 65536; about 4096 pages per batch), timed as
//! a whole. Two regimes:
//!
//! - **warm**: the tables already exist (a warm-up batch built them; neither side frees
//!   tables on unmap): map writes leaves, unmap clears them.
//! - **cold**: a fresh page table per pass: map allocates every table, unmap is followed by
//!   freeing the whole table (both sides free everything), which is counted in.
//!
//! Each side runs all its passes on its own (never interleaved with the other), [`PASSES`]
//! passes per regime after the warm-up, and the best pass is reported:
//!
//! `uat <map|unmap> <N> pages <warm|cold>: ours <x> ns/page, io-pgtable-arm <y> ns/page`
//!
//! plus `heap alloc+map 16 KiB: <x> ns`, the cost of growing a kernel heap by one 16 KiB
//! block and mapping it (what every firmware object allocation may cost).
//!
//! The figures are printed, never asserted (`make bench` collects them). What the suite does
//! assert is that every pass translates its sampled pages to the right address after the map
//! and to nothing after the unmap, so a figure never comes from a table that did the wrong
//! thing. On a debug kernel (lockdep, SLUB debugging) both sides pay the same overheads.
//!
//! io-pgtable-arm needs a bound device; the benchmark uses a faux device, which the driver
//! core binds on creation.

use kernel::{
    device::{
        Bound,
        Device, //
    },
    faux,
    iommu::pgtable::{
        prot,
        Config,
        IoPageTable,
        ARM64LPAES1, //
    },
    prelude::*,
    time::{
        Instant,
        Monotonic, //
    },
};

use super::{
    context::{
        Uat,
        UatConfig,
        UatHw,
        KERNEL_UPPER_START, //
    },
    handoff::{
        self,
        test_mem::TestMem,
        Handoff, //
    },
    heap::{
        Heap,
        HeapSpec,
        KernelBacking,
        KERNEL_SHARED, //
    },
    pgtable::{
        KernelTable,
        KernelTables,
        PageTable,
        TableAlloc,
        IAS, //
    },
    pte::{
        self,
        Scope,
        PROT_GPU_SHARED_RW, //
    },
    tlb::{
        Request,
        TlbOps, //
    },
    ttbat::{
        self,
        Ttbat, //
    },
};

/// Output address bits (t8103's UAT).
const OAS: u32 = 40;
/// First VA used.
const VA: u64 = 0x10_0000_0000;
/// First physical address mapped (never accessed: only written into descriptors).
const PA: u64 = 0x80_0000_0000;
/// Pages per call.
const SIZES: [u64; 3] = [1, 256, 65536];
/// Timed passes per regime and side (after one warm-up pass).
const PASSES: usize = 3;
/// Heap allocations timed for the heap line.
const HEAP_ALLOCS: u64 = 512;
const PG: u64 = pte::PAGE_SIZE;

/// Calls per batch: about 4096 pages per batch, at least two calls.
const fn calls(pages: u64) -> u64 {
    if pages >= 2048 {
        2
    } else {
        4096 / pages
    }
}

/// One page table under test.
trait Side: Sized {
    /// A fresh, empty table. `dev` stays bound for as long as any table exists.
    fn new(dev: &Device<Bound>) -> Result<Self>;
    fn map(&mut self, va: u64, pa: u64, pages: u64) -> Result;
    fn unmap(&mut self, va: u64, pages: u64) -> Result;
    /// Physical address `va` translates to, 0 if none.
    fn lookup(&self, va: u64) -> u64;
}

/// The driver's tables. Never published to a GPU, so they are retired when dropped.
struct Ours(PageTable<KernelTables>);

impl Side for Ours {
    fn new(_dev: &Device<Bound>) -> Result<Self> {
        Ok(Self(PageTable::new(
            KernelTables,
            Scope::NonGlobal,
            0,
            1 << IAS,
            OAS,
        )?))
    }

    fn map(&mut self, va: u64, pa: u64, pages: u64) -> Result {
        self.0.map(va, pa, pages * PG, PROT_GPU_SHARED_RW)
    }

    fn unmap(&mut self, va: u64, pages: u64) -> Result {
        let n = self.0.unmap(va, pages * PG, |_, _| {})?;
        if n as u64 == pages {
            Ok(())
        } else {
            Err(EIO)
        }
    }

    fn lookup(&self, va: u64) -> u64 {
        self.0
            .lookup(va)
            .map_or(0, |desc| pte::desc_addr(desc) | (va & (PG - 1)))
    }
}

impl Drop for Ours {
    fn drop(&mut self) {
        self.0.retire();
    }
}

/// An io-pgtable-arm LPAE stage-1 table with the UAT's geometry.
struct Theirs(IoPageTable<ARM64LPAES1>);

impl Side for Theirs {
    fn new(dev: &Device<Bound>) -> Result<Self> {
        let config = Config {
            quirks: 0,
            pgsize_bitmap: PG as usize,
            ias: IAS,
            oas: OAS,
            coherent_walk: true,
        };
        // SAFETY: Every table lives inside one `measure()` call, during which `dev` stays
        // bound (see the test).
        Ok(Self(unsafe { IoPageTable::new_raw(dev, config) }?))
    }

    fn map(&mut self, va: u64, pa: u64, pages: u64) -> Result {
        let mut done = 0u64;
        while done < pages {
            // SAFETY: The table is used only from here (`&mut self`), and the benchmark
            // never maps over a mapped range; the table is not live for any device.
            let (mapped, ret) = unsafe {
                self.0.map_pages(
                    (va + done * PG) as usize,
                    pa + done * PG,
                    PG as usize,
                    (pages - done) as usize,
                    prot::READ | prot::WRITE,
                    GFP_KERNEL,
                )
            };
            ret?;
            if mapped == 0 {
                return Err(EIO);
            }
            done += mapped as u64 / PG;
        }
        Ok(())
    }

    fn unmap(&mut self, va: u64, pages: u64) -> Result {
        let mut done = 0u64;
        while done < pages {
            // SAFETY: As in `map`; the benchmark unmaps exactly what it mapped.
            let n = unsafe {
                self.0.unmap_pages(
                    (va + done * PG) as usize,
                    PG as usize,
                    (pages - done) as usize,
                )
            };
            if n == 0 {
                return Err(EIO);
            }
            done += n as u64 / PG;
        }
        Ok(())
    }

    fn lookup(&self, va: u64) -> u64 {
        let ops = self.0.raw_ops();
        // SAFETY: `ops` is the table's valid `io_pgtable_ops`; `iova_to_phys` only reads.
        unsafe { (*ops).iova_to_phys.map_or(0, |f| f(ops, va as usize)) }
    }
}

/// First VA of call `c` of a batch of `pages`-page calls.
fn call_va(c: u64, pages: u64) -> u64 {
    VA + c * pages * PG
}

/// Times one batch of maps (`map`) or unmaps, in ns.
fn batch<S: Side>(s: &mut S, pages: u64, map: bool) -> Result<i64> {
    let t = Instant::<Monotonic>::now();
    for c in 0..calls(pages) {
        let va = call_va(c, pages);
        if map {
            s.map(va, PA + (va - VA), pages)?;
        } else {
            s.unmap(va, pages)?;
        }
    }
    Ok(t.elapsed().as_nanos())
}

/// Whether the first, middle and last page of every call translate as they should.
fn translates<S: Side>(s: &S, pages: u64, mapped: bool) -> bool {
    (0..calls(pages)).all(|c| {
        [0, pages / 2, pages - 1].into_iter().all(|i| {
            let va = call_va(c, pages) + i * PG + 0x80;
            let want = if mapped { PA + (va - VA) } else { 0 };
            s.lookup(va) == want
        })
    })
}

/// Best ns per pass of each of map warm, unmap warm, map cold, unmap cold.
fn measure<S: Side>(dev: &Device<Bound>, pages: u64) -> Result<[i64; 4]> {
    let mut best = [i64::MAX; 4];
    let mut keep = |i: usize, ns: i64| best[i] = best[i].min(ns);

    let mut s = S::new(dev)?;
    batch(&mut s, pages, true)?;
    batch(&mut s, pages, false)?;
    for _ in 0..PASSES {
        keep(0, batch(&mut s, pages, true)?);
        assert!(translates(&s, pages, true));
        keep(1, batch(&mut s, pages, false)?);
        assert!(translates(&s, pages, false));
    }
    drop(s);

    for _ in 0..PASSES {
        let mut s = S::new(dev)?;
        keep(2, batch(&mut s, pages, true)?);
        assert!(translates(&s, pages, true));
        let unmap = batch(&mut s, pages, false)?;
        assert!(translates(&s, pages, false));
        let t = Instant::<Monotonic>::now();
        drop(s);
        keep(3, unmap + t.elapsed().as_nanos());
    }
    Ok(best)
}

/// `ns` for `n` pages as "x.y" ns per page.
struct PerPage(i64, u64);

impl kernel::fmt::Display for PerPage {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        let tenths = (self.0.max(0) as u64 * 10) / self.1.max(1);
        write!(f, "{}.{}", tenths / 10, tenths % 10)
    }
}

/// No TLB to maintain: the benchmark's UAT is never seen by a GPU.
struct NoTlb;

impl TlbOps for NoTlb {
    fn invalidate(&self, _req: Request) {}
}

/// A UAT on kernel pages with test memory for its regions, for the heap figure.
struct BenchHw;

impl UatHw for BenchHw {
    type Tables = KernelTables;
    type Root = KernelTable;
    type Handoff = TestMem;
    type Ttbs = TestMem;
    type Tlb = NoTlb;
}

/// Nanoseconds per 16 KiB heap allocation that grows and maps the heap by one block.
fn heap_alloc_ns() -> Result<i64> {
    let uat = Uat::<BenchHw>::new(
        KernelTables,
        KernelTables.alloc_table()?,
        Handoff::init(TestMem::new(handoff::SIZE)?, 1000),
        Ttbat::new(TestMem::new(ttbat::SIZE)?),
        NoTlb,
        UatConfig {
            oas: OAS,
            user_sees_kernel: false,
            robust_isolation: false,
        },
    )?;
    let spec = HeapSpec {
        name: "bench",
        start: KERNEL_UPPER_START,
        end: KERNEL_UPPER_START + 2 * (HEAP_ALLOCS + 1) * PG,
        growth: PG,
        min_align: PG,
        ..KERNEL_SHARED
    };
    let mut heap = Heap::new(spec, KernelBacking::new(uat))?;
    let mut allocs = KVec::with_capacity(HEAP_ALLOCS as usize + 1, GFP_KERNEL)?;
    // Warm-up: the first block also creates the page tables.
    allocs.push(heap.alloc(PG, PG)?, GFP_KERNEL)?;
    let t = Instant::<Monotonic>::now();
    for _ in 0..HEAP_ALLOCS {
        let a = heap.alloc(PG, PG)?;
        // Cannot fail: the capacity was reserved above.
        let _ = allocs.push_within_capacity(a);
    }
    let ns = t.elapsed().as_nanos();
    assert_eq!(heap.backed(), (HEAP_ALLOCS + 1) * PG);
    for a in allocs.drain_all() {
        heap.free(a)?;
    }
    Ok(ns / HEAP_ALLOCS as i64)
}

#[kernel::prelude::kunit_tests(asahi_uat_bench)]
mod tests {
    use super::*;

    /// Prints the figures of both tables in both regimes and the heap figure; checks the
    /// translations of every pass.
    #[test]
    fn map_and_unmap_against_io_pgtable_arm() -> Result {
        // io-pgtable-arm allocates for a device. `faux_device_create()` fails unless the
        // device got bound to the faux driver, which cannot be unbound (it suppresses its
        // bind attributes), so it stays bound until `faux` is dropped, after every table.
        let faux = faux::Registration::new(c"asahi-uat-bench", None)?;
        // SAFETY: As just said, the device is bound for as long as `faux` lives, which is
        // longer than this reference is used.
        let dev = unsafe { faux.as_ref().as_bound() };
        for pages in SIZES {
            let ours = measure::<Ours>(dev, pages)?;
            let theirs = measure::<Theirs>(dev, pages)?;
            let total = calls(pages) * pages;
            for (i, (op, regime)) in [
                ("map", "warm"),
                ("unmap", "warm"),
                ("map", "cold"),
                ("unmap", "cold"),
            ]
            .into_iter()
            .enumerate()
            {
                pr_info!(
                    "uat {} {} pages {}: ours {} ns/page, io-pgtable-arm {} ns/page\n",
                    op,
                    pages,
                    regime,
                    PerPage(ours[i], total),
                    PerPage(theirs[i], total)
                );
            }
        }
        pr_info!("heap alloc+map 16 KiB: {} ns\n", heap_alloc_ns()?);
        Ok(())
    }
}
