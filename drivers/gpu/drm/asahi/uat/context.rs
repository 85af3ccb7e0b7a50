// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! GPU contexts: the kernel context and user VMs.
//!
//! Context slot 0 is the kernel's: its lower half is a table the driver owns (only a
//! buffer-manager control page lives there) and its upper half is the bootloader's
//! `pagetables` root, of which the driver manages the window
//! [`KERNEL_UPPER_START`]..[`KERNEL_UPPER_END`] (asahi-driver-facts §6.2). Every user VM owns
//! a lower-half table and borrows a slot from [`SlotAllocator`] while it has work queued
//! ([`VmBind`]); binding to a slot the VM did not have last time writes the TTBAT entry under
//! the handoff lock and invalidates the slot's ASID. On G14X parts user contexts also see the
//! kernel upper half (the firmware reads a control word from there in user context), so their
//! TTB1 is the kernel's (§6.3).
//!
//! TLB rules kept here: kernel mappings use ASID 0; a user unmap is invalidated on the slot
//! the VM last held (a slot given to another VM since then was invalidated on that rebind);
//! a VM going away clears its TTBAT entry if it still has one, and invalidates that ASID.
//!
//! Not yet here: the coprocessor-cache flush before unmapping cached firmware mappings (needs
//! the firmware control channel; the handoff side is [`Handoff::post_flush`]).

use kernel::{
    new_mutex,
    prelude::*,
    sync::{
        Arc,
        Mutex, //
    }, //
};

use super::{
    handoff::{
        Handoff,
        SharedMem, //
    },
    pgtable::{
        PageTable,
        TableAlloc,
        TableMem,
        IAS, //
    },
    pte::{
        Prot,
        Scope, //
    },
    slots::{
        SlotAllocator,
        SlotLease,
        SlotToken,
        KERNEL_SLOT, //
    },
    tlb::{
        self,
        Request, //
    },
    ttbat::Ttbat,
};

/// Start of the kernel upper-half window the driver manages.
pub(crate) const KERNEL_UPPER_START: u64 = 0xffff_ffa0_0000_0000;
/// End (exclusive) of that window.
pub(crate) const KERNEL_UPPER_END: u64 = 0xffff_ffb0_0000_0000;
/// Lower-half range user VMs may map (`IOVA_USER_USABLE_RANGE`).
pub(crate) const USER_START: u64 = 0x4000;
/// End (exclusive) of the user range.
pub(crate) const USER_END: u64 = 0x7f_ffff_8000;

/// Static configuration of the UAT.
#[derive(Clone, Copy)]
pub(crate) struct UatConfig {
    /// Output address bits of this SoC (40 or 42).
    pub(crate) oas: u32,
    /// Whether user contexts must see the kernel upper half (G14X).
    pub(crate) user_sees_kernel: bool,
    /// Use a single user slot (module parameter `robust_isolation`).
    pub(crate) robust_isolation: bool,
}

/// The UAT: TTBAT, handoff, slots and the kernel context.
///
/// `A` allocates table pages, `R` is the bootloader's TTB1 root, `H` and `T` are the
/// `handoff` and `ttbs` regions.
#[pin_data]
pub(crate) struct Uat<A: TableAlloc + Clone, R: TableMem, H: SharedMem, T: SharedMem> {
    #[pin]
    handoff: Mutex<Handoff<H>>,
    ttbat: Ttbat<T>,
    slots: Arc<SlotAllocator>,
    #[pin]
    kernel_lower: Mutex<PageTable<A>>,
    #[pin]
    kernel_upper: Mutex<PageTable<A, R>>,
    alloc: A,
    cfg: UatConfig,
    ttb1_pa: u64,
}

