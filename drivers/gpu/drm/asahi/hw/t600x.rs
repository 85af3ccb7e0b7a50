// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! M1 Pro, Max and Ultra (t6000, t6001, t6002): G13S, G13C, G13D.
//!
//! The three share one design: a cluster holds eight cores, the Max doubles the Pro's
//! clusters and the Ultra joins two Max dies. The Ultra reports the Max's firmware core id.
//! Facts: jannau/linux:drivers/gpu/drm/asahi/hw/t600x.rs, AsahiLinux/m1n1:rust/src/gpu/hw/t600x.rs.

use super::{
    GpuGen,
    GpuVariant,
    HwConfig,
    BASE_CLOCK_HZ,
    UAT_IAS, //
};

/// Builds the description of one member of the family.
const fn t600x(
    soc: &'static str,
    chip_id: u32,
    gpu_variant: GpuVariant,
    gpu_core: u32,
    num_dies: u32,
    max_num_clusters: u32,
) -> HwConfig {
    HwConfig {
        soc,
        chip_id,
        max_freq_mhz: 1296,
        gpu_gen: GpuGen::G13,
        gpu_variant,
        gpu_core,
        num_dies,
        max_num_clusters,
        max_num_cores: 8,
        max_num_frags: 8,
        max_num_gps: 4,
        uat_ias: UAT_IAS,
        uat_oas: 42,
        base_clock_hz: BASE_CLOCK_HZ,
    }
}

/// M1 Pro: two clusters.
pub(crate) static T6000: HwConfig = t600x("t6000", 0x6000, GpuVariant::S, 12, 1, 2);
/// M1 Max: four clusters.
pub(crate) static T6001: HwConfig = t600x("t6001", 0x6001, GpuVariant::C, 13, 1, 4);
/// M1 Ultra: two M1 Max dies.
pub(crate) static T6002: HwConfig = t600x("t6002", 0x6002, GpuVariant::D, 13, 2, 8);
