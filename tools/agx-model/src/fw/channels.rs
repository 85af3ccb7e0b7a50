// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The firmware's channels: the 17 ring descriptors of RuntimePointers plus FwCtl in FwStatus,
//! their entry counts and state layouts (facts §5.1), and the pointer protocol (§5.2).
//!
//! At INIT the firmware "initialises" every channel: it checks the descriptor's pointers like
//! any other InitData pointer, reads each state block, refuses indices outside the ring, and
//! from then on keeps its own position (TX: where it reads, RX: where it writes), publishing
//! it after each step. It re-reads the host's pointer on every scan instead of counting
//! doorbells, so a coalesced or early doorbell loses nothing.

use std::mem::{align_of, size_of};

use super::generated::abi::{ChannelStateFields, FwAbi, FwCtlChannelStateFields};
use super::generated::common::PtrField;
use super::gpumem::{self, FwBus, Target};
use super::model_abi::{field_offset, ModelAbi};
use super::violation::ChannelViolation;
use crate::strict::{Checked, Violation};

/// Entries of every ring but KTrace (and of each FW-log sub-ring).
pub const ENTRIES: u32 = 0x100;
/// Entries of the KTrace ring.
pub const KTRACE_ENTRIES: u32 = 0x200;
/// FW-log sub-rings (debug .. crit).
pub const FWLOG_SUBRINGS: u32 = 6;
/// Channels a complete InitData describes: 12 pipes, DevCtrl, Event, FWLog, KTrace, Stats,
/// FwCtl.
pub const CHANNELS: usize = 18;

/// What a channel carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A work-queue pipe (driver to firmware).
    Pipe,
    /// Device control (driver to firmware).
    DevCtrl,
    /// Events (firmware to driver).
    Event,
    /// Firmware log, six sub-rings (firmware to driver).
    FwLog,
    /// Kernel trace (firmware to driver).
    KTrace,
    /// Statistics (firmware to driver).
    Stats,
    /// Firmware control (driver to firmware).
    FwCtl,
}

impl Kind {
    /// Whether the driver produces (firmware owns `read_ptr`).
    pub fn to_firmware(self) -> bool {
        matches!(self, Kind::Pipe | Kind::DevCtrl | Kind::FwCtl)
    }

    fn entries(self) -> u32 {
        if self == Kind::KTrace {
            KTRACE_ENTRIES
        } else {
            ENTRIES
        }
    }

    fn subrings(self) -> u32 {
        if self == Kind::FwLog {
            FWLOG_SUBRINGS
        } else {
            1
        }
    }

    /// (size, alignment) of one ring entry.
    fn msg<A: FwAbi>(self) -> (u64, u64) {
        fn of<T>() -> (u64, u64) {
            (size_of::<T>() as u64, align_of::<T>() as u64)
        }
        match self {
            Kind::Pipe => of::<A::RunWorkQueueMsg>(),
            Kind::DevCtrl => of::<A::DeviceControlMsg>(),
            Kind::Event => of::<A::EventMsg>(),
            Kind::FwLog => of::<A::RawFwLogMsg>(),
            Kind::KTrace => of::<A::RawKTraceMsg>(),
            Kind::Stats => of::<A::StatsMsg>(),
            Kind::FwCtl => of::<A::FwCtlMsg>(),
        }
    }

    /// (state block size, alignment, stride between sub-ring states, read_ptr offset,
    /// write_ptr offset).
    fn state<A: FwAbi>(self) -> (u64, u64, u64, u64, u64) {
        type Cs<A> = <A as FwAbi>::ChannelState;
        type Fc<A> = <A as FwAbi>::FwCtlChannelState;
        let cs = size_of::<Cs<A>>() as u64;
        let cs_r = field_offset::<Cs<A>>(|s| *s.read_ptr_mut() = !0) as u64;
        let cs_w = field_offset::<Cs<A>>(|s| *s.write_ptr_mut() = !0) as u64;
        match self {
            Kind::FwCtl => (
                size_of::<Fc<A>>() as u64,
                align_of::<Fc<A>>() as u64,
                0,
                field_offset::<Fc<A>>(|s| *s.read_ptr_mut() = !0) as u64,
                field_offset::<Fc<A>>(|s| *s.write_ptr_mut() = !0) as u64,
            ),
            Kind::FwLog => (
                size_of::<A::FwLogChannelState>() as u64,
                align_of::<A::FwLogChannelState>() as u64,
                cs,
                cs_r,
                cs_w,
            ),
            _ => (cs, align_of::<Cs<A>>() as u64, cs, cs_r, cs_w),
        }
    }
}

/// A ring descriptor as InitData gives it.
#[derive(Clone, Debug)]
pub struct Desc {
    /// Channel name (m1n1's: `TA_0`, `3D_0`, `CL_0`, ..., `DevCtrl`, `FWCtl`).
    pub name: String,
    /// Field path of the descriptor, e.g. `runtime_pointers.pipes[0].vtx`.
    pub field: String,
    /// What it carries.
    pub kind: Kind,
    /// State block VA.
    pub state: u64,
    /// Ring VA.
    pub ring: u64,
    /// The descriptor struct's pointer table (classes of `state` and `ring`).
    pub ptrs: &'static [PtrField],
}

