// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Kernel GPU heaps: where the driver places the objects it shares with the firmware.
//!
//! Each heap owns a fixed range of the kernel upper half with one protection
//! (asahi-driver-facts §6.2; jannau/linux:drivers/gpu/drm/asahi/gpu.rs): private objects
//! (firmware-cached), command objects the GPU reads, shared objects, read-only shared objects
//! and objects the GPU also writes. A heap's backing grows on demand by a fixed step and is
//! never shrunk; space is handed out first-fit with a minimum alignment.
//!
//! Objects in heaps the firmware caches (private, GPU read-only) must not be reused until the
//! firmware's cache has been flushed, or the firmware could write back stale lines over the
//! new object. Their frees are therefore parked on a garbage list and only returned to the
//! free space by [`Heap::collect_garbage`], which the caller runs after a cache flush.
//!
//! Backing memory and mapping are behind [`HeapBacking`], so KUnit tests the allocator without
//! page tables.

use core::ptr::NonNull;

use kernel::{
    contig_pages::ContigPages,
    page,
    prelude::*,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        Arc, //
    },
};

use super::context::{
    Uat,
    UatHw, //
};
use super::pte::{
    self,
    Prot,
    PROT_FW_PRIV_RW,
    PROT_FW_SHARED_RO,
    PROT_FW_SHARED_RW,
    PROT_GPU_FW_SHARED_RW,
    PROT_GPU_RO_FW_PRIV_RW, //
};

/// Where a heap lives and how it grows.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeapSpec {
    /// Name, for messages.
    pub(crate) name: &'static str,
    /// First VA of the heap's range.
    pub(crate) start: u64,
    /// End (exclusive) of the range.
    pub(crate) end: u64,
    /// Protection of every page.
    pub(crate) prot: Prot,
    /// Backing growth step (a multiple of 16 KiB).
    pub(crate) growth: u64,
    /// Minimum alignment of an allocation.
    pub(crate) min_align: u64,
    /// Whether frees wait for a firmware cache flush before reuse.
    pub(crate) garbage_collected: bool,
}

const MIB: u64 = 1 << 20;
const KIB: u64 = 1 << 10;

/// Private kernel objects (firmware-cached).
pub(crate) const KERNEL_PRIVATE: HeapSpec = HeapSpec {
    name: "Kernel Private",
    start: 0xffff_ffa0_0000_0000,
    end: 0xffff_ffa6_0000_0000,
    prot: PROT_FW_PRIV_RW,
    growth: MIB,
    min_align: 0x80,
    garbage_collected: true,
};

/// Command objects: firmware-cached, GPU read-only.
pub(crate) const KERNEL_GPU_RO_SHARED: HeapSpec = HeapSpec {
    name: "Kernel GPU RO Shared",
    start: 0xffff_ffa6_0000_0000,
    end: 0xffff_ffa8_0000_0000,
    prot: PROT_GPU_RO_FW_PRIV_RW,
    growth: MIB,
    min_align: 0x80,
    garbage_collected: true,
};

/// Shared kernel objects (uncached).
pub(crate) const KERNEL_SHARED: HeapSpec = HeapSpec {
    name: "Kernel Shared",
    start: 0xffff_ffa8_0000_0000,
    end: 0xffff_ffaa_0000_0000,
    prot: PROT_FW_SHARED_RW,
    growth: MIB,
    min_align: 0x80,
    garbage_collected: false,
};

/// Shared kernel objects the firmware only reads.
pub(crate) const KERNEL_RO_SHARED: HeapSpec = HeapSpec {
    name: "Kernel RO Shared",
    start: 0xffff_ffaa_0000_0000,
    end: 0xffff_ffac_0000_0000,
    prot: PROT_FW_SHARED_RO,
    growth: 64 * KIB,
    min_align: 0x80,
    garbage_collected: false,
};

