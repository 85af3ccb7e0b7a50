// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The firmware log: six rings, one per level, whose entries index a payload array of text.
//!
//! Entry `i` of sub-ring `s` names payload `0x100 * s + msg_index`; the text is NUL
//! terminated (asahi-driver-facts §3.3). Entries are peeked, printed with their level, and
//! only then consumed, so a log line is never lost to a half-done drain. The rings are
//! drained whenever the firmware rings the host (`0x42` on the firmware endpoint).
//!
//! The ABI is fixed at probe, so the decoder is picked once as a monomorphised function
//! pointer rather than making the RTKit callbacks generic.

use core::mem::size_of;

use kernel::{
    device::Device,
    fmt, new_spinlock,
    prelude::*,
    str::BStr,
    sync::{
        Arc,
        SpinLock, //
    },
    transmute::AsBytes,
};

use crate::{
    fw::abi::{
        self,
        RawFwLogMsgFields,
        RawFwLogPayloadMsgFields, //
    },
    mem::object::GpuMem,
    uat::heap::HeapBacking,
};

use super::{
    Rx,
    FW_LOG_SUBRINGS,
    RING_ENTRIES, //
};

/// Most entries taken from one sub-ring per drain (a firmware that keeps writing must not
/// hold the worker).
const DRAIN_LIMIT: usize = RING_ENTRIES as usize;

type DrainFn<B> = fn(&mut FwLog<B>, &Device) -> Result<usize>;

/// Lines the tail keeps.
pub(crate) const TAIL_LINES: usize = 64;
/// Bytes of a line the tail keeps (longer lines are cut).
const TAIL_LINE_BYTES: usize = 120;
/// Level names, by sub-ring.
const LEVELS: [&str; FW_LOG_SUBRINGS] = ["debug", "info", "notice", "warn", "error", "crit"];

#[derive(Clone, Copy, Zeroable)]
struct TailLine {
    seq: u64,
    level: u8,
    len: u8,
    text: [u8; TAIL_LINE_BYTES],
}

#[derive(Zeroable)]
struct TailBuf {
    lines: [TailLine; TAIL_LINES],
    /// Lines forwarded since boot; the next goes to `lines[next % TAIL_LINES]`.
    next: u64,
}

/// The last [`TAIL_LINES`] firmware log lines, for debugfs (the kernel log may have dropped
/// or rate-limited them, and debug-level lines are not printed by default).
#[pin_data]
pub(crate) struct LogTail {
    #[pin]
    buf: SpinLock<KBox<TailBuf>>,
}

impl LogTail {
    /// An empty tail.
    pub(crate) fn new() -> Result<Arc<Self>> {
        // Built in place: the lines are too large for the stack.
        let buf = KBox::init(pin_init::init_zeroed::<TailBuf>(), GFP_KERNEL)?;
        Arc::pin_init(
            pin_init!(Self {
                buf <- new_spinlock!(buf),
            }),
            GFP_KERNEL,
        )
    }

    fn push(&self, level: usize, line: &[u8]) {
        let mut b = self.buf.lock();
        let seq = b.next;
        let len = line.len().min(TAIL_LINE_BYTES);
        let slot = &mut b.lines[(seq % TAIL_LINES as u64) as usize];
        slot.seq = seq;
        slot.level = level as u8;
        slot.len = len as u8;
        slot.text[..len].copy_from_slice(&line[..len]);
        b.next = seq + 1;
    }

    /// Writes the kept lines, oldest first, as `<seq> <level> <text>`.
    pub(crate) fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.buf.lock();
        let first = b.next.saturating_sub(TAIL_LINES as u64);
        for seq in first..b.next {
            let l = &b.lines[(seq % TAIL_LINES as u64) as usize];
            let level = LEVELS.get(usize::from(l.level)).copied().unwrap_or("?");
            write!(f, "{} {} ", l.seq, level)?;
            for chunk in l.text[..usize::from(l.len)].utf8_chunks() {
                f.write_str(chunk.valid())?;
                if !chunk.invalid().is_empty() {
                    f.write_str("?")?;
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// The driver's end of the firmware log.
pub(crate) struct FwLog<B: HeapBacking> {
    /// Sub-rings by level: debug, info, notice, warn, error, critical.
    pub(crate) rings: KVec<Rx<B>>,
    /// The text array.
    pub(crate) payload: GpuMem<B>,
    drain: DrainFn<B>,
    /// Where forwarded lines are kept for debugfs.
    tail: Option<Arc<LogTail>>,
}

impl<B: HeapBacking> FwLog<B> {
    /// The log of ABI `A` over its rings and payload array.
    pub(crate) fn new<A: abi::FwAbi>(rings: KVec<Rx<B>>, payload: GpuMem<B>) -> Self {
        Self {
            rings,
            payload,
            drain: drain_abi::<A, B>,
            tail: None,
        }
    }

    /// Keeps every forwarded line in `tail` from now on.
    pub(crate) fn watch(&mut self, tail: Arc<LogTail>) {
        self.tail = Some(tail);
    }

    /// Prints every new entry to the kernel log with its level; returns how many.
    ///
    /// # Errors
    ///
    /// [`EIO`] for a torn ring index (the rest of the log is left for the next drain).
    pub(crate) fn drain(&mut self, dev: &Device) -> Result<usize> {
        (self.drain)(self, dev)
    }
}

/// The text of a payload: up to its first NUL.
fn text(msg: &[u8]) -> &BStr {
    let end = msg.iter().position(|&c| c == 0).unwrap_or(msg.len());
    BStr::from_bytes(&msg[..end])
}

fn print(dev: &Device, level: usize, line: &BStr) {
    match level {
        0 => dev_dbg!(dev, "firmware: {}\n", line),
        1 => dev_info!(dev, "firmware: {}\n", line),
        2 => dev_notice!(dev, "firmware: {}\n", line),
        3 => dev_warn!(dev, "firmware: {}\n", line),
        4 => dev_err!(dev, "firmware: {}\n", line),
        _ => dev_crit!(dev, "firmware: {}\n", line),
    }
}

fn drain_abi<A: abi::FwAbi, B: HeapBacking>(log: &mut FwLog<B>, dev: &Device) -> Result<usize> {
    let mut printed = 0;
    for (level, ring) in log.rings.iter_mut().enumerate().take(FW_LOG_SUBRINGS) {
        for _ in 0..DRAIN_LIMIT {
            let mut entry: A::RawFwLogMsg = pin_init::zeroed();
            if !ring.peek(entry.as_bytes_mut())? {
                break;
            }
            let index = entry.msg_index().get();
            if index >= u64::from(RING_ENTRIES) {
                dev_err!(
                    dev,
                    "firmware log entry names payload {:#x} of {:#x}; skipped\n",
                    index,
                    RING_ENTRIES
                );
            } else {
                let mut payload: A::RawFwLogPayloadMsg = pin_init::zeroed();
                let at = (level * RING_ENTRIES as usize + index as usize)
                    * size_of::<A::RawFwLogPayloadMsg>();
                log.payload.read_bytes(at, payload.as_bytes_mut())?;
                let line = text(payload.msg());
                print(dev, level, line);
                if let Some(tail) = &log.tail {
                    tail.push(level, line);
                }
                printed += 1;
            }
            ring.advance()?;
        }
    }
    Ok(printed)
}
