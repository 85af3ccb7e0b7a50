// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Drives the vhost-user backend the way UML's virtio_pcidev driver does: requests as
//! descriptor chains on queue 0, interrupt buffers on queue 1, everything in guest memory.

mod common;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use agx_model::fault::Timed;
use agx_model::mmio::{Device, DeviceConfig, Fault};
use agx_model::pcidev::{MsgHeader, Request, OP_CFG_READ};
use agx_model::rtkit::{self, State};
use agx_model::trace::Trace;
use agx_model::vhu_agx::{Error, OnViolation, VhostUserAgxBackend, TIMER_EVENT};
use common::{Guest, Transport, ASC, QSIZE};
use vhost_user_backend::{VhostUserBackendMut, VringRwLock, VringT};
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress, GuestMemoryAtomic, GuestMemoryMmap};
use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};

const CMD_RING: u64 = 0x0;
const IRQ_RING: u64 = 0x1_0000;

/// The backend in this process, called as the vring worker thread would.
struct InProcess {
    vrings: Vec<VringRwLock>,
    backend: VhostUserAgxBackend,
}

impl Transport for InProcess {
    fn kick(&mut self, q: u16, _gm: &GuestMemoryMmap, _used: u64) -> std::io::Result<()> {
        self.backend.handle_event(q, EventSet::IN, &self.vrings, 0)
    }
}

fn guest(cfg: DeviceConfig) -> Guest<InProcess> {
    let gm = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x40_0000)]).unwrap();
    let mem = GuestMemoryAtomic::new(gm.clone());
    let mut vrings = Vec::new();
    let mut rings = [(0, 0, 0); 2];
    for (i, base) in [CMD_RING, IRQ_RING].into_iter().enumerate() {
        // The mock lays the rings out and zeroes their indices; after that the test plays the
        // driver by writing the rings itself.
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
    Guest::new(gm, InProcess { vrings, backend }, rings)
}

fn device(g: &Guest<InProcess>) -> MutexGuard<'_, Device> {
    g.transport.backend.device().lock().unwrap()
}

#[test]
fn mmio_reads_and_writes_through_descriptor_chains() {
    let mut g = guest(DeviceConfig::default());
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
    let mut g = guest(cfg);
    g.gm.write_obj(0x4b1d_0000_0000_0002u64, GuestAddress(0x30_0000))
        .unwrap();
    g.write(ASC + 0x44, 4, 0x10);
    let magic_fw: u64 = g.gm.read_obj(GuestAddress(0x30_0008)).unwrap();
    assert_eq!(magic_fw, 0x4b1d_0000_0000_0002);
}

#[test]
fn interrupts_wait_for_buffers_and_arrive_as_msi() {
    let mut g = guest(DeviceConfig::default());
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
    let mut g = guest(DeviceConfig::default());
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
        let d = device(&g);
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
    let mut g = guest(cfg);
    let bufs = g.post_irq_buffers(4);
    g.kick(1).unwrap();
    g.write(ASC + 0x44, 4, 0x10);
    assert!(g.mbox_recv_all().is_empty());
    assert!(g.irq_messages(&bufs).is_empty());
}

#[test]
fn strict_violation_is_returned_with_its_cause() {
    let mut g = guest(DeviceConfig::default());
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

#[test]
fn tlbi_block_reports_stale_then_fault_over_the_transport() {
    const TLBI: u64 = 0xff_e000;
    const TTBAT: u64 = 0x30_0000;
    const KVA: u64 = 0xffff_ffa8_0000_0000;
    let cfg = DeviceConfig {
        ttbs: Some(TTBAT),
        ..DeviceConfig::default()
    };
    let mut g = guest(cfg);
    // Context 0 TTB1 -> L0 at 0x31_0000 -> L1 at 0x31_4000 -> L2 at 0x31_8000 -> page 0x38_0000
    // (FW_SHARED_RW: AP 1, UXN, uncached, AF, GPU).
    let w = |g: &mut Guest<InProcess>, a: u64, v: u64| g.gm.write_obj(v, GuestAddress(a)).unwrap();
    w(&mut g, TTBAT + 8, 0x31_0000 | 1);
    let va = KVA & ((1 << 39) - 1);
    w(&mut g, 0x31_0000 + 8 * ((va >> 36) & 7), 0x31_4000 | 3);
    w(&mut g, 0x31_4000 + 8 * ((va >> 25) & 0x7ff), 0x31_8000 | 3);
    let leaf = 0x31_8000 + 8 * ((va >> 14) & 0x7ff);
    w(
        &mut g,
        leaf,
        0x38_0000 | 3 | (2 << 2) | (1 << 6) | (1 << 10) | (3 << 54),
    );
    w(&mut g, 0x38_0000, 0xfeed);
    let probe = |g: &mut Guest<InProcess>| {
        g.write(TLBI + 0x20, 8, KVA);
        g.write(TLBI + 0x28, 4, 0);
        g.write(TLBI + 0x2c, 4, 1);
        (g.read(TLBI + 0x30, 4), g.read(TLBI + 0x48, 8))
    };
    assert_eq!(probe(&mut g), (1, 0xfeed));
    w(&mut g, leaf, 0);
    assert_eq!(probe(&mut g), (3, 0xfeed));
    g.write(TLBI, 8, (KVA >> 12) & ((1 << 44) - 1));
    g.write(TLBI + 0x8, 4, 1);
    assert_eq!(g.read(TLBI + 0x10, 4), 1);
    assert_eq!(probe(&mut g).0, 2);
}

#[test]
fn scheduled_firmware_actions_run_from_the_timer_not_from_a_request() {
    let mut g = guest(DeviceConfig::default());
    let delay = Duration::from_millis(30);
    let start = Instant::now();
    device(&g).schedule(
        delay,
        Timed::Crash("GFX PANIC - test - agx_background(2)".into()),
    );
    // Any event arms the backend's timerfd for the device's deadline; requests do not run it.
    g.kick(1).unwrap();
    assert_eq!(g.read(ASC + 0x44, 4), 0);
    assert!(!device(&g).crashed());
    let epoll = Epoll::new().unwrap();
    let fd = g.transport.backend.timer_event_fd();
    epoll
        .ctl(ControlOperation::Add, fd, EpollEvent::new(EventSet::IN, 0))
        .unwrap();
    let mut events = [EpollEvent::default()];
    assert_eq!(epoll.wait(2000, &mut events).unwrap(), 1, "the timer fires");
    assert!(start.elapsed() >= delay);
    let InProcess { vrings, backend } = &mut g.transport;
    backend
        .handle_event(TIMER_EVENT, EventSet::IN, vrings, 0)
        .unwrap();
    let d = device(&g);
    assert!(d.crashed());
    assert_eq!(d.timer_deadline(), None);
    // No crash-log buffer was granted: the firmware only stops.
    assert!(d
        .trace()
        .recent()
        .any(|l| l == "crashlog buffer not granted: the crash is not reported"));
}
