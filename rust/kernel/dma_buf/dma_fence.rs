// SPDX-License-Identifier: GPL-2.0

//! DMA fences: one-shot completion signals shared between drivers and userspace.
//!
//! C header: [`include/linux/dma-fence.h`](srctree/include/linux/dma-fence.h)
//!
//! A fence is produced by exactly one party, the driver that will signal it, and consumed by
//! any number of others (sync objects, other drivers, waiters). The two roles are two types:
//!
//! - [`DriverFence`] is the producer's unique handle. Only it can signal, signalling consumes
//!   it and takes the fence's result, and dropping it unsignalled signals `ECANCELED`, so a
//!   fence can never be left pending by an error path.
//! - [`Fence`] is the shared, reference-counted view ([`ARef<Fence>`]). It can wrap any C
//!   fence (the contents of a sync object, another driver's fence) and never signals.
//!
//! Creating a fence is split in two so that code past a point of no return cannot fail:
//! [`FenceContext::allocate`] may fail with `ENOMEM`, [`FenceAllocation::arm`] cannot and takes
//! the context's next sequence number then.
//!
//! Lifetime: the fences built here use a per-fence lock, static names kept in the fence's own
//! block, and operations without `release` or `wait`. A fence therefore never points into its
//! [`FenceContext`], which may go at any time (so a queue can own its context and its pending
//! fences together). The C core clears a fence's operations when it signals and frees the
//! block itself (after an RCU grace period) when the last reference goes, so a signalled
//! fence refers to nothing of the driver and may outlive its module. Every unsignalled fence
//! is owned by a [`DriverFence`], which signals before it goes away.
//!
//! # Examples
//!
//! ```
//! use kernel::{c_str, dma_buf::dma_fence::FenceContext};
//!
//! let ctx = FenceContext::new(c_str!("example"), c_str!("ring 0"));
//! let first = ctx.allocate(GFP_KERNEL)?.arm();
//! let second = ctx.allocate(GFP_KERNEL)?.arm();
//! assert_eq!(first.fence().context(), ctx.id());
//! assert_eq!(second.fence().seqno(), first.fence().seqno() + 1);
//!
//! // Consumers hold shared references; only the producer signals.
//! let a = first.get();
//! assert_eq!(a.status(), None);
//! assert_eq!(a.wait_timeout(false, 1), Err(ETIME));
//! first.signal(Ok(()));
//! assert!(a.is_signaled());
//! assert_eq!(a.status(), Some(Ok(())));
//! assert!(a.wait_timeout(false, 1).is_ok());
//!
//! let b = second.get();
//! second.signal(Err(EIO));
//! assert_eq!(b.status(), Some(Err(EIO)));
//!
//! // A fence whose producer goes away unsignalled is cancelled, never left pending.
//! let third = ctx.allocate(GFP_KERNEL)?.arm();
//! let c = third.get();
//! drop(third);
//! assert_eq!(c.status(), Some(Err(ECANCELED)));
//!
//! // Signalled fences outlive their context.
//! drop(ctx);
//! assert!(a.is_signaled() && c.is_signaled());
//! # Ok::<(), Error>(())
//! ```

use crate::{
    alloc::{
        AllocError,
        Flags,
        KBox, //
    },
    bindings,
    error::{
        code::*,
        Error,
        Result, //
    },
    prelude::*,
    str::CStr,
    sync::{
        aref::{
            ARef,
            AlwaysRefCounted, //
        },
        atomic::{
            Atomic,
            Relaxed, //
        },
    },
    types::Opaque,
};
use core::{
    mem::ManuallyDrop,
    ptr::NonNull, //
};

/// A shared reference-counted DMA fence.
///
/// # Invariants
///
/// The inner `struct dma_fence` is initialised and its reference count is non-zero while a
/// `&Fence` exists.
#[repr(transparent)]
pub struct Fence(Opaque<bindings::dma_fence>);

// SAFETY: `struct dma_fence` is reference counted and every operation on it takes its lock or
// is atomic, so it may be shared and dropped from any thread.
unsafe impl Send for Fence {}
// SAFETY: See above.
unsafe impl Sync for Fence {}

