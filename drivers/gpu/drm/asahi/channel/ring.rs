// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The ring pointer protocol every firmware channel uses.
//!
//! A ring is an array of fixed-size entries plus a state block with two `u32` indexes: the
//! producer's write index and the consumer's read index, each in a cache line of its own
//! (asahi-driver-facts §5.2; kkpan11/AsahiLinux-linux:drivers/gpu/drm/asahi/channel.rs).
//! One slot always stays empty, so `read == write` means empty and
//! `(write + 1) % count == read` means full.
//!
//! - TX (driver produces): the entry is written, then [`publish_barrier`] (store-store, the
//!   same rule as a page-table descriptor after its table), then the write index; the
//!   doorbell's MMIO write is ordered after both by the mailbox driver's `writel`. A message
//!   is complete once the firmware's read index has moved past it.
//! - RX (firmware produces): the write index is read, then the entry, then our read index
//!   is stored back.
//!
//! The firmware's index is untrusted: a value outside the ring, or one that claims more
//! entries than were ever produced, is a torn or corrupt pointer and fails with [`EIO`]
//! instead of being followed. A full ring fails with [`EBUSY`] (the caller decides whether
//! to wait) and a message of the wrong size with [`EINVAL`]; nothing spins here.

use kernel::{
    prelude::*,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        Arc, //
    },
};

use crate::uat::tlb::publish_barrier;

/// A ring's indexes as the driver last saw them (read, write), kept for debugfs, which
/// cannot reach the ring itself.
pub(crate) struct RingSeen {
    read: Atomic<u32>,
    write: Atomic<u32>,
    entries: Atomic<u32>,
}

impl RingSeen {
    /// Nothing seen yet.
    pub(crate) fn new() -> Self {
        Self {
            read: Atomic::new(0),
            write: Atomic::new(0),
            entries: Atomic::new(0),
        }
    }

    fn record(&self, read: u32, write: u32) {
        self.read.store(read, Relaxed);
        self.write.store(write, Relaxed);
    }

    /// `(read, write, entries)`.
    pub(crate) fn get(&self) -> (u32, u32, u32) {
        (
            self.read.load(Relaxed),
            self.write.load(Relaxed),
            self.entries.load(Relaxed),
        )
    }
}

/// Memory a ring lives in: the firmware may access it at any time, so every access is a
/// single volatile one (`u32`) or a volatile copy.
pub(crate) trait RingMem {
    /// Reads the aligned `u32` at `offset`.
    fn load_u32(&self, offset: usize) -> Result<u32>;
    /// Writes the aligned `u32` at `offset`.
    fn store_u32(&self, offset: usize, value: u32) -> Result;
    /// Writes `src` at `offset`.
    fn write(&self, offset: usize, src: &[u8]) -> Result;
    /// Reads `dst.len()` bytes at `offset`.
    fn read(&self, offset: usize, dst: &mut [u8]) -> Result;
}

impl<B: crate::uat::heap::HeapBacking> RingMem for crate::mem::object::GpuMem<B> {
    fn load_u32(&self, offset: usize) -> Result<u32> {
        self.read_u32(offset)
    }

    fn store_u32(&self, offset: usize, value: u32) -> Result {
        self.write_u32(offset, value)
    }

    fn write(&self, offset: usize, src: &[u8]) -> Result {
        self.write_bytes(offset, src)
    }

    fn read(&self, offset: usize, dst: &mut [u8]) -> Result {
        self.read_bytes(offset, dst)
    }
}

impl<T: RingMem> RingMem for kernel::sync::Arc<T> {
    fn load_u32(&self, offset: usize) -> Result<u32> {
        (**self).load_u32(offset)
    }

    fn store_u32(&self, offset: usize, value: u32) -> Result {
        (**self).store_u32(offset, value)
    }

    fn write(&self, offset: usize, src: &[u8]) -> Result {
        (**self).write(offset, src)
    }

    fn read(&self, offset: usize, dst: &mut [u8]) -> Result {
        (**self).read(offset, dst)
    }
}

/// Where a ring's indexes and entries are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RingLayout {
    /// Entries in the ring.
    pub(crate) count: u32,
    /// Bytes per entry.
    pub(crate) entry_size: usize,
    /// Offset of the read index in the state block.
    pub(crate) read_off: usize,
    /// Offset of the write index in the state block.
    pub(crate) write_off: usize,
    /// Offset of this ring's state in the state memory (sub-rings share one block).
    pub(crate) state_base: usize,
    /// Offset of entry 0 in the entry memory.
    pub(crate) entry_base: usize,
}

