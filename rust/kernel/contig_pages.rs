// SPDX-License-Identifier: GPL-2.0

//! Physically contiguous, naturally aligned blocks of pages with their physical address.
//!
//! Some devices need memory in units larger than the CPU page: an IOMMU or GPU MMU whose
//! granule is 16 KiB walks tables that must be 16 KiB naturally aligned chunks, whatever the
//! kernel's own page size. The buddy allocator hands out exactly that with an order-`n`
//! allocation (`2^n` pages, aligned to their size in physical memory).
//! [`ContigPages`] owns such a block, gives its physical address for the device, and lets the
//! CPU read and write it through the kernel's linear map with single-copy-atomic 64-bit
//! accesses, so a device walking the memory concurrently never sees a torn word.
//!
//! Only blocks in the linear map are handed out (no highmem), so no temporary mapping is
//! needed to reach them.
//!
//! C header: [`include/linux/gfp.h`](srctree/include/linux/gfp.h)

use crate::{
    alloc::{
        flags::{
            __GFP_NOWARN, //
            GFP_KERNEL,
        },
        AllocError,
        Flags,
        KVVec, //
    },
    bindings,
    error::{
        code::*,
        Result, //
    },
    io::PhysAddr,
    page::{
        BorrowedPage,
        PAGE_SIZE, //
    },
};
use core::ptr::NonNull;

/// Largest order accepted by [`ContigPages::alloc`]: 4 MiB with 4 KiB pages. Larger blocks are
/// rarely available after boot and are better served by CMA.
pub const MAX_ORDER: u32 = 10;

/// An owned block of `2^order` physically contiguous pages, aligned to its size.
///
/// # Invariants
///
/// - `page` points to the first `struct page` of a block of `2^order` pages allocated with
///   `alloc_pages()` and owned by this object.
/// - `addr` is the block's address in the kernel's linear map, valid for reads and writes of
///   [`ContigPages::size`] bytes for as long as this object lives.
pub struct ContigPages {
    page: NonNull<bindings::page>,
    addr: NonNull<u8>,
    order: u32,
}

// SAFETY: The block is plain memory with no affinity to the allocating thread; it may be freed
// from any thread.
unsafe impl Send for ContigPages {}

// SAFETY: Every access through `&ContigPages` is a single volatile machine-word access to memory
// the object owns, so concurrent callers cannot cause a data race in the Rust sense; ordering
// between them is the caller's business, as with any memory shared with a device.
unsafe impl Sync for ContigPages {}

