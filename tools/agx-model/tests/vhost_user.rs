// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Drives the vhost-user backend the way UML's virtio_pcidev driver does: requests as
//! descriptor chains on queue 0, interrupt buffers on queue 1, everything in guest memory.

use std::sync::{Arc, Mutex};

use agx_model::mmio::{Device, DeviceConfig, Fault};
use agx_model::pcidev::{
    MsgHeader, Request, IRQ_MSG_SIZE, OP_CFG_READ, OP_MMIO_READ, OP_MMIO_WRITE, OP_MSI,
};
use agx_model::rtkit::{self, State};
use agx_model::trace::Trace;
use agx_model::vhu_agx::{Error, OnViolation, VhostUserAgxBackend};
use vhost_user_backend::{VhostUserBackendMut, VringRwLock, VringT};
use virtio_bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress, GuestMemoryAtomic, GuestMemoryMmap};
use vmm_sys_util::epoll::EventSet;

const QSIZE: u16 = 256;
const CMD_RING: u64 = 0x0;
const IRQ_RING: u64 = 0x1_0000;
const DATA: u64 = 0x10_0000;

const ASC: u64 = 0x40_0000;
const MBOX: u64 = 0x40_8000;

/// The guest side: queues in guest memory and the driver's bookkeeping.
struct Guest {
    gm: GuestMemoryMmap,
    vrings: Vec<VringRwLock>,
    backend: VhostUserAgxBackend,
    /// (descriptor table, avail ring, used ring) of each queue.
    rings: [(u64, u64, u64); 2],
    next_desc: [u16; 2],
    next_avail: [u16; 2],
    next_data: u64,
    used_seen: [u16; 2],
}

/// One request's outcome.
struct Answer {
    len: u32,
    data: Vec<u8>,
}