// SAFETY: `dma_fence_get` and `dma_fence_put` keep the reference count; the last put frees
// the fence through its operations or, for fences without `release`, with `kfree_rcu`.
unsafe impl AlwaysRefCounted for Fence {
    fn inc_ref(&self) {
        // SAFETY: By the type invariant the fence is live.
        unsafe { bindings::dma_fence_get(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns one reference to the fence.
        unsafe { bindings::dma_fence_put(obj.cast().as_ptr()) };
    }
}

impl Fence {
    /// Wraps a borrowed C fence.
    ///
    /// # Safety
    ///
    /// `ptr` points to an initialised `struct dma_fence` that holds a reference for as long as
    /// the returned reference is used.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::dma_fence) -> &'a Self {
        // SAFETY: `Fence` is a transparent wrapper of `struct dma_fence`; the caller guarantees
        // the fence is live for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// Takes over one reference the caller owns on a C fence.
    ///
    /// # Safety
    ///
    /// `ptr` points to an initialised `struct dma_fence` and the caller owns one of its
    /// references, which passes to the returned [`ARef`].
    pub unsafe fn from_raw_owned(ptr: NonNull<bindings::dma_fence>) -> ARef<Self> {
        // SAFETY: The caller passes a reference it owns.
        unsafe { ARef::from_raw(ptr.cast()) }
    }

    /// The C fence.
    pub fn as_raw(&self) -> *mut bindings::dma_fence {
        self.0.get()
    }

    /// The fence context this fence belongs to.
    pub fn context(&self) -> u64 {
        // SAFETY: `context` is set at initialisation and never changes.
        unsafe { (*self.as_raw()).context }
    }

    /// The fence's sequence number in its context.
    pub fn seqno(&self) -> u64 {
        // SAFETY: `seqno` is set at initialisation and never changes.
        unsafe { (*self.as_raw()).seqno }
    }

    /// Whether the fence has signalled (running the signalling of fences whose driver
    /// signals on demand).
    pub fn is_signaled(&self) -> bool {
        // SAFETY: By the type invariant the fence is live.
        unsafe { bindings::dma_fence_is_signaled(self.as_raw()) }
    }

    /// The fence's result: `None` while pending, `Some(Ok(()))` once signalled without error,
    /// `Some(Err(e))` once signalled with error `e`.
    pub fn status(&self) -> Option<Result> {
        // SAFETY: By the type invariant the fence is live.
        match unsafe { bindings::dma_fence_get_status(self.as_raw()) } {
            0 => None,
            s if s > 0 => Some(Ok(())),
            s => Some(Err(Error::from_errno(s))),
        }
    }

    /// Waits for the fence to signal, at most `timeout` jiffies (values beyond the largest
    /// timeout mean no limit); `interruptible` lets a signal end the wait with `ERESTARTSYS`.
    /// Returns the jiffies left, or `ETIME` on timeout. May sleep.
    pub fn wait_timeout(&self, interruptible: bool, timeout: u64) -> Result<u64> {
        // `MAX_SCHEDULE_TIMEOUT` is `LONG_MAX`; a negative timeout would be a caller bug the
        // C side warns about, so none is ever passed.
        let timeout = c_long::try_from(timeout).unwrap_or(c_long::MAX);
        // SAFETY: By the type invariant the fence is live; the caller's context may sleep.
        let left =
            unsafe { bindings::dma_fence_wait_timeout(self.as_raw(), interruptible, timeout) };
        match left {
            0 => Err(ETIME),
            l if l < 0 => Err(Error::from_errno(l as i32)),
            l => Ok(l as u64),
        }
    }
}

/// The operations of the fences this module makes: names only, no `release` and no `wait`.
///
/// Without `release` the C core frees the fence itself, and without either it clears the
/// operations pointer at signal time (7.2 `dma_fence_signal_timestamp_locked`), so a signalled
/// fence keeps no pointer into the module that made it.
struct FenceOps;

impl FenceOps {
    const OPS: bindings::dma_fence_ops = bindings::dma_fence_ops {
        get_driver_name: Some(Self::driver_name),
        get_timeline_name: Some(Self::timeline_name),
        // SAFETY: All-zero is a valid `dma_fence_ops`: every other member is optional.
        ..unsafe { core::mem::zeroed() }
    };

    /// Recovers the names stored beside the fence.
    ///
    /// # Safety
    ///
    /// `fence` is the `fence` member of a live [`FenceBlock`].
    unsafe fn block<'a>(fence: *mut bindings::dma_fence) -> &'a FenceBlock {
        // SAFETY: `fence` is the first member of a `#[repr(C)]` `FenceBlock`.
        unsafe { &*fence.cast::<FenceBlock>() }
    }

    extern "C" fn driver_name(fence: *mut bindings::dma_fence) -> *const c_char {
        // SAFETY: The C core calls this only on fences initialised with `OPS`, which are all
        // `FenceBlock`s, and only while the fence is live (the ops are cleared on signal).
        unsafe { Self::block(fence) }.driver_name.as_char_ptr()
    }

    extern "C" fn timeline_name(fence: *mut bindings::dma_fence) -> *const c_char {
        // SAFETY: As in `driver_name`.
        unsafe { Self::block(fence) }.timeline_name.as_char_ptr()
    }
}

/// The memory of one fence made here: the C fence first (the C core frees the block through
/// a pointer to it with `kfree_rcu`), then its names.
#[repr(C)]
struct FenceBlock {
    fence: bindings::dma_fence,
    driver_name: &'static CStr,
    timeline_name: &'static CStr,
}

/// A timeline of fences: one dma_fence context and its sequence numbers.
///
/// Fences from one context signal in sequence-number order; the producer promises that by
/// signalling them in the order they were armed.
pub struct FenceContext {
    context: u64,
    seqno: Atomic<u64>,
    driver_name: &'static CStr,
    timeline_name: &'static CStr,
}

impl FenceContext {
    /// A new fence context; `driver_name` and `timeline_name` are what debugfs and sync_file
    /// report for its fences.
    pub fn new(driver_name: &'static CStr, timeline_name: &'static CStr) -> Self {
        Self {
            // SAFETY: Allocating one context number has no preconditions.
            context: unsafe { bindings::dma_fence_context_alloc(1) },
            seqno: Atomic::new(0),
            driver_name,
            timeline_name,
        }
    }

    /// The context number, shared by all its fences.
    pub fn id(&self) -> u64 {
        self.context
    }

    /// Allocates the memory of one fence of this context, not yet armed.
    pub fn allocate(&self, flags: Flags) -> Result<FenceAllocation<'_>, AllocError> {
        let block = KBox::<FenceBlock>::new_uninit(flags | __GFP_ZERO)?;
        Ok(FenceAllocation { block, ctx: self })
    }
}

/// The memory of one fence of a context, allocated but not yet a fence; dropping it frees
/// the memory.
pub struct FenceAllocation<'a> {
    block: KBox<core::mem::MaybeUninit<FenceBlock>>,
    ctx: &'a FenceContext,
}