impl ContigPages {
    /// Allocates `2^order` physically contiguous pages aligned to their size.
    ///
    /// `flags` are the allocation flags (add `__GFP_ZERO` to get zeroed memory);
    /// `__GFP_HIGHMEM` is removed because the block must be in the linear map.
    ///
    /// # Errors
    ///
    /// Returns [`AllocError`] when `order` exceeds [`MAX_ORDER`] or the allocation fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::contig_pages::ContigPages;
    ///
    /// let block = ContigPages::alloc(1, GFP_KERNEL | __GFP_ZERO)?;
    /// assert_eq!(block.size(), 2 * kernel::page::PAGE_SIZE);
    /// assert_eq!(block.phys_addr() % (block.size() as u64), 0);
    /// assert_eq!(block.read_u64(0)?, 0);
    /// block.write_u64(8, 0x1234)?;
    /// assert_eq!(block.read_u64(8)?, 0x1234);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn alloc(order: u32, flags: Flags) -> Result<Self, AllocError> {
        if order > MAX_ORDER {
            return Err(AllocError);
        }
        let gfp = flags.as_raw() & !bindings::__GFP_HIGHMEM;
        // SAFETY: `alloc_pages` may be called with any flags and order; it may sleep if the
        // flags allow it.
        let page = NonNull::new(unsafe { bindings::alloc_pages(gfp, order) }).ok_or(AllocError)?;
        // SAFETY: `page` is a valid page just returned by `alloc_pages`.
        let addr = unsafe { bindings::page_address(page.as_ptr()) };
        let Some(addr) = NonNull::new(addr.cast::<u8>()) else {
            // SAFETY: We own the block, it was allocated above with this order, and nothing
            // else refers to it.
            unsafe { bindings::__free_pages(page.as_ptr(), order) };
            return Err(AllocError);
        };
        // INVARIANT: The block was just allocated with `order`, and lowmem pages have a
        // permanent linear-map address covering the whole block.
        Ok(Self { page, addr, order })
    }

    /// Returns the allocation order: the block holds `2^order` pages.
    pub fn order(&self) -> u32 {
        self.order
    }

    /// Returns the size of the block in bytes.
    pub fn size(&self) -> usize {
        PAGE_SIZE << self.order
    }

    /// Returns the physical address of the first byte of the block, for programming a device.
    ///
    /// The address is aligned to [`ContigPages::size`]. It is a CPU physical address: a device
    /// behind an IOMMU needs a DMA mapping instead.
    pub fn phys_addr(&self) -> PhysAddr {
        // SAFETY: By the type invariants `self.page` is a valid page we own.
        unsafe { bindings::page_to_phys(self.page.as_ptr()) }
    }

    /// Returns the block's address in the kernel's linear map.
    ///
    /// The pointer is valid for reads and writes of [`ContigPages::size`] bytes while `self`
    /// lives; dereferencing it is the caller's responsibility.
    pub fn as_ptr(&self) -> *mut u8 {
        self.addr.as_ptr()
    }

    /// Checks that `offset` names an aligned `u64` inside the block and returns a pointer to
    /// it.
    fn word(&self, offset: usize) -> Result<*mut u64> {
        if offset % core::mem::size_of::<u64>() != 0 {
            return Err(EINVAL);
        }
        let end = offset
            .checked_add(core::mem::size_of::<u64>())
            .ok_or(ERANGE)?;
        if end > self.size() {
            return Err(ERANGE);
        }
        // SAFETY: `offset` is inside the block (checked above), which by the type invariants
        // is valid for `self.size()` bytes from `self.addr`.
        Ok(unsafe { self.addr.as_ptr().add(offset) }.cast::<u64>())
    }

    /// Reads the naturally aligned `u64` at byte `offset` with one single-copy-atomic access.
    ///
    /// # Errors
    ///
    /// Returns [`EINVAL`] if `offset` is not a multiple of 8 and [`ERANGE`] if it is outside
    /// the block.
    pub fn read_u64(&self, offset: usize) -> Result<u64> {
        let p = self.word(offset)?;
        // SAFETY: `p` is an aligned pointer inside the block (checked by `word`), which is valid
        // for reads by the type invariants. A volatile access is used because a device may
        // write the memory behind the compiler's back.
        Ok(unsafe { p.read_volatile() })
    }

    /// Writes the naturally aligned `u64` at byte `offset` with one single-copy-atomic access.
    ///
    /// # Errors
    ///
    /// Returns [`EINVAL`] if `offset` is not a multiple of 8 and [`ERANGE`] if it is outside
    /// the block.
    pub fn write_u64(&self, offset: usize, value: u64) -> Result {
        let p = self.word(offset)?;
        // SAFETY: `p` is an aligned pointer inside the block (checked by `word`), which is valid
        // for writes by the type invariants. No Rust reference to the block exists, so writing
        // through `&self` cannot invalidate one; the write is volatile so a device reading the
        // memory sees exactly one store.
        unsafe { p.write_volatile(value) };
        Ok(())
    }
}

impl Drop for ContigPages {
    fn drop(&mut self) {
        // SAFETY: By the type invariants we own the block, allocated with `self.order`.
        unsafe { bindings::__free_pages(self.page.as_ptr(), self.order) };
    }
}

