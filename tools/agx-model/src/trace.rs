// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The model's trace: one line per MMIO access, mailbox message, interrupt and state change.
//!
//! Tests grep it, so the format is stable; each line starts with its kind:
//!
//! ```text
//! mmio r32 asc+0x44 -> 0x0
//! mmio w32 asc+0x44 = 0x10
//! mmio r64 mbox+0x830 -> 0x10000000000b0c
//! mbox tx ep=0x00 msg0=0x0010000000000b0b msg1=0x00000000 mgmt=HELLO
//! mbox rx ep=0x00 msg0=0x0020000000000c0c msg1=0x00000000 mgmt=HELLO_REPLY
//! rtkit state=hello-sent
//! irq raise hwirq=3 recv-not-empty
//! violation mailbox: A2I_SEND1 written without a preceding A2I_SEND0
//! fault never-answer: CPU started, firmware stays silent
//! fw init va=0xffffffa0001dc000 latched
//! fw initdata va=0xffffffa0001dc000 read
//! fw channel DevCtrl state=0xffffffa800400000 ring=0xffffffa000480000 entries=256 initialised
//! fw log sub=1 index=0 seq=0 text="GPU firmware initialised"
//! fw devctrl consumed tag=Initialize read_ptr=1
//! fw ready: 18 channels, initdata checked: 31 fields, 52 pointers
//! fault crash-after-ready: firmware ready, acting in 300 ms
//! fw panic: GFX PANIC - Injected fault - agx_background(2)
//! crashlog written va=0xffffffae00000000 bytes=1080 through the UAT
//! mbox tx ep=0x01 msg0=0x00120fae00000000 msg1=0x00000001 crash
//! rtkit crashed: ignored ep=0x21 msg0=0x0083000000000010
//! fw event index=0 tag=Flag firing=[0x20, 0x0, 0x0, 0x0]
//! ```
//!
//! `fw` lines are the GPU firmware ([`crate::fw`]): one `fw channel` line per channel INIT
//! initialised (FWLog's `entries` counts all six sub-rings), and `fw ready:` once, when
//! DevCtrl `Initialize` has been consumed, with the number of channels and of InitData
//! scalar fields and pointers checked. `fault` lines name an injected fault acting;
//! `fw panic` / `crashlog written` / `mbox tx ... crash` are a firmware crash
//! ([`crate::crashlog`]).
//!
//! `mbox tx` is a message the model (the firmware) sends to the host, `mbox rx` one it
//! receives from the host. Values are hexadecimal; msg0 always has 16 digits, msg1 8.
//! The last lines are also kept in memory for the strict-mode report.

use std::collections::VecDeque;
use std::io::Write;

use crate::layout::Region;
use crate::mailbox::Message;
use crate::rtkit;

/// Lines kept for the strict-mode report.
const RECENT: usize = 40;

/// Trace sink.
pub struct Trace {
    out: Option<Box<dyn Write + Send>>,
    recent: VecDeque<String>,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace")
            .field("to_file", &self.out.is_some())
            .finish()
    }
}

impl Trace {
    /// A trace writing to `out` (if any); lines are also logged at `trace` level.
    pub fn new(out: Option<Box<dyn Write + Send>>) -> Self {
        Trace {
            out,
            recent: VecDeque::with_capacity(RECENT),
        }
    }

    /// Records one line.
    pub fn line(&mut self, line: String) {
        log::trace!("{line}");
        if let Some(out) = self.out.as_mut() {
            // A trace that cannot be written must not take the device down; say so once.
            if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
                log::error!("trace write failed, trace disabled: {e}");
                self.out = None;
            }
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(line);
    }

    /// An MMIO read.
    pub fn mmio_read(&mut self, region: Region, offset: u64, size: u32, value: u64) {
        self.line(format!(
            "mmio r{} {region}+0x{offset:x} -> 0x{value:x}",
            size * 8
        ));
    }

    /// An MMIO write.
    pub fn mmio_write(&mut self, region: Region, offset: u64, size: u32, value: u64) {
        self.line(format!(
            "mmio w{} {region}+0x{offset:x} = 0x{value:x}",
            size * 8
        ));
    }

    /// An access outside every block (window offset).
    pub fn mmio_unmapped(&mut self, write: bool, offset: u64, size: u32, value: u64) {
        let dir = if write { 'w' } else { 'r' };
        self.line(format!(
            "mmio {dir}{} window+0x{offset:x} = 0x{value:x} unmapped",
            size * 8
        ));
    }

    /// A mailbox message; `tx` = firmware to host.
    pub fn mbox(&mut self, tx: bool, m: &Message) {
        let dir = if tx { "tx" } else { "rx" };
        self.line(format!(
            "mbox {dir} ep=0x{:02x} msg0=0x{:016x} msg1=0x{:08x} {}",
            m.ep(),
            m.msg0,
            m.msg1,
            rtkit::describe(tx, m)
        ));
    }

    /// The last lines, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = &str> {
        self.recent.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn formats_are_stable() {
        let buf = Shared::default();
        let mut t = Trace::new(Some(Box::new(buf.clone())));
        t.mmio_write(Region::Asc, 0x44, 4, 0x10);
        t.mmio_read(Region::Mbox, 0x114, 4, 0x20000);
        t.mbox(true, &Message::new(0, 0x0010_0000_000c_000b));
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "mmio w32 asc+0x44 = 0x10\n\
             mmio r32 mbox+0x114 -> 0x20000\n\
             mbox tx ep=0x00 msg0=0x00100000000c000b msg1=0x00000000 mgmt=HELLO\n"
        );
        assert_eq!(t.recent().count(), 3);
    }
}
