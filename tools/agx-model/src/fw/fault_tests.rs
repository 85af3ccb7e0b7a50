// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The injected faults that need a booted GPU firmware (`never-ready`, `initdata-rejected`,
//! `crash-after-ready`, `unknown-event-slot`), driven over the mailbox registers as the Linux
//! driver drives them, with the InitData trees of [`super::init_tests`] and the crash-log
//! buffer granted and mapped where the Asahi driver puts it. The tests pin the exact words and
//! bytes the host receives.

use std::time::{Duration, Instant};

use super::generated::abi::{self, ChannelStateFields, FwAbi};
use super::heaps::Heap;
use super::init_tests::{build, init_word, Env, Tree};
use super::model_abi::ModelAbi;
use crate::asc::{CPU_CONTROL, CPU_CONTROL_RUN};
use crate::crashlog::{self, CRG8, CRG8_PC, CSTR};
use crate::fault::{Fault, INITDATA_PANIC, INJECTED_PANIC};
use crate::mailbox::{A2I_SEND0, A2I_SEND1, CONTROL_EMPTY, I2A_CONTROL, I2A_RECV0, I2A_RECV1};
use crate::mmio::{Device, PANIC_REGS};
use crate::soc::Soc;
use crate::strict::Violation;

const ASC: u64 = 0x40_0000;
const MBOX: u64 = 0x40_8000;
/// Where the Asahi driver maps the crash-log buffer (agx-firmware-behaviour.md §3.3).
const CRASHLOG_VA: u64 = 0xffff_ffae_0000_0000;
/// Pages the firmware asks for and the driver grants.
const CRASHLOG_PAGES: u64 = 0x20;
/// The crash message for that buffer: type 1, 0x20 pages, VA bits 43:0.
const CRASH_MSG: u64 = 0x0012_0fae_0000_0000;
/// `0x42` on endpoint 0x20.
const DOORBELL: (u8, u64) = (0x20, 0x42 << 48);

fn send(d: &mut Device, ep: u8, msg0: u64) {
    d.write(MBOX + A2I_SEND0, 8, msg0).unwrap();
    d.write(MBOX + A2I_SEND1, 8, u64::from(ep)).unwrap();
}

fn recv(d: &mut Device) -> Vec<(u8, u64)> {
    let mut out = Vec::new();
    while d.read(MBOX + I2A_CONTROL, 4).unwrap() as u32 & CONTROL_EMPTY == 0 {
        let m0 = d.read(MBOX + I2A_RECV0, 8).unwrap();
        let m1 = d.read(MBOX + I2A_RECV1, 8).unwrap();
        out.push(((m1 & 0xff) as u8, m0));
    }
    out
}

/// A device with `fault`, a good InitData tree and (if `map_crashlog`) the crash-log buffer
/// mapped; RTKit booted as Linux boots it with the buffer granted, the GPU endpoints started,
/// INIT and the DevCtrl doorbell and kick sent. The firmware's work has not run yet.
fn boot_to_init<A: ModelAbi>(soc: Soc, fault: Fault, map_crashlog: bool) -> (Env, Tree) {
    let mut env = Env::with_fault(soc, A::FIRMWARE, Some(fault));
    let tree = build::<A>(&mut env, soc.uat_oas());
    if map_crashlog {
        env.map_at(CRASHLOG_VA, CRASHLOG_PAGES << 12, Heap::KernelShared);
    }
    let d = &mut env.dev;
    let v = d.read(ASC + CPU_CONTROL, 4).unwrap();
    d.write(ASC + CPU_CONTROL, 4, v | u64::from(CPU_CONTROL_RUN))
        .unwrap();
    recv(d);
    send(d, 0, (2 << 52) | 12 | (12 << 16));
    send(d, 0, (8 << 52) | 1);
    send(d, 0, (8 << 52) | (1 << 32) | (1 << 51));
    send(d, 0, (5 << 52) | (1 << 32) | 2);
    let m = recv(d);
    assert_eq!(
        m[m.len() - 2..],
        [(0, (7 << 52) | 0x20), (1, 0x0012 << 48)],
        "IOP power ack, then the crash-log buffer request"
    );
    send(
        d,
        1,
        (1 << 52) | (CRASHLOG_PAGES << 44) | (CRASHLOG_VA & ((1 << 44) - 1)),
    );
    send(d, 0, (0xb << 52) | 0x20);
    send(d, 0, (5 << 52) | (0x20 << 32) | 2);
    send(d, 0, (5 << 52) | (0x21 << 32) | 2);
    assert_eq!(recv(d), vec![(0, (0xb << 52) | 0x20)]);
    send(d, 0x20, init_word(tree.initdata));
    send(d, 0x21, (0x83 << 48) | 0x11);
    send(d, 0x21, (0x83 << 48) | 0x10);
    assert!(d.gpu_work_pending());
    d.take_irqs();
    (env, tree)
}

