// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! GPU TLB maintenance: the one place with an architecture seam.
//!
//! On Apple SoCs the GPU and its firmware coprocessor snoop the CPU's outer-shareable TLB
//! invalidations, so the driver invalidates GPU translations with ordinary `tlbi …os`
//! instructions, tagged with the context's ASID (= TTBAT slot; 0 for kernel mappings), each
//! batch followed by `dsb sy` (asahi-driver-facts §6.5; herrnst/linux-asahi:
//! drivers/gpu/drm/asahi/mem.rs). The instruction encodings are the Arm ARM's
//! (`OP_TLBI_*` in arch/arm64/include/asm/sysreg.h); they are emitted as `sys` so the
//! assembler needs no TLB-range target feature.
//!
//! The seam is chosen by architecture, never by a simulation switch:
//!
//! - `CONFIG_ARM64`: the requests below turn into TLBI instructions.
//! - everything else (`CONFIG_UML`, and `COMPILE_TEST` builds that can never bind a GPU):
//!   there is no broadcast TLBI. UML's TLB bridge (`CONFIG_UML_TLBI_BRIDGE`,
//!   `include/linux/um_tlbi_bridge.h`) takes the very instructions and operands the arm64
//!   arm would execute and hands them to the device that snoops them (the GPU model), which
//!   keeps a real TLB and reports a missed invalidation instead of hiding it. A request that
//!   reaches no bridge is counted as *unforwarded* ([`unforwarded`]) with a warning printed
//!   once: nothing here pretends an invalidation happened. The bridge also lets the GPU side
//!   be asked to touch an address ([`probe`]), which the live self-tests use.
//!
//! Whatever the architecture, the request is validated and encoded the same way, so the
//! encodings and the range decomposition are tested by KUnit on UML too.
//!
//! The UAT code does not call [`invalidate`] directly but goes through [`TlbOps`], so KUnit
//! can put a recording TLB ([`recording::RecordingTlb`]) in its place and check which
//! context and range each unmap, rebind and teardown invalidated, and in which order with
//! respect to freeing memory.
//!
//! The same seam provides [`publish_barrier`], the write barrier the page-table code needs
//! before it links a new table in: it orders CPU stores as the GPU's walker observes them,
//! which is an architecture matter too.

use super::pte;

/// An ASID: the TTBAT slot of the context (0 = kernel).
pub(crate) type Asid = u16;

/// One invalidation request, as the driver makes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// Everything, every context.
    All,
    /// Every translation of one context.
    Asid(Asid),
    /// The pages of `[va, va + size)` in one context.
    Range {
        /// Context.
        asid: Asid,
        /// First byte, 16 KiB aligned.
        va: u64,
        /// Length in bytes, a multiple of 16 KiB.
        size: u64,
    },
}

/// One TLBI instruction and its operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tlbi {
    /// `tlbi vmalle1os`.
    VmallE1,
    /// `tlbi aside1os, x`.
    AsidE1(u64),
    /// `tlbi vae1os, x`.
    VaE1(u64),
    /// `tlbi rvae1os, x`.
    RvaE1(u64),
}

/// Translation granule field of a range TLBI: 16 KiB.
const TG_16K: u64 = 2;
/// Largest `NUM + 1` of a range TLBI.
const RANGE_NUM_MAX: u64 = 32;
/// Largest `SCALE` of a range TLBI.
const RANGE_SCALE_MAX: u32 = 3;

const fn asid_bits(asid: Asid) -> u64 {
    (asid as u64) << 48
}

/// Operand of `tlbi aside1os`: the ASID in bits 63:48.
pub(crate) const fn aside1os_arg(asid: Asid) -> u64 {
    asid_bits(asid)
}

/// Operand of `tlbi vae1os`: ASID in bits 63:48, VA bits 55:12 in bits 43:0 (whatever the
/// granule).
pub(crate) const fn vae1os_arg(asid: Asid, va: u64) -> u64 {
    asid_bits(asid) | ((va >> 12) & ((1 << 44) - 1))
}

