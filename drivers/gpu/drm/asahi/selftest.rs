// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Live self-tests: checks that need the GPU side, run once the firmware is up.
//!
//! KUnit covers the page-table code against an in-memory walker; what it cannot show is that
//! the GPU side sees what the driver maps, and that the driver's TLB maintenance reaches the
//! GPU's TLB. These tests do, in the manner of i915's live self-tests: built with
//! `CONFIG_DRM_ASAHI_SELFTEST`, run at probe when the module parameter `live_selftests` is
//! non-zero, each reported as `live selftest <name>: ok|FAILED ...` and summed up as
//! `live selftests: N passed, N failed`.
//!
//! They ask the GPU side to touch an address through its TLB ([`tlb::probe`]), which only a
//! machine with bridged TLB maintenance (UML's TLB bridge) can do; elsewhere they report that
//! they were skipped.

use kernel::{
    contig_pages::ContigPages,
    device::{
        Bound,
        Device, //
    },
    page,
    prelude::*,
    sync::Arc,
};

use crate::{
    gpu::{
        boot::KernelUat,
        GpuManager, //
    },
    mem::object::GpuMem,
    uat::{
        heap::{
            Heap,
            HeapSpec,
            KernelBacking,
            KERNEL_SHARED, //
        },
        pte::{
            self,
            PROT_FW_SHARED_RW,
            PROT_GPU_SHARED_RW, //
        },
        slots::KERNEL_SLOT,
        tlb::{
            self,
            ProbeAccess,
            ProbeOutcome,
            Request,
            TlbOps, //
        },
    },
};

/// Kernel upper-half page the TLB tests map and unmap (outside every heap and the RTKit
/// buffer window).
const SCRATCH_VA: u64 = 0xffff_ffaf_0000_0000;
/// A shared-object heap like the driver's, in a range of its own so the tests never meet the
/// driver's heaps.
const SCRATCH_HEAP: HeapSpec = HeapSpec {
    name: "selftest shared",
    start: 0xffff_ffaf_1000_0000,
    end: 0xffff_ffaf_2000_0000,
    // Heaps are kept once the coprocessor runs, this one too: keep it one block small.
    growth: pte::PAGE_SIZE,
    ..KERNEL_SHARED
};
/// User VA the VM test maps.
const USER_VA: u64 = 0x10_0000_0000;
/// Marks memory written by the tests, so a read through a wrong translation shows.
const PATTERN: u64 = 0xa5a1_5e1f_7e57_0001;

