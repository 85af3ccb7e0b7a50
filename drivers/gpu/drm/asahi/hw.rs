// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Static description of each supported GPU.
//!
//! The device tree says which GPU core this is (`apple,agx-g13g`, ...); everything the driver
//! must know about that core before talking to it (generation, size, address widths, limits)
//! lives in one table per SoC, in `hw/<soc>.rs`, named after the first SoC of each family.
//! Facts come from the Asahi driver (jannau/linux:drivers/gpu/drm/asahi/hw/{t8103,t8112,
//! t600x,t602x}.rs, hw/mod.rs) and m1n1 (AsahiLinux/m1n1:rust/src/gpu/hw/*.rs).

mod t600x;
mod t602x;
mod t8103;
mod t8112;

pub(crate) use t600x::{
    T6000,
    T6001,
    T6002, //
};
pub(crate) use t602x::{
    T6020,
    T6021,
    T6022, //
};
pub(crate) use t8103::T8103;
pub(crate) use t8112::T8112;

/// GPU generation, numbered as the UAPI reports it (`gpu_generation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum GpuGen {
    /// M1 family.
    G13 = 13,
    /// M2 family.
    G14 = 14,
}

/// Size of the part within a generation, reported to userspace as its ASCII letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum GpuVariant {
    /// Base part (M1, M2).
    G = b'G' as u32,
    /// Pro.
    S = b'S' as u32,
    /// Max.
    C = b'C' as u32,
    /// Ultra: two Max dies.
    D = b'D' as u32,
}

/// Everything the driver knows about one GPU before touching it.
#[derive(Debug)]
pub(crate) struct HwConfig {
    /// SoC name, for messages.
    pub(crate) soc: &'static str,
    /// SoC number as userspace knows it (0x8103 for t8103 ...).
    pub(crate) chip_id: u32,
    /// Highest GPU core clock of the SoC's performance states, in MHz
    /// (AsahiLinux/m1n1:rust/src/gpu/hw/*.rs, the last entry of each table).
    pub(crate) max_freq_mhz: u32,
    /// Generation.
    pub(crate) gpu_gen: GpuGen,
    /// Size within the generation.
    pub(crate) gpu_variant: GpuVariant,
    /// The firmware's own identifier for this core (its `GpuCore` enumeration); the init data
    /// will carry it.
    #[cfg_attr(not(CONFIG_DRM_ASAHI_KUNIT_TEST), allow(dead_code))]
    pub(crate) gpu_core: u32,
    /// Number of dies (2 for the Ultra parts).
    pub(crate) num_dies: u32,
    /// Maximum number of clusters over all dies.
    pub(crate) max_num_clusters: u32,
    /// Maximum number of shader cores per cluster.
    pub(crate) max_num_cores: u32,
    /// Maximum number of fragment units per cluster.
    #[cfg_attr(not(CONFIG_DRM_ASAHI_KUNIT_TEST), allow(dead_code))]
    pub(crate) max_num_frags: u32,
    /// Maximum number of geometry processors per cluster.
    pub(crate) max_num_gps: u32,
    /// UAT input address size in bits, per half (TTB0 / TTB1).
    #[cfg_attr(not(CONFIG_DRM_ASAHI_KUNIT_TEST), allow(dead_code))]
    pub(crate) uat_ias: u32,
    /// UAT output (physical) address size in bits.
    pub(crate) uat_oas: u32,
    /// Frequency of the GPU timestamp counter (reported to userspace).
    #[cfg_attr(not(CONFIG_DRM_ASAHI_KUNIT_TEST), allow(dead_code))]
    pub(crate) base_clock_hz: u32,
}

impl HwConfig {
    /// Whether this is one of the larger M2 parts, whose firmware ABI ("G14X") differs from the
    /// M2's.
    pub(crate) const fn is_g14x(&self) -> bool {
        matches!(self.gpu_gen, GpuGen::G14) && !matches!(self.gpu_variant, GpuVariant::G)
    }

