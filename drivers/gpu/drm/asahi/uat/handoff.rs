// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The `handoff` region: how the driver and the GPU firmware share the TTBAT.
//!
//! Both sides change or read the context table (TTBAT) and the firmware caches which context
//! it has loaded, so they agree on it through a small shared structure: two magic words (each
//! side announces itself), a two-party Dekker lock, the firmware's current context slot, and
//! one cache-flush request per context slot plus one for the kernel. Layout and protocol:
//! asahi-driver-facts §6.4 (AsahiLinux/m1n1:proxyclient/m1n1/fw/agx/handoff.py,
//! jannau/linux:drivers/gpu/drm/asahi/mmu.rs).
//!
//! The code talks to the region through [`SharedMem`], so KUnit runs the lock against plain
//! kernel memory with a scripted "firmware" on the other side.

use kernel::prelude::*;

/// Memory shared with the firmware, addressed by byte offset.
///
/// Implementations perform each access as one single-copy-atomic volatile access of the given
/// width. Offsets are the driver's own constants; an out-of-range offset is a driver bug.
pub(crate) trait SharedMem: Unpin {
    /// Reads the byte at `off`.
    fn read_u8(&self, off: usize) -> u8;
    /// Reads the aligned `u32` at `off`.
    fn read_u32(&self, off: usize) -> u32;
    /// Reads the aligned `u64` at `off`.
    fn read_u64(&self, off: usize) -> u64;
    /// Writes the byte at `off`.
    fn write_u8(&self, off: usize, val: u8);
    /// Writes the aligned `u32` at `off`.
    fn write_u32(&self, off: usize, val: u32);
    /// Writes the aligned `u64` at `off`.
    fn write_u64(&self, off: usize, val: u64);
    /// Full barrier: every access before it is visible to the firmware before any access after
    /// it (the firmware runs on another processor, outside the CPU's coherency shortcuts).
    fn mb(&self);
}

/// Value both sides write to their magic word.
pub(crate) const MAGIC: u64 = 0x4b1d_0000_0000_0002;

/// Size of the region.
pub(crate) const SIZE: usize = 0x648;
const MAGIC_AP: usize = 0x000;
const MAGIC_FW: usize = 0x008;
const LOCK_AP: usize = 0x010;
const LOCK_FW: usize = 0x011;
const TURN: usize = 0x014;
const CUR_SLOT: usize = 0x018;
const FLUSH: usize = 0x020;
const FLUSH_STRIDE: usize = 3 * 8;
const UNK3: usize = 0x640;

/// Number of flush request slots: one per context plus one for the kernel.
pub(crate) const FLUSH_SLOTS: usize = 65;
/// Flush request slot of kernel (upper-half) mappings.
pub(crate) const FLUSH_KERNEL: usize = 64;

/// Flush request states.
const FLUSH_IDLE: u64 = 0;
const FLUSH_REQUESTED: u64 = 1;
const FLUSH_DONE: u64 = 2;

/// Spins of the lock loops before giving up on an unresponsive firmware.
pub(crate) const DEFAULT_SPIN_LIMIT: u32 = 10_000_000;

/// The driver's side of the handoff region.
pub(crate) struct Handoff<M: SharedMem> {
    mem: M,
    spin_limit: u32,
}

impl<M: SharedMem> Handoff<M> {
    /// Takes over the region at driver start: clears the driver's lock flag, the turn and
    /// every flush request, then announces the driver with its magic word.
    ///
    /// The firmware must not be running yet (it starts after this, and answers with its own
    /// magic word, see [`Handoff::firmware_ready`]).
    pub(crate) fn init(mem: M, spin_limit: u32) -> Self {
        mem.write_u8(LOCK_AP, 0);
        mem.write_u32(TURN, 0);
        mem.write_u64(UNK3, 0);
        for slot in 0..FLUSH_SLOTS {
            mem.write_u64(FLUSH + slot * FLUSH_STRIDE, FLUSH_IDLE);
        }
        mem.mb();
        mem.write_u64(MAGIC_AP, MAGIC);
        mem.mb();
        Self { mem, spin_limit }
    }

    /// The shared memory, for KUnit tests that play the firmware.
    #[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
    pub(crate) fn mem(&self) -> &M {
        &self.mem
    }

    /// Whether the firmware has announced itself.
    pub(crate) fn firmware_ready(&self) -> bool {
        self.mem.read_u64(MAGIC_FW) == MAGIC
    }

