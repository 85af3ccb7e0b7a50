// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The ASC mailbox v4 (`apple,asc-mailbox-v4`): two message FIFOs and four level interrupts.
//!
//! The upstream `apple-mailbox` driver (linux-7.2:drivers/soc/apple/mailbox.c) talks to this
//! block, and RTKit rides on it, so its register semantics must match what that driver relies
//! on:
//!
//! * A2I ("AP to IOP", host sends): the host checks `A2I_CONTROL.FULL`, writes `A2I_SEND0` (msg0)
//!   then `A2I_SEND1` (msg1 in bits 31:0) as 64-bit writes; the message is committed by the
//!   `SEND1` write (m1n1:proxyclient/m1n1/trace/asc.py decodes sends there).
//! * I2A ("IOP to AP", host receives): while `I2A_CONTROL.EMPTY` is clear the host reads
//!   `I2A_RECV0` then `I2A_RECV1` (64-bit); the `RECV1` read removes the entry, and its bits
//!   56:40 carry FIFO status the host masks off (`APPLE_MBOX_MSG1_*`).
//! * Control bits: 16 FULL, 17 EMPTY (driver); 0 ENABLE, 11:8 WPTR, 15:12 RPTR, 18 OVERFLOW,
//!   23:20 FIFOCNT (m1n1 `R_MBOX_CTRL`), 19 UNDERFLOW (qemu-as).
//! * v4 has no mailbox-level interrupt enable or acknowledge: the four lines are pure levels of
//!   FIFO state, in device-tree order send-empty, send-not-empty, recv-empty, recv-not-empty
//!   (linux-7.2:Documentation/devicetree/bindings/mailbox/apple,mailbox.yaml). The driver masks
//!   them at the interrupt controller only, so recv-not-empty must drop as soon as the host has
//!   drained the FIFO, and send-empty must be high whenever A2I is empty.
//!
//! FIFO depth is not documented for the real part; the model uses 15 entries, the point at
//! which the QEMUAppleSilicon model declares FULL (qemu-as:hw/misc/apple-silicon/a7iop/mailbox/
//! core.c). The IOP side of the FIFOs (`A2I_RECV*`, `I2A_SEND*`) belongs to the firmware and is
//! reached through [`Mailbox::iop_recv`] and [`Mailbox::iop_send`], never through MMIO.

use std::collections::VecDeque;

use crate::layout::Region;
use crate::strict::{Checked, Violation};

/// `A2I_CONTROL`: status of the host-to-firmware FIFO.
pub const A2I_CONTROL: u64 = 0x110;
/// `I2A_CONTROL`: status of the firmware-to-host FIFO.
pub const I2A_CONTROL: u64 = 0x114;
/// `A2I_SEND0`: host writes msg0.
pub const A2I_SEND0: u64 = 0x800;
/// `A2I_SEND1`: host writes msg1 and commits the message.
pub const A2I_SEND1: u64 = 0x808;
/// `A2I_RECV0`: firmware side.
pub const A2I_RECV0: u64 = 0x810;
/// `A2I_RECV1`: firmware side.
pub const A2I_RECV1: u64 = 0x818;
/// `I2A_SEND0`: firmware side.
pub const I2A_SEND0: u64 = 0x820;
/// `I2A_SEND1`: firmware side.
pub const I2A_SEND1: u64 = 0x828;
/// `I2A_RECV0`: host reads msg0 of the head message.
pub const I2A_RECV0: u64 = 0x830;
/// `I2A_RECV1`: host reads msg1 (plus status) and removes the head message.
pub const I2A_RECV1: u64 = 0x838;

/// Control register: FIFO enabled (assumed always set).
pub const CONTROL_ENABLE: u32 = 1 << 0;
/// Control register: FIFO full.
pub const CONTROL_FULL: u32 = 1 << 16;
/// Control register: FIFO empty.
pub const CONTROL_EMPTY: u32 = 1 << 17;
/// Control register: a write was dropped because the FIFO was full.
pub const CONTROL_OVERFLOW: u32 = 1 << 18;
/// Control register: a read found the FIFO empty.
pub const CONTROL_UNDERFLOW: u32 = 1 << 19;

