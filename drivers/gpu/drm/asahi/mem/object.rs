// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Typed GPU objects over the kernel heaps.
//!
//! A [`GpuMem`] is one heap allocation with its GPU (firmware) address and a CPU view of it.
//! Heap backing comes in naturally aligned 16 KiB blocks that need not be contiguous in CPU
//! memory (4 KiB kernels; ARCHITECTURE.md, "Page sizes"), so an object larger than a block,
//! or one straddling two, is reached block by block: the object keeps the CPU address of
//! every block it touches, taken once at allocation (backings never shrink or move a block).
//!
//! Every CPU access is volatile: the firmware may read or write the memory at any time, and
//! the compiler must neither merge, elide nor invent accesses. Ordering against the firmware
//! (a message's bytes before the pointer that publishes it) is the caller's, with the barrier
//! it needs; the ring code names it.
//!
//! Lifetime: an object's allocation goes back to its heap when the object drops; the heap
//! keeps firmware-cached ranges parked until a cache flush, so the firmware never writes a
//! stale line over a new object. Whoever hands an object's address to the firmware owns
//! the object for as long as the firmware may use that address (InitData owns everything
//! it points to; the GPU manager owns InitData until the coprocessor stops, which on this
//! hardware is never: ARCHITECTURE.md, "Firmware lifetime").

use core::{
    marker::PhantomData,
    ptr::NonNull, //
};

use kernel::{
    alloc::KVBox,
    new_mutex,
    prelude::*,
    sync::{
        Arc,
        Mutex, //
    },
    transmute::{
        AsBytes,
        FromBytes, //
    },
};

use crate::uat::{
    heap::{
        Heap,
        HeapAlloc,
        HeapBacking,
        HeapSpec, //
    },
    pte,
};

/// Bytes per backing block (one GPU page).
const BLOCK: usize = pte::PAGE_SIZE as usize;

/// A heap shared by the objects allocated from it.
pub(crate) type SharedHeap<B> = Arc<Mutex<Heap<B>>>;

/// Wraps `heap` for sharing between objects.
///
/// # Errors
///
/// [`ENOMEM`].
pub(crate) fn share<B: HeapBacking>(heap: Heap<B>) -> Result<SharedHeap<B>> {
    Arc::pin_init(new_mutex!(heap), GFP_KERNEL)
}

/// Makes an empty heap of `spec` over `backing`, ready for sharing.
///
/// # Errors
///
/// Those of [`Heap::new`] and [`ENOMEM`].
pub(crate) fn new_heap<B: HeapBacking>(spec: HeapSpec, backing: B) -> Result<SharedHeap<B>> {
    share(Heap::new(spec, backing)?)
}

/// One heap allocation with its CPU view.
///
/// # Invariants
///
/// - `blocks[i]` is the CPU address of the 16 KiB block backing the GPU page
///   `(va & !(BLOCK - 1)) + i * BLOCK`, valid for `BLOCK` bytes of reads and writes for as
///   long as `heap` lives (backings never shrink; `heap` is kept alive by this object).
/// - `blocks` covers `[va, va + size)`.
pub(crate) struct GpuMem<B: HeapBacking> {
    heap: SharedHeap<B>,
    /// `None` only while dropping.
    alloc: Option<HeapAlloc>,
    va: u64,
    size: usize,
    blocks: KVec<NonNull<u8>>,
}

// SAFETY: The blocks are plain kernel memory with no thread affinity; every access through
// `&GpuMem` is volatile, as for memory shared with a device, and the heap is behind a mutex.
unsafe impl<B: HeapBacking + Send> Send for GpuMem<B> {}
// SAFETY: As for `Send`: shared references only perform volatile accesses.
unsafe impl<B: HeapBacking + Send> Sync for GpuMem<B> {}

impl<B: HeapBacking> GpuMem<B> {
    /// Allocates `size` bytes aligned to `align` (at least the heap's minimum) and zeroes
    /// them (a range may be reused after a free).
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for a zero size or a non-power-of-two alignment, [`ENOMEM`] when the heap
    /// is full, [`ENODEV`] when the backing has no CPU view of the range.
    pub(crate) fn new(heap: &SharedHeap<B>, size: usize, align: u64) -> Result<Self> {
        if size == 0 {
            return Err(EINVAL);
        }
        let (alloc, blocks) = {
            let mut h = heap.lock();
            let alloc = h.alloc(size as u64, align)?;
            match Self::view(&h, alloc.va(), size) {
                Ok(blocks) => (alloc, blocks),
                Err(e) => {
                    // Never handed out: the range can go straight back.
                    let _ = h.free(alloc);
                    return Err(e);
                }
            }
        };
        let va = alloc.va();
        // INVARIANT: `view` took the address of every block under `[va, va + size)` from the
        // backing of `heap`, which this object keeps alive.
        let mem = Self {
            heap: heap.clone(),
            alloc: Some(alloc),
            va,
            size,
            blocks,
        };
        mem.fill(0, size, 0)?;
        Ok(mem)
    }