    /// Spins until `done` holds, at most the spin limit.
    fn spin_until(&self, mut done: impl FnMut(&M) -> bool) -> Result {
        for _ in 0..self.spin_limit {
            if done(&self.mem) {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Err(ETIMEDOUT)
    }

    /// Takes the lock against the firmware.
    ///
    /// Dekker's algorithm, driver side: raise our flag; while the firmware's is raised, and it
    /// is the firmware's turn (`turn != 0`), lower our flag and wait for our turn. The `&mut`
    /// receiver serialises CPU threads; the owner keeps the handoff behind a mutex.
    ///
    /// # Errors
    ///
    /// [`ETIMEDOUT`] when the firmware holds the lock for longer than the spin limit; our flag
    /// is lowered again in that case.
    pub(crate) fn lock(&mut self) -> Result<HandoffGuard<'_, M>> {
        let m = &self.mem;
        m.write_u8(LOCK_AP, 1);
        m.mb();
        let mut spins = 0u32;
        while m.read_u8(LOCK_FW) != 0 {
            if m.read_u32(TURN) != 0 {
                m.write_u8(LOCK_AP, 0);
                m.mb();
                self.spin_until(|m| m.read_u32(TURN) == 0)?;
                m.write_u8(LOCK_AP, 1);
                m.mb();
            }
            spins += 1;
            if spins >= self.spin_limit {
                m.write_u8(LOCK_AP, 0);
                m.mb();
                return Err(ETIMEDOUT);
            }
            core::hint::spin_loop();
        }
        // Acquire: nothing we do under the lock may be observed before we held it.
        m.mb();
        Ok(HandoffGuard { handoff: self })
    }

    /// The current value of a flush request slot's state (for the flush protocol owner).
    fn flush_state(&self, slot: usize) -> u64 {
        self.mem.read_u64(FLUSH + slot * FLUSH_STRIDE)
    }

    /// Posts a coprocessor-cache flush request for `[addr, addr + size)` in `slot`
    /// (a context slot, or [`FLUSH_KERNEL`]); the caller then notifies the firmware.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for a slot out of range, [`EBUSY`] when the slot has a request in flight.
    pub(crate) fn post_flush(&self, slot: usize, addr: u64, size: u64) -> Result {
        if slot >= FLUSH_SLOTS {
            return Err(EINVAL);
        }
        if self.flush_state(slot) != FLUSH_IDLE {
            return Err(EBUSY);
        }
        let base = FLUSH + slot * FLUSH_STRIDE;
        self.mem.write_u64(base + 8, addr);
        self.mem.write_u64(base + 16, size);
        self.mem.mb();
        self.mem.write_u64(base, FLUSH_REQUESTED);
        self.mem.mb();
        Ok(())
    }

    /// Completes the flush request in `slot` once the firmware has acknowledged it.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for a slot out of range, [`EIO`] when the firmware has not marked the
    /// request done (the request is left for the caller to retry or report).
    pub(crate) fn finish_flush(&self, slot: usize) -> Result {
        if slot >= FLUSH_SLOTS {
            return Err(EINVAL);
        }
        if self.flush_state(slot) != FLUSH_DONE {
            return Err(EIO);
        }
        self.mem.write_u64(FLUSH + slot * FLUSH_STRIDE, FLUSH_IDLE);
        self.mem.mb();
        Ok(())
    }
}

/// Proof that the driver holds the handoff lock; dropping it releases the lock.
pub(crate) struct HandoffGuard<'a, M: SharedMem> {
    handoff: &'a mut Handoff<M>,
}

impl<M: SharedMem> HandoffGuard<'_, M> {
    /// The context slot the firmware currently has loaded for lower-half accesses, if any.
    pub(crate) fn cur_slot(&self) -> Option<u32> {
        match self.handoff.mem.read_u32(CUR_SLOT) {
            0 | u32::MAX => None,
            slot => Some(slot),
        }
    }
}

impl<M: SharedMem> Drop for HandoffGuard<'_, M> {
    fn drop(&mut self) {
        let m = &self.handoff.mem;
        // Give the turn to the firmware, then release our flag after everything done under
        // the lock.
        m.write_u32(TURN, 1);
        m.mb();
        m.write_u8(LOCK_AP, 0);
        m.mb();
    }
}

/// KUnit helper: [`SharedMem`] over kernel memory, with an optional scripted peer.
#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
pub(crate) mod test_mem {
    use super::*;
    use core::cell::{
        Cell,
        RefCell, //
    };

    /// Called before every read with the memory and the offset read; plays the firmware.
    pub(crate) type Peer = fn(&TestMem, usize);

    /// Byte-addressed test memory.
    pub(crate) struct TestMem {
        bytes: RefCell<KVec<u8>>,
        peer: Cell<Option<Peer>>,
        /// Number of reads so far (the peer's clock).
        pub(crate) reads: Cell<usize>,
        /// Number of barriers so far.
        pub(crate) barriers: Cell<usize>,
        /// Scratch state for the peer.
        pub(crate) state: Cell<u32>,
        /// Log of driver writes of `LOCK_AP` (the value written), for checking back-off.
        pub(crate) lock_ap_log: RefCell<KVec<u8>>,
    }

