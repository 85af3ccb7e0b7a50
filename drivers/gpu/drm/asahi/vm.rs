// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! GPU address spaces of userspace clients (VM_CREATE, VM_DESTROY, VM_BIND).
//!
//! A VM is a UAT user context: a lower-half page table that borrows one of the GPU's context
//! slots while work runs in it. Userspace manages the VM's range from `vm_start` to `vm_end`
//! (GET_PARAMS) except for one range it hands back at creation, the kernel range, where the
//! driver places the per-VM objects the firmware and GPU reach on the client's behalf (Mesa
//! gives the top 32 GiB, mesa-asahi-userspace.md §4.3). Every later bind is checked against
//! both ranges. VMs belong to one DRM file and are named by small per-file ids, so a client
//! cannot even name another's VMs (asahi-driver-facts.md §8).
//!
//! Binding (VM_BIND) goes through `kernel::drm::gpuvm`, which tracks what is mapped where and
//! turns each request into map, unmap and split steps that [`mapper`] applies to the UAT
//! context. One mutex per VM serialises requests. A mapping keeps its object alive; closing
//! the object's handle unmaps it from every VM of the file ([`UserVm::unmap_object`]), and
//! destroying the VM unmaps everything on both sides of the kernel range.
//!
//! The kernel range holds the VM's two kernel heaps ([`crate::uat::vm_heap`]): driver objects
//! a job reaches through its own VM. They are created empty with the VM and backed on first
//! use, and their backing is unmapped before the VM's page tables go.

mod bind_op;
mod mapper;

use core::ops::Range;

use kernel::{
    drm::{
        gem::BaseObject,
        gpuvm::{
            GpuVm,
            OpMapRequest,
            UniqueRefGpuVm, //
        },
    },
    new_mutex,
    prelude::*,
    sync::{
        aref::ARef,
        Arc,
        Mutex, //
    },
    uaccess::UserSlice,
    uapi, //
};

pub(crate) use bind_op::BindOp;
use mapper::{
    Mapper,
    Steps, //
};

use crate::{
    file::{
        AsahiDevice,
        AsahiFile, //
    },
    gem::{
        self,
        AsahiObject, //
    },
    gpu::boot::KernelUatHw,
    params::VM_KERNEL_MIN_SIZE,
    uat::{
        context::{
            Vm,
            USER_END,
            USER_START, //
        },
        heap::Heap,
        pte::PAGE_SIZE,
        vm_heap::{
            vm_heap_specs,
            VmBacking, //
        },
    },
};

/// A heap inside one user VM.
pub(crate) type VmHeap = Heap<VmBacking<KernelUatHw>>;

/// One client's GPU address space.
#[pin_data(PinnedDrop)]
pub(crate) struct UserVm {
    /// The UAT context.
    _ctx: Arc<Vm<KernelUatHw>>,
    /// The range userspace left to the kernel.
    kernel: Range<u64>,
    /// The empty object whose reservation the VM's private objects share.
    resv: ARef<AsahiObject>,
    /// What is mapped where; requests hold the lock from the first step to the last.
    #[pin]
    gpuvm: Mutex<UniqueRefGpuVm<Mapper>>,
    /// The lower half of the kernel range: GPU-shared driver objects (TVB, scenes).
    #[allow(dead_code)] // Job submission allocates from it.
    #[pin]
    gpu_shared: Mutex<VmHeap>,
    /// The upper half: objects the GPU and the firmware share, firmware-cached.
    #[allow(dead_code)] // Job submission allocates from it.
    #[pin]
    gpu_fw_private: Mutex<VmHeap>,
}

impl UserVm {
    /// A VM over the new context `ctx`, leaving `kernel` (checked by [`kernel_range`]) to the
    /// kernel.
    ///
    /// # Errors
    ///
    /// [`ENOMEM`].
    pub(crate) fn new(
        dev: &AsahiDevice,
        ctx: Arc<Vm<KernelUatHw>>,
        kernel: Range<u64>,
    ) -> Result<Arc<Self>> {
        let resv = gem::new_resv_object(dev)?;
        let (shared, private) = vm_heap_specs(&kernel)?;
        let gpu_shared = Heap::new(shared, VmBacking::new(ctx.clone()))?;
        let gpu_fw_private = Heap::new(private, VmBacking::new(ctx.clone()))?;
        let gpuvm = GpuVm::new::<Error, _>(
            c"asahi",
            dev,
            &*resv,
            USER_START..USER_END,
            kernel.clone(),
            Mapper { ctx: ctx.clone() },
        )?;
        Arc::pin_init(
            try_pin_init!(Self {
                _ctx: ctx,
                kernel,
                resv,
                gpuvm <- new_mutex!(gpuvm),
                gpu_shared <- new_mutex!(gpu_shared),
                gpu_fw_private <- new_mutex!(gpu_fw_private),
            }),
            GFP_KERNEL,
        )
    }

