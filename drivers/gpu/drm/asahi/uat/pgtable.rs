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
//! - Every table is a naturally aligned 16 KiB chunk reached through the [`TableMem`] trait
//!   and obtained from a [`TableAlloc`], so the same code runs on kernel pages
//!   ([`KernelTables`]: an order-2 block on a 4 KiB kernel, one page on a 16 KiB one) and, in
//!   KUnit, on an allocator that can be told to run dry.
//! - The driver keeps a software mirror of the tree (which child table sits under which
//!   descriptor, and how many valid descriptors each table has), so it never has to turn a
//!   physical address read from a descriptor back into a pointer.
//! - A map first checks its arguments, counts the table pages it is missing and allocates all
//!   of them; only then does it touch a descriptor. Running out of memory therefore fails the
//!   whole request with the tables unchanged.
//! - An unmap clears the leaves, detaches tables that became empty, lets the caller invalidate
//!   the TLB (which also drops cached walks through the detached tables), and only then frees
//!   those tables, so the GPU can never walk through a table page that was reused.
//! - A table can adopt a root it does not own (the bootloader's kernel TTB1) and then manage
//!   only a window of it; root entries outside the window are never read or written.

use kernel::{
    contig_pages::ContigPages,
    page,
    prelude::*, //
};

use super::pte::{
    self,
    Prot,
    Scope, //
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

/// One 16 KiB table page as the GPU sees it.
pub(crate) trait TableMem: Unpin {
    /// Physical (GPU output) address of the page, 16 KiB aligned.
    fn phys(&self) -> u64;
    /// Reads descriptor `index` (< [`ENTRIES`]).
    fn read(&self, index: usize) -> u64;
    /// Writes descriptor `index` (< [`ENTRIES`]) with one single-copy-atomic store.
    fn write(&self, index: usize, desc: u64);
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
}

/// Order of a 16 KiB block in CPU pages: 2 on a 4 KiB kernel, 0 on a 16 KiB one.
const TABLE_ORDER: u32 = {
    // Kernels with pages larger than the UAT granule are not supported (Kconfig).
    assert!(page::PAGE_SHIFT <= pte::PAGE_SHIFT as usize);
    pte::PAGE_SHIFT - page::PAGE_SHIFT as u32
};

/// Table pages from the kernel page allocator.
#[derive(Clone, Copy)]
pub(crate) struct KernelTables;

impl TableMem for ContigPages {
    fn phys(&self) -> u64 {
        self.phys_addr()
    }

    fn read(&self, index: usize) -> u64 {
        // Cannot fail: callers pass `index < ENTRIES` and the block is 16 KiB (TABLE_ORDER).
        self.read_u64(index * 8).unwrap_or(0)
    }

    fn write(&self, index: usize, desc: u64) {
        // Cannot fail: callers pass `index < ENTRIES` and the block is 16 KiB (TABLE_ORDER).
        let _ = self.write_u64(index * 8, desc);
    }
}

impl TableAlloc for KernelTables {
    type Mem = ContigPages;

    fn alloc_table(&self) -> Result<ContigPages> {
        Ok(ContigPages::alloc(TABLE_ORDER, GFP_KERNEL | __GFP_ZERO)?)
    }
}

/// A table in the software mirror: its page, its valid-descriptor count and, above the leaf
/// level, the child table under each descriptor.
///
/// Invariant (outside of an unmap in progress): `children[i]` is `Some` exactly when
/// descriptor `i` is a valid table descriptor pointing at that child.
struct Table<M> {
    mem: M,
    live: usize,
    children: KVec<Option<KBox<Table<M>>>>,
}

impl<M: TableMem> Table<M> {
    fn new<A: TableAlloc<Mem = M>>(alloc: &A, leaf: bool) -> Result<KBox<Self>> {
        let mem = alloc.alloc_table()?;
        let mut children = KVec::new();
        if !leaf {
            children.reserve(ENTRIES, GFP_KERNEL)?;
            for _ in 0..ENTRIES {
                children.push(None, GFP_KERNEL)?;
            }
        }
        Ok(KBox::new(
            Self {
                mem,
                live: 0,
                children,
            },
            GFP_KERNEL,
        )?)
    }
}

/// What [`PageTable::map_chunks`] should do with pages that are already mapped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Overwrite {
    /// Fail with `EBUSY` before changing anything.
    Refuse,
    /// Replace them.
    Replace,
}

