// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! What the GPU says it is: generation, size, silicon revision and enabled cores.
//!
//! Probe reads the identification registers once, checks them against the device tree's
//! [`HwConfig`] (a mismatch means the device tree or the bootloader lied, and the driver must
//! not drive the wrong firmware ABI), and keeps the result: userspace learns the revision and
//! the per-cluster core masks through GET_PARAMS, and Mesa names the device from them
//! ("Apple M1 (G13G B1)"). Binned parts have fewer cores enabled than [`HwConfig`]'s maxima,
//! so the masks come from the hardware, never from the tables.
//!
//! Register layout: jannau/linux:drivers/gpu/drm/asahi/regs.rs (ID registers, packed core
//! masks), AsahiLinux/m1n1:proxyclient/m1n1/hw/agx.py.

use kernel::{
    device::{
        Bound,
        Device, //
    },
    io::{
        mem::IoMem,
        Io, //
    },
    prelude::*,
    uapi, //
};

use crate::{
    hw::{
        GpuGen,
        GpuVariant,
        HwConfig, //
    },
    regs::{
        self,
        SGX_SIZE, //
    },
};

/// Most clusters GET_PARAMS can describe (`DRM_ASAHI_MAX_CLUSTERS`).
pub(crate) const MAX_CLUSTERS: usize = uapi::DRM_ASAHI_MAX_CLUSTERS as usize;

/// The probed identity of a GPU, checked against its [`HwConfig`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GpuId {
    /// Silicon revision, BCD-like (A0 = 0x00, B1 = 0x11).
    pub(crate) revision: u32,
    /// Clusters over all dies.
    pub(crate) clusters: u32,
    /// Shader cores per cluster (the design's count; disabled ones included).
    pub(crate) cores_per_cluster: u32,
    /// Enabled cores of each cluster, one bit per core; zero past `clusters`.
    pub(crate) core_masks: [u64; MAX_CLUSTERS],
}

/// Splits the packed enabled-core bitmap (cluster after cluster, `cores_per_cluster` bits
/// each, low word first) into one mask per cluster.
///
/// Returns [`EINVAL`] when the clusters need more bits than `words` hold or more masks than
/// GET_PARAMS carries.
pub(crate) fn split_core_masks(
    words: &[u32],
    clusters: u32,
    cores_per_cluster: u32,
) -> Result<[u64; MAX_CLUSTERS]> {
    let clusters = usize::try_from(clusters)?;
    let per = usize::try_from(cores_per_cluster)?;
    if clusters > MAX_CLUSTERS
        || per == 0
        || per > 32
        || clusters.checked_mul(per).ok_or(EINVAL)? > words.len() * 32
    {
        return Err(EINVAL);
    }
    let bit = |i: usize| (words[i / 32] >> (i % 32)) & 1 != 0;
    let mut masks = [0u64; MAX_CLUSTERS];
    for (cluster, mask) in masks.iter_mut().enumerate().take(clusters) {
        for core in 0..per {
            if bit(cluster * per + core) {
                *mask |= 1 << core;
            }
        }
    }
    Ok(masks)
}

