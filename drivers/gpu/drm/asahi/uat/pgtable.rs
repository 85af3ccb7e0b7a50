// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! UAT page tables: one half (TTB0 or TTB1) of a GPU address space.
//!
//! Geometry (asahi-driver-facts §6.1; jannau/linux:drivers/gpu/drm/asahi/pgtable.rs): 16 KiB
//! pages, 39 input bits per half, three levels of 2048 eight-byte entries. The root (L0) uses
//! bits 38:36 (8 entries), L1 bits 35:25, the leaf level (L2) bits 24:14. The upper half is
//! indexed the same way after masking the VA to 39 bits.
//!
//! Design:
//!
//! - Every table is a naturally aligned 16 KiB chunk that the CPU sees as a slice of
//!   [`ENTRIES`] descriptors ([`TableMem::entries`]): one single-copy-atomic load or store per
//!   descriptor (the GPU walks the tables concurrently), indexes bounded by the slice, no
//!   `Result` per access. Tables come from a [`TableAlloc`], so the same code runs on kernel
//!   pages ([`KernelTables`]: an order-2 block on a 4 KiB kernel, one page on a 16 KiB one)
//!   and, in KUnit, on an allocator that can run dry and that records what the GPU could see.
//! - The driver keeps a small software mirror (which leaf table sits under which L1
//!   descriptor), so it never turns a physical address read back from a descriptor into a
//!   pointer. The mirror of an L1 table is built once, when that table is created.
//! - A map checks its arguments, counts the tables it is missing and allocates all of them
//!   before it touches a descriptor, so running out of memory leaves the tables unchanged.
//!   It then walks once per leaf table and fills that table's run of descriptors in a tight
//!   loop.
//! - **Publication order.** A new table is zeroed (and may already hold descriptors) before
//!   the descriptor pointing at it is stored; [`TableAlloc::publish_barrier`] sits between
//!   the two, so the GPU's walker can never follow a new descriptor into stale contents (the
//!   rule io-pgtable-arm keeps with `dma_wmb()` in `arm_lpae_install_table()`).
//! - **Remap is break-before-make**: valid descriptors in the range are cleared, the caller
//!   invalidates the range, and only then are the new descriptors written. The UAT walker is
//!   the Arm VMSA one, which gives no guarantee for a live leaf whose output address changes
//!   (the Arm ARM's break-before-make rule), so the driver does not rely on it.
//! - **Tables are kept** once created, as io-pgtable-arm keeps them: an unmap clears leaves
//!   only, so a later map of the same range costs no allocation and an unmap never frees
//!   memory the GPU might still be walking. They are reclaimed all at once by
//!   [`PageTable::retire`], which the owner calls only after the table is unreachable (its
//!   root out of every TTBAT slot, or its window unhooked from an adopted root, and the TLB
//!   invalidated afterwards). A table dropped without `retire` leaks its pages on purpose:
//!   that is the safe outcome when the owner could not make it unreachable (firmware wedged,
//!   coprocessor still running).
//! - A table can adopt a root it does not own (the bootloader's kernel TTB1) and then manage
//!   only a window of it; root entries outside the window are never read or written.

use core::{
    cell::UnsafeCell,
    mem::ManuallyDrop, //
};

use kernel::{
    contig_pages::ContigPages,
    page,
    prelude::*, //
};

use super::{
    pte::{
        self,
        Prot,
        Scope, //
    },
    tlb,
};

/// Input address bits per half.
pub(crate) const IAS: u32 = 39;
/// Entries per table page.
pub(crate) const ENTRIES: usize = 2048;
/// Entries the root level uses (`2^(IAS - L0_SHIFT)`).
pub(crate) const ROOT_ENTRIES: usize = 1 << (IAS - L0_SHIFT);
/// Shift of the root index.
const L0_SHIFT: u32 = 36;
/// Shift of the L1 index.
const L1_SHIFT: u32 = 25;
/// Shift of the leaf index.
const L2_SHIFT: u32 = pte::PAGE_SHIFT;
/// Mask of the 39 translated VA bits.
const VA_MASK: u64 = (1 << IAS) - 1;
/// Bytes covered by one root entry (64 GiB).
pub(crate) const L0_SPAN: u64 = 1 << L0_SHIFT;
/// Bytes covered by one L1 entry, i.e. by one leaf table (32 MiB).
pub(crate) const L1_SPAN: u64 = 1 << L1_SHIFT;
/// Start of the upper half (TTB1).
pub(crate) const UPPER_HALF: u64 = !VA_MASK;

const fn l0_index(va: u64) -> usize {
    ((va & VA_MASK) >> L0_SHIFT) as usize
}

const fn l1_index(va: u64) -> usize {
    ((va >> L1_SHIFT) as usize) & (ENTRIES - 1)
}

const fn l2_index(va: u64) -> usize {
    ((va >> L2_SHIFT) as usize) & (ENTRIES - 1)
}

/// End of the leaf table span (32 MiB) that contains `va`, capped at `end`.
const fn leaf_span_end(va: u64, end: u64) -> u64 {
    let next = (va | (L1_SPAN - 1)).wrapping_add(1);
    if next == 0 || next > end {
        end
    } else {
        next
    }
}

/// One descriptor of a table page as the CPU accesses it: each read or write is one
/// single-copy-atomic 64-bit volatile access, the kernel's `READ_ONCE()`/`WRITE_ONCE()`,
/// because the GPU may walk the table at any time. (Not `kernel::sync::atomic`, whose
/// accesses are out-of-line helper calls: the map loop is one store per page.)
#[repr(transparent)]
pub(crate) struct Desc(UnsafeCell<u64>);

// SAFETY: Every access is a naturally aligned, single-copy-atomic volatile access (`get`,
// `set`); the only concurrent party besides CPUs holding `&Desc` is the GPU, which reads. Writers
// are serialised by the owner of the table (`&mut PageTable`).
unsafe impl Sync for Desc {}

impl Desc {
    /// Reads the descriptor (`READ_ONCE`).
    #[inline(always)]
    pub(crate) fn get(&self) -> u64 {
        // SAFETY: The cell is a valid, aligned `u64` for as long as `self` lives.
        unsafe { self.0.get().read_volatile() }
    }

    /// Writes the descriptor (`WRITE_ONCE`).
    #[inline(always)]
    pub(crate) fn set(&self, desc: u64) {
        // SAFETY: As in `get`; writing through a shared reference is what `UnsafeCell` is for.
        unsafe { self.0.get().write_volatile(desc) }
    }
}