    impl TestMem {
        /// Zeroed memory of `size` bytes.
        pub(crate) fn new(size: usize) -> Result<Self> {
            Ok(Self {
                bytes: RefCell::new(KVec::from_elem(0u8, size, GFP_KERNEL)?),
                peer: Cell::new(None),
                reads: Cell::new(0),
                barriers: Cell::new(0),
                state: Cell::new(0),
                lock_ap_log: RefCell::new(KVec::new()),
            })
        }

        /// Installs the scripted peer.
        pub(crate) fn set_peer(&self, peer: Peer) {
            self.peer.set(Some(peer));
        }

        /// Peer-side write (not logged, no hook).
        pub(crate) fn poke(&self, off: usize, bytes: &[u8]) {
            self.bytes.borrow_mut()[off..off + bytes.len()].copy_from_slice(bytes);
        }

        /// Plays a wedged firmware: it holds the lock, on its turn, and never lets go.
        pub(crate) fn firmware_holds_lock_forever(&self) {
            self.poke(LOCK_FW, &[1]);
            self.poke(TURN, &1u32.to_le_bytes());
        }

        /// Peer-side read.
        pub(crate) fn peek<const N: usize>(&self, off: usize) -> [u8; N] {
            let mut out = [0u8; N];
            out.copy_from_slice(&self.bytes.borrow()[off..off + N]);
            out
        }

        fn before_read(&self, off: usize) {
            self.reads.set(self.reads.get() + 1);
            if let Some(peer) = self.peer.get() {
                peer(self, off);
            }
        }
    }

    impl SharedMem for TestMem {
        fn read_u8(&self, off: usize) -> u8 {
            self.before_read(off);
            self.peek::<1>(off)[0]
        }

        fn read_u32(&self, off: usize) -> u32 {
            self.before_read(off);
            u32::from_le_bytes(self.peek(off))
        }

        fn read_u64(&self, off: usize) -> u64 {
            self.before_read(off);
            u64::from_le_bytes(self.peek(off))
        }

        fn write_u8(&self, off: usize, val: u8) {
            if off == LOCK_AP {
                let _ = self.lock_ap_log.borrow_mut().push(val, GFP_KERNEL);
            }
            self.poke(off, &[val]);
        }

        fn write_u32(&self, off: usize, val: u32) {
            self.poke(off, &val.to_le_bytes());
        }

        fn write_u64(&self, off: usize, val: u64) {
            self.poke(off, &val.to_le_bytes());
        }

        fn mb(&self) {
            self.barriers.set(self.barriers.get() + 1);
            core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        }
    }
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_uat_handoff)]
mod tests {
    use super::test_mem::*;
    use super::*;

    fn fw_lock(m: &TestMem, held: bool, turn: u32) {
        m.poke(LOCK_FW, &[u8::from(held)]);
        m.poke(TURN, &turn.to_le_bytes());
    }

    #[test]
    fn init_announces_the_driver() -> Result {
        let m = TestMem::new(SIZE)?;
        m.poke(LOCK_AP, &[1]);
        m.poke(FLUSH + 3 * FLUSH_STRIDE, &2u64.to_le_bytes());
        let h = Handoff::init(m, 100);
        assert_eq!(u64::from_le_bytes(h.mem.peek(MAGIC_AP)), MAGIC);
        assert_eq!(h.mem.peek::<1>(LOCK_AP)[0], 0);
        assert_eq!(u64::from_le_bytes(h.mem.peek(FLUSH + 3 * FLUSH_STRIDE)), 0);
        assert!(!h.firmware_ready());
        h.mem.poke(MAGIC_FW, &MAGIC.to_le_bytes());
        assert!(h.firmware_ready());
        // The last flush slot ends right before unk2/unk3.
        assert_eq!(FLUSH + FLUSH_SLOTS * FLUSH_STRIDE, 0x638);
        Ok(())
    }

    #[test]
    fn uncontended_lock_and_unlock() -> Result {
        let mut h = Handoff::init(TestMem::new(SIZE)?, 100);
        {
            let g = h.lock()?;
            assert_eq!(g.handoff.mem.peek::<1>(LOCK_AP)[0], 1);
            assert_eq!(g.cur_slot(), None);
        }
        // Unlocked: flag down, turn handed to the firmware.
        assert_eq!(h.mem.peek::<1>(LOCK_AP)[0], 0);
        assert_eq!(u32::from_le_bytes(h.mem.peek(TURN)), 1);
        Ok(())
    }

