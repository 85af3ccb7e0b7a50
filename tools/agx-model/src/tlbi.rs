// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The model-only `tlbi` register block: TLB invalidations forwarded by the kernel, and a
//! probe that makes the firmware touch a GPU VA on command.
//!
//! On arm64 the driver invalidates the GPU's TLB with the CPU's outer-shareable TLBI
//! instructions, which the GPU snoops (asahi-driver-facts.md §6.5). UML has no such
//! broadcast, so its TLB-maintenance seam writes each instruction's operand and opcode here
//! (shared/ARCHITECTURE.md "Page sizes and TLB maintenance"). The operands are exactly the
//! arm64 ones (Arm ARM, TLBI VAE1OS / RVAE1OS / ASIDE1OS / VMALLE1OS), so the same encoder
//! serves both architectures and a wrong encoding is caught here.
//!
//! # Registers (window offset 0xff_e000, physical 0x10ff_e000, size 0x1000)
//!
//! | offset | access | name | meaning |
//! |---|---|---|---|
//! | 0x00 | r/w 64 | `ARG0` | the TLBI operand (Xt) |
//! | 0x08 | w 32 | `OP` | 1 vae1os, 2 rvae1os, 3 aside1os, 4 vmalle1os: performs it with `ARG0` |
//! | 0x10 | r 32 | `COUNT` | invalidations performed since reset |
//! | 0x14 | r 32 | `TLB_ENTRIES` | translations the TLB holds now |
//! | 0x20 | r/w 64 | `PROBE_VA` | GPU VA for the probe |
//! | 0x28 | r/w 32 | `PROBE_CTX` | context (TTBAT slot 0..=63) for the probe |
//! | 0x2c | w 32 | `PROBE_CMD` | 1 firmware read, 2 firmware write, 3 GPU read, 4 GPU write |
//! | 0x30 | r 32 | `PROBE_STATUS` | 0 none yet, 1 ok, 2 fault, 3 stale |
//! | 0x38 | r 64 | `PROBE_PA` | ok/stale: the physical address used; 0 if the access faulted |
//! | 0x40 | r 64 | `PROBE_FAULT` | fault (or stale with a permission fault): the `FAULT_INFO` value, else 0 |
//! | 0x48 | r 64 | `PROBE_DATA` | ok/stale read: the little-endian u64 at `PROBE_PA`, else 0 |
//!
//! `PROBE_FAULT` uses the G13/G14G `FAULT_INFO` layout (asahi-driver-facts.md §7.7): bit 0
//! valid, 3:1 reason (0 unmapped or address size, 1 access flag, 2 write-only, 3 read-only,
//! 4 no access), 4 read, 8:7 level, 16:9 unit (0: the probe is no GPU unit), 22:17 context,
//! 63:30 VA bits 39:6.
//!
//! Operands (`ARG0`), with the 16 KiB granule:
//!
//! * vae1os: ASID << 48 | TTL << 44 | VA[55:12]. VA bits 13:12 must be 0 (RES0 with 16 KiB);
//!   TTL is 0 or a 16 KiB level hint 0b10LL with LL ≠ 0 (accepted, ignored). The VA is
//!   sign-extended from bit 55.
//! * rvae1os: ASID << 48 | TG << 46 | SCALE << 44 | NUM << 39 | TTL << 37 | BaseADDR, with
//!   TG = 2 (16 KiB), BaseADDR = VA[50:14] (sign-extended from bit 50), range =
//!   (NUM + 1) << (5 × SCALE + 1) pages from BaseADDR; TTL is a level hint (ignored).
//! * aside1os: ASID << 48, bits 47:0 zero.
//! * vmalle1os: no operand; `ARG0` is ignored.
//!
//! Anything else (unknown `OP`, TG ≠ 2, nonzero RES0 bits, wrong width, unknown register) is a
//! violation. A probe translates through the TLB exactly like a firmware or GPU access
//! (filling it on a miss), never counts as a violation itself (faults and stale hits are
//! what tests ask for), and never writes memory: a write probe checks the rights only.