/// Messages each FIFO holds.
pub const FIFO_DEPTH: usize = 15;

/// The four interrupt lines, numbered as the device tree lists them; the number is the hwirq
/// the model sends to the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum IrqLine {
    /// High while A2I is empty (host may send).
    SendEmpty = 0,
    /// High while A2I holds messages.
    SendNotEmpty = 1,
    /// High while I2A is empty.
    RecvEmpty = 2,
    /// High while I2A holds messages (host should receive).
    RecvNotEmpty = 3,
}

impl IrqLine {
    /// All lines by hwirq.
    pub const ALL: [IrqLine; 4] = [
        IrqLine::SendEmpty,
        IrqLine::SendNotEmpty,
        IrqLine::RecvEmpty,
        IrqLine::RecvNotEmpty,
    ];

    /// Device-tree `interrupt-names` spelling.
    pub fn name(self) -> &'static str {
        match self {
            IrqLine::SendEmpty => "send-empty",
            IrqLine::SendNotEmpty => "send-not-empty",
            IrqLine::RecvEmpty => "recv-empty",
            IrqLine::RecvNotEmpty => "recv-not-empty",
        }
    }
}

/// One 96-bit mailbox message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Message {
    /// The 64-bit payload.
    pub msg0: u64,
    /// The 32-bit second word; RTKit puts the endpoint in bits 7:0.
    pub msg1: u32,
}

impl Message {
    /// An RTKit message to or from endpoint `ep`.
    pub fn new(ep: u8, msg0: u64) -> Self {
        Message {
            msg0,
            msg1: u32::from(ep),
        }
    }

    /// RTKit endpoint (msg1 bits 7:0).
    pub fn ep(&self) -> u8 {
        self.msg1 as u8
    }
}

#[derive(Debug, Default)]
struct Fifo {
    queue: VecDeque<Message>,
    /// Write pointer modulo 16, as the control register reports it.
    wptr: u32,
    /// Read pointer modulo 16.
    rptr: u32,
    overflow: bool,
    underflow: bool,
}

impl Fifo {
    fn push(&mut self, m: Message) -> bool {
        if self.queue.len() >= FIFO_DEPTH {
            self.overflow = true;
            return false;
        }
        self.queue.push_back(m);
        self.wptr = (self.wptr + 1) % 16;
        true
    }

    fn pop(&mut self) -> Option<Message> {
        let m = self.queue.pop_front();
        match m {
            Some(_) => self.rptr = (self.rptr + 1) % 16,
            None => self.underflow = true,
        }
        m
    }

    fn control(&self) -> u32 {
        let n = self.queue.len() as u32;
        let mut v = CONTROL_ENABLE | (self.wptr << 8) | (self.rptr << 12) | (n << 20);
        if self.queue.len() >= FIFO_DEPTH {
            v |= CONTROL_FULL;
        }
        if self.queue.is_empty() {
            v |= CONTROL_EMPTY;
        }
        if self.overflow {
            v |= CONTROL_OVERFLOW;
        }
        if self.underflow {
            v |= CONTROL_UNDERFLOW;
        }
        v
    }
}

/// The mailbox state.
#[derive(Debug, Default)]
pub struct Mailbox {
    a2i: Fifo,
    i2a: Fifo,
    /// msg0 written by the host, waiting for the committing `A2I_SEND1` write.
    pending_send0: Option<u64>,
}

impl Mailbox {
    /// A reset mailbox: both FIFOs empty.
    pub fn new() -> Self {
        Self::default()
    }

    fn width(offset: u64, size: u32, write: bool, expected: u32) -> Checked<()> {
        if size == expected {
            Ok(())
        } else {
            Err(Violation::Width {
                region: Region::Mbox,
                offset,
                size,
                write,
                expected,
            })
        }
    }

