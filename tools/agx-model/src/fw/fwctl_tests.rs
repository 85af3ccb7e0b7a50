// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The firmware's cache-flush service against a booted firmware: a flush posted in the
//! handoff region and queued on FwCtl is acknowledged (state 2) before `read_ptr` moves; each
//! mistake the driver can make gives its named violation; `fwctl-stalls` leaves the request.

use std::mem::size_of;

use zerocopy::{FromZeros, IntoBytes};

use super::firmware::{Firmware, GpuFirmware};
use super::fwctl::{slot_pa, KERNEL_SLOT, STATE_DONE, STATE_REQUESTED};
use super::generated::abi::{self, FwCtlChannelStateFields, FwCtlMsgFields};
use super::generated::common::U64;
use super::heaps::Heap;
use super::init_tests::{boot, build, Env, Tree, HANDOFF_PA};
use super::model_abi::ModelAbi;
use super::violation::FwCtlViolation;
use crate::fault::Fault;
use crate::soc::Soc;
use crate::strict::Violation;
use crate::uat::PAGE_SIZE;

/// `0x84` on endpoint 0x21.
const FWCTL_DOORBELL: (u8, u64) = (0x21, 0x84 << 48);

/// One flush request as the driver writes it.
#[derive(Clone, Copy)]
struct Request {
    /// Whether the handoff slot is posted (state 1, addr, size).
    post: bool,
    /// Handoff slot size in bytes.
    posted_size: u64,
    slot: u32,
    addr: u64,
    pages: u16,
    unk_12: u16,
}

impl Request {
    fn kernel(addr: u64, pages: u16) -> Request {
        Request {
            post: true,
            posted_size: u64::from(pages) * PAGE_SIZE,
            slot: KERNEL_SLOT,
            addr,
            pages,
            unk_12: 2,
        }
    }
}

/// A firmware of variant `A` (with `fault`) that has consumed `Initialize`, and a private
/// object of `pages` pages to flush.
fn ready<A: ModelAbi>(soc: Soc, fault: Option<Fault>, pages: u64) -> (Env, Tree, Firmware<A>, u64) {
    let mut env = Env::with_handoff(soc, A::FIRMWARE, fault, Some(HANDOFF_PA));
    let tree = build::<A>(&mut env, soc.uat_oas());
    let object = env.alloc(Heap::KernelPrivate, pages * PAGE_SIZE);
    let (fw, r) = boot::<A>(&mut env, &tree);
    r.unwrap();
    assert!(fw.ready());
    (env, tree, fw, object)
}

/// Queues `req` at FwCtl index `index`, rings the doorbell and lets the firmware work.
fn flush<A: ModelAbi>(
    env: &mut Env,
    tree: &Tree,
    fw: &mut Firmware<A>,
    index: u32,
    req: Request,
) -> Result<(), Violation> {
    if req.post && req.slot <= KERNEL_SLOT {
        let at = slot_pa(HANDOFF_PA, req.slot);
        let d = env.dev.dma();
        d.write_u64(at + 8, req.addr).unwrap();
        d.write_u64(at + 16, req.posted_size).unwrap();
        d.write_u64(at, STATE_REQUESTED).unwrap();
    }
    let mut m = A::FwCtlMsg::new_zeroed();
    *m.addr_mut() = U64::new(req.addr);
    *m.slot_mut() = req.slot;
    *m.page_count_mut() = req.pages;
    *m.unk_12_mut() = req.unk_12;
    let entry = tree.fwctl_ring + u64::from(index) * size_of::<A::FwCtlMsg>() as u64;
    env.poke(entry, m.as_bytes());
    env.edit::<A::FwCtlChannelState>(tree.fwctl_state, |s| *s.write_ptr_mut() = index + 1);
    fw.mailbox(FWCTL_DOORBELL.0, FWCTL_DOORBELL.1);
    assert!(fw.has_work());
    fw.run(&mut env.dev)
}

fn read_ptr<A: ModelAbi>(env: &Env, tree: &Tree) -> u32 {
    *env.get::<A::FwCtlChannelState>(tree.fwctl_state).read_ptr()
}

fn slot_state(env: &Env, slot: u32) -> u64 {
    env.dev.dma().read_u64(slot_pa(HANDOFF_PA, slot)).unwrap()
}