/// The crash log in the granted buffer: its panic text and PC.
fn crash_log(env: &Env) -> (String, u64) {
    let mut buf = vec![0u8; (CRASHLOG_PAGES << 12) as usize];
    env.peek(CRASHLOG_VA, &mut buf);
    let sections = crashlog::parse(&buf).unwrap();
    let text = sections
        .iter()
        .find(|s| s.fourcc == CSTR)
        .and_then(crashlog::section_text)
        .unwrap()
        .to_string();
    let regs = &sections.iter().find(|s| s.fourcc == CRG8).unwrap().payload;
    let pc = u64::from_le_bytes(regs[CRG8_PC..CRG8_PC + 8].try_into().unwrap());
    (text, pc)
}

fn devctrl_read_ptr<A: FwAbi>(env: &Env, tree: &Tree) -> u32 {
    *env.get::<A::ChannelState>(tree.devctrl_state).read_ptr()
}

#[test]
fn never_ready_initialises_the_channels_but_never_reads_devctrl() {
    type A = abi::G13V13_5;
    let (mut env, tree) = boot_to_init::<A>(Soc::T8103, Fault::NeverReady, true);
    env.dev.run_gpu_work().unwrap();
    assert!(!env.dev.gpu_ready() && !env.dev.gpu_work_pending());
    assert_eq!(devctrl_read_ptr::<A>(&env, &tree), 0);
    assert_eq!(recv(&mut env.dev), vec![], "no FW-log line, no 0x42");
    // A later kick changes nothing.
    send(&mut env.dev, 0x21, (0x83 << 48) | 0x10);
    env.dev.run_gpu_work().unwrap();
    assert_eq!(devctrl_read_ptr::<A>(&env, &tree), 0);
    assert_eq!(env.dev.timer_deadline(), None);
    let text = env.trace_text();
    assert_eq!(text.matches(" initialised\n").count(), 18, "{text}");
    assert!(text.contains("fault never-ready: channels initialised, DevCtrl is never read\n"));
    assert_eq!(
        text.matches("fault never-ready: doorbell ignored, DevCtrl read_ptr stays 0\n")
            .count(),
        2
    );
    assert!(!text.contains("fw devctrl consumed"));
}

#[test]
fn initdata_rejected_panics_at_init_with_the_crash_log_linux_reads() {
    type A = abi::G13V13_5;
    let (mut env, tree) = boot_to_init::<A>(Soc::T8103, Fault::InitDataRejected, true);
    env.dev.run_gpu_work().unwrap();
    assert!(env.dev.crashed() && !env.dev.gpu_ready());
    assert_eq!(
        env.dev.take_irqs(),
        vec![3],
        "recv-not-empty for the crash message"
    );
    assert_eq!(recv(&mut env.dev), vec![(1, CRASH_MSG)]);
    assert_eq!(crash_log(&env), (INITDATA_PANIC.to_string(), PANIC_REGS.pc));
    let text = env.trace_text();
    assert!(!text.contains("fw initdata va="), "InitData is not read");
    assert!(text.contains(&format!(
        "fault initdata-rejected: INIT va=0x{:x} refused, firmware panics\n",
        tree.initdata
    )));
    assert!(text.contains(&format!("fw panic: {INITDATA_PANIC}\n")));
    assert!(text.contains("mbox tx ep=0x01 msg0=0x00120fae00000000 msg1=0x00000001 crash\n"));
    // Dead: a kick and a ping are taken from the FIFO and answered by nothing.
    send(&mut env.dev, 0x21, (0x83 << 48) | 0x10);
    send(&mut env.dev, 0, 3 << 52);
    assert_eq!(env.dev.mailbox().a2i_len(), 0);
    assert!(!env.dev.gpu_work_pending());
    assert_eq!(recv(&mut env.dev), vec![]);
    let text = env.trace_text();
    assert!(text.contains("rtkit crashed: ignored ep=0x21 msg0=0x0083000000000010\n"));
    assert!(text.contains("rtkit crashed: ignored ep=0x00 msg0=0x0030000000000000\n"));
}

