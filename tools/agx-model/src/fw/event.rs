// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The event ring as the firmware writes it: an `EventMsg` (0x38 bytes, u32 tag then payload)
//! at the firmware's `write_ptr`, then the new `write_ptr` (facts §3.3, §5.1). A `Flag`, tag
//! 1, carries `firing`, a bitmap over the 128 event slots whose stamps moved (see
//! agx-firmware-behaviour.md §5.3). The caller rings `0x42` afterwards, the order the driver
//! relies on when it drains the ring.

use zerocopy::{FromZeros, IntoBytes};

use super::channels::Channel;
use super::generated::abi::{EventFlagFields, FwAbi};
use super::gpumem::FwBus;
use crate::strict::Checked;

/// Posts a `Flag` with `firing`; returns false (and traces it) when the ring is full, as the
/// firmware then cannot post.
pub fn post_flag<A: FwAbi>(
    bus: &mut dyn FwBus,
    ch: &mut Channel,
    firing: [u32; 4],
) -> Checked<bool> {
    let mut m = A::EventFlag::new_zeroed();
    m.set_tag(A::EVENT_TAG_FLAG);
    *m.firing_mut() = firing;
    let Some(index) = ch.post(bus, m.as_bytes(), "Event entry")? else {
        bus.fw_trace("fw event ring full, Flag dropped".into());
        return Ok(false);
    };
    bus.fw_trace(format!(
        "fw event index={index} tag=Flag firing=[0x{:x}, 0x{:x}, 0x{:x}, 0x{:x}]",
        firing[0], firing[1], firing[2], firing[3]
    ));
    Ok(true)
}