/// `ChannelState`: read index at +0x0, write index at +0x20 (facts §5.2).
pub(crate) const CHANNEL_STATE_READ: usize = 0x0;
/// See [`CHANNEL_STATE_READ`].
pub(crate) const CHANNEL_STATE_WRITE: usize = 0x20;
/// `FwCtlChannelState`: read index at +0x0, write index at +0x10.
pub(crate) const FWCTL_STATE_READ: usize = 0x0;
/// See [`FWCTL_STATE_READ`].
pub(crate) const FWCTL_STATE_WRITE: usize = 0x10;

impl RingLayout {
    /// A ring with a `ChannelState` block of its own.
    pub(crate) const fn channel(count: u32, entry_size: usize) -> Self {
        Self {
            count,
            entry_size,
            read_off: CHANNEL_STATE_READ,
            write_off: CHANNEL_STATE_WRITE,
            state_base: 0,
            entry_base: 0,
        }
    }

    /// Sub-ring `index` of a group whose states are `state_size` bytes apart and whose
    /// entries follow each other.
    pub(crate) const fn sub_ring(self, index: usize, state_size: usize) -> Self {
        Self {
            state_base: index * state_size,
            entry_base: index * self.count as usize * self.entry_size,
            ..self
        }
    }

    /// Bytes of entry memory of one ring.
    pub(crate) const fn entries_size(&self) -> usize {
        self.count as usize * self.entry_size
    }

    fn entry(&self, index: u32) -> usize {
        self.entry_base + index as usize * self.entry_size
    }

    fn next(&self, index: u32) -> u32 {
        (index + 1) % self.count
    }

    /// Entries from `from` forward to `to`.
    fn distance(&self, from: u32, to: u32) -> u32 {
        (to + self.count - from) % self.count
    }
}

/// The completion token of a TX message: the write index just after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TxToken(u32);

/// The driver's end of a driver-to-firmware ring.
pub(crate) struct TxRing<S: RingMem, E: RingMem> {
    state: S,
    entries: E,
    layout: RingLayout,
    /// Our write index (the firmware never writes it).
    wptr: u32,
    /// Messages the firmware had not consumed at the last look.
    pending: u32,
    /// Where the indexes are recorded for debugfs.
    seen: Option<Arc<RingSeen>>,
}

impl<S: RingMem, E: RingMem> TxRing<S, E> {
    /// Takes over an empty ring (both indexes are written 0).
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for a ring of fewer than two entries; those of the memory.
    pub(crate) fn new(state: S, entries: E, layout: RingLayout) -> Result<Self> {
        if layout.count < 2 || layout.entry_size == 0 {
            return Err(EINVAL);
        }
        state.store_u32(layout.state_base + layout.read_off, 0)?;
        state.store_u32(layout.state_base + layout.write_off, 0)?;
        Ok(Self {
            state,
            entries,
            layout,
            wptr: 0,
            pending: 0,
            seen: None,
        })
    }

    /// Records the ring's indexes in `seen` from now on.
    pub(crate) fn watch(&mut self, seen: Arc<RingSeen>) {
        seen.entries.store(self.layout.count, Relaxed);
        seen.record(
            (self.wptr + self.layout.count - self.pending) % self.layout.count,
            self.wptr,
        );
        self.seen = Some(seen);
    }

    /// The ring's layout.
    pub(crate) fn layout(&self) -> &RingLayout {
        &self.layout
    }

    /// The state block's memory.
    pub(crate) fn state(&self) -> &S {
        &self.state
    }

    /// The entries' memory.
    pub(crate) fn entries(&self) -> &E {
        &self.entries
    }

    /// Reads the firmware's read index and updates the pending count.
    ///
    /// # Errors
    ///
    /// [`EIO`] when the index is outside the ring or claims entries never produced.
    fn refresh(&mut self) -> Result<u32> {
        let rp = self
            .state
            .load_u32(self.layout.state_base + self.layout.read_off)?;
        if rp >= self.layout.count {
            pr_err!(
                "firmware ring read index {} outside a {}-entry ring\n",
                rp,
                self.layout.count
            );
            return Err(EIO);
        }
        let pending = self.layout.distance(rp, self.wptr);
        if pending > self.pending {
            pr_err!(
                "firmware ring read index {} moved backwards or past our write index {}\n",
                rp,
                self.wptr
            );
            return Err(EIO);
        }
        self.pending = pending;
        if let Some(seen) = &self.seen {
            seen.record(rp, self.wptr);
        }
        Ok(rp)
    }

