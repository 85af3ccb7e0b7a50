// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The GPU MMU (UAT) page-table walker: how the hardware turns a GPU virtual address of a
//! context into a physical address, read from the driver's tables in guest memory.
//!
//! The model is the oracle for the driver's page tables, so the walk checks every bit the
//! hardware looks at and reports failures the way the hardware does (a fault with level and
//! reason, asahi-driver-facts.md §7.7 `FAULT_INFO`) instead of guessing. Caching lives in
//! [`crate::tlb`]; this file only knows the format.
//!
//! # Format (asahi-driver-facts.md §6.1, §6.3)
//!
//! * TTBAT: 64 slots of `{ttb0: u64, ttb1: u64}` at the `ttbs` region; an entry is the table's
//!   physical address | bit 0 valid | ASID << 48. TTB0 translates VAs below 2^39, TTB1 the
//!   upper half from `0xffff_ff80_0000_0000`; any other VA faults at level 0.
//! * 16 KiB granule, three levels of 2048 eight-byte descriptors, indexed by the VA masked to
//!   39 bits: level 0 = bits 38:36, level 1 = bits 35:25, level 2 = bits 24:14.
//! * Bits 1:0 = 0b11 make a table descriptor (levels 0, 1) or a page descriptor (level 2).
//!   Bit 0 clear is a translation fault. 0b01 is a block on arm64 at the middle level and
//!   invalid at the last; the driver never writes blocks and whether the UAT supports them is
//!   unknown, so the model faults on them too and calls it a violation.
//! * Output address bits [OAS-1:14] (OAS 40 on t8103/t8112, 42 on the others); any address
//!   bit from OAS up to 51 set is an address-size fault; bits 13:12 (RES0 with a 16 KiB
//!   granule, as on arm64) set is a violation.
//! * Page attributes: bits 4:2 memory attribute index (0 cached, 1 device, 2 uncached), 7:6
//!   AP, 10 AF (clear = access-flag fault), 11 nG, 53 PXN, 54 UXN, 55 GPU access. The access
//!   rights of the firmware and the GPU follow from (AP, UXN, PXN) by the table in
//!   [`Perms::decode`].

use std::fmt;

use thiserror::Error as ThisError;

use crate::dma::Dma;
use crate::strict::Violation;

/// Page (granule) shift: 16 KiB.
pub const PAGE_SHIFT: u32 = 14;
/// Page size.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// Input address bits per half.
pub const IAS: u32 = 39;
/// First VA of the upper half (TTB1).
pub const UPPER_BASE: u64 = !((1u64 << IAS) - 1);
/// Number of TTBAT slots (contexts).
pub const SLOTS: u32 = 64;
/// Size of one TTBAT slot.
pub const SLOT_SIZE: u64 = 16;
/// Levels of a walk.
pub const LEVELS: u8 = 3;

/// Descriptor bits 1:0 of a valid table or page.
pub const DESC_VALID: u64 = 0b11;
/// Access flag.
pub const PTE_AF: u64 = 1 << 10;
/// Not-global.
pub const PTE_NG: u64 = 1 << 11;
/// "PXN" (meaning per [`Perms::decode`]).
pub const PTE_PXN: u64 = 1 << 53;
/// "UXN" (meaning per [`Perms::decode`]).
pub const PTE_UXN: u64 = 1 << 54;
/// "GPU access", set by the driver on every mapping.
pub const PTE_GPU: u64 = 1 << 55;
/// Shift of the AP field (bits 7:6).
pub const PTE_AP_SHIFT: u32 = 6;
/// Shift of the memory attribute index (bits 4:2).
pub const PTE_MEMATTR_SHIFT: u32 = 2;

/// TTBAT entry valid bit.
pub const TTB_VALID: u64 = 1;
/// TTBAT entry ASID shift.
pub const TTB_ASID_SHIFT: u32 = 48;

/// Who accesses memory through the UAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Agent {
    /// The GPU coprocessor firmware (ASC).
    Firmware,
    /// The GPU's own units (shaders, tiler, ...).
    Gpu,
}

/// An access to translate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Access {
    /// Who.
    pub agent: Agent,
    /// Write (true) or read (false).
    pub write: bool,
}