fn acknowledged_then_retired<A: ModelAbi>(soc: Soc) {
    let (mut env, tree, mut fw, object) = ready::<A>(soc, None, 2);
    flush(&mut env, &tree, &mut fw, 0, Request::kernel(object, 2)).unwrap();
    assert_eq!(slot_state(&env, KERNEL_SLOT), STATE_DONE);
    assert_eq!(read_ptr::<A>(&env, &tree), 1);
    assert!(env.trace_text().ends_with(&format!(
        "fw fwctl flush slot=64 va=0x{object:x} pages=2 done read_ptr=1\n"
    )));
    // The driver retires the slot; the next request goes through the same way.
    env.dev
        .dma()
        .write_u64(slot_pa(HANDOFF_PA, KERNEL_SLOT), 0)
        .unwrap();
    flush(&mut env, &tree, &mut fw, 1, Request::kernel(object, 1)).unwrap();
    assert_eq!(read_ptr::<A>(&env, &tree), 2);
}

#[test]
fn a_posted_flush_is_acknowledged_before_read_ptr_moves_on_12_3_g13() {
    acknowledged_then_retired::<abi::G13V12_3>(Soc::T8103);
}

#[test]
fn a_posted_flush_is_acknowledged_before_read_ptr_moves_on_13_5_g14x() {
    acknowledged_then_retired::<abi::G14XV13_5>(Soc::T6022);
}

/// The violation `req` gives; nothing was acknowledged or retired.
fn refused<A: ModelAbi>(soc: Soc, req: impl FnOnce(u64) -> Request) -> FwCtlViolation {
    let (mut env, tree, mut fw, object) = ready::<A>(soc, None, 1);
    let req = req(object);
    let Err(Violation::FwCtl(v)) = flush(&mut env, &tree, &mut fw, 0, req) else {
        panic!("accepted");
    };
    assert_eq!(read_ptr::<A>(&env, &tree), 0);
    if req.slot <= KERNEL_SLOT {
        assert!(slot_state(&env, req.slot) != STATE_DONE);
    }
    v
}

fn flush_rules<A: ModelAbi>(soc: Soc) {
    let v = refused::<A>(soc, |va| Request {
        post: false,
        ..Request::kernel(va, 1)
    });
    assert_eq!(
        v,
        FwCtlViolation::NotRequested {
            index: 0,
            slot: 64,
            state: 0
        }
    );
    let v = refused::<A>(soc, |va| Request {
        posted_size: 2 * PAGE_SIZE,
        ..Request::kernel(va, 1)
    });
    assert!(
        matches!(v, FwCtlViolation::RangeMismatch { pages: 1, posted_size, .. } if posted_size == 2 * PAGE_SIZE),
        "{v}"
    );
    let v = refused::<A>(soc, |va| Request {
        unk_12: 0,
        ..Request::kernel(va, 1)
    });
    assert_eq!(
        v,
        FwCtlViolation::FieldValue {
            index: 0,
            field: "unk_12",
            expected: 2,
            got: 0
        }
    );
    let v = refused::<A>(soc, |va| Request {
        slot: 65,
        ..Request::kernel(va, 1)
    });
    assert_eq!(v, FwCtlViolation::SlotOutOfRange { index: 0, slot: 65 });
    let v = refused::<A>(soc, |va| Request::kernel(va, 0));
    assert_eq!(v, FwCtlViolation::EmptyRange { index: 0 });
    // The object is one page with an unmapped guard page after it.
    let v = refused::<A>(soc, |va| Request::kernel(va, 2));
    assert!(
        matches!(v, FwCtlViolation::Unmapped { pages: 2, addr, at, .. } if at == addr + PAGE_SIZE),
        "{v}"
    );
}

#[test]
fn flush_mistakes_give_their_named_violation_on_12_3_g13() {
    flush_rules::<abi::G13V12_3>(Soc::T8103);
}

#[test]
fn flush_mistakes_give_their_named_violation_on_13_5_g14x() {
    flush_rules::<abi::G14XV13_5>(Soc::T6022);
}

#[test]
fn fwctl_stalls_leaves_the_request_posted_and_reports_it_once() {
    type A = abi::G13V13_5;
    let (mut env, tree, mut fw, object) = ready::<A>(Soc::T8103, Some(Fault::FwCtlStalls), 1);
    flush(&mut env, &tree, &mut fw, 0, Request::kernel(object, 1)).unwrap();
    // A second doorbell changes nothing.
    fw.mailbox(FWCTL_DOORBELL.0, FWCTL_DOORBELL.1);
    fw.run(&mut env.dev).unwrap();
    assert_eq!(read_ptr::<A>(&env, &tree), 0);
    assert_eq!(slot_state(&env, KERNEL_SLOT), STATE_REQUESTED);
    let text = env.trace_text();
    assert_eq!(
        text.matches("fault fwctl-stalls: FwCtl message at index 0 left unconsumed\n")
            .count(),
        1,
        "{text}"
    );
    assert!(!text.contains("fw fwctl flush"));
}
