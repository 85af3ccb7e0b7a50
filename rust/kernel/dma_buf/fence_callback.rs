// SPDX-License-Identifier: GPL-2.0

//! Callbacks that run when a fence signals.
//!
//! C header: [`include/linux/dma-fence.h`](srctree/include/linux/dma-fence.h)
//!
//! A job queue waits for a job's dependencies without a sleeping thread: it registers a
//! callback on each pending dependency and moves on when the last one fires. A
//! [`FenceCallback`] is one such registration. It is pinned (the C fence links it into its
//! callback list), holds a reference on its fence, and is removed when dropped, after which
//! the callback is guaranteed not to be running: the C core calls callbacks with the fence's
//! lock held, and removal takes that lock.
//!
//! # Examples
//!
//! ```
//! use kernel::{
//!     c_str,
//!     dma_buf::{dma_fence::FenceContext, fence_callback::FenceCallback},
//!     sync::atomic::{Atomic, Relaxed},
//! };
//!
//! static FIRED: Atomic<u32> = Atomic::new(0);
//! let ctx = FenceContext::new(c_str!("example"), c_str!("ring"));
//!
//! let job = ctx.allocate(GFP_KERNEL)?.arm();
//! let cb = KBox::pin_init(FenceCallback::new(job.get(), || { FIRED.fetch_add(1, Relaxed); }), GFP_KERNEL)?;
//! assert_eq!(FIRED.load(Relaxed), 0);
//! job.signal(Ok(()));
//! assert_eq!(FIRED.load(Relaxed), 1);
//! drop(cb);
//!
//! // A signalled fence takes no callback.
//! let done = ctx.allocate(GFP_KERNEL)?.arm();
//! let fence = done.get();
//! done.signal(Ok(()));
//! let late = KBox::pin_init(FenceCallback::new(fence, || { FIRED.fetch_add(1, Relaxed); }), GFP_KERNEL);
//! assert!(matches!(late, Err(e) if e == ENOENT));
//!
//! // A dropped registration never runs.
//! let pending = ctx.allocate(GFP_KERNEL)?.arm();
//! let cb = KBox::pin_init(FenceCallback::new(pending.get(), || { FIRED.fetch_add(1, Relaxed); }), GFP_KERNEL)?;
//! drop(cb);
//! pending.signal(Ok(()));
//! assert_eq!(FIRED.load(Relaxed), 1);
//! # Ok::<(), Error>(())
//! ```

use crate::{
    bindings,
    dma_buf::dma_fence::Fence,
    error::{
        to_result,
        Error, //
    },
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{
            Acquire,
            Atomic,
            Release, //
        },
        rcu,
    },
    types::Opaque,
};
use core::marker::PhantomPinned;

/// What a [`FenceCallback`] does when its fence signals.
///
/// It runs once, in the context of whoever signals the fence: possibly a hard interrupt, and
/// always with the fence's lock held. It must not sleep, must not allocate with `GFP_KERNEL`,
/// must not add or remove callbacks on the same fence, and must not signal or drop a
/// [`DriverFence`](super::dma_fence::DriverFence) (all inline fence locks share one lockdep
/// class, so that nests them; defer such work, as the job queue does with its work item).
pub trait FenceCallbackFn: Send + Sync {
    /// The fence signalled.
    fn signaled(&self);
}

impl<F: Fn() + Send + Sync> FenceCallbackFn for F {
    fn signaled(&self) {
        self()
    }
}

/// A callback registered on a fence, removed when dropped.
///
/// # Invariants
///
/// Once initialised, `cb` is registered on `fence` until it has been called or `drop` removed
/// it; `func` is initialised before `cb` is registered.
#[pin_data(PinnedDrop)]
pub struct FenceCallback<F: FenceCallbackFn> {
    func: F,
    fence: ARef<Fence>,
    /// Set (release) as the callback's very last step, once the C core will not touch `cb`
    /// again.
    fired: Atomic<u32>,
    #[pin]
    cb: Opaque<bindings::dma_fence_cb>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: The callback is `Send + Sync` and the fence reference is too; the C registration is
// only touched under the fence's lock.
unsafe impl<F: FenceCallbackFn> Send for FenceCallback<F> {}
// SAFETY: `&FenceCallback` only gives access to the fence.
unsafe impl<F: FenceCallbackFn> Sync for FenceCallback<F> {}

impl<F: FenceCallbackFn> FenceCallback<F> {
    /// Registers `func` to run when `fence` signals.
    ///
    /// Fails with `ENOENT` if the fence has already signalled; `func` is then not called, and
    /// the caller goes on as if it had been.
    pub fn new(fence: ARef<Fence>, func: F) -> impl PinInit<Self, Error> {
        let raw = fence.as_raw();
        try_pin_init!(Self {
            func,
            fence,
            fired: Atomic::new(0),
            // Registered last: the callback may run as soon as it is added, and it then reads
            // `func`, initialised above.
            cb <- Opaque::try_ffi_init(move |slot: *mut bindings::dma_fence_cb| {
                // SAFETY: `raw` is live (the `fence` field holds a reference); `slot` is pinned
                // memory that stays registered until it is called or `drop` removes it.
                to_result(unsafe { bindings::dma_fence_add_callback(raw, slot, Some(Self::call)) })
            }),
            _pin: PhantomPinned,
        }? Error)
    }

    /// The fence this callback waits for.
    pub fn fence(&self) -> &Fence {
        &self.fence
    }

    extern "C" fn call(_fence: *mut bindings::dma_fence, cb: *mut bindings::dma_fence_cb) {
        let cb = Opaque::cast_from(cb);
        // SAFETY: Only registrations made by `new` use this function, so `cb` is the `cb` field
        // of a `FenceCallback<F>`, which stays live while registered (its `drop` removes it
        // under the fence lock this call holds).
        let this = unsafe { &*crate::container_of!(cb, Self, cb) };
        this.func.signaled();
        // The last access to `this`: once it is seen, `drop` may free the registration.
        this.fired.store(1, Release);
    }
}

#[pinned_drop]
impl<F: FenceCallbackFn> PinnedDrop for FenceCallback<F> {
    fn drop(self: Pin<&mut Self>) {
        // A signalled fence's lock may belong to its issuer, who may free it an RCU grace
        // period after signalling. Inside this read-side section, a callback not yet seen
        // finished means the signalling is still under way, so the lock lives until the
        // section ends; a finished one needs no removal.
        let _rcu = rcu::read_lock();
        if self.fired.load(Acquire) == 0 {
            // SAFETY: The fence is live (we hold a reference) and `cb` was registered on it by
            // `new`; removal of a callback the core has taken off its list is a no-op. It
            // takes the fence lock, under which callbacks run, so once it returns the
            // callback is not running and will not run.
            unsafe { bindings::dma_fence_remove_callback(self.fence.as_raw(), self.cb.get()) };
        }
    }
}
