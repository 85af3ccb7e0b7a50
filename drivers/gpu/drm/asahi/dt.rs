// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Reading the GPU's device-tree node.
//!
//! We follow the upstream binding (`Documentation/devicetree/bindings/gpu/apple,agx.yaml`):
//! six named reserved-memory regions and `apple,firmware-abi`, all completed by the bootloader
//! (m1n1). The downstream Asahi binding (SoC compatibles such as `apple,agx-t8103`,
//! `apple,firmware-compat`, per-SoC power tables) is not supported; a node in that form is
//! reported with what the user needs instead of being ignored.
//!
//! The checks run against the [`GpuNode`] trait so that KUnit can feed them good and broken
//! nodes without a device tree.

use kernel::{
    of_reserved_mem::Region,
    prelude::*, //
};

use crate::fw::version::FwVersion;

/// What this module needs to read from a GPU node.
pub(crate) trait GpuNode {
    /// Whether the node has a property called `name`.
    fn has_property(&self, name: &CStr) -> bool;

    /// Number of 32-bit cells in property `name`.
    fn u32_count(&self, name: &CStr) -> Result<usize>;

    /// Reads a property of exactly three 32-bit cells.
    fn read_u32x3(&self, name: &CStr) -> Result<[u32; 3]>;

    /// Physical range of the reserved-memory region the node names `name`.
    fn region(&self, name: &CStr) -> Result<Region>;
}

/// The property through which the bootloader names the firmware ABI.
pub(crate) const FIRMWARE_ABI: &CStr = c"apple,firmware-abi";

/// The downstream binding's name for the same information.
const DOWNSTREAM_FIRMWARE_COMPAT: &CStr = c"apple,firmware-compat";

/// The reserved memory regions of one GPU, by binding name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Regions {
    /// TTBAT: the GPU's table of translation-table bases, one entry per context.
    pub(crate) ttbs: Region,
    /// The firmware's kernel page tables (upper half of every context).
    pub(crate) pagetables: Region,
    /// The page through which driver and firmware coordinate UAT changes.
    pub(crate) handoff: Region,
    /// Power calibration blob written by the bootloader.
    pub(crate) hw_cal_a: Region,
    /// GPU calibration blob written by the bootloader.
    pub(crate) hw_cal_b: Region,
    /// Firmware globals, pre-filled by the bootloader.
    pub(crate) globals: Region,
}

/// Everything the node tells us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GpuDescription {
    /// The macOS release whose firmware ABI the resident firmware speaks.
    pub(crate) firmware_abi: FwVersion,
    /// Reserved memory shared with the firmware.
    pub(crate) regions: Regions,
}

/// TTBAT size: 64 contexts of two 64-bit table bases (jannau/linux:drivers/gpu/drm/asahi/mmu.rs).
const TTBS_MIN_SIZE: u64 = 64 * 16;
/// Size of the handoff structure (AsahiLinux/m1n1:proxyclient/m1n1/fw/agx/handoff.py).
const HANDOFF_MIN_SIZE: u64 = 0x648;
/// The top-level page table is one 16 KiB GPU page.
const PAGETABLES_MIN_SIZE: u64 = 0x4000;

