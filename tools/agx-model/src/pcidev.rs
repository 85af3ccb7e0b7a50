// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The virtio_pcidev wire format and what each operation means for a platform-mode device.
//!
//! Facts (linux-7.2:include/uapi/linux/virtio_pcidev.h, arch/um/drivers/virtio_pcidev.c,
//! arch/um/drivers/virt-pci.c, lib/logic_iomem.c):
//!
//! * Two virtqueues: 0 "cmd" (driver to device requests) and 1 "irq" (device to driver
//!   messages into buffers the driver posts, each `16 + 4` bytes).
//! * A request is a 16-byte header `{u8 op, u8 bar, u16 reserved, u32 size, u64 addr}` in
//!   native byte order, followed by `size` data bytes for writes (in the same or a second
//!   readable descriptor). A read's answer goes into one writable buffer of `size` bytes,
//!   little-endian.
//! * Writes are posted: the driver does not wait for them, but the buffers still have to be
//!   returned through the used ring.
//! * In platform mode `bar` is always 0 and `addr` is the offset inside the 16 MiB window
//!   (see [`crate::layout`]). There is no configuration space.
//! * `MSI` from the device carries a 16- or 32-bit value; the model sends 32 bits holding the
//!   hwirq. Stock 7.2 passes that value to `generic_handle_irq()` and drops it in platform mode
//!   (`pdev.irq` is 0); the project's kernel patch maps it to a hwirq of the window's
//!   interrupt domain instead.
//!
//! Odd corners the model refuses because registers cannot honour them: `memcpy_fromio` /
//! `memcpy_toio` of sizes other than 1, 2, 4, 8 and `memset_io` (sent as `MMIO_MEMSET`, or as
//! `CFG_WRITE` with a one-byte payload by `virtio_pcidev_bar_set`).

use vm_memory::ByteValued;

use crate::mmio::Device;
use crate::strict::{Checked, Violation};

/// Reserved, catches errors.
pub const OP_RESERVED: u8 = 0;
/// Config-space read.
pub const OP_CFG_READ: u8 = 1;
/// Config-space write.
pub const OP_CFG_WRITE: u8 = 2;
/// MMIO read.
pub const OP_MMIO_READ: u8 = 3;
/// MMIO write.
pub const OP_MMIO_WRITE: u8 = 4;
/// MMIO memset.
pub const OP_MMIO_MEMSET: u8 = 5;
/// Legacy INTx.
pub const OP_INT: u8 = 6;
/// MSI.
pub const OP_MSI: u8 = 7;
/// PME.
pub const OP_PME: u8 = 8;

/// Index of the request queue.
pub const CMD_QUEUE: usize = 0;
/// Index of the interrupt queue.
pub const IRQ_QUEUE: usize = 1;

/// `struct virtio_pcidev_msg` without its flexible data.
#[doc(alias = "virtio_pcidev_msg")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct MsgHeader {
    /// Operation.
    pub op: u8,
    /// BAR (0 in platform mode).
    pub bar: u8,
    /// Reserved.
    pub reserved: u16,
    /// Access size in bytes.
    pub size: u32,
    /// Address (window offset in platform mode).
    pub addr: u64,
}

// SAFETY: `MsgHeader` is `repr(C)`, made only of integers, and has no padding (1 + 1 + 2 + 4 +
// 8 = 16 bytes, each field naturally aligned), so every byte pattern is a valid value.
unsafe impl ByteValued for MsgHeader {}

/// Size of the header on the wire.
pub const HEADER_SIZE: usize = std::mem::size_of::<MsgHeader>();

/// Size of one interrupt message the model sends (header + u32).
pub const IRQ_MSG_SIZE: usize = HEADER_SIZE + 4;

/// A parsed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Header.
    pub header: MsgHeader,
    /// Bytes after the header.
    pub data: Vec<u8>,
}

