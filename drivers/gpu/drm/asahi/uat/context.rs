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
//! TLB rules kept here: the boot-time flush is `VMALLE1` (the bootloader's kernel mappings
//! are global, which an ASID flush would not drop); kernel mappings use ASID 0; a user unmap
//! or remap is invalidated on the slot the VM last held (a slot given to another VM since
//! then was invalidated on that rebind).
//!
//! Teardown (shared/ARCHITECTURE.md, "Firmware lifetime"): page tables are freed only once
//! the GPU cannot reach them: clear the TTBAT entry (under the handoff lock), invalidate,
//! then free ([`PageTable::retire`]). A VM that was never bound was never visible and is
//! freed at once. When the handoff lock cannot be taken the entry may still point at the
//! tables, so they are leaked instead, with a message. Once the coprocessor has been started
//! ([`Uat::coprocessor_started`]) the kernel context is never torn down: the firmware may
//! use it until the SoC resets, so a dropped [`Uat`] leaks its tables on purpose.
//!
//! The coprocessor-cache flush of firmware-cached kernel memory is driven from
//! [`crate::gpu::fw_cache`], which needs the firmware control channel; this module only
//! exposes the handoff side ([`Uat::post_flush`], [`Uat::finish_flush`]).

use core::marker::PhantomData;

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
    }, //
};