    /// Messages queued and not yet consumed.
    ///
    /// # Errors
    ///
    /// As for a torn read index ([`EIO`]).
    pub(crate) fn pending(&mut self) -> Result<u32> {
        self.refresh()?;
        Ok(self.pending)
    }

    /// Queues `msg` (exactly one entry). The caller rings the doorbell.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for a message of the wrong size, [`EBUSY`] when the ring is full,
    /// [`EIO`] for a torn read index.
    pub(crate) fn push(&mut self, msg: &[u8]) -> Result<TxToken> {
        if msg.len() != self.layout.entry_size {
            pr_err!(
                "ring message of {} bytes for {}-byte entries\n",
                msg.len(),
                self.layout.entry_size
            );
            return Err(EINVAL);
        }
        let rp = self.refresh()?;
        let next = self.layout.next(self.wptr);
        if next == rp {
            return Err(EBUSY);
        }
        self.entries.write(self.layout.entry(self.wptr), msg)?;
        // The entry must be visible before the index that hands it over.
        publish_barrier();
        self.state
            .store_u32(self.layout.state_base + self.layout.write_off, next)?;
        self.wptr = next;
        self.pending += 1;
        if let Some(seen) = &self.seen {
            seen.record(rp, next);
        }
        Ok(TxToken(next))
    }

    /// Whether the firmware has consumed the message of `token`.
    ///
    /// # Errors
    ///
    /// [`EIO`] for a torn read index.
    pub(crate) fn is_done(&mut self, token: TxToken) -> Result<bool> {
        self.refresh()?;
        // Messages queued after the token's one; it is done once no more than those pend.
        let after = self.layout.distance(token.0, self.wptr);
        Ok(self.pending <= after)
    }
}

/// The driver's end of a firmware-to-driver ring.
pub(crate) struct RxRing<S: RingMem, E: RingMem> {
    state: S,
    entries: E,
    layout: RingLayout,
    /// Our read index.
    rptr: u32,
    /// Where the indexes are recorded for debugfs.
    seen: Option<Arc<RingSeen>>,
}

impl<S: RingMem, E: RingMem> RxRing<S, E> {
    /// Takes over an empty ring (both indexes are written 0).
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for a ring of fewer than two entries; those of the memory.
    pub(crate) fn new(state: S, entries: E, layout: RingLayout) -> Result<Self> {
        if layout.count < 2 || layout.entry_size == 0 {
            return Err(EINVAL);
        }
        state.store_u32(layout.state_base + layout.read_off, 0)?;
        state.store_u32(layout.state_base + layout.write_off, 0)?;
        Ok(Self {
            state,
            entries,
            layout,
            rptr: 0,
            seen: None,
        })
    }

    /// Records the ring's indexes in `seen` from now on.
    pub(crate) fn watch(&mut self, seen: Arc<RingSeen>) {
        seen.entries.store(self.layout.count, Relaxed);
        seen.record(self.rptr, self.rptr);
        self.seen = Some(seen);
    }

    /// The ring's layout.
    pub(crate) fn layout(&self) -> &RingLayout {
        &self.layout
    }

    /// The state block's memory.
    pub(crate) fn state(&self) -> &S {
        &self.state
    }

    /// The entries' memory.
    pub(crate) fn entries(&self) -> &E {
        &self.entries
    }

    /// Copies the oldest unread entry into `dst` without consuming it; `false` when the
    /// ring is empty.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] when `dst` is not one entry, [`EIO`] for a torn write index.
    pub(crate) fn peek(&self, dst: &mut [u8]) -> Result<bool> {
        if dst.len() != self.layout.entry_size {
            return Err(EINVAL);
        }
        let wp = self
            .state
            .load_u32(self.layout.state_base + self.layout.write_off)?;
        if wp >= self.layout.count {
            pr_err!(
                "firmware ring write index {} outside a {}-entry ring\n",
                wp,
                self.layout.count
            );
            return Err(EIO);
        }
        if let Some(seen) = &self.seen {
            seen.record(self.rptr, wp);
        }
        if wp == self.rptr {
            return Ok(false);
        }
        // The index was read before the entry; the firmware wrote them in the other order.
        kernel::sync::barrier::smp_rmb();
        self.entries.read(self.layout.entry(self.rptr), dst)?;
        Ok(true)
    }

