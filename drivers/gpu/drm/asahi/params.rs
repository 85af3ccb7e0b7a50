// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! GET_PARAMS: what userspace needs to know about the GPU before it does anything else.
//!
//! Mesa names the device from the generation, variant and revision ("Apple M1 (G13G B1)"),
//! picks its compiler and coherency programs from the generation and cluster counts, counts
//! cores from the masks and lays out its address space from the VM range
//! (shared/research/mesa-asahi-userspace.md §4.2-4.3). The answer never changes while the
//! device exists, so it is laid out once, at registration, as the exact bytes of
//! `struct drm_asahi_params_global`; an ioctl copies a prefix of it. Field values:
//! shared/research/asahi-driver-facts.md §8.

use core::mem::offset_of;

use kernel::{
    prelude::*,
    uaccess::{
        UserPtr,
        UserSlice, //
    },
    uapi::{
        self,
        drm_asahi_params_global as Global, //
    },
};

use crate::{
    gpu::crash::FwHealth,
    gpu_id::GpuId,
    hw::{
        GpuGen,
        HwConfig, //
    },
    uat::context::{
        USER_END,
        USER_START, //
    },
};

/// Size of `struct drm_asahi_params_global`: the most one GET_PARAMS copies.
pub(crate) const GLOBAL_SIZE: usize = core::mem::size_of::<Global>();

/// Smallest kernel range a VM must leave the kernel (VM_CREATE checks it).
pub(crate) const VM_KERNEL_MIN_SIZE: u64 = 0x2000_0000;

/// Most commands one SUBMIT may carry.
pub(crate) const MAX_COMMANDS_PER_SUBMISSION: u32 = 64;

/// Most attachments one attachment command may carry.
pub(crate) const MAX_ATTACHMENTS: u32 = 16;

/// Command timestamps are reported in nanoseconds.
pub(crate) const TIMESTAMP_FREQUENCY_HZ: u64 = 1_000_000_000;

/// The GET_PARAMS answer of one device, as the bytes userspace receives.
pub(crate) struct Params {
    image: [u8; GLOBAL_SIZE],
}

impl Params {
    /// Lays out the parameters of the GPU `hw` describes and `id` was probed as.
    ///
    /// `soft_faults` says whether the firmware was told to retry GPU page faults instead of
    /// stopping the context (`DRM_ASAHI_FEATURE_SOFT_FAULTS`).
    pub(crate) fn new(hw: &HwConfig, id: &GpuId, soft_faults: bool) -> Self {
        let mut p = Self {
            image: [0; GLOBAL_SIZE],
        };
        let features = if soft_faults {
            u64::from(uapi::drm_asahi_feature_DRM_ASAHI_FEATURE_SOFT_FAULTS)
        } else {
            0
        };
        p.put_u64(offset_of!(Global, features), features);
        let generation = match hw.gpu_gen {
            GpuGen::G13 => 13,
            GpuGen::G14 => 14,
        };
        p.put_u32(offset_of!(Global, gpu_generation), generation);
        p.put_u32(offset_of!(Global, gpu_variant), hw.gpu_variant as u32);
        p.put_u32(offset_of!(Global, gpu_revision), id.revision);
        p.put_u32(offset_of!(Global, chip_id), hw.chip_id);
        p.put_u32(offset_of!(Global, num_dies), hw.num_dies);
        p.put_u32(offset_of!(Global, num_clusters_total), id.clusters);
        p.put_u32(
            offset_of!(Global, num_cores_per_cluster),
            id.cores_per_cluster,
        );
        p.put_u32(
            offset_of!(Global, max_frequency_khz),
            hw.max_freq_mhz * 1000,
        );
        let masks = offset_of!(Global, core_masks);
        for (i, mask) in id.core_masks.iter().enumerate() {
            p.put_u64(masks + i * 8, *mask);
        }
        p.put_u64(offset_of!(Global, vm_start), USER_START);
        p.put_u64(offset_of!(Global, vm_end), USER_END);
        p.put_u64(offset_of!(Global, vm_kernel_min_size), VM_KERNEL_MIN_SIZE);
        p.put_u32(
            offset_of!(Global, max_commands_per_submission),
            MAX_COMMANDS_PER_SUBMISSION,
        );
        p.put_u32(offset_of!(Global, max_attachments), MAX_ATTACHMENTS);
        p.put_u64(
            offset_of!(Global, command_timestamp_frequency_hz),
            TIMESTAMP_FREQUENCY_HZ,
        );
        p
    }

    fn put_u32(&mut self, at: usize, v: u32) {
        self.image[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }

    fn put_u64(&mut self, at: usize, v: u64) {
        self.image[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    }

    /// The bytes one request receives: the first `min(size, GLOBAL_SIZE)` of the answer.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for a parameter group other than 0 (the only one defined) or a non-zero pad;
    /// then [`ENODEV`] once the firmware crashed: a dead GPU reports nothing.
    pub(crate) fn answer(
        &self,
        req: &uapi::drm_asahi_get_params,
        health: &FwHealth,
    ) -> Result<&[u8]> {
        if req.param_group != 0 || req.pad != 0 {
            return Err(EINVAL);
        }
        health.check()?;
        let len = usize::try_from(req.size).map_or(GLOBAL_SIZE, |s| s.min(GLOBAL_SIZE));
        Ok(&self.image[..len])
    }

    /// Serves GET_PARAMS: copies [`Params::answer`] to the user's buffer.
    ///
    /// # Errors
    ///
    /// Those of [`Params::answer`], and [`EFAULT`] when the buffer cannot be written.
    pub(crate) fn get(&self, req: &uapi::drm_asahi_get_params, health: &FwHealth) -> Result {
        let bytes = self.answer(req, health)?;
        let ptr = UserPtr::from_addr(usize::try_from(req.pointer).map_err(|_| EFAULT)?);
        UserSlice::new(ptr, bytes.len()).writer().write_slice(bytes)
    }
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_params)]
mod tests {
    use super::*;
    use crate::{
        gpu_id::MAX_CLUSTERS,
        hw::{
            T6022,
            T8103, //
        },
    };