    fn iop_side(offset: u64) -> Violation {
        Violation::Mailbox(format!(
            "+0x{offset:x} is on the coprocessor side of the FIFOs; the AP never touches it"
        ))
    }

    /// Host MMIO read of `size` bytes at `offset`.
    pub fn read(&mut self, offset: u64, size: u32) -> Checked<u64> {
        match offset {
            A2I_CONTROL => {
                Self::width(offset, size, false, 4)?;
                Ok(self.a2i.control().into())
            }
            I2A_CONTROL => {
                Self::width(offset, size, false, 4)?;
                Ok(self.i2a.control().into())
            }
            I2A_RECV0 => {
                Self::width(offset, size, false, 8)?;
                match self.i2a.queue.front() {
                    Some(m) => Ok(m.msg0),
                    None => {
                        self.i2a.underflow = true;
                        Err(Violation::Mailbox(
                            "I2A_RECV0 read while the firmware-to-host FIFO is empty".into(),
                        ))
                    }
                }
            }
            I2A_RECV1 => {
                Self::width(offset, size, false, 8)?;
                let status = (u64::from(self.i2a.queue.len() as u32 & 0x1f) << 52)
                    | (u64::from(self.a2i.queue.len() as u32 & 0xf) << 48)
                    | (u64::from(self.i2a.rptr) << 44)
                    | (u64::from(self.a2i.wptr) << 40);
                match self.i2a.pop() {
                    Some(m) => Ok(status | u64::from(m.msg1)),
                    None => Err(Violation::Mailbox(
                        "I2A_RECV1 read while the firmware-to-host FIFO is empty".into(),
                    )),
                }
            }
            A2I_SEND0 | A2I_SEND1 => Err(Violation::Direction {
                region: Region::Mbox,
                offset,
                what: "read of a write-only send register",
            }),
            A2I_RECV0 | A2I_RECV1 | I2A_SEND0 | I2A_SEND1 => Err(Self::iop_side(offset)),
            _ => Err(Violation::Unknown {
                region: Region::Mbox,
                offset,
                write: false,
            }),
        }
    }

    /// Host MMIO write. Returns the message committed by this write, if any; the caller hands it
    /// to the firmware.
    pub fn write(&mut self, offset: u64, size: u32, value: u64) -> Checked<Option<Message>> {
        match offset {
            A2I_SEND0 => {
                Self::width(offset, size, true, 8)?;
                self.pending_send0 = Some(value);
                Ok(None)
            }
            A2I_SEND1 => {
                Self::width(offset, size, true, 8)?;
                let msg0 = self.pending_send0.take().ok_or_else(|| {
                    Violation::Mailbox("A2I_SEND1 written without a preceding A2I_SEND0".into())
                })?;
                if value >> 32 != 0 {
                    return Err(Violation::Mailbox(format!(
                        "A2I_SEND1 value 0x{value:x} has bits above 31 set"
                    )));
                }
                let m = Message {
                    msg0,
                    msg1: value as u32,
                };
                if self.a2i.push(m) {
                    Ok(Some(m))
                } else {
                    Err(Violation::Mailbox(format!(
                        "A2I_SEND1 while the host-to-firmware FIFO is FULL: message \
                         msg0=0x{msg0:016x} msg1=0x{:08x} dropped",
                        m.msg1
                    )))
                }
            }
            A2I_CONTROL | I2A_CONTROL | I2A_RECV0 | I2A_RECV1 => Err(Violation::Direction {
                region: Region::Mbox,
                offset,
                what: "write to a read-only register",
            }),
            A2I_RECV0 | A2I_RECV1 | I2A_SEND0 | I2A_SEND1 => Err(Self::iop_side(offset)),
            _ => Err(Violation::Unknown {
                region: Region::Mbox,
                offset,
                write: true,
            }),
        }
    }

    /// Firmware side: take the oldest host message.
    pub fn iop_recv(&mut self) -> Option<Message> {
        if self.a2i.queue.is_empty() {
            return None;
        }
        self.a2i.pop()
    }

