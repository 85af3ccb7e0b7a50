// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The GPU firmware proper: endpoint 0x20/0x21 messages, INIT, and the channels it serves.
//!
//! Mailbox messages are only latched ([`GpuFirmware::mailbox`], called under the device lock
//! while the host's MMIO write completes); the work they ask for runs later in
//! [`GpuFirmware::run`], which the backend calls from its own event (a work eventfd in the
//! vhost-user loop), as the real coprocessor works asynchronously to the host. Doorbells are
//! latched as "rescan" rather than counted: every run rescans the rings from their pointers,
//! so a doorbell that arrives while INIT is still being processed, or two doorbells coalesced
//! into one run, lose nothing (agx-firmware-behaviour.md §4.2).
//!
//! One [`Firmware`] per variant, chosen once at startup ([`new`]); the code is generic over
//! the variant and written once.
//!
//! Injected faults that live in the firmware ([`crate::fault`]): `never-ready` initialises the
//! channels at INIT but never reads DevCtrl; `initdata-rejected` panics at INIT (through
//! [`FwBus::fw_crash`], RTKit's crash report) without reading InitData; the device posts the
//! `unknown-event-slot` Flag through [`GpuFirmware::post_event_flag`]; `fwctl-stalls` leaves
//! every FwCtl (cache flush) message unconsumed, so the driver's flush times out.

use std::marker::PhantomData;

use super::channels::{Channel, Kind, CHANNELS};
use super::devctrl;
use super::event;
use super::fwctl;
use super::fwlog::{self, Line};
use super::generated::abi;
use super::gpumem::FwBus;
use super::initdata;
use super::model_abi::ModelAbi;
use super::stats;
use crate::fault::{Fault, INITDATA_PANIC_REASON, PANIC_TASK};
use crate::rtkit::{EP_GPU_FW, EP_GPU_KICK};
use crate::strict::Checked;

/// EP 0x20 host to firmware: INIT, bits 43:0 = InitData VA.
pub const MSG_INIT: u64 = 0x81;
/// EP 0x21: TX doorbell, bits 15:0 = channel id.
pub const MSG_TX_DOORBELL: u64 = 0x83;
/// EP 0x21: FwCtl doorbell.
pub const MSG_FWCTL_DOORBELL: u64 = 0x84;
/// EP 0x20 firmware to host: RX rings have new entries.
pub const MSG_RX_DOORBELL: u64 = 0x42;
/// TX doorbell id: kick (rescan everything).
pub const DOORBELL_KICK: u64 = 0x10;
/// TX doorbell id: device control.
pub const DOORBELL_DEVCTRL: u64 = 0x11;
/// Bits of the INIT message carrying the VA.
pub const INIT_VA_MASK: u64 = (1 << 44) - 1;
/// What the firmware ORs into the 44-bit VA to reach the upper half.
pub const UPPER_HALF_EXTEND: u64 = 0xffff_f000_0000_0000;
/// The text of the firmware's first log line.
pub const READY_LOG_LINE: &str = "GPU firmware initialised";

/// A panic line as the GPU firmware words it: `GFX PANIC - <reason> - <task>(<n>)`
/// (agx-firmware-behaviour.md §3.4).
pub fn gfx_panic(reason: &str, (task, n): (&str, u32)) -> String {
    format!("GFX PANIC - {reason} - {task}({n})")
}

/// The firmware, independent of the variant.
pub trait GpuFirmware: Send + std::fmt::Debug {
    /// Latches a host message on endpoint `ep`; returns trace lines.
    fn mailbox(&mut self, ep: u8, msg0: u64) -> Vec<String>;
    /// Whether latched work waits for [`GpuFirmware::run`].
    fn has_work(&self) -> bool;
    /// Does the latched work: INIT, then a rescan of the rings.
    fn run(&mut self, bus: &mut dyn FwBus) -> Checked<()>;
    /// The firmware hit a violation: it panics and serves nothing more.
    fn panic(&mut self);
    /// Whether `Initialize` has been consumed.
    fn ready(&self) -> bool;
    /// Posts an Event `Flag` with `firing` and rings `0x42`, if the channels are initialised
    /// and the firmware alive; returns whether it posted.
    fn post_event_flag(&mut self, bus: &mut dyn FwBus, firing: [u32; 4]) -> Checked<bool>;
}