impl Access {
    /// Firmware read.
    pub const FW_READ: Access = Access {
        agent: Agent::Firmware,
        write: false,
    };
    /// Firmware write.
    pub const FW_WRITE: Access = Access {
        agent: Agent::Firmware,
        write: true,
    };
    /// GPU read.
    pub const GPU_READ: Access = Access {
        agent: Agent::Gpu,
        write: false,
    };
    /// GPU write.
    pub const GPU_WRITE: Access = Access {
        agent: Agent::Gpu,
        write: true,
    };
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.agent {
            Agent::Firmware => "fw",
            Agent::Gpu => "gpu",
        };
        write!(f, "{who}-{}", if self.write { "write" } else { "read" })
    }
}

/// Read/write rights of one agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Rights {
    /// May read.
    pub read: bool,
    /// May write.
    pub write: bool,
}

impl Rights {
    const NONE: Rights = Rights {
        read: false,
        write: false,
    };
    const RO: Rights = Rights {
        read: true,
        write: false,
    };
    const WO: Rights = Rights {
        read: false,
        write: true,
    };
    const RW: Rights = Rights {
        read: true,
        write: true,
    };
}

/// What the firmware and the GPU may do with a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Perms {
    /// Firmware rights.
    pub fw: Rights,
    /// GPU rights.
    pub gpu: Rights,
}

impl Perms {
    /// Rights per (AP, UXN, PXN), asahi-driver-facts.md §6.1 (the driver's `Prot::from_bits`):
    ///
    /// | AP | (0,0) | (0,1) | (1,0) | (1,1) |
    /// |---|---|---|---|---|
    /// | 0 FW+GPU | none | RO | WO | RW |
    /// | 1 FW only | FW RO | none | FW RW | FW RW + GPU RO |
    /// | 2 GPU only | GPU RO | GPU WO | GPU RW | none |
    ///
    /// AP 3 is not described anywhere; the model grants nothing.
    pub fn decode(ap: u8, uxn: bool, pxn: bool) -> Perms {
        let none = Perms::default();
        let both = |r| Perms { fw: r, gpu: r };
        let fw = |r| Perms {
            fw: r,
            gpu: Rights::NONE,
        };
        let gpu = |r| Perms {
            fw: Rights::NONE,
            gpu: r,
        };
        match (ap, uxn, pxn) {
            (0, false, false) => none,
            (0, false, true) => both(Rights::RO),
            (0, true, false) => both(Rights::WO),
            (0, true, true) => both(Rights::RW),
            (1, false, false) => fw(Rights::RO),
            (1, false, true) => none,
            (1, true, false) => fw(Rights::RW),
            (1, true, true) => Perms {
                fw: Rights::RW,
                gpu: Rights::RO,
            },
            (2, false, false) => gpu(Rights::RO),
            (2, false, true) => gpu(Rights::WO),
            (2, true, false) => gpu(Rights::RW),
            _ => none,
        }
    }

    /// The rights of `agent`.
    pub fn of(&self, agent: Agent) -> Rights {
        match agent {
            Agent::Firmware => self.fw,
            Agent::Gpu => self.gpu,
        }
    }
}

/// Memory attribute index (bits 4:2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemAttr {
    /// 0: normal write-back cached.
    Cached,
    /// 1: device.
    Device,
    /// 2: uncached.
    Uncached,
}

/// A decoded page descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Page {
    /// Physical address of the page.
    pub pa: u64,
    /// Rights.
    pub perms: Perms,
    /// Memory attribute.
    pub memattr: MemAttr,
    /// Not-global (tagged with the ASID in the TLB).
    pub ng: bool,
    /// The raw descriptor.
    pub raw: u64,
}

/// Why a translation failed, as `FAULT_INFO` bits 3:1 encode it (asahi-driver-facts.md §7.7),
/// plus the address-size fault the facts do not name a code for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// Invalid descriptor (or TTBAT entry): reason 0 "unmapped".
    Translation,
    /// AF clear: reason 1.
    AccessFlag,
    /// Read of a write-only page: reason 2.
    WriteOnly,
    /// Write of a read-only page: reason 3.
    ReadOnly,
    /// No right at all for this agent: reason 4.
    NoAccess,
    /// Output address beyond the SoC's output size (or VA outside both halves). No reason
    /// code is known; reported as 0 in `FAULT_INFO`.
    AddressSize,
}