/// Order-0 pages grouped in naturally aligned, physically contiguous chunks of `2^order` pages.
///
/// A device MMU whose page is larger than the CPU's (a 16 KiB GPU page on a 4 KiB kernel) maps
/// one chunk per device page, while the CPU side of the same buffer (user mappings, dma-buf
/// scatterlists) deals in ordinary pages. Each chunk is one `alloc_pages()` block split with
/// `split_page()`, so every page in it is an independent, refcounted order-0 page: a user
/// mapping takes its own reference to it and may outlive this object.
///
/// Allocation is all at once and the memory is not swappable. User-sized requests should not
/// take the machine down, so chunks are allocated with `__GFP_RETRY_MAYFAIL` (running out
/// fails the allocation instead of invoking the OOM killer), and a pending signal stops a long
/// allocation with [`ERESTARTSYS`].
///
/// # Invariants
///
/// - `pages` holds a multiple of `2^order` pointers; each group of `2^order` consecutive
///   entries is one split block, naturally aligned in physical memory, whose pages this object
///   holds one reference to.
/// - Every page is in the kernel's linear map (no highmem).
pub struct ChunkedPages {
    pages: KVVec<NonNull<bindings::page>>,
    order: u32,
}

// SAFETY: The pages are plain memory with no affinity to the allocating thread; their
// references may be dropped from any thread.
unsafe impl Send for ChunkedPages {}

// SAFETY: `&ChunkedPages` only hands out physical addresses and borrowed pages, whose own
// accessors are safe to use from several threads.
unsafe impl Sync for ChunkedPages {}

impl ChunkedPages {
    /// How many chunks are allocated between two checks for a pending signal.
    const SIGNAL_CHECK_INTERVAL: usize = 256;

    /// Allocates `chunks` chunks of `2^order` pages each.
    ///
    /// `flags` are the page allocation flags (for instance `GFP_KERNEL_ACCOUNT | __GFP_ZERO`
    /// for memory charged to and handed to userspace); `__GFP_HIGHMEM` is removed. The page
    /// list is allocated with `GFP_KERNEL`; one too large for the allocator fails quietly.
    ///
    /// # Errors
    ///
    /// - [`EINVAL`] when `order` exceeds [`MAX_ORDER`].
    /// - [`ENOMEM`] when the pages or the page list cannot be allocated.
    /// - [`ERESTARTSYS`] when the current task got a signal during a long allocation.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::{contig_pages::ChunkedPages, page::PAGE_SIZE};
    ///
    /// let buf = ChunkedPages::alloc(3, 2, GFP_KERNEL | __GFP_ZERO)?;
    /// assert_eq!(buf.num_pages(), 12);
    /// assert_eq!(buf.size(), 12 * PAGE_SIZE);
    /// for (i, chunk) in buf.chunk_phys_addrs().enumerate() {
    ///     // Each chunk is aligned to its size and its pages follow each other.
    ///     assert_eq!(chunk % (4 * PAGE_SIZE as u64), 0);
    ///     for p in 0..4 {
    ///         let page = buf.page(i * 4 + p).ok_or(EINVAL)?;
    ///         assert_eq!(page_phys(&page), chunk + (p * PAGE_SIZE) as u64);
    ///     }
    /// }
    /// assert!(buf.page(12).is_none());
    /// # fn page_phys(page: &kernel::page::Page) -> u64 {
    /// #     // SAFETY: `page` is a valid page.
    /// #     unsafe { kernel::bindings::page_to_phys(page.as_ptr()) }
    /// # }
    /// # Ok::<(), Error>(())
    /// ```
    pub fn alloc(chunks: usize, order: u32, flags: Flags) -> Result<Self> {
        if order > MAX_ORDER {
            return Err(EINVAL);
        }
        let per_chunk = 1usize << order;
        let total = chunks.checked_mul(per_chunk).ok_or(ENOMEM)?;
        // `__GFP_COMP` is never in `Flags`, so the blocks are not compound pages and
        // `split_page()` accepts them.
        let gfp = (flags.as_raw() & !bindings::__GFP_HIGHMEM)
            | bindings::__GFP_RETRY_MAYFAIL
            | bindings::__GFP_NOWARN;
        // Pages allocated so far are freed by `drop` on any early return.
        let mut this = Self {
            // A list too large for the allocator is an ordinary ENOMEM, not a warning.
            pages: KVVec::with_capacity(total, GFP_KERNEL | __GFP_NOWARN)?,
            order,
        };
        for chunk in 0..chunks {
            if chunk % Self::SIGNAL_CHECK_INTERVAL == Self::SIGNAL_CHECK_INTERVAL - 1
                && crate::current!().signal_pending()
            {
                return Err(ERESTARTSYS);
            }
            // SAFETY: `alloc_pages` may be called with any flags and order; it may sleep if the
            // flags allow it.
            let head = NonNull::new(unsafe { bindings::alloc_pages(gfp, order) }).ok_or(ENOMEM)?;
            if order > 0 {
                // SAFETY: `head` is a non-compound block of this order that we own.
                unsafe { bindings::split_page(head.as_ptr(), order) };
            }
            for i in 0..per_chunk {
                // SAFETY: The block holds `per_chunk` pages, whose `struct page`s are
                // consecutive because the block is physically contiguous.
                let page = unsafe { head.add(i) };
                if this.pages.push_within_capacity(page).is_err() {
                    // Cannot happen (the capacity was reserved above); should it, free the
                    // block's pages not yet in the list rather than leak them.
                    for j in i..per_chunk {
                        // SAFETY: Pages `i..per_chunk` of the block are ours alone.
                        unsafe { bindings::__free_pages(head.add(j).as_ptr(), 0) };
                    }
                    return Err(ENOMEM);
                }
            }
        }
        // INVARIANT: Each iteration pushed one whole split block of `2^order` lowmem pages.
        Ok(this)
    }