/// Kernel objects the GPU also reads and writes.
pub(crate) const KERNEL_GPU_SHARED: HeapSpec = HeapSpec {
    name: "Kernel GPU Shared",
    start: 0xffff_ffac_0000_0000,
    end: 0xffff_ffae_0000_0000,
    prot: PROT_GPU_FW_SHARED_RW,
    growth: 64 * KIB,
    min_align: 0x80,
    garbage_collected: false,
};

/// Every kernel heap, in VA order.
pub(crate) const KERNEL_HEAPS: [HeapSpec; 5] = [
    KERNEL_PRIVATE,
    KERNEL_GPU_RO_SHARED,
    KERNEL_SHARED,
    KERNEL_RO_SHARED,
    KERNEL_GPU_SHARED,
];

/// Backing memory of a heap.
pub(crate) trait HeapBacking: Unpin {
    /// Backs `[va, va + size)` with fresh memory mapped with `prot` (`size` is a multiple of
    /// 16 KiB; the range directly follows what is already backed).
    ///
    /// # Errors
    ///
    /// [`ENOMEM`]; on error nothing of the range may be left mapped.
    fn grow(&mut self, va: u64, size: u64, prot: Prot) -> Result;

    /// The CPU address of the 16 KiB block backing the GPU page at `va` (16 KiB aligned and
    /// backed), or `None` when the backing has no CPU view of it.
    ///
    /// The block must stay valid, at that address, until the backing is dropped: backings
    /// never shrink, so objects can keep the address instead of asking again.
    fn cpu_block(&self, _va: u64) -> Option<NonNull<u8>> {
        None
    }
}

/// The 16 KiB blocks behind a heap's backed range, in VA order from its start.
///
/// Memory comes in naturally aligned 16 KiB blocks ([`ContigPages`]), so heaps work on 4 KiB
/// kernels; the blocks need not be contiguous with each other. Shared by the backings that
/// map them into the kernel context and into a user VM.
pub(crate) struct Blocks {
    /// VA of the first block (meaningful once `pages` is not empty).
    base: u64,
    pages: KVec<ContigPages>,
}

impl Blocks {
    /// No blocks yet.
    pub(crate) const fn new() -> Self {
        Self {
            base: 0,
            pages: KVec::new(),
        }
    }

    /// Adds zeroed blocks for `[va, va + size)` and has `map` map the new ones (see
    /// [`Blocks::chunks`]); if anything fails, the new blocks are freed again.
    pub(crate) fn grow(
        &mut self,
        va: u64,
        size: u64,
        map: impl FnOnce(&[ContigPages]) -> Result,
    ) -> Result {
        let count = usize::try_from(size / pte::PAGE_SIZE).map_err(|_| ENOMEM)?;
        let first = self.pages.len();
        self.pages.reserve(count, GFP_KERNEL)?;
        let order = pte::PAGE_SHIFT - u32::try_from(page::PAGE_SHIFT).map_err(|_| EINVAL)?;
        for _ in 0..count {
            match ContigPages::alloc(order, GFP_KERNEL | __GFP_ZERO) {
                Ok(p) => self.pages.push(p, GFP_KERNEL)?,
                Err(e) => {
                    self.pages.truncate(first);
                    return Err(e.into());
                }
            }
        }
        if let Err(e) = map(&self.pages[first..]) {
            self.pages.truncate(first);
            return Err(e);
        }
        if first == 0 {
            self.base = va;
        }
        Ok(())
    }

    /// `blocks` as the `(pa, len)` chunks the page-table mappers take.
    pub(crate) fn chunks(blocks: &[ContigPages]) -> impl Iterator<Item = (u64, u64)> + Clone + '_ {
        blocks.iter().map(|p| (p.phys_addr(), pte::PAGE_SIZE))
    }

    /// The blocks, in VA order.
    pub(crate) fn pages(&self) -> &[ContigPages] {
        &self.pages
    }

    /// `(first VA, size)` of the backed range, if any.
    pub(crate) fn range(&self) -> Option<(u64, u64)> {
        (!self.pages.is_empty()).then(|| (self.base, self.pages.len() as u64 * pte::PAGE_SIZE))
    }

    /// The CPU address of the block backing the GPU page at `va`.
    pub(crate) fn cpu_block(&self, va: u64) -> Option<NonNull<u8>> {
        let index = usize::try_from(va.checked_sub(self.base)? / pte::PAGE_SIZE).ok()?;
        if va % pte::PAGE_SIZE != 0 {
            return None;
        }
        NonNull::new(self.pages.get(index)?.as_ptr())
    }

    /// Gives the blocks up without freeing them: the GPU or the firmware may still reach them.
    pub(crate) fn leak(&mut self) {
        for p in self.pages.drain_all() {
            core::mem::forget(p);
        }
    }
}

