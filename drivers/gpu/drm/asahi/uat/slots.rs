// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Context slots: which user VM the GPU can reach through which TTBAT entry.
//!
//! The TTBAT has 64 entries; slot 0 is the kernel context, slots 1–63 are lent to user VMs
//! while they have work queued. Rebinding a VM to a different slot costs a TTBAT write under
//! the handoff lock and an ASID invalidation, so slots are sticky: a VM keeps a token for the
//! slot it last had, and gets the same slot back without any of that work if nobody took it
//! meanwhile. Free slots are handed out least recently used first, so a slot idle for long is
//! the one that loses its old owner. When every slot is busy, callers wait.
//! With `robust_isolation` only one slot is used, so no two user VMs are ever live together.
//! Facts: asahi-driver-facts §6.3 (jannau/linux:drivers/gpu/drm/asahi/mmu.rs, slotalloc.rs).

use kernel::{
    new_condvar,
    new_mutex,
    prelude::*,
    sync::{
        Arc,
        CondVar,
        Mutex, //
    }, //
};

/// TTBAT entries.
pub(crate) const NUM_SLOTS: usize = 64;
/// The kernel context's slot.
pub(crate) const KERNEL_SLOT: u8 = 0;
/// First slot lent to user VMs.
pub(crate) const FIRST_USER_SLOT: u8 = 1;

/// A VM's claim on the slot it last had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SlotToken {
    slot: u8,
    id: u64,
}

impl SlotToken {
    /// The slot this token names.
    pub(crate) fn slot(&self) -> u8 {
        self.slot
    }
}

/// The result of acquiring a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grant {
    /// The slot (= ASID).
    pub(crate) slot: u8,
    /// Keep this to ask for the same slot next time.
    pub(crate) token: SlotToken,
    /// The slot had another owner (or none): the TTBAT entry must be rewritten and the ASID
    /// invalidated before use.
    pub(crate) changed: bool,
}

#[derive(Clone, Copy, Default)]
struct SlotState {
    /// Owner id, 0 = never owned.
    owner: u64,
    busy: bool,
    /// Release time, on the pool's clock; 0 = never used.
    last_used: u64,
}

/// The allocation policy, without locking (see [`SlotAllocator`]).
pub(crate) struct SlotPool {
    slots: [SlotState; NUM_SLOTS],
    /// Number of user slots in use by the pool.
    count: usize,
    clock: u64,
    next_id: u64,
}

impl SlotPool {
    /// A pool of every user slot, or only the first one with `robust_isolation`.
    pub(crate) fn new(robust_isolation: bool) -> Self {
        Self {
            slots: [SlotState::default(); NUM_SLOTS],
            count: if robust_isolation {
                1
            } else {
                NUM_SLOTS - usize::from(FIRST_USER_SLOT)
            },
            clock: 0,
            next_id: 1,
        }
    }

    fn user_slots(&self) -> core::ops::Range<usize> {
        let first = usize::from(FIRST_USER_SLOT);
        first..first + self.count
    }

    /// Acquires a slot for the VM holding `token` (`None` the first time), or returns `None`
    /// when every slot is busy.
    pub(crate) fn try_get(&mut self, token: Option<SlotToken>) -> Option<Grant> {
        if let Some(t) = token {
            let i = usize::from(t.slot);
            if self.user_slots().contains(&i) && self.slots[i].owner == t.id && !self.slots[i].busy
            {
                self.slots[i].busy = true;
                return Some(Grant {
                    slot: t.slot,
                    token: t,
                    changed: false,
                });
            }
        }
        let i = self
            .user_slots()
            .filter(|&i| !self.slots[i].busy)
            .min_by_key(|&i| (self.slots[i].last_used, i))?;
        let slot = u8::try_from(i).ok()?;
        let id = match token {
            Some(t) => t.id,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                id
            }
        };
        self.slots[i].owner = id;
        self.slots[i].busy = true;
        Some(Grant {
            slot,
            token: SlotToken { slot, id },
            changed: true,
        })
    }

    /// Returns `slot`; its owner can get it back cheaply until someone else takes it.
    pub(crate) fn put(&mut self, slot: u8) {
        let i = usize::from(slot);
        if let Some(s) = self.slots.get_mut(i) {
            self.clock += 1;
            s.busy = false;
            s.last_used = self.clock;
        }
    }

    /// Number of slots currently lent out.
    pub(crate) fn busy(&self) -> usize {
        self.user_slots().filter(|&i| self.slots[i].busy).count()
    }
}

/// [`SlotPool`] behind a mutex, with waiting for a free slot.
#[pin_data]
pub(crate) struct SlotAllocator {
    #[pin]
    pool: Mutex<SlotPool>,
    #[pin]
    freed: CondVar,
}

impl SlotAllocator {
    /// Creates the allocator.
    pub(crate) fn new(robust_isolation: bool) -> impl PinInit<Self> {
        pin_init!(Self {
            pool <- new_mutex!(SlotPool::new(robust_isolation)),
            freed <- new_condvar!(),
        })
    }