/// Why a node cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DtError {
    /// The node uses the downstream Asahi binding.
    DownstreamBinding,
    /// `apple,firmware-abi` is missing.
    NoFirmwareAbi,
    /// `apple,firmware-abi` does not hold three cells (it has this many).
    MalformedFirmwareAbi(usize),
    /// `apple,firmware-abi` is still the `<0 0 0>` placeholder: no bootloader filled it in.
    FirmwareAbiUnset,
    /// A reserved region is missing or malformed (binding name, error).
    MissingRegion(&'static CStr, Error),
    /// A reserved region is smaller than what it must hold (name, size, minimum).
    RegionTooSmall(&'static CStr, u64, u64),
}

impl DtError {
    /// The errno probe returns for this problem.
    pub(crate) fn to_errno(self) -> Error {
        match self {
            DtError::MalformedFirmwareAbi(_) | DtError::RegionTooSmall(..) => EINVAL,
            _ => ENODEV,
        }
    }
}

impl kernel::fmt::Display for DtError {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        match self {
            DtError::DownstreamBinding => f.write_str(
                "device tree uses the downstream Asahi GPU binding (apple,firmware-compat); \
                 this driver needs the upstream binding (gpu/apple,agx.yaml, Linux 7.2 DTS) \
                 completed by m1n1 1.6 or later",
            ),
            DtError::NoFirmwareAbi => write!(
                f,
                "no {} property: the bootloader must name the firmware ABI (m1n1 1.6 or later)",
                FIRMWARE_ABI.to_str().unwrap_or("?")
            ),
            DtError::MalformedFirmwareAbi(n) => write!(
                f,
                "{} has {} cells, expected 3",
                FIRMWARE_ABI.to_str().unwrap_or("?"),
                n
            ),
            DtError::FirmwareAbiUnset => write!(
                f,
                "{} is <0 0 0>: the bootloader did not fill it in (m1n1 1.6 or later needed)",
                FIRMWARE_ABI.to_str().unwrap_or("?")
            ),
            DtError::MissingRegion(name, err) => write!(
                f,
                "reserved memory region '{}' missing or invalid ({:?}): the bootloader must \
                 fill in and enable it",
                name.to_str().unwrap_or("?"),
                err
            ),
            DtError::RegionTooSmall(name, size, min) => write!(
                f,
                "reserved memory region '{}' is {:#x} bytes, needs at least {:#x}",
                name.to_str().unwrap_or("?"),
                size,
                min
            ),
        }
    }
}

/// Looks up one region and checks it can hold `min` bytes.
fn region(node: &impl GpuNode, name: &'static CStr, min: u64) -> Result<Region, DtError> {
    let region = node
        .region(name)
        .map_err(|e| DtError::MissingRegion(name, e))?;
    let size: u64 = region.size();
    if size < min.max(1) {
        return Err(DtError::RegionTooSmall(name, size, min.max(1)));
    }
    Ok(region)
}

/// Reads and checks the GPU node.
pub(crate) fn parse(node: &impl GpuNode) -> Result<GpuDescription, DtError> {
    if node.has_property(DOWNSTREAM_FIRMWARE_COMPAT) && !node.has_property(FIRMWARE_ABI) {
        return Err(DtError::DownstreamBinding);
    }
    if !node.has_property(FIRMWARE_ABI) {
        return Err(DtError::NoFirmwareAbi);
    }
    match node.u32_count(FIRMWARE_ABI) {
        Ok(3) => {}
        Ok(n) => return Err(DtError::MalformedFirmwareAbi(n)),
        Err(_) => return Err(DtError::MalformedFirmwareAbi(0)),
    }
    let firmware_abi = FwVersion(
        node.read_u32x3(FIRMWARE_ABI)
            .map_err(|_| DtError::MalformedFirmwareAbi(0))?,
    );
    if firmware_abi == FwVersion::UNSET {
        return Err(DtError::FirmwareAbiUnset);
    }

    let regions = Regions {
        ttbs: region(node, c"ttbs", TTBS_MIN_SIZE)?,
        pagetables: region(node, c"pagetables", PAGETABLES_MIN_SIZE)?,
        handoff: region(node, c"handoff", HANDOFF_MIN_SIZE)?,
        hw_cal_a: region(node, c"hw-cal-a", 1)?,
        hw_cal_b: region(node, c"hw-cal-b", 1)?,
        globals: region(node, c"globals", 1)?,
    };
    Ok(GpuDescription {
        firmware_abi,
        regions,
    })
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_dt)]
mod tests {
    use super::*;

