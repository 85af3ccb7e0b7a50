// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The device-control channel as the firmware serves it: messages from its `read_ptr` to the
//! host's `write_ptr`, each with a tag this firmware version defines, `Initialize` first.
//!
//! Reading and retiring are separate steps so the caller can complete a message's effect
//! before `read_ptr` moves: the driver treats `read_ptr` reaching its token as "done"
//! (agx-firmware-behaviour.md §5.1), and for `Initialize` as "firmware ready".

use zerocopy::IntoBytes;

use super::channels::Channel;
use super::generated::abi::DeviceControlMsgFields;
use super::gpumem::{self, FwBus};
use super::model_abi::ModelAbi;
use super::violation::DevCtrlViolation;
use crate::strict::{Checked, Violation};

/// A message read from the ring, not yet retired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Msg {
    /// Ring index.
    pub index: u32,
    /// Raw tag.
    pub tag: u32,
    /// The tag's name on this variant.
    pub name: &'static str,
}

/// The next message after the firmware's position, if the host has queued one. Refuses an
/// unknown tag, anything before `Initialize` (`initialized` false) and an `Initialize` with a
/// payload.
pub fn next<A: ModelAbi>(
    bus: &mut dyn FwBus,
    ch: &Channel,
    initialized: bool,
) -> Checked<Option<Msg>> {
    let index = ch.pos[0];
    if ch.host_ptr(bus, 0)? == index {
        return Ok(None);
    }
    let msg: A::DeviceControlMsg = gpumem::read_obj(bus, ch.entry_va(0, index), "DevCtrl message")?;
    let tag = msg.tag();
    let refuse = |v| Err(Violation::DevCtrl(v));
    let Some(name) = A::device_control_tag_name(tag) else {
        return refuse(DevCtrlViolation::UnknownTag {
            index,
            tag,
            firmware: A::NAME,
        });
    };
    let is_init = tag == A::DEVICE_CONTROL_TAG_INITIALIZE;
    if !initialized && !is_init {
        return refuse(DevCtrlViolation::InitializeNotFirst { index, tag: name });
    }
    if is_init {
        if let Some((offset, byte)) = msg
            .as_bytes()
            .iter()
            .enumerate()
            .skip(4)
            .find(|(_, b)| **b != 0)
        {
            return refuse(DevCtrlViolation::NonZeroPayload {
                index,
                offset,
                byte: *byte,
            });
        }
    }
    Ok(Some(Msg { index, tag, name }))
}

/// Retires `m` (its effect is complete): publishes the new `read_ptr` and traces
/// `fw devctrl consumed tag=<name> read_ptr=N`.
pub fn retire(bus: &mut dyn FwBus, ch: &mut Channel, m: Msg) -> Checked<()> {
    let next = (m.index + 1) % ch.entries;
    ch.publish(bus, 0, next)?;
    bus.fw_trace(format!(
        "fw devctrl consumed tag={} read_ptr={next}",
        m.name
    ));
    Ok(())
}
