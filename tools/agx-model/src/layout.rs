// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Where each register block sits in UML's platform MMIO window.
//!
//! This file is the single place that decides the simulated physical addresses; the device-tree
//! generator and the kernel-side interrupt glue take their numbers from here (see
//! `agx-model --print-layout`).
//!
//! # The window and why it is effectively 16 MiB
//!
//! UML forwards MMIO of the physical range `0x1000_0000..=0x1fff_ffff` to the one platform-mode
//! virtio_pcidev device (linux-7.2:arch/um/drivers/virt-pci.c `virt_platform_resource`,
//! `um_pci_map_platform`). `ioremap()` of that range hands out a cookie
//! `IOREMAP_BIAS + (area << 24) + offset`, where `offset` is the physical address minus
//! `0x1000_0000`, and every access is forwarded with `addr = cookie & 0xff_ffff` and `bar = 0`
//! (linux-7.2:lib/logic_iomem.c `ioremap`, `AREA_SHIFT`, `MAKE_OP`). Consequences:
//!
//! * a mapping whose offset reaches `0x100_0000` spills into the area-index bits and breaks, so
//!   every block must lie in `0x1000_0000..0x1100_0000`;
//! * the model sees only the window offset, never which mapping an access came through, so two
//!   blocks may overlap in the window only if the registers actually used do not collide.
//!
//! # Real addresses and the chosen translation
//!
//! The real parts (linux-7.2:arch/arm64/boot/dts/apple/{t8103,t8112,t600x-die0,t602x-die0}.dtsi,
//! nodes `gpu` and `agx_mbox`; die 0 on the multi-die parts):
//!
//! | block | t8103 / t8112 | t600x / t602x | size |
//! |---|---|---|---|
//! | `sgx` (GPU registers) | 0x2_0400_0000 | 0x4_0400_0000 | 0x100_0000 |
//! | `asc` (firmware CPU control) | 0x2_0640_0000 | 0x4_0640_0000 | 0x4_0000 |
//! | `agx_mbox` (ASC mailbox v4) | 0x2_0640_8000 | 0x4_0640_8000 | 0x4000 |
//!
//! The real offsets do not fit the 16 MiB window (asc is 0x240_0000 above sgx), and sgx alone is
//! 16 MiB, so the default layout overlays the smaller blocks on the sgx window where the sgx
//! registers the driver touches (ID at 0xd0_4000.., core masks at 0xd0_1500 / 0xe0_1500, fault
//! registers at 0x1_7030 / 0xd8c0; asahi-driver-facts.md §2.2) are not:
//!
//! | block | window offset | simulated physical address | size |
//! |---|---|---|---|
//! | sgx | 0x0 | 0x1000_0000 | 0x100_0000 |
//! | asc | 0x40_0000 | 0x1040_0000 | 0x4_0000 (the driver maps 0x4000) |
//! | mbox | 0x40_8000 | 0x1040_8000 | 0x4000 (inside asc, as on hardware) |
//! | irqctl (model only) | 0xff_f000 | 0x10ff_f000 | 0x1000 |
//! | tlbi (model only) | 0xff_e000 | 0x10ff_e000 | 0x1000 |
//!
//! Decoding is most specific first: irqctl, tlbi, mbox, asc, then sgx. Because the blocks overlap, a
//! driver that requests the whole sgx resource conflicts with the mailbox driver's request of
//! its own; the simulated device tree or the driver must allow for that.
//!
//! `irqctl` is not hardware: it lets the kernel-side interrupt glue read the four mailbox
//! interrupt levels and ask for a level to be re-sent (see [`crate::mmio`]). `tlbi` is not
//! hardware either: UML's stand-in for the arm64 TLBI broadcast, plus a UAT probe for tests
//! (see [`crate::tlbi`]).

use std::fmt;
use std::str::FromStr;

use thiserror::Error as ThisError;

/// First physical address of UML's platform MMIO window.
pub const WINDOW_BASE: u64 = 0x1000_0000;
/// Usable size of the window (see the module docs: 24-bit logic_iomem areas).
pub const WINDOW_SIZE: u64 = 0x100_0000;

/// A register block of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Region {
    /// The GPU register file (`reg-names = "sgx"`).
    Sgx,
    /// The firmware coprocessor control registers (`reg-names = "asc"`).
    Asc,
    /// The ASC mailbox (`apple,asc-mailbox-v4`).
    Mbox,
    /// Model-only interrupt-level registers for the kernel's interrupt glue.
    IrqCtl,
    /// Model-only TLB-invalidation forwarding and UAT probe registers ([`crate::tlbi`]).
    Tlbi,
}