impl Desc {
    /// Checks the descriptor's pointers; returns how many were checked.
    pub fn check<A: ModelAbi>(&self, bus: &mut dyn FwBus) -> Checked<usize> {
        let (msg, msg_align) = self.kind.msg::<A>();
        let (state_size, state_align, ..) = self.kind.state::<A>();
        let ring_size = msg * u64::from(self.kind.entries() * self.kind.subrings());
        let mut n = 0;
        for p in self.ptrs {
            let (va, size, align) = match p.name {
                "state" => (self.state, state_size, state_align),
                "ring" => (self.ring, ring_size, msg_align),
                _ => continue,
            };
            let field = format!("{}.{}", self.field, p.name);
            gpumem::check_target(
                bus,
                Target {
                    field: &field,
                    va,
                    size,
                    align,
                    class: p.class,
                },
            )?;
            n += 1;
        }
        Ok(n)
    }
}

/// An initialised channel and the firmware's own positions in it.
#[derive(Clone, Debug)]
pub struct Channel {
    /// Channel name.
    pub name: String,
    /// What it carries.
    pub kind: Kind,
    /// State block VA.
    pub state: u64,
    /// Ring VA.
    pub ring: u64,
    /// Entries per (sub-)ring.
    pub entries: u32,
    /// Bytes per entry.
    pub msg_size: u64,
    stride: u64,
    read_off: u64,
    write_off: u64,
    /// The firmware-owned index per sub-ring: TX the next entry to read, RX the next to write.
    pub pos: Vec<u32>,
}

impl Channel {
    /// Initialises the channel from its (checked) descriptor: reads every sub-ring's
    /// pointers, refuses out-of-range ones and traces
    /// `fw channel <name> state=0x.. ring=0x.. entries=N initialised`.
    pub fn initialise<A: FwAbi>(bus: &mut dyn FwBus, d: &Desc) -> Checked<Channel> {
        let (msg_size, _) = d.kind.msg::<A>();
        let (_, _, stride, read_off, write_off) = d.kind.state::<A>();
        let mut ch = Channel {
            name: d.name.clone(),
            kind: d.kind,
            state: d.state,
            ring: d.ring,
            entries: d.kind.entries(),
            msg_size,
            stride,
            read_off,
            write_off,
            pos: Vec::new(),
        };
        for sub in 0..d.kind.subrings() {
            let r = ch.load(bus, sub, false)?;
            let w = ch.load(bus, sub, true)?;
            ch.pos.push(if d.kind.to_firmware() { r } else { w });
        }
        bus.fw_trace(format!(
            "fw channel {} state=0x{:x} ring=0x{:x} entries={} initialised",
            ch.name,
            ch.state,
            ch.ring,
            ch.entries * d.kind.subrings()
        ));
        Ok(ch)
    }

    fn sub_name(&self, sub: u32) -> String {
        if self.pos.len() > 1 || self.kind == Kind::FwLog {
            format!("{}[{sub}]", self.name)
        } else {
            self.name.clone()
        }
    }

    fn ptr_va(&self, sub: u32, write_ptr: bool) -> u64 {
        let off = if write_ptr {
            self.write_off
        } else {
            self.read_off
        };
        self.state + u64::from(sub) * self.stride + off
    }

    /// Reads `read_ptr` or `write_ptr` of sub-ring `sub`, refusing an out-of-range value.
    fn load(&self, bus: &mut dyn FwBus, sub: u32, write_ptr: bool) -> Checked<u32> {
        let which = if write_ptr { "write_ptr" } else { "read_ptr" };
        let what = format!("{} {which}", self.sub_name(sub));
        let v = gpumem::read_u32(bus, self.ptr_va(sub, write_ptr), &what)?;
        if v >= self.entries {
            return Err(Violation::Channel(ChannelViolation::PointerOutOfRange {
                channel: self.sub_name(sub),
                which,
                value: v,
                entries: self.entries,
            }));
        }
        Ok(v)
    }

    /// The host's pointer of sub-ring `sub` now: TX its `write_ptr`, RX its `read_ptr`.
    pub fn host_ptr(&self, bus: &mut dyn FwBus, sub: u32) -> Checked<u32> {
        self.load(bus, sub, self.kind.to_firmware())
    }

    /// Publishes the firmware's position of sub-ring `sub` (TX `read_ptr`, RX `write_ptr`).
    pub fn publish(&mut self, bus: &mut dyn FwBus, sub: u32, v: u32) -> Checked<()> {
        let write_ptr = !self.kind.to_firmware();
        self.pos[sub as usize] = v;
        let what = format!("{} publish", self.sub_name(sub));
        gpumem::write_u32(bus, self.ptr_va(sub, write_ptr), v, &what)
    }

    /// VA of entry `idx` of sub-ring `sub`.
    pub fn entry_va(&self, sub: u32, idx: u32) -> u64 {
        self.ring + u64::from(sub * self.entries + idx) * self.msg_size
    }

    /// Firmware-produced rings: writes `entry` (`what`, for a fault) at the firmware's
    /// position and publishes it. Returns the entry's index, or `None` when the ring is full
    /// (the host's read index is one past ours), in which case nothing is written.
    pub fn post(&mut self, bus: &mut dyn FwBus, entry: &[u8], what: &str) -> Checked<Option<u32>> {
        let index = self.pos[0];
        let next = (index + 1) % self.entries;
        if self.host_ptr(bus, 0)? == next {
            return Ok(None);
        }
        gpumem::write(bus, self.entry_va(0, index), entry, what)?;
        self.publish(bus, 0, next)?;
        Ok(Some(index))
    }
}