/// Heap backing from kernel pages mapped into the kernel context's upper half.
pub(crate) struct KernelBacking<P: UatHw> {
    uat: Arc<Uat<P>>,
    blocks: Blocks,
}

impl<P: UatHw> KernelBacking<P> {
    /// Backing that maps through `uat`.
    pub(crate) fn new(uat: Arc<Uat<P>>) -> Self {
        Self {
            uat,
            blocks: Blocks::new(),
        }
    }

    /// The 16 KiB blocks backing the heap, in VA order from the heap's start.
    pub(crate) fn pages(&self) -> &[ContigPages] {
        self.blocks.pages()
    }
}

impl<P: UatHw> HeapBacking for KernelBacking<P> {
    fn grow(&mut self, va: u64, size: u64, prot: Prot) -> Result {
        let uat = &self.uat;
        self.blocks.grow(va, size, |new| {
            uat.map_kernel_sg(va, Blocks::chunks(new), prot)
        })
    }

    fn cpu_block(&self, va: u64) -> Option<NonNull<u8>> {
        self.blocks.cpu_block(va)
    }
}

impl<P: UatHw> Drop for KernelBacking<P> {
    /// Unmaps (and invalidates) the backed range before its blocks go back to the kernel;
    /// once the coprocessor has been started the firmware may still use objects in it, so
    /// the blocks are then left mapped and leaked on purpose.
    fn drop(&mut self) {
        let Some((base, size)) = self.blocks.range() else {
            return;
        };
        if self.uat.coprocessor_started() {
            pr_info!(
                "GPU heap at {:#x}: keeping {} KiB the firmware may still use\n",
                base,
                size >> 10
            );
            self.blocks.leak();
            return;
        }
        if let Err(e) = self.uat.unmap_kernel(base, size) {
            // The blocks cannot be freed while the GPU may still reach them.
            pr_err!(
                "cannot unmap GPU heap at {:#x}+{:#x} ({:?}); leaking its memory\n",
                base,
                size,
                e
            );
            self.blocks.leak();
        }
    }
}

/// One allocation, owned: only its heap makes one, and giving it back consumes it, so it
/// cannot be freed twice or forged. Dropping it instead leaks the range (never reused).
#[derive(Debug)]
#[must_use = "dropping a heap allocation leaks it; give it back with Heap::free"]
pub(crate) struct HeapAlloc {
    va: u64,
    size: u64,
    /// The heap that made it ([`Heap::free`] refuses allocations of other heaps).
    heap: u32,
}

impl HeapAlloc {
    /// GPU/firmware VA.
    pub(crate) fn va(&self) -> u64 {
        self.va
    }

    /// Size in bytes (rounded up to the heap's minimum alignment).
    pub(crate) fn size(&self) -> u64 {
        self.size
    }
}

/// Source of heap identities.
static NEXT_HEAP_ID: Atomic<u32> = Atomic::new(1);

/// Frees parked in a garbage-collected heap, to be flushed from the firmware's cache
/// together ([`Heap::garbage_batch`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GarbageBatch {
    /// How many of the oldest parked frees the batch holds.
    count: usize,
    /// First address of the span covering them.
    pub(crate) start: u64,
    /// End (exclusive) of that span.
    pub(crate) end: u64,
}

/// A heap's usage as of its last change, kept for debugfs, which cannot reach the heap.
pub(crate) struct HeapUsage {
    backed: Atomic<u64>,
    free: Atomic<u64>,
    parked: Atomic<u64>,
}

