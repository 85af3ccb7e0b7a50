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
        AllocError,
        Flags, //
    },
    bindings,
    error::{
        code::*,
        Result, //
    },
    io::PhysAddr,
    page::PAGE_SIZE,
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
