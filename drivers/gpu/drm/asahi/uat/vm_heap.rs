// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Per-VM kernel heaps: driver objects that live inside one user VM.
//!
//! Some objects of a job must be reachable through the job's own VM: the tiled vertex
//! buffer's blocks, scene metadata, compute preemption buffers. The driver keeps them in the
//! kernel range userspace left free at VM_CREATE (asahi-driver-facts §6.2): the range,
//! aligned to 32 KiB, is split in halves; the lower half is the VM's "GPU Shared" heap
//! (GPU read-write, uncached; 32 KiB alignment, TVB pages are 32 KiB; grows by 512 KiB),
//! the upper half its "GPU FW Private" heap (GPU and firmware, cached; grows by 64 KiB).
//!
//! A [`VmBacking`] backs such a heap with fresh 16 KiB blocks mapped into the VM's page
//! tables (non-global, so other VMs never see them). Nothing is backed until the first
//! allocation. Dropping it unmaps the range, with the VM's TLB invalidation, before the blocks
//! go back to the kernel; if the unmap fails the blocks are leaked, as the GPU may still
//! reach them. Whoever frees objects of the firmware-cached heap must flush the firmware's
//! cache first, as for the kernel heaps ([`Heap::collect_garbage`](super::heap::Heap)).

use core::{
    ops::Range,
    ptr::NonNull, //
};

use kernel::{
    prelude::*,
    sync::Arc, //
};

use super::{
    context::{
        UatHw,
        Vm, //
    },
    heap::{
        Blocks,
        HeapBacking,
        HeapSpec, //
    },
    pte::{
        Prot,
        PROT_GPU_FW_PRIV_RW,
        PROT_GPU_SHARED_RW, //
    },
};

const KIB: u64 = 1 << 10;
/// Alignment of the kernel range's ends and of its split.
const SPLIT_ALIGN: u64 = 32 * KIB;

/// The two heaps of a VM whose kernel range is `kernel`: (GPU Shared, GPU FW Private).
///
/// # Errors
///
/// [`EINVAL`] when the range, aligned inward to 32 KiB, is too small to split.
pub(crate) fn vm_heap_specs(kernel: &Range<u64>) -> Result<(HeapSpec, HeapSpec)> {
    let start = kernel
        .start
        .checked_next_multiple_of(SPLIT_ALIGN)
        .ok_or(EINVAL)?;
    let end = kernel.end - kernel.end % SPLIT_ALIGN;
    if end <= start || (end - start) < 2 * SPLIT_ALIGN {
        return Err(EINVAL);
    }
    let mid = start + ((end - start) / 2) / SPLIT_ALIGN * SPLIT_ALIGN;
    let shared = HeapSpec {
        name: "GPU Shared",
        start,
        end: mid,
        prot: PROT_GPU_SHARED_RW,
        growth: 512 * KIB,
        min_align: SPLIT_ALIGN,
        garbage_collected: false,
    };
    let private = HeapSpec {
        name: "GPU FW Private",
        start: mid,
        end,
        prot: PROT_GPU_FW_PRIV_RW,
        growth: 64 * KIB,
        min_align: 0x80,
        garbage_collected: true,
    };
    Ok((shared, private))
}

/// Heap backing mapped into one user VM.
pub(crate) struct VmBacking<P: UatHw> {
    vm: Arc<Vm<P>>,
    blocks: Blocks,
}

impl<P: UatHw> VmBacking<P> {
    /// Backing that maps into `vm`.
    pub(crate) fn new(vm: Arc<Vm<P>>) -> Self {
        Self {
            vm,
            blocks: Blocks::new(),
        }
    }

    /// The 16 KiB blocks backing the heap, in VA order from the heap's start.
    #[cfg_attr(not(CONFIG_DRM_ASAHI_KUNIT_TEST), allow(dead_code))]
    pub(crate) fn pages(&self) -> &[kernel::contig_pages::ContigPages] {
        self.blocks.pages()
    }
}