/// The descriptors of one table page.
pub(crate) type Entries = [Desc; ENTRIES];

/// One 16 KiB table page as the GPU sees it.
pub(crate) trait TableMem: Unpin {
    /// Physical (GPU output) address of the page, 16 KiB aligned.
    fn phys(&self) -> u64;
    /// The page's descriptors. Every access is one single-copy-atomic 64-bit access
    /// (`READ_ONCE`/`WRITE_ONCE`), since the GPU may walk the page at any time.
    fn entries(&self) -> &Entries;
}

/// Source of zeroed table pages.
pub(crate) trait TableAlloc: Unpin {
    /// The pages it hands out; dropping one frees it.
    type Mem: TableMem;

    /// Allocates one zeroed, naturally aligned 16 KiB table page.
    ///
    /// # Errors
    ///
    /// [`ENOMEM`] when no memory is left.
    fn alloc_table(&self) -> Result<Self::Mem>;

    /// Orders every earlier write to table pages before any later one, as the GPU's walker
    /// observes them. Called before storing a descriptor that makes a new table reachable.
    fn publish_barrier(&self) {
        tlb::publish_barrier();
    }
}

/// Order of a 16 KiB block in CPU pages: 2 on a 4 KiB kernel, 0 on a 16 KiB one.
const TABLE_ORDER: u32 = {
    // Kernels with pages larger than the UAT granule are not supported (Kconfig).
    assert!(page::PAGE_SHIFT <= pte::PAGE_SHIFT as usize);
    pte::PAGE_SHIFT - page::PAGE_SHIFT as u32
};

/// A table page from the kernel page allocator.
///
/// # Invariants
///
/// The block is exactly 16 KiB (`ENTRIES` descriptors), naturally aligned.
pub(crate) struct KernelTable(ContigPages);

impl TableMem for KernelTable {
    fn phys(&self) -> u64 {
        self.0.phys_addr()
    }

    fn entries(&self) -> &Entries {
        // SAFETY: By the type invariant the block holds exactly `ENTRIES` aligned `u64`s in the
        // linear map, valid while `self` lives. `Desc` has the layout of `u64`, any bit pattern
        // is valid, and every CPU access goes through `Desc`; the GPU only reads the memory.
        unsafe { &*self.0.as_ptr().cast::<Entries>() }
    }
}

/// Table pages from the kernel page allocator.
#[derive(Clone, Copy)]
pub(crate) struct KernelTables;

impl TableAlloc for KernelTables {
    type Mem = KernelTable;

    fn alloc_table(&self) -> Result<KernelTable> {
        let block = ContigPages::alloc(TABLE_ORDER, GFP_KERNEL | __GFP_ZERO)?;
        // INVARIANT: `2^TABLE_ORDER` CPU pages are 16 KiB, aligned to their size.
        Ok(KernelTable(block))
    }
}

/// An L1 table and the leaf tables under its descriptors.
///
/// Invariant: `leaves[i]` is `Some` exactly when descriptor `i` of `mem` is a valid table
/// descriptor pointing at that leaf.
struct Dir<M> {
    mem: M,
    leaves: KVec<Option<M>>,
}

impl<M: TableMem> Dir<M> {
    fn new<A: TableAlloc<Mem = M>>(alloc: &A) -> Result<KBox<Self>> {
        let mem = alloc.alloc_table()?;
        let mut leaves = KVec::with_capacity(ENTRIES, GFP_KERNEL)?;
        for _ in 0..ENTRIES {
            // Cannot fail: the capacity was reserved above.
            let _ = leaves.push_within_capacity(None);
        }
        Ok(KBox::new(Self { mem, leaves }, GFP_KERNEL)?)
    }
}

/// Stores a table descriptor for `child` in `slot`, after the barrier that makes the child's
/// contents visible first.
fn publish<A: TableAlloc>(alloc: &A, slot: &Desc, child: &A::Mem) {
    alloc.publish_barrier();
    slot.set(pte::table_desc(child.phys()));
}

/// What [`PageTable::map_chunks`] should do with pages that are already mapped.
enum Overwrite<F: FnOnce(u64, u64)> {
    /// Fail with `EBUSY` before changing anything.
    Refuse,
    /// Replace them, break-before-make: clear, call the invalidation, then write.
    Replace(F),
}

/// Tables a map must allocate before it starts: L1 tables (with their mirror) and leaves.
struct Pools<M> {
    dirs: KVec<KBox<Dir<M>>>,
    leaves: KVec<M>,
}

/// Page tables for one half of a GPU address space, covering the VA window
/// `[start, end)`.
pub(crate) struct PageTable<A: TableAlloc, R: TableMem = <A as TableAlloc>::Mem> {
    alloc: A,
    /// Freed (or, for an adopted root, its CPU mapping dropped) only by a retired table.
    root: ManuallyDrop<R>,
    /// L1 tables under the root entries (only the window's are used).
    dirs: [Option<KBox<Dir<A::Mem>>>; ROOT_ENTRIES],
    scope: Scope,
    start: u64,
    end: u64,
    oas: u32,
    /// Table pages currently owned (the root not counted).
    tables: usize,
    /// Set by [`PageTable::retire`]: the tables are gone, nothing may be mapped any more.
    retired: bool,
}

impl<A: TableAlloc> PageTable<A> {
    /// Creates an empty table with its own root, for the VA window `[start, end)` of one half,
    /// mapping output addresses below `2^oas`.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for a window that is empty, not 16 KiB aligned or spans both halves;
    /// [`ENOMEM`] when the root cannot be allocated.
    pub(crate) fn new(alloc: A, scope: Scope, start: u64, end: u64, oas: u32) -> Result<Self> {
        let root = alloc.alloc_table()?;
        Self::with_root(alloc, root, scope, start, end, oas)
    }
}

impl<A: TableAlloc, R: TableMem> PageTable<A, R> {
    /// Manages the window `[start, end)` of an existing root (the bootloader's kernel TTB1).
    ///
    /// The window must be made of whole root entries, all of them still invalid; entries
    /// outside it belong to someone else and are left alone.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for a bad window (see [`PageTable::new`]) or one not aligned to 64 GiB,
    /// [`EBUSY`] when a root entry inside the window is already in use, [`ENOMEM`].
    pub(crate) fn adopt(
        alloc: A,
        root: R,
        scope: Scope,
        start: u64,
        end: u64,
        oas: u32,
    ) -> Result<Self> {
        if start % L0_SPAN != 0 || end % L0_SPAN != 0 {
            return Err(EINVAL);
        }
        Self::with_root(alloc, root, scope, start, end, oas)
    }

