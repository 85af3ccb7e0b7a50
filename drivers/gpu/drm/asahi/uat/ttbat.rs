// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The TTBAT: the GPU's table of context roots, in the `ttbs` reserved region.
//!
//! 64 entries of {TTB0, TTB1}, one per context slot; an entry is the physical address of a
//! root table, bit 0 = valid and the ASID (the slot number) in bits 63:48. The firmware reads
//! it when it switches contexts, so every change is made under the handoff lock, which the
//! [`HandoffGuard`] parameter proves. Facts: asahi-driver-facts §6.3
//! (jannau/linux:drivers/gpu/drm/asahi/mmu.rs).

use kernel::prelude::*;

use super::{
    handoff::{
        HandoffGuard,
        SharedMem, //
    },
    slots::NUM_SLOTS, //
};

/// Size of the table.
pub(crate) const SIZE: usize = NUM_SLOTS * 16;
const VALID: u64 = 1;

/// Encodes a TTBAT entry for the root at `root_pa` in `slot`.
pub(crate) const fn entry(root_pa: u64, slot: u8) -> u64 {
    root_pa | VALID | ((slot as u64) << 48)
}

/// The context table.
pub(crate) struct Ttbat<M: SharedMem> {
    mem: M,
}

impl<M: SharedMem> Ttbat<M> {
    /// Wraps the table memory.
    pub(crate) fn new(mem: M) -> Self {
        Self { mem }
    }

    /// Points `slot` at the given roots (`None` = invalid), under the handoff lock.
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for a slot out of range or a root that is not 16 KiB aligned.
    pub(crate) fn set<H: SharedMem>(
        &self,
        _lock: &HandoffGuard<'_, H>,
        slot: u8,
        ttb0: Option<u64>,
        ttb1: Option<u64>,
    ) -> Result {
        let i = usize::from(slot);
        if i >= NUM_SLOTS {
            return Err(EINVAL);
        }
        let enc = |root: Option<u64>| -> Result<u64> {
            match root {
                None => Ok(0),
                Some(pa) if pa & (super::pte::PAGE_SIZE - 1) == 0 && pa >> 48 == 0 => {
                    Ok(entry(pa, slot))
                }
                Some(_) => Err(EINVAL),
            }
        };
        let (e0, e1) = (enc(ttb0)?, enc(ttb1)?);
        self.mem.write_u64(i * 16, e0);
        self.mem.write_u64(i * 16 + 8, e1);
        self.mem.mb();
        Ok(())
    }

    /// Invalidates `slot` if its TTB0 still points at `root_pa` (a VM going away); returns
    /// whether it did, in which case the caller invalidates the slot's ASID.
    pub(crate) fn clear_if<H: SharedMem>(
        &self,
        lock: &HandoffGuard<'_, H>,
        slot: u8,
        root_pa: u64,
    ) -> bool {
        let (ttb0, _) = self.get(slot);
        ttb0 == entry(root_pa, slot) && self.set(lock, slot, None, None).is_ok()
    }

    /// Reads both entries of `slot` (zeros for a slot out of range).
    pub(crate) fn get(&self, slot: u8) -> (u64, u64) {
        let i = usize::from(slot);
        if i >= NUM_SLOTS {
            return (0, 0);
        }
        (self.mem.read_u64(i * 16), self.mem.read_u64(i * 16 + 8))
    }
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_uat_ttbat)]
mod tests {
    use super::super::handoff::{
        self,
        test_mem::TestMem,
        Handoff, //
    };
    use super::*;

    #[test]
    fn entries_carry_address_valid_bit_and_asid() {
        assert_eq!(entry(0x8_0123_4000, 0), 0x0000_0008_0123_4001);
        assert_eq!(entry(0x8_0123_4000, 63), 0x003f_0008_0123_4001);
        assert_eq!(SIZE, 0x400);
    }

    #[test]
    fn set_get_clear() -> Result {
        let t = Ttbat::new(TestMem::new(SIZE)?);
        let mut h = Handoff::init(TestMem::new(handoff::SIZE)?, 100);
        let g = h.lock()?;
        t.set(&g, 0, Some(0x8_0000_4000), Some(0x8_0000_8000))?;
        t.set(&g, 5, Some(0x9_0000_0000), None)?;
        assert_eq!(t.get(0), (0x8_0000_4001, 0x8_0000_8001));
        assert_eq!(t.get(5), (0x0005_0009_0000_0001, 0));
        assert_eq!(t.get(63), (0, 0));
        // Out of range or misaligned roots change nothing.
        assert_eq!(t.set(&g, 64, None, None), Err(EINVAL));
        assert_eq!(t.set(&g, 5, Some(0x9_0000_0000), Some(0x2000)), Err(EINVAL));
        assert_eq!(t.get(5), (0x0005_0009_0000_0001, 0));
        // A VM only clears the slot if it still owns it.
        assert!(!t.clear_if(&g, 5, 0xa_0000_0000));
        assert!(t.clear_if(&g, 5, 0x9_0000_0000));
        assert_eq!(t.get(5), (0, 0));
        Ok(())
    }
}