/// Page tables for one half of a GPU address space, covering the VA window
/// `[start, end)`.
pub(crate) struct PageTable<A: TableAlloc, R: TableMem = <A as TableAlloc>::Mem> {
    alloc: A,
    root: R,
    /// L1 tables under the root entries (all [`ROOT_ENTRIES`], only the window's are used).
    l1: KVec<Option<KBox<Table<A::Mem>>>>,
    scope: Scope,
    start: u64,
    end: u64,
    oas: u32,
    /// Table pages currently owned (the root not counted).
    tables: usize,
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
        let mut l1 = KVec::with_capacity(ROOT_ENTRIES, GFP_KERNEL)?;
        for _ in 0..ROOT_ENTRIES {
            l1.push(None, GFP_KERNEL)?;
        }
        let this = Self {
            alloc,
            root,
            l1,
            scope,
            start,
            end,
            oas,
            tables: 0,
        };
        for i in this.root_indices(start, end - start) {
            if pte::is_valid(this.root.read(i)) {
                return Err(EBUSY);
            }
        }
        Ok(this)
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

    fn root_indices(&self, va: u64, size: u64) -> core::ops::RangeInclusive<usize> {
        l0_index(va)..=l0_index(va + size - 1)
    }

    /// Checks that `[va, va + size)` is a non-empty, page-aligned range inside the window.
    fn check_range(&self, va: u64, size: u64) -> Result {
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

    /// Counts the (L1, leaf) tables a map of `[va, va + size)` would have to allocate.
    fn missing_tables(&self, va: u64, size: u64) -> (usize, usize) {
        let last = va + size - 1;
        let (mut l1, mut l2) = (0, 0);
        for i0 in self.root_indices(va, size) {
            let lo = if i0 == l0_index(va) { l1_index(va) } else { 0 };
            let hi = if i0 == l0_index(last) {
                l1_index(last)
            } else {
                ENTRIES - 1
            };
            match &self.l1[i0] {
                None => {
                    l1 += 1;
                    l2 += hi - lo + 1;
                }
                Some(t) => l2 += t.children[lo..=hi].iter().filter(|c| c.is_none()).count(),
            }
        }
        (l1, l2)
    }

    /// Returns the leaf descriptor for `va`, if the tables reach that far.
    pub(crate) fn lookup(&self, va: u64) -> Option<u64> {
        if va < self.start || va >= self.end {
            return None;
        }
        let l1 = self.l1[l0_index(va)].as_ref()?;
        let l2 = l1.children[l1_index(va)].as_ref()?;
        let desc = l2.mem.read(l2_index(va));
        pte::is_valid(desc).then_some(desc)
    }

    /// Whether any page of `[va, va + size)` is mapped.
    fn any_mapped(&self, va: u64, size: u64) -> bool {
        let mut cur = va;
        let end = va + size;
        while cur < end {
            let next = ((cur / L1_SPAN) + 1).saturating_mul(L1_SPAN).min(end);
            let leaf = self.l1[l0_index(cur)]
                .as_ref()
                .and_then(|l1| l1.children[l1_index(cur)].as_ref());
            if let Some(leaf) = leaf {
                let (lo, hi) = (l2_index(cur), l2_index(next - 1));
                if (lo..=hi).any(|i| pte::is_valid(leaf.mem.read(i))) {
                    return true;
                }
            }
            cur = next;
        }
        false
    }

    /// Maps `size` bytes at `va` to the physically contiguous range at `pa`.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for unaligned or empty ranges, [`ERANGE`] for a range outside the window or
    /// an output address beyond the SoC's physical address size, [`EBUSY`] when a page of the
    /// range is already mapped, [`ENOMEM`] when table pages cannot be allocated. On error
    /// nothing was changed.
    pub(crate) fn map(&mut self, va: u64, pa: u64, size: u64, prot: Prot) -> Result {
        self.map_chunks(va, [(pa, size)].into_iter(), prot, Overwrite::Refuse)
            .map(|_| ())
    }

    /// Maps `[va, va + size)`, replacing whatever is mapped there, and returns how many
    /// previously valid pages were replaced: when that is not zero the caller must invalidate
    /// the TLB for the range.
    ///
    /// # Errors
    ///
    /// As [`PageTable::map`], except that mapped pages are not an error.
    pub(crate) fn remap(&mut self, va: u64, pa: u64, size: u64, prot: Prot) -> Result<usize> {
        self.map_chunks(va, [(pa, size)].into_iter(), prot, Overwrite::Replace)
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
        self.map_chunks(va, chunks, prot, Overwrite::Refuse)
            .map(|_| ())
    }

    fn map_chunks<I>(&mut self, va: u64, chunks: I, prot: Prot, mode: Overwrite) -> Result<usize>
    where
        I: Iterator<Item = (u64, u64)> + Clone,
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
        if mode == Overwrite::Refuse && self.any_mapped(va, size) {
            return Err(EBUSY);
        }

        // 2. Allocate every missing table; on failure everything allocated so far is dropped.
        let (need_l1, need_l2) = self.missing_tables(va, size);
        let mut pool_l1 = KVec::with_capacity(need_l1, GFP_KERNEL)?;
        for _ in 0..need_l1 {
            pool_l1.push(Table::new(&self.alloc, false)?, GFP_KERNEL)?;
        }
        let mut pool_l2 = KVec::with_capacity(need_l2, GFP_KERNEL)?;
        for _ in 0..need_l2 {
            pool_l2.push(Table::new(&self.alloc, true)?, GFP_KERNEL)?;
        }

        // 3. Install. Nothing below can fail: the pools hold exactly what is missing.
        self.tables += need_l1 + need_l2;
        let scope = self.scope;
        let mut replaced = 0;
        let mut cur = va;
        for (pa, len) in chunks {
            let mut off = 0;
            while off < len {
                let leaf = self.leaf_for(cur, &mut pool_l1, &mut pool_l2);
                let Some(leaf) = leaf else {
                    // Unreachable: `missing_tables` counted every table this loop needs.
                    return Err(EINVAL);
                };
                let i = l2_index(cur);
                if pte::is_valid(leaf.mem.read(i)) {
                    replaced += 1;
                } else {
                    leaf.live += 1;
                }
                leaf.mem.write(i, pte::page_desc(pa + off, prot, scope));
                off += pte::PAGE_SIZE;
                cur += pte::PAGE_SIZE;
            }
        }
        Ok(replaced)
    }