impl FaultKind {
    /// `FAULT_INFO` reason code.
    pub fn reason(self) -> u64 {
        match self {
            FaultKind::Translation | FaultKind::AddressSize => 0,
            FaultKind::AccessFlag => 1,
            FaultKind::WriteOnly => 2,
            FaultKind::ReadOnly => 3,
            FaultKind::NoAccess => 4,
        }
    }

    /// Trace spelling of the kind.
    pub fn kind(self) -> &'static str {
        match self {
            FaultKind::Translation => "translation",
            FaultKind::AccessFlag => "access-flag",
            FaultKind::WriteOnly | FaultKind::ReadOnly | FaultKind::NoAccess => "permission",
            FaultKind::AddressSize => "address-size",
        }
    }

    /// Trace spelling of the reason.
    pub fn reason_name(self) -> &'static str {
        match self {
            FaultKind::Translation => "unmapped",
            FaultKind::AccessFlag => "af",
            FaultKind::WriteOnly => "write-only",
            FaultKind::ReadOnly => "read-only",
            FaultKind::NoAccess => "no-access",
            FaultKind::AddressSize => "address-size",
        }
    }
}

/// A translation fault as the hardware would latch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fault {
    /// Context (TTBAT slot).
    pub ctx: u32,
    /// Faulting VA (full 64 bits).
    pub va: u64,
    /// Level whose descriptor failed (0..=2).
    pub level: u8,
    /// Reason.
    pub kind: FaultKind,
    /// The access.
    pub access: Access,
}

impl Fault {
    /// The value the G13/G14G `FAULT_INFO` register would hold (asahi-driver-facts.md §7.7):
    /// bit 0 valid, 3:1 reason, 4 read, 8:7 level, 16:9 unit, 22:17 context, 63:30 address
    /// bits 39:6.
    pub fn fault_info(&self, unit: u8) -> u64 {
        let addr = (self.va & ((1u64 << 40) - 1)) >> 6;
        1 | (self.kind.reason() << 1)
            | (u64::from(!self.access.write) << 4)
            | (u64::from(self.level & 3) << 7)
            | (u64::from(unit) << 9)
            | (u64::from(self.ctx & 0x3f) << 17)
            | (addr << 30)
    }

    /// The trace line.
    pub fn trace_line(&self) -> String {
        format!(
            "uat fault ctx={} va=0x{:x} level={} kind={} reason={} access={}",
            self.ctx,
            self.va,
            self.level,
            self.kind.kind(),
            self.kind.reason_name(),
            self.access
        )
    }
}

/// Descriptors or TTBAT entries the hardware would not take, and memory the walk cannot
/// reach: the driver's bug, refused in strict mode.
#[derive(Clone, Debug, PartialEq, Eq, ThisError)]
pub enum WalkError {
    /// A table read outside shared guest RAM.
    #[error("{0}")]
    Memory(Violation),
    /// Malformed descriptor or TTBAT entry.
    #[error("ctx={ctx} va=0x{va:x} level={level}: descriptor 0x{desc:016x}: {what}")]
    Malformed {
        /// Context.
        ctx: u32,
        /// VA being translated.
        va: u64,
        /// Level (0..=2; TTBAT entries report level 0).
        level: u8,
        /// The descriptor.
        desc: u64,
        /// What is wrong.
        what: &'static str,
    },
}

impl From<WalkError> for Violation {
    fn from(e: WalkError) -> Violation {
        match e {
            WalkError::Memory(v) => v,
            other => Violation::Uat(other.to_string()),
        }
    }
}

/// Outcome of a walk that read the tables successfully.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Walk {
    /// The page, with the ASID of the root used.
    Page {
        /// ASID from the TTBAT entry.
        asid: u16,
        /// The page.
        page: Page,
    },
    /// The hardware would fault (before any permission check).
    Fault {
        /// Level.
        level: u8,
        /// Translation, access-flag or address-size.
        kind: FaultKind,
    },
}

/// The walker's fixed parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walker {
    /// Physical address of the TTBAT (`ttbs` region).
    pub ttbat: u64,
    /// Output address size in bits (40 or 42).
    pub oas: u32,
}

/// Address bits of a descriptor the model reads: 51:14 (16 KiB granule, up to 52-bit).
const ADDR_MASK: u64 = ((1u64 << 52) - 1) & !(PAGE_SIZE - 1);
/// Bits 13:12: RES0 in a 16 KiB-granule descriptor.
const RES0_13_12: u64 = 0x3000;