    /// Consumes the entry [`Self::peek`] returned.
    ///
    /// # Errors
    ///
    /// Those of the memory.
    pub(crate) fn advance(&mut self) -> Result {
        self.rptr = self.layout.next(self.rptr);
        if let Some(seen) = &self.seen {
            seen.read.store(self.rptr, Relaxed);
        }
        self.state
            .store_u32(self.layout.state_base + self.layout.read_off, self.rptr)
    }

    /// Reads and consumes the oldest entry; `false` when the ring is empty.
    ///
    /// # Errors
    ///
    /// As for [`Self::peek`].
    pub(crate) fn pop(&mut self, dst: &mut [u8]) -> Result<bool> {
        if !self.peek(dst)? {
            return Ok(false);
        }
        self.advance()?;
        Ok(true)
    }
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_channel_ring)]
mod tests {
    use super::*;
    use core::cell::RefCell;

    /// Ring memory in a vector; the test plays the firmware by poking it.
    struct FakeMem(RefCell<KVec<u8>>);

    impl FakeMem {
        fn new(size: usize) -> Result<Self> {
            let mut v = KVec::with_capacity(size, GFP_KERNEL)?;
            v.resize(size, 0, GFP_KERNEL)?;
            Ok(Self(RefCell::new(v)))
        }
    }

    impl RingMem for &FakeMem {
        fn load_u32(&self, offset: usize) -> Result<u32> {
            let v = self.0.borrow();
            let b = v.get(offset..offset + 4).ok_or(ERANGE)?;
            Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }

        fn store_u32(&self, offset: usize, value: u32) -> Result {
            self.write(offset, &value.to_le_bytes())
        }

        fn write(&self, offset: usize, src: &[u8]) -> Result {
            let mut v = self.0.borrow_mut();
            v.get_mut(offset..offset + src.len())
                .ok_or(ERANGE)?
                .copy_from_slice(src);
            Ok(())
        }

        fn read(&self, offset: usize, dst: &mut [u8]) -> Result {
            let v = self.0.borrow();
            dst.copy_from_slice(v.get(offset..offset + dst.len()).ok_or(ERANGE)?);
            Ok(())
        }
    }

    const LAYOUT: RingLayout = RingLayout::channel(4, 8);

    fn msg(n: u8) -> [u8; 8] {
        [n; 8]
    }

    #[test]
    fn tx_fills_to_count_minus_one_then_reports_full() -> Result {
        let (st, ent) = (FakeMem::new(0x30)?, FakeMem::new(LAYOUT.entries_size())?);
        let mut tx = TxRing::new(&st, &ent, LAYOUT)?;
        for n in 0..3 {
            tx.push(&msg(n))?;
        }
        assert_eq!(tx.push(&msg(9)).err(), Some(EBUSY));
        assert_eq!((&st).load_u32(CHANNEL_STATE_WRITE)?, 3);
        let mut e = [0u8; 8];
        (&ent).read(16, &mut e)?;
        assert_eq!(e, msg(2));
        Ok(())
    }

    #[test]
    fn tx_wraps_and_completes_in_order() -> Result {
        let (st, ent) = (FakeMem::new(0x30)?, FakeMem::new(LAYOUT.entries_size())?);
        let mut tx = TxRing::new(&st, &ent, LAYOUT)?;
        let mut last = None;
        for n in 0..10u32 {
            let t = tx.push(&msg(n as u8))?;
            assert!(!tx.is_done(t)?);
            // The firmware consumes one message.
            (&st).store_u32(CHANNEL_STATE_READ, (n + 1) % 4)?;
            assert!(tx.is_done(t)?);
            last = Some(t);
        }
        // 10 messages in a 4-entry ring: the last one went to index 1.
        let mut e = [0u8; 8];
        (&ent).read(8, &mut e)?;
        assert_eq!(e, msg(9));
        assert_eq!(last, Some(TxToken(2)));
        assert_eq!(tx.pending()?, 0);
        Ok(())
    }

    #[test]
    fn a_token_completes_only_when_everything_before_it_did() -> Result {
        let (st, ent) = (FakeMem::new(0x30)?, FakeMem::new(LAYOUT.entries_size())?);
        let mut tx = TxRing::new(&st, &ent, LAYOUT)?;
        let a = tx.push(&msg(1))?;
        let b = tx.push(&msg(2))?;
        (&st).store_u32(CHANNEL_STATE_READ, 1)?;
        assert!(tx.is_done(a)?);
        assert!(!tx.is_done(b)?);
        (&st).store_u32(CHANNEL_STATE_READ, 2)?;
        assert!(tx.is_done(b)?);
        Ok(())
    }