/// Operand of `tlbi rvae1os` for `(num + 1) << (5 * scale + 1)` pages of 16 KiB from `va`:
/// ASID 63:48, TG 47:46, SCALE 45:44, NUM 43:39, TTL 38:37 (0: any level), and the base in
/// 16 KiB pages in 36:0.
pub(crate) const fn rvae1os_arg(asid: Asid, va: u64, scale: u32, num: u64) -> u64 {
    asid_bits(asid)
        | (TG_16K << 46)
        | ((scale as u64) << 44)
        | (num << 39)
        | ((va >> pte::PAGE_SHIFT) & ((1 << 37) - 1))
}

/// Pages covered by a range TLBI with `scale` and `num`.
const fn range_pages(scale: u32, num: u64) -> u64 {
    (num + 1) << (5 * scale + 1)
}

/// Iterator over the TLBI instructions of a [`Request`].
///
/// Ranges are cut greedily into the largest range operations that fit, a lone trailing page
/// becoming a single-page operation; a range of 2^n pages up to 2^21 needs one instruction.
pub(crate) struct Ops {
    req: Request,
    va: u64,
    pages: u64,
    done: bool,
}

impl Ops {
    /// The instructions that carry out `req`.
    pub(crate) fn new(req: Request) -> Self {
        let (va, pages) = match req {
            Request::Range { va, size, .. } => (va, size >> pte::PAGE_SHIFT),
            _ => (0, 0),
        };
        Self {
            req,
            va,
            pages,
            done: false,
        }
    }
}

impl Iterator for Ops {
    type Item = Tlbi;

    fn next(&mut self) -> Option<Tlbi> {
        if self.done {
            return None;
        }
        let asid = match self.req {
            Request::All => {
                self.done = true;
                return Some(Tlbi::VmallE1);
            }
            Request::Asid(asid) => {
                self.done = true;
                return Some(Tlbi::AsidE1(aside1os_arg(asid)));
            }
            Request::Range { asid, .. } => asid,
        };
        if self.pages == 0 {
            self.done = true;
            return None;
        }
        if self.pages == 1 {
            self.done = true;
            return Some(Tlbi::VaE1(vae1os_arg(asid, self.va)));
        }
        let mut scale = RANGE_SCALE_MAX;
        while range_pages(scale, 0) > self.pages {
            scale -= 1;
        }
        let count = (self.pages / range_pages(scale, 0)).min(RANGE_NUM_MAX);
        let op = Tlbi::RvaE1(rvae1os_arg(asid, self.va, scale, count - 1));
        let covered = range_pages(scale, count - 1);
        self.pages -= covered;
        self.va = self.va.wrapping_add(covered << pte::PAGE_SHIFT);
        Some(op)
    }
}

/// Checks a request: a range must be non-empty and 16 KiB aligned.
fn check(req: &Request) -> bool {
    match *req {
        Request::Range { va, size, .. } => {
            let mask = pte::PAGE_SIZE - 1;
            size != 0 && va & mask == 0 && size & mask == 0
        }
        _ => true,
    }
}

/// Invalidates the GPU TLB as `req` says and waits for completion.
///
/// A malformed range (empty or unaligned, a driver bug) is widened to the whole ASID rather
/// than skipped, with a warning: a missed invalidation is a security bug, an extra one is not.
pub(crate) fn invalidate(req: Request) {
    let req = if check(&req) {
        req
    } else {
        kernel::pr_warn!("bad TLB invalidation {:?}, flushing the context\n", req);
        match req {
            Request::Range { asid, .. } => Request::Asid(asid),
            other => other,
        }
    };
    arch::issue(req);
}

/// GPU TLB maintenance as the UAT code asks for it.
pub(crate) trait TlbOps {
    /// Invalidates what `req` names and returns once the GPU no longer uses it.
    fn invalidate(&self, req: Request);
}

/// The GPU's TLB on this machine: [`invalidate`].
pub(crate) struct GpuTlb;

impl TlbOps for GpuTlb {
    fn invalidate(&self, req: Request) {
        invalidate(req);
    }
}

