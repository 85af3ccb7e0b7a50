// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The statistics ring: power and utilisation reports from the firmware.
//!
//! The firmware posts a `StatsMsg` on power transitions and, when enabled, periodically
//! (asahi-driver-facts §5.3; agx-firmware-behaviour.md §5: power-on after INIT, a stats ring
//! left full makes the firmware complain). Nothing acts on them yet, so each is consumed and
//! logged at debug level with its tag; the ring is drained on every host doorbell, like the
//! event ring and the log, so it never fills. Entry sizes differ between firmware versions
//! (0x30 before 13.0b4, 0x40 after), so the decoder is chosen once per ABI.

use kernel::{
    device::Device,
    prelude::*,
    transmute::AsBytes, //
};

use crate::{
    fw::abi::{
        self,
        StatsMsgFields, //
    },
    uat::heap::HeapBacking,
};

use super::{
    Rx,
    RING_ENTRIES, //
};

/// Most entries handled per drain.
const DRAIN_LIMIT: usize = RING_ENTRIES as usize;

type DrainFn<B> = fn(&mut StatsChannel<B>, &Device) -> Result<usize>;

/// The driver's end of the statistics ring.
pub(crate) struct StatsChannel<B: HeapBacking> {
    /// The ring.
    pub(crate) ring: Rx<B>,
    drain: DrainFn<B>,
}

impl<B: HeapBacking> StatsChannel<B> {
    /// The statistics ring of ABI `A`.
    pub(crate) fn new<A: abi::FwAbi>(ring: Rx<B>) -> Self {
        Self {
            ring,
            drain: drain_abi::<A, B>,
        }
    }

    /// Consumes every new report; returns how many.
    ///
    /// # Errors
    ///
    /// [`EIO`] for a torn ring index (the rest is left for the next drain).
    pub(crate) fn drain(&mut self, dev: &Device) -> Result<usize> {
        (self.drain)(self, dev)
    }
}

fn drain_abi<A: abi::FwAbi, B: HeapBacking>(
    stats: &mut StatsChannel<B>,
    dev: &Device,
) -> Result<usize> {
    let mut n = 0;
    for _ in 0..DRAIN_LIMIT {
        let mut msg: A::StatsMsg = pin_init::zeroed();
        if !stats.ring.pop(msg.as_bytes_mut())? {
            break;
        }
        let tag = msg.tag();
        let name = match tag {
            t if t == A::STATS_TAG_POWER_ON => "power on",
            t if t == A::STATS_TAG_POWER_OFF => "power off",
            t if t == A::STATS_TAG_POWER_STATE => "power state",
            t if t == A::STATS_TAG_UTILIZATION => "utilisation",
            _ => "other",
        };
        dev_dbg!(dev, "firmware stats: {} (tag {:#x})\n", name, tag);
        n += 1;
    }
    Ok(n)
}