    /// Acquires a slot, waiting while all are busy.
    ///
    /// # Errors
    ///
    /// [`ERESTARTSYS`] when a signal interrupts the wait.
    pub(crate) fn get(self: &Arc<Self>, token: Option<SlotToken>) -> Result<SlotLease> {
        let mut pool = self.pool.lock();
        loop {
            if let Some(grant) = pool.try_get(token) {
                return Ok(SlotLease {
                    alloc: self.clone(),
                    grant,
                });
            }
            if self.freed.wait_interruptible(&mut pool) {
                return Err(ERESTARTSYS);
            }
        }
    }

    /// Acquires a slot without waiting.
    ///
    /// # Errors
    ///
    /// [`EBUSY`] when every slot is busy.
    pub(crate) fn try_get(self: &Arc<Self>, token: Option<SlotToken>) -> Result<SlotLease> {
        let grant = self.pool.lock().try_get(token).ok_or(EBUSY)?;
        Ok(SlotLease {
            alloc: self.clone(),
            grant,
        })
    }
}

/// A slot lent to a VM; dropping it returns the slot and wakes one waiter.
pub(crate) struct SlotLease {
    alloc: Arc<SlotAllocator>,
    grant: Grant,
}

impl SlotLease {
    /// What was granted.
    pub(crate) fn grant(&self) -> Grant {
        self.grant
    }
}

impl Drop for SlotLease {
    fn drop(&mut self) {
        self.alloc.pool.lock().put(self.grant.slot);
        self.alloc.freed.notify_one();
    }
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_uat_slots)]
mod tests {
    use super::*;

    #[test]
    fn fresh_vms_get_distinct_slots_in_order() {
        let mut p = SlotPool::new(false);
        for want in 1..NUM_SLOTS {
            let g = p.try_get(None).unwrap_or(Grant {
                slot: 0,
                token: SlotToken { slot: 0, id: 0 },
                changed: false,
            });
            assert_eq!(usize::from(g.slot), want);
            assert!(g.changed);
        }
        assert_eq!(p.busy(), 63);
        // All busy: nothing, and slot 0 is never lent.
        assert!(p.try_get(None).is_none());
    }

    #[test]
    fn returning_vm_gets_its_slot_back_unchanged() {
        let mut p = SlotPool::new(false);
        let a = p.try_get(None);
        let b = p.try_get(None);
        let (Some(a), Some(b)) = (a, b) else {
            panic!("no slot");
        };
        p.put(a.slot);
        p.put(b.slot);
        let again = p.try_get(Some(a.token));
        assert_eq!(
            again,
            Some(Grant {
                changed: false,
                ..a
            })
        );
        // A VM whose slot is currently busy (another job of the same VM holds it) is not
        // given the same slot twice.
        let other = p.try_get(Some(a.token));
        assert!(matches!(other, Some(g) if g.slot != a.slot && g.changed));
    }

    #[test]
    fn least_recently_used_slot_is_evicted() {
        let mut p = SlotPool::new(false);
        let mut grants = KVec::new();
        for _ in 0..63 {
            if let Some(g) = p.try_get(None) {
                assert!(grants.push(g, GFP_KERNEL).is_ok());
            }
        }
        // Release 10, 3, 40 in that order: a newcomer takes 10 first, then 3.
        for s in [10, 3, 40] {
            p.put(s);
        }
        let n1 = p.try_get(None).map(|g| (g.slot, g.changed));
        let n2 = p.try_get(None).map(|g| (g.slot, g.changed));
        assert_eq!(n1, Some((10, true)));
        assert_eq!(n2, Some((3, true)));
        // The old owner of 10 comes back: it lost its slot, gets 40 (the only free one),
        // keeps its identity, and must rewrite the TTBAT.
        let old10 = grants[9].token;
        assert_eq!(old10.slot, 10);
        let back = p.try_get(Some(old10));
        assert!(matches!(back, Some(g) if g.slot == 40 && g.changed && g.token.id == old10.id));
        // The old owner of 3 now finds nothing free.
        assert!(p.try_get(Some(grants[2].token)).is_none());
    }

    #[test]
    fn robust_isolation_uses_one_slot() {
        let mut p = SlotPool::new(true);
        let a = p.try_get(None);
        assert!(matches!(a, Some(g) if g.slot == FIRST_USER_SLOT));
        assert!(p.try_get(None).is_none());
        p.put(FIRST_USER_SLOT);
        let b = p.try_get(None);
        assert!(matches!(b, Some(g) if g.slot == FIRST_USER_SLOT && g.changed));
        // A stale token for a slot outside the pool is ignored.
        p.put(FIRST_USER_SLOT);
        let stale = SlotToken { slot: 7, id: 1 };
        assert!(matches!(p.try_get(Some(stale)), Some(g) if g.slot == FIRST_USER_SLOT));
    }

    #[test]
    fn leases_return_slots_on_drop() -> Result {
        let alloc = Arc::pin_init(SlotAllocator::new(true), GFP_KERNEL)?;
        let lease = alloc.get(None)?;
        let token = lease.grant().token;
        assert!(lease.grant().changed);
        assert!(matches!(alloc.try_get(None), Err(e) if e == EBUSY));
        drop(lease);
        let again = alloc.try_get(Some(token))?;
        assert_eq!(again.grant().slot, FIRST_USER_SLOT);
        assert!(!again.grant().changed);
        drop(again);
        assert_eq!(alloc.pool.lock().busy(), 0);
        Ok(())
    }
}
