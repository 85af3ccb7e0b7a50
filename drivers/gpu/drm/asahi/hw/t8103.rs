// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! M1 (t8103): G13G.
//!
//! Facts: jannau/linux:drivers/gpu/drm/asahi/hw/t8103.rs, AsahiLinux/m1n1:rust/src/gpu/hw/t8103.rs.

use super::{
    GpuGen,
    GpuVariant,
    HwConfig,
    BASE_CLOCK_HZ,
    UAT_IAS, //
};

/// M1: one cluster of eight cores.
pub(crate) static T8103: HwConfig = HwConfig {
    soc: "t8103",
    chip_id: 0x8103,
    max_freq_mhz: 1278,
    gpu_gen: GpuGen::G13,
    gpu_variant: GpuVariant::G,
    gpu_core: 11,
    num_dies: 1,
    max_num_clusters: 1,
    max_num_cores: 8,
    max_num_frags: 8,
    max_num_gps: 4,
    uat_ias: UAT_IAS,
    uat_oas: 40,
    base_clock_hz: BASE_CLOCK_HZ,
};
