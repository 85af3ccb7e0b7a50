// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Event slots and stamps: how the firmware tells the driver which work has finished.
//!
//! There are 128 event slots (asahi-driver-facts §7.5). Each has a 32-bit stamp the
//! firmware writes when a command finishes: the *shared* stamp, in uncached memory the driver
//! reads, and the *firmware* stamp, in firmware-private memory. The firmware uses the
//! private one for barriers between queues. A work queue holds a slot while it has work in
//! flight. It hands out one [`EventValue`] per command, in steps of 0x100 (the low byte is
//! left free). The firmware then raises an Event `Flag` with a bitmap of the slots whose
//! stamps moved. For each set bit the driver reads that slot's stamp and completes every
//! command of the owner whose value the stamp has reached.
//!
//! Values are compared as the signed difference of the two words shifted right by 8, so they
//! can wrap. A slot keeps counting across owners, so a late Flag for an earlier owner never
//! looks like progress for the next one. Freed slots are handed out again round-robin, not
//! last-in first-out, for the same reason.
//!
//! Nobody owns a slot before job submission exists. Until then, a Flag for a slot reaches
//! [`EventManager::signalled`] with no owner, and the event channel reports it.

use kernel::{
    new_mutex,
    prelude::*,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        Arc,
        Mutex, //
    },
};

use crate::{
    mem::{
        object::GpuArray,
        KernelHeaps, //
    },
    uat::heap::HeapBacking,
};

/// Event slots the firmware knows.
pub(crate) const NUM_EVENTS: usize = 128;
/// Words of an Event Flag's bitmap.
pub(crate) const FIRING_WORDS: usize = NUM_EVENTS / 32;
/// The amount one command moves its slot's stamp by.
const STEP: u32 = 0x100;

/// A stamp value: what a command's slot reads once the command has finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EventValue(u32);

impl EventValue {
    /// The value a fresh slot's stamps hold.
    pub(crate) const ZERO: Self = Self(0);

    /// The value as stored in a stamp.
    pub(crate) const fn raw(self) -> u32 {
        self.0
    }

    /// The value of the next command on the same slot.
    pub(crate) const fn next(self) -> Self {
        Self(self.0.wrapping_add(STEP))
    }

    /// How many commands `self` is ahead of `earlier` (negative when behind), across wraps.
    pub(crate) const fn steps_after(self, earlier: Self) -> i32 {
        (self.0.wrapping_sub(earlier.0) as i32) >> 8
    }

    /// Whether a stamp reading `self` means the command of value `target` has finished.
    pub(crate) const fn has_reached(self, target: Self) -> bool {
        self.steps_after(target) >= 0
    }
}

/// Who holds a slot (the work queue's id from job submission on).
pub(crate) type OwnerId = u64;

#[derive(Clone, Copy)]
struct Slot {
    owner: Option<OwnerId>,
    /// The last value handed out on this slot (by any owner).
    issued: EventValue,
}

struct Slots {
    /// All [`NUM_EVENTS`] slots (on the heap: too large for the stack).
    slot: KVec<Slot>,
    /// Where the next search for a free slot starts.
    cursor: usize,
}

/// Which slots are held and how many were ever taken, kept for debugfs, which cannot reach
/// the manager.
pub(crate) struct EventUsage {
    /// Bit `n % 32` of word `n / 32` set while slot `n` is held.
    held: [Atomic<u32>; FIRING_WORDS],
    /// Slots handed out since boot.
    taken: Atomic<u64>,
}

impl EventUsage {
    fn new() -> Self {
        Self {
            held: [const { Atomic::new(0) }; FIRING_WORDS],
            taken: Atomic::new(0),
        }
    }

    fn set(&self, index: usize, held: bool) {
        let Some(word) = self.held.get(index / 32) else {
            return;
        };
        let bit = 1u32 << (index % 32);
        let old = word.load(Relaxed);
        word.store(if held { old | bit } else { old & !bit }, Relaxed);
    }

    /// The held-slot bitmap (as an event Flag's firing words) and the slots taken so far.
    pub(crate) fn get(&self) -> ([u32; FIRING_WORDS], u64) {
        (
            core::array::from_fn(|i| self.held[i].load(Relaxed)),
            self.taken.load(Relaxed),
        )
    }
}

/// The 128 slots and their stamps.
#[pin_data]
pub(crate) struct EventManager<B: HeapBacking> {
    /// Stamps the firmware writes and the driver reads.
    stamps: GpuArray<u32, B>,
    /// The firmware's private copies.
    fw_stamps: GpuArray<u32, B>,
    #[pin]
    slots: Mutex<Slots>,
    /// What debugfs shows (written under `slots`' lock).
    usage: Arc<EventUsage>,
}