#[test]
fn a_crash_log_the_firmware_cannot_write_is_a_violation() {
    // The driver granted the buffer but never mapped it for the firmware.
    type A = abi::G13V13_5;
    let (mut env, _) = boot_to_init::<A>(Soc::T8103, Fault::InitDataRejected, false);
    assert!(matches!(env.dev.run_gpu_work(), Err(Violation::Uat(_))));
    assert_eq!(recv(&mut env.dev), vec![], "no crash message without a log");
}

/// Boots to ready; returns the window in which `Initialize` was consumed.
fn ready<A: ModelAbi>(soc: Soc, fault: Fault) -> (Env, Tree, Instant, Instant) {
    let (mut env, tree) = boot_to_init::<A>(soc, fault, true);
    let before = Instant::now();
    env.dev.run_gpu_work().unwrap();
    let after = Instant::now();
    assert!(env.dev.gpu_ready());
    assert_eq!(devctrl_read_ptr::<A>(&env, &tree), 1);
    assert_eq!(recv(&mut env.dev), vec![DOORBELL], "the FW-log line");
    (env, tree, before, after)
}

#[test]
fn crash_after_ready_panics_300_ms_after_initialize() {
    type A = abi::G13V13_5;
    let (mut env, _, before, after) = ready::<A>(Soc::T8103, Fault::CrashAfterReady);
    let at = env.dev.timer_deadline().unwrap();
    let delay = Duration::from_millis(300);
    assert!(at >= before + delay && at <= after + delay);
    // Not yet.
    env.dev.run_timers(at - Duration::from_millis(1)).unwrap();
    assert!(!env.dev.crashed());
    assert_eq!(recv(&mut env.dev), vec![]);
    env.dev.take_irqs();
    env.dev.run_timers(at).unwrap();
    assert!(env.dev.crashed());
    assert_eq!(env.dev.timer_deadline(), None);
    assert_eq!(env.dev.take_irqs(), vec![3]);
    assert_eq!(recv(&mut env.dev), vec![(1, CRASH_MSG)]);
    assert_eq!(crash_log(&env), (INJECTED_PANIC.to_string(), PANIC_REGS.pc));
    let text = env.trace_text();
    assert!(text.contains("fault crash-after-ready: firmware ready, acting in 300 ms\n"));
    assert!(text.contains(&format!("fw panic: {INJECTED_PANIC}\n")));
}

fn unknown_event_slot<A: ModelAbi>(soc: Soc) {
    let (mut env, tree, before, after) = ready::<A>(soc, Fault::UnknownEventSlot);
    let at = env.dev.timer_deadline().unwrap();
    let delay = Duration::from_millis(100);
    assert!(at >= before + delay && at <= after + delay);
    env.dev.take_irqs();
    env.dev.run_timers(at).unwrap();
    assert_eq!(env.dev.take_irqs(), vec![3]);
    assert_eq!(recv(&mut env.dev), vec![DOORBELL]);
    // Entry 0 of the Event ring: tag 1 (Flag), firing = {1 << 5, 0, 0, 0}, the rest zero.
    let mut entry = [0xffu8; 0x38];
    env.peek(tree.event_ring, &mut entry);
    let mut want = [0u8; 0x38];
    want[0] = 1;
    want[4] = 0x20;
    assert_eq!(entry, want);
    let s: A::ChannelState = env.get(tree.event_state);
    assert_eq!((*s.write_ptr(), *s.read_ptr()), (1, 0));
    assert!(!env.dev.crashed());
    assert_eq!(env.dev.timer_deadline(), None, "once");
    let text = env.trace_text();
    assert!(text.contains("fault unknown-event-slot: firmware ready, acting in 100 ms\n"));
    assert!(text.contains("fw event index=0 tag=Flag firing=[0x20, 0x0, 0x0, 0x0]\n"));
}

#[test]
fn unknown_event_slot_posts_a_flag_for_slot_5_100_ms_after_initialize() {
    unknown_event_slot::<abi::G13V13_5>(Soc::T8103);
    unknown_event_slot::<abi::G14XV13_5>(Soc::T6021);
    unknown_event_slot::<abi::G13V12_3>(Soc::T8103);
}