impl Walker {
    /// Whether `va` lies in the lower (TTB0) or upper (TTB1) half; `None` if in neither.
    pub fn half(va: u64) -> Option<usize> {
        if va < (1u64 << IAS) {
            Some(0)
        } else if va >= UPPER_BASE {
            Some(1)
        } else {
            None
        }
    }

    /// Index of `va` into the table at `level`.
    pub fn index(va: u64, level: u8) -> u64 {
        let va = va & ((1u64 << IAS) - 1);
        match level {
            0 => (va >> 36) & 0x7,
            1 => (va >> 25) & 0x7ff,
            _ => (va >> 14) & 0x7ff,
        }
    }

    /// Physical address of the TTBAT entry of `ctx`, `half` (0 = TTB0, 1 = TTB1).
    pub fn ttbat_entry(&self, ctx: u32, half: usize) -> u64 {
        self.ttbat + u64::from(ctx) * SLOT_SIZE + 8 * half as u64
    }

    /// Checks the address field of `desc`: bits from OAS up give an address-size fault,
    /// bits 13:12 are a violation.
    fn check_addr(&self, desc: u64, ctx: u32, va: u64, level: u8) -> Result<bool, WalkError> {
        if desc & RES0_13_12 != 0 {
            return Err(WalkError::Malformed {
                ctx,
                va,
                level,
                desc,
                what: "bits 13:12 are RES0 with a 16 KiB granule",
            });
        }
        Ok(desc & ADDR_MASK & !((1u64 << self.oas) - 1) == 0)
    }

    /// Walks the tables for `va` in context `ctx`, without permission checks.
    pub fn walk(&self, dma: &Dma, ctx: u32, va: u64) -> Result<Walk, WalkError> {
        let fault = |level, kind| Ok(Walk::Fault { level, kind });
        let Some(half) = Self::half(va) else {
            return fault(0, FaultKind::AddressSize);
        };
        if ctx >= SLOTS {
            return fault(0, FaultKind::Translation);
        }
        let entry = dma
            .read_u64(self.ttbat_entry(ctx, half))
            .map_err(WalkError::Memory)?;
        if entry & TTB_VALID == 0 {
            return fault(0, FaultKind::Translation);
        }
        if entry & 0x3ffe != 0 {
            return Err(WalkError::Malformed {
                ctx,
                va,
                level: 0,
                desc: entry,
                what: "TTBAT entry bits 13:1 must be clear (table address | valid | ASID << 48)",
            });
        }
        // Bits 63:48 hold the ASID, so the address field is 47:14 here.
        let ttb = entry & ((1u64 << TTB_ASID_SHIFT) - 1) & !TTB_VALID;
        if !self.check_addr(ttb, ctx, va, 0)? {
            return fault(0, FaultKind::AddressSize);
        }
        let asid = (entry >> TTB_ASID_SHIFT) as u16;
        let mut table = ttb;
        for level in 0..LEVELS {
            let desc = dma
                .read_u64(table + 8 * Self::index(va, level))
                .map_err(WalkError::Memory)?;
            if desc & 1 == 0 {
                return fault(level, FaultKind::Translation);
            }
            if desc & DESC_VALID != DESC_VALID {
                return Err(WalkError::Malformed {
                    ctx,
                    va,
                    level,
                    desc,
                    what: "block or reserved descriptor (bits 1:0 = 0b01); the UAT tables hold tables and pages only",
                });
            }
            if !self.check_addr(desc, ctx, va, level)? {
                return fault(level, FaultKind::AddressSize);
            }
            if level + 1 < LEVELS {
                table = desc & ADDR_MASK;
                continue;
            }
            if desc & PTE_AF == 0 {
                return fault(level, FaultKind::AccessFlag);
            }
            let memattr = match (desc >> PTE_MEMATTR_SHIFT) & 7 {
                0 => MemAttr::Cached,
                1 => MemAttr::Device,
                2 => MemAttr::Uncached,
                _ => {
                    return Err(WalkError::Malformed {
                        ctx,
                        va,
                        level,
                        desc,
                        what: "memory attribute index above 2 has no known meaning",
                    })
                }
            };
            let perms = Perms::decode(
                ((desc >> PTE_AP_SHIFT) & 3) as u8,
                desc & PTE_UXN != 0,
                desc & PTE_PXN != 0,
            );
            let page = Page {
                pa: desc & ADDR_MASK,
                perms,
                memattr,
                ng: desc & PTE_NG != 0,
                raw: desc,
            };
            return Ok(Walk::Page { asid, page });
        }
        unreachable!("the loop returns at the last level")
    }
}