impl<B: HeapBacking> EventManager<B> {
    /// Allocates both stamp arrays, every slot free.
    ///
    /// # Errors
    ///
    /// Those of the heaps.
    pub(crate) fn new(heaps: &KernelHeaps<B>) -> Result<Arc<Self>> {
        let stamps = GpuArray::zeroed(&heaps.shared, NUM_EVENTS)?;
        let fw_stamps = GpuArray::zeroed(&heaps.private, NUM_EVENTS)?;
        let free = Slot {
            owner: None,
            issued: EventValue::ZERO,
        };
        let slot = KVec::from_elem(free, NUM_EVENTS, GFP_KERNEL)?;
        let usage = Arc::new(EventUsage::new(), GFP_KERNEL)?;
        Arc::pin_init(
            try_pin_init!(Self {
                stamps,
                fw_stamps,
                slots <- new_mutex!(Slots { slot, cursor: 0 }),
                usage,
            }? Error),
            GFP_KERNEL,
        )
    }

    /// GPU address of the shared stamp array.
    pub(crate) fn stamps_va(&self) -> u64 {
        self.stamps.va()
    }

    /// GPU address of the firmware-stamp array.
    pub(crate) fn fw_stamps_va(&self) -> u64 {
        self.fw_stamps.va()
    }

    /// What debugfs shows of the slots.
    pub(crate) fn usage(&self) -> Arc<EventUsage> {
        self.usage.clone()
    }

    /// How many slots are held.
    pub(crate) fn in_use(&self) -> usize {
        self.slots
            .lock()
            .slot
            .iter()
            .filter(|s| s.owner.is_some())
            .count()
    }

    /// Takes a free slot for `owner`, searching round-robin from after the last one taken.
    ///
    /// # Errors
    ///
    /// [`EBUSY`] when all 128 slots are held.
    pub(crate) fn alloc(self: &Arc<Self>, owner: OwnerId) -> Result<EventSlot<B>> {
        let mut slots = self.slots.lock();
        let start = slots.cursor;
        let index = (0..NUM_EVENTS)
            .map(|i| (start + i) % NUM_EVENTS)
            .find(|&i| slots.slot.get(i).is_some_and(|s| s.owner.is_none()))
            .ok_or(EBUSY)?;
        let slot = slots.slot.get_mut(index).ok_or(EINVAL)?;
        slot.owner = Some(owner);
        slots.cursor = (index + 1) % NUM_EVENTS;
        self.usage.set(index, true);
        self.usage
            .taken
            .store(self.usage.taken.load(Relaxed) + 1, Relaxed);
        Ok(EventSlot {
            manager: self.clone(),
            index,
            owner,
        })
    }

    /// What slot `index`'s shared stamp reads.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for an index past the last slot.
    pub(crate) fn stamp(&self, index: usize) -> Result<EventValue> {
        if index >= NUM_EVENTS {
            return Err(EINVAL);
        }
        Ok(EventValue(self.stamps.mem().read_u32(index * 4)?))
    }

    /// Handles an Event Flag's bitmap: calls `f(slot, owner, stamp)` for every set bit, in
    /// slot order, with the slot's owner (`None` for a slot nobody holds) and what its stamp
    /// reads now. Returns how many bits were set.
    ///
    /// The slot lock is not held while `f` runs, so `f` may take or free slots.
    ///
    /// # Errors
    ///
    /// Those of reading the stamps (none in practice: the array has all 128).
    pub(crate) fn signalled(
        &self,
        firing: &[u32; FIRING_WORDS],
        mut f: impl FnMut(usize, Option<OwnerId>, EventValue),
    ) -> Result<usize> {
        let mut count = 0;
        for (word, &bits) in firing.iter().enumerate() {
            let mut bits = bits;
            while bits != 0 {
                let index = word * 32 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let owner = self.slots.lock().slot.get(index).and_then(|s| s.owner);
                f(index, owner, self.stamp(index)?);
                count += 1;
            }
        }
        Ok(count)
    }

    fn release(&self, index: usize, owner: OwnerId) {
        let mut slots = self.slots.lock();
        if let Some(slot) = slots.slot.get_mut(index) {
            if slot.owner == Some(owner) {
                slot.owner = None;
                self.usage.set(index, false);
            }
        }
    }
}

/// A held event slot; given back when dropped.
pub(crate) struct EventSlot<B: HeapBacking> {
    manager: Arc<EventManager<B>>,
    index: usize,
    owner: OwnerId,
}

impl<B: HeapBacking> EventSlot<B> {
    /// The slot's number, as commands and Flags name it.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// GPU address of this slot's shared stamp.
    pub(crate) fn stamp_va(&self) -> u64 {
        self.manager.stamps_va() + self.index as u64 * 4
    }

    /// GPU address of this slot's firmware stamp.
    pub(crate) fn fw_stamp_va(&self) -> u64 {
        self.manager.fw_stamps_va() + self.index as u64 * 4
    }

    /// Hands out the value of the next command on this slot.
    pub(crate) fn next_value(&self) -> EventValue {
        let mut slots = self.manager.slots.lock();
        match slots.slot.get_mut(self.index) {
            Some(slot) => {
                slot.issued = slot.issued.next();
                slot.issued
            }
            // Not reached: `alloc` only hands out indexes of existing slots.
            None => EventValue::ZERO,
        }
    }

    /// What the slot's shared stamp reads.
    ///
    /// # Errors
    ///
    /// None in practice (the index is always in range).
    pub(crate) fn current(&self) -> Result<EventValue> {
        self.manager.stamp(self.index)
    }
}