    #[test]
    fn tx_rejects_a_message_of_the_wrong_size() -> Result {
        let (st, ent) = (FakeMem::new(0x30)?, FakeMem::new(LAYOUT.entries_size())?);
        let mut tx = TxRing::new(&st, &ent, LAYOUT)?;
        assert_eq!(tx.push(&[0u8; 7]).err(), Some(EINVAL));
        assert_eq!(tx.push(&[0u8; 9]).err(), Some(EINVAL));
        assert_eq!((&st).load_u32(CHANNEL_STATE_WRITE)?, 0);
        Ok(())
    }

    #[test]
    fn a_torn_read_index_is_refused_not_followed() -> Result {
        let (st, ent) = (FakeMem::new(0x30)?, FakeMem::new(LAYOUT.entries_size())?);
        let mut tx = TxRing::new(&st, &ent, LAYOUT)?;
        let t = tx.push(&msg(1))?;
        // Outside the ring.
        (&st).store_u32(CHANNEL_STATE_READ, 0xdead_beef)?;
        assert_eq!(tx.is_done(t).err(), Some(EIO));
        assert_eq!(tx.push(&msg(2)).err(), Some(EIO));
        // Inside the ring but past what was produced (only index 0 was written).
        (&st).store_u32(CHANNEL_STATE_READ, 3)?;
        assert_eq!(tx.is_done(t).err(), Some(EIO));
        // Nothing was queued by the refused push.
        assert_eq!((&st).load_u32(CHANNEL_STATE_WRITE)?, 1);
        Ok(())
    }

    #[test]
    fn rx_is_empty_until_the_firmware_writes_then_drains_with_wrap() -> Result {
        let (st, ent) = (FakeMem::new(0x30)?, FakeMem::new(LAYOUT.entries_size())?);
        let mut rx = RxRing::new(&st, &ent, LAYOUT)?;
        let mut e = [0u8; 8];
        assert!(!rx.pop(&mut e)?);
        let mut fw_w = 0u32;
        for n in 0..9u8 {
            (&ent).write(fw_w as usize * 8, &msg(n))?;
            fw_w = (fw_w + 1) % 4;
            (&st).store_u32(CHANNEL_STATE_WRITE, fw_w)?;
            assert!(rx.peek(&mut e)?);
            assert_eq!((&st).load_u32(CHANNEL_STATE_READ)?, (fw_w + 3) % 4);
            assert!(rx.pop(&mut e)?);
            assert_eq!(e, msg(n));
            assert_eq!((&st).load_u32(CHANNEL_STATE_READ)?, fw_w);
            assert!(!rx.pop(&mut e)?);
        }
        Ok(())
    }

    #[test]
    fn rx_refuses_a_torn_write_index_and_a_short_buffer() -> Result {
        let (st, ent) = (FakeMem::new(0x30)?, FakeMem::new(LAYOUT.entries_size())?);
        let mut rx = RxRing::new(&st, &ent, LAYOUT)?;
        (&st).store_u32(CHANNEL_STATE_WRITE, 4)?;
        let mut e = [0u8; 8];
        assert_eq!(rx.pop(&mut e).err(), Some(EIO));
        assert_eq!((&st).load_u32(CHANNEL_STATE_READ)?, 0);
        let mut short = [0u8; 4];
        assert_eq!(rx.pop(&mut short).err(), Some(EINVAL));
        Ok(())
    }

    #[test]
    fn sub_rings_have_their_own_state_and_entries() -> Result {
        let sub = LAYOUT.sub_ring(2, 0x30);
        let (st, ent) = (
            FakeMem::new(0x30 * 6)?,
            FakeMem::new(LAYOUT.entries_size() * 6)?,
        );
        let mut rx = RxRing::new(&st, &ent, sub)?;
        (&ent).write(2 * LAYOUT.entries_size(), &msg(7))?;
        (&st).store_u32(0x60 + CHANNEL_STATE_WRITE, 1)?;
        let mut e = [0u8; 8];
        assert!(rx.pop(&mut e)?);
        assert_eq!(e, msg(7));
        assert_eq!((&st).load_u32(0x60 + CHANNEL_STATE_READ)?, 1);
        assert_eq!((&st).load_u32(CHANNEL_STATE_READ)?, 0);
        Ok(())
    }
}