    fn with_root(alloc: A, root: R, scope: Scope, start: u64, end: u64, oas: u32) -> Result<Self> {
        let page_mask = pte::PAGE_SIZE - 1;
        if start >= end || start & page_mask != 0 || end & page_mask != 0 {
            return Err(EINVAL);
        }
        // The window must lie in one half: [0, 2^39) or [UPPER_HALF, 2^64).
        let half = start & !VA_MASK;
        if (half != 0 && half != UPPER_HALF) || (end - 1) & !VA_MASK != half {
            return Err(EINVAL);
        }
        if !(32..=52).contains(&oas) {
            return Err(EINVAL);
        }
        let entries = root.entries();
        if entries[l0_index(start)..=l0_index(end - 1)]
            .iter()
            .any(|e| pte::is_valid(e.get()))
        {
            return Err(EBUSY);
        }
        Ok(Self {
            alloc,
            root: ManuallyDrop::new(root),
            dirs: [const { None }; ROOT_ENTRIES],
            scope,
            start,
            end,
            oas,
            tables: 0,
            retired: false,
        })
    }

    /// Physical address of the root, for the TTBAT.
    pub(crate) fn root_phys(&self) -> u64 {
        self.root.phys()
    }

    /// The allocator tables come from.
    pub(crate) fn allocator(&self) -> &A {
        &self.alloc
    }

    /// Number of table pages below the root.
    pub(crate) fn table_pages(&self) -> usize {
        self.tables
    }

    /// The VA window this table manages.
    pub(crate) fn window(&self) -> (u64, u64) {
        (self.start, self.end)
    }

    /// Checks that `[va, va + size)` is a non-empty, page-aligned range inside the window.
    fn check_range(&self, va: u64, size: u64) -> Result {
        if self.retired {
            return Err(ENODEV);
        }
        let page_mask = pte::PAGE_SIZE - 1;
        if size == 0 || va & page_mask != 0 || size & page_mask != 0 {
            return Err(EINVAL);
        }
        let end = va.checked_add(size).ok_or(ERANGE)?;
        if va < self.start || end > self.end {
            return Err(ERANGE);
        }
        Ok(())
    }

    /// The leaf table covering `va`, if there is one.
    fn leaf(&self, va: u64) -> Option<&Entries> {
        let dir = self.dirs[l0_index(va)].as_ref()?;
        Some(dir.leaves[l1_index(va)].as_ref()?.entries())
    }

    /// Calls `f` with the descriptors of `[va, end)` of each existing leaf table, in order.
    fn for_each_run(&self, va: u64, end: u64, mut f: impl FnMut(&[Desc])) {
        let mut cur = va;
        while cur < end {
            let next = leaf_span_end(cur, end);
            if let Some(leaf) = self.leaf(cur) {
                f(&leaf[l2_index(cur)..=l2_index(next - 1)]);
            }
            cur = next;
        }
    }

    /// Allocates the (L1, leaf) tables a map of `[va, va + size)` is missing; `None` when
    /// none is (the common case, which then allocates nothing at all).
    fn alloc_missing(&self, va: u64, size: u64) -> Result<Option<Pools<A::Mem>>> {
        let last = va + size - 1;
        // The common case: a range inside one leaf table that exists already.
        if va >> L1_SHIFT == last >> L1_SHIFT && self.leaf(va).is_some() {
            return Ok(None);
        }
        let (mut need_dirs, mut need_leaves) = (0, 0);
        for i0 in l0_index(va)..=l0_index(last) {
            let lo = if i0 == l0_index(va) { l1_index(va) } else { 0 };
            let hi = if i0 == l0_index(last) {
                l1_index(last)
            } else {
                ENTRIES - 1
            };
            match &self.dirs[i0] {
                None => {
                    need_dirs += 1;
                    need_leaves += hi - lo + 1;
                }
                Some(d) => need_leaves += d.leaves[lo..=hi].iter().filter(|l| l.is_none()).count(),
            }
        }
        if need_dirs == 0 && need_leaves == 0 {
            return Ok(None);
        }
        let mut pools = Pools {
            dirs: KVec::with_capacity(need_dirs, GFP_KERNEL)?,
            leaves: KVec::with_capacity(need_leaves, GFP_KERNEL)?,
        };
        for _ in 0..need_dirs {
            // Cannot fail: the capacity was reserved above.
            let _ = pools.dirs.push_within_capacity(Dir::new(&self.alloc)?);
        }
        for _ in 0..need_leaves {
            // Cannot fail: the capacity was reserved above.
            let _ = pools.leaves.push_within_capacity(self.alloc.alloc_table()?);
        }
        Ok(Some(pools))
    }

    /// Returns the leaf descriptor for `va`, if the tables reach that far.
    pub(crate) fn lookup(&self, va: u64) -> Option<u64> {
        if self.retired || va < self.start || va >= self.end {
            return None;
        }
        let desc = self.leaf(va)?[l2_index(va)].get();
        pte::is_valid(desc).then_some(desc)
    }

    /// Maps `size` bytes at `va` to the physically contiguous range at `pa`.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for unaligned or empty ranges, [`ERANGE`] for a range outside the window or
    /// an output address beyond the SoC's physical address size, [`EBUSY`] when a page of the
    /// range is already mapped, [`ENOMEM`] when table pages cannot be allocated, [`ENODEV`]
    /// once retired. On error nothing was changed.
    pub(crate) fn map(&mut self, va: u64, pa: u64, size: u64, prot: Prot) -> Result {
        self.map_chunks(
            va,
            [(pa, size)].into_iter(),
            prot,
            Overwrite::<fn(u64, u64)>::Refuse,
        )
        .map(|_| ())
    }

    /// Maps `[va, va + size)`, replacing whatever is mapped there, and returns how many
    /// previously valid pages were replaced.
    ///
    /// Break-before-make: when anything was mapped, those descriptors are cleared first, then
    /// `invalidate(va, size)` is called (the caller invalidates the GPU TLB there), and only
    /// then are the new descriptors written.
    ///
    /// # Errors
    ///
    /// As [`PageTable::map`], except that mapped pages are not an error.
    pub(crate) fn remap(
        &mut self,
        va: u64,
        pa: u64,
        size: u64,
        prot: Prot,
        invalidate: impl FnOnce(u64, u64),
    ) -> Result<usize> {
        self.map_chunks(
            va,
            [(pa, size)].into_iter(),
            prot,
            Overwrite::Replace(invalidate),
        )
    }

