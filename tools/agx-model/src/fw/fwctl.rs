// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The firmware-control channel as the firmware serves it: coprocessor-cache flushes.
//!
//! The firmware caches what it reads through its "private" mappings, so before the driver
//! reuses such memory it asks for a flush (asahi-driver-facts §6.5): it posts the range in the
//! handoff region's flush slot (`state` 0 -> 1, `addr`, `size`), queues a `FwCtlMsg` naming
//! the same slot and range, and rings `0x84` on endpoint 0x21. The firmware flushes, sets the
//! slot's state to 2 and only then moves the ring's `read_ptr` past the message, which the
//! driver takes as "done" (agx-firmware-behaviour.md §5: state 1 -> 2 before the `read_ptr`
//! catch-up). The driver then writes the state back to 0.
//!
//! The model refuses what would misdirect the real firmware's cache maintenance: a message
//! for a slot that was not posted, a range that differs from the posted one, a kernel range
//! with a page context 0 does not map, and fields outside their one known value. The cache
//! itself is not modelled: the flush's effect is the acknowledgement.

use super::channels::Channel;
use super::generated::abi::FwCtlMsgFields;
use super::gpumem::{self, FwBus};
use super::model_abi::ModelAbi;
use super::violation::FwCtlViolation;
use crate::strict::{Checked, Violation};
use crate::uat::PAGE_SIZE;

/// Offset of the first flush slot in the handoff region.
pub const FLUSH_BASE: u64 = 0x20;
/// Bytes per flush slot: state, addr, size (u64 each).
pub const FLUSH_STRIDE: u64 = 0x18;
/// The kernel's flush slot (0..=63 are the user context slots).
pub const KERNEL_SLOT: u32 = 64;
/// Flush slot state: idle.
pub const STATE_IDLE: u64 = 0;
/// Flush slot state: posted by the driver.
pub const STATE_REQUESTED: u64 = 1;
/// Flush slot state: done, for the driver to retire.
pub const STATE_DONE: u64 = 2;
/// The one value `unk_12` has in every flush request (facts §5.3 FwCtlMsg).
pub const UNK_12: u16 = 2;

/// A flush the firmware completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flush {
    /// Ring index of the message.
    pub index: u32,
    /// Flush slot.
    pub slot: u32,
    /// First address.
    pub addr: u64,
    /// 16 KiB pages.
    pub pages: u16,
}

/// Handoff address of flush slot `slot`'s `state` word.
pub fn slot_pa(handoff: u64, slot: u32) -> u64 {
    handoff + FLUSH_BASE + u64::from(slot) * FLUSH_STRIDE
}

/// Serves the message at the firmware's position, if the host queued one: checks it against
/// its handoff slot, acknowledges the flush (state 2) and retires it (`read_ptr` + 1).
pub fn serve_one<A: ModelAbi>(bus: &mut dyn FwBus, ch: &mut Channel) -> Checked<Option<Flush>> {
    let index = ch.pos[0];
    if ch.host_ptr(bus, 0)? == index {
        return Ok(None);
    }
    let msg: A::FwCtlMsg = gpumem::read_obj(bus, ch.entry_va(0, index), "FwCtl message")?;
    let refuse = |v| Err(Violation::FwCtl(v));
    let (addr, slot, pages) = (msg.addr().get(), *msg.slot(), *msg.page_count());
    if slot > KERNEL_SLOT {
        return refuse(FwCtlViolation::SlotOutOfRange { index, slot });
    }
    for (field, expected, got) in [
        ("unk_8", 0, u64::from(*msg.unk_8())),
        ("unk_12", u64::from(UNK_12), u64::from(*msg.unk_12())),
    ] {
        if got != expected {
            return refuse(FwCtlViolation::FieldValue {
                index,
                field,
                expected,
                got,
            });
        }
    }
    if pages == 0 {
        return refuse(FwCtlViolation::EmptyRange { index });
    }
    let Some(handoff) = bus.fw_handoff() else {
        return refuse(FwCtlViolation::NoHandoff { index });
    };
    let at = slot_pa(handoff, slot);
    let state = bus.fw_dma().read_u64(at)?;
    if state != STATE_REQUESTED {
        return refuse(FwCtlViolation::NotRequested { index, slot, state });
    }
    let posted_addr = bus.fw_dma().read_u64(at + 8)?;
    let posted_size = bus.fw_dma().read_u64(at + 16)?;
    if posted_addr != addr || posted_size != u64::from(pages) * PAGE_SIZE {
        return refuse(FwCtlViolation::RangeMismatch {
            index,
            slot,
            addr,
            pages,
            posted_addr,
            posted_size,
        });
    }
    if slot == KERNEL_SLOT {
        for p in 0..u64::from(pages) {
            let va = addr.wrapping_add(p * PAGE_SIZE);
            if bus.fw_try_translate(va, false)?.is_none() {
                return refuse(FwCtlViolation::Unmapped {
                    index,
                    addr,
                    pages,
                    at: va,
                });
            }
        }
    }
    bus.fw_dma().write_u64(at, STATE_DONE)?;
    let next = (index + 1) % ch.entries;
    ch.publish(bus, 0, next)?;
    bus.fw_trace(format!(
        "fw fwctl flush slot={slot} va=0x{addr:x} pages={pages} done read_ptr={next}"
    ));
    Ok(Some(Flush {
        index,
        slot,
        addr,
        pages,
    }))
}