/// Orders every earlier CPU store to memory the GPU walks (page tables) before every later
/// one, as the GPU observes them.
///
/// On arm64 this is `dmb oshst`, the kernel's `dma_wmb()`: the GPU is an observer in the
/// outer-shareable domain, and a store-store barrier is all that publishing a table needs
/// (io-pgtable-arm uses `dma_wmb()` in `arm_lpae_install_table()` for the same reason). On
/// UML (x86_64) stores are not reordered with other stores, and the GPU model reads guest
/// memory from another process, so a compiler barrier suffices; a full fence is used anyway,
/// as the cost is irrelevant there.
pub(crate) fn publish_barrier() {
    arch::publish_barrier();
}

/// Whether invalidations can reach the GPU now: always on arm64; on UML once the TLB bridge
/// is bound.
///
/// # Errors
///
/// [`EPROBE_DEFER`](kernel::error::code::EPROBE_DEFER) while the bridge is not bound yet: a GPU
/// that cannot be told about unmaps must not be used.
pub(crate) fn ready() -> kernel::error::Result {
    arch::ready()
}

#[cfg(CONFIG_ARM64)]
mod arch {
    use super::{
        Ops,
        Request,
        Tlbi, //
    };
    use core::arch::asm;

    /// Issues the instructions of `req` between two `dsb sy`: the first makes the page-table
    /// writes visible to the GPU's walker before anything is invalidated, the second waits
    /// until every invalidation has completed.
    pub(super) fn issue(req: Request) {
        // SAFETY: `dsb sy` only orders memory accesses. Not marked `nomem`, so it is also a
        // compiler barrier for the page-table stores before it.
        unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
        for op in Ops::new(req) {
            match op {
                // SAFETY: TLB invalidations drop cached translations and touch no memory the
                // compiler knows about; the CPU re-walks its own tables on demand.
                Tlbi::VmallE1 => unsafe {
                    asm!("sys #0, c8, c1, #0", options(nostack, preserves_flags))
                },
                // SAFETY: As above.
                Tlbi::AsidE1(x) => unsafe {
                    asm!("sys #0, c8, c1, #2, {x}", x = in(reg) x, options(nostack, preserves_flags))
                },
                // SAFETY: As above.
                Tlbi::VaE1(x) => unsafe {
                    asm!("sys #0, c8, c1, #1, {x}", x = in(reg) x, options(nostack, preserves_flags))
                },
                // SAFETY: As above. Range TLBI (FEAT_TLBIRANGE) exists on every Apple core
                // this driver supports.
                Tlbi::RvaE1(x) => unsafe {
                    asm!("sys #0, c8, c5, #1, {x}", x = in(reg) x, options(nostack, preserves_flags))
                },
            }
        }
        // SAFETY: As for the first barrier.
        unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
    }

    /// The GPU snoops the CPU's invalidations: nothing to wait for.
    pub(super) fn ready() -> kernel::error::Result {
        Ok(())
    }

    /// `dma_wmb()`: orders stores as outer-shareable observers (the GPU) see them.
    pub(super) fn publish_barrier() {
        // SAFETY: `dmb oshst` only orders stores. Not marked `nomem`, so it is also a
        // compiler barrier for the stores around it.
        unsafe { asm!("dmb oshst", options(nostack, preserves_flags)) };
    }
}

#[cfg(not(CONFIG_ARM64))]
mod arch {
    use super::Request;
    use core::sync::atomic::{
        AtomicBool,
        AtomicU64,
        Ordering, //
    };

    /// Requests performed by a device that keeps its TLB (through the UML TLB bridge).
    pub(super) static FORWARDED: AtomicU64 = AtomicU64::new(0);
    /// Requests that reached no device.
    pub(super) static UNFORWARDED: AtomicU64 = AtomicU64::new(0);
    static WARNED: AtomicBool = AtomicBool::new(false);

    pub(super) use bridge::ready;

    /// Orders stores for the GPU model, which reads guest memory from another process.
    pub(super) fn publish_barrier() {
        core::sync::atomic::fence(Ordering::SeqCst);
    }