impl<P: UatHw> HeapBacking for VmBacking<P> {
    fn grow(&mut self, va: u64, size: u64, prot: Prot) -> Result {
        let vm = &self.vm;
        self.blocks
            .grow(va, size, |new| vm.map_sg(va, Blocks::chunks(new), prot))
    }

    fn cpu_block(&self, va: u64) -> Option<NonNull<u8>> {
        self.blocks.cpu_block(va)
    }
}

impl<P: UatHw> Drop for VmBacking<P> {
    fn drop(&mut self) {
        let Some((base, size)) = self.blocks.range() else {
            return;
        };
        if let Err(e) = self.vm.unmap(base, size) {
            pr_err!(
                "cannot unmap VM heap at {:#x}+{:#x} ({:?}); leaking its memory\n",
                base,
                size,
                e
            );
            self.blocks.leak();
        }
    }
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_uat_vm_heap)]
mod tests {
    use super::*;
    use crate::uat::{
        context::test_hw,
        heap::Heap,
        pte,
        tlb::Request, //
    };

    const MESA_KERNEL: Range<u64> = 0x77_ffff_8000..0x7f_ffff_8000;

    #[test]
    fn the_kernel_range_splits_in_aligned_halves() -> Result {
        // Mesa's range is already 32 KiB aligned: halves of 16 GiB.
        let (shared, private) = vm_heap_specs(&MESA_KERNEL)?;
        assert_eq!((shared.start, shared.end), (0x77_ffff_8000, 0x7b_ffff_8000));
        assert_eq!(
            (private.start, private.end),
            (0x7b_ffff_8000, 0x7f_ffff_8000)
        );
        // An unaligned one shrinks inward to 32 KiB before it is split.
        let (s, p) = vm_heap_specs(&(0x77_ffff_c000..0x7f_ffff_c000))?;
        assert_eq!((s.start, p.end), (0x78_0000_0000, 0x7f_ffff_8000));
        assert_eq!(s.end, p.start);
        assert_eq!(s.end % SPLIT_ALIGN, 0);
        assert_eq!(
            (shared.prot, private.prot),
            (PROT_GPU_SHARED_RW, PROT_GPU_FW_PRIV_RW)
        );
        // Both are valid heaps.
        let (uat, _, _) = test_hw::setup(false, false)?;
        let vm = uat.new_vm()?;
        Heap::new(shared, VmBacking::new(vm.clone()))?;
        Heap::new(private, VmBacking::new(vm))?;
        // Too small to split once aligned.
        assert!(matches!(vm_heap_specs(&(0x4000..0x10000)), Err(e) if e == EINVAL));
        Ok(())
    }

    #[test]
    fn vm_backing_maps_into_the_vm_only_and_unmaps_on_drop() -> Result {
        let (uat, _reg, tlb) = test_hw::setup(false, false)?;
        let vm = uat.new_vm()?;
        let other = uat.new_vm()?;
        let _slot = vm.bind()?;
        let (shared, _) = vm_heap_specs(&MESA_KERNEL)?;
        let mut h = Heap::new(shared, VmBacking::new(vm.clone()))?;
        let a = h.alloc(0x100, 1)?;
        assert_eq!(a.va(), shared.start);
        // 512 KiB of growth: 32 blocks, each mapped non-global in this VM only.
        let pages = h.backing().pages();
        assert_eq!(pages.len(), 32);
        for (i, p) in pages.iter().enumerate() {
            let va = shared.start + i as u64 * pte::PAGE_SIZE;
            let want = pte::page_desc(p.phys_addr(), shared.prot, pte::Scope::NonGlobal);
            assert_eq!(vm.lookup(va), Some(want));
            assert_eq!(other.lookup(va), None);
        }
        assert_eq!(vm.lookup(shared.start + 512 * KIB), None);
        // Dropping the heap unmaps the backing and invalidates it on the VM's slot.
        tlb.take();
        h.free(a)?;
        drop(h);
        assert_eq!(vm.lookup(shared.start), None);
        let log = tlb.take();
        assert!(log
            .iter()
            .any(|(r, _)| matches!(r, Request::Range { va, size, .. } if *va == shared.start && *size == 512 * KIB)));
        Ok(())
    }
}