use super::{
    handoff::{
        Handoff,
        SharedMem, //
    },
    pgtable::{
        KernelTables,
        PageTable,
        TableAlloc,
        TableMem,
        IAS, //
    },
    pte::{
        self,
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
        GpuTlb,
        Request,
        TlbOps, //
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

/// What a [`Uat`] runs on: where table pages come from, the bootloader's root and regions,
/// and the TLB. The driver uses [`MachineUat`]; KUnit plugs in fakes that record.
pub(crate) trait UatHw {
    /// Allocator of table pages.
    type Tables: TableAlloc + Clone;
    /// The bootloader's kernel (TTB1) root table.
    type Root: TableMem;
    /// The `handoff` region.
    type Handoff: SharedMem;
    /// The `ttbs` region (the TTBAT).
    type Ttbs: SharedMem;
    /// TLB maintenance.
    type Tlb: TlbOps;
}

/// The real machine: kernel pages, the reserved regions as `R`/`M`, the GPU's TLB.
pub(crate) struct MachineUat<R, M>(PhantomData<(R, M)>);

impl<R: TableMem, M: SharedMem> UatHw for MachineUat<R, M> {
    type Tables = KernelTables;
    type Root = R;
    type Handoff = M;
    type Ttbs = M;
    type Tlb = GpuTlb;
}

/// A user page table of a UAT running on `P`.
type UserTable<P> = PageTable<<P as UatHw>::Tables>;
/// The kernel context's upper half: a window of the bootloader's root.
type KernelUpper<P> = PageTable<<P as UatHw>::Tables, <P as UatHw>::Root>;

/// The UAT: TTBAT, handoff, slots and the kernel context.
#[pin_data(PinnedDrop)]
pub(crate) struct Uat<P: UatHw> {
    #[pin]
    handoff: Mutex<Handoff<P::Handoff>>,
    ttbat: Ttbat<P::Ttbs>,
    slots: Arc<SlotAllocator>,
    #[pin]
    kernel_lower: Mutex<UserTable<P>>,
    #[pin]
    kernel_upper: Mutex<KernelUpper<P>>,
    alloc: P::Tables,
    tlb: P::Tlb,
    cfg: UatConfig,
    ttb1_pa: u64,
    /// Set (never cleared) just before the coprocessor is released.
    started: Atomic<bool>,
}

impl<P: UatHw> Uat<P> {
    /// Sets up the kernel context on `ttb1_root`, installs it in TTBAT slot 0 and flushes
    /// the whole GPU TLB.
    ///
    /// # Errors
    ///
    /// [`EBUSY`] when the bootloader's root already uses the driver's window, [`ETIMEDOUT`]
    /// when the handoff lock cannot be taken, [`ENOMEM`].
    pub(crate) fn new(
        table_alloc: P::Tables,
        ttb1_root: P::Root,
        mut handoff: Handoff<P::Handoff>,
        table: Ttbat<P::Ttbs>,
        tlb: P::Tlb,
        config: UatConfig,
    ) -> Result<Arc<Self>> {
        let cfg = config;
        let mut lower =
            PageTable::new(table_alloc.clone(), Scope::NonGlobal, 0, 1 << IAS, cfg.oas)?;
        let mut upper = match PageTable::adopt(
            table_alloc.clone(),
            ttb1_root,
            Scope::Global,
            KERNEL_UPPER_START,
            KERNEL_UPPER_END,
            cfg.oas,
        ) {
            Ok(upper) => upper,
            Err(e) => {
                // Never published.
                lower.retire();
                return Err(e);
            }
        };
        let ttb1_pa = upper.root_phys();
        let slot_alloc = Arc::pin_init(SlotAllocator::new(cfg.robust_isolation), GFP_KERNEL);
        let slot_alloc = match slot_alloc {
            Ok(s) => s,
            Err(e) => {
                lower.retire();
                upper.retire();
                return Err(e);
            }
        };
        let installed = handoff.lock().and_then(|guard| {
            table.set(&guard, KERNEL_SLOT, Some(lower.root_phys()), Some(ttb1_pa))
        });
        if let Err(e) = installed {
            // Slot 0 may or may not have been written: keep the tables.
            pr_err!("cannot install the kernel GPU context: {:?}\n", e);
            return Err(e);
        }
        tlb.invalidate(Request::All);
        Arc::pin_init(
            try_pin_init!(Self {
                handoff <- new_mutex!(handoff),
                ttbat: table,
                slots: slot_alloc,
                kernel_lower <- new_mutex!(lower),
                kernel_upper <- new_mutex!(upper),
                alloc: table_alloc,
                tlb,
                cfg: config,
                ttb1_pa,
                started: Atomic::new(false),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// Whether the firmware has announced itself in the handoff region.
    pub(crate) fn firmware_ready(&self) -> bool {
        self.handoff.lock().firmware_ready()
    }

    /// Posts a coprocessor-cache flush of `[addr, addr + size)` in handoff flush slot `slot`
    /// (see [`Handoff::post_flush`]).
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for a slot out of range, [`EBUSY`] while the slot has a request in flight.
    pub(crate) fn post_flush(&self, slot: usize, addr: u64, size: u64) -> Result {
        self.handoff.lock().post_flush(slot, addr, size)
    }

    /// Retires the flush request in `slot` once the firmware acknowledged it (see
    /// [`Handoff::finish_flush`]).
    ///
    /// # Errors
    ///
    /// [`EINVAL`] for a slot out of range, [`EIO`] when the firmware has not acknowledged it.
    pub(crate) fn finish_flush(&self, slot: usize) -> Result {
        self.handoff.lock().finish_flush(slot)
    }

    /// Records that the coprocessor is about to be released: from now on nothing the GPU or
    /// its firmware can reach through this UAT is freed (see the module docs).
    pub(crate) fn mark_coprocessor_started(&self) {
        self.started.store(true, Relaxed);
    }

    /// Whether [`Uat::mark_coprocessor_started`] was called.
    pub(crate) fn coprocessor_started(&self) -> bool {
        self.started.load(Relaxed)
    }

    /// Physical address of the kernel context's upper-half (TTB1) root.
    pub(crate) fn kernel_root_phys(&self) -> u64 {
        self.ttb1_pa
    }

    /// The TLB this UAT invalidates.
    pub(crate) fn tlb(&self) -> &P::Tlb {
        &self.tlb
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
            self.tlb.invalidate(Request::Range {
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
    pub(crate) fn new_vm(self: &Arc<Self>) -> Result<Arc<Vm<P>>> {
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

/// Bytes of table pages (roots included) of `tables`.
fn table_bytes(tables: usize) -> u64 {
    (tables as u64 + 1) * pte::PAGE_SIZE
}

#[pinned_drop]
impl<P: UatHw> PinnedDrop for Uat<P> {
    /// Tears the kernel context down if the firmware never ran; otherwise leaves it to the
    /// firmware (the tables leak, see the module docs).
    fn drop(self: Pin<&mut Self>) {
        let mut lower = self.kernel_lower.lock();
        let mut upper = self.kernel_upper.lock();
        let bytes = table_bytes(lower.table_pages()) + table_bytes(upper.table_pages());
        if self.coprocessor_started() {
            pr_info!(
                "GPU coprocessor still running: keeping its kernel context ({} KiB of page tables)\n",
                bytes >> 10
            );
            return;
        }
        let mut handoff = self.handoff.lock();
        let cleared = handoff
            .lock()
            .and_then(|guard| self.ttbat.set(&guard, KERNEL_SLOT, None, None));
        if let Err(e) = cleared {
            pr_err!(
                "cannot clear the kernel GPU context ({:?}); leaking {} KiB of page tables\n",
                e,
                bytes >> 10
            );
            return;
        }
        upper.unhook();
        self.tlb.invalidate(Request::All);
        lower.retire();
        upper.retire();
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
pub(crate) struct Vm<P: UatHw> {
    uat: Arc<Uat<P>>,
    #[pin]
    inner: Mutex<VmInner<P::Tables>>,
}

impl<P: UatHw> Vm<P> {
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
    pub(crate) fn bind(self: &Arc<Self>) -> Result<VmBind<P>> {
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
            uat.tlb.invalidate(Request::Asid(grant.slot.into()));
        }
        inner.token = Some(grant.token);
        inner.lease = Some(lease);
        inner.users = 1;
        Ok(VmBind {
            vm: self.clone(),
            slot: grant.slot,
        })
    }

    /// Invalidates `[va, va + size)` in the slot the VM last held; a VM never bound was
    /// never visible to the GPU.
    fn invalidate(uat: &Uat<P>, token: Option<SlotToken>, va: u64, size: u64) {
        if let Some(t) = token {
            uat.tlb.invalidate(Request::Range {
                asid: t.slot().into(),
                va,
                size,
            });
        }
    }

    /// Maps `[va, va + size)` to the physical range at `pa`.
    ///
    /// # Errors
    ///
    /// As [`PageTable::map`].
    pub(crate) fn map(&self, va: u64, pa: u64, size: u64, prot: Prot) -> Result {
        self.inner.lock().pt.map(va, pa, size, prot)
    }

    /// Maps the physical chunks `(pa, len)` back to back from `va`.
    ///
    /// # Errors
    ///
    /// As [`PageTable::map_sg`]; on error nothing was changed.
    pub(crate) fn map_sg<I>(&self, va: u64, chunks: I, prot: Prot) -> Result
    where
        I: Iterator<Item = (u64, u64)> + Clone,
    {
        self.inner.lock().pt.map_sg(va, chunks, prot)
    }

    /// Maps `[va, va + size)` over whatever is there: replaced pages are unmapped and
    /// invalidated before the new ones are written (break-before-make).
    ///
    /// # Errors
    ///
    /// As [`PageTable::remap`].
    pub(crate) fn remap(&self, va: u64, pa: u64, size: u64, prot: Prot) -> Result {
        let mut inner = self.inner.lock();
        let token = inner.token;
        inner.pt.remap(va, pa, size, prot, |va, size| {
            Self::invalidate(&self.uat, token, va, size)
        })?;
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
            Self::invalidate(&self.uat, token, va, size)
        })
    }

    /// Looks up the leaf descriptor of `va`.
    pub(crate) fn lookup(&self, va: u64) -> Option<u64> {
        self.inner.lock().pt.lookup(va)
    }
}

#[pinned_drop]
impl<P: UatHw> PinnedDrop for Vm<P> {
    /// Takes the VM out of its slot, invalidates the slot, then frees the tables; leaks them
    /// when the slot cannot be cleared.
    fn drop(self: Pin<&mut Self>) {
        let mut inner = self.inner.lock();
        let Some(token) = inner.token else {
            // Never in the TTBAT: the GPU never saw these tables.
            inner.pt.retire();
            return;
        };
        let slot = token.slot();
        let root = inner.pt.root_phys();
        let mut handoff = self.uat.handoff.lock();
        match handoff.lock() {
            Ok(guard) => {
                // Another VM may hold the slot by now; it invalidated the ASID when it took it.
                self.uat.ttbat.clear_if(&guard, slot, root);
                drop(guard);
                self.uat.tlb.invalidate(Request::Asid(slot.into()));
                inner.pt.retire();
            }
            Err(e) => {
                // The slot may still point at the tables and the GPU may walk them.
                pr_err!(
                    "cannot clear GPU context slot {} ({:?}); leaking {} KiB of page tables\n",
                    slot,
                    e,
                    table_bytes(inner.pt.table_pages()) >> 10
                );
            }
        };
    }
}

/// Keeps a VM bound to its slot (held by each queued job).
pub(crate) struct VmBind<P: UatHw> {
    vm: Arc<Vm<P>>,
    slot: u8,
}

impl<P: UatHw> VmBind<P> {
    /// The slot (= ASID) the VM is bound to.
    pub(crate) fn slot(&self) -> u8 {
        self.slot
    }
}

impl<P: UatHw> Drop for VmBind<P> {
    fn drop(&mut self) {
        let mut inner = self.vm.inner.lock();
        inner.users -= 1;
        if inner.users == 0 {
            inner.lease = None;
        }
    }
}

/// KUnit's UAT, shared by the suites of the UAT modules.
#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
pub(crate) mod test_hw {
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
        tlb::recording::RecordingTlb,
        ttbat,
    };
    use super::*;

    /// KUnit's UAT: tables in the test registry, regions in test memory, a recording TLB.
    pub(crate) struct TestHw;

    impl UatHw for TestHw {
        type Tables = TestAlloc;
        type Root = TestTable;
        type Handoff = TestMem;
        type Ttbs = TestMem;
        type Tlb = Arc<RecordingTlb>;
    }

    /// What [`setup`] returns: the UAT, the registry of its table pages and its TLB.
    pub(crate) type TestSetup = (Arc<Uat<TestHw>>, Arc<Registry>, Arc<RecordingTlb>);

    /// A UAT over fresh test memory; its TLB records each request with the number of table
    /// pages still allocated at that moment.
    pub(crate) fn setup(user_sees_kernel: bool, robust_isolation: bool) -> Result<TestSetup> {
        let (alloc, reg) = TestAlloc::new()?;
        let root = alloc.alloc_table()?;
        let cfg = UatConfig {
            oas: 42,
            user_sees_kernel,
            robust_isolation,
        };
        let sampled = reg.clone();
        let tlb = Arc::new(RecordingTlb::new(move || sampled.live())?, GFP_KERNEL)?;
        let handoff = Handoff::init(TestMem::new(handoff::SIZE)?, 1000);
        let uat = Uat::new(
            alloc,
            root,
            handoff,
            Ttbat::new(TestMem::new(ttbat::SIZE)?),
            tlb.clone(),
            cfg,
        )?;
        Ok((uat, reg, tlb))
    }
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_uat_context)]
mod tests {
    use super::super::{
        pte::{
            self,
            PROT_FW_SHARED_RW,
            PROT_GPU_SHARED_RO,
            PROT_GPU_SHARED_RW, //
        },
        tlb::recording::RecordingTlb,
        ttbat,
    };
    use super::test_hw::*;
    use super::*;

    type TestUat = Uat<TestHw>;
    const PG: u64 = pte::PAGE_SIZE;

    /// The requests recorded since the last call, without their samples.
    fn requests(tlb: &RecordingTlb) -> KVec<Request> {
        let mut out = KVec::new();
        for (req, _) in tlb.take() {
            let _ = out.push(req, GFP_KERNEL);
        }
        out
    }

    fn range(asid: u16, va: u64, size: u64) -> Request {
        Request::Range { asid, va, size }
    }

    #[test]
    fn kernel_context_is_slot_zero_and_boot_flushes_everything() -> Result {
        let (uat, reg, tlb) = setup(false, false)?;
        // Global (bootloader) entries survive an ASID flush: the boot flush must be VMALLE1.
        assert_eq!(&requests(&tlb)[..], &[Request::All]);
        let lower = uat.kernel_lower.lock().root_phys();
        assert_eq!(uat.ttbat.get(0), (lower | 1, uat.ttb1_pa | 1));
        uat.map_kernel(
            0xffff_ffa8_0000_0000,
            0x8_0000_0000,
            2 * PG,
            PROT_FW_SHARED_RW,
        )?;
        let want = pte::page_desc(0x8_0000_4000, PROT_FW_SHARED_RW, Scope::Global);
        assert_eq!(reg.walk(uat.ttb1_pa, 0xffff_ffa8_0000_4000), Ok(Some(want)));
        assert_eq!(
            uat.map_kernel(0xffff_ff90_0000_0000, 0, PG, PROT_FW_SHARED_RW),
            Err(ERANGE)
        );
        // Mapping needs no invalidation; unmapping invalidates exactly the range on ASID 0.
        assert_eq!(requests(&tlb).len(), 0);
        assert_eq!(uat.unmap_kernel(0xffff_ffa8_0000_0000, 2 * PG)?, 2);
        assert_eq!(
            &requests(&tlb)[..],
            &[range(0, 0xffff_ffa8_0000_0000, 2 * PG)]
        );
        uat.map_kernel_lower(0x20_0000_0000, 0x8_0000_0000, PG, PROT_GPU_SHARED_RW)?;
        Ok(())
    }

    #[test]
    fn vms_bind_to_slots_and_keep_them() -> Result {
        let (uat, reg, tlb) = setup(false, false)?;
        tlb.take();
        let a = uat.new_vm()?;
        let b = uat.new_vm()?;
        let ba = a.bind()?;
        let bb = b.bind()?;
        assert_eq!((ba.slot(), bb.slot()), (1, 2));
        assert_eq!(uat.ttbat.get(1), (ttbat::entry(a.root_phys(), 1), 0));
        assert_eq!(uat.ttbat.get(2), (ttbat::entry(b.root_phys(), 2), 0));
        // Each new slot entry is followed by a flush of its ASID.
        assert_eq!(&requests(&tlb)[..], &[Request::Asid(1), Request::Asid(2)]);
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
        assert_eq!(reg.walk(a.root_phys(), 0x10_0000), Ok(Some(want)));
        // Rebinding gets slot 1 back; the entry is the same, so nothing is flushed.
        let ba = a.bind()?;
        assert_eq!(ba.slot(), 1);
        assert_eq!(uat.ttbat.get(1), (ttbat::entry(a.root_phys(), 1), 0));
        assert_eq!(requests(&tlb).len(), 0);
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
    fn user_unmaps_and_remaps_invalidate_the_vms_slot() -> Result {
        let (uat, _reg, tlb) = setup(false, false)?;
        let other = uat.new_vm()?;
        let a = uat.new_vm()?;
        drop(other.bind()?);
        tlb.take();
        // Never bound: the GPU never saw the VM, nothing to invalidate.
        a.map(0x10_0000, 0x8_0000_0000, 4 * PG, PROT_GPU_SHARED_RW)?;
        a.remap(0x10_0000, 0x9_0000_0000, PG, PROT_GPU_SHARED_RO)?;
        let want = pte::page_desc(0x9_0000_0000, PROT_GPU_SHARED_RO, Scope::NonGlobal);
        assert_eq!(a.lookup(0x10_0000), Some(want));
        assert_eq!(requests(&tlb).len(), 0);
        let bind = a.bind()?;
        assert_eq!(bind.slot(), 2);
        assert_eq!(&requests(&tlb)[..], &[Request::Asid(2)]);
        // Bound: unmap and remap of mapped pages invalidate exactly their range on slot 2.
        assert_eq!(a.unmap(0x10_0000, 2 * PG)?, 2);
        a.remap(
            0x10_0000 + 2 * PG,
            0x9_0000_0000,
            4 * PG,
            PROT_GPU_SHARED_RO,
        )?;
        assert_eq!(
            &requests(&tlb)[..],
            &[
                range(2, 0x10_0000, 2 * PG),
                range(2, 0x10_0000 + 2 * PG, 4 * PG)
            ]
        );
        // A remap over nothing mapped replaces nothing and needs no invalidation.
        a.remap(0x40_0000, 0x9_0000_0000, PG, PROT_GPU_SHARED_RO)?;
        assert_eq!(requests(&tlb).len(), 0);
        // Unbound again, the slot it last held is still the one invalidated.
        drop(bind);
        assert_eq!(a.unmap(0x10_0000, 6 * PG)?, 4);
        assert_eq!(&requests(&tlb)[..], &[range(2, 0x10_0000, 6 * PG)]);
        assert_eq!(a.lookup(0x10_0000 + 2 * PG), None);
        Ok(())
    }

    #[test]
    fn g14x_user_contexts_see_the_kernel_half() -> Result {
        let (uat, _reg, _tlb) = setup(true, false)?;
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
        let (uat, _reg, tlb) = setup(false, true)?;
        tlb.take();
        let a = uat.new_vm()?;
        let b = uat.new_vm()?;
        drop(a.bind()?);
        assert_eq!(uat.ttbat.get(1).0, ttbat::entry(a.root_phys(), 1));
        let bb = b.bind()?;
        assert_eq!(bb.slot(), 1);
        assert_eq!(uat.ttbat.get(1).0, ttbat::entry(b.root_phys(), 1));
        // Taking the slot over flushes it, so no walk through a's tables survives.
        assert_eq!(&requests(&tlb)[..], &[Request::Asid(1), Request::Asid(1)]);
        // While b holds the only slot, a cannot get one without waiting.
        assert!(matches!(uat.slots.try_get(None), Err(e) if e == EBUSY));
        drop(bb);
        Ok(())
    }

    #[test]
    fn dropping_a_vm_clears_its_slot_and_invalidates_before_freeing() -> Result {
        let (uat, reg, tlb) = setup(false, false)?;
        let a = uat.new_vm()?;
        let b = uat.new_vm()?;
        drop(a.bind()?);
        drop(b.bind()?);
        a.map(0x10_0000, 0x8_0000_0000, PG, PROT_GPU_SHARED_RW)?;
        tlb.take();
        assert!(uat.ttbat.get(1) != (0, 0));
        let before = reg.live();
        drop(a);
        assert_eq!(uat.ttbat.get(1), (0, 0));
        // The ASID flush came while a's root and its two tables were still allocated, and
        // they were freed after it.
        let log = tlb.take();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0], (Request::Asid(1), before));
        assert_eq!(reg.live(), before - 3);
        assert!(uat.ttbat.get(2) != (0, 0));
        drop(b);
        assert_eq!(uat.ttbat.get(2), (0, 0));
        assert_eq!(&requests(&tlb)[..], &[Request::Asid(2)]);
        // A VM that was never bound is freed at once, with nothing to invalidate.
        let c = uat.new_vm()?;
        c.map(0x10_0000, 0x8_0000_0000, PG, PROT_GPU_SHARED_RW)?;
        let before = reg.live();
        drop(c);
        assert_eq!(requests(&tlb).len(), 0);
        assert_eq!(reg.live(), before - 3);
        Ok(())
    }

    #[test]
    fn a_vm_dropped_after_a_handoff_timeout_leaks_its_tables() -> Result {
        let (uat, reg, tlb) = setup(false, false)?;
        let a = uat.new_vm()?;
        drop(a.bind()?);
        a.map(0x10_0000, 0x8_0000_0000, PG, PROT_GPU_SHARED_RW)?;
        let root = a.root_phys();
        tlb.take();
        let before = reg.live();
        uat.handoff.lock().mem().firmware_holds_lock_forever();
        drop(a);
        // Slot 1 may still be in use: its entry and every table stay, and stay walkable.
        assert_eq!(uat.ttbat.get(1).0, ttbat::entry(root, 1));
        assert_eq!(reg.live(), before);
        assert_eq!(
            reg.walk(root, 0x10_0000),
            Ok(Some(pte::page_desc(
                0x8_0000_0000,
                PROT_GPU_SHARED_RW,
                Scope::NonGlobal
            )))
        );
        Ok(())
    }

    #[test]
    fn uat_teardown_before_the_coprocessor_runs_frees_after_the_flush() -> Result {
        let (uat, reg, tlb) = setup(false, false)?;
        uat.map_kernel(0xffff_ffa0_0000_0000, 0x8_0000_0000, PG, PROT_FW_SHARED_RW)?;
        tlb.take();
        let before = reg.live();
        // Both roots and the upper half's two tables.
        assert_eq!(before, 4);
        drop(uat);
        let log = tlb.take();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0], (Request::All, before));
        assert_eq!(reg.live(), 0);
        Ok(())
    }

    #[test]
    fn uat_teardown_after_the_coprocessor_started_keeps_everything() -> Result {
        let (uat, reg, tlb) = setup(false, false)?;
        uat.map_kernel(0xffff_ffa0_0000_0000, 0x8_0000_0000, PG, PROT_FW_SHARED_RW)?;
        let ttb1 = uat.ttb1_pa;
        tlb.take();
        let before = reg.live();
        uat.mark_coprocessor_started();
        drop(uat);
        // The firmware keeps walking the kernel context until the SoC resets.
        assert_eq!(reg.live(), before);
        assert_eq!(
            reg.walk(ttb1, 0xffff_ffa0_0000_0000),
            Ok(Some(pte::page_desc(
                0x8_0000_0000,
                PROT_FW_SHARED_RW,
                Scope::Global
            )))
        );
        assert_eq!(requests(&tlb).len(), 0);
        Ok(())
    }
}
