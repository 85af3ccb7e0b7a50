// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! What the GPU firmware refuses in the structures the driver hands it, one variant per rule.
//!
//! The real firmware dereferences InitData and everything it points to without asking; a null
//! or misplaced pointer, a wrong UAT geometry or `host_mapped_fw_allocations != 1` ends in a
//! "GFX PANIC" (agx-firmware-behaviour.md §3.4, §5.6) and a device the kernel can only declare
//! dead. The model turns each such rule into a named violation so a test can say which rule
//! the driver broke instead of "the firmware crashed".

use thiserror::Error as ThisError;

use super::generated::common::PtrClass;

/// A rule of InitData and the objects it points to.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
pub enum InitDataViolation {
    /// A pointer the firmware dereferences is zero.
    #[error("{field} is null")]
    NullPointer {
        /// Field path, e.g. `runtime_pointers.event.ring`.
        field: String,
    },
    /// The target is not aligned as its type requires.
    #[error("{field} = 0x{va:x} is not {align}-byte aligned")]
    Misaligned {
        /// Field path.
        field: String,
        /// The pointer.
        va: u64,
        /// Required alignment.
        align: u64,
    },
    /// The target (start or end) lies outside every kernel heap its class allows.
    #[error("{field} = 0x{va:x} (size 0x{size:x}) is in {found}, but a {class:?} pointer must point into {allowed}")]
    WrongHeap {
        /// Field path.
        field: String,
        /// The pointer.
        va: u64,
        /// Size of the target.
        size: u64,
        /// The pointer's class.
        class: PtrClass,
        /// Where the target lies (a heap name or "no kernel heap").
        found: &'static str,
        /// The heaps the class allows.
        allowed: &'static str,
    },
    /// Part of the target does not translate for a firmware read.
    #[error("{field} = 0x{va:x}: firmware read of 0x{at:x} faults (target not mapped)")]
    Unmapped {
        /// Field path.
        field: String,
        /// The pointer.
        va: u64,
        /// First address that faults.
        at: u64,
    },
    /// Part of a target the firmware writes is mapped read-only for it.
    #[error("{field} = 0x{va:x}: firmware write of 0x{at:x} faults (target not writable)")]
    NotWritable {
        /// Field path.
        field: String,
        /// The pointer.
        va: u64,
        /// First address that faults.
        at: u64,
    },
    /// A scalar field has a value the firmware does not accept.
    #[error("{field} = 0x{got:x}, expected 0x{expected:x}")]
    FieldValue {
        /// Field path, e.g. `uat_level_info[1].index_shift`.
        field: String,
        /// The value the firmware needs.
        expected: u64,
        /// The value found.
        got: u64,
    },
}

/// A rule of the ring pointer protocol (facts §5.2).
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
pub enum ChannelViolation {
    /// A ring index is not below the ring's entry count (torn or never initialised).
    #[error("channel {channel}: {which} = {value} is out of range (ring has {entries} entries)")]
    PointerOutOfRange {
        /// Channel name, e.g. `DevCtrl`, `FWLog[1]`.
        channel: String,
        /// `read_ptr` or `write_ptr`.
        which: &'static str,
        /// The index found.
        value: u32,
        /// Entries in the ring.
        entries: u32,
    },
}

/// A rule of the device-control channel.
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
pub enum DevCtrlViolation {
    /// The message's tag is not one this firmware version defines.
    #[error("DevCtrl[{index}]: unknown tag 0x{tag:x} for firmware {firmware}")]
    UnknownTag {
        /// Ring index of the message.
        index: u32,
        /// The tag.
        tag: u32,
        /// The variant played.
        firmware: &'static str,
    },
    /// The first message after boot was not `Initialize`.
    #[error("DevCtrl[{index}]: {tag} before Initialize (Initialize must be the first message)")]
    InitializeNotFirst {
        /// Ring index of the message.
        index: u32,
        /// Name of the tag found.
        tag: &'static str,
    },
    /// `Initialize` carries a payload; the firmware defines none.
    #[error("DevCtrl[{index}]: Initialize payload byte 0x{offset:x} is 0x{byte:x}, must be zero")]
    NonZeroPayload {
        /// Ring index of the message.
        index: u32,
        /// Offset of the first non-zero byte in the message.
        offset: usize,
        /// The byte.
        byte: u8,
    },
}

/// A rule of the firmware-control (cache flush) channel and its handoff flush slots
/// (asahi-driver-facts §6.5; agx-firmware-behaviour.md §5).
#[derive(Debug, Clone, PartialEq, Eq, ThisError)]
pub enum FwCtlViolation {
    /// The message names a flush slot past the kernel's (64).
    #[error("FwCtl[{index}]: flush slot {slot} does not exist (0..=64)")]
    SlotOutOfRange {
        /// Ring index of the message.
        index: u32,
        /// The slot.
        slot: u32,
    },
    /// A field with one accepted value has another.
    #[error("FwCtl[{index}]: {field} = 0x{got:x}, expected 0x{expected:x}")]
    FieldValue {
        /// Ring index of the message.
        index: u32,
        /// Field name.
        field: &'static str,
        /// The value the firmware needs.
        expected: u64,
        /// The value found.
        got: u64,
    },
    /// The message asks to flush nothing.
    #[error("FwCtl[{index}]: page_count is 0")]
    EmptyRange {
        /// Ring index of the message.
        index: u32,
    },
    /// The handoff flush slot the message names was not posted (its state is not 1).
    #[error("FwCtl[{index}]: handoff flush slot {slot} has state {state}, not 1 (requested)")]
    NotRequested {
        /// Ring index of the message.
        index: u32,
        /// The slot.
        slot: u32,
        /// Its state.
        state: u64,
    },
    /// The message's range differs from the one posted in the handoff slot.
    #[error("FwCtl[{index}]: flush of 0x{addr:x} ({pages} pages), but handoff slot {slot} asks for 0x{posted_addr:x}+0x{posted_size:x}")]
    RangeMismatch {
        /// Ring index of the message.
        index: u32,
        /// The slot.
        slot: u32,
        /// The message's address.
        addr: u64,
        /// The message's page count.
        pages: u16,
        /// Address in the handoff slot.
        posted_addr: u64,
        /// Size in the handoff slot.
        posted_size: u64,
    },
    /// A kernel flush covers a page context 0 does not map (the firmware's cache
    /// maintenance by address faults).
    #[error(
        "FwCtl[{index}]: kernel flush of 0x{addr:x} ({pages} pages) reaches unmapped 0x{at:x}"
    )]
    Unmapped {
        /// Ring index of the message.
        index: u32,
        /// The message's address.
        addr: u64,
        /// The message's page count.
        pages: u16,
        /// First page that does not translate.
        at: u64,
    },
    /// The firmware has no handoff region to acknowledge flushes in.
    #[error("FwCtl[{index}]: no handoff region")]
    NoHandoff {
        /// Ring index of the message.
        index: u32,
    },
}