    /// Hands `req` to the GPU and returns once it is done, or counts it as unforwarded.
    pub(super) fn issue(req: Request) {
        if bridge::issue(req).is_ok() {
            FORWARDED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        UNFORWARDED.fetch_add(1, Ordering::Relaxed);
        if !WARNED.swap(true, Ordering::Relaxed) {
            kernel::pr_warn!(
                "no TLB bridge to forward GPU invalidations to ({:?})\n",
                req
            );
        }
    }

    /// UML's TLB bridge (`include/linux/um_tlbi_bridge.h`): the same operations and
    /// operands the arm64 arm executes, written to a register block the GPU model serves.
    #[cfg(CONFIG_UML_TLBI_BRIDGE)]
    pub(super) mod bridge {
        use super::super::{
            Ops,
            Request,
            Tlbi, //
        };
        use core::sync::atomic::{
            fence,
            Ordering, //
        };
        use kernel::{
            bindings,
            error::to_result,
            prelude::*, //
        };

        /// Forwards every instruction of `req`, then waits for them.
        pub(in super::super) fn issue(req: Request) -> Result {
            // The model reads the page tables straight from memory: the table writes must
            // be complete before it is told to drop what it cached from them.
            fence(Ordering::SeqCst);
            for op in Ops::new(req) {
                let (code, arg) = match op {
                    Tlbi::VmallE1 => (bindings::UM_TLBI_VMALLE1OS, 0),
                    Tlbi::AsidE1(x) => (bindings::UM_TLBI_ASIDE1OS, x),
                    Tlbi::VaE1(x) => (bindings::UM_TLBI_VAE1OS, x),
                    Tlbi::RvaE1(x) => (bindings::UM_TLBI_RVAE1OS, x),
                };
                // SAFETY: Takes plain values; the bridge serialises callers itself.
                to_result(unsafe { bindings::um_tlbi_bridge_issue(code, arg) })?;
            }
            // SAFETY: No arguments; callable from any context.
            to_result(unsafe { bindings::um_tlbi_bridge_sync() })
        }

        /// Succeeds once a bridge is bound.
        pub(in super::super) fn ready() -> Result {
            // SAFETY: No arguments; callable from any context.
            match unsafe { bindings::um_tlbi_bridge_sync() } {
                0 => Ok(()),
                _ => Err(EPROBE_DEFER),
            }
        }

        /// Has the GPU side access `va` in context `asid` (see [`super::super::probe`]).
        pub(in super::super) fn probe(
            asid: u16,
            va: u64,
            access: u32,
        ) -> Result<bindings::um_tlbi_probe_result> {
            let mut res = bindings::um_tlbi_probe_result::default();
            // SAFETY: `res` is a valid, writable result for the duration of the call.
            to_result(unsafe {
                bindings::um_tlbi_bridge_probe(asid.into(), va, access, &mut res)
            })?;
            Ok(res)
        }
    }

    /// Without the bridge nothing can receive an invalidation.
    #[cfg(not(CONFIG_UML_TLBI_BRIDGE))]
    pub(super) mod bridge {
        use super::super::Request;
        use kernel::prelude::*;

        /// Always fails: there is no bridge.
        pub(in super::super) fn issue(_req: Request) -> Result {
            Err(ENODEV)
        }

        /// A kernel built without the bridge can never forward (only `COMPILE_TEST` builds
        /// get here); let it bind, [`super::issue`] says what is missing.
        pub(in super::super) fn ready() -> Result {
            Ok(())
        }
    }
}

/// Invalidation requests forwarded to, and performed by, the GPU's side (machines without
/// broadcast TLBI only).
#[cfg(not(CONFIG_ARM64))]
pub(crate) fn forwarded() -> u64 {
    arch::FORWARDED.load(core::sync::atomic::Ordering::Relaxed)
}

/// Number of invalidation requests that could not be forwarded to a device model (machines
/// without broadcast TLBI only).
#[cfg(not(CONFIG_ARM64))]
pub(crate) fn unforwarded() -> u64 {
    arch::UNFORWARDED.load(core::sync::atomic::Ordering::Relaxed)
}

/// How a [`probe`] accesses memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProbeAccess {
    /// A read by the firmware (coprocessor).
    FwRead,
    /// A write by the firmware; rights are checked, memory is not changed.
    FwWrite,
    /// A read by the GPU.
    GpuRead,
}