    /// Maximum number of shader cores in the whole GPU.
    #[cfg_attr(not(CONFIG_DRM_ASAHI_KUNIT_TEST), allow(dead_code))]
    pub(crate) const fn max_total_cores(&self) -> u32 {
        self.max_num_clusters * self.max_num_cores
    }
}

/// Timestamp counter frequency shared by every supported SoC (24 MHz).
pub(crate) const BASE_CLOCK_HZ: u32 = 24_000_000;

/// UAT input address bits per half on every supported SoC (3 levels of 16 KiB pages).
pub(crate) const UAT_IAS: u32 = 39;

/// Every supported GPU, in OF-table order.
#[cfg_attr(not(CONFIG_DRM_ASAHI_KUNIT_TEST), allow(dead_code))]
pub(crate) static ALL: [&HwConfig; 8] = [
    &T8103, &T6000, &T6001, &T6002, &T8112, &T6020, &T6021, &T6022,
];

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_hw_config)]
mod tests {
    use super::*;

    #[test]
    fn soc_names_are_unique() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert!(a.soc != b.soc);
            }
        }
    }

    #[test]
    fn firmware_core_ids_follow_the_firmware_enum() {
        // The firmware numbers its cores G13G = 11 ... G14D = 18; the Ultra M1 reuses the Max id.
        assert_eq!(T8103.gpu_core, 11);
        assert_eq!(T6000.gpu_core, 12);
        assert_eq!(T6001.gpu_core, 13);
        assert_eq!(T6002.gpu_core, T6001.gpu_core);
        assert_eq!(T8112.gpu_core, 15);
        assert_eq!(T6020.gpu_core, 16);
        assert_eq!(T6021.gpu_core, 17);
        assert_eq!(T6022.gpu_core, 18);
    }

    #[test]
    fn sizes_are_consistent() {
        for hw in ALL {
            // Fragment units pair with cores; clusters split evenly over dies.
            assert_eq!(hw.max_num_frags, hw.max_num_cores);
            assert!(hw.max_num_gps > 0 && hw.max_num_gps <= hw.max_num_cores);
            assert_eq!(hw.max_num_clusters % hw.num_dies, 0);
            // A two-die part is exactly twice the single-die part of its generation.
            if hw.gpu_variant == GpuVariant::D {
                assert_eq!(hw.num_dies, 2);
            } else {
                assert_eq!(hw.num_dies, 1);
            }
            assert!(hw.max_total_cores() <= 80);
        }
    }

    #[test]
    fn address_sizes_match_the_part() {
        for hw in ALL {
            assert_eq!(hw.uat_ias, UAT_IAS);
            assert_eq!(hw.base_clock_hz, BASE_CLOCK_HZ);
            // Base parts address 40 bits of memory, the larger ones 42.
            let oas = if hw.gpu_variant == GpuVariant::G {
                40
            } else {
                42
            };
            assert_eq!(hw.uat_oas, oas);
        }
    }

    #[test]
    fn chip_ids_are_the_soc_numbers() {
        for hw in ALL {
            // "t8103" is chip 0x8103: the SoC number read as hexadecimal digits.
            let digits = hw.soc.strip_prefix('t').map(str::as_bytes).unwrap_or(&[]);
            let mut id = 0u32;
            for d in digits {
                id = id * 16 + u32::from(d - b'0');
            }
            assert_eq!(hw.chip_id, id);
            // M1-family parts clock lower than the M2 family.
            let want = match (hw.gpu_gen, hw.gpu_variant) {
                (GpuGen::G13, GpuVariant::G) => 1278,
                (GpuGen::G13, _) => 1296,
                (GpuGen::G14, _) => 1398,
            };
            assert_eq!(hw.max_freq_mhz, want);
        }
    }

    #[test]
    fn g14x_is_the_large_m2_family() {
        for hw in ALL {
            assert_eq!(hw.is_g14x(), matches!(hw.soc, "t6020" | "t6021" | "t6022"));
        }
    }
}