    /// Maps the physical chunks `(pa, len)` back to back from `va` (a scatter-gather list),
    /// refusing to overwrite existing mappings.
    ///
    /// # Errors
    ///
    /// As [`PageTable::map`]; every chunk must be 16 KiB aligned in address and length.
    pub(crate) fn map_sg<I>(&mut self, va: u64, chunks: I, prot: Prot) -> Result
    where
        I: Iterator<Item = (u64, u64)> + Clone,
    {
        self.map_chunks(va, chunks, prot, Overwrite::<fn(u64, u64)>::Refuse)
            .map(|_| ())
    }

    fn map_chunks<I, F>(
        &mut self,
        va: u64,
        chunks: I,
        prot: Prot,
        mode: Overwrite<F>,
    ) -> Result<usize>
    where
        I: Iterator<Item = (u64, u64)> + Clone,
        F: FnOnce(u64, u64),
    {
        // 1. Check everything before allocating anything.
        let page_mask = pte::PAGE_SIZE - 1;
        let mut size = 0u64;
        for (pa, len) in chunks.clone() {
            if len == 0 || pa & page_mask != 0 || len & page_mask != 0 {
                return Err(EINVAL);
            }
            let pa_end = pa.checked_add(len).ok_or(ERANGE)?;
            if pa_end > 1u64 << self.oas {
                return Err(ERANGE);
            }
            size = size.checked_add(len).ok_or(ERANGE)?;
        }
        self.check_range(va, size)?;
        let end = va + size;
        if matches!(mode, Overwrite::Refuse) {
            let mut busy = false;
            self.for_each_run(va, end, |run| {
                busy = busy || run.iter().any(|e| pte::is_valid(e.get()));
            });
            if busy {
                return Err(EBUSY);
            }
        }

        // 2. Allocate every missing table; on failure everything allocated so far is dropped.
        let mut pools = self.alloc_missing(va, size)?;

        // 3. Break: clear what is mapped and have it invalidated before anything new is
        //    written over it.
        let mut replaced = 0;
        if let Overwrite::Replace(invalidate) = mode {
            self.for_each_run(va, end, |run| {
                for e in run {
                    if pte::is_valid(e.get()) {
                        e.set(0);
                        replaced += 1;
                    }
                }
            });
            if replaced != 0 {
                invalidate(va, size);
            }
        }

        // 4. Make. Nothing below can fail: the pools hold exactly what is missing and the
        //    chunks were checked to cover the range.
        self.tables += pools.as_ref().map_or(0, |p| p.dirs.len() + p.leaves.len());
        let scope = self.scope;
        let mut chunks = chunks;
        let (mut desc, mut left) = (0u64, 0u64);
        let mut cur = va;
        while cur < end {
            let next = leaf_span_end(cur, end);
            let leaf = self.leaf_for(cur, &mut pools);
            let Some(leaf) = leaf else {
                // Unreachable: `alloc_missing` counted every table this loop needs.
                return Err(EINVAL);
            };
            let mut run = &leaf[l2_index(cur)..=l2_index(next - 1)];
            while !run.is_empty() {
                while left == 0 {
                    // The chunks cover the range (checked in step 1).
                    let (pa, len) = chunks.next().ok_or(EINVAL)?;
                    desc = pte::page_desc(pa, prot, scope);
                    left = len >> pte::PAGE_SHIFT;
                }
                let n = run.len().min(left as usize);
                let (now, rest) = run.split_at(n);
                for e in now {
                    e.set(desc);
                    // The address bits sit below the attribute bits and were checked against
                    // the output size: stepping the descriptor steps the address.
                    desc += pte::PAGE_SIZE;
                }
                left -= n as u64;
                run = rest;
            }
            cur = next;
        }
        Ok(replaced)
    }

    /// Returns the leaf table for `va`, installing tables from the pools where missing.
    fn leaf_for<'a>(
        &'a mut self,
        va: u64,
        pools: &mut Option<Pools<A::Mem>>,
    ) -> Option<&'a Entries> {
        let i0 = l0_index(va);
        if self.dirs[i0].is_none() {
            let dir = pools.as_mut()?.dirs.pop()?;
            publish(&self.alloc, &self.root.entries()[i0], &dir.mem);
            self.dirs[i0] = Some(dir);
        }
        let dir = self.dirs[i0].as_deref_mut()?;
        let i1 = l1_index(va);
        if dir.leaves[i1].is_none() {
            let leaf = pools.as_mut()?.leaves.pop()?;
            publish(&self.alloc, &dir.mem.entries()[i1], &leaf);
            dir.leaves[i1] = Some(leaf);
        }
        Some(dir.leaves[i1].as_ref()?.entries())
    }

    /// Unmaps `[va, va + size)` and returns the number of pages that were mapped.
    ///
    /// Pages that are not mapped are skipped; tables are kept (see the module docs). Then
    /// `invalidate(va, size)` is called: the caller invalidates the GPU TLB there. It is
    /// called even if nothing was mapped, so a caller cannot forget it.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for unaligned or empty ranges, [`ERANGE`] for a range outside the window,
    /// [`ENODEV`] once retired.
    pub(crate) fn unmap(
        &mut self,
        va: u64,
        size: u64,
        invalidate: impl FnOnce(u64, u64),
    ) -> Result<usize> {
        self.check_range(va, size)?;
        let mut cleared = 0;
        self.for_each_run(va, va + size, |run| {
            for e in run {
                if pte::is_valid(e.get()) {
                    e.set(0);
                    cleared += 1;
                }
            }
        });
        invalidate(va, size);
        Ok(cleared)
    }

    /// Clears the root entries this table installed, so that after a TLB invalidation the
    /// GPU can no longer reach any table below the root. For an adopted root the entries
    /// outside the window (the firmware's) are left alone.
    pub(crate) fn unhook(&mut self) {
        let root = self.root.entries();
        for (i0, dir) in self.dirs.iter().enumerate() {
            if dir.is_some() {
                root[i0].set(0);
            }
        }
    }

    /// Frees every table page below the root, and an owned root; the table maps nothing
    /// afterwards and refuses new maps with [`ENODEV`].
    ///
    /// Call it only when the GPU can no longer walk the tables: never published (not in any
    /// TTBAT slot, never adopted into a live root), or unreachable and invalidated since
    /// (root out of every slot, or [`PageTable::unhook`]ed, then the context's TLB
    /// invalidated).
    pub(crate) fn retire(&mut self) {
        self.unhook();
        for dir in self.dirs.iter_mut() {
            *dir = None;
        }
        self.tables = 0;
        self.retired = true;
    }
}