    /// The CPU addresses of the blocks under `[va, va + size)`.
    fn view(h: &Heap<B>, va: u64, size: usize) -> Result<KVec<NonNull<u8>>> {
        let first = va & !(pte::PAGE_SIZE - 1);
        let end = va.checked_add(size as u64).ok_or(EINVAL)?;
        let count = usize::try_from((end - first).div_ceil(pte::PAGE_SIZE)).map_err(|_| EINVAL)?;
        let mut blocks = KVec::with_capacity(count, GFP_KERNEL)?;
        for i in 0..count as u64 {
            let block = h
                .backing()
                .cpu_block(first + i * pte::PAGE_SIZE)
                .ok_or(ENODEV)?;
            blocks.push(block, GFP_KERNEL)?;
        }
        Ok(blocks)
    }

    /// GPU (firmware) address of the first byte.
    pub(crate) fn va(&self) -> u64 {
        self.va
    }

    /// Size in bytes, as requested.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The heap the object lives in.
    pub(crate) fn heap_spec(&self) -> HeapSpec {
        *self.heap.lock().spec()
    }

    /// Checks `[offset, offset + len)` against the object.
    fn check(&self, offset: usize, len: usize) -> Result {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(ERANGE),
        }
    }

    /// Pointer to byte `offset` and the bytes left in its block.
    ///
    /// `offset` must be inside the object (checked by the callers).
    fn at(&self, offset: usize) -> (*mut u8, usize) {
        let pos = (self.va as usize % BLOCK) + offset;
        let block = self.blocks[pos / BLOCK];
        let inner = pos % BLOCK;
        // SAFETY: `inner < BLOCK`, and every block is valid for `BLOCK` bytes (invariants).
        (unsafe { block.as_ptr().add(inner) }, BLOCK - inner)
    }

    /// Runs `f(pointer, length)` over the pieces of `[offset, offset + len)` that lie in one
    /// block each, in order.
    fn pieces(&self, offset: usize, len: usize, mut f: impl FnMut(*mut u8, usize, usize)) {
        let mut done = 0;
        while done < len {
            let (p, room) = self.at(offset + done);
            let n = room.min(len - done);
            f(p, done, n);
            done += n;
        }
    }

    /// Writes `src` at byte `offset`.
    ///
    /// # Errors
    ///
    /// [`ERANGE`] when the bytes do not fit in the object.
    pub(crate) fn write_bytes(&self, offset: usize, src: &[u8]) -> Result {
        self.check(offset, src.len())?;
        self.pieces(offset, src.len(), |p, from, n| {
            for i in 0..n {
                // SAFETY: `p` is valid for `n` bytes inside one block (`pieces`), and
                // `from + i < src.len()`.
                unsafe { p.add(i).write_volatile(src[from + i]) };
            }
        });
        Ok(())
    }

    /// Reads `dst.len()` bytes at byte `offset`.
    ///
    /// # Errors
    ///
    /// [`ERANGE`] when the bytes are not all in the object.
    pub(crate) fn read_bytes(&self, offset: usize, dst: &mut [u8]) -> Result {
        self.check(offset, dst.len())?;
        self.pieces(offset, dst.len(), |p, from, n| {
            for i in 0..n {
                // SAFETY: As in `write_bytes`.
                dst[from + i] = unsafe { p.add(i).read_volatile() };
            }
        });
        Ok(())
    }

    /// Sets `len` bytes at `offset` to `value`.
    ///
    /// # Errors
    ///
    /// [`ERANGE`] when the range is not all in the object.
    pub(crate) fn fill(&self, offset: usize, len: usize, value: u8) -> Result {
        self.check(offset, len)?;
        self.pieces(offset, len, |p, _, n| {
            for i in 0..n {
                // SAFETY: `p` is valid for `n` bytes inside one block (`pieces`).
                unsafe { p.add(i).write_volatile(value) };
            }
        });
        Ok(())
    }

    /// Pointer to the naturally aligned `u32` at `offset`.
    fn word(&self, offset: usize) -> Result<*mut u32> {
        if (self.va as usize + offset) % 4 != 0 {
            return Err(EINVAL);
        }
        self.check(offset, 4)?;
        // An aligned word never straddles a block.
        Ok(self.at(offset).0.cast::<u32>())
    }

    /// Reads the aligned `u32` at `offset` in one access (a pointer the firmware advances).
    ///
    /// # Errors
    ///
    /// [`EINVAL`] when unaligned, [`ERANGE`] outside the object.
    pub(crate) fn read_u32(&self, offset: usize) -> Result<u32> {
        let p = self.word(offset)?;
        // SAFETY: `p` is an aligned word inside a block (`word`).
        Ok(unsafe { p.read_volatile() })
    }

    /// Writes the aligned `u32` at `offset` in one access.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] when unaligned, [`ERANGE`] outside the object.
    pub(crate) fn write_u32(&self, offset: usize, value: u32) -> Result {
        let p = self.word(offset)?;
        // SAFETY: `p` is an aligned word inside a block (`word`).
        unsafe { p.write_volatile(value) };
        Ok(())
    }
}

