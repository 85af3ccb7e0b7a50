// SPDX-License-Identifier: GPL-2.0

//! DMA-buf framework pieces: fences, their callbacks and fence chains.
//!
//! C headers: [`include/linux/dma-fence.h`](srctree/include/linux/dma-fence.h),
//! [`include/linux/dma-fence-chain.h`](srctree/include/linux/dma-fence-chain.h)

pub mod dma_fence;
pub mod fence_callback;
pub mod fence_chain;
