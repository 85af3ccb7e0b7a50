// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The binary as a runner uses it: the "listening" line, exit on frontend disconnect and on
//! SIGTERM, `--print-layout`.

mod common;

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Guest, Transport, ASC};
use vhost::vhost_user::message::{VhostUserProtocolFeatures, VhostUserVirtioFeatures};
use vhost::vhost_user::{Frontend, VhostUserFrontend};
use vhost::{VhostBackend, VhostUserMemoryRegionInfo, VringConfigData};
use vm_memory::{Bytes, FileOffset, GuestAddress, GuestMemoryMmap};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agx-model-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running model and the stderr it printed after the "listening" line.
struct Model {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

/// Starts the model and waits for its "listening" line.
fn spawn(dir: &std::path::Path, extra: &[&str]) -> Model {
    let socket = dir.join("agx.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_agx-model"))
        .arg("--socket")
        .arg(&socket)
        .arg("--trace")
        .arg(dir.join("trace"))
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let want = format!("agx-model: listening on {}", socket.display());
    loop {
        let line = lines
            .next()
            .expect("model exited before listening")
            .unwrap();
        if line == want {
            break;
        }
    }
    // Keep draining stderr so the model never blocks on a full pipe.
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = stderr.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    Model { child, stderr }
}

fn wait(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("model did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn exits_cleanly_when_the_frontend_disconnects() {
    let dir = scratch("disconnect");
    let Model { mut child, .. } = spawn(&dir, &[]);
    let conn = UnixStream::connect(dir.join("agx.sock")).unwrap();
    drop(conn);
    let st = wait(&mut child);
    assert!(st.success(), "{st:?}");
    let trace = std::fs::read_to_string(dir.join("trace")).unwrap();
    assert!(
        trace.starts_with("model soc=t8103 strict=true fault=none"),
        "{trace}"
    );
    assert!(!dir.join("agx.sock").exists());
}

#[test]
fn exits_cleanly_on_sigterm() {
    let dir = scratch("sigterm");
    let Model { mut child, .. } = spawn(&dir, &["--soc", "t6022", "--fault", "never-answer"]);
    let st = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let st = wait(&mut child);
    assert!(st.success(), "{st:?}");
    assert!(!dir.join("agx.sock").exists());
}

#[test]
fn prints_the_layout() {
    let out = Command::new(env!("CARGO_BIN_EXE_agx-model"))
        .arg("--print-layout")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("mbox   phys=0x10408000 size=0x4000"),
        "{text}"
    );
}

/// A vhost-user frontend over the socket, as UML's virtio_uml is.
struct Socket {
    _frontend: Frontend,
    kicks: Vec<EventFd>,
    _calls: Vec<EventFd>,
}