// SAFETY: The allocation is plain memory not yet shared with anyone; the context it borrows
// is `Sync` (an atomic counter and static names).
unsafe impl Send for FenceAllocation<'_> {}

impl FenceAllocation<'_> {
    /// Turns the memory into a pending fence with the context's next sequence number. Cannot
    /// fail.
    pub fn arm(self) -> DriverFence {
        let ctx = self.ctx;
        let seqno = ctx.seqno.fetch_add(1, Relaxed) + 1;
        let block = KBox::write(
            self.block,
            FenceBlock {
                // SAFETY: All-zero is the state `dma_fence_init` starts from.
                fence: unsafe { core::mem::zeroed() },
                driver_name: ctx.driver_name,
                timeline_name: ctx.timeline_name,
            },
        );
        let block = KBox::into_raw(block);
        // SAFETY: `block` is a live, kmalloc'ed `FenceBlock`; `OPS` is static; a NULL lock
        // selects the fence's own inline lock. The fence starts with one reference, which the
        // `DriverFence` owns.
        unsafe {
            bindings::dma_fence_init(
                &raw mut (*block).fence,
                &FenceOps::OPS,
                core::ptr::null_mut(),
                ctx.context,
                seqno,
            )
        };
        DriverFence {
            // SAFETY: `block` is not null (it came from a `KBox`).
            fence: unsafe { NonNull::new_unchecked(&raw mut (*block).fence) },
        }
    }
}

/// The producer's handle on a pending fence: the only way to signal it.
///
/// Dropping it unsignalled signals the fence with `ECANCELED`.
///
/// # Invariants
///
/// `fence` is a pending fence initialised by [`FenceAllocation::arm`], and this handle owns one
/// reference to it.
pub struct DriverFence {
    fence: NonNull<bindings::dma_fence>,
}

// SAFETY: Signalling and reference counting are safe from any thread.
unsafe impl Send for DriverFence {}
// SAFETY: `&DriverFence` only hands out the shared `Fence`.
unsafe impl Sync for DriverFence {}

impl DriverFence {
    /// The shared view of this fence.
    pub fn fence(&self) -> &Fence {
        // SAFETY: By the type invariant the fence is live while `self` is.
        unsafe { Fence::from_raw(self.fence.as_ptr()) }
    }

    /// A new reference to the shared view of this fence, for consumers.
    pub fn get(&self) -> ARef<Fence> {
        self.fence().into()
    }

    /// Signals the fence with `result` (an error is recorded on the fence first).
    pub fn signal(self, result: Result) {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used again, so its reference passes to `complete`.
        unsafe { Self::complete(this.fence, result) };
    }

    /// Records `result`, signals and drops the handle's reference.
    ///
    /// # Safety
    ///
    /// `fence` is a pending fence of a `DriverFence` that is not used again.
    unsafe fn complete(fence: NonNull<bindings::dma_fence>, result: Result) {
        let fence = fence.as_ptr();
        if let Err(e) = result {
            // SAFETY: The fence is live and not yet signalled, as `dma_fence_set_error` wants.
            unsafe { bindings::dma_fence_set_error(fence, e.to_errno()) };
        }
        // SAFETY: The fence is live; only its `DriverFence` signals it, and only once.
        unsafe { bindings::dma_fence_signal(fence) };
        // SAFETY: The `DriverFence`'s reference is dropped here, after signalling.
        unsafe { bindings::dma_fence_put(fence) };
    }
}

impl Drop for DriverFence {
    fn drop(&mut self) {
        // SAFETY: `self` is being dropped and never used again.
        unsafe { Self::complete(self.fence, Err(ECANCELED)) };
    }
}
