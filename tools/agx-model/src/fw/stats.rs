// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The statistics ring as the firmware fills it.
//!
//! The real firmware reports power transitions as `StatsMsg`s (agx-firmware-behaviour.md §5;
//! asahi-driver-facts §5.3): the first is a PowerOn once it has initialised, with the time
//! the GPU spent off in 24 MHz ticks. The model posts that one, so a driver that never
//! drains the ring is seen (its read index stays behind).

use zerocopy::{FromZeros, IntoBytes};

use super::channels::Channel;
use super::generated::abi::{FwAbi, StatsPowerOnFields};
use super::generated::common::U64;
use super::gpumem::FwBus;
use crate::strict::Checked;

/// Posts a PowerOn report with `off_ticks`, without ringing the host (the caller does, once
/// for everything it posted). Returns `false` when the ring is full (the report is dropped,
/// as the firmware drops it).
pub fn post_power_on<A: FwAbi>(
    bus: &mut dyn FwBus,
    ch: &mut Channel,
    off_ticks: u64,
) -> Checked<bool> {
    let mut m = A::StatsPowerOn::new_zeroed();
    m.set_tag(A::STATS_TAG_POWER_ON);
    *m.off_time_mut() = U64::new(off_ticks);
    let Some(index) = ch.post(bus, m.as_bytes(), "Stats entry")? else {
        bus.fw_trace("fw stats ring full, PowerOn dropped".into());
        return Ok(false);
    };
    bus.fw_trace(format!(
        "fw stats index={index} tag=PowerOn off_time={off_ticks}"
    ));
    Ok(true)
}