impl GpuId {
    /// Reads the identification registers and checks them against `hw`.
    ///
    /// Generation codes: 4 = G13, 5 = G14G, 6 = G14X; sizes: 2 = G, 3 = S, 4 = C, where a C
    /// with two dies is a D (jannau/linux:drivers/gpu/drm/asahi/regs.rs).
    ///
    /// # Errors
    ///
    /// [`ENODEV`] when the GPU is not the one `hw` describes, reports more clusters, cores or
    /// dies than it can have, or has a cluster without any enabled core.
    pub(crate) fn probe(
        dev: &Device<Bound>,
        hw: &HwConfig,
        sgx: &IoMem<'_, SGX_SIZE>,
    ) -> Result<Self> {
        let id = sgx.read(regs::SGX_ID_VERSION);
        let gen = id.gen().get();
        let variant = id.variant().get();
        let want_gen = match (hw.gpu_gen, hw.is_g14x()) {
            (GpuGen::G13, _) => 4,
            (GpuGen::G14, false) => 5,
            (GpuGen::G14, true) => 6,
        };
        let want_variant = match hw.gpu_variant {
            GpuVariant::G => 2,
            GpuVariant::S => 3,
            GpuVariant::C | GpuVariant::D => 4,
        };
        if gen != want_gen || variant != want_variant {
            dev_err!(
                dev,
                "GPU identifies as generation code {} size {}, but the device tree says {} \
                 (expected {} / {})\n",
                gen,
                variant,
                hw.soc,
                want_gen,
                want_variant
            );
            return Err(ENODEV);
        }
        let counts = sgx.read(regs::SGX_ID_COUNTS_1);
        let cores = counts.cores_per_cluster().get();
        let gps = sgx.read(regs::SGX_ID_COUNTS_2).gps_per_cluster().get();
        let clusters = if hw.is_g14x() {
            counts.clusters_per_die().get() * counts.dies().get()
        } else {
            sgx.read(regs::SGX_ID_CLUSTERS).clusters().get()
        };
        if cores == 0
            || cores > hw.max_num_cores
            || gps > hw.max_num_gps
            || clusters == 0
            || clusters > hw.max_num_clusters
            || (hw.is_g14x() && counts.dies().get() > hw.num_dies)
        {
            dev_err!(
                dev,
                "GPU reports {} clusters of {} cores ({} GPs), beyond {} ({} x {}, {} GPs)\n",
                clusters,
                cores,
                gps,
                hw.soc,
                hw.max_num_clusters,
                hw.max_num_cores,
                hw.max_num_gps
            );
            return Err(ENODEV);
        }
        let words = if hw.is_g14x() {
            [
                sgx.read(regs::SGX_CORE_MASKS_G14X_0).cores().get(),
                sgx.read(regs::SGX_CORE_MASKS_G14X_1).cores().get(),
                sgx.read(regs::SGX_CORE_MASKS_G14X_2).cores().get(),
            ]
        } else {
            [
                sgx.read(regs::SGX_CORE_MASK_0).cores().get(),
                sgx.read(regs::SGX_CORE_MASK_1).cores().get(),
                0,
            ]
        };
        let core_masks = split_core_masks(&words, clusters, cores).map_err(|_| {
            dev_err!(
                dev,
                "GPU core masks cannot describe {} clusters of {} cores\n",
                clusters,
                cores
            );
            ENODEV
        })?;
        if let Some(empty) = core_masks[..clusters as usize].iter().position(|m| *m == 0) {
            dev_err!(dev, "GPU cluster {} has no enabled core\n", empty);
            return Err(ENODEV);
        }
        Ok(Self {
            revision: id.rev().get(),
            clusters,
            cores_per_cluster: cores,
            core_masks,
        })
    }

    /// Enabled shader cores over all clusters.
    pub(crate) fn enabled_cores(&self) -> u32 {
        self.core_masks.iter().map(|m| m.count_ones()).sum()
    }
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_gpu_id)]
mod tests {
    use super::*;

    #[test]
    fn one_full_cluster_of_eight() -> Result {
        let m = split_core_masks(&[0xff, 0], 1, 8)?;
        assert_eq!(m[0], 0xff);
        assert!(m[1..].iter().all(|m| *m == 0));
        Ok(())
    }

    #[test]
    fn binned_clusters_keep_their_own_gaps() -> Result {
        // M1 Ultra layout (8 x 8 cores) with core 3 of cluster 1 and core 7 of cluster 6 off.
        let packed: u64 = !((1 << (8 + 3)) | (1 << (6 * 8 + 7)));
        let m = split_core_masks(&[packed as u32, (packed >> 32) as u32], 8, 8)?;
        assert_eq!(m[0], 0xff);
        assert_eq!(m[1], 0xf7);
        assert_eq!(m[6], 0x7f);
        assert_eq!(m[7], 0xff);
        assert_eq!(m.iter().map(|m| m.count_ones()).sum::<u32>(), 62);
        Ok(())
    }

    #[test]
    fn ten_core_clusters_straddle_words() -> Result {
        // M2 Ultra layout (8 x 10 cores), every core on: 80 bits over three words.
        let m = split_core_masks(&[u32::MAX, u32::MAX, 0xffff], 8, 10)?;
        assert!(m[..8].iter().all(|m| *m == 0x3ff));
        assert_eq!(m[8], 0);
        // Cluster 3 spans bits 30..40: clearing bit 32 drops its core 2.
        let m = split_core_masks(&[u32::MAX, !1, 0xffff], 8, 10)?;
        assert_eq!(m[3], 0x3fb);
        Ok(())
    }

    #[test]
    fn too_many_bits_for_the_words_is_refused() {
        assert_eq!(split_core_masks(&[u32::MAX, u32::MAX], 8, 10), Err(EINVAL));
        assert_eq!(split_core_masks(&[0; 3], 65, 1), Err(EINVAL));
        assert_eq!(split_core_masks(&[0; 3], 1, 0), Err(EINVAL));
    }
}