impl HeapUsage {
    /// Nothing recorded yet.
    pub(crate) fn new() -> Self {
        Self {
            backed: Atomic::new(0),
            free: Atomic::new(0),
            parked: Atomic::new(0),
        }
    }

    /// `(backed, free, parked)` bytes: backed = the part of the range with memory behind it,
    /// free = unallocated inside it, parked = freed and waiting for a firmware cache flush.
    pub(crate) fn get(&self) -> (u64, u64, u64) {
        (
            self.backed.load(Relaxed),
            self.free.load(Relaxed),
            self.parked.load(Relaxed),
        )
    }
}

/// A heap: its range, its backing, and its free space.
pub(crate) struct Heap<B: HeapBacking> {
    spec: HeapSpec,
    /// Stamped on every allocation this heap makes.
    id: u32,
    backing: B,
    /// End of the backed part (`spec.start` when nothing is backed).
    backed_end: u64,
    /// Free ranges `(va, size)` below `backed_end`, sorted by address, never adjacent.
    free: KVec<(u64, u64)>,
    /// Freed ranges waiting for a firmware cache flush.
    garbage: KVec<(u64, u64)>,
    /// Where usage is recorded for debugfs.
    usage: Option<Arc<HeapUsage>>,
}

const fn align_up(v: u64, a: u64) -> Option<u64> {
    match v.checked_add(a - 1) {
        Some(x) => Some(x & !(a - 1)),
        None => None,
    }
}

impl<B: HeapBacking> Heap<B> {
    /// An empty heap; nothing is backed until the first allocation.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for a spec with an unaligned range or growth, or a non-power-of-two
    /// alignment.
    pub(crate) fn new(spec: HeapSpec, backing: B) -> Result<Self> {
        let page_mask = pte::PAGE_SIZE - 1;
        if spec.start >= spec.end
            || (spec.start | spec.end | spec.growth) & page_mask != 0
            || spec.growth == 0
            || !spec.min_align.is_power_of_two()
        {
            return Err(EINVAL);
        }
        Ok(Self {
            spec,
            id: NEXT_HEAP_ID.fetch_add(1, Relaxed),
            backing,
            backed_end: spec.start,
            free: KVec::new(),
            garbage: KVec::new(),
            usage: None,
        })
    }

    /// Records the heap's usage in `usage` from now on.
    pub(crate) fn watch(&mut self, usage: Arc<HeapUsage>) {
        self.usage = Some(usage);
        self.record_usage();
    }

    fn record_usage(&self) {
        if let Some(u) = &self.usage {
            u.backed.store(self.backed(), Relaxed);
            u.free.store(self.free_bytes(), Relaxed);
            u.parked.store(self.garbage_bytes(), Relaxed);
        }
    }

    /// The heap's description.
    pub(crate) fn spec(&self) -> &HeapSpec {
        &self.spec
    }

    /// Bytes of the range backed so far.
    pub(crate) fn backed(&self) -> u64 {
        self.backed_end - self.spec.start
    }

    /// The backing (for the owner to reach the memory).
    pub(crate) fn backing(&self) -> &B {
        &self.backing
    }

    /// Allocates `size` bytes aligned to `align` (at least the heap's minimum), growing the
    /// backing if no free range fits.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for a zero size or an alignment that is not a power of two, [`ENOSPC`]
    /// when the heap's range is exhausted, [`ENOMEM`] when backing or bookkeeping memory
    /// cannot be allocated (the heap is unchanged then).
    pub(crate) fn alloc(&mut self, size: u64, align: u64) -> Result<HeapAlloc> {
        let a = self.alloc_range(size, align);
        self.record_usage();
        a
    }

