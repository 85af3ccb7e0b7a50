// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! A crashed firmware: what its crash log says, and the GPU's state afterwards.
//!
//! RTKit reports a coprocessor crash on its crash-log endpoint; the C library copies the log
//! the firmware wrote into the host-granted buffer, prints every section, and calls the
//! driver back with the copy. The driver adds the one line a user needs (the firmware's
//! panic text, e.g. `GFX PANIC - Unable to grab init data from host - agx_background(2)`,
//! with the faulting PC when the register section has one) and marks the GPU dead: there
//! is no way to restart the GPU firmware short of a reboot (asahi-driver-facts §7.7), so
//! every later request fails with [`ENODEV`] and nothing the dead firmware could still
//! reach is freed (shared/ARCHITECTURE.md, "Firmware lifetime").
//!
//! Crash-log layout (agx-firmware-behaviour §3.4; linux-7.2:drivers/soc/apple/
//! rtkit-crashlog.c): a 0x20-byte header whose first word is the fourcc `CLHE` and whose
//! third is the log's size, then sections of a 16-byte header {fourcc, -, -, size including
//! the header} and a payload, until a second `CLHE`. `Cstr` holds {u32 id, text}; `Crg8`
//! holds {u32, u32, x0-x30, sp, pc, psr, ...}. The log is written by a firmware that just
//! failed, so the decoder trusts no size in it.

use core::sync::atomic::{
    AtomicBool,
    Ordering, //
};

use kernel::{
    prelude::*,
    str::BStr, //
};

/// Builds a crash-log fourcc the way RTKit stores it (first character in the top byte).
const fn fourcc(s: &[u8; 4]) -> u32 {
    ((s[0] as u32) << 24) | ((s[1] as u32) << 16) | ((s[2] as u32) << 8) | (s[3] as u32)
}

/// Header and footer of a crash log.
const CLHE: u32 = fourcc(b"CLHE");
/// A text section.
const CSTR: u32 = fourcc(b"Cstr");
/// The exception registers.
const CRG8: u32 = fourcc(b"Crg8");
/// Size of the log header.
const LOG_HEADER: usize = 0x20;
/// Size of a section header.
const SECTION_HEADER: usize = 0x10;
/// Offset of the PC in a `Crg8` payload: two u32, x0-x30, sp.
const CRG8_PC: usize = 8 + 31 * 8 + 8;
/// Most sections looked at (a log is a handful; a corrupt one must not keep the worker).
const MAX_SECTIONS: usize = 64;

/// What the driver prints of a crash log.
#[derive(Debug, PartialEq)]
pub(crate) struct CrashSummary<'a> {
    /// The first text section up to its first NUL or newline (the panic line).
    pub(crate) panic: Option<&'a BStr>,
    /// The faulting PC, when the log has the register section.
    pub(crate) pc: Option<u64>,
}

fn u32_at(log: &[u8], at: usize) -> Option<u32> {
    let b = log.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(log: &[u8], at: usize) -> Option<u64> {
    let lo = u32_at(log, at)?;
    let hi = u32_at(log, at.checked_add(4)?)?;
    Some(u64::from(lo) | (u64::from(hi) << 32))
}

/// The first line of a text payload.
fn first_line(text: &[u8]) -> &BStr {
    let end = text
        .iter()
        .position(|&c| c == 0 || c == b'\n')
        .unwrap_or(text.len());
    BStr::from_bytes(&text[..end])
}

/// Decodes the panic text and PC of a crash log.
///
/// # Errors
///
/// [`EINVAL`] when the log has no `CLHE` header or claims to be larger than the buffer, and
/// [`EIO`] when a section's size is impossible (smaller than its header or past the end).
pub(crate) fn decode(log: &[u8]) -> Result<CrashSummary<'_>> {
    if u32_at(log, 0) != Some(CLHE) {
        return Err(EINVAL);
    }
    let size = u32_at(log, 8).ok_or(EINVAL)? as usize;
    let log = log.get(..size).ok_or(EINVAL)?;
    let mut summary = CrashSummary {
        panic: None,
        pc: None,
    };
    let mut at = LOG_HEADER;
    for _ in 0..MAX_SECTIONS {
        if at >= log.len() {
            break;
        }
        let kind = u32_at(log, at).ok_or(EIO)?;
        if kind == CLHE {
            break;
        }
        let len = u32_at(log, at + 12).ok_or(EIO)? as usize;
        if len < SECTION_HEADER {
            return Err(EIO);
        }
        let end = at.checked_add(len).ok_or(EIO)?;
        let payload = log.get(at + SECTION_HEADER..end).ok_or(EIO)?;
        match kind {
            CSTR if summary.panic.is_none() => {
                summary.panic = payload.get(4..).map(first_line);
            }
            CRG8 if summary.pc.is_none() => summary.pc = u64_at(payload, CRG8_PC),
            _ => {}
        }
        at = end;
    }
    Ok(summary)
}

/// Whether the firmware still runs; shared by the RTKit callbacks and every request path.
pub(crate) struct FwHealth {
    crashed: AtomicBool,
}

impl FwHealth {
    /// A firmware not known to have crashed.
    pub(crate) const fn new() -> Self {
        Self {
            crashed: AtomicBool::new(false),
        }
    }