/// The permission fault (if any) of `access` to a page with `perms`.
pub fn check_access(perms: Perms, access: Access) -> Option<FaultKind> {
    let r = perms.of(access.agent);
    match (r.read, r.write, access.write) {
        (false, false, _) => Some(FaultKind::NoAccess),
        (_, false, true) => Some(FaultKind::ReadOnly),
        (false, _, false) => Some(FaultKind::WriteOnly),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use vm_memory::{GuestAddress, GuestMemoryAtomic, GuestMemoryMmap};

    /// Test guest RAM: 0x0 .. 0x80_0000.
    pub(crate) fn dma() -> Dma {
        let gm = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x80_0000)]).unwrap();
        let mut d = Dma::default();
        d.set_memory(GuestMemoryAtomic::new(gm));
        d
    }

    pub(crate) const TTBAT: u64 = 0x1_0000;

    /// Builds tables in test memory from a bump allocator starting at 0x10_0000.
    pub(crate) struct Builder {
        pub(crate) next: u64,
    }

    impl Builder {
        pub(crate) fn new() -> Self {
            Builder { next: 0x10_0000 }
        }

        fn alloc(&mut self) -> u64 {
            let a = self.next;
            self.next += PAGE_SIZE;
            a
        }

        /// Installs a fresh root for (ctx, half) with ASID `asid`, returns its PA.
        pub(crate) fn root(&mut self, d: &Dma, ctx: u32, half: usize, asid: u16) -> u64 {
            let t = self.alloc();
            let w = Walker {
                ttbat: TTBAT,
                oas: 40,
            };
            d.write_u64(
                w.ttbat_entry(ctx, half),
                t | TTB_VALID | (u64::from(asid) << 48),
            )
            .unwrap();
            t
        }

        /// Address of the leaf descriptor for `va` under `root`, creating tables as needed.
        pub(crate) fn leaf(&mut self, d: &Dma, root: u64, va: u64) -> u64 {
            let mut table = root;
            for level in 0..2 {
                let slot = table + 8 * Walker::index(va, level);
                let desc = d.read_u64(slot).unwrap();
                table = if desc & 1 == 0 {
                    let t = self.alloc();
                    d.write_u64(slot, t | DESC_VALID).unwrap();
                    t
                } else {
                    desc & ADDR_MASK
                };
            }
            table + 8 * Walker::index(va, 2)
        }

        pub(crate) fn map(&mut self, d: &Dma, root: u64, va: u64, pte: u64) -> u64 {
            let slot = self.leaf(d, root, va);
            d.write_u64(slot, pte).unwrap();
            slot
        }
    }

    /// (AP, UXN, PXN, memattr) of the driver's named protections (facts §6.1).
    pub(crate) fn prot(ap: u64, uxn: bool, pxn: bool, memattr: u64) -> u64 {
        DESC_VALID
            | (memattr << PTE_MEMATTR_SHIFT)
            | (ap << PTE_AP_SHIFT)
            | PTE_AF
            | PTE_GPU
            | if uxn { PTE_UXN } else { 0 }
            | if pxn { PTE_PXN } else { 0 }
    }

    const RW: Rights = Rights::RW;
    const RO: Rights = Rights::RO;
    const WO: Rights = Rights::WO;
    const NO: Rights = Rights::NONE;

    #[test]
    fn named_protections_decode_to_the_documented_rights() {
        // (name, ap, uxn, pxn, memattr, fw rights, gpu rights)
        let table = [
            ("FW_MMIO_RW", 1, true, false, 1, RW, NO),
            ("FW_MMIO_RO", 1, false, false, 1, RO, NO),
            ("FW_SHARED_RW", 1, true, false, 2, RW, NO),
            ("FW_SHARED_RO", 1, false, false, 2, RO, NO),
            ("FW_PRIV_RW", 1, true, false, 0, RW, NO),
            ("GPU_FW_SHARED_RW", 0, true, true, 2, RW, RW),
            ("GPU_FW_PRIV_RW", 0, true, true, 0, RW, RW),
            ("GPU_RO_FW_PRIV_RW", 1, true, true, 0, RW, RO),
            ("GPU_SHARED_RW", 2, true, false, 2, NO, RW),
            ("GPU_SHARED_RO", 2, false, false, 2, NO, RO),
            ("GPU_SHARED_WO", 2, false, true, 2, NO, WO),
        ];
        let d = dma();
        let w = Walker {
            ttbat: TTBAT,
            oas: 40,
        };
        let mut b = Builder::new();
        let root = b.root(&d, 0, 1, 0);
        for (i, (name, ap, uxn, pxn, ma, fw, gpu)) in table.into_iter().enumerate() {
            let va = 0xffff_ffa0_0000_0000 + i as u64 * PAGE_SIZE;
            let pa = 0x40_0000 + i as u64 * PAGE_SIZE;
            b.map(&d, root, va, pa | prot(ap, uxn, pxn, ma));
            let Walk::Page { page, .. } = w.walk(&d, 0, va + 0x123).unwrap() else {
                panic!("{name} did not map");
            };
            assert_eq!(page.pa, pa, "{name}");
            assert_eq!(page.perms, Perms { fw, gpu }, "{name}");
            let expect_attr = [MemAttr::Cached, MemAttr::Device, MemAttr::Uncached][ma as usize];
            assert_eq!(page.memattr, expect_attr, "{name}");
        }
        // The remaining combinations of the table.
        assert_eq!(Perms::decode(0, false, false), Perms::default());
        assert_eq!(Perms::decode(0, false, true), Perms { fw: RO, gpu: RO });
        assert_eq!(Perms::decode(0, true, false), Perms { fw: WO, gpu: WO });
        assert_eq!(Perms::decode(1, false, true), Perms::default());
        assert_eq!(Perms::decode(2, true, true), Perms::default());
        assert_eq!(Perms::decode(3, true, false), Perms::default());
    }

    #[test]
    fn permission_checks_name_the_hardware_reason() {
        let fw_ro = Perms::decode(1, false, false);
        assert_eq!(check_access(fw_ro, Access::FW_READ), None);
        assert_eq!(
            check_access(fw_ro, Access::FW_WRITE),
            Some(FaultKind::ReadOnly)
        );
        assert_eq!(
            check_access(fw_ro, Access::GPU_READ),
            Some(FaultKind::NoAccess)
        );
        let gpu_wo = Perms::decode(2, false, true);
        assert_eq!(
            check_access(gpu_wo, Access::GPU_READ),
            Some(FaultKind::WriteOnly)
        );
        assert_eq!(check_access(gpu_wo, Access::GPU_WRITE), None);
        assert_eq!(
            check_access(gpu_wo, Access::FW_WRITE),
            Some(FaultKind::NoAccess)
        );
    }

    #[test]
    fn walks_both_halves_with_their_own_roots() {
        let d = dma();
        let w = Walker {
            ttbat: TTBAT,
            oas: 40,
        };
        let mut b = Builder::new();
        let lo = b.root(&d, 5, 0, 5);
        let hi = b.root(&d, 5, 1, 5);
        // Same 39-bit index in both halves, different pages.
        let off = 0x7f_ffff_c000;
        b.map(&d, lo, off, 0x50_0000 | prot(2, true, false, 2) | PTE_NG);
        b.map(
            &d,
            hi,
            UPPER_BASE | off,
            0x60_0000 | prot(1, true, false, 2),
        );
        assert_eq!(
            w.walk(&d, 5, off + 8).unwrap(),
            Walk::Page {
                asid: 5,
                page: Page {
                    pa: 0x50_0000,
                    perms: Perms { fw: NO, gpu: RW },
                    memattr: MemAttr::Uncached,
                    ng: true,
                    raw: 0x50_0000 | prot(2, true, false, 2) | PTE_NG,
                }
            }
        );
        let Walk::Page { page, .. } = w.walk(&d, 5, UPPER_BASE | off).unwrap() else {
            panic!()
        };
        assert_eq!(page.pa, 0x60_0000);
        assert!(!page.ng);
        // Between the halves: no root at all.
        assert_eq!(
            w.walk(&d, 5, 1 << 39).unwrap(),
            Walk::Fault {
                level: 0,
                kind: FaultKind::AddressSize
            }
        );
        // A slot with no valid TTB.
        assert_eq!(
            w.walk(&d, 6, 0x4000).unwrap(),
            Walk::Fault {
                level: 0,
                kind: FaultKind::Translation
            }
        );
    }

    #[test]
    fn faults_at_each_level() {
        let d = dma();
        let w = Walker {
            ttbat: TTBAT,
            oas: 40,
        };
        let mut b = Builder::new();
        let root = b.root(&d, 1, 0, 1);
        let va = 0x12_3456_0000;
        let tr = |level| Walk::Fault {
            level,
            kind: FaultKind::Translation,
        };
        assert_eq!(w.walk(&d, 1, va).unwrap(), tr(0));
        let leaf = b.leaf(&d, root, va);
        assert_eq!(w.walk(&d, 1, va).unwrap(), tr(2));
        // Another L1 entry in the same L0 table: level 1.
        assert_eq!(w.walk(&d, 1, va + (1 << 25)).unwrap(), tr(1));
        d.write_u64(leaf, 0x40_0000 | (prot(2, true, false, 2) & !PTE_AF))
            .unwrap();
        assert_eq!(
            w.walk(&d, 1, va).unwrap(),
            Walk::Fault {
                level: 2,
                kind: FaultKind::AccessFlag
            }
        );
        // Bit 0 set, bit 1 clear at the last level: not a page.
        d.write_u64(leaf, 0x40_0000 | 1).unwrap();
        assert!(matches!(
            w.walk(&d, 1, va),
            Err(WalkError::Malformed { level: 2, .. })
        ));
        d.write_u64(leaf, 0x40_0000 | prot(2, true, false, 5))
            .unwrap();
        assert!(matches!(
            w.walk(&d, 1, va),
            Err(WalkError::Malformed { level: 2, .. })
        ));
    }

    #[test]
    fn output_size_depends_on_the_soc() {
        let d = dma();
        let mut b = Builder::new();
        let root = b.root(&d, 0, 1, 0);
        let va = 0xffff_ffa8_0000_0000;
        let leaf = b.map(&d, root, va, (1 << 41) | prot(1, true, false, 2));
        let m1 = Walker {
            ttbat: TTBAT,
            oas: 40,
        };
        let pro = Walker {
            ttbat: TTBAT,
            oas: 42,
        };
        assert_eq!(
            m1.walk(&d, 0, va).unwrap(),
            Walk::Fault {
                level: 2,
                kind: FaultKind::AddressSize
            }
        );
        let Walk::Page { page, .. } = pro.walk(&d, 0, va).unwrap() else {
            panic!()
        };
        assert_eq!(page.pa, 1 << 41);
        d.write_u64(leaf, (1 << 42) | prot(1, true, false, 2))
            .unwrap();
        assert!(matches!(
            pro.walk(&d, 0, va).unwrap(),
            Walk::Fault {
                level: 2,
                kind: FaultKind::AddressSize
            }
        ));
        // In a table descriptor: level 0.
        let l0 = root + 8 * Walker::index(va, 0);
        let t = d.read_u64(l0).unwrap();
        d.write_u64(l0, t | (1 << 45)).unwrap();
        assert_eq!(
            pro.walk(&d, 0, va).unwrap(),
            Walk::Fault {
                level: 0,
                kind: FaultKind::AddressSize
            }
        );
        d.write_u64(l0, t | 0x1000).unwrap();
        assert!(matches!(
            pro.walk(&d, 0, va),
            Err(WalkError::Malformed { level: 0, .. })
        ));
        // Tables outside RAM.
        d.write_u64(l0, 0x100_0000 | DESC_VALID).unwrap();
        assert!(matches!(pro.walk(&d, 0, va), Err(WalkError::Memory(_))));
    }

    #[test]
    fn fault_info_encoding() {
        let f = Fault {
            ctx: 3,
            va: 0x12_3456_7840,
            level: 2,
            kind: FaultKind::ReadOnly,
            access: Access::GPU_WRITE,
        };
        let v = f.fault_info(0x11);
        assert_eq!(v & 1, 1);
        assert_eq!((v >> 1) & 7, 3);
        assert_eq!((v >> 4) & 1, 0);
        assert_eq!((v >> 7) & 3, 2);
        assert_eq!((v >> 9) & 0xff, 0x11);
        assert_eq!((v >> 17) & 0x3f, 3);
        assert_eq!((v >> 30) << 6, 0x12_3456_7840);
        assert_eq!(
            f.trace_line(),
            "uat fault ctx=3 va=0x1234567840 level=2 kind=permission reason=read-only access=gpu-write"
        );
    }
}