/// The firmware the variant named `variant` runs, for a SoC with a UAT output size of `oas`,
/// with the injected `fault` (those that are not the firmware's are ignored here).
pub fn new(variant: &str, oas: u32, fault: Option<Fault>) -> Box<dyn GpuFirmware> {
    match variant {
        "g13_v12_3" => Box::new(Firmware::<abi::G13V12_3>::new(oas).inject(fault)),
        "g14_v12_4" => Box::new(Firmware::<abi::G14V12_4>::new(oas).inject(fault)),
        "g13_v13_5" => Box::new(Firmware::<abi::G13V13_5>::new(oas).inject(fault)),
        "g14_v13_5" => Box::new(Firmware::<abi::G14V13_5>::new(oas).inject(fault)),
        "g14x_v13_5" => Box::new(Firmware::<abi::G14XV13_5>::new(oas).inject(fault)),
        v => unreachable!("variant {v} is selected from fw::VARIANTS"),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for INIT.
    Boot,
    /// INIT accepted: channels initialised.
    Running,
    /// Panicked.
    Dead,
}

/// The firmware of variant `A`.
#[derive(Debug)]
pub struct Firmware<A> {
    oas: u32,
    stage: Stage,
    pending_init: Option<u64>,
    rescan: bool,
    channels: Vec<Channel>,
    fwlog_buf: u64,
    fields: usize,
    pointers: usize,
    initialized: bool,
    seq: u32,
    fault: Option<Fault>,
    /// Under `fwctl-stalls`: the FwCtl index already reported as left unconsumed.
    stalled_at: Option<u32>,
    _abi: PhantomData<fn() -> A>,
}

impl<A: ModelAbi> Firmware<A> {
    /// Before INIT.
    pub fn new(oas: u32) -> Self {
        Firmware {
            oas,
            stage: Stage::Boot,
            pending_init: None,
            rescan: false,
            channels: Vec::new(),
            fwlog_buf: 0,
            fields: 0,
            pointers: 0,
            initialized: false,
            seq: 0,
            fault: None,
            stalled_at: None,
            _abi: PhantomData,
        }
    }

    /// The same firmware with `fault` injected.
    pub fn inject(mut self, fault: Option<Fault>) -> Self {
        self.fault = fault;
        self
    }

    fn channel(&self, kind: Kind) -> usize {
        self.channels
            .iter()
            .position(|c| c.kind == kind)
            .expect("INIT initialised every channel")
    }

    fn init(&mut self, bus: &mut dyn FwBus, va: u64) -> Checked<()> {
        let tree = initdata::check::<A>(bus, va, self.oas)?;
        let mut channels = Vec::with_capacity(CHANNELS);
        for d in &tree.channels {
            channels.push(Channel::initialise::<A>(bus, d)?);
        }
        self.channels = channels;
        self.fwlog_buf = tree.fwlog_buf;
        self.fields = tree.fields;
        self.pointers = tree.pointers;
        self.stage = Stage::Running;
        Ok(())
    }

    fn serve_devctrl(&mut self, bus: &mut dyn FwBus) -> Checked<()> {
        let dc = self.channel(Kind::DevCtrl);
        while let Some(m) = devctrl::next::<A>(bus, &self.channels[dc], self.initialized)? {
            let first = m.tag == A::DEVICE_CONTROL_TAG_INITIALIZE && !self.initialized;
            if first {
                self.initialized = true;
                // The power-on report goes out with the first log line's doorbell.
                let st = self.channel(Kind::Stats);
                let off = bus.fw_now_us() * 24;
                stats::post_power_on::<A>(bus, &mut self.channels[st], off)?;
                self.log(bus, A::FW_LOG_LEVEL_INFO, READY_LOG_LINE)?;
            }
            devctrl::retire(bus, &mut self.channels[dc], m)?;
            if first {
                bus.fw_trace(format!(
                    "fw ready: {} channels, initdata checked: {} fields, {} pointers",
                    self.channels.len(),
                    self.fields,
                    self.pointers
                ));
            }
        }
        Ok(())
    }

    /// Serves every queued cache flush (or, under `fwctl-stalls`, reports the first one it
    /// leaves unconsumed).
    fn serve_fwctl(&mut self, bus: &mut dyn FwBus) -> Checked<()> {
        let fc = self.channel(Kind::FwCtl);
        if self.fault == Some(Fault::FwCtlStalls) {
            let ch = &self.channels[fc];
            let at = ch.pos[0];
            if ch.host_ptr(bus, 0)? != at && self.stalled_at != Some(at) {
                self.stalled_at = Some(at);
                bus.fw_trace(format!(
                    "fault fwctl-stalls: FwCtl message at index {at} left unconsumed"
                ));
            }
            return Ok(());
        }
        while fwctl::serve_one::<A>(bus, &mut self.channels[fc])?.is_some() {}
        Ok(())
    }

    /// Posts a log line at `level` and tells the host.
    fn log(&mut self, bus: &mut dyn FwBus, level: u32, text: &str) -> Checked<()> {
        let fl = self.channel(Kind::FwLog);
        let line = Line {
            sub: level,
            seq: self.seq,
            timestamp: bus.fw_now_us() * 24,
            text,
        };
        if fwlog::post::<A>(bus, &mut self.channels[fl], self.fwlog_buf, line)? {
            self.seq = self.seq.wrapping_add(1);
            bus.fw_send(EP_GPU_FW, MSG_RX_DOORBELL << 48);
        }
        Ok(())
    }
}

impl<A: ModelAbi> GpuFirmware for Firmware<A> {
    fn mailbox(&mut self, ep: u8, msg0: u64) -> Vec<String> {
        let ty = msg0 >> 48;
        let low = msg0 & INIT_VA_MASK;
        let note = match (ep, ty) {
            (EP_GPU_FW, MSG_INIT) if self.stage == Stage::Boot && self.pending_init.is_none() => {
                let va = if low == 0 { 0 } else { low | UPPER_HALF_EXTEND };
                self.pending_init = Some(va);
                format!("fw init va=0x{va:x} latched")
            }
            (EP_GPU_KICK, MSG_TX_DOORBELL) if msg0 & 0xffff <= DOORBELL_DEVCTRL => {
                self.rescan = true;
                format!("fw doorbell 0x{:x} latched", msg0 & 0xffff)
            }
            (EP_GPU_KICK, MSG_FWCTL_DOORBELL) => {
                self.rescan = true;
                "fw doorbell fwctl latched".into()
            }
            // Real firmware ignores unknown kicks and INIT after INIT (§5.6).
            _ => format!("fw ignored ep=0x{ep:02x} msg0=0x{msg0:016x}"),
        };
        vec![note]
    }

    fn has_work(&self) -> bool {
        self.stage != Stage::Dead
            && (self.pending_init.is_some() || (self.rescan && self.stage == Stage::Running))
    }

    fn run(&mut self, bus: &mut dyn FwBus) -> Checked<()> {
        if self.stage == Stage::Dead {
            return Ok(());
        }
        if let Some(va) = self.pending_init.take() {
            if self.fault == Some(Fault::InitDataRejected) {
                bus.fw_trace(format!(
                    "fault initdata-rejected: INIT va=0x{va:x} refused, firmware panics"
                ));
                self.stage = Stage::Dead;
                return bus.fw_crash(&gfx_panic(INITDATA_PANIC_REASON, PANIC_TASK));
            }
            self.init(bus, va)?;
            if self.fault == Some(Fault::NeverReady) {
                bus.fw_trace(
                    "fault never-ready: channels initialised, DevCtrl is never read".into(),
                );
            }
        }
        if self.stage == Stage::Running && std::mem::take(&mut self.rescan) {
            if self.fault == Some(Fault::NeverReady) {
                let dc = self.channel(Kind::DevCtrl);
                bus.fw_trace(format!(
                    "fault never-ready: doorbell ignored, DevCtrl read_ptr stays {}",
                    self.channels[dc].pos[0]
                ));
                return Ok(());
            }
            self.serve_devctrl(bus)?;
            if self.initialized {
                self.serve_fwctl(bus)?;
            }
        }
        Ok(())
    }

    fn panic(&mut self) {
        self.stage = Stage::Dead;
    }

    fn ready(&self) -> bool {
        self.initialized
    }

    fn post_event_flag(&mut self, bus: &mut dyn FwBus, firing: [u32; 4]) -> Checked<bool> {
        if self.stage != Stage::Running {
            bus.fw_trace("fw event Flag not posted: firmware not running".into());
            return Ok(false);
        }
        let ev = self.channel(Kind::Event);
        if event::post_flag::<A>(bus, &mut self.channels[ev], firing)? {
            bus.fw_send(EP_GPU_FW, MSG_RX_DOORBELL << 48);
            return Ok(true);
        }
        Ok(false)
    }
}
