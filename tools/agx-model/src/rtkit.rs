// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The firmware side of RTKit: the management protocol (endpoint 0) and the system endpoints,
//! answered the way the real coprocessor firmware answers them.
//!
//! Sequence (agx-firmware-behaviour.md §3.2; host side linux-7.2:drivers/soc/apple/rtkit.c
//! `apple_rtkit_management_rx_*`, `apple_rtkit_boot`; firmware side m1n1:proxyclient/m1n1/fw/asc/
//! mgmt.py and qemu-as:hw/misc/apple-silicon/a7iop/rtkit.c `apple_rtkit_handle_mgmt_msg`):
//!
//! 1. CPU start: the firmware queues `HELLO` (type 1, min version 15:0, max 31:16) unasked.
//! 2. Host `HELLO_REPLY` (type 2) with the chosen version in both fields; it must lie in the
//!    firmware's range.
//! 3. One `EPMAP` (type 8: bitmap 31:0, base 34:32, bit 51 LAST) per 32-endpoint block that has
//!    endpoints, each waiting for the host's `EPMAP_REPLY` (same type, base echoed, bit 51 on
//!    the last, bit 0 "more" otherwise).
//! 4. After the last reply the firmware reports `IOP_PWR_STATE_ACK` (type 7) 0x20 (the order
//!    qemu-as uses; Linux accepts either order), and the host starts the system endpoints with
//!    `STARTEP` (type 5: endpoint 39:32, bit 1).
//! 5. Each started buffer-using system endpoint asks for a buffer: type 1 in 59:52, size in
//!    4 KiB pages in 51:44, address 43:0 = 0 meaning "host allocates". The host answers with the
//!    same layout carrying its buffer's address (IOVA; for the GPU a firmware VA). Crashlog's
//!    request is the one recorded from the real GPU firmware, `0x0012000000000000` (docs
//!    agx.md "Crashlog Endpoint"). Syslog additionally sends `INIT` (type 8: entries 7:0,
//!    message size 31:24) once its buffer exists.
//! 6. Host `SET_AP_PWR_STATE` (type 0xb) 0x20 is acknowledged with the same type and state;
//!    from then on RTKit is running and the application endpoints 0x20/0x21 may be started.
//!
//! Anything else is a [`Violation`]. The real GPU firmware was only seen to expose endpoints
//! 0, 1 (crashlog), 0x20 and 0x21; syslog (2) and ioreport (4) can be added to the map to
//! exercise the host's handling of them.

use std::fmt;

use crate::mailbox::Message;
use crate::strict::{Checked, Violation};

/// Management endpoint.
pub const EP_MGMT: u8 = 0;
/// Crash log endpoint.
pub const EP_CRASHLOG: u8 = 1;
/// Syslog endpoint.
pub const EP_SYSLOG: u8 = 2;
/// IOReport endpoint.
pub const EP_IOREPORT: u8 = 4;
/// First application endpoint; the GPU firmware's "User01" (init, doorbell from firmware).
pub const EP_GPU_FW: u8 = 0x20;
/// The GPU firmware's "User02" (kicks).
pub const EP_GPU_KICK: u8 = 0x21;

/// `HELLO`.
pub const MGMT_HELLO: u8 = 1;
/// `HELLO_REPLY`.
pub const MGMT_HELLO_REPLY: u8 = 2;
/// `PING` (m1n1 only).
pub const MGMT_PING: u8 = 3;
/// `PONG`.
pub const MGMT_PONG: u8 = 4;
/// `STARTEP`.
pub const MGMT_STARTEP: u8 = 5;
/// `SET_IOP_PWR_STATE`.
pub const MGMT_SET_IOP_PWR_STATE: u8 = 6;
/// `IOP_PWR_STATE_ACK`.
pub const MGMT_IOP_PWR_STATE_ACK: u8 = 7;
/// `EPMAP` and its reply.
pub const MGMT_EPMAP: u8 = 8;
/// `SET_AP_PWR_STATE` and its acknowledgement.
pub const MGMT_SET_AP_PWR_STATE: u8 = 0xb;