    /// The object whose reservation the VM's private objects share.
    pub(crate) fn resv(&self) -> &AsahiObject {
        &self.resv
    }

    /// Reads and checks the `count` operations of `stride` bytes at `userptr`.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for a zero stride, an array whose size overflows or any bad operation
    /// ([`bind_op::check`]); [`EFAULT`] when the array cannot be read; [`ENOMEM`].
    pub(crate) fn read_ops(&self, userptr: u64, count: u32, stride: u32) -> Result<KVec<BindOp>> {
        let stride = usize::try_from(stride)?;
        let count = usize::try_from(count)?;
        if stride == 0 {
            return Err(EINVAL);
        }
        let len = count.checked_mul(stride).ok_or(EINVAL)?;
        let mut reader =
            UserSlice::new(UserPtr::from_addr(usize::try_from(userptr)?), len).reader();
        // Grown as entries are read, so a huge count with a short array fails on the array.
        let mut ops = KVec::new();
        for _ in 0..count {
            let op = bind_op::read(&mut reader, stride)?;
            ops.push(bind_op::check(&op, &self.kernel)?, GFP_KERNEL)?;
        }
        Ok(ops)
    }

    /// Applies checked operations in order, looking objects up in `file`.
    ///
    /// Every object is looked up and checked before anything changes.
    ///
    /// # Errors
    ///
    /// [`ENOENT`] for an unknown handle; [`EINVAL`] when a mapping runs past its object or
    /// binds another VM's private object; [`ENOMEM`]. A failure while applying (only
    /// [`ENOMEM`] for page tables) leaves the earlier operations applied.
    pub(crate) fn bind(&self, file: &AsahiFile, ops: &[BindOp]) -> Result {
        let mut objects = KVec::with_capacity(ops.len(), GFP_KERNEL)?;
        for op in ops {
            let obj = match op {
                BindOp::Map { handle, .. } => {
                    let obj = AsahiObject::lookup_handle(file, *handle)?;
                    let needed = op.object_range().ok_or(EINVAL)?;
                    if needed.end > obj.size() as u64 {
                        return Err(EINVAL);
                    }
                    if obj
                        .parent_resv_obj()
                        .is_some_and(|p| !core::ptr::eq(p, &*self.resv))
                    {
                        return Err(EINVAL);
                    }
                    Some(obj)
                }
                BindOp::Unmap { .. } => None,
            };
            objects.push(obj, GFP_KERNEL)?;
        }
        self.with_gpuvm(|gpuvm| {
            ops.iter()
                .zip(objects.iter())
                .try_for_each(|(op, obj)| Self::apply(gpuvm, op, obj.as_deref()))
        })
    }

    /// Runs `f` with the VM's GPUVM locked, then frees what its steps let go of (nodes and
    /// vm_bos) outside the lock.
    fn with_gpuvm<R>(&self, f: impl FnOnce(&mut UniqueRefGpuVm<Mapper>) -> R) -> R {
        let mut gpuvm = self.gpuvm.lock();
        let result = f(&mut gpuvm);
        let cleanup: ARef<GpuVm<Mapper>> = (&**gpuvm).into();
        drop(gpuvm);
        cleanup.deferred_cleanup();
        result
    }

    fn apply(gpuvm: &mut UniqueRefGpuVm<Mapper>, op: &BindOp, obj: Option<&AsahiObject>) -> Result {
        match (op, obj) {
            (
                BindOp::Map {
                    offset,
                    va,
                    prot,
                    single_page,
                    ..
                },
                Some(obj),
            ) => {
                let mut steps = Steps::new(*prot, *single_page)?;
                let vm_bo = gpuvm.obtain(obj, ())?;
                gpuvm.sm_map(OpMapRequest {
                    addr: va.start,
                    range: va.end - va.start,
                    gem_offset: *offset,
                    vm_bo: &vm_bo,
                    context: &mut steps,
                })
            }
            (BindOp::Unmap { va }, _) => {
                gpuvm.sm_unmap(va.start, va.end - va.start, &mut Steps::for_unmap()?)
            }
            (BindOp::Map { .. }, None) => Err(EINVAL),
        }
    }