impl<A: TableAlloc, R: TableMem> Drop for PageTable<A, R> {
    /// A retired table frees its root; any other leaks every page on purpose (see the module
    /// docs): the GPU may still be walking them. The owner logs the leak.
    fn drop(&mut self) {
        if self.retired {
            // SAFETY: `root` is not used after this point.
            unsafe { ManuallyDrop::drop(&mut self.root) };
            return;
        }
        for dir in self.dirs.iter_mut() {
            if let Some(dir) = dir.take() {
                core::mem::forget(dir);
            }
        }
    }
}

/// KUnit helpers: an allocator that can run dry and a walker that follows the descriptors
/// the way the GPU does, and refuses to follow one into a table it could see stale.
#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
pub(crate) mod test_alloc {
    use super::*;
    use core::cell::{
        Cell,
        RefCell, //
    };
    use kernel::sync::Arc;

    /// Fake physical address of the first test page.
    pub(crate) const BASE: u64 = 0x10_0000_0000;

    struct Page {
        words: Arc<KBox<Entries>>,
        live: bool,
        /// Whether a publish barrier came after the page was allocated (zeroed): only then
        /// may a walker follow a descriptor into it.
        published: bool,
    }

    /// Backing store shared by the allocator, its pages and the test.
    pub(crate) struct Registry {
        pages: RefCell<KVec<Page>>,
        /// Allocations left before `ENOMEM`; `None` = unlimited.
        budget: Cell<Option<usize>>,
        /// Publish barriers issued.
        barriers: Cell<usize>,
    }

    impl Registry {
        /// Lets the next `n` allocations succeed and fails the ones after.
        pub(crate) fn fail_after(&self, n: usize) {
            self.budget.set(Some(n));
        }

        /// Removes the allocation limit.
        pub(crate) fn unlimited(&self) {
            self.budget.set(None);
        }

        /// Pages allocated and not yet freed.
        pub(crate) fn live(&self) -> usize {
            self.pages.borrow().iter().filter(|p| p.live).count()
        }

        /// Publish barriers issued so far.
        pub(crate) fn barriers(&self) -> usize {
            self.barriers.get()
        }

        fn page_index(pa: u64) -> usize {
            ((pa - BASE) / pte::PAGE_SIZE) as usize
        }

        /// Reads descriptor `index` of the page at `pa`; a page that was freed or never
        /// allocated is what a GPU walk must never reach.
        pub(crate) fn read(&self, pa: u64, index: usize) -> Result<u64, WalkViolation> {
            let pages = self.pages.borrow();
            match pages.get(Self::page_index(pa)) {
                Some(page) if page.live => Ok(page.words[index].get()),
                _ => Err(WalkViolation::NotAllocated(pa)),
            }
        }

        /// Follows a table descriptor like the GPU's walker: the table's zeroed contents must
        /// have been published before the descriptor could be seen.
        fn enter(&self, desc: u64) -> Result<u64, WalkViolation> {
            let pa = pte::desc_addr(desc);
            let published = self
                .pages
                .borrow()
                .get(Self::page_index(pa))
                .is_some_and(|page| page.published);
            if published {
                Ok(pa)
            } else {
                Err(WalkViolation::Unpublished(pa))
            }
        }

        /// Translates `va` by walking descriptors from `root` like the GPU: the leaf
        /// descriptor, `None` at the first invalid one, or the first access the GPU must
        /// never make. A violation is an error rather than a panic so that the assertion
        /// on the walk fails its test and the suites after it still run.
        pub(crate) fn walk(&self, root: u64, va: u64) -> Result<Option<u64>, WalkViolation> {
            let d0 = self.read(root, l0_index(va))?;
            if !pte::is_valid(d0) {
                return Ok(None);
            }
            let d1 = self.read(self.enter(d0)?, l1_index(va))?;
            if !pte::is_valid(d1) {
                return Ok(None);
            }
            let d2 = self.read(self.enter(d1)?, l2_index(va))?;
            Ok(pte::is_valid(d2).then_some(d2))
        }
    }

    /// A walker access the GPU must never make.
    #[derive(Debug, PartialEq, Eq)]
    pub(crate) enum WalkViolation {
        /// A read of a table page that is freed or was never allocated (its address).
        NotAllocated(u64),
        /// A descriptor leads to a table allocated after the last publish barrier.
        Unpublished(u64),
    }

    /// A test table page.
    pub(crate) struct TestMem {
        reg: Arc<Registry>,
        words: Arc<KBox<Entries>>,
        index: usize,
    }

    impl TableMem for TestMem {
        fn phys(&self) -> u64 {
            BASE + self.index as u64 * pte::PAGE_SIZE
        }

        fn entries(&self) -> &Entries {
            &self.words
        }
    }

    impl Drop for TestMem {
        fn drop(&mut self) {
            self.reg.pages.borrow_mut()[self.index].live = false;
        }
    }

    /// An allocator over [`Registry`].
    #[derive(Clone)]
    pub(crate) struct TestAlloc(pub(crate) Arc<Registry>);

    impl TestAlloc {
        /// A fresh allocator and its registry.
        pub(crate) fn new() -> Result<(Self, Arc<Registry>)> {
            let reg = Arc::new(
                Registry {
                    pages: RefCell::new(KVec::new()),
                    budget: Cell::new(None),
                    barriers: Cell::new(0),
                },
                GFP_KERNEL,
            )?;
            Ok((Self(reg.clone()), reg))
        }
    }

    impl TableAlloc for TestAlloc {
        type Mem = TestMem;

        fn alloc_table(&self) -> Result<TestMem> {
            if let Some(n) = self.0.budget.get() {
                if n == 0 {
                    return Err(ENOMEM);
                }
                self.0.budget.set(Some(n - 1));
            }
            let zeroed = KBox::<Entries>::new_uninit(GFP_KERNEL | __GFP_ZERO)?;
            // SAFETY: The allocation is zeroed, and all zeroes is a valid `Desc`.
            let words = Arc::new(unsafe { zeroed.assume_init() }, GFP_KERNEL)?;
            let mut pages = self.0.pages.borrow_mut();
            let index = pages.len();
            pages.push(
                Page {
                    words: words.clone(),
                    live: true,
                    published: false,
                },
                GFP_KERNEL,
            )?;
            Ok(TestMem {
                reg: self.0.clone(),
                words,
                index,
            })
        }

