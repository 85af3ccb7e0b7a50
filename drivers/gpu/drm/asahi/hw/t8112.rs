// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! M2 (t8112): G14G.
//!
//! Facts: jannau/linux:drivers/gpu/drm/asahi/hw/t8112.rs, AsahiLinux/m1n1:rust/src/gpu/hw/t8112.rs.

use super::{
    GpuGen,
    GpuVariant,
    HwConfig,
    BASE_CLOCK_HZ,
    UAT_IAS, //
};

/// M2: one cluster of ten cores.
pub(crate) static T8112: HwConfig = HwConfig {
    soc: "t8112",
    chip_id: 0x8112,
    max_freq_mhz: 1398,
    gpu_gen: GpuGen::G14,
    gpu_variant: GpuVariant::G,
    gpu_core: 15,
    num_dies: 1,
    max_num_clusters: 1,
    max_num_cores: 10,
    max_num_frags: 10,
    max_num_gps: 4,
    uat_ias: UAT_IAS,
    uat_oas: 40,
    base_clock_hz: BASE_CLOCK_HZ,
};