    fn alloc_range(&mut self, size: u64, align: u64) -> Result<HeapAlloc> {
        if size == 0 || !align.is_power_of_two() {
            return Err(EINVAL);
        }
        let align = align.max(self.spec.min_align);
        let size = align_up(size, self.spec.min_align).ok_or(ENOSPC)?;
        // Room for a new free range from growth plus a split, so bookkeeping cannot fail half
        // way.
        self.free.reserve(2, GFP_KERNEL)?;

        // First fit among the free ranges.
        for i in 0..self.free.len() {
            let (fva, fsize) = self.free[i];
            let Some(va) = align_up(fva, align) else {
                continue;
            };
            let fend = fva + fsize;
            if va.checked_add(size).is_some_and(|e| e <= fend) {
                self.take(i, va, size);
                return Ok(HeapAlloc {
                    va,
                    size,
                    heap: self.id,
                });
            }
        }

        // Grow: from the last free range if it ends at the backed end, else from there.
        let tail = match self.free.last() {
            Some(&(fva, fsize)) if fva + fsize == self.backed_end => fva,
            _ => self.backed_end,
        };
        let va = align_up(tail, align).ok_or(ENOSPC)?;
        let end = va.checked_add(size).ok_or(ENOSPC)?;
        if end > self.spec.end {
            return Err(ENOSPC);
        }
        let grow = align_up(end - self.backed_end.min(end), self.spec.growth)
            .ok_or(ENOSPC)?
            .min(self.spec.end - self.backed_end);
        if end > self.backed_end {
            self.backing.grow(self.backed_end, grow, self.spec.prot)?;
            let old_end = self.backed_end;
            self.backed_end += grow;
            self.insert_free(old_end, grow);
        }
        let i = self
            .free
            .iter()
            .position(|&(fva, fsize)| fva <= va && end <= fva + fsize)
            .ok_or(EINVAL)?;
        self.take(i, va, size);
        Ok(HeapAlloc {
            va,
            size,
            heap: self.id,
        })
    }

    /// Removes `[va, va + size)` from free range `i`, which contains it. Needs one spare slot
    /// in `free` (reserved by the caller) when the range splits in two.
    fn take(&mut self, i: usize, va: u64, size: u64) {
        let (fva, fsize) = self.free[i];
        let (before, after) = (va - fva, fva + fsize - (va + size));
        match (before, after) {
            (0, 0) => {
                let _ = self.free.remove(i);
            }
            (0, _) => self.free[i] = (va + size, after),
            (_, 0) => self.free[i] = (fva, before),
            _ => {
                self.free[i] = (fva, before);
                // Cannot fail: the caller reserved room for one more entry.
                let _ = self.free.insert_within_capacity(i + 1, (va + size, after));
            }
        }
    }

    /// Adds `[va, va + size)` to the free list, merging with neighbours.
    ///
    /// Needs one spare slot in `free` when the range merges with nothing.
    fn insert_free(&mut self, va: u64, size: u64) {
        let i = self
            .free
            .iter()
            .position(|&(fva, _)| fva > va)
            .unwrap_or(self.free.len());
        let merge_prev = i > 0 && {
            let (pva, psize) = self.free[i - 1];
            pva + psize == va
        };
        let merge_next = i < self.free.len() && self.free[i].0 == va + size;
        match (merge_prev, merge_next) {
            (true, true) => {
                let next = self.free.remove(i).map_or(0, |(_, s)| s);
                self.free[i - 1].1 += size + next;
            }
            (true, false) => self.free[i - 1].1 += size,
            (false, true) => self.free[i] = (va, size + self.free[i].1),
            (false, false) => {
                // Cannot fail: the caller reserved room for one more entry.
                let _ = self.free.insert_within_capacity(i, (va, size));
            }
        }
    }

    /// Frees an allocation; in garbage-collected heaps it is parked until
    /// [`Heap::collect_garbage`].
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for an allocation of another heap (a driver bug; nothing changes here),
    /// [`ENOMEM`] when the bookkeeping entry cannot be allocated (the range then stays
    /// allocated: leaked, never reused while possibly cached).
    pub(crate) fn free(&mut self, a: HeapAlloc) -> Result {
        let r = self.free_range(a);
        self.record_usage();
        r
    }