        fn publish_barrier(&self) {
            self.0.barriers.set(self.0.barriers.get() + 1);
            for page in self.0.pages.borrow_mut().iter_mut() {
                page.published = true;
            }
        }
    }
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_uat_pgtable)]
mod tests {
    use super::test_alloc::*;
    use super::*;
    use crate::uat::pte::{
        PROT_FW_PRIV_RW,
        PROT_GPU_SHARED_RO,
        PROT_GPU_SHARED_RW, //
    };
    use kernel::sync::Arc;

    const PG: u64 = pte::PAGE_SIZE;
    const GIB: u64 = 1 << 30;
    const PA: u64 = 0x8_0000_0000;

    fn user() -> Result<(PageTable<TestAlloc>, Arc<Registry>)> {
        let (alloc, reg) = TestAlloc::new()?;
        let pt = PageTable::new(alloc, Scope::NonGlobal, 0, 1 << IAS, 40)?;
        Ok((pt, reg))
    }

    /// Checks through the GPU-style walker, and through `lookup`, that `[va, va+size)` maps
    /// to `pa..` with `prot`. Helpers are outside KUnit's assertion rewriting (a plain
    /// `assert!` here would panic the kernel), so a mismatch is logged and returned as
    /// `EINVAL`, which fails the calling test through its `?`.
    fn check_mapped(
        pt: &PageTable<TestAlloc>,
        reg: &Registry,
        va: u64,
        pa: u64,
        size: u64,
        prot: Prot,
    ) -> Result {
        let mut off = 0;
        while off < size {
            let want = pte::page_desc(pa + off, prot, Scope::NonGlobal);
            expect_leaf(pt, reg, va + off, Some(want))?;
            off += PG;
        }
        Ok(())
    }

    /// Like [`check_mapped`], for nothing mapped in `[va, va+size)`.
    fn check_unmapped(pt: &PageTable<TestAlloc>, reg: &Registry, va: u64, size: u64) -> Result {
        let mut off = 0;
        while off < size {
            expect_leaf(pt, reg, va + off, None)?;
            off += PG;
        }
        Ok(())
    }

    fn expect_leaf(
        pt: &PageTable<TestAlloc>,
        reg: &Registry,
        va: u64,
        want: Option<u64>,
    ) -> Result {
        let walked = reg.walk(pt.root_phys(), va);
        let looked_up = pt.lookup(va);
        if walked != Ok(want) || looked_up != want {
            pr_err!(
                "va {:#x}: want {:x?}, GPU walk gives {:x?}, lookup {:x?}\n",
                va,
                want,
                walked,
                looked_up
            );
            return Err(EINVAL);
        }
        Ok(())
    }

    #[test]
    fn map_one_page_builds_three_levels() -> Result {
        let (mut pt, reg) = user()?;
        assert_eq!(reg.live(), 1);
        pt.map(0x4000, PA, PG, PROT_GPU_SHARED_RW)?;
        assert_eq!(pt.table_pages(), 2);
        assert_eq!(reg.live(), 3);
        check_mapped(&pt, &reg, 0x4000, PA, PG, PROT_GPU_SHARED_RW)?;
        check_unmapped(&pt, &reg, 0, PG)?;
        check_unmapped(&pt, &reg, 0x8000, PG)?;
        pt.retire();
        Ok(())
    }

    #[test]
    fn range_ends_of_the_half() -> Result {
        let (mut pt, reg) = user()?;
        // First and last page of the 39-bit half, and across a leaf-table boundary.
        pt.map(0, PA, PG, PROT_GPU_SHARED_RW)?;
        pt.map((1 << IAS) - PG, PA + PG, PG, PROT_GPU_SHARED_RW)?;
        pt.map(L1_SPAN - PG, PA + 2 * PG, 2 * PG, PROT_GPU_SHARED_RW)?;
        check_mapped(&pt, &reg, 0, PA, PG, PROT_GPU_SHARED_RW)?;
        check_mapped(&pt, &reg, (1 << IAS) - PG, PA + PG, PG, PROT_GPU_SHARED_RW)?;
        check_mapped(
            &pt,
            &reg,
            L1_SPAN - PG,
            PA + 2 * PG,
            2 * PG,
            PROT_GPU_SHARED_RW,
        )?;
        // Two L1 tables (root entries 0 and 7) and three leaves (0, 1 and the last).
        assert_eq!(pt.table_pages(), 2 + 3);
        // Past the end, unaligned, empty, overflowing.
        assert_eq!(pt.map(1 << IAS, PA, PG, PROT_GPU_SHARED_RW), Err(ERANGE));
        assert_eq!(
            pt.map((1 << IAS) - PG, PA, 2 * PG, PROT_GPU_SHARED_RW),
            Err(ERANGE)
        );
        assert_eq!(pt.map(0x2000, PA, PG, PROT_GPU_SHARED_RW), Err(EINVAL));
        assert_eq!(
            pt.map(0x8000, PA + 0x1000, PG, PROT_GPU_SHARED_RW),
            Err(EINVAL)
        );
        assert_eq!(pt.map(0x8000, PA, 0, PROT_GPU_SHARED_RW), Err(EINVAL));
        assert_eq!(
            pt.map(u64::MAX - PG + 1, PA, PG, PROT_GPU_SHARED_RW),
            Err(ERANGE)
        );
        // Output address beyond 40 bits.
        assert_eq!(
            pt.map(0x8000, (1 << 40) - PG, 2 * PG, PROT_GPU_SHARED_RW),
            Err(ERANGE)
        );
        pt.map(0x8000, (1 << 40) - PG, PG, PROT_GPU_SHARED_RW)?;
        assert_eq!(pt.table_pages(), 5);
        pt.retire();
        Ok(())
    }

    #[test]
    fn map_one_gib_and_unmap_keeps_tables_for_reuse() -> Result {
        let (mut pt, reg) = user()?;
        // 1 GiB starting half way through a leaf table: 33 leaves, one L1.
        let va = 0x10_0000_0000 + L1_SPAN / 2;
        pt.map(va, PA, GIB, PROT_GPU_SHARED_RW)?;
        assert_eq!(pt.table_pages(), 1 + 33);
        check_mapped(&pt, &reg, va, PA, GIB, PROT_GPU_SHARED_RW)?;
        check_unmapped(&pt, &reg, va - PG, PG)?;
        check_unmapped(&pt, &reg, va + GIB, PG)?;
        let mut calls = 0;
        let n = pt.unmap(va, GIB, |a, s| {
            assert_eq!((a, s), (va, GIB));
            calls += 1;
        })?;
        assert_eq!((n, calls), ((GIB / PG) as usize, 1));
        check_unmapped(&pt, &reg, va, GIB)?;
        // The tables stay: mapping the range again needs no memory at all.
        assert_eq!(pt.table_pages(), 34);
        reg.fail_after(0);
        pt.map(va, PA + GIB, GIB, PROT_GPU_SHARED_RO)?;
        reg.unlimited();
        check_mapped(&pt, &reg, va, PA + GIB, GIB, PROT_GPU_SHARED_RO)?;
        // Retiring frees every table but the root, which goes with the table.
        pt.retire();
        assert_eq!((pt.table_pages(), reg.live()), (0, 1));
        assert_eq!(pt.map(va, PA, PG, PROT_GPU_SHARED_RW), Err(ENODEV));
        drop(pt);
        assert_eq!(reg.live(), 0);
        Ok(())
    }

