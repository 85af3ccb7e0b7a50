// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! GPU address spaces of userspace clients (VM_CREATE, VM_DESTROY).
//!
//! A VM is a UAT user context: a lower-half page table that borrows one of the GPU's context
//! slots while work runs in it. Userspace manages the VM's range from `vm_start` to `vm_end`
//! (GET_PARAMS) except for one range it hands back at creation, the kernel range, where the
//! driver places the per-VM objects the firmware and GPU reach on the client's behalf (Mesa
//! gives the top 32 GiB, mesa-asahi-userspace.md §4.3). Every later bind is checked against
//! both ranges. VMs belong to one DRM file and are named by small per-file ids, so a client
//! cannot even name another's VMs (asahi-driver-facts.md §8).

use core::ops::Range;

use kernel::{
    prelude::*,
    sync::{
        aref::ARef,
        Arc, //
    },
    uapi, //
};

use crate::{
    gem::AsahiObject,
    gpu::boot::KernelUatHw,
    params::VM_KERNEL_MIN_SIZE,
    uat::{
        context::{
            Vm,
            USER_END,
            USER_START, //
        },
        pte::PAGE_SIZE,
    },
};

/// One client's GPU address space.
pub(crate) struct UserVm {
    /// The UAT context.
    _ctx: Arc<Vm<KernelUatHw>>,
    /// The range userspace left to the kernel.
    kernel: Range<u64>,
    /// The empty object whose reservation the VM's private objects share.
    resv: ARef<AsahiObject>,
}

impl UserVm {
    /// The range userspace left to the kernel.
    #[allow(dead_code)] // VM_BIND refuses binds into it; per-VM firmware objects live there.
    pub(crate) fn kernel_range(&self) -> &Range<u64> {
        &self.kernel
    }

    /// The object whose reservation the VM's private objects share.
    pub(crate) fn resv(&self) -> &AsahiObject {
        &self.resv
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

impl UserVm {
    /// A VM over the new context `ctx`, leaving `kernel` (checked by [`kernel_range`]) to the
    /// kernel, with `resv` as the reservation of its private objects.
    pub(crate) fn new(
        ctx: Arc<Vm<KernelUatHw>>,
        kernel: Range<u64>,
        resv: ARef<AsahiObject>,
    ) -> Self {
        Self {
            _ctx: ctx,
            kernel,
            resv,
        }
    }
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