/// EPMAP: last block.
pub const EPMAP_LAST: u64 = 1 << 51;
/// EPMAP reply: more blocks follow.
pub const EPMAP_REPLY_MORE: u64 = 1 << 0;
/// STARTEP: start flag.
pub const STARTEP_FLAG: u64 = 1 << 1;

/// Power state ON.
pub const PWR_ON: u16 = 0x20;
/// Power states the host may request (OFF, SLEEP, QUIESCED, ON, IDLE, INIT).
pub const PWR_STATES: [u16; 6] = [0x00, 0x01, 0x10, 0x20, 0x201, 0x220];

/// System-endpoint buffer request type.
pub const BUFFER_REQUEST: u8 = 1;
/// Syslog INIT type.
pub const SYSLOG_INIT: u8 = 8;

/// Pages the crashlog request asks for (real GPU firmware).
pub const CRASHLOG_PAGES: u64 = 0x20;
/// Pages the syslog request asks for (model's choice: no record).
pub const SYSLOG_PAGES: u64 = 0x4;
/// Pages the ioreport request asks for (model's choice: no record).
pub const IOREPORT_PAGES: u64 = 0x4;
/// Syslog entries announced in INIT (model's choice).
pub const SYSLOG_ENTRIES: u64 = 0x10;
/// Syslog message size announced in INIT (model's choice).
pub const SYSLOG_MSG_SIZE: u64 = 0x80;

/// Management message type (bits 59:52).
pub fn mgmt_type(msg0: u64) -> u8 {
    ((msg0 >> 52) & 0xff) as u8
}

fn mgmt(ty: u8, payload: u64) -> Message {
    Message::new(EP_MGMT, (u64::from(ty) << 52) | payload)
}

fn buffer_request(ep: u8, pages: u64) -> Message {
    Message::new(ep, (u64::from(BUFFER_REQUEST) << 52) | (pages << 44))
}

/// A short name of a message for traces; `tx` = firmware to host (a type-1 message with an
/// address from the firmware on endpoint 1 is a crash report, from the host a buffer grant).
pub fn describe(tx: bool, m: &Message) -> String {
    let ty = mgmt_type(m.msg0);
    match m.ep() {
        EP_MGMT => {
            let name = match ty {
                MGMT_HELLO => "HELLO",
                MGMT_HELLO_REPLY => "HELLO_REPLY",
                MGMT_PING => "PING",
                MGMT_PONG => "PONG",
                MGMT_STARTEP => "STARTEP",
                MGMT_SET_IOP_PWR_STATE => "SET_IOP_PWR_STATE",
                MGMT_IOP_PWR_STATE_ACK => "IOP_PWR_STATE_ACK",
                MGMT_EPMAP => "EPMAP",
                MGMT_SET_AP_PWR_STATE => "AP_PWR_STATE",
                _ => "UNKNOWN",
            };
            format!("mgmt={name}")
        }
        EP_CRASHLOG if tx && ty == BUFFER_REQUEST && m.msg0 & ((1 << 44) - 1) != 0 => {
            "crash".into()
        }
        EP_CRASHLOG | EP_SYSLOG | EP_IOREPORT if ty == BUFFER_REQUEST => "buffer".into(),
        EP_SYSLOG if ty == SYSLOG_INIT => "syslog=INIT".into(),
        ep if ep >= EP_GPU_FW => format!("gpu=0x{:x}", m.msg0 >> 48),
        _ => format!("type=0x{ty:x}"),
    }
}

/// Where the firmware's RTKit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// CPU not started.
    Off,
    /// HELLO sent, waiting for the host's reply.
    HelloSent,
    /// EPMAP block `n` (index into the block list) sent, waiting for its reply.
    Epmap(usize),
    /// Endpoint map done, IOP on; waiting for the host to set the AP power state.
    IopOn,
    /// AP power state ON: application endpoints may start.
    Running,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Off => f.write_str("off"),
            State::HelloSent => f.write_str("hello-sent"),
            State::Epmap(n) => write!(f, "epmap-{n}"),
            State::IopOn => f.write_str("iop-on"),
            State::Running => f.write_str("running"),
        }
    }
}

/// A buffer the host granted a system endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostBuffer {
    /// Address as the host gave it (IOVA / firmware VA, bits 43:0).
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
}