/// Runs every live self-test and logs the outcome; the driver keeps going either way.
pub(crate) fn run(dev: &Device<Bound>, gpu: &GpuManager<'_>) {
    if let Err(e) = tlb::probe(KERNEL_SLOT.into(), SCRATCH_VA, ProbeAccess::FwRead) {
        dev_info!(
            dev,
            "live selftests skipped: the GPU side cannot be probed here ({:?})\n",
            e
        );
        return;
    }
    let tests: [(&str, SelfTest); 5] = [
        ("heap-object-visible", heap_object_visible),
        ("missed-invalidation-is-stale", missed_invalidation_is_stale),
        ("unmap-invalidates", unmap_invalidates),
        ("user-vm-in-its-slot", user_vm_in_its_slot),
        ("fw-cache-flush", fw_cache_flush),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in tests {
        match test(dev, gpu) {
            Ok(()) => {
                passed += 1;
                dev_info!(dev, "live selftest {}: ok\n", name);
            }
            Err(Failure::Error(step, e)) => {
                failed += 1;
                dev_err!(dev, "live selftest {}: FAILED at {}: {:?}\n", name, step, e);
            }
            Err(Failure::Check(what)) => {
                failed += 1;
                dev_err!(dev, "live selftest {}: FAILED: {}\n", name, what);
            }
            Err(Failure::Saw(step, seen)) => {
                failed += 1;
                dev_err!(
                    dev,
                    "live selftest {}: FAILED at {}: GPU saw {:?}\n",
                    name,
                    step,
                    seen
                );
            }
        }
    }
    dev_info!(
        dev,
        "live selftests: {} passed, {} failed\n",
        passed,
        failed
    );
}

/// One live self-test.
type SelfTest = for<'a, 'b> fn(&'a Device<Bound>, &'a GpuManager<'b>) -> Result<(), Failure>;

/// Why a test failed.
enum Failure {
    /// A step returned an error.
    Error(&'static str, Error),
    /// The GPU side saw something else than expected.
    Saw(&'static str, ProbeOutcome),
    /// The driver's own state is not what the test expects.
    Check(&'static str),
}

/// Probes `va` in the kernel context as a firmware read.
fn probe(step: &'static str, va: u64) -> Result<ProbeOutcome, Failure> {
    probe_as(step, KERNEL_SLOT, va, ProbeAccess::FwRead)
}

/// Probes `va` in context `slot` with `access`.
fn probe_as(
    step: &'static str,
    slot: u8,
    va: u64,
    access: ProbeAccess,
) -> Result<ProbeOutcome, Failure> {
    tlb::probe(slot.into(), va, access).map_err(|e| Failure::Error(step, e))
}

/// Fails with what was seen unless `ok` holds for it.
fn expect(
    step: &'static str,
    seen: ProbeOutcome,
    ok: impl Fn(&ProbeOutcome) -> bool,
) -> Result<(), Failure> {
    if ok(&seen) {
        Ok(())
    } else {
        Err(Failure::Saw(step, seen))
    }
}

/// One 16 KiB block holding [`PATTERN`] in its first word.
fn pattern_block() -> Result<ContigPages, Failure> {
    let order = pte::PAGE_SHIFT - page::PAGE_SHIFT as u32;
    let block = ContigPages::alloc(order, GFP_KERNEL | __GFP_ZERO)
        .map_err(|e| Failure::Error("allocate", e.into()))?;
    block
        .write_u64(0, PATTERN)
        .map_err(|e| Failure::Error("fill", e))?;
    Ok(block)
}

/// An object allocated from a kernel heap (with the shared heap's protection and growth) is
/// read by the firmware, through the UAT, from the
/// memory the driver wrote.
fn heap_object_visible(_dev: &Device<Bound>, gpu: &GpuManager<'_>) -> Result<(), Failure> {
    let uat = gpu.uat();
    let mut heap = Heap::new(SCRATCH_HEAP, KernelBacking::new(uat.clone()))
        .map_err(|e| Failure::Error("heap", e))?;
    // Skip the first slot so the object is not at the start of its block.
    let _first = heap
        .alloc(0x80, 0x80)
        .map_err(|e| Failure::Error("alloc", e))?;
    let obj = heap
        .alloc(0x40, 0x80)
        .map_err(|e| Failure::Error("alloc", e))?;
    let off = obj.va() - SCRATCH_HEAP.start;
    let index =
        usize::try_from(off >> pte::PAGE_SHIFT).map_err(|_| Failure::Error("offset", EINVAL))?;
    let in_block = (off & (pte::PAGE_SIZE - 1)) as usize;
    let block = heap
        .backing()
        .pages()
        .get(index)
        .ok_or(Failure::Error("backing", ENOENT))?;
    block
        .write_u64(in_block, PATTERN)
        .map_err(|e| Failure::Error("fill", e))?;
    let want_pa = block.phys_addr() + in_block as u64;
    let seen = probe("read object", obj.va())?;
    expect("read object", seen, |s| {
        *s == ProbeOutcome::Ok {
            pa: want_pa,
            data: PATTERN,
        }
    })
    // The heap is kept when dropped: the coprocessor runs.
}

/// Maps a block holding [`PATTERN`] at [`SCRATCH_VA`], checks the firmware reads it there
/// (which also loads the translation into the GPU's TLB), runs `body` with the block's
/// physical address, then unmaps and frees the block whatever happened.
fn with_scratch_page(
    uat: &Arc<KernelUat>,
    body: impl FnOnce(u64) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let block = pattern_block()?;
    let pa = block.phys_addr();
    uat.map_kernel(SCRATCH_VA, pa, pte::PAGE_SIZE, PROT_FW_SHARED_RW)
        .map_err(|e| Failure::Error("map", e))?;
    let result = probe("read mapped", SCRATCH_VA)
        .and_then(|seen| {
            expect("read mapped", seen, |s| {
                *s == ProbeOutcome::Ok { pa, data: PATTERN }
            })
        })
        .and_then(|()| body(pa));
    // Whatever happened, nothing may reach the block once it is freed.
    cleanup(uat, block);
    result
}

/// Unmapping without invalidating leaves the GPU a stale translation, which the GPU side
/// reports; the invalidation then turns the access into a fault.
fn missed_invalidation_is_stale(_dev: &Device<Bound>, gpu: &GpuManager<'_>) -> Result<(), Failure> {
    let uat = gpu.uat();
    with_scratch_page(uat, |pa| {
        uat.unmap_kernel_leaving_tlb(SCRATCH_VA, pte::PAGE_SIZE)
            .map_err(|e| Failure::Error("unmap", e))?;
        let seen = probe("read after unmap", SCRATCH_VA)?;
        expect("read after unmap", seen, |s| {
            *s == ProbeOutcome::Stale { pa }
        })?;
        uat.tlb().invalidate(Request::Range {
            asid: KERNEL_SLOT.into(),
            va: SCRATCH_VA,
            size: pte::PAGE_SIZE,
        });
        let seen = probe("read after invalidation", SCRATCH_VA)?;
        expect("read after invalidation", seen, |s| {
            matches!(s, ProbeOutcome::Fault { .. })
        })
    })
}

/// The driver's own unmap invalidates: the next access faults.
fn unmap_invalidates(_dev: &Device<Bound>, gpu: &GpuManager<'_>) -> Result<(), Failure> {
    let uat = gpu.uat();
    with_scratch_page(uat, |_| {
        uat.unmap_kernel(SCRATCH_VA, pte::PAGE_SIZE)
            .map_err(|e| Failure::Error("unmap", e))?;
        let seen = probe("read after unmap", SCRATCH_VA)?;
        expect("read after unmap", seen, |s| {
            matches!(s, ProbeOutcome::Fault { .. })
        })
    })
}

/// A user VM bound to a slot is what the GPU sees in that context (through the TTBAT entry
/// written under the handoff lock), the kernel context does not see it, and the VM's unmap
/// invalidates on the VM's slot.
fn user_vm_in_its_slot(_dev: &Device<Bound>, gpu: &GpuManager<'_>) -> Result<(), Failure> {
    let uat = gpu.uat();
    let vm = uat.new_vm().map_err(|e| Failure::Error("new VM", e))?;
    let block = pattern_block()?;
    let pa = block.phys_addr();
    vm.map(USER_VA, pa, pte::PAGE_SIZE, PROT_GPU_SHARED_RW)
        .map_err(|e| Failure::Error("map", e))?;
    let result = (|| {
        let bind = vm.bind().map_err(|e| Failure::Error("bind", e))?;
        let slot = bind.slot();
        if slot == KERNEL_SLOT {
            return Err(Failure::Error("bind", EINVAL));
        }
        let seen = probe_as("read in the VM's slot", slot, USER_VA, ProbeAccess::GpuRead)?;
        expect("read in the VM's slot", seen, |s| {
            *s == ProbeOutcome::Ok { pa, data: PATTERN }
        })?;
        let seen = probe_as(
            "read in the kernel context",
            KERNEL_SLOT,
            USER_VA,
            ProbeAccess::GpuRead,
        )?;
        expect("read in the kernel context", seen, |s| {
            matches!(s, ProbeOutcome::Fault { .. })
        })?;
        vm.unmap(USER_VA, pte::PAGE_SIZE)
            .map_err(|e| Failure::Error("unmap", e))?;
        let seen = probe_as("read after unmap", slot, USER_VA, ProbeAccess::GpuRead)?;
        expect("read after unmap", seen, |s| {
            matches!(s, ProbeOutcome::Fault { .. })
        })
    })();
    // The VM's own unmap invalidates on its last slot, and dropping it clears its TTBAT entry
    // and invalidates that ASID; only then may the block go.
    let unmapped = vm.unmap(USER_VA, pte::PAGE_SIZE);
    drop(vm);
    match unmapped {
        Ok(_) => drop(block),
        Err(_) => core::mem::forget(block),
    }
    result
}

/// Bytes the flush test frees: two GPU pages.
const FLUSHED_OBJECT: usize = 2 * pte::PAGE_SIZE as usize;

/// A firmware-private object freed while the firmware runs is parked, not reused, until the
/// coprocessor's cache was flushed over it; the flush (handoff slot, FwCtl message, doorbell)
/// completes and the memory is free again.
fn fw_cache_flush(dev: &Device<Bound>, gpu: &GpuManager<'_>) -> Result<(), Failure> {
    let heap = &gpu.heaps().private;
    let object = GpuMem::new(heap, FLUSHED_OBJECT, pte::PAGE_SIZE)
        .map_err(|e| Failure::Error("allocate", e))?;
    let va = object.va();
    let free_before = heap.lock().free_bytes();
    drop(object);
    if heap.lock().garbage_bytes() < FLUSHED_OBJECT as u64 {
        return Err(Failure::Check("the freed object was not parked"));
    }
    let other = GpuMem::new(heap, FLUSHED_OBJECT, pte::PAGE_SIZE)
        .map_err(|e| Failure::Error("allocate again", e))?;
    if other.va() == va {
        return Err(Failure::Check("parked memory was reused before the flush"));
    }
    drop(other);
    let collected = gpu
        .collect_garbage(dev)
        .map_err(|e| Failure::Error("flush", e))?;
    let h = heap.lock();
    if h.garbage_bytes() != 0 || collected < 2 * FLUSHED_OBJECT as u64 {
        return Err(Failure::Check("flushed memory stayed parked"));
    }
    // The object's range comes back on top of what was free while it was allocated.
    if h.free_bytes() < free_before + FLUSHED_OBJECT as u64 {
        return Err(Failure::Check("flushed memory did not return to the heap"));
    }
    Ok(())
}

/// Unmaps the scratch page (if still mapped; the unmap invalidates either way), then frees
/// `block`.
fn cleanup(uat: &Arc<KernelUat>, block: ContigPages) {
    if uat.unmap_kernel(SCRATCH_VA, pte::PAGE_SIZE).is_err() {
        // Possibly still reachable by the GPU: never hand the block back.
        core::mem::forget(block);
        return;
    }
    drop(block);
}