    fn free_range(&mut self, a: HeapAlloc) -> Result {
        if a.heap != self.id {
            pr_err!(
                "{}: refusing to free {:#x}+{:#x} of another heap\n",
                self.spec.name,
                a.va,
                a.size
            );
            return Err(EINVAL);
        }
        if self.spec.garbage_collected {
            self.garbage.push((a.va, a.size), GFP_KERNEL)?;
        } else {
            self.free.reserve(1, GFP_KERNEL)?;
            self.insert_free(a.va, a.size);
        }
        Ok(())
    }

    /// The frees parked so far, as one batch to flush: the span covering them. Frees that
    /// arrive after this call are not part of it (they may still sit in the cache once the
    /// batch's flush is done).
    pub(crate) fn garbage_batch(&self) -> Option<GarbageBatch> {
        let first = self.garbage.first()?;
        let (start, end) = self
            .garbage
            .iter()
            .fold((first.0, first.0 + first.1), |(s, e), &(va, size)| {
                (s.min(va), e.max(va + size))
            });
        Some(GarbageBatch {
            count: self.garbage.len(),
            start,
            end,
        })
    }

    /// Returns the frees of `batch` to the free space; call once the firmware's cache was
    /// flushed over the batch's span.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for a batch this heap's garbage list does not start with (a driver bug),
    /// [`ENOMEM`]; whatever could not be moved stays parked.
    pub(crate) fn collect_garbage(&mut self, batch: GarbageBatch) -> Result {
        let r = self.collect_batch(batch);
        self.record_usage();
        r
    }

    fn collect_batch(&mut self, batch: GarbageBatch) -> Result {
        if batch.count > self.garbage.len() {
            return Err(EINVAL);
        }
        // The batch is the oldest `count` entries; return them newest first so the entries
        // parked after the batch stay where they are.
        for i in (0..batch.count).rev() {
            let (va, size) = self.garbage[i];
            if va < batch.start || va + size > batch.end {
                return Err(EINVAL);
            }
            self.free.reserve(1, GFP_KERNEL)?;
            let _ = self.garbage.remove(i);
            self.insert_free(va, size);
        }
        Ok(())
    }

    /// Bytes parked waiting for a cache flush.
    pub(crate) fn garbage_bytes(&self) -> u64 {
        self.garbage.iter().map(|&(_, s)| s).sum()
    }

    /// Bytes free inside the backed part.
    pub(crate) fn free_bytes(&self) -> u64 {
        self.free.iter().map(|&(_, s)| s).sum()
    }
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_uat_heap)]
mod tests {
    use super::*;
    use crate::uat::{
        context::{
            test_hw,
            KERNEL_UPPER_END,
            KERNEL_UPPER_START, //
        },
        pte::Scope,
        tlb::Request,
    };

    /// Records growth; fails once `budget` bytes are used.
    struct FakeBacking {
        grown: KVec<(u64, u64)>,
        budget: u64,
    }

    impl HeapBacking for FakeBacking {
        fn grow(&mut self, va: u64, size: u64, _prot: Prot) -> Result {
            if size > self.budget {
                return Err(ENOMEM);
            }
            self.budget -= size;
            self.grown.push((va, size), GFP_KERNEL)?;
            Ok(())
        }
    }

    fn heap(spec: HeapSpec, budget: u64) -> Result<Heap<FakeBacking>> {
        Heap::new(
            spec,
            FakeBacking {
                grown: KVec::new(),
                budget,
            },
        )
    }

    #[test]
    fn heaps_tile_the_driver_window_without_overlap() {
        let mut prev_end = KERNEL_UPPER_START;
        for h in KERNEL_HEAPS {
            assert!(h.start >= prev_end);
            assert!(h.end <= KERNEL_UPPER_END);
            assert!(h.prot.fw_access() != pte::Access::None);
            prev_end = h.end;
        }
        assert_eq!(KERNEL_PRIVATE.start, KERNEL_UPPER_START);
        assert!(KERNEL_PRIVATE.prot.is_cached_noncoherent() && KERNEL_PRIVATE.garbage_collected);
        assert!(KERNEL_GPU_RO_SHARED.garbage_collected);
        assert_eq!(KERNEL_GPU_RO_SHARED.prot.gpu_access(), pte::Access::Read);
        assert_eq!(KERNEL_GPU_SHARED.prot.gpu_access(), pte::Access::ReadWrite);
    }