impl Guest {
    fn new(cfg: DeviceConfig) -> Guest {
        let gm = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x40_0000)]).unwrap();
        let mem = GuestMemoryAtomic::new(gm.clone());
        let mut vrings = Vec::new();
        let mut rings = [(0, 0, 0); 2];
        for (i, base) in [CMD_RING, IRQ_RING].into_iter().enumerate() {
            // The mock lays the rings out and zeroes their indices; after that the test plays
            // the driver by writing the rings itself.
            let q = MockSplitQueue::create(&gm, GuestAddress(base), QSIZE);
            rings[i] = (q.desc_table_addr().0, q.avail_addr().0, q.used_addr().0);
            let v = VringRwLock::new(mem.clone(), QSIZE).unwrap();
            v.set_queue_size(QSIZE);
            v.set_queue_info(q.desc_table_addr().0, q.avail_addr().0, q.used_addr().0)
                .unwrap();
            v.set_queue_ready(true);
            v.set_enabled(true);
            vrings.push(v);
        }
        let device = Arc::new(Mutex::new(Device::new(cfg, Trace::new(None))));
        let mut backend = VhostUserAgxBackend::new(device, OnViolation::Return).unwrap();
        backend.update_memory(mem).unwrap();
        Guest {
            gm,
            vrings,
            backend,
            rings,
            next_desc: [0; 2],
            next_avail: [0; 2],
            next_data: DATA,
            used_seen: [0; 2],
        }
    }

    fn alloc(&mut self, len: usize) -> u64 {
        let a = self.next_data;
        self.next_data += (len as u64 + 15) & !15;
        a
    }

    /// Adds one chain (readable `out`, then a writable buffer of `in_len` bytes if non-zero).
    fn post(&mut self, q: usize, out: &[&[u8]], in_len: u32) -> (u16, u64) {
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

    fn kick(&mut self, q: u16) -> Result<(), std::io::Error> {
        self.backend.handle_event(q, EventSet::IN, &self.vrings, 0)
    }

    /// Used elements not yet looked at on queue `q`: (descriptor id, length).
    fn take_used(&mut self, q: usize) -> Vec<(u32, u32)> {
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

    fn request(&mut self, op: u8, size: u32, addr: u64, data: &[u8], split: bool) -> Answer {
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

    fn read(&mut self, addr: u64, size: u32) -> u64 {
        let a = self.request(OP_MMIO_READ, size, addr, &[], false);
        assert_eq!(a.len, size);
        let mut b = [0u8; 8];
        b[..size as usize].copy_from_slice(&a.data);
        u64::from_le_bytes(b)
    }

    fn write(&mut self, addr: u64, size: u32, value: u64) {
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
    fn post_irq_buffers(&mut self, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| self.post(1, &[], IRQ_MSG_SIZE as u32).1)
            .collect()
    }

    fn irq_messages(&mut self, bufs: &[u64]) -> Vec<u32> {
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

    fn mbox_send(&mut self, ep: u8, msg0: u64) {
        self.write(MBOX + 0x800, 8, msg0);
        self.write(MBOX + 0x808, 8, u64::from(ep));
    }

    fn mbox_recv_all(&mut self) -> Vec<(u8, u64)> {
        let mut out = Vec::new();
        while self.read(MBOX + 0x114, 4) & (1 << 17) == 0 {
            let msg0 = self.read(MBOX + 0x830, 8);
            let msg1 = self.read(MBOX + 0x838, 8);
            out.push((msg1 as u8, msg0));
        }
        out
    }

    fn device(&self) -> std::sync::MutexGuard<'_, Device> {
        self.backend.device().lock().unwrap()
    }
}

#[test]
fn mmio_reads_and_writes_through_descriptor_chains() {
    let mut g = Guest::new(DeviceConfig::default());
    // GPU ID of t8103: G13 (4), variant G (2), revision 0x11.
    assert_eq!(g.read(0xd0_4000, 4), 0x0402_1100);
    assert_eq!(g.read(ASC + 0x44, 4), 0);
    g.write(ASC + 0x44, 4, 0x10);
    assert_eq!(g.read(ASC + 0x44, 4), 0x10);
    assert_eq!(g.read(ASC + 0x48, 4), 0, "CPU no longer stopped");
}

#[test]
fn firmware_announces_itself_in_the_handoff_region() {
    let cfg = DeviceConfig {
        handoff: Some(0x30_0000),
        ..DeviceConfig::default()
    };
    let mut g = Guest::new(cfg);
    g.gm.write_obj(0x4b1d_0000_0000_0002u64, GuestAddress(0x30_0000))
        .unwrap();
    g.write(ASC + 0x44, 4, 0x10);
    let magic_fw: u64 = g.gm.read_obj(GuestAddress(0x30_0008)).unwrap();
    assert_eq!(magic_fw, 0x4b1d_0000_0000_0002);
}

#[test]
fn interrupts_wait_for_buffers_and_arrive_as_msi() {
    let mut g = Guest::new(DeviceConfig::default());
    // CPU start queues HELLO: recv-not-empty rises while UML has not posted irq buffers yet.
    g.write(ASC + 0x44, 4, 0x10);
    assert!(g.take_used(1).is_empty());
    let bufs = g.post_irq_buffers(10);
    g.kick(1).unwrap();
    assert_eq!(g.irq_messages(&bufs), vec![3]);
    // Draining the FIFO raises recv-empty (hwirq 2) only.
    let m = g.mbox_recv_all();
    assert_eq!(m.len(), 1);
    assert_eq!(rtkit::mgmt_type(m[0].1), rtkit::MGMT_HELLO);
    assert_eq!(g.irq_messages(&bufs), vec![2]);
}

#[test]
fn linux_rtkit_boot_over_the_transport() {
    let mut g = Guest::new(DeviceConfig::default());
    let bufs = g.post_irq_buffers(32);
    g.kick(1).unwrap();
    g.write(ASC + 0x44, 4, 0x10);
    let hello = g.mbox_recv_all();
    let max = (hello[0].1 >> 16) & 0xffff;
    let v = max.min(12);
    g.mbox_send(0, (2 << 52) | v | (v << 16));
    // EPMAP blocks until the last one.
    loop {
        let m = g.mbox_recv_all();
        let (ep, msg0) = m[0];
        assert_eq!((ep, rtkit::mgmt_type(msg0)), (0, rtkit::MGMT_EPMAP));
        let base = msg0 & (7 << 32);
        if msg0 & rtkit::EPMAP_LAST != 0 {
            g.mbox_send(0, (8 << 52) | base | rtkit::EPMAP_LAST);
            break;
        }
        g.mbox_send(0, (8 << 52) | base | rtkit::EPMAP_REPLY_MORE);
    }
    g.mbox_send(0, (5 << 52) | (1 << 32) | rtkit::STARTEP_FLAG);
    let m = g.mbox_recv_all();
    assert_eq!(m, vec![(0, (7 << 52) | 0x20), (1, 0x0012_0000_0000_0000)]);
    g.mbox_send(1, (1 << 52) | (0x20 << 44) | 0xfa0_0c38_8000);
    g.mbox_send(0, (0xb << 52) | 0x20);
    assert_eq!(g.mbox_recv_all(), vec![(0, (0xb << 52) | 0x20)]);
    g.mbox_send(0, (5 << 52) | (0x20 << 32) | rtkit::STARTEP_FLAG);
    g.mbox_send(0, (5 << 52) | (0x21 << 32) | rtkit::STARTEP_FLAG);
    {
        let d = g.device();
        assert_eq!(d.rtkit().state(), State::Running);
        assert!(d.rtkit().started(0x20) && d.rtkit().started(0x21));
    }
    // recv-not-empty rose for HELLO, both EPMAPs, the IOP ack (the crashlog request joined it
    // before the host drained) and the AP ack; recv-empty after each drain.
    let irqs = g.irq_messages(&bufs);
    assert_eq!(irqs, [3, 2].repeat(5));
}

#[test]
fn never_answer_fault_stays_silent() {
    let cfg = DeviceConfig {
        fault: Some(Fault::NeverAnswer),
        ..DeviceConfig::default()
    };
    let mut g = Guest::new(cfg);
    let bufs = g.post_irq_buffers(4);
    g.kick(1).unwrap();
    g.write(ASC + 0x44, 4, 0x10);
    assert!(g.mbox_recv_all().is_empty());
    assert!(g.irq_messages(&bufs).is_empty());
}

#[test]
fn strict_violation_is_returned_with_its_cause() {
    let mut g = Guest::new(DeviceConfig::default());
    let header = Request {
        header: MsgHeader {
            op: OP_CFG_READ,
            bar: 0,
            reserved: 0,
            size: 4,
            addr: 0,
        },
        data: Vec::new(),
    }
    .encode();
    g.post(0, &[&header], 4);
    let e = g.kick(0).unwrap_err();
    let inner = e.into_inner().unwrap().downcast::<Error>().unwrap();
    assert!(matches!(*inner, Error::Strict(_)), "{inner}");
}

#[test]
fn memory_must_be_set_before_requests() {
    let device = Arc::new(Mutex::new(Device::new(
        DeviceConfig::default(),
        Trace::new(None),
    )));
    let mut backend = VhostUserAgxBackend::new(device, OnViolation::Return).unwrap();
    let gm = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
    let mem = GuestMemoryAtomic::new(gm);
    let vrings = vec![
        VringRwLock::new(mem.clone(), QSIZE).unwrap(),
        VringRwLock::new(mem, QSIZE).unwrap(),
    ];
    assert!(backend.handle_event(0, EventSet::IN, &vrings, 0).is_err());
    assert!(backend.handle_event(7, EventSet::IN, &vrings, 0).is_err());
    assert_eq!(backend.num_queues(), 2);
    assert_eq!(backend.max_queue_size(), 256);
    assert_ne!(backend.features() & (1 << 32), 0, "VIRTIO_F_VERSION_1");
    assert_ne!(backend.features() & (1 << 30), 0, "PROTOCOL_FEATURES");
}