    #[test]
    fn cur_slot_values() -> Result {
        let mut h = Handoff::init(TestMem::new(SIZE)?, 100);
        for (raw, want) in [(0u32, None), (u32::MAX, None), (5, Some(5)), (63, Some(63))] {
            h.mem.poke(CUR_SLOT, &raw.to_le_bytes());
            assert_eq!(h.lock()?.cur_slot(), want);
        }
        Ok(())
    }

    /// Firmware holds the lock with its turn; it releases (flag down, turn to us) after 10
    /// reads.
    fn fw_releases_after_10_reads(m: &TestMem, _off: usize) {
        if m.reads.get() == 10 {
            fw_lock(m, false, 0);
        }
    }

    #[test]
    fn contended_lock_backs_off_on_firmware_turn() -> Result {
        let m = TestMem::new(SIZE)?;
        let mut h = Handoff::init(m, 1000);
        h.mem.lock_ap_log.borrow_mut().clear();
        fw_lock(&h.mem, true, 1);
        h.mem.reads.set(0);
        h.mem.set_peer(fw_releases_after_10_reads);
        {
            let g = h.lock()?;
            // Raised, lowered while waiting for the turn, raised again.
            assert_eq!(&g.handoff.mem.lock_ap_log.borrow()[..], &[1, 0, 1]);
        }
        assert_eq!(&h.mem.lock_ap_log.borrow()[..], &[1, 0, 1, 0]);
        Ok(())
    }

    /// Firmware holds its flag but it is our turn: it must back off, dropping its flag after
    /// 5 reads.
    fn fw_yields_after_5_reads(m: &TestMem, _off: usize) {
        if m.reads.get() == 5 {
            m.poke(LOCK_FW, &[0]);
        }
    }

    #[test]
    fn contended_lock_keeps_flag_on_our_turn() -> Result {
        let mut h = Handoff::init(TestMem::new(SIZE)?, 1000);
        h.mem.lock_ap_log.borrow_mut().clear();
        fw_lock(&h.mem, true, 0);
        h.mem.reads.set(0);
        h.mem.set_peer(fw_yields_after_5_reads);
        drop(h.lock()?);
        // Never lowered our flag while waiting.
        assert_eq!(&h.mem.lock_ap_log.borrow()[..], &[1, 0]);
        Ok(())
    }

    #[test]
    fn dead_firmware_times_out_with_flag_down() -> Result {
        let mut h = Handoff::init(TestMem::new(SIZE)?, 50);
        // Firmware holds it forever, on its turn, then on ours.
        for turn in [1, 0] {
            fw_lock(&h.mem, true, turn);
            assert!(matches!(h.lock(), Err(e) if e == ETIMEDOUT));
            assert_eq!(h.mem.peek::<1>(LOCK_AP)[0], 0);
        }
        // Once it lets go, the lock works again.
        fw_lock(&h.mem, false, 0);
        drop(h.lock()?);
        Ok(())
    }

    /// Firmware that acknowledges any posted flush request.
    fn fw_acks_flushes(m: &TestMem, _off: usize) {
        for slot in 0..FLUSH_SLOTS {
            let off = FLUSH + slot * FLUSH_STRIDE;
            if u64::from_le_bytes(m.peek(off)) == FLUSH_REQUESTED {
                m.poke(off, &FLUSH_DONE.to_le_bytes());
            }
        }
    }

    #[test]
    fn flush_requests() -> Result {
        let h = Handoff::init(TestMem::new(SIZE)?, 100);
        h.post_flush(FLUSH_KERNEL, 0xffff_ffa0_0000_0000, 0x8000)?;
        let base = FLUSH + FLUSH_KERNEL * FLUSH_STRIDE;
        assert_eq!(u64::from_le_bytes(h.mem.peek(base)), FLUSH_REQUESTED);
        assert_eq!(
            u64::from_le_bytes(h.mem.peek(base + 8)),
            0xffff_ffa0_0000_0000
        );
        assert_eq!(u64::from_le_bytes(h.mem.peek(base + 16)), 0x8000);
        // In flight: a second request and an early finish are refused.
        assert_eq!(h.post_flush(FLUSH_KERNEL, 0, 0x4000), Err(EBUSY));
        assert_eq!(h.finish_flush(FLUSH_KERNEL), Err(EIO));
        h.mem.set_peer(fw_acks_flushes);
        h.finish_flush(FLUSH_KERNEL)?;
        assert_eq!(u64::from_le_bytes(h.mem.peek(base)), FLUSH_IDLE);
        assert_eq!(h.post_flush(FLUSH_SLOTS, 0, 0x4000), Err(EINVAL));
        assert_eq!(h.finish_flush(FLUSH_SLOTS), Err(EINVAL));
        Ok(())
    }
}