use crate::layout::Region;
use crate::strict::{Checked, Violation};
use crate::tlb::Invalidate;
use crate::uat::{Access, PAGE_SHIFT};

/// TLBI operand.
pub const ARG0: u64 = 0x00;
/// TLBI opcode; a write performs the invalidation.
pub const OP: u64 = 0x08;
/// Invalidations performed.
pub const COUNT: u64 = 0x10;
/// Current TLB size.
pub const TLB_ENTRIES: u64 = 0x14;
/// Probe VA.
pub const PROBE_VA: u64 = 0x20;
/// Probe context.
pub const PROBE_CTX: u64 = 0x28;
/// Probe command; a write performs the probe.
pub const PROBE_CMD: u64 = 0x2c;
/// Probe result status.
pub const PROBE_STATUS: u64 = 0x30;
/// Probe physical address.
pub const PROBE_PA: u64 = 0x38;
/// Probe `FAULT_INFO`.
pub const PROBE_FAULT: u64 = 0x40;
/// Probe data.
pub const PROBE_DATA: u64 = 0x48;

/// `OP` values.
pub const OP_VAE1OS: u32 = 1;
/// Range by VA.
pub const OP_RVAE1OS: u32 = 2;
/// By ASID.
pub const OP_ASIDE1OS: u32 = 3;
/// All.
pub const OP_VMALLE1OS: u32 = 4;

/// `PROBE_STATUS` values.
pub const STATUS_NONE: u32 = 0;
/// Translated.
pub const STATUS_OK: u32 = 1;
/// Faulted.
pub const STATUS_FAULT: u32 = 2;
/// A stale TLB entry was used.
pub const STATUS_STALE: u32 = 3;

/// Instruction name of an `OP` value.
pub fn op_name(op: u32) -> &'static str {
    match op {
        OP_VAE1OS => "vae1os",
        OP_RVAE1OS => "rvae1os",
        OP_ASIDE1OS => "aside1os",
        OP_VMALLE1OS => "vmalle1os",
        _ => "unknown",
    }
}

fn sign_extend(v: u64, top_bit: u32) -> u64 {
    let shift = 63 - top_bit;
    (((v << shift) as i64) >> shift) as u64
}

/// Decodes an arm64 TLBI operand (module docs).
pub fn decode(op: u32, arg: u64) -> Result<Invalidate, String> {
    let asid = (arg >> 48) as u16;
    match op {
        OP_VAE1OS => {
            let ttl = (arg >> 44) & 0xf;
            if ttl != 0 && (ttl >> 2 != 0b10 || ttl & 3 == 0) {
                return Err(format!(
                    "vae1os operand 0x{arg:016x}: TTL 0x{ttl:x} is not 0 or a 16 KiB level hint"
                ));
            }
            let field = arg & ((1 << 44) - 1);
            if field & 3 != 0 {
                return Err(format!(
                    "vae1os operand 0x{arg:016x}: VA bits 13:12 are RES0 with a 16 KiB granule"
                ));
            }
            Ok(Invalidate::Va {
                asid,
                va: sign_extend(field << 12, 55),
            })
        }
        OP_RVAE1OS => {
            let tg = (arg >> 46) & 3;
            if tg != 2 {
                return Err(format!(
                    "rvae1os operand 0x{arg:016x}: TG {tg} is not 2 (16 KiB granule)"
                ));
            }
            let scale = (arg >> 44) & 3;
            let num = (arg >> 39) & 0x1f;
            let base = arg & ((1 << 37) - 1);
            let start = sign_extend(base << PAGE_SHIFT, 50);
            let pages = (num + 1) << (5 * scale + 1);
            let end = start.checked_add(pages << PAGE_SHIFT).unwrap_or(0);
            Ok(Invalidate::Range { asid, start, end })
        }
        OP_ASIDE1OS => {
            if arg & ((1 << 48) - 1) != 0 {
                return Err(format!("aside1os operand 0x{arg:016x}: bits 47:0 are RES0"));
            }
            Ok(Invalidate::Asid(asid))
        }
        OP_VMALLE1OS => Ok(Invalidate::All),
        _ => Err(format!(
            "unknown OP {op} (1 vae1os, 2 rvae1os, 3 aside1os, 4 vmalle1os)"
        )),
    }
}

