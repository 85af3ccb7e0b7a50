// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! M2 Pro, Max and Ultra (t6020, t6021, t6022): G14S, G14C, G14D ("G14X").
//!
//! A cluster holds ten cores; the Max doubles the Pro's clusters and the Ultra joins two Max
//! dies. Facts: jannau/linux:drivers/gpu/drm/asahi/hw/t602x.rs,
//! AsahiLinux/m1n1:rust/src/gpu/hw/t602x.rs.

use super::{
    GpuGen,
    GpuVariant,
    HwConfig,
    BASE_CLOCK_HZ,
    UAT_IAS, //
};

/// Builds the description of one member of the family.
const fn t602x(
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
        max_freq_mhz: 1398,
        gpu_gen: GpuGen::G14,
        gpu_variant,
        gpu_core,
        num_dies,
        max_num_clusters,
        max_num_cores: 10,
        max_num_frags: 10,
        max_num_gps: 4,
        uat_ias: UAT_IAS,
        uat_oas: 42,
        base_clock_hz: BASE_CLOCK_HZ,
    }
}

/// M2 Pro: two clusters.
pub(crate) static T6020: HwConfig = t602x("t6020", 0x6020, GpuVariant::S, 16, 1, 2);
/// M2 Max: four clusters.
pub(crate) static T6021: HwConfig = t602x("t6021", 0x6021, GpuVariant::C, 17, 1, 4);
/// M2 Ultra: two M2 Max dies.
pub(crate) static T6022: HwConfig = t602x("t6022", 0x6022, GpuVariant::D, 18, 2, 8);
