// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Memory the driver shares with the GPU firmware: typed objects in the kernel heaps.
//!
//! The heaps themselves (ranges, protections, growth, garbage collection) are the UAT's
//! ([`crate::uat::heap`]); this module puts values in them. Every structure the firmware
//! reads is a [`object::GpuObject`]: it owns its heap allocation, knows its GPU address and
//! reaches its bytes through the CPU view of the blocks behind it.

pub(crate) mod object;

use kernel::prelude::*;

use crate::uat::heap::{
    HeapBacking,
    KERNEL_GPU_RO_SHARED,
    KERNEL_GPU_SHARED,
    KERNEL_PRIVATE,
    KERNEL_RO_SHARED,
    KERNEL_SHARED, //
};

use self::object::{
    new_heap,
    SharedHeap, //
};

/// The five kernel heaps every firmware object lives in (asahi-driver-facts §6.2).
pub(crate) struct KernelHeaps<B: HeapBacking> {
    /// Firmware-private, cached objects (InitData, rings the firmware only reads).
    pub(crate) private: SharedHeap<B>,
    /// Firmware-cached objects the GPU reads (command structures).
    pub(crate) gpu_ro: SharedHeap<B>,
    /// Uncached objects both sides write (ring states, firmware status).
    pub(crate) shared: SharedHeap<B>,
    /// Uncached objects the firmware only reads.
    pub(crate) ro_shared: SharedHeap<B>,
    /// Uncached objects the GPU also writes.
    pub(crate) gpu_shared: SharedHeap<B>,
}

impl<B: HeapBacking> KernelHeaps<B> {
    /// Makes the five heaps, each over a backing from `backing`.
    ///
    /// # Errors
    ///
    /// Those of [`new_heap`].
    pub(crate) fn new(mut backing: impl FnMut() -> B) -> Result<Self> {
        Ok(Self {
            private: new_heap(KERNEL_PRIVATE, backing())?,
            gpu_ro: new_heap(KERNEL_GPU_RO_SHARED, backing())?,
            shared: new_heap(KERNEL_SHARED, backing())?,
            ro_shared: new_heap(KERNEL_RO_SHARED, backing())?,
            gpu_shared: new_heap(KERNEL_GPU_SHARED, backing())?,
        })
    }
}

impl<B: HeapBacking> KernelHeaps<B> {
    /// Another handle on the same five heaps (for owners outside the GPU manager, such as
    /// the DRM device's queues).
    pub(crate) fn share(&self) -> Self {
        Self {
            private: self.private.clone(),
            gpu_ro: self.gpu_ro.clone(),
            shared: self.shared.clone(),
            ro_shared: self.ro_shared.clone(),
            gpu_shared: self.gpu_shared.clone(),
        }
    }

    /// Every heap, in the order of the fields.
    pub(crate) fn all(&self) -> [&SharedHeap<B>; 5] {
        [
            &self.private,
            &self.gpu_ro,
            &self.shared,
            &self.ro_shared,
            &self.gpu_shared,
        ]
    }
}

/// Whether a pointer of class `class` may target `va`: the heap ranges each class of
/// firmware pointer lands in (private objects are firmware-cached; shared ones uncached;
/// GPU-read-only ones in either read-only heap).
pub(crate) fn class_accepts(class: crate::fw::common::PtrClass, va: u64) -> bool {
    use crate::fw::common::PtrClass;
    let within = |h: &crate::uat::heap::HeapSpec| (h.start..h.end).contains(&va);
    match class {
        PtrClass::Private => within(&KERNEL_PRIVATE),
        PtrClass::Shared => within(&KERNEL_SHARED) || within(&KERNEL_GPU_SHARED),
        PtrClass::GpuRo => within(&KERNEL_GPU_RO_SHARED) || within(&KERNEL_RO_SHARED),
        PtrClass::Any => crate::uat::heap::KERNEL_HEAPS.iter().any(within),
        PtrClass::User => false,
    }
}

/// Heap backing of plain kernel blocks with no GPU mapping, so KUnit can build firmware
/// objects and read them back.
#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
pub(crate) mod test_backing {
    use core::ptr::NonNull;

    use kernel::{
        contig_pages::ContigPages,
        page,
        prelude::*, //
    };

    use crate::uat::{
        heap::HeapBacking,
        pte::{
            self,
            Prot, //
        },
    };

    /// Blocks in VA order from `base`.
    pub(crate) struct MemBacking {
        base: u64,
        pages: KVec<ContigPages>,
    }

    impl MemBacking {
        /// Nothing backed yet.
        pub(crate) fn new() -> Self {
            Self {
                base: 0,
                pages: KVec::new(),
            }
        }
    }

    impl HeapBacking for MemBacking {
        fn grow(&mut self, va: u64, size: u64, _prot: Prot) -> Result {
            if self.pages.is_empty() {
                self.base = va;
            }
            let order = pte::PAGE_SHIFT - page::PAGE_SHIFT as u32;
            for _ in 0..size / pte::PAGE_SIZE {
                self.pages.push(
                    ContigPages::alloc(order, GFP_KERNEL | __GFP_ZERO)?,
                    GFP_KERNEL,
                )?;
            }
            Ok(())
        }

        fn cpu_block(&self, va: u64) -> Option<NonNull<u8>> {
            let index = usize::try_from((va.checked_sub(self.base)?) / pte::PAGE_SIZE).ok()?;
            NonNull::new(self.pages.get(index)?.as_ptr())
        }
    }
}