/// What a register write asks the device to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing beyond storing the value.
    None,
    /// Perform an invalidation.
    Invalidate {
        /// The opcode written.
        op: u32,
        /// The operand it used.
        arg: u64,
        /// Decoded.
        inv: Invalidate,
    },
    /// Perform a probe.
    Probe {
        /// Context.
        ctx: u32,
        /// VA.
        va: u64,
        /// Access kind.
        access: Access,
    },
}

/// Result of a probe, as the registers show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ProbeResult {
    /// `PROBE_STATUS`.
    pub status: u32,
    /// `PROBE_PA`.
    pub pa: u64,
    /// `PROBE_FAULT`.
    pub fault_info: u64,
    /// `PROBE_DATA`.
    pub data: u64,
}

/// The block's register state.
#[derive(Debug, Default)]
pub struct TlbiRegs {
    arg0: u64,
    count: u32,
    probe_va: u64,
    probe_ctx: u32,
    result: ProbeResult,
}

fn unknown(offset: u64, write: bool) -> Violation {
    Violation::Unknown {
        region: Region::Tlbi,
        offset,
        write,
    }
}

fn width(offset: u64, size: u32, write: bool, expected: u32) -> Checked<()> {
    if size == expected {
        Ok(())
    } else {
        Err(Violation::Width {
            region: Region::Tlbi,
            offset,
            size,
            write,
            expected,
        })
    }
}

impl TlbiRegs {
    /// Register state at reset.
    pub fn new() -> Self {
        Self::default()
    }

    /// Host read; `tlb_entries` is the TLB's current size.
    pub fn read(&self, offset: u64, size: u32, tlb_entries: usize) -> Checked<u64> {
        let (value, expected) = match offset {
            ARG0 => (self.arg0, 8),
            COUNT => (self.count.into(), 4),
            TLB_ENTRIES => (
                u64::try_from(tlb_entries).unwrap_or(u64::MAX) & 0xffff_ffff,
                4,
            ),
            PROBE_VA => (self.probe_va, 8),
            PROBE_CTX => (self.probe_ctx.into(), 4),
            PROBE_STATUS => (self.result.status.into(), 4),
            PROBE_PA => (self.result.pa, 8),
            PROBE_FAULT => (self.result.fault_info, 8),
            PROBE_DATA => (self.result.data, 8),
            OP | PROBE_CMD => {
                return Err(Violation::Direction {
                    region: Region::Tlbi,
                    offset,
                    what: "read of a write-only command register",
                })
            }
            _ => return Err(unknown(offset, false)),
        };
        width(offset, size, false, expected)?;
        Ok(value)
    }