impl Request {
    /// Parses the readable bytes of one request chain.
    pub fn parse(bytes: &[u8]) -> Checked<Request> {
        if bytes.len() < HEADER_SIZE {
            return Err(Violation::Transport(format!(
                "request of {} bytes is shorter than the header",
                bytes.len()
            )));
        }
        let mut h = [0u8; HEADER_SIZE];
        h.copy_from_slice(&bytes[..HEADER_SIZE]);
        let header = MsgHeader {
            op: h[0],
            bar: h[1],
            reserved: u16::from_ne_bytes([h[2], h[3]]),
            size: u32::from_ne_bytes([h[4], h[5], h[6], h[7]]),
            addr: u64::from_ne_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]),
        };
        Ok(Request {
            header,
            data: bytes[HEADER_SIZE..].to_vec(),
        })
    }

    /// Encodes a request (used by tests and tools that play the driver side).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.header.as_slice().to_vec();
        v.extend_from_slice(&self.data);
        v
    }
}

fn op_name(op: u8) -> &'static str {
    match op {
        OP_RESERVED => "RESERVED",
        OP_CFG_READ => "CFG_READ",
        OP_CFG_WRITE => "CFG_WRITE",
        OP_MMIO_READ => "MMIO_READ",
        OP_MMIO_WRITE => "MMIO_WRITE",
        OP_MMIO_MEMSET => "MMIO_MEMSET",
        OP_INT => "INT",
        OP_MSI => "MSI",
        OP_PME => "PME",
        _ => "unknown",
    }
}

fn register_size(size: u32) -> bool {
    matches!(size, 1 | 2 | 4 | 8)
}

/// Serves one request. Returns the bytes to place in the writable part of the chain (empty for
/// writes). In lenient mode a refused read answers all-ones, like an absent device.
pub fn serve(dev: &mut Device, req: &Request) -> Checked<Vec<u8>> {
    let h = req.header;
    let refuse = |what: String| Violation::Transport(what);
    if h.bar != 0 {
        let v = refuse(format!(
            "{} with bar {} (platform mode uses 0)",
            op_name(h.op),
            h.bar
        ));
        return lenient(dev, v, h).map(|()| ones(h));
    }
    match h.op {
        OP_MMIO_READ if register_size(h.size) => {
            let v = dev.read(h.addr, h.size)?;
            Ok(v.to_le_bytes()[..h.size as usize].to_vec())
        }
        OP_MMIO_WRITE if register_size(h.size) => {
            if req.data.len() < h.size as usize {
                let v = refuse(format!(
                    "MMIO_WRITE of {} bytes carries {} data bytes",
                    h.size,
                    req.data.len()
                ));
                return lenient(dev, v, h).map(|()| Vec::new());
            }
            let mut b = [0u8; 8];
            b[..h.size as usize].copy_from_slice(&req.data[..h.size as usize]);
            dev.write(h.addr, h.size, u64::from_le_bytes(b))?;
            Ok(Vec::new())
        }
        _ => {
            let what = match h.op {
                OP_MMIO_READ | OP_MMIO_WRITE => format!(
                    "{}-byte {} at window+0x{:x}: registers take 1, 2, 4 or 8 bytes \
                     (memcpy_fromio/memcpy_toio on registers?)",
                    h.size,
                    op_name(h.op),
                    h.addr
                ),
                OP_MMIO_MEMSET => format!(
                    "MMIO_MEMSET of {} bytes at window+0x{:x}: memset_io on registers",
                    h.size, h.addr
                ),
                OP_CFG_READ | OP_CFG_WRITE => format!(
                    "{} at 0x{:x}: a platform-mode device has no config space (7.2 also sends \
                     memset_io as CFG_WRITE)",
                    op_name(h.op),
                    h.addr
                ),
                op => format!("operation {op} ({}) is not a request", op_name(op)),
            };
            let v = refuse(what);
            let answer = if h.op == OP_MMIO_READ || h.op == OP_CFG_READ {
                ones(h)
            } else {
                Vec::new()
            };
            lenient(dev, v, h).map(|()| answer)
        }
    }
}

fn ones(h: MsgHeader) -> Vec<u8> {
    if h.op == OP_MMIO_READ || h.op == OP_CFG_READ {
        vec![0xff; h.size.min(4096) as usize]
    } else {
        Vec::new()
    }
}