    /// Returns the leaf table for `va`, installing tables from the pools where missing.
    fn leaf_for<'a>(
        &'a mut self,
        va: u64,
        pool_l1: &mut KVec<KBox<Table<A::Mem>>>,
        pool_l2: &mut KVec<KBox<Table<A::Mem>>>,
    ) -> Option<&'a mut Table<A::Mem>> {
        let i0 = l0_index(va);
        if self.l1[i0].is_none() {
            let t = pool_l1.pop()?;
            self.root.write(i0, pte::table_desc(t.mem.phys()));
            self.l1[i0] = Some(t);
        }
        let l1 = self.l1[i0].as_mut()?;
        let i1 = l1_index(va);
        if l1.children[i1].is_none() {
            let t = pool_l2.pop()?;
            l1.mem.write(i1, pte::table_desc(t.mem.phys()));
            l1.children[i1] = Some(t);
            l1.live += 1;
        }
        l1.children[i1].as_deref_mut()
    }

    /// Unmaps `[va, va + size)` and returns the number of pages that were mapped.
    ///
    /// Pages that are not mapped are skipped. Tables left empty are detached, then
    /// `invalidate(va, size)` is called (the caller invalidates the GPU TLB there; it is
    /// called even if nothing was mapped, so a caller cannot forget it), and only then are
    /// the detached tables freed.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for unaligned or empty ranges, [`ERANGE`] for a range outside the window.
    pub(crate) fn unmap(
        &mut self,
        va: u64,
        size: u64,
        invalidate: impl FnOnce(u64, u64),
    ) -> Result<usize> {
        self.check_range(va, size)?;
        let mut cleared = 0;
        let end = va + size;

        // 1. Clear leaves; detach tables that become empty (descriptor cleared, page kept).
        let mut cur = va;
        while cur < end {
            let next = ((cur / L1_SPAN) + 1).saturating_mul(L1_SPAN).min(end);
            let (i0, i1) = (l0_index(cur), l1_index(cur));
            if let Some(l1) = self.l1[i0].as_deref_mut() {
                if let Some(leaf) = l1.children[i1].as_deref_mut() {
                    for i in l2_index(cur)..=l2_index(next - 1) {
                        if pte::is_valid(leaf.mem.read(i)) {
                            leaf.mem.write(i, 0);
                            leaf.live -= 1;
                            cleared += 1;
                        }
                    }
                    if leaf.live == 0 && pte::is_valid(l1.mem.read(i1)) {
                        l1.mem.write(i1, 0);
                        l1.live -= 1;
                    }
                }
                if l1.live == 0 && pte::is_valid(self.root.read(i0)) {
                    self.root.write(i0, 0);
                }
            }
            cur = next;
        }

        // 2. The GPU may still hold walks through the detached tables until this returns.
        invalidate(va, size);

        // 3. Free what was detached.
        for i0 in self.root_indices(va, size) {
            let root_valid = pte::is_valid(self.root.read(i0));
            let Some(l1) = self.l1[i0].as_deref_mut() else {
                continue;
            };
            let mut freed = 0;
            if root_valid {
                for (i1, child) in l1.children.iter_mut().enumerate() {
                    if child.is_some() && !pte::is_valid(l1.mem.read(i1)) {
                        *child = None;
                        freed += 1;
                    }
                }
            } else {
                freed = 1 + l1.children.iter().filter(|c| c.is_some()).count();
                self.l1[i0] = None;
            }
            self.tables -= freed;
        }
        Ok(cleared)
    }
}