    fn u32_at(b: &[u8], at: usize) -> u32 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[at..at + 4]);
        u32::from_ne_bytes(w)
    }

    fn u64_at(b: &[u8], at: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[at..at + 8]);
        u64::from_ne_bytes(w)
    }

    fn req(group: u32, pad: u32, size: u64) -> uapi::drm_asahi_get_params {
        uapi::drm_asahi_get_params {
            param_group: group,
            pad,
            pointer: 0,
            size,
        }
    }

    fn m1_id() -> GpuId {
        let mut core_masks = [0u64; MAX_CLUSTERS];
        core_masks[0] = 0x7f;
        GpuId {
            revision: 0x11,
            clusters: 1,
            cores_per_cluster: 8,
            core_masks,
        }
    }

    #[test]
    fn the_header_size_is_what_mesa_asks_for() {
        // Mesa 26.2 passes size 592 (mesa-asahi-userspace.md §2.4).
        assert_eq!(GLOBAL_SIZE, 0x250);
    }

    #[test]
    fn fields_land_at_their_header_offsets() -> Result {
        let p = Params::new(&T8103, &m1_id(), true);
        let h = FwHealth::new();
        let b = p.answer(&req(0, 0, 0x250), &h)?;
        assert_eq!(u64_at(b, offset_of!(Global, features)), 1);
        assert_eq!(u32_at(b, offset_of!(Global, gpu_generation)), 13);
        assert_eq!(u32_at(b, offset_of!(Global, gpu_variant)), u32::from(b'G'));
        assert_eq!(u32_at(b, offset_of!(Global, gpu_revision)), 0x11);
        assert_eq!(u32_at(b, offset_of!(Global, chip_id)), 0x8103);
        assert_eq!(u32_at(b, offset_of!(Global, num_dies)), 1);
        assert_eq!(u32_at(b, offset_of!(Global, num_clusters_total)), 1);
        assert_eq!(u32_at(b, offset_of!(Global, num_cores_per_cluster)), 8);
        assert_eq!(u32_at(b, offset_of!(Global, max_frequency_khz)), 1_278_000);
        let masks = offset_of!(Global, core_masks);
        assert_eq!(u64_at(b, masks), 0x7f);
        assert_eq!(u64_at(b, masks + 8), 0);
        assert_eq!(u64_at(b, offset_of!(Global, vm_start)), 0x4000);
        assert_eq!(u64_at(b, offset_of!(Global, vm_end)), 0x7f_ffff_8000);
        assert_eq!(
            u64_at(b, offset_of!(Global, vm_kernel_min_size)),
            0x2000_0000
        );
        assert_eq!(
            u32_at(b, offset_of!(Global, max_commands_per_submission)),
            64
        );
        assert_eq!(u32_at(b, offset_of!(Global, max_attachments)), 16);
        assert_eq!(
            u64_at(b, offset_of!(Global, command_timestamp_frequency_hz)),
            1_000_000_000
        );
        Ok(())
    }

    #[test]
    fn an_m2_ultra_is_generation_14_variant_d_with_two_dies() -> Result {
        let mut id = m1_id();
        id.clusters = 8;
        id.cores_per_cluster = 10;
        let p = Params::new(&T6022, &id, false);
        let b = p.answer(&req(0, 0, u64::MAX), &FwHealth::new())?;
        assert_eq!(b.len(), GLOBAL_SIZE);
        assert_eq!(u64_at(b, offset_of!(Global, features)), 0);
        assert_eq!(u32_at(b, offset_of!(Global, gpu_generation)), 14);
        assert_eq!(u32_at(b, offset_of!(Global, gpu_variant)), u32::from(b'D'));
        assert_eq!(u32_at(b, offset_of!(Global, chip_id)), 0x6022);
        assert_eq!(u32_at(b, offset_of!(Global, num_dies)), 2);
        assert_eq!(u32_at(b, offset_of!(Global, num_clusters_total)), 8);
        Ok(())
    }

    #[test]
    fn a_short_buffer_gets_a_prefix() -> Result {
        let p = Params::new(&T8103, &m1_id(), true);
        let h = FwHealth::new();
        assert_eq!(p.answer(&req(0, 0, 12), &h)?.len(), 12);
        assert_eq!(p.answer(&req(0, 0, 0), &h)?.len(), 0);
        Ok(())
    }

    #[test]
    fn bad_requests_and_a_dead_gpu_are_refused() {
        let p = Params::new(&T8103, &m1_id(), true);
        let h = FwHealth::new();
        assert_eq!(p.answer(&req(1, 0, 8), &h).err(), Some(EINVAL));
        assert_eq!(p.answer(&req(0, 1, 8), &h).err(), Some(EINVAL));
        h.mark_crashed();
        assert_eq!(p.answer(&req(0, 0, 8), &h).err(), Some(ENODEV));
        // Argument errors still win over the crash.
        assert_eq!(p.answer(&req(1, 0, 8), &h).err(), Some(EINVAL));
    }
}
