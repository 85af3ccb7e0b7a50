// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The RTKit crash log: what a panicking coprocessor leaves in the buffer the host granted its
//! crash-log endpoint (1), and the endpoint-1 message that reports the crash.
//!
//! The model builds the log the host parses, so a driver's crash path is exercised against the
//! exact bytes Linux reads (linux-7.2:drivers/soc/apple/rtkit-crashlog.c
//! `apple_rtkit_crashlog_dump`; agx-firmware-behaviour.md §3.4):
//!
//! * a 0x20-byte header {u32 fourcc `CLHE`, u32 version, u32 size of the whole log, u32 flags,
//!   16 bytes}, where a fourcc is `(c0 << 24) | (c1 << 16) | (c2 << 8) | c3` stored
//!   little-endian (so `CLHE` reads `45 48 4c 43` in memory);
//! * sections {u32 fourcc, u32, u32 flags, u32 size including this 16-byte header, payload},
//!   one after the other, until a section whose fourcc is `CLHE` (the footer);
//! * `Cver` {16-byte UUID, NUL-terminated text}; `Cstr` {u32 id, NUL-terminated text};
//!   `Crg8` (0x350 bytes: two u32, x0–x30, sp, pc, psr, cpacr, fpsr, fpcr, 64 u64, far, u64,
//!   esr, u64).
//!
//! Linux hands each dump routine the section's size *including* its header, so its text
//! dumper looks 16 bytes past a `Cstr` payload for a newline: the builder keeps those bytes
//! (the next section's header) free of `\n` so Linux prints the panic text as one line. The
//! header version and section flags are unrecorded and the host ignores them; the model
//! writes 0.
//!
//! The crash itself is reported as a type-1 message on endpoint 1 carrying the buffer's size
//! (51:44, 4 KiB pages) and address (43:0), the layout of the buffer request; Linux only
//! checks the type and uses the buffer it saved (`apple_rtkit_crashlog_rx`), m1n1 reads both
//! fields (agx-firmware-behaviour.md §3.4).

use thiserror::Error as ThisError;

use crate::rtkit::{HostBuffer, BUFFER_REQUEST};

/// A fourcc as RTKit stores it: first character in the top byte.
pub const fn fourcc(s: &[u8; 4]) -> u32 {
    ((s[0] as u32) << 24) | ((s[1] as u32) << 16) | ((s[2] as u32) << 8) | (s[3] as u32)
}

/// Header and footer.
pub const CLHE: u32 = fourcc(b"CLHE");
/// Text section.
pub const CSTR: u32 = fourcc(b"Cstr");
/// Version section.
pub const CVER: u32 = fourcc(b"Cver");
/// Exception registers.
pub const CRG8: u32 = fourcc(b"Crg8");
/// Size of the log header.
pub const HEADER: usize = 0x20;
/// Size of a section header.
pub const SECTION_HEADER: usize = 0x10;
/// Size of a `Crg8` payload (`struct apple_rtkit_crashlog_regs`).
pub const CRG8_SIZE: usize = 0x350;
/// Offset of `sp` in a `Crg8` payload (two u32, then x0–x30).
pub const CRG8_SP: usize = 8 + 31 * 8;
/// Offset of `pc`.
pub const CRG8_PC: usize = CRG8_SP + 8;
/// Offset of `psr`.
pub const CRG8_PSR: usize = CRG8_PC + 8;
/// Offset of `far` (after psr, cpacr, fpsr, fpcr and 64 unknown u64).
pub const CRG8_FAR: usize = CRG8_PSR + 4 * 8 + 64 * 8;
/// Offset of `esr`.
pub const CRG8_ESR: usize = CRG8_FAR + 16;

/// What a crash log says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crash {
    /// The panic line (no newline, no NUL).
    pub panic: String,
    /// Text of the version section.
    pub version: String,
    /// Registers at the panic.
    pub regs: Regs,
}

/// The registers of a `Crg8` section the model fills.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    /// Program counter.
    pub pc: u64,
    /// Stack pointer.
    pub sp: u64,
    /// Saved PSR (mode in 3:0).
    pub psr: u64,
    /// Fault address.
    pub far: u64,
    /// Exception syndrome.
    pub esr: u64,
}

/// A crash log that cannot be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
pub enum CrashLogError {
    /// The log does not fit the granted buffer.
    #[error("crash log of {len} bytes does not fit the {capacity}-byte buffer")]
    TooLarge {
        /// Bytes of the log.
        len: usize,
        /// Bytes of the buffer.
        capacity: usize,
    },
    /// A text contains a NUL or a newline (it must stay one line for the host).
    #[error("crash-log text {0:?} contains a NUL or a newline")]
    BadText(String),
    /// The buffer does not start with a `CLHE` header.
    #[error("no CLHE header (first word 0x{0:08x})")]
    NoHeader(u32),
    /// The header's size exceeds the buffer.
    #[error("header size 0x{size:x} exceeds the 0x{len:x}-byte buffer")]
    Size {
        /// Size the header claims.
        size: usize,
        /// Bytes available.
        len: usize,
    },
    /// A section's size is smaller than its header or runs past the log.
    #[error("section 0x{fourcc:08x} at 0x{at:x} has impossible size 0x{size:x}")]
    Section {
        /// The section's fourcc.
        fourcc: u32,
        /// Offset of the section.
        at: usize,
        /// Its size field.
        size: usize,
    },
    /// The log ends without a `CLHE` footer.
    #[error("no CLHE footer")]
    NoFooter,
}