impl<A, R, H, T> Uat<A, R, H, T>
where
    A: TableAlloc + Clone,
    R: TableMem,
    H: SharedMem,
    T: SharedMem,
{
    /// Sets up the kernel context on `ttb1_root` and installs it in TTBAT slot 0.
    ///
    /// # Errors
    ///
    /// [`EBUSY`] when the bootloader's root already uses the driver's window, [`ETIMEDOUT`]
    /// when the handoff lock cannot be taken, [`ENOMEM`].
    pub(crate) fn new(
        table_alloc: A,
        ttb1_root: R,
        mut handoff: Handoff<H>,
        table: Ttbat<T>,
        config: UatConfig,
    ) -> Result<Arc<Self>> {
        let cfg = config;
        let lower = PageTable::new(table_alloc.clone(), Scope::NonGlobal, 0, 1 << IAS, cfg.oas)?;
        let upper = PageTable::adopt(
            table_alloc.clone(),
            ttb1_root,
            Scope::Global,
            KERNEL_UPPER_START,
            KERNEL_UPPER_END,
            cfg.oas,
        )?;
        let ttb1_pa = upper.root_phys();
        let upper_pa = ttb1_pa;
        {
            let guard = handoff.lock()?;
            table.set(&guard, KERNEL_SLOT, Some(lower.root_phys()), Some(ttb1_pa))?;
        }
        tlb::invalidate(Request::Asid(KERNEL_SLOT.into()));
        let slot_alloc = Arc::pin_init(SlotAllocator::new(cfg.robust_isolation), GFP_KERNEL)?;
        Arc::pin_init(
            try_pin_init!(Self {
                handoff <- new_mutex!(handoff),
                ttbat: table,
                slots: slot_alloc,
                kernel_lower <- new_mutex!(lower),
                kernel_upper <- new_mutex!(upper),
                alloc: table_alloc,
                cfg: config,
                ttb1_pa: upper_pa,
            }? Error),
            GFP_KERNEL,
        )
    }

    /// Whether the firmware has announced itself in the handoff region.
    pub(crate) fn firmware_ready(&self) -> bool {
        self.handoff.lock().firmware_ready()
    }

    /// Maps a kernel (upper-half) range for the firmware and the GPU.
    ///
    /// # Errors
    ///
    /// As [`PageTable::map`].
    pub(crate) fn map_kernel(&self, va: u64, pa: u64, size: u64, prot: Prot) -> Result {
        self.kernel_upper.lock().map(va, pa, size, prot)
    }

    /// Maps the physical chunks `(pa, len)` back to back from the kernel VA `va`.
    ///
    /// # Errors
    ///
    /// As [`PageTable::map_sg`].
    pub(crate) fn map_kernel_sg<I>(&self, va: u64, chunks: I, prot: Prot) -> Result
    where
        I: Iterator<Item = (u64, u64)> + Clone,
    {
        self.kernel_upper.lock().map_sg(va, chunks, prot)
    }

    /// Unmaps a kernel (upper-half) range and invalidates it on ASID 0.
    ///
    /// # Errors
    ///
    /// As [`PageTable::unmap`].
    pub(crate) fn unmap_kernel(&self, va: u64, size: u64) -> Result<usize> {
        self.kernel_upper.lock().unmap(va, size, |va, size| {
            tlb::invalidate(Request::Range {
                asid: KERNEL_SLOT.into(),
                va,
                size,
            })
        })
    }

    /// Unmaps a kernel range **without** invalidating the TLB: a deliberate missed
    /// invalidation, for the live self-tests that check the GPU side reports it. The caller
    /// must invalidate `[va, va + size)` on ASID 0 before reusing anything that was mapped.
    ///
    /// # Errors
    ///
    /// As [`PageTable::unmap`].
    #[cfg(CONFIG_DRM_ASAHI_SELFTEST)]
    pub(crate) fn unmap_kernel_leaving_tlb(&self, va: u64, size: u64) -> Result<usize> {
        self.kernel_upper.lock().unmap(va, size, |_, _| {})
    }

    /// Maps a range of the kernel context's lower half.
    ///
    /// # Errors
    ///
    /// As [`PageTable::map`].
    pub(crate) fn map_kernel_lower(&self, va: u64, pa: u64, size: u64, prot: Prot) -> Result {
        self.kernel_lower.lock().map(va, pa, size, prot)
    }

    /// Creates an empty user VM.
    ///
    /// # Errors
    ///
    /// [`ENOMEM`].
    pub(crate) fn new_vm(self: &Arc<Self>) -> Result<Arc<Vm<A, R, H, T>>> {
        let pt = PageTable::new(
            self.alloc.clone(),
            Scope::NonGlobal,
            USER_START,
            USER_END,
            self.cfg.oas,
        )?;
        Arc::pin_init(
            try_pin_init!(Vm {
                uat: self.clone(),
                inner <- new_mutex!(VmInner {
                    pt,
                    token: None,
                    lease: None,
                    users: 0,
                }),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// TTB1 entry of user contexts: the kernel upper half on G14X, nothing otherwise.
    fn user_ttb1(&self) -> Option<u64> {
        self.cfg.user_sees_kernel.then_some(self.ttb1_pa)
    }
}

struct VmInner<A: TableAlloc> {
    pt: PageTable<A>,
    /// The slot this VM had last (kept while idle so it can get it back cheaply).
    token: Option<SlotToken>,
    /// The slot it holds while bound.
    lease: Option<SlotLease>,
    /// Live [`VmBind`]s.
    users: usize,
}

/// A user VM: a lower-half page table that borrows a context slot while bound.
#[pin_data(PinnedDrop)]
pub(crate) struct Vm<A, R, H, T>
where
    A: TableAlloc + Clone,
    R: TableMem,
    H: SharedMem,
    T: SharedMem,
{
    uat: Arc<Uat<A, R, H, T>>,
    #[pin]
    inner: Mutex<VmInner<A>>,
}

impl<A, R, H, T> Vm<A, R, H, T>
where
    A: TableAlloc + Clone,
    R: TableMem,
    H: SharedMem,
    T: SharedMem,
{
    /// Physical address of the VM's root table.
    pub(crate) fn root_phys(&self) -> u64 {
        self.inner.lock().pt.root_phys()
    }

    /// The slot the VM holds now, if bound.
    pub(crate) fn slot(&self) -> Option<u8> {
        self.inner.lock().lease.as_ref().map(|l| l.grant().slot)
    }

    /// Binds the VM to a context slot until the returned guard is dropped, waiting for a
    /// free slot if needed.
    ///
    /// # Errors
    ///
    /// [`ERESTARTSYS`] when interrupted while waiting, [`ETIMEDOUT`] when the handoff lock
    /// cannot be taken.
    pub(crate) fn bind(self: &Arc<Self>) -> Result<VmBind<A, R, H, T>> {
        let mut inner = self.inner.lock();
        if let Some(lease) = &inner.lease {
            let slot = lease.grant().slot;
            inner.users += 1;
            return Ok(VmBind {
                vm: self.clone(),
                slot,
            });
        }
        let uat = &self.uat;
        let lease = uat.slots.get(inner.token)?;
        let grant = lease.grant();
        if grant.changed {
            let mut handoff = uat.handoff.lock();
            let guard = handoff.lock()?;
            if guard.cur_slot() == Some(u32::from(grant.slot)) {
                pr_warn!(
                    "rebinding slot {} while the firmware has it loaded\n",
                    grant.slot
                );
            }
            uat.ttbat.set(
                &guard,
                grant.slot,
                Some(inner.pt.root_phys()),
                uat.user_ttb1(),
            )?;
            drop(guard);
            tlb::invalidate(Request::Asid(grant.slot.into()));
        }
        inner.token = Some(grant.token);
        inner.lease = Some(lease);
        inner.users = 1;
        Ok(VmBind {
            vm: self.clone(),
            slot: grant.slot,
        })
    }

    /// Maps `[va, va + size)` to the physical range at `pa`.
    ///
    /// # Errors
    ///
    /// As [`PageTable::map`].
    pub(crate) fn map(&self, va: u64, pa: u64, size: u64, prot: Prot) -> Result {
        self.inner.lock().pt.map(va, pa, size, prot)
    }

    /// Maps `[va, va + size)` over whatever is there, invalidating replaced pages.
    ///
    /// # Errors
    ///
    /// As [`PageTable::remap`].
    pub(crate) fn remap(&self, va: u64, pa: u64, size: u64, prot: Prot) -> Result {
        let mut inner = self.inner.lock();
        let replaced = inner.pt.remap(va, pa, size, prot)?;
        if replaced != 0 {
            if let Some(t) = inner.token {
                tlb::invalidate(Request::Range {
                    asid: t.slot().into(),
                    va,
                    size,
                });
            }
        }
        Ok(())
    }

    /// Unmaps `[va, va + size)` and returns the number of pages that were mapped.
    ///
    /// # Errors
    ///
    /// As [`PageTable::unmap`].
    pub(crate) fn unmap(&self, va: u64, size: u64) -> Result<usize> {
        let mut inner = self.inner.lock();
        let token = inner.token;
        inner.pt.unmap(va, size, |va, size| {
            if let Some(t) = token {
                tlb::invalidate(Request::Range {
                    asid: t.slot().into(),
                    va,
                    size,
                });
            }
        })
    }

    /// Looks up the leaf descriptor of `va`.
    pub(crate) fn lookup(&self, va: u64) -> Option<u64> {
        self.inner.lock().pt.lookup(va)
    }
}

#[pinned_drop]
impl<A, R, H, T> PinnedDrop for Vm<A, R, H, T>
where
    A: TableAlloc + Clone,
    R: TableMem,
    H: SharedMem,
    T: SharedMem,
{
    fn drop(self: Pin<&mut Self>) {
        let (token, root) = {
            let inner = self.inner.lock();
            (inner.token, inner.pt.root_phys())
        };
        let Some(token) = token else {
            return;
        };
        let mut handoff = self.uat.handoff.lock();
        match handoff.lock() {
            Ok(guard) => {
                if self.uat.ttbat.clear_if(&guard, token.slot(), root) {
                    drop(guard);
                    tlb::invalidate(Request::Asid(token.slot().into()));
                }
            }
            // The firmware is wedged; the tables are freed anyway, and the slot may still
            // point at them: invalidate so at least no stale translation survives.
            Err(_) => {
                pr_err!("handoff lock timeout while destroying a VM\n");
                tlb::invalidate(Request::Asid(token.slot().into()));
            }
        };
    }
}

/// Keeps a VM bound to its slot (held by each queued job).
pub(crate) struct VmBind<A, R, H, T>
where
    A: TableAlloc + Clone,
    R: TableMem,
    H: SharedMem,
    T: SharedMem,
{
    vm: Arc<Vm<A, R, H, T>>,
    slot: u8,
}

impl<A, R, H, T> VmBind<A, R, H, T>
where
    A: TableAlloc + Clone,
    R: TableMem,
    H: SharedMem,
    T: SharedMem,
{
    /// The slot (= ASID) the VM is bound to.
    pub(crate) fn slot(&self) -> u8 {
        self.slot
    }
}

impl<A, R, H, T> Drop for VmBind<A, R, H, T>
where
    A: TableAlloc + Clone,
    R: TableMem,
    H: SharedMem,
    T: SharedMem,
{
    fn drop(&mut self) {
        let mut inner = self.vm.inner.lock();
        inner.users -= 1;
        if inner.users == 0 {
            inner.lease = None;
        }
    }
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_uat_context)]
mod tests {
    use super::super::{
        handoff::{
            self,
            test_mem::TestMem, //
        },
        pgtable::test_alloc::{
            Registry,
            TestAlloc,
            TestMem as TestTable, //
        },
        pte::{
            self,
            PROT_FW_SHARED_RW,
            PROT_GPU_SHARED_RO,
            PROT_GPU_SHARED_RW, //
        },
        ttbat,
    };
    use super::*;

    type TestUat = Uat<TestAlloc, TestTable, TestMem, TestMem>;
    const PG: u64 = pte::PAGE_SIZE;

    fn setup(
        user_sees_kernel: bool,
        robust_isolation: bool,
    ) -> Result<(Arc<TestUat>, Arc<Registry>)> {
        let (alloc, reg) = TestAlloc::new()?;
        let root = alloc.alloc_table()?;
        let cfg = UatConfig {
            oas: 42,
            user_sees_kernel,
            robust_isolation,
        };
        let handoff = Handoff::init(TestMem::new(handoff::SIZE)?, 1000);
        let uat = Uat::new(
            alloc,
            root,
            handoff,
            Ttbat::new(TestMem::new(ttbat::SIZE)?),
            cfg,
        )?;
        Ok((uat, reg))
    }

    #[test]
    fn kernel_context_is_slot_zero() -> Result {
        let (uat, reg) = setup(false, false)?;
        let lower = uat.kernel_lower.lock().root_phys();
        assert_eq!(uat.ttbat.get(0), (lower | 1, uat.ttb1_pa | 1));
        uat.map_kernel(
            0xffff_ffa8_0000_0000,
            0x8_0000_0000,
            2 * PG,
            PROT_FW_SHARED_RW,
        )?;
        let want = pte::page_desc(0x8_0000_4000, PROT_FW_SHARED_RW, Scope::Global);
        assert_eq!(reg.walk(uat.ttb1_pa, 0xffff_ffa8_0000_4000), Some(want));
        assert_eq!(
            uat.map_kernel(0xffff_ff90_0000_0000, 0, PG, PROT_FW_SHARED_RW),
            Err(ERANGE)
        );
        assert_eq!(uat.unmap_kernel(0xffff_ffa8_0000_0000, 2 * PG)?, 2);
        uat.map_kernel_lower(0x20_0000_0000, 0x8_0000_0000, PG, PROT_GPU_SHARED_RW)?;
        Ok(())
    }

    #[test]
    fn vms_bind_to_slots_and_keep_them() -> Result {
        let (uat, reg) = setup(false, false)?;
        let a = uat.new_vm()?;
        let b = uat.new_vm()?;
        let ba = a.bind()?;
        let bb = b.bind()?;
        assert_eq!((ba.slot(), bb.slot()), (1, 2));
        assert_eq!(uat.ttbat.get(1), (ttbat::entry(a.root_phys(), 1), 0));
        assert_eq!(uat.ttbat.get(2), (ttbat::entry(b.root_phys(), 2), 0));
        // A second bind of a bound VM shares the slot; the slot stays until the last drops.
        let ba2 = a.bind()?;
        assert_eq!(ba2.slot(), 1);
        drop(ba);
        assert_eq!(a.slot(), Some(1));
        drop(ba2);
        assert_eq!(a.slot(), None);
        // Mappings work while unbound, through the VM's own root.
        a.map(0x10_0000, 0x8_0000_0000, PG, PROT_GPU_SHARED_RW)?;
        let want = pte::page_desc(0x8_0000_0000, PROT_GPU_SHARED_RW, Scope::NonGlobal);
        assert_eq!(reg.walk(a.root_phys(), 0x10_0000), Some(want));
        // Rebinding gets slot 1 back; the entry is the same.
        let ba = a.bind()?;
        assert_eq!(ba.slot(), 1);
        assert_eq!(uat.ttbat.get(1), (ttbat::entry(a.root_phys(), 1), 0));
        // Outside the user range.
        assert_eq!(a.map(0, 0x8_0000_0000, PG, PROT_GPU_SHARED_RW), Err(ERANGE));
        assert_eq!(
            a.map(USER_END, 0x8_0000_0000, PG, PROT_GPU_SHARED_RW),
            Err(ERANGE)
        );
        drop((ba, bb));
        Ok(())
    }

    #[test]
    fn user_unmaps_and_remaps() -> Result {
        let (uat, _reg) = setup(false, false)?;
        let a = uat.new_vm()?;
        a.map(0x10_0000, 0x8_0000_0000, 4 * PG, PROT_GPU_SHARED_RW)?;
        a.remap(0x10_0000, 0x9_0000_0000, PG, PROT_GPU_SHARED_RO)?;
        let want = pte::page_desc(0x9_0000_0000, PROT_GPU_SHARED_RO, Scope::NonGlobal);
        assert_eq!(a.lookup(0x10_0000), Some(want));
        let bind = a.bind()?;
        assert_eq!(a.unmap(0x10_0000, 4 * PG)?, 4);
        assert_eq!(a.lookup(0x10_0000), None);
        drop(bind);
        Ok(())
    }

    #[test]
    fn g14x_user_contexts_see_the_kernel_half() -> Result {
        let (uat, _reg) = setup(true, false)?;
        let a = uat.new_vm()?;
        let b = a.bind()?;
        assert_eq!(
            uat.ttbat.get(1),
            (ttbat::entry(a.root_phys(), 1), ttbat::entry(uat.ttb1_pa, 1))
        );
        drop(b);
        Ok(())
    }

    #[test]
    fn robust_isolation_moves_vms_through_one_slot() -> Result {
        let (uat, _reg) = setup(false, true)?;
        let a = uat.new_vm()?;
        let b = uat.new_vm()?;
        drop(a.bind()?);
        assert_eq!(uat.ttbat.get(1).0, ttbat::entry(a.root_phys(), 1));
        let bb = b.bind()?;
        assert_eq!(bb.slot(), 1);
        assert_eq!(uat.ttbat.get(1).0, ttbat::entry(b.root_phys(), 1));
        // While b holds the only slot, a cannot get one without waiting.
        assert!(matches!(uat.slots.try_get(None), Err(e) if e == EBUSY));
        drop(bb);
        Ok(())
    }

    #[test]
    fn dropping_a_vm_clears_its_ttbat_entry() -> Result {
        let (uat, _reg) = setup(false, false)?;
        let a = uat.new_vm()?;
        let b = uat.new_vm()?;
        drop(a.bind()?);
        drop(b.bind()?);
        assert_ne!(uat.ttbat.get(1), (0, 0));
        drop(a);
        assert_eq!(uat.ttbat.get(1), (0, 0));
        assert_ne!(uat.ttbat.get(2), (0, 0));
        drop(b);
        assert_eq!(uat.ttbat.get(2), (0, 0));
        Ok(())
    }
}