    #[test]
    fn partial_unmaps_keep_the_rest() -> Result {
        let (mut pt, reg) = user()?;
        // Three leaf tables' worth, starting at a leaf boundary.
        let va = 4 * L1_SPAN;
        pt.map(va, PA, 3 * L1_SPAN, PROT_GPU_SHARED_RW)?;
        assert_eq!(pt.table_pages(), 4);
        // A hole in the middle of the first leaf.
        assert_eq!(pt.unmap(va + 4 * PG, 2 * PG, |_, _| ())?, 2);
        check_unmapped(&pt, &reg, va + 4 * PG, 2 * PG)?;
        check_mapped(&pt, &reg, va, PA, 4 * PG, PROT_GPU_SHARED_RW)?;
        check_mapped(&pt, &reg, va + 6 * PG, PA + 6 * PG, PG, PROT_GPU_SHARED_RW)?;
        // The whole middle leaf plus one page on each side.
        assert_eq!(
            pt.unmap(va + L1_SPAN - PG, L1_SPAN + 2 * PG, |_, _| ())?,
            (L1_SPAN / PG) as usize + 2
        );
        check_unmapped(&pt, &reg, va + L1_SPAN - PG, L1_SPAN + 2 * PG)?;
        check_mapped(
            &pt,
            &reg,
            va + L1_SPAN - 2 * PG,
            PA + L1_SPAN - 2 * PG,
            PG,
            PROT_GPU_SHARED_RW,
        )?;
        check_mapped(
            &pt,
            &reg,
            va + 2 * L1_SPAN + PG,
            PA + 2 * L1_SPAN + PG,
            PG,
            PROT_GPU_SHARED_RW,
        )?;
        // Unmapping an already empty range is fine and still invalidates.
        let mut called = false;
        assert_eq!(pt.unmap(va + L1_SPAN, PG, |_, _| called = true)?, 0);
        assert!(called);
        // Unmapping beyond every table is fine too.
        assert_eq!(pt.unmap(40 * L1_SPAN, 2 * L1_SPAN, |_, _| ())?, 0);
        assert_eq!(pt.table_pages(), 4);
        pt.retire();
        assert_eq!(reg.live(), 1);
        Ok(())
    }

    #[test]
    fn unretired_tables_are_leaked_not_freed() -> Result {
        let (mut pt, reg) = user()?;
        pt.map(0x4000, PA, PG, PROT_GPU_SHARED_RW)?;
        let root = pt.root_phys();
        // The owner could not make the table unreachable (say the handoff lock timed out):
        // the GPU may still walk it, so dropping it must free nothing.
        drop(pt);
        assert_eq!(reg.live(), 3);
        assert_eq!(
            reg.walk(root, 0x4000),
            Ok(Some(pte::page_desc(
                PA,
                PROT_GPU_SHARED_RW,
                Scope::NonGlobal
            )))
        );
        Ok(())
    }

    #[test]
    fn new_tables_are_published_after_a_barrier() -> Result {
        let (mut pt, reg) = user()?;
        // Two new tables (L1 and leaf): a barrier before each descriptor that links one in.
        pt.map(0x4000, PA, PG, PROT_GPU_SHARED_RW)?;
        assert_eq!(reg.barriers(), 2);
        check_mapped(&pt, &reg, 0x4000, PA, PG, PROT_GPU_SHARED_RW)?;
        // Filling an existing leaf publishes nothing new.
        pt.map(0x8000, PA, 16 * PG, PROT_GPU_SHARED_RW)?;
        assert_eq!(reg.barriers(), 2);
        // A run over three new leaves: three more.
        pt.map(L1_SPAN, PA, 3 * L1_SPAN, PROT_GPU_SHARED_RW)?;
        assert_eq!(reg.barriers(), 5);
        check_mapped(
            &pt,
            &reg,
            3 * L1_SPAN,
            PA + 2 * L1_SPAN,
            PG,
            PROT_GPU_SHARED_RW,
        )?;
        pt.retire();
        Ok(())
    }

    #[test]
    fn map_over_existing_is_refused_remap_replaces() -> Result {
        let (mut pt, reg) = user()?;
        pt.map(0x10_0000, PA, 4 * PG, PROT_GPU_SHARED_RW)?;
        // Overlapping at either end: refused, nothing changed.
        assert_eq!(
            pt.map(0x10_0000 - PG, PA, 2 * PG, PROT_GPU_SHARED_RO),
            Err(EBUSY)
        );
        assert_eq!(
            pt.map(0x10_0000 + 3 * PG, PA, 2 * PG, PROT_GPU_SHARED_RO),
            Err(EBUSY)
        );
        check_unmapped(&pt, &reg, 0x10_0000 - PG, PG)?;
        check_unmapped(&pt, &reg, 0x10_0000 + 4 * PG, PG)?;
        check_mapped(&pt, &reg, 0x10_0000, PA, 4 * PG, PROT_GPU_SHARED_RW)?;
        // Remap the middle two pages and one page past the end elsewhere, read-only:
        // break-before-make, so when the invalidation runs the old pages are unmapped and the
        // new ones not yet written.
        let root = pt.root_phys();
        let mut calls = 0;
        let replaced = pt.remap(
            0x10_0000 + 2 * PG,
            0x9_0000_0000,
            3 * PG,
            PROT_GPU_SHARED_RO,
            |va, size| {
                assert_eq!((va, size), (0x10_0000 + 2 * PG, 3 * PG));
                for i in 0..3 {
                    assert_eq!(reg.walk(root, va + i * PG), Ok(None));
                }
                calls += 1;
            },
        )?;
        assert_eq!((replaced, calls), (2, 1));
        check_mapped(&pt, &reg, 0x10_0000, PA, 2 * PG, PROT_GPU_SHARED_RW)?;
        check_mapped(
            &pt,
            &reg,
            0x10_0000 + 2 * PG,
            0x9_0000_0000,
            3 * PG,
            PROT_GPU_SHARED_RO,
        )?;
        // Remapping over nothing has nothing to invalidate.
        let mut invalidated = false;
        let replaced = pt.remap(0x20_0000, PA, PG, PROT_GPU_SHARED_RO, |_, _| {
            invalidated = true
        })?;
        assert_eq!((replaced, invalidated), (0, false));
        assert_eq!(pt.unmap(0x10_0000, 5 * PG, |_, _| ())?, 5);
        pt.retire();
        Ok(())
    }

