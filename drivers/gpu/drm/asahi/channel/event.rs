// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The event ring: completions, faults, timeouts and TVB requests from the firmware.
//!
//! Entries are 0x38 bytes on every ABI: a u32 tag, then the tag's payload
//! (asahi-driver-facts §3.3). A `Flag` names the event slots whose stamps moved and is
//! handed to the [`EventManager`]. A Flag for a slot nobody holds is reported and otherwise
//! ignored, as the firmware may repeat a bit or fire one late. Faults, timeouts, channel
//! errors and TVB growth are logged with their fields. Acting on them (failing jobs,
//! recovery, growing the buffer) needs work in flight, which job submission brings.
//! Unknown tags are logged and skipped, never followed. Like the firmware log, the ring is
//! drained on every host doorbell, with a decoder chosen once per ABI.

use kernel::{
    device::Device,
    prelude::*,
    sync::Arc,
    transmute::AsBytes, //
};

use crate::{
    event::EventManager,
    fw::abi::{
        self,
        EventChannelErrorFields,
        EventFlagFields,
        EventGrowTvbFields,
        EventMsgFields,
        EventTimeoutFields, //
    },
    uat::heap::HeapBacking,
};

use super::{
    Rx,
    RING_ENTRIES, //
};

/// Most entries handled per drain.
const DRAIN_LIMIT: usize = RING_ENTRIES as usize;

type DrainFn<B> = fn(&mut EventChannel<B>, &Device) -> Result<usize>;

/// The driver's end of the event ring.
pub(crate) struct EventChannel<B: HeapBacking> {
    /// The ring.
    pub(crate) ring: Rx<B>,
    /// Slots and stamps that Flags refer to.
    events: Arc<EventManager<B>>,
    drain: DrainFn<B>,
}

impl<B: HeapBacking> EventChannel<B> {
    /// The event ring of ABI `A`, dispatching Flags to `events`.
    pub(crate) fn new<A: abi::FwAbi>(ring: Rx<B>, events: Arc<EventManager<B>>) -> Self {
        Self {
            ring,
            events,
            drain: drain_abi::<A, B>,
        }
    }

    /// Handles every new event; returns how many.
    ///
    /// # Errors
    ///
    /// [`EIO`] for a torn ring index (the rest is left for the next drain).
    pub(crate) fn drain(&mut self, dev: &Device) -> Result<usize> {
        (self.drain)(self, dev)
    }
}

/// Reads the current entry as `T` (every event type has the ring's entry size).
fn peek_as<T: AsBytes + kernel::transmute::FromBytes + Zeroable, B: HeapBacking>(
    ring: &Rx<B>,
) -> Result<Option<T>> {
    let mut value: T = pin_init::zeroed();
    Ok(ring.peek(value.as_bytes_mut())?.then_some(value))
}

fn handle_one<A: abi::FwAbi, B: HeapBacking>(
    ch: &mut EventChannel<B>,
    dev: &Device,
    tag: u32,
) -> Result {
    if tag == A::EVENT_TAG_FLAG {
        let Some(flag) = peek_as::<A::EventFlag, B>(&ch.ring)? else {
            return Ok(());
        };
        ch.events
            .signalled(flag.firing(), |slot, owner, stamp| match owner {
                None => dev_warn!(
                    dev,
                    "firmware signalled event slot {}, which has no owner\n",
                    slot
                ),
                // Completion is dispatched to work queues from job submission on.
                Some(owner) => dev_dbg!(
                    dev,
                    "event slot {} of owner {} at {:#x}\n",
                    slot,
                    owner,
                    stamp.raw()
                ),
            })?;
    } else if tag == A::EVENT_TAG_TIMEOUT {
        if let Some(t) = peek_as::<A::EventTimeout, B>(&ch.ring)? {
            dev_err!(
                dev,
                "firmware reports a timeout on event slot {} (halt count {})\n",
                t.event_slot(),
                t.counter()
            );
        }
    } else if tag == A::EVENT_TAG_CHANNEL_ERROR {
        if let Some(c) = peek_as::<A::EventChannelError, B>(&ch.ring)? {
            dev_err!(
                dev,
                "firmware reports channel error {} on pipe {} (slot {}, value {:#x})\n",
                c.error_type(),
                c.pipe_type(),
                c.event_slot(),
                c.event_value()
            );
        }
    } else if tag == A::EVENT_TAG_GROW_TVB {
        if let Some(g) = peek_as::<A::EventGrowTvb, B>(&ch.ring)? {
            dev_err!(
                dev,
                "firmware asks to grow TVB slot {} of VM slot {}, which does not exist\n",
                g.buffer_slot(),
                g.vm_slot()
            );
        }
    } else if tag == A::EVENT_TAG_FAULT {
        dev_err!(dev, "firmware reports a GPU fault with no work in flight\n");
    } else {
        dev_warn!(dev, "unknown firmware event {:#x}; skipped\n", tag);
    }
    Ok(())
}

fn drain_abi<A: abi::FwAbi, B: HeapBacking>(
    ch: &mut EventChannel<B>,
    dev: &Device,
) -> Result<usize> {
    let mut handled = 0;
    for _ in 0..DRAIN_LIMIT {
        let Some(msg) = peek_as::<A::EventMsg, B>(&ch.ring)? else {
            break;
        };
        handle_one::<A, B>(ch, dev, msg.tag())?;
        ch.ring.advance()?;
        handled += 1;
    }
    Ok(handled)
}