    /// Returns the chunk order: each chunk holds `2^order` pages.
    pub fn order(&self) -> u32 {
        self.order
    }

    /// Returns the size of one chunk in bytes.
    pub fn chunk_size(&self) -> usize {
        PAGE_SIZE << self.order
    }

    /// Returns the number of order-0 pages.
    pub fn num_pages(&self) -> usize {
        self.pages.len()
    }

    /// Returns the size of the whole buffer in bytes.
    pub fn size(&self) -> usize {
        self.pages.len() * PAGE_SIZE
    }

    /// Returns the page at `index`, or `None` past the end.
    pub fn page(&self, index: usize) -> Option<BorrowedPage<'_>> {
        let page = *self.pages.get(index)?;
        // SAFETY: By the type invariants we hold a reference to the page for as long as
        // `self` lives, which bounds the borrow.
        Some(unsafe { BorrowedPage::from_raw(page) })
    }

    /// Returns the physical address of each chunk in order, for programming a device.
    ///
    /// Each address is aligned to [`ChunkedPages::chunk_size`]. They are CPU physical
    /// addresses: a device behind an IOMMU needs a DMA mapping instead.
    pub fn chunk_phys_addrs(&self) -> impl Iterator<Item = PhysAddr> + Clone + '_ {
        self.pages.iter().step_by(1 << self.order).map(|page| {
            // SAFETY: By the type invariants `page` is a valid page we hold a reference to.
            unsafe { bindings::page_to_phys(page.as_ptr()) }
        })
    }

    /// Returns the page list as a C array of `struct page *`, [`num_pages`] long, for C APIs
    /// that take one (such as `drm_prime_pages_to_sg()`).
    ///
    /// The array is valid for reads while `self` lives and must not be written through.
    ///
    /// [`num_pages`]: ChunkedPages::num_pages
    pub fn as_raw_pages(&self) -> *const *mut bindings::page {
        // `NonNull<T>` has the layout of `*mut T`.
        self.pages.as_ptr().cast()
    }
}

impl Drop for ChunkedPages {
    fn drop(&mut self) {
        for page in self.pages.iter() {
            // SAFETY: By the type invariants we hold one reference to each page; dropping it
            // frees the page unless a user mapping still holds another.
            unsafe { bindings::__free_pages(page.as_ptr(), 0) };
        }
    }
}
