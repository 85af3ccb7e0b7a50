// SPDX-License-Identifier: GPL-2.0

//! Pre-allocated fence-chain nodes, the points of a timeline sync object.
//!
//! C header: [`include/linux/dma-fence-chain.h`](srctree/include/linux/dma-fence-chain.h)
//!
//! Adding a point to a timeline (`drm_syncobj_add_point`) needs a `struct dma_fence_chain`
//! that the timeline then owns. A job's out-points are added once the job can no longer fail,
//! so the node is allocated earlier, while an error can still be returned: a
//! [`FenceChainAllocation`] is that node, handed over by its consumer or freed when dropped.

use crate::{
    alloc::{
        AllocError,
        Flags,
        KBox, //
    },
    bindings,
};
use core::mem::MaybeUninit;

/// Memory for one `struct dma_fence_chain`, not yet initialised.
pub struct FenceChainAllocation(KBox<MaybeUninit<bindings::dma_fence_chain>>);

// SAFETY: The node is plain, not yet initialised memory that nobody else refers to.
unsafe impl Send for FenceChainAllocation {}

impl FenceChainAllocation {
    /// Allocates one node (`dma_fence_chain_alloc()` is `kmalloc`, and the C side frees a
    /// node it owns with `kfree` through the fence's release).
    pub fn new(flags: Flags) -> Result<Self, AllocError> {
        Ok(Self(KBox::new_uninit(flags)?))
    }

    /// Gives the memory up to a C function that takes ownership of the node.
    pub fn into_raw(self) -> *mut bindings::dma_fence_chain {
        KBox::into_raw(self.0).cast()
    }
}