impl Region {
    /// Every region, in decode priority order (most specific first).
    pub const ALL: [Region; 5] = [
        Region::IrqCtl,
        Region::Tlbi,
        Region::Mbox,
        Region::Asc,
        Region::Sgx,
    ];

    /// The short name used in traces (`asc+0x44`).
    pub fn name(self) -> &'static str {
        match self {
            Region::Sgx => "sgx",
            Region::Asc => "asc",
            Region::Mbox => "mbox",
            Region::IrqCtl => "irqctl",
            Region::Tlbi => "tlbi",
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One block: where it starts in the window and how large it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// Offset from [`WINDOW_BASE`].
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
}

impl Block {
    fn contains(&self, offset: u64) -> bool {
        offset >= self.offset && offset - self.offset < self.size
    }

    fn overlaps(&self, other: &Block) -> bool {
        self.offset < other.offset + other.size && other.offset < self.offset + self.size
    }
}

/// Errors in a `--layout` description.
#[derive(Debug, ThisError, PartialEq, Eq)]
pub enum LayoutError {
    /// Not `name=offset` or `name=offset:size`.
    #[error("layout entry {0:?} is not NAME=OFFSET[:SIZE]")]
    Syntax(String),
    /// Unknown block name.
    #[error("unknown layout block {0:?} (sgx, asc, mbox, irqctl, tlbi)")]
    UnknownBlock(String),
    /// A number did not parse.
    #[error("bad number {0:?} in layout")]
    Number(String),
    /// A block leaves the usable window.
    #[error("block {0} at 0x{1:x} size 0x{2:x} does not fit the 16 MiB window")]
    OutOfWindow(Region, u64, u64),
    /// The mailbox must not overlap the asc registers the model serves.
    #[error("mbox must not overlap the first 0x4000 bytes of asc")]
    MboxOverAsc,
    /// irqctl must not hide asc or mailbox registers.
    #[error("irqctl must not overlap asc's first 0x4000 bytes or mbox")]
    IrqCtlOverlap,
    /// tlbi must not hide asc, mailbox or irqctl registers.
    #[error("tlbi must not overlap asc's first 0x4000 bytes, mbox or irqctl")]
    TlbiOverlap,
}

/// The whole address plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// GPU register file.
    pub sgx: Block,
    /// ASC control registers.
    pub asc: Block,
    /// ASC mailbox.
    pub mbox: Block,
    /// Model-only interrupt-level block.
    pub irqctl: Block,
    /// Model-only TLB-invalidation and probe block.
    pub tlbi: Block,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            sgx: Block {
                offset: 0,
                size: 0x100_0000,
            },
            asc: Block {
                offset: 0x40_0000,
                size: 0x4_0000,
            },
            mbox: Block {
                offset: 0x40_8000,
                size: 0x4000,
            },
            irqctl: Block {
                offset: 0xff_f000,
                size: 0x1000,
            },
            tlbi: Block {
                offset: 0xff_e000,
                size: 0x1000,
            },
        }
    }
}

impl Layout {
    /// The block of `region`.
    pub fn block(&self, region: Region) -> Block {
        match region {
            Region::Sgx => self.sgx,
            Region::Asc => self.asc,
            Region::Mbox => self.mbox,
            Region::IrqCtl => self.irqctl,
            Region::Tlbi => self.tlbi,
        }
    }

    pub(crate) fn block_mut(&mut self, region: Region) -> &mut Block {
        match region {
            Region::Sgx => &mut self.sgx,
            Region::Asc => &mut self.asc,
            Region::Mbox => &mut self.mbox,
            Region::IrqCtl => &mut self.irqctl,
            Region::Tlbi => &mut self.tlbi,
        }
    }

    /// Simulated physical address of `region`.
    pub fn phys(&self, region: Region) -> u64 {
        WINDOW_BASE + self.block(region).offset
    }

    /// Which block serves window offset `offset`, and the offset inside that block.
    pub fn decode(&self, offset: u64) -> Option<(Region, u64)> {
        Region::ALL.into_iter().find_map(|r| {
            let b = self.block(r);
            b.contains(offset).then(|| (r, offset - b.offset))
        })
    }