    #[test]
    fn grows_by_steps_on_demand() -> Result {
        let mut h = heap(KERNEL_SHARED, u64::MAX)?;
        assert_eq!(h.backed(), 0);
        let a = h.alloc(0x10, 1)?;
        assert_eq!((a.va(), a.size()), (KERNEL_SHARED.start, 0x80));
        assert_eq!(h.backed(), MIB);
        let b = h.alloc(0x100, 0x1000)?;
        assert_eq!(b.va(), KERNEL_SHARED.start + 0x1000);
        // Larger than a step: grows by whole steps past the current end.
        let c = h.alloc(3 * MIB, 0x4000)?;
        assert_eq!(c.va(), KERNEL_SHARED.start + 0x4000);
        assert_eq!(h.backed(), 4 * MIB);
        assert_eq!(
            &h.backing().grown[..],
            &[
                (KERNEL_SHARED.start, MIB),
                (KERNEL_SHARED.start + MIB, 3 * MIB)
            ]
        );
        Ok(())
    }

    #[test]
    fn frees_are_reused_first_fit_and_merge() -> Result {
        let mut h = heap(KERNEL_GPU_SHARED, u64::MAX)?;
        let a = h.alloc(0x100, 1)?;
        let b = h.alloc(0x100, 1)?;
        let c = h.alloc(0x100, 1)?;
        let b_va = b.va();
        h.free(b)?;
        let d = h.alloc(0x80, 1)?;
        assert_eq!(d.va(), b_va);
        h.free(a)?;
        h.free(c)?;
        // c and the tail of b merged with the rest; a stays apart (b's head is in use).
        assert_eq!(h.free.len(), 2);
        assert_eq!(h.free_bytes(), 64 * KIB - 0x80);
        h.free(d)?;
        assert_eq!((h.free.len(), h.free_bytes()), (1, 64 * KIB));
        Ok(())
    }

    #[test]
    fn garbage_waits_for_a_flush() -> Result {
        let mut h = heap(KERNEL_PRIVATE, u64::MAX)?;
        let a = h.alloc(0x200, 1)?;
        let a_va = a.va();
        h.free(a)?;
        assert_eq!(h.garbage_bytes(), 0x200);
        // Not reused before the flush.
        let b = h.alloc(0x200, 1)?;
        assert!(b.va() != a_va);
        let batch = h.garbage_batch().ok_or(EINVAL)?;
        assert_eq!((batch.start, batch.end), (a_va, a_va + 0x200));
        // A free after the batch was taken is not collected with it.
        let b_va = b.va();
        h.free(b)?;
        h.collect_garbage(batch)?;
        assert_eq!(h.garbage_bytes(), 0x200);
        let c = h.alloc(0x200, 1)?;
        assert_eq!(c.va(), a_va);
        let d = h.alloc(0x200, 1)?;
        assert!(d.va() != b_va);
        let batch = h.garbage_batch().ok_or(EINVAL)?;
        assert_eq!((batch.start, batch.end), (b_va, b_va + 0x200));
        h.collect_garbage(batch)?;
        assert_eq!(h.garbage_bytes(), 0);
        assert_eq!(h.collect_garbage(batch), Err(EINVAL));
        h.free(c)?;
        h.free(d)?;
        Ok(())
    }