    /// Host write.
    pub fn write(&mut self, offset: u64, size: u32, value: u64) -> Checked<Action> {
        let expected = match offset {
            ARG0 | PROBE_VA => 8,
            OP | PROBE_CTX | PROBE_CMD => 4,
            COUNT | TLB_ENTRIES | PROBE_STATUS | PROBE_PA | PROBE_FAULT | PROBE_DATA => {
                return Err(Violation::Direction {
                    region: Region::Tlbi,
                    offset,
                    what: "write of a read-only register",
                })
            }
            _ => return Err(unknown(offset, true)),
        };
        width(offset, size, true, expected)?;
        match offset {
            ARG0 => self.arg0 = value,
            PROBE_VA => self.probe_va = value,
            PROBE_CTX => {
                if value >= u64::from(crate::uat::SLOTS) {
                    return Err(Violation::Tlbi(format!(
                        "PROBE_CTX {value} is not a TTBAT slot (0..=63)"
                    )));
                }
                self.probe_ctx = value as u32;
            }
            OP => {
                let op = value as u32;
                let inv = decode(op, self.arg0).map_err(Violation::Tlbi)?;
                self.count = self.count.wrapping_add(1);
                return Ok(Action::Invalidate {
                    op,
                    arg: self.arg0,
                    inv,
                });
            }
            _ => {
                let access = match value {
                    1 => Access::FW_READ,
                    2 => Access::FW_WRITE,
                    3 => Access::GPU_READ,
                    4 => Access::GPU_WRITE,
                    _ => {
                        return Err(Violation::Tlbi(format!(
                            "unknown PROBE_CMD {value} (1 fw read, 2 fw write, 3 gpu read, 4 gpu write)"
                        )))
                    }
                };
                return Ok(Action::Probe {
                    ctx: self.probe_ctx,
                    va: self.probe_va,
                    access,
                });
            }
        }
        Ok(Action::None)
    }