    #[test]
    fn out_of_memory_leaves_tables_unchanged() -> Result {
        let (mut pt, reg) = user()?;
        pt.map(0x4000, PA, PG, PROT_GPU_SHARED_RW)?;
        let before = reg.live();
        // 64 MiB over a fresh root entry needs 1 L1 + 2 leaves; fail each allocation in turn.
        let va = 3 * L0_SPAN;
        for n in 0..3 {
            reg.fail_after(n);
            assert_eq!(pt.map(va, PA, 2 * L1_SPAN, PROT_GPU_SHARED_RW), Err(ENOMEM));
            assert_eq!(reg.live(), before);
            assert_eq!(pt.table_pages(), 2);
            check_unmapped(&pt, &reg, va, PG)?;
            assert_eq!(reg.walk(pt.root_phys(), va), Ok(None));
        }
        // Remap over the existing page plus a new leaf table also fails cleanly.
        reg.fail_after(0);
        assert_eq!(
            pt.remap(0x4000, PA + PG, L1_SPAN, PROT_GPU_SHARED_RO, |_, _| ()),
            Err(ENOMEM)
        );
        check_mapped(&pt, &reg, 0x4000, PA, PG, PROT_GPU_SHARED_RW)?;
        // With enough memory it succeeds.
        reg.fail_after(3);
        pt.map(va, PA, 2 * L1_SPAN, PROT_GPU_SHARED_RW)?;
        reg.unlimited();
        assert_eq!(pt.table_pages(), 5);
        pt.retire();
        Ok(())
    }

    #[test]
    fn scatter_gather_chunks() -> Result {
        let (mut pt, reg) = user()?;
        let chunks = [(PA, 2 * PG), (0x9_0000_0000, PG), (PA + 8 * PG, 3 * PG)];
        pt.map_sg(0x40_0000, chunks.iter().copied(), PROT_GPU_SHARED_RW)?;
        check_mapped(&pt, &reg, 0x40_0000, PA, 2 * PG, PROT_GPU_SHARED_RW)?;
        check_mapped(
            &pt,
            &reg,
            0x40_0000 + 2 * PG,
            0x9_0000_0000,
            PG,
            PROT_GPU_SHARED_RW,
        )?;
        check_mapped(
            &pt,
            &reg,
            0x40_0000 + 3 * PG,
            PA + 8 * PG,
            3 * PG,
            PROT_GPU_SHARED_RW,
        )?;
        // A bad chunk anywhere rejects the whole list.
        let bad = [(PA, PG), (PA + 0x1000, PG)];
        assert_eq!(
            pt.map_sg(0x80_0000, bad.iter().copied(), PROT_GPU_SHARED_RW),
            Err(EINVAL)
        );
        check_unmapped(&pt, &reg, 0x80_0000, PG)?;
        // The same page over and over (a single-page bind).
        let repeat = core::iter::repeat_n((PA, PG), 4);
        pt.map_sg(0x100_0000, repeat, PROT_GPU_SHARED_RO)?;
        check_mapped(&pt, &reg, 0x100_0000 + 3 * PG, PA, PG, PROT_GPU_SHARED_RO)?;
        pt.retire();
        Ok(())
    }

    #[test]
    fn adopted_upper_half_root() -> Result {
        let (alloc, reg) = TestAlloc::new()?;
        // A "bootloader" root with the firmware's entry 0 already in use.
        let root = alloc.alloc_table()?;
        root.entries()[0].set(0x20_0000_0003);
        let root_phys = root.phys();
        let win = (0xffff_ffa0_0000_0000, 0xffff_ffb0_0000_0000);
        // A window that is not whole root entries, or one over the used entry, is refused.
        let r2 = alloc.alloc_table()?;
        r2.entries()[2].set(0x20_0000_4003);
        assert!(matches!(
            PageTable::<TestAlloc, TestMem>::adopt(TestAlloc(reg.clone()), r2, Scope::Global, win.0, win.1, 42),
            Err(e) if e == EBUSY
        ));
        let mut pt =
            PageTable::<TestAlloc, TestMem>::adopt(alloc, root, Scope::Global, win.0, win.1, 42)?;
        assert_eq!(pt.root_phys(), root_phys);
        assert_eq!(pt.window(), win);
        let va = 0xffff_ffa8_0000_0000;
        pt.map(va, 0x3ff_0000_0000, 2 * PG, PROT_FW_PRIV_RW)?;
        let want = pte::page_desc(0x3ff_0000_0000, PROT_FW_PRIV_RW, Scope::Global);
        assert_eq!(reg.walk(root_phys, va), Ok(Some(want)));
        assert_eq!(want & (1 << 11), 0);
        // Outside the window (still upper half, or lower half): refused.
        assert_eq!(
            pt.map(0xffff_ff80_0000_0000, PA, PG, PROT_FW_PRIV_RW),
            Err(ERANGE)
        );
        assert_eq!(pt.map(0x20_0000_0000, PA, PG, PROT_FW_PRIV_RW), Err(ERANGE));
        // The firmware's entry is untouched throughout; unhooking clears only ours.
        assert_eq!(reg.read(root_phys, 0), Ok(0x20_0000_0003));
        pt.unmap(va, 2 * PG, |_, _| ())?;
        assert!(reg.read(root_phys, 2).is_ok_and(|d| d != 0));
        pt.unhook();
        assert_eq!(reg.read(root_phys, 2), Ok(0));
        assert_eq!(reg.read(root_phys, 0), Ok(0x20_0000_0003));
        pt.retire();
        Ok(())
    }

    #[test]
    fn kernel_allocator_gives_aligned_zeroed_tables() -> Result {
        let t = KernelTables.alloc_table()?;
        assert_eq!(t.phys() % PG, 0);
        assert!(t.entries().iter().all(|e| e.get() == 0));
        t.entries()[ENTRIES - 1].set(0xdead_0003);
        assert_eq!(t.entries()[ENTRIES - 1].get(), 0xdead_0003);
        assert_eq!(t.0.size() as u64, PG);
        Ok(())
    }
}