fn lenient(dev: &mut Device, v: Violation, h: MsgHeader) -> Checked<()> {
    dev.note(format!(
        "violation {v} (op={} size={} addr=0x{:x})",
        h.op, h.size, h.addr
    ));
    if dev.config().strict {
        Err(v)
    } else {
        log::warn!("ignored (not strict): {v}");
        Ok(())
    }
}

/// The interrupt message for `hwirq`: `MSI`, size 4, data = hwirq (little-endian).
pub fn irq_message(hwirq: u32) -> [u8; IRQ_MSG_SIZE] {
    let header = MsgHeader {
        op: OP_MSI,
        bar: 0,
        reserved: 0,
        size: 4,
        addr: 0,
    };
    let mut out = [0u8; IRQ_MSG_SIZE];
    out[..HEADER_SIZE].copy_from_slice(header.as_slice());
    out[HEADER_SIZE..].copy_from_slice(&hwirq.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmio::DeviceConfig;
    use crate::trace::Trace;

    fn req(op: u8, size: u32, addr: u64, data: &[u8]) -> Request {
        Request {
            header: MsgHeader {
                op,
                bar: 0,
                reserved: 0,
                size,
                addr,
            },
            data: data.to_vec(),
        }
    }

    #[test]
    fn header_is_16_bytes_and_round_trips() {
        assert_eq!(HEADER_SIZE, 16);
        let r = req(OP_MMIO_WRITE, 4, 0x40_0044, &[0x10, 0, 0, 0]);
        assert_eq!(Request::parse(&r.encode()).unwrap(), r);
        assert!(Request::parse(&[0; 8]).is_err());
    }

    #[test]
    fn serves_reads_and_writes() {
        let mut d = Device::new(DeviceConfig::default(), Trace::new(None));
        let out = serve(&mut d, &req(OP_MMIO_READ, 4, 0xd0_4000, &[])).unwrap();
        assert_eq!(out, vec![0x00, 0x11, 0x02, 0x04]);
        let out = serve(&mut d, &req(OP_MMIO_WRITE, 4, 0x40_0044, &[0x10, 0, 0, 0])).unwrap();
        assert!(out.is_empty());
        let out = serve(&mut d, &req(OP_MMIO_READ, 4, 0x40_0044, &[])).unwrap();
        assert_eq!(out, vec![0x10, 0, 0, 0]);
    }

    #[test]
    fn refuses_what_registers_cannot_do() {
        let mut d = Device::new(DeviceConfig::default(), Trace::new(None));
        for r in [
            req(OP_CFG_READ, 4, 0, &[]),
            req(OP_MMIO_MEMSET, 16, 0x40_8000, &[0]),
            req(OP_MMIO_READ, 16, 0x40_8000, &[]),
            req(OP_MSI, 4, 0, &[0; 4]),
            req(OP_MMIO_WRITE, 4, 0x40_0044, &[0x10]),
        ] {
            assert!(
                matches!(serve(&mut d, &r), Err(Violation::Transport(_))),
                "{r:?}"
            );
        }
        let mut bad_bar = req(OP_MMIO_READ, 4, 0, &[]);
        bad_bar.header.bar = 1;
        assert!(serve(&mut d, &bad_bar).is_err());

        let cfg = DeviceConfig {
            strict: false,
            ..DeviceConfig::default()
        };
        let mut d = Device::new(cfg, Trace::new(None));
        assert_eq!(
            serve(&mut d, &req(OP_MMIO_READ, 16, 0x40_8000, &[])).unwrap(),
            vec![0xff; 16]
        );
    }

    #[test]
    fn irq_message_layout() {
        let m = irq_message(3);
        assert_eq!(m.len(), 20);
        assert_eq!(m[0], OP_MSI);
        assert_eq!(u32::from_ne_bytes([m[4], m[5], m[6], m[7]]), 4);
        assert_eq!(&m[16..], &[3, 0, 0, 0]);
    }
}