    /// Checks the constraints listed in the module docs.
    pub fn validate(&self) -> Result<(), LayoutError> {
        for r in Region::ALL {
            let b = self.block(r);
            if b.size == 0 || b.offset.checked_add(b.size).is_none_or(|e| e > WINDOW_SIZE) {
                return Err(LayoutError::OutOfWindow(r, b.offset, b.size));
            }
        }
        let asc_regs = Block {
            offset: self.asc.offset,
            size: self.asc.size.min(0x4000),
        };
        if asc_regs.overlaps(&self.mbox) {
            return Err(LayoutError::MboxOverAsc);
        }
        if self.irqctl.overlaps(&asc_regs) || self.irqctl.overlaps(&self.mbox) {
            return Err(LayoutError::IrqCtlOverlap);
        }
        if self.tlbi.overlaps(&asc_regs)
            || self.tlbi.overlaps(&self.mbox)
            || self.tlbi.overlaps(&self.irqctl)
        {
            return Err(LayoutError::TlbiOverlap);
        }
        Ok(())
    }

    /// One line per block, for the device-tree generator and for humans.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for r in [
            Region::Sgx,
            Region::Asc,
            Region::Mbox,
            Region::IrqCtl,
            Region::Tlbi,
        ] {
            let b = self.block(r);
            s.push_str(&format!(
                "{:<6} phys=0x{:08x} size=0x{:x} window+0x{:x}\n",
                r.name(),
                self.phys(r),
                b.size,
                b.offset
            ));
        }
        s
    }
}

fn parse_num(s: &str) -> Result<u64, LayoutError> {
    let t = s.trim();
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    r.map_err(|_| LayoutError::Number(s.to_string()))
}

impl FromStr for Layout {
    type Err = LayoutError;

    /// `default`, or a comma-separated list of `NAME=OFFSET[:SIZE]` overriding the default
    /// (offsets are window offsets), e.g. `asc=0x800000,mbox=0x808000`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut layout = Layout::default();
        if s.trim() == "default" {
            return Ok(layout);
        }
        for entry in s.split(',').filter(|e| !e.trim().is_empty()) {
            let (name, value) = entry
                .split_once('=')
                .ok_or_else(|| LayoutError::Syntax(entry.to_string()))?;
            let region = Region::ALL
                .into_iter()
                .find(|r| r.name() == name.trim())
                .ok_or_else(|| LayoutError::UnknownBlock(name.to_string()))?;
            let block = layout.block_mut(region);
            match value.split_once(':') {
                Some((off, size)) => {
                    block.offset = parse_num(off)?;
                    block.size = parse_num(size)?;
                }
                None => block.offset = parse_num(value)?,
            }
        }
        layout.validate()?;
        Ok(layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layout_decodes_most_specific_block() {
        let l = Layout::default();
        l.validate().unwrap();
        assert_eq!(l.decode(0x40_0044), Some((Region::Asc, 0x44)));
        assert_eq!(l.decode(0x40_8110), Some((Region::Mbox, 0x110)));
        assert_eq!(l.decode(0xd0_4000), Some((Region::Sgx, 0xd0_4000)));
        assert_eq!(l.decode(0xff_f004), Some((Region::IrqCtl, 4)));
        assert_eq!(l.decode(0xff_e008), Some((Region::Tlbi, 8)));
        assert_eq!(
            "tlbi=0xfff800:0x1000".parse::<Layout>(),
            Err(LayoutError::OutOfWindow(Region::Tlbi, 0xfff800, 0x1000))
        );
        assert_eq!(
            "tlbi=0xfff000".parse::<Layout>(),
            Err(LayoutError::TlbiOverlap)
        );
        assert_eq!(l.decode(0x100_0000), None);
        assert_eq!(l.phys(Region::Mbox), 0x1040_8000);
    }

    #[test]
    fn layout_overrides_parse_and_validate() {
        let l: Layout = "asc=0x800000,mbox=0x808000:0x4000".parse().unwrap();
        assert_eq!(l.asc.offset, 0x80_0000);
        assert_eq!(l.mbox.offset, 0x80_8000);
        assert_eq!(
            "asc=0xfff000:0x4000".parse::<Layout>(),
            Err(LayoutError::OutOfWindow(Region::Asc, 0xfff000, 0x4000))
        );
        assert_eq!(
            "mbox=0x401000".parse::<Layout>(),
            Err(LayoutError::MboxOverAsc)
        );
        assert!(matches!(
            "gpu=0".parse::<Layout>(),
            Err(LayoutError::UnknownBlock(_))
        ));
    }
}
