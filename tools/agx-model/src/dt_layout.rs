// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Reads the layout file the device-tree generator writes beside the DTS
//! (`tools/testing/dt/sim_dt.py`: `BASE.json`), so the model serves exactly the addresses the
//! kernel was told about.
//!
//! Fields used: `soc`, `blocks.{sgx,asc,mbox}.{base,size}` and, when the tree has the TLB
//! bridge, `blocks.tlbi` (simulated physical addresses), and
//! `regions.{handoff,ttbs}.base`. The blocks must satisfy [`Layout::validate`]; in particular they
//! must lie in the first 16 MiB of the window, which UML's `logic_iomem` can address (see
//! [`crate::layout`]). A file that keeps the real relative placement (asc 0x240_0000 above
//! sgx) is refused with that explanation rather than served wrongly.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use thiserror::Error as ThisError;

use crate::fw::FwVersion;
use crate::layout::{Block, Layout, LayoutError, Region, WINDOW_BASE};
use crate::soc::Soc;

/// Errors reading the layout file.
#[derive(Debug, ThisError)]
pub enum DtLayoutError {
    /// The file could not be read.
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
    /// Not the expected JSON.
    #[error("{0} is not a device-tree layout: {1}")]
    Json(String, serde_json::Error),
    /// Unknown SoC name.
    #[error("{0}")]
    Soc(String),
    /// The firmware release is not a version.
    #[error("{0}")]
    Firmware(String),
    /// A block is missing.
    #[error("layout has no {0:?} block")]
    MissingBlock(&'static str),
    /// A block lies below the window.
    #[error("block {0} at 0x{1:x} lies below the platform window 0x{WINDOW_BASE:x}")]
    BelowWindow(&'static str, u64),
    /// The placement breaks a constraint.
    #[error("{0}; UML's platform window only reaches blocks within 16 MiB of 0x{WINDOW_BASE:x} (lib/logic_iomem.c AREA_SHIFT = 24), so the blocks must be packed there (see agx-model --print-layout)")]
    Layout(LayoutError),
}

#[derive(Deserialize)]
struct Span {
    base: u64,
    size: u64,
}

#[derive(Deserialize)]
struct File {
    soc: String,
    /// The release written into `apple,firmware-abi`, e.g. "13.5".
    #[serde(default)]
    firmware: Option<String>,
    blocks: BTreeMap<String, Span>,
    #[serde(default)]
    regions: BTreeMap<String, Span>,
}

/// What the layout file determines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtLayout {
    /// SoC the tree was made for.
    pub soc: Soc,
    /// Firmware release the tree names, if it names one.
    pub firmware: Option<FwVersion>,
    /// Block placement (irqctl keeps its default, and tlbi when the tree has no bridge).
    pub layout: Layout,
    /// Physical address of the handoff region.
    pub handoff: Option<u64>,
    /// Physical address of the TTBAT (`ttbs` region).
    pub ttbs: Option<u64>,
}

/// A block of the tree, as an offset into the platform window.
fn window_block(key: &'static str, span: &Span) -> Result<Block, DtLayoutError> {
    let offset = span
        .base
        .checked_sub(WINDOW_BASE)
        .ok_or(DtLayoutError::BelowWindow(key, span.base))?;
    Ok(Block {
        offset,
        size: span.size,
    })
}

impl DtLayout {
    /// Parses the JSON text.
    pub fn parse(name: &str, text: &str) -> Result<DtLayout, DtLayoutError> {
        let f: File =
            serde_json::from_str(text).map_err(|e| DtLayoutError::Json(name.to_string(), e))?;
        let soc: Soc = f.soc.parse().map_err(DtLayoutError::Soc)?;
        let firmware = f
            .firmware
            .as_deref()
            .map(str::parse::<FwVersion>)
            .transpose()
            .map_err(DtLayoutError::Firmware)?;
        let mut layout = Layout::default();
        for (key, region) in [
            ("sgx", Region::Sgx),
            ("asc", Region::Asc),
            ("mbox", Region::Mbox),
        ] {
            let span = f.blocks.get(key).ok_or(DtLayoutError::MissingBlock(key))?;
            *layout.block_mut(region) = window_block(key, span)?;
        }
        // The TLB bridge node is optional: without it the kernel forwards no invalidations.
        if let Some(span) = f.blocks.get("tlbi") {
            layout.tlbi = window_block("tlbi", span)?;
        }
        layout.validate().map_err(DtLayoutError::Layout)?;
        Ok(DtLayout {
            soc,
            firmware,
            layout,
            handoff: f.regions.get("handoff").map(|s| s.base),
            ttbs: f.regions.get("ttbs").map(|s| s.base),
        })
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<DtLayout, DtLayoutError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| DtLayoutError::Io(name.clone(), e))?;
        Self::parse(&name, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(asc: u64, mbox: u64) -> String {
        format!(
            r#"{{"soc": "t8112", "window_base": 268435456,
               "blocks": {{"asc": {{"base": {asc}, "size": 262144, "real_base": 8696889344}},
                          "sgx": {{"base": 268435456, "size": 16777216, "real_base": 8657043456}},
                          "mbox": {{"base": {mbox}, "size": 16384, "real_base": 8696922112}}}},
               "regions": {{"handoff": {{"base": 805322752, "size": 16384}},
                           "ttbs": {{"base": 805306368, "size": 16384}}}}}}"#
        )
    }

    #[test]
    fn packed_layout_is_accepted() {
        let d = DtLayout::parse("x", &json(0x1040_0000, 0x1040_8000)).unwrap();
        assert_eq!(d.soc, Soc::T8112);
        assert_eq!(d.layout, Layout::default());
        assert_eq!(d.handoff, Some(0x3000_4000));
        assert_eq!(d.ttbs, Some(0x3000_0000));
    }

    #[test]
    fn real_relative_placement_is_refused_with_the_reason() {
        let e = DtLayout::parse("x", &json(0x1240_0000, 0x1240_8000)).unwrap_err();
        assert!(matches!(
            e,
            DtLayoutError::Layout(LayoutError::OutOfWindow(..))
        ));
        assert!(e.to_string().contains("16 MiB"), "{e}");
        assert!(matches!(
            DtLayout::parse("x", "{}"),
            Err(DtLayoutError::Json(..))
        ));
    }

    #[test]
    fn tlb_bridge_block_is_placed_where_the_tree_says() {
        let with = json(0x1040_0000, 0x1040_8000).replace(
            r#""mbox": {"#,
            r#""tlbi": {"base": 285143040, "size": 4096, "real_base": null}, "mbox": {"#,
        );
        let d = DtLayout::parse("x", &with).unwrap();
        assert_eq!(d.layout.tlbi.offset, 0xfe_f000);
        assert_eq!(d.layout.tlbi.size, 0x1000);
        // A bridge that would hide the mailbox is refused.
        let clash = json(0x1040_0000, 0x1040_8000).replace(
            r#""mbox": {"#,
            r#""tlbi": {"base": 272662528, "size": 4096, "real_base": null}, "mbox": {"#,
        );
        assert!(matches!(
            DtLayout::parse("x", &clash),
            Err(DtLayoutError::Layout(..))
        ));
    }
}