impl<B: HeapBacking> Drop for EventSlot<B> {
    fn drop(&mut self) {
        self.manager.release(self.index, self.owner);
    }
}

#[kunit_tests(asahi_event)]
mod tests {
    use super::*;
    use crate::{
        fw::common::PtrClass,
        mem::{
            class_accepts,
            test_backing::MemBacking, //
        },
    };

    fn manager() -> Result<Arc<EventManager<MemBacking>>> {
        let heaps = KernelHeaps::new(MemBacking::new)?;
        EventManager::new(&heaps)
    }

    #[test]
    fn values_step_by_0x100_and_compare_across_the_wrap() {
        let a = EventValue(0xffff_ff00);
        let b = a.next();
        assert_eq!(b.raw(), 0);
        assert_eq!(b.steps_after(a), 1);
        assert_eq!(a.steps_after(b), -1);
        assert!(b.has_reached(a));
        assert!(!a.has_reached(b));
        assert!(a.has_reached(a));
        // The low byte is not part of the count.
        assert_eq!(EventValue(0x2ff).steps_after(EventValue(0x200)), 0);
    }

    #[test]
    fn stamps_live_in_the_heaps_the_firmware_expects() -> Result {
        let m = manager()?;
        assert!(class_accepts(PtrClass::Shared, m.stamps_va()));
        assert!(class_accepts(PtrClass::Private, m.fw_stamps_va()));
        let s = m.alloc(1)?;
        assert_eq!(s.stamp_va(), m.stamps_va() + s.index() as u64 * 4);
        assert_eq!(s.fw_stamp_va(), m.fw_stamps_va() + s.index() as u64 * 4);
        Ok(())
    }

    #[test]
    fn all_128_slots_can_be_held_then_allocation_fails_with_ebusy() -> Result {
        let m = manager()?;
        let mut held = KVec::new();
        for owner in 0..NUM_EVENTS as u64 {
            held.push(m.alloc(owner)?, GFP_KERNEL)?;
        }
        assert_eq!(m.in_use(), NUM_EVENTS);
        assert_eq!(m.alloc(999).err(), Some(EBUSY));
        // Every slot once.
        let mut seen = [false; NUM_EVENTS];
        for s in held.iter() {
            assert!(!seen[s.index()]);
            seen[s.index()] = true;
        }
        drop(held.pop());
        assert_eq!(m.in_use(), NUM_EVENTS - 1);
        assert!(m.alloc(999).is_ok());
        Ok(())
    }

    #[test]
    fn a_freed_slot_is_not_handed_straight_back() -> Result {
        let m = manager()?;
        let first = m.alloc(1)?;
        let index = first.index();
        drop(first);
        let second = m.alloc(2)?;
        assert!(second.index() != index);
        assert_eq!(m.in_use(), 1);
        Ok(())
    }

    #[test]
    fn values_keep_counting_across_owners() -> Result {
        let m = manager()?;
        let s = m.alloc(1)?;
        let index = s.index();
        let v1 = s.next_value();
        let v2 = s.next_value();
        assert_eq!(v2.steps_after(v1), 1);
        drop(s);
        // Walk the cursor round to the same slot again.
        let mut others = KVec::new();
        loop {
            let t = m.alloc(2)?;
            if t.index() == index {
                assert_eq!(t.next_value().steps_after(v2), 1);
                break;
            }
            others.push(t, GFP_KERNEL)?;
        }
        Ok(())
    }

    #[test]
    fn a_flag_reports_each_set_slot_with_its_owner_and_stamp() -> Result {
        let m = manager()?;
        let s = m.alloc(42)?;
        let v = s.next_value();
        // The firmware finishes the command: it writes the value into the shared stamp.
        m.stamps.mem().write_u32(s.index() * 4, v.raw())?;
        let mut firing = [0u32; FIRING_WORDS];
        firing[s.index() / 32] |= 1 << (s.index() % 32);
        // And a slot nobody holds.
        let stray = (s.index() + 64) % NUM_EVENTS;
        firing[stray / 32] |= 1 << (stray % 32);
        let mut got = KVec::new();
        let n = m.signalled(&firing, |slot, owner, stamp| {
            let _ = got.push((slot, owner, stamp), GFP_KERNEL);
        })?;
        assert_eq!(n, 2);
        assert_eq!(got.len(), 2);
        let (lo, hi) = if s.index() < stray { (0, 1) } else { (1, 0) };
        assert_eq!(got[lo], (s.index(), Some(42), v));
        assert_eq!(got[hi], (stray, None, EventValue::ZERO));
        assert!(s.current()?.has_reached(v));
        Ok(())
    }

    #[test]
    fn the_last_slot_of_the_bitmap_is_slot_127() -> Result {
        let m = manager()?;
        let mut firing = [0u32; FIRING_WORDS];
        firing[3] = 1 << 31;
        let mut slot_seen = None;
        m.signalled(&firing, |slot, _, _| slot_seen = Some(slot))?;
        assert_eq!(slot_seen, Some(127));
        assert_eq!(m.stamp(NUM_EVENTS).err(), Some(EINVAL));
        Ok(())
    }
}