    /// Firmware side: queue a message for the host. Returns false (and sets OVERFLOW) if the
    /// FIFO is full.
    pub fn iop_send(&mut self, m: Message) -> bool {
        self.i2a.push(m)
    }

    /// Messages waiting for the host.
    pub fn i2a_len(&self) -> usize {
        self.i2a.queue.len()
    }

    /// Messages waiting for the firmware.
    pub fn a2i_len(&self) -> usize {
        self.a2i.queue.len()
    }

    /// Level of interrupt `line` now.
    pub fn irq_level(&self, line: IrqLine) -> bool {
        match line {
            IrqLine::SendEmpty => self.a2i.queue.is_empty(),
            IrqLine::SendNotEmpty => !self.a2i.queue.is_empty(),
            IrqLine::RecvEmpty => self.i2a.queue.is_empty(),
            IrqLine::RecvNotEmpty => !self.i2a.queue.is_empty(),
        }
    }

    /// All four levels as a bitmap (bit n = hwirq n).
    pub fn irq_levels(&self) -> u32 {
        IrqLine::ALL
            .into_iter()
            .filter(|l| self.irq_level(*l))
            .fold(0, |acc, l| acc | 1 << l as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(mb: &mut Mailbox, msg0: u64, msg1: u64) -> Checked<Option<Message>> {
        mb.write(A2I_SEND0, 8, msg0)?;
        mb.write(A2I_SEND1, 8, msg1)
    }

    #[test]
    fn reset_state_is_empty_with_empty_lines_high() {
        let mut mb = Mailbox::new();
        let a2i = mb.read(A2I_CONTROL, 4).unwrap() as u32;
        let i2a = mb.read(I2A_CONTROL, 4).unwrap() as u32;
        assert_ne!(a2i & CONTROL_EMPTY, 0);
        assert_eq!(a2i & CONTROL_FULL, 0);
        assert_ne!(i2a & CONTROL_EMPTY, 0);
        assert_eq!(mb.irq_levels(), 0b0101);
    }

    #[test]
    fn send_commits_on_send1_in_order() {
        let mut mb = Mailbox::new();
        assert_eq!(mb.write(A2I_SEND0, 8, 0x11).unwrap(), None);
        assert_eq!(mb.a2i_len(), 0, "SEND0 alone must not enqueue");
        let m = mb.write(A2I_SEND1, 8, 0x20).unwrap().unwrap();
        assert_eq!(
            m,
            Message {
                msg0: 0x11,
                msg1: 0x20
            }
        );
        send(&mut mb, 0x22, 0x21).unwrap();
        assert_eq!(mb.irq_levels(), 0b0110, "send-not-empty and recv-empty");
        let c = mb.read(A2I_CONTROL, 4).unwrap() as u32;
        assert_eq!(c & CONTROL_EMPTY, 0);
        assert_eq!((c >> 20) & 0xf, 2, "FIFOCNT");
        assert_eq!(mb.iop_recv().unwrap().msg0, 0x11);
        assert_eq!(mb.iop_recv().unwrap().msg0, 0x22);
        assert_eq!(mb.iop_recv(), None);
        assert!(mb.irq_level(IrqLine::SendEmpty));
    }

    #[test]
    fn a2i_full_flag_and_overflow() {
        let mut mb = Mailbox::new();
        for i in 0..FIFO_DEPTH as u64 {
            let c = mb.read(A2I_CONTROL, 4).unwrap() as u32;
            assert_eq!(c & CONTROL_FULL, 0, "not full after {i}");
            send(&mut mb, i, 0).unwrap();
        }
        let c = mb.read(A2I_CONTROL, 4).unwrap() as u32;
        assert_ne!(c & CONTROL_FULL, 0);
        assert!(!mb.irq_level(IrqLine::SendEmpty));
        assert!(matches!(send(&mut mb, 99, 0), Err(Violation::Mailbox(_))));
        let c = mb.read(A2I_CONTROL, 4).unwrap() as u32;
        assert_ne!(c & CONTROL_OVERFLOW, 0);
        // Draining one entry clears FULL; draining all raises send-empty again.
        mb.iop_recv();
        assert_eq!(mb.read(A2I_CONTROL, 4).unwrap() as u32 & CONTROL_FULL, 0);
        while mb.iop_recv().is_some() {}
        assert!(mb.irq_level(IrqLine::SendEmpty));
    }

    #[test]
    fn receive_pops_on_recv1_and_drops_not_empty_when_drained() {
        let mut mb = Mailbox::new();
        assert!(mb.iop_send(Message::new(0, 0xaaaa)));
        assert!(mb.iop_send(Message::new(1, 0xbbbb)));
        assert!(mb.irq_level(IrqLine::RecvNotEmpty));
        assert_eq!(mb.read(I2A_CONTROL, 4).unwrap() as u32 & CONTROL_EMPTY, 0);
        assert_eq!(mb.read(I2A_RECV0, 8).unwrap(), 0xaaaa);
        assert_eq!(mb.read(I2A_RECV0, 8).unwrap(), 0xaaaa, "RECV0 does not pop");
        let r1 = mb.read(I2A_RECV1, 8).unwrap();
        assert_eq!(r1 & 0xffff_ffff, 0);
        assert_eq!((r1 >> 52) & 0x1f, 2, "OUTCNT before the pop");
        assert!(mb.irq_level(IrqLine::RecvNotEmpty), "one message left");
        assert_eq!(mb.read(I2A_RECV0, 8).unwrap(), 0xbbbb);
        assert_eq!(mb.read(I2A_RECV1, 8).unwrap() & 0xffff_ffff, 1);
        assert!(!mb.irq_level(IrqLine::RecvNotEmpty));
        assert!(mb.irq_level(IrqLine::RecvEmpty));
        assert_ne!(mb.read(I2A_CONTROL, 4).unwrap() as u32 & CONTROL_EMPTY, 0);
    }

    #[test]
    fn i2a_full_refuses_firmware_sends() {
        let mut mb = Mailbox::new();
        for i in 0..FIFO_DEPTH as u64 {
            assert!(mb.iop_send(Message::new(0, i)));
        }
        assert!(!mb.iop_send(Message::new(0, 99)));
        assert_ne!(mb.read(I2A_CONTROL, 4).unwrap() as u32 & CONTROL_FULL, 0);
        assert_eq!(mb.i2a_len(), FIFO_DEPTH);
    }

    #[test]
    fn strict_rejections() {
        let mut mb = Mailbox::new();
        assert!(matches!(mb.read(I2A_RECV0, 8), Err(Violation::Mailbox(_))));
        assert!(matches!(mb.read(I2A_RECV1, 8), Err(Violation::Mailbox(_))));
        assert_ne!(
            mb.read(I2A_CONTROL, 4).unwrap() as u32 & CONTROL_UNDERFLOW,
            0
        );
        assert!(matches!(
            mb.write(A2I_SEND1, 8, 0),
            Err(Violation::Mailbox(_))
        ));
        assert!(matches!(
            mb.write(A2I_SEND0, 4, 0),
            Err(Violation::Width { expected: 8, .. })
        ));
        assert!(matches!(
            mb.read(A2I_CONTROL, 8),
            Err(Violation::Width { expected: 4, .. })
        ));
        assert!(matches!(
            mb.write(A2I_CONTROL, 4, 1),
            Err(Violation::Direction { .. })
        ));
        assert!(matches!(mb.read(A2I_RECV0, 8), Err(Violation::Mailbox(_))));
        assert!(matches!(
            mb.write(I2A_SEND1, 8, 0),
            Err(Violation::Mailbox(_))
        ));
        assert!(matches!(mb.read(0x40, 4), Err(Violation::Unknown { .. })));
        mb.write(A2I_SEND0, 8, 1).unwrap();
        assert!(matches!(
            mb.write(A2I_SEND1, 8, 1 << 40),
            Err(Violation::Mailbox(_))
        ));
        assert_eq!(mb.a2i_len(), 0);
    }
}
