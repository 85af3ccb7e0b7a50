// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Choosing the firmware ABI.
//!
//! The GPU firmware is paired with a macOS release, and its shared-memory structures change
//! between releases and GPU generations. The bootloader writes the release whose ABI the
//! resident firmware speaks into `apple,firmware-abi`; this module maps (GPU, release) to one
//! of the ABI variants the driver is built with, and refuses everything else.
//!
//! Supported combinations, as the Asahi driver ships them (jannau/linux:drivers/gpu/drm/asahi/
//! driver.rs): G13 with 12.3 and 13.5, G14G with 12.4 and 13.5, G14X (M2 Pro/Max/Ultra) with
//! 13.5. m1n1 already folds point releases onto these (12.3.1 -> 12.3, 13.6.1 -> 13.5:
//! AsahiLinux/m1n1:src/kboot_gpu.c), so the match is exact.

use kernel::fmt;

use crate::hw::{
    GpuGen,
    HwConfig, //
};

/// A macOS release number as the bootloader writes it: major, minor, patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FwVersion(pub(crate) [u32; 3]);

impl FwVersion {
    /// The placeholder the device-tree sources carry until the bootloader fills it in.
    pub(crate) const UNSET: FwVersion = FwVersion([0, 0, 0]);
}

impl fmt::Display for FwVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0[0], self.0[1], self.0[2])
    }
}

/// One firmware ABI the driver is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FwAbi {
    /// M1 family, macOS 12.3 firmware.
    G13V12_3,
    /// M2, macOS 12.4 firmware.
    G14V12_4,
    /// M1 family, macOS 13.5 firmware.
    G13V13_5,
    /// M2, macOS 13.5 firmware.
    G14V13_5,
    /// M2 Pro/Max/Ultra, macOS 13.5 firmware.
    G14XV13_5,
}

impl FwAbi {
    /// The firmware release this ABI belongs to.
    #[cfg_attr(not(CONFIG_DRM_ASAHI_KUNIT_TEST), allow(dead_code))]
    pub(crate) const fn version(self) -> FwVersion {
        match self {
            FwAbi::G13V12_3 => FwVersion([12, 3, 0]),
            FwAbi::G14V12_4 => FwVersion([12, 4, 0]),
            FwAbi::G13V13_5 | FwAbi::G14V13_5 | FwAbi::G14XV13_5 => FwVersion([13, 5, 0]),
        }
    }

    /// Short name, as the generated firmware-structure modules are named.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            FwAbi::G13V12_3 => "g13_v12_3",
            FwAbi::G14V12_4 => "g14_v12_4",
            FwAbi::G13V13_5 => "g13_v13_5",
            FwAbi::G14V13_5 => "g14_v13_5",
            FwAbi::G14XV13_5 => "g14x_v13_5",
        }
    }

    /// Picks the ABI for `hw` running the firmware of release `version`.
    ///
    /// Returns `None` for a combination the driver does not support.
    pub(crate) fn select(hw: &HwConfig, version: FwVersion) -> Option<FwAbi> {
        let abi = match (hw.gpu_gen, hw.is_g14x(), version.0) {
            (GpuGen::G13, _, [12, 3, 0]) => FwAbi::G13V12_3,
            (GpuGen::G13, _, [13, 5, 0]) => FwAbi::G13V13_5,
            (GpuGen::G14, false, [12, 4, 0]) => FwAbi::G14V12_4,
            (GpuGen::G14, false, [13, 5, 0]) => FwAbi::G14V13_5,
            (GpuGen::G14, true, [13, 5, 0]) => FwAbi::G14XV13_5,
            _ => return None,
        };
        Some(abi)
    }
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_fw_abi)]
mod tests {
    use super::*;
    use crate::hw;

    #[test]
    fn supported_combinations() {
        let v12_3 = FwVersion([12, 3, 0]);
        let v12_4 = FwVersion([12, 4, 0]);
        let v13_5 = FwVersion([13, 5, 0]);
        for hw in [&hw::T8103, &hw::T6000, &hw::T6001, &hw::T6002] {
            assert_eq!(FwAbi::select(hw, v12_3), Some(FwAbi::G13V12_3));
            assert_eq!(FwAbi::select(hw, v13_5), Some(FwAbi::G13V13_5));
            assert_eq!(FwAbi::select(hw, v12_4), None);
        }
        assert_eq!(FwAbi::select(&hw::T8112, v12_4), Some(FwAbi::G14V12_4));
        assert_eq!(FwAbi::select(&hw::T8112, v13_5), Some(FwAbi::G14V13_5));
        assert_eq!(FwAbi::select(&hw::T8112, v12_3), None);
        for hw in [&hw::T6020, &hw::T6021, &hw::T6022] {
            assert_eq!(FwAbi::select(hw, v13_5), Some(FwAbi::G14XV13_5));
            // The M2 Pro/Max/Ultra never shipped with 12.x firmware.
            assert_eq!(FwAbi::select(hw, v12_4), None);
            assert_eq!(FwAbi::select(hw, v12_3), None);
        }
    }

    #[test]
    fn unknown_releases_are_refused() {
        for hw in hw::ALL {
            for v in [
                [0, 0, 0],
                [13, 5, 1],
                [13, 6, 0],
                [14, 0, 0],
                [12, 3, 1],
                [u32::MAX; 3],
            ] {
                assert_eq!(FwAbi::select(hw, FwVersion(v)), None);
            }
        }
    }

    #[test]
    fn the_thirteen_shipped_pairs_each_select_an_abi_of_their_version() {
        // What the driver must accept (shared/ARCHITECTURE.md, firmware definitions): every
        // base and Pro/Max/Ultra M1 with 12.3 and 13.5, the base M2 with 12.4 and 13.5, the
        // M2 Pro/Max/Ultra with 13.5.
        let pairs: [(&HwConfig, [u32; 3]); 13] = [
            (&hw::T8103, [12, 3, 0]),
            (&hw::T8103, [13, 5, 0]),
            (&hw::T6000, [12, 3, 0]),
            (&hw::T6000, [13, 5, 0]),
            (&hw::T6001, [12, 3, 0]),
            (&hw::T6001, [13, 5, 0]),
            (&hw::T6002, [12, 3, 0]),
            (&hw::T6002, [13, 5, 0]),
            (&hw::T8112, [12, 4, 0]),
            (&hw::T8112, [13, 5, 0]),
            (&hw::T6020, [13, 5, 0]),
            (&hw::T6021, [13, 5, 0]),
            (&hw::T6022, [13, 5, 0]),
        ];
        for (hw, v) in pairs {
            let abi = FwAbi::select(hw, FwVersion(v));
            assert!(abi.is_some());
            assert!(abi.is_some_and(|abi| abi.version() == FwVersion(v)));
        }
        // And nothing else among the known releases.
        let mut accepted = 0;
        for hw in hw::ALL {
            for v in [[12, 3, 0], [12, 4, 0], [13, 5, 0]] {
                accepted += usize::from(FwAbi::select(hw, FwVersion(v)).is_some());
            }
        }
        assert_eq!(accepted, 13);
    }
}