/// What the GPU side saw when it made a [`probe`] access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProbeOutcome {
    /// Translated through current tables to `pa`; `data` is the u64 read there.
    Ok {
        /// Physical address.
        pa: u64,
        /// Data read (reads only).
        data: u64,
    },
    /// The access faulted; `info` is the fault syndrome.
    Fault {
        /// `FAULT_INFO` value.
        info: u64,
    },
    /// A TLB entry the tables no longer back was used: a missed invalidation.
    Stale {
        /// Physical address of the stale entry.
        pa: u64,
    },
}

/// Has the GPU side (firmware) access `va` in context `asid` through its TLB, and reports
/// what happened. Only machines whose TLB maintenance is bridged (UML with the TLB bridge)
/// can do this; elsewhere it fails with [`ENODEV`].
#[cfg(CONFIG_UML_TLBI_BRIDGE)]
pub(crate) fn probe(
    asid: Asid,
    va: u64,
    access: ProbeAccess,
) -> kernel::error::Result<ProbeOutcome> {
    use kernel::bindings;
    let code = match access {
        ProbeAccess::FwRead => bindings::UM_TLBI_PROBE_FW_READ,
        ProbeAccess::FwWrite => bindings::UM_TLBI_PROBE_FW_WRITE,
        ProbeAccess::GpuRead => bindings::UM_TLBI_PROBE_GPU_READ,
    };
    let res = arch::bridge::probe(asid, va, code)?;
    Ok(match res.status {
        bindings::UM_TLBI_PROBE_OK => ProbeOutcome::Ok {
            pa: res.pa,
            data: res.data,
        },
        bindings::UM_TLBI_PROBE_STALE => ProbeOutcome::Stale { pa: res.pa },
        _ => ProbeOutcome::Fault {
            info: res.fault_info,
        },
    })
}

/// Without a bridge nothing can make the GPU side touch memory on command.
#[cfg(not(CONFIG_UML_TLBI_BRIDGE))]
pub(crate) fn probe(
    _asid: Asid,
    _va: u64,
    _access: ProbeAccess,
) -> kernel::error::Result<ProbeOutcome> {
    Err(kernel::error::code::ENODEV)
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_uat_tlb)]
mod tests {
    use super::*;

    const PG: u64 = pte::PAGE_SIZE;

    /// Decodes a range operand back into (asid, first page, pages).
    fn decode_range(x: u64) -> (Asid, u64, u64) {
        assert_eq!((x >> 46) & 3, TG_16K);
        assert_eq!((x >> 37) & 3, 0);
        let scale = ((x >> 44) & 3) as u32;
        let num = (x >> 39) & 31;
        (
            (x >> 48) as Asid,
            x & ((1 << 37) - 1),
            range_pages(scale, num),
        )
    }

    /// Checks that the operations of a range request cover exactly its pages, in order.
    fn covers(asid: Asid, va: u64, pages: u64) -> usize {
        let mut next = va;
        let mut left = pages;
        let mut n = 0;
        for op in Ops::new(Request::Range {
            asid,
            va,
            size: pages * PG,
        }) {
            n += 1;
            let count = match op {
                Tlbi::VaE1(x) => {
                    assert_eq!(x, vae1os_arg(asid, next));
                    1
                }
                Tlbi::RvaE1(x) => {
                    let (a, base, count) = decode_range(x);
                    assert_eq!(a, asid);
                    assert_eq!(base, (next >> 14) & ((1 << 37) - 1));
                    count
                }
                _ => panic!("unexpected op"),
            };
            assert!(count <= left);
            next = next.wrapping_add(count * PG);
            left -= count;
        }
        assert_eq!(left, 0);
        n
    }