/// What the firmware is configured to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtkitConfig {
    /// HELLO minimum version.
    pub min_ver: u16,
    /// HELLO maximum version.
    pub max_ver: u16,
    /// System endpoints in the map besides 0 (subset of crashlog, syslog, ioreport).
    pub system_endpoints: Vec<u8>,
}

impl Default for RtkitConfig {
    /// Versions 11..=12: the range Linux accepts and the versions other RTKit coprocessors of
    /// the macOS 12/13 era negotiate (the GPU's HELLO values are unrecorded,
    /// agx-firmware-behaviour.md §7.1). Endpoints: crashlog only, as seen on the GPU.
    fn default() -> Self {
        RtkitConfig {
            min_ver: 11,
            max_ver: 12,
            system_endpoints: vec![EP_CRASHLOG],
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Endpoint {
    started: bool,
    /// Pages asked for and not yet granted.
    pending_request: Option<u64>,
    buffer: Option<HostBuffer>,
}

/// The firmware's RTKit state.
#[derive(Debug)]
pub struct Rtkit {
    cfg: RtkitConfig,
    state: State,
    version: Option<u16>,
    iop_power: u16,
    ap_power: u16,
    endpoints: [Option<Endpoint>; 256],
    /// Bases of the EPMAP blocks to send, ascending.
    blocks: Vec<u8>,
    /// Human-readable state changes for the trace, drained by the device.
    notes: Vec<String>,
    /// Messages to the application endpoints, for the GPU firmware, drained by the device.
    app_inbox: Vec<(u8, u64)>,
}

impl Rtkit {
    /// Firmware not yet started.
    pub fn new(cfg: RtkitConfig) -> Self {
        let mut endpoints = [None; 256];
        let mut eps = vec![EP_MGMT, EP_GPU_FW, EP_GPU_KICK];
        eps.extend(cfg.system_endpoints.iter().copied());
        for ep in eps {
            endpoints[usize::from(ep)] = Some(Endpoint::default());
        }
        let mut blocks: Vec<u8> = (0..8u8)
            .filter(|b| (0..32).any(|i| endpoints[usize::from(*b) * 32 + i].is_some()))
            .collect();
        blocks.dedup();
        Rtkit {
            cfg,
            state: State::Off,
            version: None,
            iop_power: 0,
            ap_power: 0,
            endpoints,
            blocks,
            notes: Vec::new(),
            app_inbox: Vec::new(),
        }
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Negotiated protocol version.
    pub fn version(&self) -> Option<u16> {
        self.version
    }

    /// IOP power state as last acknowledged.
    pub fn iop_power(&self) -> u16 {
        self.iop_power
    }

    /// AP power state as last acknowledged.
    pub fn ap_power(&self) -> u16 {
        self.ap_power
    }

    /// Whether `ep` has been started by the host.
    pub fn started(&self, ep: u8) -> bool {
        self.endpoints[usize::from(ep)].is_some_and(|e| e.started)
    }

    /// The buffer granted to system endpoint `ep`.
    pub fn buffer(&self, ep: u8) -> Option<HostBuffer> {
        self.endpoints[usize::from(ep)].and_then(|e| e.buffer)
    }

    /// Whether the host may start the GPU endpoints now (RTKit running, both in the map).
    pub fn gpu_endpoints_startable(&self) -> bool {
        self.state == State::Running
            && self.endpoints[usize::from(EP_GPU_FW)].is_some()
            && self.endpoints[usize::from(EP_GPU_KICK)].is_some()
    }

    /// Takes the trace notes accumulated since the last call.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// Takes the messages to endpoints 0x20/0x21 received since the last call, oldest first:
    /// RTKit only delivers them; the GPU firmware ([`crate::fw::firmware`]) acts on them.
    pub fn take_app_messages(&mut self) -> Vec<(u8, u64)> {
        std::mem::take(&mut self.app_inbox)
    }

    fn set_state(&mut self, s: State) {
        self.state = s;
        self.notes.push(format!("rtkit state={s}"));
    }

    /// The CPU started: returns the unsolicited HELLO.
    pub fn boot(&mut self) -> Vec<Message> {
        if self.state != State::Off {
            return Vec::new();
        }
        self.set_state(State::HelloSent);
        let hello = u64::from(self.cfg.min_ver) | (u64::from(self.cfg.max_ver) << 16);
        vec![mgmt(MGMT_HELLO, hello)]
    }

    fn epmap_block(&self, n: usize) -> Message {
        let base = self.blocks[n];
        let bitmap = (0..32u64)
            .filter(|i| self.endpoints[usize::from(base) * 32 + *i as usize].is_some())
            .fold(0u64, |acc, i| acc | (1 << i));
        let mut payload = bitmap | (u64::from(base) << 32);
        if n + 1 == self.blocks.len() {
            payload |= EPMAP_LAST;
        }
        mgmt(MGMT_EPMAP, payload)
    }

    fn violation(&self, what: String) -> Violation {
        Violation::Rtkit(format!("{what} (firmware state {})", self.state))
    }

    /// A message from the host. Returns the firmware's answers, in order.
    pub fn handle(&mut self, m: Message) -> Checked<Vec<Message>> {
        if m.msg1 >> 8 != 0 {
            return Err(self.violation(format!(
                "msg1 0x{:08x} has bits above the endpoint set",
                m.msg1
            )));
        }
        let ep = m.ep();
        if self.state == State::Off {
            return Err(self.violation("message before the firmware was started".into()));
        }
        if self.endpoints[usize::from(ep)].is_none() {
            return Err(self.violation(format!("message to endpoint 0x{ep:02x} not in the map")));
        }
        match ep {
            EP_MGMT => self.handle_mgmt(m.msg0),
            EP_CRASHLOG | EP_SYSLOG | EP_IOREPORT => self.handle_system(ep, m.msg0),
            _ => self.handle_app(ep, m.msg0),
        }
    }

    fn handle_mgmt(&mut self, msg0: u64) -> Checked<Vec<Message>> {
        let ty = mgmt_type(msg0);
        match ty {
            MGMT_HELLO_REPLY => {
                if self.state != State::HelloSent {
                    return Err(self.violation("HELLO_REPLY without a pending HELLO".into()));
                }
                let min = (msg0 & 0xffff) as u16;
                let max = ((msg0 >> 16) & 0xffff) as u16;
                if min != max {
                    return Err(self.violation(format!(
                        "HELLO_REPLY min {min} != max {max}: the host must choose one version"
                    )));
                }
                if min < self.cfg.min_ver || min > self.cfg.max_ver {
                    return Err(self.violation(format!(
                        "HELLO_REPLY version {min} outside the offered {}..={}",
                        self.cfg.min_ver, self.cfg.max_ver
                    )));
                }
                self.version = Some(min);
                self.notes.push(format!("rtkit version={min}"));
                self.set_state(State::Epmap(0));
                Ok(vec![self.epmap_block(0)])
            }
            MGMT_EPMAP => {
                let State::Epmap(n) = self.state else {
                    return Err(self.violation("EPMAP reply without a pending EPMAP".into()));
                };
                let base = ((msg0 >> 32) & 0x7) as u8;
                if base != self.blocks[n] {
                    return Err(self.violation(format!(
                        "EPMAP reply for base {base}, expected {}",
                        self.blocks[n]
                    )));
                }
                let last = n + 1 == self.blocks.len();
                if last && msg0 & EPMAP_LAST == 0 {
                    return Err(self.violation("EPMAP reply to the last block lacks LAST".into()));
                }
                if !last && msg0 & EPMAP_REPLY_MORE == 0 {
                    return Err(self.violation("EPMAP reply to a middle block lacks MORE".into()));
                }
                if !last {
                    self.set_state(State::Epmap(n + 1));
                    return Ok(vec![self.epmap_block(n + 1)]);
                }
                self.iop_power = PWR_ON;
                self.set_state(State::IopOn);
                Ok(vec![mgmt(MGMT_IOP_PWR_STATE_ACK, u64::from(PWR_ON))])
            }
            MGMT_STARTEP => self.start_ep(msg0),
            MGMT_SET_IOP_PWR_STATE => {
                let state = self.power_state(msg0)?;
                self.iop_power = state;
                self.notes.push(format!("rtkit iop-power=0x{state:x}"));
                Ok(vec![mgmt(MGMT_IOP_PWR_STATE_ACK, u64::from(state))])
            }
            MGMT_SET_AP_PWR_STATE => {
                if matches!(self.state, State::HelloSent | State::Epmap(_)) {
                    return Err(self.violation("SET_AP_PWR_STATE before the endpoint map".into()));
                }
                let state = self.power_state(msg0)?;
                self.ap_power = state;
                self.notes.push(format!("rtkit ap-power=0x{state:x}"));
                if state == PWR_ON {
                    if self.state != State::Running {
                        self.set_state(State::Running);
                    }
                } else if self.state == State::Running {
                    self.set_state(State::IopOn);
                }
                Ok(vec![mgmt(MGMT_SET_AP_PWR_STATE, u64::from(state))])
            }
            MGMT_PING => Ok(vec![mgmt(MGMT_PONG, msg0 & ((1 << 52) - 1))]),
            _ => Err(self.violation(format!(
                "management message type 0x{ty:x} (0x{msg0:016x}) is not one the host sends"
            ))),
        }
    }

    fn power_state(&self, msg0: u64) -> Checked<u16> {
        let state = (msg0 & 0xffff) as u16;
        if PWR_STATES.contains(&state) {
            Ok(state)
        } else {
            Err(self.violation(format!("unknown power state 0x{state:x}")))
        }
    }

    fn start_ep(&mut self, msg0: u64) -> Checked<Vec<Message>> {
        let ep = ((msg0 >> 32) & 0xff) as u8;
        if msg0 & STARTEP_FLAG == 0 {
            return Err(self.violation(format!("STARTEP 0x{ep:02x} without the start flag")));
        }
        if matches!(self.state, State::HelloSent | State::Epmap(_)) {
            return Err(self.violation(format!("STARTEP 0x{ep:02x} before the endpoint map")));
        }
        let Some(entry) = self.endpoints[usize::from(ep)].as_mut() else {
            return Err(self.violation(format!("STARTEP 0x{ep:02x}: endpoint not in the map")));
        };
        if ep >= EP_GPU_FW && self.state != State::Running {
            return Err(self.violation(format!(
                "STARTEP 0x{ep:02x}: application endpoints need AP power ON first"
            )));
        }
        let first = !entry.started;
        entry.started = true;
        self.notes.push(format!("rtkit ep=0x{ep:02x} started"));
        let pages = match ep {
            EP_CRASHLOG => CRASHLOG_PAGES,
            EP_SYSLOG => SYSLOG_PAGES,
            EP_IOREPORT => IOREPORT_PAGES,
            _ => return Ok(Vec::new()),
        };
        if !first || entry.buffer.is_some() {
            return Ok(Vec::new());
        }
        entry.pending_request = Some(pages);
        Ok(vec![buffer_request(ep, pages)])
    }

    fn handle_system(&mut self, ep: u8, msg0: u64) -> Checked<Vec<Message>> {
        let ty = mgmt_type(msg0);
        if !self.started(ep) {
            return Err(self.violation(format!("message to system endpoint {ep} before STARTEP")));
        }
        if ty != BUFFER_REQUEST {
            return Err(self.violation(format!(
                "endpoint {ep} message type 0x{ty:x} (0x{msg0:016x}) answers nothing the \
                 firmware sent"
            )));
        }
        let addr = msg0 & ((1 << 44) - 1);
        let pages = (msg0 >> 44) & 0xff;
        let Some(entry) = self.endpoints[usize::from(ep)].as_mut() else {
            unreachable!("checked by handle()");
        };
        let Some(asked) = entry.pending_request else {
            return Err(self.violation(format!("endpoint {ep} buffer reply without a request")));
        };
        if addr == 0 {
            return Err(self.violation(format!("endpoint {ep} buffer reply with address 0")));
        }
        if pages < asked {
            return Err(self.violation(format!(
                "endpoint {ep} buffer reply grants 0x{pages:x} pages, 0x{asked:x} were asked"
            )));
        }
        entry.pending_request = None;
        entry.buffer = Some(HostBuffer {
            addr,
            size: pages << 12,
        });
        self.notes.push(format!(
            "rtkit ep=0x{ep:02x} buffer addr=0x{addr:x} size=0x{:x}",
            pages << 12
        ));
        if ep == EP_SYSLOG {
            let init = (u64::from(SYSLOG_INIT) << 52) | (SYSLOG_MSG_SIZE << 24) | SYSLOG_ENTRIES;
            return Ok(vec![Message::new(EP_SYSLOG, init)]);
        }
        Ok(Vec::new())
    }

    fn handle_app(&mut self, ep: u8, msg0: u64) -> Checked<Vec<Message>> {
        if !self.started(ep) {
            return Err(self.violation(format!(
                "message 0x{msg0:016x} to endpoint 0x{ep:02x} before STARTEP"
            )));
        }
        self.app_inbox.push((ep, msg0));
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(ty: u8, payload: u64) -> Message {
        mgmt(ty, payload)
    }

    /// Drives the Linux host side up to RTKit running; returns every firmware message.
    fn boot_like_linux(rt: &mut Rtkit) -> Vec<Message> {
        let mut seen = rt.boot();
        let hello = seen[0].msg0;
        let max = ((hello >> 16) & 0xffff) as u16;
        let v = u64::from(max.min(12));
        seen.extend(rt.handle(host(MGMT_HELLO_REPLY, v | (v << 16))).unwrap());
        loop {
            let last = *seen.last().unwrap();
            if mgmt_type(last.msg0) != MGMT_EPMAP || last.ep() != EP_MGMT {
                break;
            }
            let base = last.msg0 & (0x7 << 32);
            let reply = if last.msg0 & EPMAP_LAST != 0 {
                base | EPMAP_LAST
            } else {
                base | EPMAP_REPLY_MORE
            };
            seen.extend(rt.handle(host(MGMT_EPMAP, reply)).unwrap());
            if last.msg0 & EPMAP_LAST != 0 {
                break;
            }
        }
        seen
    }

    #[test]
    fn hello_offers_the_configured_range() {
        let mut rt = Rtkit::new(RtkitConfig::default());
        let m = rt.boot();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].ep(), EP_MGMT);
        assert_eq!(mgmt_type(m[0].msg0), MGMT_HELLO);
        assert_eq!(m[0].msg0 & 0xffff, 11);
        assert_eq!((m[0].msg0 >> 16) & 0xffff, 12);
        assert_eq!(rt.state(), State::HelloSent);
        assert!(rt.boot().is_empty(), "HELLO is sent once");
    }

    #[test]
    fn version_negotiation_and_rejection() {
        let mut rt = Rtkit::new(RtkitConfig::default());
        rt.boot();
        assert!(matches!(
            rt.handle(host(MGMT_HELLO_REPLY, 13 | (13 << 16))),
            Err(Violation::Rtkit(_))
        ));
        assert!(matches!(
            rt.handle(host(MGMT_HELLO_REPLY, 11 | (12 << 16))),
            Err(Violation::Rtkit(_))
        ));
        let r = rt.handle(host(MGMT_HELLO_REPLY, 12 | (12 << 16))).unwrap();
        assert_eq!(rt.version(), Some(12));
        assert_eq!(mgmt_type(r[0].msg0), MGMT_EPMAP);
    }

    #[test]
    fn epmap_pages_cover_system_and_gpu_endpoints() {
        let mut rt = Rtkit::new(RtkitConfig::default());
        rt.boot();
        let r = rt.handle(host(MGMT_HELLO_REPLY, 12 | (12 << 16))).unwrap();
        // Block 0: endpoints 0 and 1; not last.
        assert_eq!(r[0].msg0 & 0xffff_ffff, 0b11);
        assert_eq!((r[0].msg0 >> 32) & 7, 0);
        assert_eq!(r[0].msg0 & EPMAP_LAST, 0);
        // A reply without MORE is refused.
        assert!(rt.handle(host(MGMT_EPMAP, 0)).is_err());
        let r = rt.handle(host(MGMT_EPMAP, EPMAP_REPLY_MORE)).unwrap();
        // Block 1: endpoints 0x20 and 0x21; last.
        assert_eq!(r[0].msg0 & 0xffff_ffff, 0b11);
        assert_eq!((r[0].msg0 >> 32) & 7, 1);
        assert_ne!(r[0].msg0 & EPMAP_LAST, 0);
        // Wrong base is refused.
        assert!(rt.handle(host(MGMT_EPMAP, EPMAP_LAST)).is_err());
        let r = rt.handle(host(MGMT_EPMAP, (1 << 32) | EPMAP_LAST)).unwrap();
        assert_eq!(mgmt_type(r[0].msg0), MGMT_IOP_PWR_STATE_ACK);
        assert_eq!(r[0].msg0 & 0xffff, u64::from(PWR_ON));
        assert_eq!(rt.state(), State::IopOn);
        assert_eq!(rt.iop_power(), PWR_ON);
    }

    #[test]
    fn start_endpoints_power_and_crashlog_buffer() {
        let mut rt = Rtkit::new(RtkitConfig::default());
        boot_like_linux(&mut rt);
        // GPU endpoints cannot start before AP power ON.
        assert!(!rt.gpu_endpoints_startable());
        assert!(rt
            .handle(host(MGMT_STARTEP, (0x20 << 32) | STARTEP_FLAG))
            .is_err());
        // Crashlog start asks for the recorded buffer.
        let r = rt
            .handle(host(MGMT_STARTEP, (1 << 32) | STARTEP_FLAG))
            .unwrap();
        assert_eq!(r, vec![Message::new(EP_CRASHLOG, 0x0012_0000_0000_0000)]);
        assert!(rt.started(EP_CRASHLOG));
        // Endpoint 2 is not in the default map.
        assert!(rt
            .handle(host(MGMT_STARTEP, (2 << 32) | STARTEP_FLAG))
            .is_err());
        // The host grants its buffer (a firmware VA's low 44 bits, as the Asahi driver does).
        let reply = (1 << 52) | (0x20 << 44) | 0xfa0_0c38_8000;
        assert!(rt
            .handle(Message::new(EP_CRASHLOG, reply))
            .unwrap()
            .is_empty());
        assert_eq!(
            rt.buffer(EP_CRASHLOG),
            Some(HostBuffer {
                addr: 0xfa0_0c38_8000,
                size: 0x20000
            })
        );
        // AP power ON is acknowledged with the same type and state.
        let r = rt.handle(host(MGMT_SET_AP_PWR_STATE, 0x20)).unwrap();
        assert_eq!(r, vec![mgmt(MGMT_SET_AP_PWR_STATE, 0x20)]);
        assert_eq!(rt.state(), State::Running);
        assert!(rt.gpu_endpoints_startable());
        assert!(rt
            .handle(host(MGMT_STARTEP, (0x20 << 32) | STARTEP_FLAG))
            .unwrap()
            .is_empty());
        assert!(rt
            .handle(host(MGMT_STARTEP, (0x21 << 32) | STARTEP_FLAG))
            .unwrap()
            .is_empty());
        assert!(rt.started(EP_GPU_FW) && rt.started(EP_GPU_KICK));
        // IOP power request is acknowledged too.
        let r = rt.handle(host(MGMT_SET_IOP_PWR_STATE, 0x220)).unwrap();
        assert_eq!(r, vec![mgmt(MGMT_IOP_PWR_STATE_ACK, 0x220)]);
    }

    #[test]
    fn syslog_and_ioreport_buffers_use_host_buffers() {
        let cfg = RtkitConfig {
            system_endpoints: vec![EP_CRASHLOG, EP_SYSLOG, EP_IOREPORT],
            ..RtkitConfig::default()
        };
        let mut rt = Rtkit::new(cfg);
        let seen = boot_like_linux(&mut rt);
        // Block 0 bitmap: 0, 1, 2, 4.
        assert_eq!(seen[1].msg0 & 0xffff_ffff, 0b10111);
        for ep in [EP_CRASHLOG, EP_SYSLOG, EP_IOREPORT] {
            let r = rt
                .handle(host(MGMT_STARTEP, (u64::from(ep) << 32) | STARTEP_FLAG))
                .unwrap();
            assert_eq!(r.len(), 1);
            assert_eq!(mgmt_type(r[0].msg0), BUFFER_REQUEST);
            assert_eq!(r[0].msg0 & ((1 << 44) - 1), 0, "host allocates");
            let pages = (r[0].msg0 >> 44) & 0xff;
            let reply = (1 << 52) | (pages << 44) | (0x8_0000 * u64::from(ep));
            let r = rt.handle(Message::new(ep, reply)).unwrap();
            if ep == EP_SYSLOG {
                assert_eq!(r.len(), 1);
                assert_eq!(mgmt_type(r[0].msg0), SYSLOG_INIT);
                assert_eq!(r[0].msg0 & 0xff, SYSLOG_ENTRIES);
                assert_eq!((r[0].msg0 >> 24) & 0xff, SYSLOG_MSG_SIZE);
            } else {
                assert!(r.is_empty());
            }
            assert_eq!(rt.buffer(ep).unwrap().addr, 0x8_0000 * u64::from(ep));
        }
        // A second reply without a request, a zero address and a short grant are refused.
        assert!(rt
            .handle(Message::new(EP_IOREPORT, (1 << 52) | (4 << 44) | 0x1000))
            .is_err());
    }

    #[test]
    fn buffer_reply_checks() {
        let mut rt = Rtkit::new(RtkitConfig::default());
        boot_like_linux(&mut rt);
        // Before STARTEP the endpoint takes nothing.
        assert!(rt
            .handle(Message::new(EP_CRASHLOG, (1 << 52) | (0x20 << 44) | 0x4000))
            .is_err());
        rt.handle(host(MGMT_STARTEP, (1 << 32) | STARTEP_FLAG))
            .unwrap();
        assert!(rt
            .handle(Message::new(EP_CRASHLOG, (1 << 52) | (0x20 << 44)))
            .is_err());
        assert!(rt
            .handle(Message::new(EP_CRASHLOG, (1 << 52) | (0x1 << 44) | 0x4000))
            .is_err());
        assert!(rt
            .handle(Message::new(EP_CRASHLOG, (5 << 52) | 0x4000))
            .is_err());
    }

    #[test]
    fn protocol_order_rejections() {
        let mut rt = Rtkit::new(RtkitConfig::default());
        assert!(rt.handle(host(MGMT_HELLO_REPLY, 12 | (12 << 16))).is_err());
        rt.boot();
        assert!(rt.handle(host(MGMT_EPMAP, EPMAP_LAST)).is_err());
        assert!(rt.handle(host(MGMT_SET_AP_PWR_STATE, 0x20)).is_err());
        assert!(rt.handle(host(MGMT_STARTEP, (1 << 32) | 2)).is_err());
        assert!(rt.handle(Message::new(0x30, 0)).is_err());
        assert!(rt.handle(host(0x3f, 0)).is_err());
        assert!(rt.handle(host(MGMT_SET_IOP_PWR_STATE, 0x1234)).is_err());
        let mut m = host(MGMT_HELLO_REPLY, 12 | (12 << 16));
        m.msg1 |= 0x100;
        assert!(rt.handle(m).is_err());
        // m1n1's early wake request before HELLO_REPLY is accepted.
        let r = rt.handle(host(MGMT_SET_IOP_PWR_STATE, 0x220)).unwrap();
        assert_eq!(mgmt_type(r[0].msg0), MGMT_IOP_PWR_STATE_ACK);
        assert_eq!(rt.state(), State::HelloSent);
    }

    #[test]
    fn gpu_endpoint_message_before_start_is_refused() {
        let mut rt = Rtkit::new(RtkitConfig::default());
        boot_like_linux(&mut rt);
        rt.handle(host(MGMT_SET_AP_PWR_STATE, 0x20)).unwrap();
        assert!(rt
            .handle(Message::new(EP_GPU_KICK, 0x83 << 48 | 0x10))
            .is_err());
        rt.handle(host(MGMT_STARTEP, (0x21 << 32) | STARTEP_FLAG))
            .unwrap();
        assert!(rt
            .handle(Message::new(EP_GPU_KICK, 0x83 << 48 | 0x10))
            .unwrap()
            .is_empty());
    }
}