impl<B: HeapBacking> Drop for GpuMem<B> {
    fn drop(&mut self) {
        if let Some(a) = self.alloc.take() {
            let mut h = self.heap.lock();
            if let Err(e) = h.free(a) {
                pr_err!(
                    "{}: cannot free {:#x}+{:#x} ({:?}); leaking it\n",
                    h.spec().name,
                    self.va,
                    self.size,
                    e
                );
            }
        }
    }
}

/// A value of firmware type `T` in a kernel heap.
pub(crate) struct GpuObject<T, B: HeapBacking> {
    mem: GpuMem<B>,
    /// The value lives in GPU memory, never in this struct: the object is only a typed
    /// view, as thread-safe as its memory whatever `T` is.
    _type: PhantomData<fn() -> T>,
}

impl<T: AsBytes + FromBytes + Zeroable, B: HeapBacking> GpuObject<T, B> {
    /// Allocates a zeroed `T`, lets `init` fill a CPU copy and writes it.
    ///
    /// The copy lives on the heap (some firmware structures are tens of KiB).
    ///
    /// # Errors
    ///
    /// Those of [`GpuMem::new`] and of `init`.
    pub(crate) fn new(heap: &SharedHeap<B>, init: impl FnOnce(&mut T) -> Result) -> Result<Self> {
        let mut value = KVBox::init(pin_init::init_zeroed::<T>(), GFP_KERNEL)?;
        init(&mut value)?;
        let obj = Self::zeroed(heap)?;
        obj.write(&value)?;
        Ok(obj)
    }

    /// Allocates a zeroed `T`.
    ///
    /// # Errors
    ///
    /// Those of [`GpuMem::new`].
    pub(crate) fn zeroed(heap: &SharedHeap<B>) -> Result<Self> {
        let align = core::mem::align_of::<T>().max(8) as u64;
        Ok(Self {
            mem: GpuMem::new(heap, core::mem::size_of::<T>(), align)?,
            _type: PhantomData,
        })
    }

    /// GPU (firmware) address.
    pub(crate) fn va(&self) -> u64 {
        self.mem.va()
    }

    /// Writes the whole object.
    ///
    /// # Errors
    ///
    /// None in practice (the object has exactly `T`'s size).
    pub(crate) fn write(&self, value: &T) -> Result {
        self.mem.write_bytes(0, value.as_bytes())
    }

    /// Reads the whole object into `out`.
    ///
    /// # Errors
    ///
    /// None in practice (the object has exactly `T`'s size).
    pub(crate) fn read(&self, out: &mut T) -> Result {
        self.mem.read_bytes(0, out.as_bytes_mut())
    }

    /// The untyped view (for fields the firmware updates, by offset).
    pub(crate) fn mem(&self) -> &GpuMem<B> {
        &self.mem
    }

    /// Gives up the type, keeping the memory (for owners of many different objects).
    pub(crate) fn into_mem(self) -> GpuMem<B> {
        self.mem
    }
}

/// `count` values of firmware type `T`, back to back, in a kernel heap (a ring, a table).
pub(crate) struct GpuArray<T, B: HeapBacking> {
    mem: GpuMem<B>,
    count: usize,
    /// The value lives in GPU memory, never in this struct: the object is only a typed
    /// view, as thread-safe as its memory whatever `T` is.
    _type: PhantomData<fn() -> T>,
}

impl<T: AsBytes + FromBytes, B: HeapBacking> GpuArray<T, B> {
    /// Allocates `count` zeroed entries.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for zero entries or a size overflow, and those of [`GpuMem::new`].
    pub(crate) fn zeroed(heap: &SharedHeap<B>, count: usize) -> Result<Self> {
        let size = core::mem::size_of::<T>().checked_mul(count).ok_or(EINVAL)?;
        let align = core::mem::align_of::<T>().max(8) as u64;
        Ok(Self {
            mem: GpuMem::new(heap, size, align)?,
            count,
            _type: PhantomData,
        })
    }

    /// GPU address of entry 0.
    pub(crate) fn va(&self) -> u64 {
        self.mem.va()
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The untyped view.
    pub(crate) fn mem(&self) -> &GpuMem<B> {
        &self.mem
    }
}
