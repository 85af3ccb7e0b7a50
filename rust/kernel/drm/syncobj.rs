// SPDX-License-Identifier: GPL-2.0

//! DRM sync objects: the fences userspace names by handle, binary or timeline.
//!
//! C header: [`include/drm/drm_syncobj.h`](srctree/include/drm/drm_syncobj.h)
//!
//! A driver meets sync objects in job submission: it looks up the fences a job waits for
//! (in-syncs, a handle and for timelines a point) and, once the job is queued, installs the
//! job's done fence in the out-syncs (replacing a binary object's fence, or adding a point to
//! a timeline). The DRM core implements the sync-object ioctls themselves.
//!
//! Everything here is for process context. Lookups may sleep (waiting for a point to be
//! submitted), so they run in ioctl context with no locks held. The mutators, and dropping
//! the last reference, take the object's spinlock without disabling interrupts, so never
//! call them from a fence callback; they neither allocate nor fail, so they are safe past a
//! submission's point of no return, and a timeline point's node is allocated before that
//! ([`FenceChainAllocation`]).
//!
//! # Examples
//!
//! ```
//! use kernel::{
//!     c_str,
//!     dma_buf::{dma_fence::FenceContext, fence_chain::FenceChainAllocation},
//!     drm::syncobj::{flags, SyncObj},
//! };
//!
//! let ctx = FenceContext::new(c_str!("example"), c_str!("queue"));
//! let job = ctx.allocate(GFP_KERNEL)?.arm();
//!
//! // Binary: the object holds one fence at a time.
//! let binary = SyncObj::new(0, None)?;
//! assert!(binary.fence().is_none());
//! binary.replace_fence(Some(job.fence()));
//! assert_eq!(binary.fence().map(|f| f.seqno()), Some(job.fence().seqno()));
//! let signalled = SyncObj::new(flags::CREATE_SIGNALED, None)?;
//! assert!(signalled.fence().is_some_and(|f| f.is_signaled()));
//!
//! // Timeline: each point is a chain node wrapping the job's fence.
//! let timeline = SyncObj::new(0, None)?;
//! timeline.add_point(FenceChainAllocation::new(GFP_KERNEL)?, job.fence(), 5);
//! let point = timeline.fence().ok_or(EINVAL)?;
//! assert_eq!(point.seqno(), 5);
//! assert!(!point.is_signaled());
//! job.signal(Ok(()));
//! assert!(point.is_signaled());
//!
//! binary.replace_fence(None);
//! assert!(binary.fence().is_none());
//! # Ok::<(), Error>(())
//! ```

use crate::{
    bindings,
    dma_buf::{
        dma_fence::Fence,
        fence_chain::FenceChainAllocation, //
    },
    drm,
    error::{
        code::*,
        to_result,
        Result, //
    },
    sync::aref::{
        ARef,
        AlwaysRefCounted, //
    },
    types::Opaque,
};
use core::ptr::{
    self,
    NonNull, //
};

/// A reference-counted DRM sync object.
///
/// # Invariants
///
/// The inner `struct drm_syncobj` is live and its reference count non-zero while a
/// `&SyncObj` exists.
#[repr(transparent)]
pub struct SyncObj(Opaque<bindings::drm_syncobj>);

// SAFETY: A sync object is reference counted and its state is guarded by its own spinlock.
unsafe impl Send for SyncObj {}
// SAFETY: See above.
unsafe impl Sync for SyncObj {}