impl Transport for Socket {
    fn kick(&mut self, q: u16, gm: &GuestMemoryMmap, used: u64) -> std::io::Result<()> {
        let before: u16 = gm.read_obj(GuestAddress(used + 2)).unwrap();
        self.kicks[usize::from(q)].write(1)?;
        // Requests are always answered; interrupt buffers only when an interrupt is pending.
        let wait = if q == 0 { 10_000 } else { 200 };
        let deadline = Instant::now() + Duration::from_millis(wait);
        while Instant::now() < deadline {
            let now: u16 = gm.read_obj(GuestAddress(used + 2)).unwrap();
            if now != before {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if q == 0 {
            return Err(std::io::Error::other("request not answered"));
        }
        Ok(())
    }
}

/// Connects to the model as UML's virtio_uml does and sets up both queues.
fn connect(dir: &std::path::Path) -> Guest<Socket> {
    let mut fe = Frontend::connect(dir.join("agx.sock"), 2).unwrap();
    fe.set_owner().unwrap();
    let features = fe.get_features().unwrap();
    assert_ne!(features & (1 << 32), 0, "VIRTIO_F_VERSION_1");
    assert_ne!(
        features & VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits(),
        0
    );
    fe.set_features(features).unwrap();
    let pf = fe.get_protocol_features().unwrap();
    assert!(pf.contains(VhostUserProtocolFeatures::REPLY_ACK));
    fe.set_protocol_features(pf).unwrap();

    // Guest RAM shared through a file, as UML shares its physical memory.
    let size = 0x40_0000u64;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join("ram"))
        .unwrap();
    file.set_len(size).unwrap();
    let gm = GuestMemoryMmap::<()>::from_ranges_with_files([(
        GuestAddress(0),
        size as usize,
        Some(FileOffset::new(file.try_clone().unwrap(), 0)),
    )])
    .unwrap();
    fe.set_mem_table(&[VhostUserMemoryRegionInfo {
        guest_phys_addr: 0,
        memory_size: size,
        userspace_addr: 0,
        mmap_offset: 0,
        mmap_handle: file.as_raw_fd(),
    }])
    .unwrap();

    let mut rings = [(0, 0, 0); 2];
    let mut kicks = Vec::new();
    let mut calls = Vec::new();
    for (q, ring) in rings.iter_mut().enumerate() {
        let base = q as u64 * 0x4000;
        *ring = (base, base + 0x1000, base + 0x2000);
        fe.set_vring_num(q, 256).unwrap();
        fe.set_vring_base(q, 0).unwrap();
        fe.set_vring_addr(
            q,
            &VringConfigData {
                queue_max_size: 256,
                queue_size: 256,
                flags: 0,
                desc_table_addr: ring.0,
                used_ring_addr: ring.2,
                avail_ring_addr: ring.1,
                log_addr: None,
            },
        )
        .unwrap();
        let call = EventFd::new(EFD_NONBLOCK).unwrap();
        let kick = EventFd::new(EFD_NONBLOCK).unwrap();
        fe.set_vring_call(q, &call).unwrap();
        fe.set_vring_kick(q, &kick).unwrap();
        fe.set_vring_enable(q, true).unwrap();
        calls.push(call);
        kicks.push(kick);
    }
    Guest::new(
        gm,
        Socket {
            _frontend: fe,
            kicks,
            _calls: calls,
        },
        rings,
    )
}

#[test]
fn serves_a_vhost_user_frontend_like_uml() {
    let dir = scratch("frontend");
    let Model { mut child, .. } = spawn(&dir, &["--handoff", "0x30000"]);
    let mut g = connect(&dir);
    let bufs = g.post_irq_buffers(10);
    g.kick(1).unwrap();
    assert_eq!(g.read(0xd0_4000, 4), 0x0402_1100);
    g.write(ASC + 0x44, 4, 0x10);
    let magic: u64 = g.gm.read_obj(GuestAddress(0x30008)).unwrap();
    assert_eq!(magic, 0x4b1d_0000_0000_0002);
    // The HELLO's interrupt arrives on the irq queue.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut irqs = Vec::new();
    while irqs.is_empty() && Instant::now() < deadline {
        irqs = g.irq_messages(&bufs);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(irqs, vec![3]);
    let m = g.mbox_recv_all();
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].1 >> 52) & 0xff, 1, "HELLO");

    drop(g);
    let st = wait(&mut child);
    assert!(st.success(), "{st:?}");
    let trace = std::fs::read_to_string(dir.join("trace")).unwrap();
    for want in [
        "mmio w32 asc+0x44 = 0x10",
        "dma w64 0x30008 = 0x4b1d000000000002 handoff.magic_fw",
        "mbox tx ep=0x00 msg0=0x00100000000c000b msg1=0x00000000 mgmt=HELLO",
        "irq raise hwirq=3 recv-not-empty",
        "rtkit state=hello-sent",
    ] {
        assert!(trace.lines().any(|l| l == want), "{want:?} not in\n{trace}");
    }
}

#[test]
fn a_failing_event_handler_ends_the_process_with_its_own_status() {
    let dir = scratch("backend-error");
    let Model { mut child, stderr } = spawn(&dir, &[]);
    let mut g = connect(&dir);
    // An interrupt buffer too small for an MSI message, then an interrupt (the HELLO's).
    g.post(1, &[], 2);
    g.kick(1).unwrap();
    g.write(ASC + 0x44, 4, 0x10);
    let st = wait(&mut child);
    assert_eq!(st.code(), Some(agx_model::EXIT_BACKEND));
    let deadline = Instant::now() + Duration::from_secs(5);
    let want = "agx-model: backend failed: interrupt buffer of 2 bytes";
    while !stderr.lock().unwrap().contains(want) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        stderr.lock().unwrap().contains(want),
        "{}",
        stderr.lock().unwrap()
    );
}

#[test]
fn strict_mode_aborts_with_a_report() {
    let dir = scratch("strict");
    let Model { mut child, stderr } = spawn(&dir, &[]);
    let mut g = connect(&dir);
    assert_eq!(g.read(ASC + 0x44, 4), 0);
    // An sgx register the model does not know: the model refuses and ends (the request is
    // posted by hand: it will never be answered).
    let req = agx_model::pcidev::Request {
        header: agx_model::pcidev::MsgHeader {
            op: agx_model::pcidev::OP_MMIO_READ,
            bar: 0,
            reserved: 0,
            size: 4,
            addr: 0x1234,
        },
        data: Vec::new(),
    }
    .encode();
    g.post(0, &[&req], 4);
    g.transport.kicks[0].write(1).unwrap();
    let st = wait(&mut child);
    assert_eq!(st.code(), Some(agx_model::EXIT_STRICT));
    // Give the stderr reader a moment to see the end of the pipe.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !stderr.lock().unwrap().contains("last trace lines") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let report = stderr.lock().unwrap().clone();
    assert!(
        report.contains("strict mode: the real hardware would not accept this")
            && report.contains("sgx+0x1234: read of a register the model does not implement")
            && report.contains("mmio r32 asc+0x44 -> 0x0"),
        "{report}"
    );
}
