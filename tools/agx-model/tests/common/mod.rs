// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The guest side of the tests: virtqueues in guest memory written the way UML's
//! virtio_pcidev driver writes them, over either the in-process backend or a real vhost-user
//! socket.

#![allow(dead_code)] // Each test binary uses a different part.

use std::io;

use agx_model::pcidev::{
    MsgHeader, Request, IRQ_MSG_SIZE, OP_CFG_READ, OP_MMIO_READ, OP_MMIO_WRITE, OP_MSI,
};
use virtio_bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// Queue size (UML's maximum).
pub const QSIZE: u16 = 256;
/// First guest address for request data.
pub const DATA: u64 = 0x10_0000;
/// Window offset of the ASC block (default layout).
pub const ASC: u64 = 0x40_0000;
/// Window offset of the mailbox (default layout).
pub const MBOX: u64 = 0x40_8000;

/// How requests reach the backend.
pub trait Transport {
    /// Notifies queue `q`; returns once the backend has handled the notification, as far as
    /// the transport can tell (`used` = address of that queue's used ring).
    fn kick(&mut self, q: u16, gm: &GuestMemoryMmap, used: u64) -> io::Result<()>;
}

/// The driver's view: memory, ring addresses and bookkeeping.
pub struct Guest<T: Transport> {
    pub gm: GuestMemoryMmap,
    pub transport: T,
    /// (descriptor table, avail ring, used ring) of each queue.
    pub rings: [(u64, u64, u64); 2],
    next_desc: [u16; 2],
    next_avail: [u16; 2],
    next_data: u64,
    used_seen: [u16; 2],
}

/// One request's outcome.
pub struct Answer {
    pub len: u32,
    pub data: Vec<u8>,
}

impl<T: Transport> Guest<T> {
    pub fn new(gm: GuestMemoryMmap, transport: T, rings: [(u64, u64, u64); 2]) -> Self {
        Guest {
            gm,
            transport,
            rings,
            next_desc: [0; 2],
            next_avail: [0; 2],
            next_data: DATA,
            used_seen: [0; 2],
        }
    }

    pub fn kick(&mut self, q: u16) -> io::Result<()> {
        let used = self.rings[usize::from(q)].2;
        self.transport.kick(q, &self.gm, used)
    }

    pub fn alloc(&mut self, len: usize) -> u64 {
        let a = self.next_data;
        self.next_data += (len as u64 + 15) & !15;
        a
    }

    /// Adds one chain (readable `out`, then a writable buffer of `in_len` bytes if non-zero).
    pub fn post(&mut self, q: usize, out: &[&[u8]], in_len: u32) -> (u16, u64) {
        let mut descs = Vec::new();
        let first = self.next_desc[q];
        for part in out {
            let a = self.alloc(part.len());
            self.gm.write_slice(part, GuestAddress(a)).unwrap();
            descs.push((a, part.len() as u32, 0u16));
        }
        let mut in_addr = 0;
        if in_len > 0 {
            in_addr = self.alloc(in_len as usize);
            descs.push((in_addr, in_len, VRING_DESC_F_WRITE as u16));
        }
        let n = descs.len() as u16;
        let (desc_table, avail, _) = self.rings[q];
        for (i, &(a, l, f)) in descs.iter().enumerate() {
            let i = i as u16;
            let (flags, next) = if i + 1 < n {
                (f | VRING_DESC_F_NEXT as u16, first + i + 1)
            } else {
                (f, 0)
            };
            let raw = RawDescriptor::from(SplitDescriptor::new(a, l, flags, next));
            let at = desc_table + 16 * u64::from(first + i);
            self.gm.write_obj(raw, GuestAddress(at)).unwrap();
        }
        let slot = avail + 4 + 2 * u64::from(self.next_avail[q] % QSIZE);
        self.gm.write_obj(first, GuestAddress(slot)).unwrap();
        self.next_avail[q] = self.next_avail[q].wrapping_add(1);
        self.gm
            .write_obj(self.next_avail[q], GuestAddress(avail + 2))
            .unwrap();
        self.next_desc[q] += n;
        (first, in_addr)
    }

