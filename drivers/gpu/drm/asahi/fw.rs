// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Firmware structures of every supported ABI, and the choice of one ([`version`]).
//!
//! The structures live as reviewed data in `firmware-defs/`; `tools/fwgen` checks their
//! layouts against recorded facts and generates one module per ABI variant (`g13_v12_3`,
//! `g14x_v13_5`, ...), the shared unaligned integer types (`common`) and the `abi::FwAbi`
//! trait that lets code be written once for all variants. The Kbuild Makefile runs fwgen into
//! the build output; nothing generated is kept in the source tree.
//!
//! The version-neutral layer (issue 13's choice): fwgen emits, per struct every variant has,
//! a field-access trait `abi::<Struct>Fields<A>` that `FwAbi`'s associated types implement,
//! and the GPU manager's code that builds InitData, channels and jobs is generic over
//! `A: abi::FwAbi`, monomorphised once per ABI at the one place probe picks it. We chose
//! that over a `dyn` boundary because the ABI never changes after probe (dynamic dispatch
//! would buy nothing), the structures stay plain `#[repr(C)]` values the firmware reads,
//! and the same generic code is compiled on the host by fwgen's tests and used by the model.
//! A field that some ABIs lack reads as `None` and its setter returns `false`; a field whose
//! type differs by ABI has no accessor and must be handled per variant.

pub(crate) mod version;

include!(concat!(
    env!("OBJTREE"),
    "/drivers/gpu/drm/asahi/fw_generated.rs"
));

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_fw_generated)]
mod tests {
    use super::abi;
    use crate::{
        fw::version::{
            FwAbi,
            FwVersion, //
        },
        hw,
    };

    /// The generated variant `A` is the one the driver selects as `sel`, for every SoC the
    /// firmware definitions list for it.
    fn matches_driver<A: abi::FwAbi>(sel: FwAbi) {
        assert_eq!(A::NAME, sel.name());
        assert_eq!(FwVersion(A::FIRMWARE), sel.version());
        assert!(!A::SOCS.is_empty());
        for soc in A::SOCS {
            let hw = hw::ALL.iter().find(|hw| hw.soc == *soc);
            assert!(hw.is_some());
            if let Some(hw) = hw {
                assert_eq!(FwAbi::select(hw, sel.version()), Some(sel));
            }
        }
    }

    #[test]
    fn generated_variants_match_the_driver_matrix() {
        matches_driver::<abi::G13V12_3>(FwAbi::G13V12_3);
        matches_driver::<abi::G14V12_4>(FwAbi::G14V12_4);
        matches_driver::<abi::G13V13_5>(FwAbi::G13V13_5);
        matches_driver::<abi::G14V13_5>(FwAbi::G14V13_5);
        matches_driver::<abi::G14XV13_5>(FwAbi::G14XV13_5);
    }

    #[test]
    fn every_supported_soc_has_a_variant() {
        let all = [
            (<abi::G13V12_3 as abi::FwAbi>::SOCS, FwAbi::G13V12_3),
            (<abi::G14V12_4 as abi::FwAbi>::SOCS, FwAbi::G14V12_4),
            (<abi::G13V13_5 as abi::FwAbi>::SOCS, FwAbi::G13V13_5),
            (<abi::G14V13_5 as abi::FwAbi>::SOCS, FwAbi::G14V13_5),
            (<abi::G14XV13_5 as abi::FwAbi>::SOCS, FwAbi::G14XV13_5),
        ];
        for hw in hw::ALL {
            // Every SoC runs 13.5 firmware, and the generated data agrees with the selection.
            let sel = FwAbi::select(hw, FwVersion([13, 5, 0]));
            assert!(sel.is_some());
            assert!(all
                .iter()
                .any(|(socs, abi)| Some(*abi) == sel && socs.contains(&hw.soc)));
        }
    }
}
