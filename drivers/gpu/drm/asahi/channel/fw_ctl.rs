// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The firmware-control ring: requests to flush the coprocessor's cache.
//!
//! One message kind, `FwCtlMsg` (asahi-driver-facts §5.3): the first address, the flush slot
//! of the handoff region the request was posted in (0..=63 for user contexts, 64 for the
//! kernel), the length in 16 KiB pages (below 0x10000) and `unk_12 = 2`. The message only
//! names the request: the range itself is posted in the handoff slot first
//! ([`crate::uat::handoff::Handoff::post_flush`]), and the firmware acknowledges there before
//! it moves the ring's read index (facts §6.5). The layout is the same on every ABI today, but
//! it comes from the generated structures like every other ring's, through an encoder chosen
//! once per ABI.

use kernel::{
    prelude::*,
    transmute::AsBytes, //
};

use crate::{
    fw::{
        abi::{
            self,
            FwCtlMsgFields, //
        },
        common::U64,
    },
    uat::heap::HeapBacking,
};

use super::{
    ring::TxToken,
    Tx, //
};

/// Most 16 KiB pages one request may cover (the count is a u16 and must stay below 0x10000).
pub(crate) const MAX_FLUSH_PAGES: u64 = 0xffff;
/// `unk_12` of every request.
const FLUSH_UNK_12: u16 = 2;

/// One flush request as the ring carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FlushMsg {
    /// First address (16 KiB aligned).
    pub(crate) addr: u64,
    /// Handoff flush slot the range was posted in.
    pub(crate) slot: u32,
    /// Length in 16 KiB pages, 1..=[`MAX_FLUSH_PAGES`].
    pub(crate) pages: u16,
}

type PushFn<B> = fn(&mut Tx<B>, &FlushMsg) -> Result<TxToken>;

/// The driver's end of the firmware-control ring.
pub(crate) struct FwCtlChannel<B: HeapBacking> {
    /// The ring.
    pub(crate) ring: Tx<B>,
    push: PushFn<B>,
}

impl<B: HeapBacking> FwCtlChannel<B> {
    /// The firmware-control ring of ABI `A`.
    pub(crate) fn new<A: abi::FwAbi>(ring: Tx<B>) -> Self {
        Self {
            ring,
            push: push_abi::<A, B>,
        }
    }

    /// Queues `msg`; the caller rings the doorbell and waits for the token.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for an empty range, [`EBUSY`] when the ring is full, [`EIO`] for a torn
    /// read index.
    pub(crate) fn push(&mut self, msg: &FlushMsg) -> Result<TxToken> {
        if msg.pages == 0 {
            return Err(EINVAL);
        }
        (self.push)(&mut self.ring, msg)
    }

    /// Whether the firmware has consumed the message of `token`.
    ///
    /// # Errors
    ///
    /// [`EIO`] for a torn read index.
    pub(crate) fn is_done(&mut self, token: TxToken) -> Result<bool> {
        self.ring.is_done(token)
    }
}

fn push_abi<A: abi::FwAbi, B: HeapBacking>(ring: &mut Tx<B>, msg: &FlushMsg) -> Result<TxToken> {
    let mut m: A::FwCtlMsg = pin_init::zeroed();
    *m.addr_mut() = U64::new(msg.addr);
    *m.slot_mut() = msg.slot;
    *m.page_count_mut() = msg.pages;
    *m.unk_12_mut() = FLUSH_UNK_12;
    ring.push(m.as_bytes())
}