    /// Stores a probe's result for the registers.
    pub fn set_result(&mut self, r: ProbeResult) {
        self.result = r;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPPER: u64 = 0xffff_ffa8_0000_0000;

    #[test]
    fn vae1os_operands() {
        // Lower half, ASID 5: VA >> 12 even with 16 KiB pages.
        let va = 0x12_3456_c000;
        assert_eq!(
            decode(OP_VAE1OS, (5 << 48) | (va >> 12)),
            Ok(Invalidate::Va { asid: 5, va })
        );
        // Upper half: VA[55:12] with bit 55 set sign-extends.
        let arg = (UPPER >> 12) & ((1 << 44) - 1);
        assert_eq!(
            decode(OP_VAE1OS, arg),
            Ok(Invalidate::Va { asid: 0, va: UPPER })
        );
        // A 16 KiB level-3 TTL hint is accepted; a 4 KiB one (0b01LL) is not.
        assert!(decode(OP_VAE1OS, (0b1011 << 44) | (va >> 12)).is_ok());
        assert!(decode(OP_VAE1OS, (0b0111 << 44) | (va >> 12)).is_err());
        assert!(decode(OP_VAE1OS, (0b1000 << 44) | (va >> 12)).is_err());
        // Not 16 KiB aligned.
        assert!(decode(OP_VAE1OS, (va + 0x1000) >> 12).is_err());
    }

    #[test]
    fn rvae1os_operands() {
        let enc = |asid: u64, tg: u64, scale: u64, num: u64, va: u64| {
            (asid << 48) | (tg << 46) | (scale << 44) | (num << 39) | ((va >> 14) & ((1 << 37) - 1))
        };
        let va = 0x10_0000_0000;
        // NUM 0, SCALE 0: two pages.
        assert_eq!(
            decode(OP_RVAE1OS, enc(3, 2, 0, 0, va)),
            Ok(Invalidate::Range {
                asid: 3,
                start: va,
                end: va + 2 * 0x4000
            })
        );
        // NUM 31, SCALE 3: 32 << 16 pages (the largest range).
        assert_eq!(
            decode(OP_RVAE1OS, enc(3, 2, 3, 31, va)),
            Ok(Invalidate::Range {
                asid: 3,
                start: va,
                end: va + (32u64 << 16) * 0x4000
            })
        );
        // SCALE 1, NUM 1: 2 << 6 = 128 pages, upper half.
        assert_eq!(
            decode(OP_RVAE1OS, enc(0, 2, 1, 1, UPPER)),
            Ok(Invalidate::Range {
                asid: 0,
                start: UPPER,
                end: UPPER + 128 * 0x4000
            })
        );
        // Reaching the top of the space ends at 0 (exclusive, wrapped).
        let last = 0xffff_ffff_fffe_0000;
        assert_eq!(
            decode(OP_RVAE1OS, enc(0, 2, 1, 1, last)),
            Ok(Invalidate::Range {
                asid: 0,
                start: last,
                end: 0
            })
        );
        // The README's trace example.
        assert_eq!(
            decode(OP_RVAE1OS, 0x801f_fea0_0000),
            Ok(Invalidate::Range {
                asid: 0,
                start: 0xffff_ffa8_0000_0000,
                end: 0xffff_ffa8_0000_8000
            })
        );
        for tg in [0, 1, 3] {
            assert!(decode(OP_RVAE1OS, enc(0, tg, 0, 0, va)).is_err());
        }
    }

    #[test]
    fn asid_and_all_operands() {
        assert_eq!(decode(OP_ASIDE1OS, 7 << 48), Ok(Invalidate::Asid(7)));
        assert!(decode(OP_ASIDE1OS, (7 << 48) | 1).is_err());
        assert_eq!(decode(OP_VMALLE1OS, 0x1234), Ok(Invalidate::All));
        assert!(decode(0, 0).is_err());
        assert!(decode(5, 0).is_err());
    }

    #[test]
    fn registers() {
        let mut r = TlbiRegs::new();
        assert_eq!(r.write(ARG0, 8, 9 << 48).unwrap(), Action::None);
        assert_eq!(r.read(ARG0, 8, 0).unwrap(), 9 << 48);
        assert_eq!(
            r.write(OP, 4, u64::from(OP_ASIDE1OS)).unwrap(),
            Action::Invalidate {
                op: OP_ASIDE1OS,
                arg: 9 << 48,
                inv: Invalidate::Asid(9)
            }
        );
        assert_eq!(r.read(COUNT, 4, 0).unwrap(), 1);
        assert_eq!(r.read(TLB_ENTRIES, 4, 17).unwrap(), 17);
        // Malformed: nothing counted.
        r.write(ARG0, 8, (9 << 48) | 1).unwrap();
        assert!(matches!(
            r.write(OP, 4, u64::from(OP_ASIDE1OS)),
            Err(Violation::Tlbi(_))
        ));
        assert!(matches!(r.write(OP, 4, 9), Err(Violation::Tlbi(_))));
        assert_eq!(r.read(COUNT, 4, 0).unwrap(), 1);
        // Widths, directions, unknown offsets.
        assert!(matches!(r.write(ARG0, 4, 0), Err(Violation::Width { .. })));
        assert!(matches!(r.read(OP, 4, 0), Err(Violation::Direction { .. })));
        assert!(matches!(
            r.write(COUNT, 4, 0),
            Err(Violation::Direction { .. })
        ));
        assert!(matches!(r.read(0x18, 4, 0), Err(Violation::Unknown { .. })));
        // Probe.
        r.write(PROBE_VA, 8, 0x4000).unwrap();
        r.write(PROBE_CTX, 4, 3).unwrap();
        assert!(matches!(r.write(PROBE_CTX, 4, 64), Err(Violation::Tlbi(_))));
        assert_eq!(
            r.write(PROBE_CMD, 4, 4).unwrap(),
            Action::Probe {
                ctx: 3,
                va: 0x4000,
                access: Access::GPU_WRITE
            }
        );
        assert!(matches!(r.write(PROBE_CMD, 4, 0), Err(Violation::Tlbi(_))));
        assert_eq!(r.read(PROBE_STATUS, 4, 0).unwrap(), 0);
        r.set_result(ProbeResult {
            status: STATUS_STALE,
            pa: 0x40_0000,
            fault_info: 0,
            data: 7,
        });
        assert_eq!(r.read(PROBE_STATUS, 4, 0).unwrap(), 3);
        assert_eq!(r.read(PROBE_PA, 8, 0).unwrap(), 0x40_0000);
        assert_eq!(r.read(PROBE_DATA, 8, 0).unwrap(), 7);
        assert_eq!(r.read(PROBE_FAULT, 8, 0).unwrap(), 0);
    }
}