/// One section of a parsed log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// Offset of the section header in the log.
    pub at: usize,
    /// Fourcc.
    pub fourcc: u32,
    /// Size field (header included).
    pub size: usize,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

fn section(log: &mut Vec<u8>, fourcc: u32, payload: &[u8]) {
    // Sections start 8-byte aligned (the register section holds u64s); the padding is part of
    // the payload, zero, after the text's NUL.
    let len = (SECTION_HEADER + payload.len()).next_multiple_of(8);
    log.extend_from_slice(&fourcc.to_le_bytes());
    log.extend_from_slice(&[0; 8]);
    log.extend_from_slice(&(len as u32).to_le_bytes());
    log.extend_from_slice(payload);
    log.resize(log.len() + len - SECTION_HEADER - payload.len(), 0);
}

fn text(s: &str) -> Result<&[u8], CrashLogError> {
    if s.bytes().any(|b| b == 0 || b == b'\n') {
        return Err(CrashLogError::BadText(s.into()));
    }
    Ok(s.as_bytes())
}

impl Crash {
    /// The log's bytes: header, `Cver`, `Cstr` (id 0), `Crg8`, footer; at most `capacity`
    /// bytes.
    pub fn build(&self, capacity: usize) -> Result<Vec<u8>, CrashLogError> {
        let mut log = Vec::with_capacity(0x800);
        log.extend_from_slice(&CLHE.to_le_bytes());
        log.resize(HEADER, 0);

        let mut ver = vec![0u8; 16];
        ver.extend_from_slice(text(&self.version)?);
        ver.push(0);
        section(&mut log, CVER, &ver);

        let mut s = 0u32.to_le_bytes().to_vec();
        s.extend_from_slice(text(&self.panic)?);
        s.push(0);
        section(&mut log, CSTR, &s);

        let mut regs = vec![0u8; CRG8_SIZE];
        for (off, v) in [
            (CRG8_SP, self.regs.sp),
            (CRG8_PC, self.regs.pc),
            (CRG8_PSR, self.regs.psr),
            (CRG8_FAR, self.regs.far),
            (CRG8_ESR, self.regs.esr),
        ] {
            regs[off..off + 8].copy_from_slice(&v.to_le_bytes());
        }
        section(&mut log, CRG8, &regs);
        section(&mut log, CLHE, &[]);

        let len = log.len();
        if len > capacity {
            return Err(CrashLogError::TooLarge { len, capacity });
        }
        log[8..12].copy_from_slice(&(len as u32).to_le_bytes());
        Ok(log)
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses a log as Linux walks it: the header, then sections until the footer. Stricter than
/// Linux where Linux would misbehave (a size below the section header, which never advances,
/// or past the log).
pub fn parse(buf: &[u8]) -> Result<Vec<Section>, CrashLogError> {
    let magic = u32_at(buf, 0).unwrap_or(0);
    if magic != CLHE || buf.len() < HEADER {
        return Err(CrashLogError::NoHeader(magic));
    }
    let size = u32_at(buf, 8).unwrap_or(0) as usize;
    if size > buf.len() {
        return Err(CrashLogError::Size {
            size,
            len: buf.len(),
        });
    }
    let log = &buf[..size];
    let mut out = Vec::new();
    let mut at = HEADER;
    while at < log.len() {
        let fourcc = u32_at(log, at).ok_or(CrashLogError::NoFooter)?;
        if fourcc == CLHE {
            return Ok(out);
        }
        let size = u32_at(log, at + 12).map_or(0, |s| s as usize);
        if size < SECTION_HEADER || at + size > log.len() {
            return Err(CrashLogError::Section { fourcc, at, size });
        }
        out.push(Section {
            at,
            fourcc,
            size,
            payload: log[at + SECTION_HEADER..at + size].to_vec(),
        });
        at += size;
    }
    Err(CrashLogError::NoFooter)
}

/// The text of a `Cstr` or `Cver` payload, up to its NUL.
pub fn section_text(s: &Section) -> Option<&str> {
    let skip = match s.fourcc {
        CSTR => 4,
        CVER => 16,
        _ => return None,
    };
    let t = s.payload.get(skip..)?;
    let end = t.iter().position(|b| *b == 0)?;
    std::str::from_utf8(&t[..end]).ok()
}

/// The endpoint-1 message reporting a crash whose log is in `buf`.
pub fn crash_message(buf: HostBuffer) -> u64 {
    (u64::from(BUFFER_REQUEST) << 52) | ((buf.size >> 12) << 44) | (buf.addr & ((1 << 44) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PANIC: &str = "GFX PANIC - Unable to grab init data from host - agx_background(2)";

    fn sample() -> Crash {
        Crash {
            panic: PANIC.into(),
            version: "agx-model g13_v13_5".into(),
            regs: Regs {
                pc: 0xffff_ff80_0001_2340,
                sp: 0xffff_ff80_0040_0000,
                psr: 0x3c5,
                far: 0,
                esr: 0,
            },
        }
    }

    #[test]
    fn the_log_parses_back_to_its_panic_text_and_registers() {
        let log = sample().build(0x2_0000).unwrap();
        // Header: CLHE as RTKit stores it, the size of the whole log.
        assert_eq!(&log[..4], &[0x45, 0x48, 0x4c, 0x43]);
        assert_eq!(u32_at(&log, 8), Some(log.len() as u32));
        let s = parse(&log).unwrap();
        let kinds: Vec<u32> = s.iter().map(|s| s.fourcc).collect();
        assert_eq!(kinds, vec![CVER, CSTR, CRG8]);
        assert_eq!(section_text(&s[1]), Some(PANIC));
        assert_eq!(u32_at(&s[1].payload, 0), Some(0), "Cstr id");
        assert_eq!(section_text(&s[0]), Some("agx-model g13_v13_5"));
        let r = &s[2].payload;
        assert_eq!(r.len(), CRG8_SIZE);
        let u64_at = |at: usize| u64::from_le_bytes(r[at..at + 8].try_into().unwrap());
        assert_eq!(u64_at(CRG8_PC), 0xffff_ff80_0001_2340);
        assert_eq!(u64_at(CRG8_SP), 0xffff_ff80_0040_0000);
        assert_eq!(u64_at(CRG8_PSR) & 0xf, 5, "EL1h");
        assert_eq!((CRG8_FAR, CRG8_ESR), (0x330, 0x340));
        // Every section 8-byte aligned; the footer is the last 16 bytes.
        assert!(s.iter().all(|s| s.at % 8 == 0));
        assert_eq!(u32_at(&log, log.len() - 16), Some(CLHE));
    }

    /// What Linux prints from the `Cstr` section: it scans from payload + 4 to payload +
    /// section size (16 bytes past the payload) for newlines and prints each piece with %s.
    #[test]
    fn linux_prints_the_panic_text_as_one_line() {
        let log = sample().build(0x2_0000).unwrap();
        let s = parse(&log).unwrap();
        let cstr = &s[1];
        let start = cstr.at + SECTION_HEADER + 4;
        let end = cstr.at + SECTION_HEADER + cstr.size;
        assert!(end <= log.len());
        assert!(!log[start..end].contains(&b'\n'), "one dev_warn line");
        let nul = log[start..].iter().position(|b| *b == 0).unwrap();
        assert_eq!(&log[start..start + nul], PANIC.as_bytes());
        // The register section passes Linux's size check (it compares the size field).
        assert!(s[2].size >= CRG8_SIZE);
    }

    #[test]
    fn bad_input_is_refused() {
        let mut c = sample();
        c.panic = "two\nlines".into();
        assert_eq!(
            c.build(0x1000),
            Err(CrashLogError::BadText("two\nlines".into()))
        );
        let len = sample().build(0x1000).unwrap().len();
        assert_eq!(
            sample().build(len - 1),
            Err(CrashLogError::TooLarge {
                len,
                capacity: len - 1
            })
        );
        // The 0xef fill the firmware leaves before any crash.
        assert_eq!(
            parse(&[0xef; 0x100]),
            Err(CrashLogError::NoHeader(0xefef_efef))
        );
        let mut log = sample().build(0x1000).unwrap();
        let n = log.len();
        assert_eq!(
            parse(&log[..n - 1]),
            Err(CrashLogError::Size {
                size: n,
                len: n - 1
            })
        );
        log[HEADER + 12..HEADER + 16].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(
            parse(&log),
            Err(CrashLogError::Section {
                fourcc: CVER,
                at: HEADER,
                size: 0
            })
        ));
    }

    #[test]
    fn the_crash_message_names_the_granted_buffer() {
        // The Asahi driver grants the 0x20 pages asked for at 0xffffffae00000000 (VA bits
        // 43:0 in the reply).
        let buf = HostBuffer {
            addr: 0xfae_0000_0000,
            size: 0x20 << 12,
        };
        assert_eq!(crash_message(buf), 0x0012_0fae_0000_0000);
        assert_eq!(crate::rtkit::mgmt_type(crash_message(buf)), 1);
    }
}