    #[test]
    fn operand_encodings() {
        assert_eq!(aside1os_arg(5), 0x0005_0000_0000_0000);
        assert_eq!(vae1os_arg(3, 0x1234_4000), 0x0003_0000_0001_2344);
        // Upper-half VA: bits 55:12 kept, 63:56 dropped.
        assert_eq!(vae1os_arg(0, 0xffff_ffa0_0000_4000), 0x0000_0fff_fa00_0004);
        // 2 pages at 16 KiB page 1: TG=2, SCALE=0, NUM=0, base 1.
        assert_eq!(rvae1os_arg(1, 0x4000, 0, 0), 0x0001_8000_0000_0001);
        // 1 GiB = 65536 pages = (0 + 1) << 16: SCALE=3, NUM=0.
        assert_eq!(rvae1os_arg(0, 0, 3, 0), 0x0000_b000_0000_0000);
        assert_eq!(range_pages(3, 31), 1 << 21);
    }

    #[test]
    fn whole_context_requests_are_one_instruction() {
        let mut ops = Ops::new(Request::All);
        assert_eq!(ops.next(), Some(Tlbi::VmallE1));
        assert_eq!(ops.next(), None);
        let mut ops = Ops::new(Request::Asid(63));
        assert_eq!(ops.next(), Some(Tlbi::AsidE1(63 << 48)));
        assert_eq!(ops.next(), None);
    }

    #[test]
    fn ranges_are_covered_exactly() {
        assert_eq!(covers(1, 0x4000, 1), 1);
        assert_eq!(covers(1, 0x4000, 2), 1);
        assert_eq!(covers(1, 0x4000, 3), 2);
        assert_eq!(covers(2, 0x10_0000_0000, 1 << 16), 1); // 1 GiB
        assert_eq!(covers(2, 0x10_0000_0000, 1 << 21), 1); // 32 GiB, largest single op
        assert!(covers(2, 0x10_0000_0000 + PG, (1 << 16) + 1) <= 3);
        for pages in 1..200 {
            covers(7, 0x7f_0000_0000, pages);
        }
        // A whole 39-bit half (2^25 pages) takes 16 of the largest operations.
        assert_eq!(covers(0, 0, 1 << 25), 16);
        covers(0, 0xffff_ffa0_0000_0000, 12345);
    }

    #[test]
    fn malformed_ranges_are_checked() {
        assert!(check(&Request::Range {
            asid: 1,
            va: 0x4000,
            size: PG
        }));
        assert!(!check(&Request::Range {
            asid: 1,
            va: 0x4000,
            size: 0
        }));
        assert!(!check(&Request::Range {
            asid: 1,
            va: 0x4001,
            size: PG
        }));
        assert!(!check(&Request::Range {
            asid: 1,
            va: 0x4000,
            size: 0x1000
        }));
    }
}

/// A TLB that records what it was asked to invalidate, for KUnit.
#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
pub(crate) mod recording {
    use super::{
        Request,
        TlbOps, //
    };
    use core::cell::RefCell;
    use kernel::prelude::*;

    /// Records every request, with a number the test chooses to sample at that moment
    /// (e.g. how many table pages were still allocated).
    pub(crate) struct RecordingTlb {
        log: RefCell<KVec<(Request, usize)>>,
        sample: KBox<dyn Fn() -> usize>,
    }

    impl RecordingTlb {
        /// A recorder sampling `sample` at each request.
        pub(crate) fn new(sample: impl Fn() -> usize + 'static) -> Result<Self> {
            let sample: KBox<dyn Fn() -> usize> = KBox::new(sample, GFP_KERNEL)?;
            Ok(Self {
                log: RefCell::new(KVec::new()),
                sample,
            })
        }

        /// Takes the requests recorded so far, each with its sample.
        pub(crate) fn take(&self) -> KVec<(Request, usize)> {
            core::mem::take(&mut *self.log.borrow_mut())
        }
    }

    impl TlbOps for kernel::sync::Arc<RecordingTlb> {
        fn invalidate(&self, req: Request) {
            (**self).invalidate(req);
        }
    }

    impl TlbOps for RecordingTlb {
        fn invalidate(&self, req: Request) {
            let sample = (self.sample)();
            // A request that cannot be recorded would make the test's expectations fail.
            let _ = self.log.borrow_mut().push((req, sample), GFP_KERNEL);
        }
    }
}
