// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! What the machine under test is, independently of what the driver reports.
//!
//! The SoC comes from the GPU node's first compatible (`apple,agx-g13g` ...), read through
//! sysfs; the table gives what GET_PARAMS must say for it. Sizes and chip numbers are Apple's
//! (asahi-driver-facts.md §2.1); revisions and core masks are those of the simulated machines,
//! which have every core enabled and the revisions public reports show (B1 for the M1 family,
//! B0 for the M2 family; mesa-asahi-userspace.md §2.6).

use std::fs;

/// The GET_PARAMS identity of one SoC.
#[derive(Debug)]
pub(crate) struct Soc {
    /// SoC name.
    pub(crate) name: &'static str,
    /// The GPU node's first compatible string.
    pub(crate) compatible: &'static str,
    /// 13 (M1) or 14 (M2).
    pub(crate) generation: u32,
    /// 'G', 'S', 'C' or 'D'.
    pub(crate) variant: u8,
    /// Silicon revision of the simulated part.
    pub(crate) revision: u32,
    /// Chip number.
    pub(crate) chip_id: u32,
    /// Dies.
    pub(crate) dies: u32,
    /// Clusters over all dies.
    pub(crate) clusters: u32,
    /// Cores per cluster.
    pub(crate) cores_per_cluster: u32,
    /// Highest GPU clock, kHz.
    pub(crate) max_frequency_khz: u32,
}

const fn soc(
    name: &'static str,
    compatible: &'static str,
    generation: u32,
    variant: u8,
    chip_id: u32,
    (dies, clusters): (u32, u32),
    max_frequency_khz: u32,
) -> Soc {
    Soc {
        name,
        compatible,
        generation,
        variant,
        revision: if generation == 13 { 0x11 } else { 0x10 },
        chip_id,
        dies,
        clusters,
        cores_per_cluster: if generation == 13 { 8 } else { 10 },
        max_frequency_khz,
    }
}

/// Every SoC the simulated Mac can be.
pub(crate) const SOCS: [Soc; 8] = [
    soc(
        "t8103",
        "apple,agx-g13g",
        13,
        b'G',
        0x8103,
        (1, 1),
        1_278_000,
    ),
    soc(
        "t6000",
        "apple,agx-g13s",
        13,
        b'S',
        0x6000,
        (1, 2),
        1_296_000,
    ),
    soc(
        "t6001",
        "apple,agx-g13c",
        13,
        b'C',
        0x6001,
        (1, 4),
        1_296_000,
    ),
    soc(
        "t6002",
        "apple,agx-g13d",
        13,
        b'D',
        0x6002,
        (2, 8),
        1_296_000,
    ),
    soc(
        "t8112",
        "apple,agx-g14g",
        14,
        b'G',
        0x8112,
        (1, 1),
        1_398_000,
    ),
    soc(
        "t6020",
        "apple,agx-g14s",
        14,
        b'S',
        0x6020,
        (1, 2),
        1_398_000,
    ),
    soc(
        "t6021",
        "apple,agx-g14c",
        14,
        b'C',
        0x6021,
        (1, 4),
        1_398_000,
    ),
    soc(
        "t6022",
        "apple,agx-g14d",
        14,
        b'D',
        0x6022,
        (2, 8),
        1_398_000,
    ),
];

/// The SoC of the machine the test runs on.
pub(crate) fn this_soc() -> Result<&'static Soc, String> {
    let node = crate::drm::render_node()?;
    let name = node
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("render node name")?
        .to_owned();
    let path = format!("/sys/class/drm/{name}/device/of_node/compatible");
    let raw = fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
    let first = raw.split(|b| *b == 0).next().unwrap_or(&[]);
    let first = std::str::from_utf8(first).map_err(|_| format!("{path}: not UTF-8"))?;
    SOCS.iter()
        .find(|s| s.compatible == first)
        .ok_or_else(|| format!("{path}: unknown GPU {first:?}"))
}