    /// A GPU node made of a fixed set of properties and regions.
    struct FakeNode {
        abi: Option<&'static [u32]>,
        downstream: bool,
        regions: &'static [(&'static CStr, u64, u64)],
    }

    const GOOD_REGIONS: &[(&CStr, u64, u64)] = &[
        (c"ttbs", 0x1_0000_0000, 0x4000),
        (c"pagetables", 0x1_0000_4000, 0x4000),
        (c"handoff", 0x1_0000_8000, 0x4000),
        (c"hw-cal-a", 0x1_0001_0000, 0x8000),
        (c"hw-cal-b", 0x1_0001_8000, 0x4000),
        (c"globals", 0x1_0002_0000, 0x20000),
    ];

    impl GpuNode for FakeNode {
        fn has_property(&self, name: &CStr) -> bool {
            (name == FIRMWARE_ABI && self.abi.is_some())
                || (name == DOWNSTREAM_FIRMWARE_COMPAT && self.downstream)
        }

        fn u32_count(&self, name: &CStr) -> Result<usize> {
            match (name == FIRMWARE_ABI, self.abi) {
                (true, Some(v)) => Ok(v.len()),
                _ => Err(EINVAL),
            }
        }

        fn read_u32x3(&self, name: &CStr) -> Result<[u32; 3]> {
            match (name == FIRMWARE_ABI, self.abi) {
                (true, Some(&[a, b, c])) => Ok([a, b, c]),
                _ => Err(EOVERFLOW),
            }
        }

        fn region(&self, name: &CStr) -> Result<Region> {
            self.regions
                .iter()
                .find(|(n, _, _)| *n == name)
                .map(|&(_, start, size)| Region::new(start, size))
                .ok_or(ENODEV)
        }
    }

    fn node(abi: Option<&'static [u32]>) -> FakeNode {
        FakeNode {
            abi,
            downstream: false,
            regions: GOOD_REGIONS,
        }
    }

    #[test]
    fn good_node() {
        let desc = parse(&node(Some(&[13, 5, 0])));
        assert!(desc.is_ok());
        if let Ok(desc) = desc {
            assert_eq!(desc.firmware_abi, FwVersion([13, 5, 0]));
            assert_eq!(desc.regions.ttbs, Region::new(0x1_0000_0000, 0x4000));
            assert_eq!(desc.regions.globals, Region::new(0x1_0002_0000, 0x20000));
        }
    }

    #[test]
    fn downstream_node_is_named() {
        let n = FakeNode {
            abi: None,
            downstream: true,
            regions: &[],
        };
        assert_eq!(parse(&n), Err(DtError::DownstreamBinding));
        assert_eq!(DtError::DownstreamBinding.to_errno(), ENODEV);
    }

    #[test]
    fn firmware_abi_problems() {
        assert_eq!(parse(&node(None)), Err(DtError::NoFirmwareAbi));
        assert_eq!(
            parse(&node(Some(&[0, 0, 0]))),
            Err(DtError::FirmwareAbiUnset)
        );
        assert_eq!(
            parse(&node(Some(&[13, 5]))),
            Err(DtError::MalformedFirmwareAbi(2))
        );
        assert_eq!(
            parse(&node(Some(&[13, 5, 0, 1]))),
            Err(DtError::MalformedFirmwareAbi(4))
        );
        assert_eq!(DtError::MalformedFirmwareAbi(2).to_errno(), EINVAL);
    }

    #[test]
    fn each_region_is_required() {
        static WITHOUT: [[(&CStr, u64, u64); 5]; 6] = {
            let mut out = [[(c"", 0, 0); 5]; 6];
            let mut skip = 0;
            while skip < 6 {
                let mut i = 0;
                let mut j = 0;
                while i < 6 {
                    if i != skip {
                        out[skip][j] = GOOD_REGIONS[i];
                        j += 1;
                    }
                    i += 1;
                }
                skip += 1;
            }
            out
        };
        for (skip, regions) in WITHOUT.iter().enumerate() {
            let n = FakeNode {
                abi: Some(&[12, 3, 0]),
                downstream: false,
                regions,
            };
            assert_eq!(
                parse(&n),
                Err(DtError::MissingRegion(GOOD_REGIONS[skip].0, ENODEV))
            );
        }
    }

    #[test]
    fn small_regions_are_refused() {
        let n = FakeNode {
            abi: Some(&[13, 5, 0]),
            downstream: false,
            regions: &[
                (c"ttbs", 0x1_0000_0000, 0x4000),
                (c"pagetables", 0x1_0000_4000, 0x4000),
                (c"handoff", 0x1_0000_8000, 0x100),
                (c"hw-cal-a", 0x1_0001_0000, 0x8000),
                (c"hw-cal-b", 0x1_0001_8000, 0x4000),
                (c"globals", 0x1_0002_0000, 0x20000),
            ],
        };
        assert_eq!(
            parse(&n),
            Err(DtError::RegionTooSmall(c"handoff", 0x100, HANDOFF_MIN_SIZE))
        );
    }
}
