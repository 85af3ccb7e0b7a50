// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Failures injected on request (`--fault`), so the kernel's error paths can be tested against
//! a firmware that misbehaves the way the real one can.
//!
//! Some act at reset or CPU start (the device), some at INIT (the GPU firmware,
//! [`crate::fw::firmware`]), and some some time after the firmware became ready: those are
//! [`Timed`] actions the device schedules when DevCtrl `Initialize` has been consumed and the
//! backend runs from its own timer (a timerfd in the vhost-user loop,
//! [`crate::vhu_agx::TIMER_EVENT`]), never inside the host's MMIO access, as the real firmware
//! acts on its own clock. An injected fault is never a violation: the model's exit status
//! stays 0 unless the driver also breaks a rule.

use std::time::Duration;

use crate::fw::firmware::gfx_panic;

/// A failure mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The firmware never runs: no HELLO, host messages are never consumed.
    NeverAnswer,
    /// HELLO offers RTKit versions 13..=14, which Linux (11..=12) rejects as too new.
    BadRtkitVersion,
    /// The coprocessor already runs when the kernel looks (an earlier driver instance
    /// started it since the last reset): `CPU_CONTROL.RUN` reads as set from the start.
    AlreadyRunning,
    /// RTKit boots and INIT is accepted (InitData checked, channels initialised), but the
    /// firmware never reads DevCtrl: `read_ptr` never reaches `Initialize`.
    NeverReady,
    /// At INIT the firmware panics as on unusable InitData: crash log
    /// [`INITDATA_PANIC`] in the crash-log buffer, crash message on endpoint 1; then it
    /// ignores every message.
    InitDataRejected,
    /// Normal boot, then [`CRASH_DELAY`] after consuming `Initialize` the firmware panics
    /// with [`INJECTED_PANIC`].
    CrashAfterReady,
    /// Normal boot, then [`EVENT_DELAY`] after consuming `Initialize` the firmware posts an
    /// Event `Flag` for slot [`STRAY_EVENT_SLOT`] (which no driver has handed out) and rings
    /// `0x42`.
    UnknownEventSlot,
    /// Normal boot, but the firmware never consumes a FwCtl (cache flush) message: the
    /// flush slot stays requested and the ring's `read_ptr` never moves.
    FwCtlStalls,
}

/// Reason of the InitData panic the real firmware prints (docs agx.md, via
/// agx-firmware-behaviour.md §3.4).
pub const INITDATA_PANIC_REASON: &str = "Unable to grab init data from host";
/// The panic text of [`Fault::InitDataRejected`].
pub const INITDATA_PANIC: &str =
    "GFX PANIC - Unable to grab init data from host - agx_background(2)";
/// The panic text of [`Fault::CrashAfterReady`].
pub const INJECTED_PANIC: &str = "GFX PANIC - Injected fault - agx_background(2)";
/// The firmware task that panics (a task name the real firmware's crash logs show).
pub const PANIC_TASK: (&str, u32) = ("agx_background", 2);
/// Delay of the [`Fault::CrashAfterReady`] crash after `Initialize` was consumed.
pub const CRASH_DELAY: Duration = Duration::from_millis(300);
/// Delay of the [`Fault::UnknownEventSlot`] event after `Initialize` was consumed.
pub const EVENT_DELAY: Duration = Duration::from_millis(100);
/// The event slot [`Fault::UnknownEventSlot`] signals.
pub const STRAY_EVENT_SLOT: u32 = 5;

/// Something the firmware does on its own, later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timed {
    /// Panic with this text: crash log and endpoint-1 message.
    Crash(String),
    /// Post an Event `Flag` with only this slot's bit set, then `0x42`.
    EventFlag {
        /// Event slot (0..128).
        slot: u32,
    },
}

impl Fault {
    /// Every fault, in command-line order.
    pub const ALL: [Fault; 8] = [
        Fault::NeverAnswer,
        Fault::BadRtkitVersion,
        Fault::AlreadyRunning,
        Fault::NeverReady,
        Fault::InitDataRejected,
        Fault::CrashAfterReady,
        Fault::UnknownEventSlot,
        Fault::FwCtlStalls,
    ];

    /// Command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            Fault::NeverAnswer => "never-answer",
            Fault::BadRtkitVersion => "bad-rtkit-version",
            Fault::AlreadyRunning => "already-running",
            Fault::NeverReady => "never-ready",
            Fault::InitDataRejected => "initdata-rejected",
            Fault::CrashAfterReady => "crash-after-ready",
            Fault::UnknownEventSlot => "unknown-event-slot",
            Fault::FwCtlStalls => "fwctl-stalls",
        }
    }

    /// What the firmware does, and after how long, once it has consumed `Initialize`.
    pub fn after_ready(self) -> Option<(Duration, Timed)> {
        match self {
            Fault::CrashAfterReady => Some((
                CRASH_DELAY,
                Timed::Crash(gfx_panic("Injected fault", PANIC_TASK)),
            )),
            Fault::UnknownEventSlot => Some((
                EVENT_DELAY,
                Timed::EventFlag {
                    slot: STRAY_EVENT_SLOT,
                },
            )),
            _ => None,
        }
    }
}

/// The Event `Flag` bitmap (four u32 over 128 slots, slot n = word n / 32, bit n % 32) with
/// only `slot` set (facts §3.3 EventMsg; the driver's `EventManager::signalled` reads it so).
pub fn firing(slot: u32) -> [u32; 4] {
    let mut f = [0u32; 4];
    f[(slot / 32) as usize % 4] = 1 << (slot % 32);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_timed_faults_say_when() {
        let mut names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Fault::ALL.len());
        assert_eq!(
            Fault::CrashAfterReady.after_ready(),
            Some((
                Duration::from_millis(300),
                Timed::Crash(INJECTED_PANIC.into())
            ))
        );
        assert_eq!(
            Fault::UnknownEventSlot.after_ready(),
            Some((Duration::from_millis(100), Timed::EventFlag { slot: 5 }))
        );
        assert_eq!(Fault::NeverReady.after_ready(), None);
        assert_eq!(gfx_panic(INITDATA_PANIC_REASON, PANIC_TASK), INITDATA_PANIC);
    }

    #[test]
    fn the_firing_bitmap_has_only_the_slot_bit() {
        assert_eq!(firing(5), [0x20, 0, 0, 0]);
        assert_eq!(firing(32), [0, 1, 0, 0]);
        assert_eq!(firing(127), [0, 0, 0, 0x8000_0000]);
    }
}