    #[test]
    fn an_allocation_goes_back_only_to_its_own_heap() -> Result {
        let mut a = heap(KERNEL_SHARED, u64::MAX)?;
        let mut b = heap(KERNEL_SHARED, u64::MAX)?;
        let x = a.alloc(0x100, 1)?;
        let free_in_b = b.free_bytes();
        // Same spec, same VA range: only the stamp tells them apart.
        assert_eq!(b.free(x), Err(EINVAL));
        assert_eq!(b.free_bytes(), free_in_b);
        // The range stays allocated in `a` (the allocation was consumed: leaked, not reused).
        let y = a.alloc(0x100, 1)?;
        assert!(y.va() != KERNEL_SHARED.start);
        a.free(y)?;
        Ok(())
    }

    #[test]
    fn kernel_backing_maps_through_the_kernel_context() -> Result {
        let (uat, reg, tlb) = test_hw::setup(false, false)?;
        let ttb1 = uat.kernel_root_phys();
        let mut h = Heap::new(KERNEL_GPU_SHARED, KernelBacking::new(uat.clone()))?;
        let a = h.alloc(0x100, 1)?;
        assert_eq!(a.va(), KERNEL_GPU_SHARED.start);
        // 64 KiB of growth = four 16 KiB blocks, each mapped where the heap says.
        let pages = h.backing().pages();
        assert_eq!(pages.len(), 4);
        let mut va = a.va();
        for p in pages {
            assert_eq!(p.phys_addr() % pte::PAGE_SIZE, 0);
            let want = pte::page_desc(p.phys_addr(), KERNEL_GPU_SHARED.prot, Scope::Global);
            assert_eq!(reg.walk(ttb1, va), Ok(Some(want)));
            va += pte::PAGE_SIZE;
        }
        assert_eq!(reg.walk(ttb1, va), Ok(None));
        // Dropping the heap unmaps its backing and invalidates it before the blocks go.
        tlb.take();
        h.free(a)?;
        drop(h);
        let log = tlb.take();
        assert_eq!(log.len(), 1);
        assert_eq!(
            log[0].0,
            Request::Range {
                asid: 0,
                va: KERNEL_GPU_SHARED.start,
                size: 64 * KIB
            }
        );
        assert_eq!(reg.walk(ttb1, KERNEL_GPU_SHARED.start), Ok(None));
        Ok(())
    }

    #[test]
    fn kernel_backing_is_kept_once_the_coprocessor_runs() -> Result {
        let (uat, reg, tlb) = test_hw::setup(false, false)?;
        let ttb1 = uat.kernel_root_phys();
        let mut h = Heap::new(KERNEL_SHARED, KernelBacking::new(uat.clone()))?;
        let a = h.alloc(0x100, 1)?;
        let pa = h.backing().pages()[0].phys_addr();
        tlb.take();
        uat.mark_coprocessor_started();
        h.free(a)?;
        drop(h);
        // Still mapped, nothing invalidated: the firmware may hold objects in it.
        let want = pte::page_desc(pa, KERNEL_SHARED.prot, Scope::Global);
        assert_eq!(reg.walk(ttb1, KERNEL_SHARED.start), Ok(Some(want)));
        assert_eq!(tlb.take().len(), 0);
        Ok(())
    }

    #[test]
    fn exhaustion_and_failed_growth() -> Result {
        // Growth fails: the heap stays empty and usable.
        let mut h = heap(KERNEL_RO_SHARED, 0)?;
        assert!(matches!(h.alloc(0x80, 1), Err(e) if e == ENOMEM));
        assert_eq!(h.backed(), 0);
        // A range exhausted: ENOSPC.
        let tiny = HeapSpec {
            end: KERNEL_RO_SHARED.start + 128 * KIB,
            ..KERNEL_RO_SHARED
        };
        let mut h = heap(tiny, u64::MAX)?;
        let _big = h.alloc(100 * KIB, 1)?;
        assert!(matches!(h.alloc(64 * KIB, 1), Err(e) if e == ENOSPC));
        assert!(h.alloc(16 * KIB, 1).is_ok());
        assert_eq!(h.backed(), 128 * KIB);
        assert!(matches!(h.alloc(0, 1), Err(e) if e == EINVAL));
        assert!(matches!(h.alloc(0x80, 3), Err(e) if e == EINVAL));
        Ok(())
    }
}