    /// Used elements not yet looked at on queue `q`: (descriptor id, length).
    pub fn take_used(&mut self, q: usize) -> Vec<(u32, u32)> {
        let used = self.rings[q].2;
        let idx: u16 = self.gm.read_obj(GuestAddress(used + 2)).unwrap();
        let mut out = Vec::new();
        while self.used_seen[q] != idx {
            let e = used + 4 + 8 * u64::from(self.used_seen[q] % QSIZE);
            let id: u32 = self.gm.read_obj(GuestAddress(e)).unwrap();
            let len: u32 = self.gm.read_obj(GuestAddress(e + 4)).unwrap();
            out.push((id, len));
            self.used_seen[q] += 1;
        }
        out
    }

    pub fn request(&mut self, op: u8, size: u32, addr: u64, data: &[u8], split: bool) -> Answer {
        let header = MsgHeader {
            op,
            bar: 0,
            reserved: 0,
            size,
            addr,
        };
        let req = Request {
            header,
            data: Vec::new(),
        }
        .encode();
        let in_len = if op == OP_MMIO_READ || op == OP_CFG_READ {
            size
        } else {
            0
        };
        let (head, in_addr) = if split {
            self.post(0, &[&req, data], in_len)
        } else {
            let mut all = req.clone();
            all.extend_from_slice(data);
            self.post(0, &[&all], in_len)
        };
        self.kick(0).unwrap();
        let used = self.take_used(0);
        assert_eq!(used.len(), 1, "one request, one used element");
        assert_eq!(used[0].0, u32::from(head));
        let mut data = vec![0u8; used[0].1 as usize];
        if !data.is_empty() {
            self.gm
                .read_slice(&mut data, GuestAddress(in_addr))
                .unwrap();
        }
        Answer {
            len: used[0].1,
            data,
        }
    }

    pub fn read(&mut self, addr: u64, size: u32) -> u64 {
        let a = self.request(OP_MMIO_READ, size, addr, &[], false);
        assert_eq!(a.len, size);
        let mut b = [0u8; 8];
        b[..size as usize].copy_from_slice(&a.data);
        u64::from_le_bytes(b)
    }

    pub fn write(&mut self, addr: u64, size: u32, value: u64) {
        let bytes = value.to_le_bytes();
        // UML puts small payloads in the header buffer and larger ones in a second descriptor;
        // exercise both.
        let a = self.request(
            OP_MMIO_WRITE,
            size,
            addr,
            &bytes[..size as usize],
            size == 8,
        );
        assert_eq!(a.len, 0);
    }

    /// Posts `n` interrupt buffers as virtio_pcidev does at init.
    pub fn post_irq_buffers(&mut self, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| self.post(1, &[], IRQ_MSG_SIZE as u32).1)
            .collect()
    }

    pub fn irq_messages(&mut self, bufs: &[u64]) -> Vec<u32> {
        self.take_used(1)
            .into_iter()
            .map(|(id, len)| {
                assert_eq!(len as usize, IRQ_MSG_SIZE);
                let a = bufs[id as usize];
                let op: u8 = self.gm.read_obj(GuestAddress(a)).unwrap();
                let size: u32 = self.gm.read_obj(GuestAddress(a + 4)).unwrap();
                assert_eq!((op, size), (OP_MSI, 4));
                self.gm.read_obj(GuestAddress(a + 16)).unwrap()
            })
            .collect()
    }

    pub fn mbox_send(&mut self, ep: u8, msg0: u64) {
        self.write(MBOX + 0x800, 8, msg0);
        self.write(MBOX + 0x808, 8, u64::from(ep));
    }

    pub fn mbox_recv_all(&mut self) -> Vec<(u8, u64)> {
        let mut out = Vec::new();
        while self.read(MBOX + 0x114, 4) & (1 << 17) == 0 {
            let msg0 = self.read(MBOX + 0x830, 8);
            let msg1 = self.read(MBOX + 0x838, 8);
            out.push((msg1 as u8, msg0));
        }
        out
    }
}