impl<A: TableAlloc, R: TableMem> Drop for PageTable<A, R> {
    fn drop(&mut self) {
        // Only the root may outlive us (an adopted one): leave no descriptor pointing at the
        // tables freed with `self.l1`.
        for (i0, l1) in self.l1.iter().enumerate() {
            if l1.is_some() {
                self.root.write(i0, 0);
            }
        }
    }
}

/// KUnit helpers: an allocator that can run dry and a walker that follows the descriptors
/// the way the GPU does.
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
        words: KVec<Cell<u64>>,
        live: bool,
    }

    /// Backing store shared by the allocator, its pages and the test.
    pub(crate) struct Registry {
        pages: RefCell<KVec<Page>>,
        /// Allocations left before `ENOMEM`; `None` = unlimited.
        budget: Cell<Option<usize>>,
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

        /// Reads descriptor `index` of the page at `pa`; panics (fails the test) if that page
        /// was freed or never allocated, which is what a GPU walk must never reach.
        pub(crate) fn read(&self, pa: u64, index: usize) -> u64 {
            let pages = self.pages.borrow();
            let page = &pages[((pa - BASE) / pte::PAGE_SIZE) as usize];
            assert!(page.live);
            page.words[index].get()
        }

        /// Translates `va` by walking descriptors from `root` like the GPU: returns the leaf
        /// descriptor or `None` at the first invalid one.
        pub(crate) fn walk(&self, root: u64, va: u64) -> Option<u64> {
            let d0 = self.read(root, l0_index(va));
            if !pte::is_valid(d0) {
                return None;
            }
            let d1 = self.read(pte::desc_addr(d0), l1_index(va));
            if !pte::is_valid(d1) {
                return None;
            }
            let d2 = self.read(pte::desc_addr(d1), l2_index(va));
            pte::is_valid(d2).then_some(d2)
        }
    }

    /// A test table page.
    pub(crate) struct TestMem {
        reg: Arc<Registry>,
        index: usize,
    }

    impl TableMem for TestMem {
        fn phys(&self) -> u64 {
            BASE + self.index as u64 * pte::PAGE_SIZE
        }

        fn read(&self, index: usize) -> u64 {
            self.reg.pages.borrow()[self.index].words[index].get()
        }

        fn write(&self, index: usize, desc: u64) {
            self.reg.pages.borrow()[self.index].words[index].set(desc);
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
            let words = KVec::from_elem(Cell::new(0), ENTRIES, GFP_KERNEL)?;
            let mut pages = self.0.pages.borrow_mut();
            let index = pages.len();
            pages.push(Page { words, live: true }, GFP_KERNEL)?;
            Ok(TestMem {
                reg: self.0.clone(),
                index,
            })
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

    /// Checks through the GPU-style walker that `[va, va+size)` maps to `pa..` with `prot`.
    fn assert_mapped(
        pt: &PageTable<TestAlloc>,
        reg: &Registry,
        va: u64,
        pa: u64,
        size: u64,
        prot: Prot,
    ) {
        let mut off = 0;
        while off < size {
            let want = pte::page_desc(pa + off, prot, Scope::NonGlobal);
            assert_eq!(reg.walk(pt.root_phys(), va + off), Some(want));
            assert_eq!(pt.lookup(va + off), Some(want));
            off += PG;
        }
    }

    fn assert_unmapped(pt: &PageTable<TestAlloc>, reg: &Registry, va: u64, size: u64) {
        let mut off = 0;
        while off < size {
            assert_eq!(reg.walk(pt.root_phys(), va + off), None);
            assert_eq!(pt.lookup(va + off), None);
            off += PG;
        }
    }

    #[test]
    fn map_one_page_builds_three_levels() -> Result {
        let (mut pt, reg) = user()?;
        assert_eq!(reg.live(), 1);
        pt.map(0x4000, PA, PG, PROT_GPU_SHARED_RW)?;
        assert_eq!(pt.table_pages(), 2);
        assert_eq!(reg.live(), 3);
        assert_mapped(&pt, &reg, 0x4000, PA, PG, PROT_GPU_SHARED_RW);
        assert_unmapped(&pt, &reg, 0, PG);
        assert_unmapped(&pt, &reg, 0x8000, PG);
        Ok(())
    }

    #[test]
    fn range_ends_of_the_half() -> Result {
        let (mut pt, reg) = user()?;
        // First and last page of the 39-bit half, and across a leaf-table boundary.
        pt.map(0, PA, PG, PROT_GPU_SHARED_RW)?;
        pt.map((1 << IAS) - PG, PA + PG, PG, PROT_GPU_SHARED_RW)?;
        pt.map(L1_SPAN - PG, PA + 2 * PG, 2 * PG, PROT_GPU_SHARED_RW)?;
        assert_mapped(&pt, &reg, 0, PA, PG, PROT_GPU_SHARED_RW);
        assert_mapped(&pt, &reg, (1 << IAS) - PG, PA + PG, PG, PROT_GPU_SHARED_RW);
        assert_mapped(
            &pt,
            &reg,
            L1_SPAN - PG,
            PA + 2 * PG,
            2 * PG,
            PROT_GPU_SHARED_RW,
        );
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
        Ok(())
    }

    #[test]
    fn map_one_gib_and_unmap_frees_everything() -> Result {
        let (mut pt, reg) = user()?;
        // 1 GiB starting half way through a leaf table: 33 leaves, one L1.
        let va = 0x10_0000_0000 + L1_SPAN / 2;
        pt.map(va, PA, GIB, PROT_GPU_SHARED_RW)?;
        assert_eq!(pt.table_pages(), 1 + 33);
        assert_mapped(&pt, &reg, va, PA, GIB, PROT_GPU_SHARED_RW);
        assert_unmapped(&pt, &reg, va - PG, PG);
        assert_unmapped(&pt, &reg, va + GIB, PG);
        let mut calls = 0;
        let n = pt.unmap(va, GIB, |a, s| {
            assert_eq!((a, s), (va, GIB));
            calls += 1;
        })?;
        assert_eq!((n, calls), ((GIB / PG) as usize, 1));
        assert_eq!(pt.table_pages(), 0);
        assert_eq!(reg.live(), 1);
        assert_unmapped(&pt, &reg, va, GIB);
        Ok(())
    }

    #[test]
    fn partial_unmaps_keep_the_rest() -> Result {
        let (mut pt, reg) = user()?;
        // Three leaf tables' worth, starting at a leaf boundary.
        let va = 4 * L1_SPAN;
        pt.map(va, PA, 3 * L1_SPAN, PROT_GPU_SHARED_RW)?;
        assert_eq!(pt.table_pages(), 4);
        // A hole in the middle of the first leaf: the table stays.
        assert_eq!(pt.unmap(va + 4 * PG, 2 * PG, |_, _| ())?, 2);
        assert_eq!(pt.table_pages(), 4);
        assert_unmapped(&pt, &reg, va + 4 * PG, 2 * PG);
        assert_mapped(&pt, &reg, va, PA, 4 * PG, PROT_GPU_SHARED_RW);
        assert_mapped(&pt, &reg, va + 6 * PG, PA + 6 * PG, PG, PROT_GPU_SHARED_RW);
        // The whole middle leaf plus one page on each side: only the middle table is freed.
        assert_eq!(
            pt.unmap(va + L1_SPAN - PG, L1_SPAN + 2 * PG, |_, _| ())?,
            (L1_SPAN / PG) as usize + 2
        );
        assert_eq!(pt.table_pages(), 3);
        assert_eq!(reg.live(), 4);
        assert_mapped(
            &pt,
            &reg,
            va + L1_SPAN - 2 * PG,
            PA + L1_SPAN - 2 * PG,
            PG,
            PROT_GPU_SHARED_RW,
        );
        assert_mapped(
            &pt,
            &reg,
            va + 2 * L1_SPAN + PG,
            PA + 2 * L1_SPAN + PG,
            PG,
            PROT_GPU_SHARED_RW,
        );
        // Unmapping an already empty range is fine and still invalidates.
        let mut called = false;
        assert_eq!(pt.unmap(va + L1_SPAN, PG, |_, _| called = true)?, 0);
        assert!(called);
        // Unmap the rest page by page from the top: the last page frees the last tables.
        pt.unmap(va, 3 * L1_SPAN - PG, |_, _| ())?;
        assert_eq!(pt.table_pages(), 2);
        pt.unmap(va + 3 * L1_SPAN - PG, PG, |_, _| ())?;
        assert_eq!(pt.table_pages(), 0);
        assert_eq!(reg.live(), 1);
        Ok(())
    }

    #[test]
    fn tables_are_freed_only_after_invalidation() -> Result {
        let (mut pt, reg) = user()?;
        pt.map(0x4000, PA, PG, PROT_GPU_SHARED_RW)?;
        let live = reg.live();
        let root = pt.root_phys();
        pt.unmap(0x4000, PG, |_, _| {
            // Detached already (the walk stops at the root) but not yet freed.
            assert_eq!(reg.walk(root, 0x4000), None);
            assert_eq!(reg.live(), live);
        })?;
        assert_eq!(reg.live(), 1);
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
        assert_unmapped(&pt, &reg, 0x10_0000 - PG, PG);
        assert_unmapped(&pt, &reg, 0x10_0000 + 4 * PG, PG);
        assert_mapped(&pt, &reg, 0x10_0000, PA, 4 * PG, PROT_GPU_SHARED_RW);
        // Remap the middle two pages and one page past the end elsewhere, read-only.
        let replaced = pt.remap(
            0x10_0000 + 2 * PG,
            0x9_0000_0000,
            3 * PG,
            PROT_GPU_SHARED_RO,
        )?;
        assert_eq!(replaced, 2);
        assert_mapped(&pt, &reg, 0x10_0000, PA, 2 * PG, PROT_GPU_SHARED_RW);
        assert_mapped(
            &pt,
            &reg,
            0x10_0000 + 2 * PG,
            0x9_0000_0000,
            3 * PG,
            PROT_GPU_SHARED_RO,
        );
        assert_eq!(pt.unmap(0x10_0000, 5 * PG, |_, _| ())?, 5);
        assert_eq!(pt.table_pages(), 0);
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
            assert_unmapped(&pt, &reg, va, PG);
            assert_eq!(reg.walk(pt.root_phys(), va), None);
        }
        // Remap over the existing page plus a new leaf table also fails cleanly.
        reg.fail_after(0);
        assert_eq!(
            pt.remap(0x4000, PA + PG, L1_SPAN, PROT_GPU_SHARED_RO),
            Err(ENOMEM)
        );
        assert_mapped(&pt, &reg, 0x4000, PA, PG, PROT_GPU_SHARED_RW);
        // With enough memory it succeeds.
        reg.fail_after(3);
        pt.map(va, PA, 2 * L1_SPAN, PROT_GPU_SHARED_RW)?;
        reg.unlimited();
        assert_eq!(pt.table_pages(), 5);
        Ok(())
    }

    #[test]
    fn scatter_gather_chunks() -> Result {
        let (mut pt, reg) = user()?;
        let chunks = [(PA, 2 * PG), (0x9_0000_0000, PG), (PA + 8 * PG, 3 * PG)];
        pt.map_sg(0x40_0000, chunks.iter().copied(), PROT_GPU_SHARED_RW)?;
        assert_mapped(&pt, &reg, 0x40_0000, PA, 2 * PG, PROT_GPU_SHARED_RW);
        assert_mapped(
            &pt,
            &reg,
            0x40_0000 + 2 * PG,
            0x9_0000_0000,
            PG,
            PROT_GPU_SHARED_RW,
        );
        assert_mapped(
            &pt,
            &reg,
            0x40_0000 + 3 * PG,
            PA + 8 * PG,
            3 * PG,
            PROT_GPU_SHARED_RW,
        );
        // A bad chunk anywhere rejects the whole list.
        let bad = [(PA, PG), (PA + 0x1000, PG)];
        assert_eq!(
            pt.map_sg(0x80_0000, bad.iter().copied(), PROT_GPU_SHARED_RW),
            Err(EINVAL)
        );
        assert_unmapped(&pt, &reg, 0x80_0000, PG);
        // The same page over and over (a single-page bind).
        let repeat = core::iter::repeat_n((PA, PG), 4);
        pt.map_sg(0x100_0000, repeat, PROT_GPU_SHARED_RO)?;
        assert_mapped(&pt, &reg, 0x100_0000 + 3 * PG, PA, PG, PROT_GPU_SHARED_RO);
        Ok(())
    }

    #[test]
    fn adopted_upper_half_root() -> Result {
        let (alloc, reg) = TestAlloc::new()?;
        // A "bootloader" root with the firmware's entry 0 already in use.
        let root = alloc.alloc_table()?;
        root.write(0, 0x20_0000_0003);
        let root_phys = root.phys();
        let win = (0xffff_ffa0_0000_0000, 0xffff_ffb0_0000_0000);
        // A window that is not whole root entries, or one over the used entry, is refused.
        let r2 = alloc.alloc_table()?;
        r2.write(2, 0x20_0000_4003);
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
        assert_eq!(reg.walk(root_phys, va), Some(want));
        assert_eq!(want & (1 << 11), 0);
        // Outside the window (still upper half, or lower half): refused.
        assert_eq!(
            pt.map(0xffff_ff80_0000_0000, PA, PG, PROT_FW_PRIV_RW),
            Err(ERANGE)
        );
        assert_eq!(pt.map(0x20_0000_0000, PA, PG, PROT_FW_PRIV_RW), Err(ERANGE));
        // The firmware's entry is untouched throughout, and dropping the table clears ours.
        assert_eq!(reg.read(root_phys, 0), 0x20_0000_0003);
        pt.unmap(va, 2 * PG, |_, _| ())?;
        assert_eq!(reg.read(root_phys, 2), 0);
        Ok(())
    }

    #[test]
    fn kernel_allocator_gives_aligned_zeroed_tables() -> Result {
        let t = KernelTables.alloc_table()?;
        assert_eq!(t.phys() % PG, 0);
        for i in 0..ENTRIES {
            assert_eq!(t.read(i), 0);
        }
        t.write(ENTRIES - 1, 0xdead_0003);
        assert_eq!(t.read(ENTRIES - 1), 0xdead_0003);
        assert_eq!(t.size() as u64, PG);
        Ok(())
    }
}