    /// Unmaps every mapping of `obj` in this VM (its handle is being closed).
    ///
    /// # Errors
    ///
    /// [`ENOMEM`]; the object then stays mapped until the VM goes.
    pub(crate) fn unmap_object(&self, obj: &AsahiObject) -> Result {
        self.with_gpuvm(|gpuvm| {
            let ranges = gpuvm.obtain(obj, ())?.va_ranges()?;
            ranges.iter().try_for_each(|r| {
                gpuvm.sm_unmap(r.start, r.end - r.start, &mut Steps::for_unmap()?)
            })
        })
    }
}

#[pinned_drop]
impl PinnedDrop for UserVm {
    /// Unmaps everything on both sides of the kernel range, so GPUVM is empty when it goes.
    fn drop(self: Pin<&mut Self>) {
        let kernel = self.kernel.clone();
        self.with_gpuvm(|gpuvm| {
            for (start, end) in [(USER_START, kernel.start), (kernel.end, USER_END)] {
                if start >= end {
                    continue;
                }
                let result = Steps::for_unmap()
                    .and_then(|mut steps| gpuvm.sm_unmap(start, end - start, &mut steps));
                if let Err(e) = result {
                    pr_err!("cannot unmap a VM being destroyed ({:?})\n", e);
                }
            }
        });
    }
}

/// Checks a VM_CREATE request and returns the kernel range it asks for.
///
/// # Errors
///
/// [`EINVAL`] for a non-zero pad, an unaligned or empty range, one outside the user range or
/// one smaller than [`VM_KERNEL_MIN_SIZE`].
pub(crate) fn kernel_range(req: &uapi::drm_asahi_vm_create) -> Result<Range<u64>> {
    let (start, end) = (req.kernel_start, req.kernel_end);
    if req.pad != 0
        || start % PAGE_SIZE != 0
        || end % PAGE_SIZE != 0
        || start >= end
        || start < USER_START
        || end > USER_END
        || end - start < VM_KERNEL_MIN_SIZE
    {
        return Err(EINVAL);
    }
    Ok(start..end)
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_vm)]
mod tests {
    use super::*;

    fn req(kernel_start: u64, kernel_end: u64) -> uapi::drm_asahi_vm_create {
        uapi::drm_asahi_vm_create {
            kernel_start,
            kernel_end,
            vm_id: 0,
            pad: 0,
        }
    }

    #[test]
    fn mesa_kernel_range_is_accepted() {
        // Mesa's request on every device (mesa-asahi-userspace.md §2.5).
        assert_eq!(
            kernel_range(&req(0x77_ffff_8000, 0x7f_ffff_8000)),
            Ok(0x77_ffff_8000..0x7f_ffff_8000)
        );
        // The smallest allowed range, at the bottom of the user range.
        assert_eq!(
            kernel_range(&req(0x4000, 0x4000 + VM_KERNEL_MIN_SIZE)),
            Ok(0x4000..0x4000 + VM_KERNEL_MIN_SIZE)
        );
    }

    #[test]
    fn bad_kernel_ranges_are_refused() {
        let min = VM_KERNEL_MIN_SIZE;
        for (s, e) in [
            (0x1_0000_0000 + 0x1000, 0x1_0000_0000 + min + 0x4000),
            (0x1_0000_0000, 0x1_0000_0000 + min + 0x1000),
            (0x1_0000_0000, 0x1_0000_0000 + min - PAGE_SIZE),
            (0x1_0000_0000 + min, 0x1_0000_0000),
            (0, min),
            (USER_END - min + PAGE_SIZE, USER_END + PAGE_SIZE),
            (0x1_0000_0000, 0x1_0000_0000),
        ] {
            assert_eq!(kernel_range(&req(s, e)), Err(EINVAL));
        }
        let mut padded = req(0x77_ffff_8000, 0x7f_ffff_8000);
        padded.pad = 1;
        assert_eq!(kernel_range(&padded), Err(EINVAL));
    }
}