    /// Records a crash; `true` only for the first report, so it is printed once.
    pub(crate) fn mark_crashed(&self) -> bool {
        !self.crashed.swap(true, Ordering::AcqRel)
    }

    /// Whether the firmware crashed.
    pub(crate) fn is_crashed(&self) -> bool {
        self.crashed.load(Ordering::Acquire)
    }

    /// Fails a request to a dead GPU.
    ///
    /// # Errors
    ///
    /// [`ENODEV`] once the firmware crashed.
    pub(crate) fn check(&self) -> Result {
        if self.is_crashed() {
            Err(ENODEV)
        } else {
            Ok(())
        }
    }
}

#[kunit_tests(asahi_crash_log)]
mod tests {
    use super::*;

    /// Appends a section of `kind` with `payload` to `log`.
    fn section(log: &mut KVec<u8>, kind: u32, payload: &[u8]) -> Result {
        let len = (SECTION_HEADER + payload.len()) as u32;
        log.extend_from_slice(&kind.to_le_bytes(), GFP_KERNEL)?;
        log.extend_from_slice(&[0; 8], GFP_KERNEL)?;
        log.extend_from_slice(&len.to_le_bytes(), GFP_KERNEL)?;
        log.extend_from_slice(payload, GFP_KERNEL)?;
        Ok(())
    }

    /// A log with a version text, the panic line, registers and the footer.
    fn sample(pc: u64) -> Result<KVec<u8>> {
        let mut log = KVec::new();
        log.extend_from_slice(&CLHE.to_le_bytes(), GFP_KERNEL)?;
        log.extend_from_slice(&[0; LOG_HEADER - 4], GFP_KERNEL)?;
        section(&mut log, fourcc(b"Cver"), &[b'v'; 24])?;
        let mut text = KVec::new();
        text.extend_from_slice(&0u32.to_le_bytes(), GFP_KERNEL)?;
        text.extend_from_slice(
            b"GFX PANIC - Unable to grab init data from host - agx_background(2)\nmore\0",
            GFP_KERNEL,
        )?;
        section(&mut log, CSTR, &text)?;
        let mut regs = KVec::from_elem(0u8, 0x350, GFP_KERNEL)?;
        regs[CRG8_PC..CRG8_PC + 8].copy_from_slice(&pc.to_le_bytes());
        section(&mut log, CRG8, &regs)?;
        section(&mut log, CLHE, &[])?;
        let size = log.len() as u32;
        log[8..12].copy_from_slice(&size.to_le_bytes());
        // The buffer is larger than the log and holds the 0xef the firmware filled it with.
        log.extend_from_slice(&[0xef; 64], GFP_KERNEL)?;
        Ok(log)
    }

    #[test]
    fn the_panic_line_and_pc_are_decoded() -> Result {
        let log = sample(0xffff_fe00_0012_3458)?;
        let s = decode(&log)?;
        assert_eq!(
            s.panic,
            Some(BStr::from_bytes(
                b"GFX PANIC - Unable to grab init data from host - agx_background(2)"
            ))
        );
        assert_eq!(s.pc, Some(0xffff_fe00_0012_3458));
        Ok(())
    }

    #[test]
    fn a_buffer_without_a_log_is_refused() {
        // What the firmware leaves before any crash: the 0xef fill.
        assert_eq!(decode(&[0xef; 0x100]), Err(EINVAL));
        assert_eq!(decode(&[]), Err(EINVAL));
    }

    #[test]
    fn sizes_the_firmware_got_wrong_are_refused() -> Result {
        let mut log = sample(1)?;
        let total = log.len() as u32;
        // A log claiming more bytes than the buffer has.
        log[8..12].copy_from_slice(&(total + 1).to_le_bytes());
        assert_eq!(decode(&log), Err(EINVAL));

        // A section of size zero would never advance.
        let mut log = sample(1)?;
        let first = LOG_HEADER + 12;
        log[first..first + 4].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(decode(&log), Err(EIO));

        // A section running past the end of the log.
        let mut log = sample(1)?;
        log[first..first + 4].copy_from_slice(&0x10_0000u32.to_le_bytes());
        assert_eq!(decode(&log), Err(EIO));
        Ok(())
    }

    #[test]
    fn a_log_without_text_or_registers_decodes_to_nothing() -> Result {
        let mut log = KVec::new();
        log.extend_from_slice(&CLHE.to_le_bytes(), GFP_KERNEL)?;
        log.extend_from_slice(&[0; 4], GFP_KERNEL)?;
        log.extend_from_slice(
            &((LOG_HEADER + SECTION_HEADER) as u32).to_le_bytes(),
            GFP_KERNEL,
        )?;
        log.extend_from_slice(&[0; LOG_HEADER - 12], GFP_KERNEL)?;
        section(&mut log, CLHE, &[])?;
        assert_eq!(
            decode(&log),
            Ok(CrashSummary {
                panic: None,
                pc: None
            })
        );
        Ok(())
    }

    #[test]
    fn a_crash_is_reported_once_and_fails_every_later_request() {
        let h = FwHealth::new();
        assert_eq!(h.check(), Ok(()));
        assert!(h.mark_crashed());
        assert!(!h.mark_crashed());
        assert!(h.is_crashed());
        assert_eq!(h.check(), Err(ENODEV));
    }
}