// SAFETY: `drm_syncobj_get`/`drm_syncobj_put` keep the count; the last put frees the object.
unsafe impl AlwaysRefCounted for SyncObj {
    fn inc_ref(&self) {
        // SAFETY: By the type invariant the object is live.
        unsafe { bindings::drm_syncobj_get(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns one reference.
        unsafe { bindings::drm_syncobj_put(obj.cast().as_ptr()) };
    }
}

/// Flags for [`SyncObj::new`].
pub mod flags {
    /// The new object holds an already signalled fence.
    pub const CREATE_SIGNALED: u32 = crate::bindings::DRM_SYNCOBJ_CREATE_SIGNALED;
}

/// Flags for [`SyncObj::find_fence`].
pub mod find_flags {
    /// Wait until a fence has been submitted for the point instead of failing with `EINVAL`.
    pub const WAIT_FOR_SUBMIT: u32 = crate::bindings::DRM_SYNCOBJ_WAIT_FLAGS_WAIT_FOR_SUBMIT;
}

impl SyncObj {
    /// The C object.
    pub fn as_raw(&self) -> *mut bindings::drm_syncobj {
        self.0.get()
    }

    /// A new sync object, not bound to any file, holding `fence` if given.
    pub fn new(flags: u32, fence: Option<&Fence>) -> Result<ARef<Self>> {
        let mut out = ptr::null_mut();
        let fence = fence.map_or(ptr::null_mut(), Fence::as_raw);
        // SAFETY: `out` is writable; `fence` is null or a live fence, of which the object
        // takes its own reference.
        to_result(unsafe { bindings::drm_syncobj_create(&mut out, flags, fence) })?;
        let out = NonNull::new(out).ok_or(ENOMEM)?;
        // SAFETY: `drm_syncobj_create` returned an object with one reference, which is ours.
        Ok(unsafe { ARef::from_raw(out.cast()) })
    }

    /// The sync object `handle` of `file`, or `ENOENT`.
    pub fn lookup<T: drm::file::DriverFile>(
        file: &drm::File<T>,
        handle: u32,
    ) -> Result<ARef<Self>> {
        // SAFETY: `file` is a live DRM file; the lookup takes a reference for us.
        let obj = unsafe { bindings::drm_syncobj_find(file.as_raw(), handle) };
        let obj = NonNull::new(obj).ok_or(ENOENT)?;
        // SAFETY: The reference `drm_syncobj_find` took passes to the `ARef`.
        Ok(unsafe { ARef::from_raw(obj.cast()) })
    }

    /// The fence the object holds now (for a timeline, its last point), if any.
    pub fn fence(&self) -> Option<ARef<Fence>> {
        // SAFETY: By the type invariant the object is live; the getter returns a new
        // reference or null.
        let fence = unsafe { bindings::drm_syncobj_fence_get(self.as_raw()) };
        // SAFETY: A non-null result carries a reference we own.
        NonNull::new(fence).map(|f| unsafe { Fence::from_raw_owned(f) })
    }

    /// The fence of sync object `handle` of `file` at `point` (0 for binary objects).
    ///
    /// Errors as the DRM core's: `ENOENT` for an unknown handle, `EINVAL` when the object or
    /// point has no fence yet (unless `WAIT_FOR_SUBMIT` waits for one, which may sleep and be
    /// interrupted with `ERESTARTSYS`), `ETIME` when the wait for a submission ran out.
    pub fn find_fence<T: drm::file::DriverFile>(
        file: &drm::File<T>,
        handle: u32,
        point: u64,
        flags: u32,
    ) -> Result<ARef<Fence>> {
        let mut fence = ptr::null_mut();
        // SAFETY: `file` is a live DRM file; `fence` is writable and receives a new reference.
        to_result(unsafe {
            bindings::drm_syncobj_find_fence(
                file.as_raw(),
                handle,
                point,
                u64::from(flags),
                &mut fence,
            )
        })?;
        let fence = NonNull::new(fence).ok_or(EINVAL)?;
        // SAFETY: The reference the lookup took passes to the `ARef`.
        Ok(unsafe { Fence::from_raw_owned(fence) })
    }

    /// Replaces the object's fence (`None` resets it). For binary objects.
    pub fn replace_fence(&self, fence: Option<&Fence>) {
        let fence = fence.map_or(ptr::null_mut(), Fence::as_raw);
        // SAFETY: The object is live; `fence` is null or live, and the object takes its own
        // reference.
        unsafe { bindings::drm_syncobj_replace_fence(self.as_raw(), fence) };
    }

    /// Adds timeline point `point` signalled by `fence`, using the node `chain`.
    ///
    /// A point not above the timeline's last one is still added (the DRM core only logs a
    /// debug message, and a later query may then report 0), so callers that care keep their
    /// points increasing.
    pub fn add_point(&self, chain: FenceChainAllocation, fence: &Fence, point: u64) {
        // SAFETY: The object and fence are live; the C side takes ownership of the node and
        // its own reference to the fence.
        unsafe {
            bindings::drm_syncobj_add_point(self.as_raw(), chain.into_raw(), fence.as_raw(), point)
        };
    }
}
