// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The firmware's INIT and DevCtrl against InitData trees built in fake guest memory, mapped
//! through real UAT page tables, as the driver builds them (facts §3.6, §5.1), for the oldest
//! and the newest variant; each deliberate mistake must give its named violation.

use std::io::Write;
use std::mem::size_of;
use std::sync::{Arc, Mutex};

use vm_memory::{GuestAddress, GuestMemoryAtomic, GuestMemoryMmap};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes};

use super::channels::FWLOG_SUBRINGS;
use super::firmware::{Firmware, GpuFirmware, INIT_VA_MASK};
use super::generated::abi::{self, *};
use super::generated::common::{PtrClass, U16, U64};
use super::heaps::{Heap, HEAPS};
use super::model_abi::{target_layout, ModelAbi};
use super::violation::{ChannelViolation, DevCtrlViolation, InitDataViolation};
use crate::mmio::{Device, DeviceConfig};
use crate::soc::Soc;
use crate::strict::Violation;
use crate::trace::Trace;
use crate::uat::tests::{prot, Builder, TTBAT};
use crate::uat::PAGE_SIZE;

const RAM: u64 = 0x400_0000;
const RAM_LEN: usize = RAM as usize;
const DATA_PA: u64 = 0x100_0000;
/// Where the tests' handoff region lives (after the TTBAT, before the page tables).
pub(super) const HANDOFF_PA: u64 = 0x2_0000;

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A device with RAM, a context-0 upper-half root and bump allocators per heap.
pub(super) struct Env {
    pub(super) dev: Device,
    trace: Shared,
    tables: Builder,
    root: u64,
    next_pa: u64,
    next_va: [u64; 5],
    /// (va, pa, len) of every allocation, to write through.
    allocs: Vec<(u64, u64, u64)>,
}

impl Env {
    fn new(soc: Soc, fw: [u32; 3]) -> Env {
        Env::with_fault(soc, fw, None)
    }

    /// A device playing `fw` on `soc` with `fault` injected.
    pub(super) fn with_fault(soc: Soc, fw: [u32; 3], fault: Option<crate::fault::Fault>) -> Env {
        Env::with_handoff(soc, fw, fault, None)
    }

    /// A device playing `fw` on `soc` with `fault` injected and the handoff region (flush
    /// slots) at `handoff`.
    pub(super) fn with_handoff(
        soc: Soc,
        fw: [u32; 3],
        fault: Option<crate::fault::Fault>,
        handoff: Option<u64>,
    ) -> Env {
        let trace = Shared::default();
        let cfg = DeviceConfig {
            soc,
            variant: crate::fw::select(soc, crate::fw::FwVersion(fw)).unwrap(),
            ttbs: Some(TTBAT),
            handoff,
            fault,
            ..DeviceConfig::default()
        };
        let mut dev = Device::new(cfg, Trace::new(Some(Box::new(trace.clone()))));
        let gm = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM_LEN)]).unwrap();
        dev.set_memory(GuestMemoryAtomic::new(gm));
        let mut tables = Builder::new();
        let root = tables.root(dev.dma(), 0, 1, 0);
        Env {
            dev,
            trace,
            tables,
            root,
            next_pa: DATA_PA,
            next_va: HEAPS.map(|(_, s, _)| s + 0x10_0000),
            allocs: Vec::new(),
        }
    }

    /// The PTE bits the driver's heap maps with (facts §6.1 named protections).
    fn prot(heap: Heap) -> u64 {
        match heap {
            Heap::KernelPrivate => prot(1, true, false, 0),
            Heap::KernelShared => prot(1, true, false, 2),
            Heap::KernelGpuShared => prot(0, true, true, 2),
            Heap::KernelRoShared => prot(1, false, false, 2),
            Heap::KernelGpuRoShared => prot(1, true, true, 0),
        }
    }

    /// Allocates and maps `size` zeroed bytes in `heap`, page-aligned, with an unmapped guard
    /// page after it; objects above a page (Globals, RuntimePointers, rings) span pages, so
    /// the firmware must read them page by page.
    pub(super) fn alloc(&mut self, heap: Heap, size: u64) -> u64 {
        let i = HEAPS.iter().position(|(h, _, _)| *h == heap).unwrap();
        let pages = size.div_ceil(PAGE_SIZE).max(1);
        let va = self.next_va[i];
        let pa = self.next_pa;
        for p in 0..pages {
            self.tables.map(
                self.dev.dma(),
                self.root,
                va + p * PAGE_SIZE,
                (pa + p * PAGE_SIZE) | Self::prot(heap),
            );
        }
        self.next_va[i] += (pages + 1) * PAGE_SIZE;
        self.next_pa += pages * PAGE_SIZE;
        assert!(self.next_pa <= RAM);
        self.allocs.push((va, pa, pages * PAGE_SIZE));
        va
    }

    /// Maps `size` zeroed bytes at the fixed `va` with the PTE bits of `heap`'s objects (the
    /// crash-log buffer lives outside the heaps the allocator serves).
    pub(super) fn map_at(&mut self, va: u64, size: u64, heap: Heap) {
        let pages = size.div_ceil(PAGE_SIZE).max(1);
        let pa = self.next_pa;
        for p in 0..pages {
            self.tables.map(
                self.dev.dma(),
                self.root,
                va + p * PAGE_SIZE,
                (pa + p * PAGE_SIZE) | Self::prot(heap),
            );
        }
        self.next_pa += pages * PAGE_SIZE;
        assert!(self.next_pa <= RAM);
        self.allocs.push((va, pa, pages * PAGE_SIZE));
    }

    fn pa(&self, va: u64) -> u64 {
        let (v, p, _) = self
            .allocs
            .iter()
            .find(|(v, _, l)| (*v..*v + *l).contains(&va))
            .unwrap_or_else(|| panic!("0x{va:x} not allocated"));
        p + (va - v)
    }

    pub(super) fn poke(&self, va: u64, data: &[u8]) {
        self.dev.dma().write(self.pa(va), data).unwrap();
    }

    pub(super) fn peek(&self, va: u64, buf: &mut [u8]) {
        self.dev.dma().read(self.pa(va), buf).unwrap();
    }

    pub(super) fn get<T: FromBytes + IntoBytes + FromZeros + Immutable>(&self, va: u64) -> T {
        let mut t = T::new_zeroed();
        self.peek(va, t.as_mut_bytes());
        t
    }

    pub(super) fn edit<T: FromBytes + IntoBytes + FromZeros + Immutable>(
        &self,
        va: u64,
        f: impl FnOnce(&mut T),
    ) {
        let mut t: T = self.get(va);
        f(&mut t);
        self.poke(va, t.as_bytes());
    }

    /// The leaf descriptor of `va`.
    fn leaf(&mut self, va: u64) -> u64 {
        self.tables.leaf(self.dev.dma(), self.root, va)
    }

    pub(super) fn trace_text(&self) -> String {
        String::from_utf8(self.trace.0.lock().unwrap().clone()).unwrap()
    }
}

/// Where the test finds the objects of a tree.
pub(super) struct Tree {
    pub(super) initdata: u64,
    runtime_pointers: u64,
    fw_status: u64,
    pub(super) devctrl_state: u64,
    devctrl_ring: u64,
    fwlog_state: u64,
    fwlog_ring: u64,
    fwlog_buf: u64,
    pub(super) event_state: u64,
    pub(super) event_ring: u64,
    pub(super) fwctl_state: u64,
    pub(super) fwctl_ring: u64,
}

fn heap_for(class: PtrClass) -> Heap {
    match class {
        PtrClass::Private => Heap::KernelPrivate,
        PtrClass::GpuRo => Heap::KernelRoShared,
        _ => Heap::KernelShared,
    }
}

/// Builds a good tree for variant `A` on a SoC with UAT output size `oas`, with `Initialize`
/// queued at DevCtrl index 0 and `write_ptr = 1`.
pub(super) fn build<A: ModelAbi>(env: &mut Env, oas: u32) -> Tree {
    let mut rp = A::RuntimePointers::new_zeroed();
    // Plain pointers, from the pointer table: each to its own object in its class's heap.
    let mut hwdata_b = 0;
    for p in A::RUNTIME_POINTERS_PTRS {
        let (size, _) = target_layout::<A>(p.target).unwrap();
        let va = if p.name == "hwdata_b_2" {
            hwdata_b
        } else {
            env.alloc(heap_for(p.class), size)
        };
        if p.name == "hwdata_b" {
            hwdata_b = va;
        }
        rp.as_mut_bytes()[p.offset..p.offset + 8].copy_from_slice(&va.to_le_bytes());
    }
    let cs = size_of::<A::ChannelState>() as u64;
    let ring = |env: &mut Env, heap, entries: u64, msg: usize| {
        let state = env.alloc(Heap::KernelShared, cs);
        (state, env.alloc(heap, entries * msg as u64))
    };
    for n in 0..4 {
        let msg = size_of::<A::RunWorkQueueMsg>();
        let (s, r) = ring(env, Heap::KernelPrivate, 0x100, msg);
        rp.pipes_mut()[n].vtx_mut().set_state(s);
        rp.pipes_mut()[n].vtx_mut().set_ring(r);
        let (s, r) = ring(env, Heap::KernelPrivate, 0x100, msg);
        rp.pipes_mut()[n].frag_mut().set_state(s);
        rp.pipes_mut()[n].frag_mut().set_ring(r);
        let (s, r) = ring(env, Heap::KernelPrivate, 0x100, msg);
        rp.pipes_mut()[n].comp_mut().set_state(s);
        rp.pipes_mut()[n].comp_mut().set_ring(r);
    }
    let (dc_s, dc_r) = ring(
        env,
        Heap::KernelPrivate,
        0x100,
        size_of::<A::DeviceControlMsg>(),
    );
    rp.device_control_mut().set_state(dc_s);
    rp.device_control_mut().set_ring(dc_r);
    let (event_state, event_ring) = ring(env, Heap::KernelShared, 0x100, size_of::<A::EventMsg>());
    rp.event_mut().set_state(event_state);
    rp.event_mut().set_ring(event_ring);
    let fl_s = env.alloc(Heap::KernelShared, size_of::<A::FwLogChannelState>() as u64);
    let fl_r = env.alloc(
        Heap::KernelGpuShared,
        0x600 * size_of::<A::RawFwLogMsg>() as u64,
    );
    rp.fw_log_mut().set_state(fl_s);
    rp.fw_log_mut().set_ring(fl_r);
    let (s, r) = ring(env, Heap::KernelShared, 0x200, size_of::<A::RawKTraceMsg>());
    rp.ktrace_mut().set_state(s);
    rp.ktrace_mut().set_ring(r);
    let (s, r) = ring(env, Heap::KernelShared, 0x100, size_of::<A::StatsMsg>());
    rp.stats_mut().set_state(s);
    rp.stats_mut().set_ring(r);
    let rp_va = env.alloc(Heap::KernelPrivate, size_of::<A::RuntimePointers>() as u64);
    env.poke(rp_va, rp.as_bytes());

    let mut status = A::FwStatus::new_zeroed();
    let fc_s = env.alloc(Heap::KernelShared, size_of::<A::FwCtlChannelState>() as u64);
    let fc_r = env.alloc(Heap::KernelShared, 0x100 * size_of::<A::FwCtlMsg>() as u64);
    status.fwctl_channel_mut().set_state(fc_s);
    status.fwctl_channel_mut().set_ring(fc_r);
    let st_va = env.alloc(Heap::KernelShared, size_of::<A::FwStatus>() as u64);
    env.poke(st_va, status.as_bytes());

    let mut d = A::InitData::new_zeroed();
    let unk_buf = env.alloc(Heap::KernelRoShared, 0x4000);
    d.set_unk_buf(unk_buf);
    d.set_runtime_pointers(rp_va);
    let globals = env.alloc(Heap::KernelPrivate, size_of::<A::Globals>() as u64);
    d.set_globals(globals);
    d.set_fw_status(st_va);
    *d.uat_page_size_mut() = 0x4000;
    *d.uat_page_bits_mut() = 14;
    *d.uat_num_levels_mut() = 3;
    for (l, (shift, entries)) in
        d.uat_level_info_mut()
            .iter_mut()
            .zip([(36u8, 8u16), (25, 2048), (14, 2048)])
    {
        *l.index_shift_mut() = shift;
        *l.num_entries_mut() = U16::new(entries);
        *l.unk_1_mut() = 14;
        *l.unk_2_mut() = 14;
        *l.unk_3_mut() = 8;
        *l.unk_4_mut() = U16::new(0x4000);
        *l.unk_8_mut() = U64::new(1);
        *l.unk_10_mut() = U64::new(((1u64 << oas) - 1) & !0x3fff);
        *l.index_mask_mut() = U64::new((u64::from(entries) - 1) << shift);
    }
    *d.host_mapped_fw_allocations_mut() = 1;
    let id_va = env.alloc(Heap::KernelPrivate, size_of::<A::InitData>() as u64);
    env.poke(id_va, d.as_bytes());

    // Initialize at index 0, write_ptr 1, no doorbell (the driver's order).
    let mut m = A::DeviceControlMsg::new_zeroed();
    m.set_tag(A::DEVICE_CONTROL_TAG_INITIALIZE);
    env.poke(dc_r, m.as_bytes());
    env.edit::<A::ChannelState>(dc_s, |s| *s.write_ptr_mut() = 1);
    Tree {
        initdata: id_va,
        runtime_pointers: rp_va,
        fw_status: st_va,
        devctrl_state: dc_s,
        devctrl_ring: dc_r,
        fwlog_state: fl_s,
        fwlog_ring: fl_r,
        fwlog_buf: RuntimePointersFields::<A>::fwlog_buf(&rp),
        event_state,
        event_ring,
        fwctl_state: fc_s,
        fwctl_ring: fc_r,
    }
}

pub(super) fn init_word(va: u64) -> u64 {
    (0x81 << 48) | (va & INIT_VA_MASK)
}

/// INIT, DevCtrl doorbell and kick, then the firmware's work; the firmware's result.
pub(super) fn boot<A: ModelAbi>(
    env: &mut Env,
    tree: &Tree,
) -> (Firmware<A>, Result<(), Violation>) {
    let fault = env.dev.config().fault;
    let mut fw = Firmware::<A>::new(env.dev.config().soc.uat_oas()).inject(fault);
    fw.mailbox(0x20, init_word(tree.initdata));
    fw.mailbox(0x21, (0x83 << 48) | 0x11);
    fw.mailbox(0x21, (0x83 << 48) | 0x10);
    assert!(fw.has_work());
    let r = fw.run(&mut env.dev);
    (fw, r)
}

pub(super) fn setup<A: ModelAbi>(soc: Soc) -> (Env, Tree) {
    let mut env = Env::new(soc, A::FIRMWARE);
    let tree = build::<A>(&mut env, soc.uat_oas());
    (env, tree)
}

fn good_tree_is_ready<A: ModelAbi>(soc: Soc, pointers: usize) {
    let (mut env, tree) = setup::<A>(soc);
    let (fw, r) = boot::<A>(&mut env, &tree);
    r.unwrap();
    assert!(fw.ready());
    let text = env.trace_text();
    assert!(text.contains(&format!("fw initdata va=0x{:x} read\n", tree.initdata)));
    assert_eq!(text.matches(" initialised\n").count(), 18, "{text}");
    assert!(text.contains(&format!(
        "fw channel DevCtrl state=0x{:x} ring=0x{:x} entries=256 initialised",
        tree.devctrl_state, tree.devctrl_ring
    )));
    assert!(text.contains("fw channel KTrace state="));
    assert!(text.contains("entries=512 initialised"));
    assert!(text.contains("fw devctrl consumed tag=Initialize read_ptr=1\n"));
    // The power-on report is posted before the log line that rings the host.
    let stats_at = text
        .find("fw stats index=0 tag=PowerOn off_time=")
        .expect("PowerOn posted");
    assert!(stats_at < text.find("fw devctrl consumed").unwrap());
    assert!(text.ends_with(&format!(
        "fw ready: 18 channels, initdata checked: 31 fields, {pointers} pointers\n"
    )));
    // read_ptr published.
    let s: A::ChannelState = env.get(tree.devctrl_state);
    assert_eq!(*s.read_ptr(), 1);
    // One info line: entry, payload, write_ptr of sub-ring 1, then 0x42 on EP 0x20.
    let fl: A::FwLogChannelState = env.get(tree.fwlog_state);
    assert_eq!(*fl.sub()[1].write_ptr(), 1);
    assert!((0..FWLOG_SUBRINGS as usize).all(|i| i == 1 || *fl.sub()[i].write_ptr() == 0));
    let e: A::RawFwLogMsg = env.get(tree.fwlog_ring + 0x100 * size_of::<A::RawFwLogMsg>() as u64);
    assert_eq!((*e.msg_type(), e.msg_index().get()), (2, 0));
    let p: A::RawFwLogPayloadMsg =
        env.get(tree.fwlog_buf + 0x100 * size_of::<A::RawFwLogPayloadMsg>() as u64);
    assert_eq!(*p.msg_type(), 3);
    let text = p.msg();
    let nul = text.iter().position(|b| *b == 0).unwrap();
    assert_eq!(&text[..nul], b"GPU firmware initialised");
    assert_eq!(env.dev.mailbox().i2a_len(), 1, "0x42 sent");
}

#[test]
fn a_good_tree_gives_fw_ready_on_12_3_g13() {
    good_tree_is_ready::<abi::G13V12_3>(Soc::T8103, 52);
}

#[test]
fn a_good_tree_gives_fw_ready_on_13_5_g14x() {
    // G14X has no unkptr_1c0/1c8: two pointers fewer.
    good_tree_is_ready::<abi::G14XV13_5>(Soc::T6021, 50);
}

#[test]
fn a_good_tree_gives_fw_ready_on_the_other_variants() {
    good_tree_is_ready::<abi::G14V12_4>(Soc::T8112, 52);
    good_tree_is_ready::<abi::G13V13_5>(Soc::T6000, 52);
    good_tree_is_ready::<abi::G14V13_5>(Soc::T8112, 52);
}

fn fails<A: ModelAbi>(soc: Soc, spoil: impl FnOnce(&mut Env, &Tree)) -> Violation {
    let (mut env, tree) = setup::<A>(soc);
    spoil(&mut env, &tree);
    let (fw, r) = boot::<A>(&mut env, &tree);
    assert!(!fw.ready(), "accepted: {}", env.trace_text());
    r.unwrap_err()
}

type Id<A> = <A as FwAbi>::InitData;
type Rp<A> = <A as FwAbi>::RuntimePointers;
type Cs<A> = <A as FwAbi>::ChannelState;
type Dc<A> = <A as FwAbi>::DeviceControlMsg;

fn init_rules<A: ModelAbi>(soc: Soc) {
    // A Shared pointer into the Private heap.
    let v = fails::<A>(soc, |env, t| {
        let va = env.alloc(Heap::KernelPrivate, 0x80);
        env.edit::<Id<A>>(t.initdata, |d| d.set_fw_status(va));
    });
    assert!(
        matches!(&v, Violation::InitData(InitDataViolation::WrongHeap {
            field, class: PtrClass::Shared, found: "Kernel Private", ..
        }) if field == "fw_status"),
        "{v}"
    );
    // A null ring pointer.
    let v = fails::<A>(soc, |env, t| {
        env.edit::<Rp<A>>(t.runtime_pointers, |r| r.event_mut().set_ring(0));
    });
    assert_eq!(
        v,
        Violation::InitData(InitDataViolation::NullPointer {
            field: "runtime_pointers.event.ring".into()
        })
    );
    // host_mapped_fw_allocations = 0.
    let v = fails::<A>(soc, |env, t| {
        env.edit::<Id<A>>(t.initdata, |d| *d.host_mapped_fw_allocations_mut() = 0);
    });
    assert_eq!(
        v,
        Violation::InitData(InitDataViolation::FieldValue {
            field: "host_mapped_fw_allocations".into(),
            expected: 1,
            got: 0
        })
    );
    // Wrong level info.
    let v = fails::<A>(soc, |env, t| {
        env.edit::<Id<A>>(t.initdata, |d| {
            *d.uat_level_info_mut()[1].index_shift_mut() = 24
        });
    });
    assert_eq!(
        v,
        Violation::InitData(InitDataViolation::FieldValue {
            field: "uat_level_info[1].index_shift".into(),
            expected: 25,
            got: 24
        })
    );
    // The output address size of another SoC.
    let other = if soc.uat_oas() == 40 { 42 } else { 40 };
    let v = fails::<A>(soc, |env, t| {
        env.edit::<Id<A>>(t.initdata, |d| {
            *d.uat_level_info_mut()[0].unk_10_mut() = U64::new(((1u64 << other) - 1) & !0x3fff)
        });
    });
    assert!(
        matches!(&v, Violation::InitData(InitDataViolation::FieldValue { field, .. })
            if field == "uat_level_info[0].unk_10"),
        "{v}"
    );
    // Part of Globals (second page) unmapped.
    let mut globals = 0;
    let v = fails::<A>(soc, |env, t| {
        globals = env.get::<Id<A>>(t.initdata).globals();
        let leaf = env.leaf(globals + PAGE_SIZE);
        env.dev.dma().write_u64(leaf, 0).unwrap();
    });
    assert_eq!(
        v,
        Violation::InitData(InitDataViolation::Unmapped {
            field: "globals".into(),
            va: globals,
            at: globals + PAGE_SIZE
        })
    );
    // FwStatus mapped read-only for the firmware.
    let v = fails::<A>(soc, |env, t| {
        let leaf = env.leaf(t.fw_status);
        let pte = env.dev.dma().read_u64(leaf).unwrap();
        let ro = (pte & 0x0000_03ff_ffff_c000) | prot(1, false, false, 2);
        env.dev.dma().write_u64(leaf, ro).unwrap();
    });
    assert!(
        matches!(&v, Violation::InitData(InitDataViolation::NotWritable { field, .. })
            if field == "fw_status"),
        "{v}"
    );
    // Misaligned FwStatus.
    let v = fails::<A>(soc, |env, t| {
        env.edit::<Id<A>>(t.initdata, |d| d.set_fw_status(t.fw_status + 4));
    });
    assert!(
        matches!(&v, Violation::InitData(InitDataViolation::Misaligned { field, .. })
            if field == "fw_status"),
        "{v}"
    );
    // Null InitData.
    let (mut env, _) = setup::<A>(soc);
    let mut fw = Firmware::<A>::new(soc.uat_oas());
    fw.mailbox(0x20, 0x81 << 48);
    assert_eq!(
        fw.run(&mut env.dev).unwrap_err(),
        Violation::InitData(InitDataViolation::NullPointer {
            field: "initdata".into()
        })
    );
}

fn devctrl_rules<A: ModelAbi>(soc: Soc) {
    // A tag no firmware defines.
    let v = fails::<A>(soc, |env, t| {
        env.edit::<Dc<A>>(t.devctrl_ring, |m| m.set_tag(0x30));
    });
    assert_eq!(
        v,
        Violation::DevCtrl(DevCtrlViolation::UnknownTag {
            index: 0,
            tag: 0x30,
            firmware: A::NAME
        })
    );
    // The other version's Initialize tag is unknown (12.x: 0x1a, 13.5: 0x19).
    let wrong = A::DEVICE_CONTROL_TAG_INITIALIZE ^ 0x19 ^ 0x1a;
    let v = fails::<A>(soc, |env, t| {
        env.edit::<Dc<A>>(t.devctrl_ring, |m| m.set_tag(wrong));
    });
    assert!(
        matches!(v, Violation::DevCtrl(DevCtrlViolation::UnknownTag { tag, .. }) if tag == wrong),
        "{v}"
    );
    // A known message before Initialize.
    let v = fails::<A>(soc, |env, t| {
        env.edit::<Dc<A>>(t.devctrl_ring, |m| {
            m.set_tag(A::DEVICE_CONTROL_TAG_GROW_TVB_ACK)
        });
    });
    assert_eq!(
        v,
        Violation::DevCtrl(DevCtrlViolation::InitializeNotFirst {
            index: 0,
            tag: "GrowTvbAck"
        })
    );
    // Initialize with a payload.
    let v = fails::<A>(soc, |env, t| env.poke(t.devctrl_ring + 8, &[7]));
    assert_eq!(
        v,
        Violation::DevCtrl(DevCtrlViolation::NonZeroPayload {
            index: 0,
            offset: 8,
            byte: 7
        })
    );
    // read_ptr out of range at INIT.
    let v = fails::<A>(soc, |env, t| {
        env.edit::<Cs<A>>(t.devctrl_state, |s| *s.read_ptr_mut() = 0x100);
    });
    assert_eq!(
        v,
        Violation::Channel(ChannelViolation::PointerOutOfRange {
            channel: "DevCtrl".into(),
            which: "read_ptr",
            value: 0x100,
            entries: 0x100
        })
    );
    // A FW-log sub-ring's pointer out of range.
    let v = fails::<A>(soc, |env, t| {
        env.edit::<<A as FwAbi>::FwLogChannelState>(t.fwlog_state, |s| {
            *s.sub_mut()[3].read_ptr_mut() = 0x1234
        });
    });
    assert!(
        matches!(&v, Violation::Channel(ChannelViolation::PointerOutOfRange { channel, .. })
            if channel == "FWLog[3]"),
        "{v}"
    );
}

#[test]
fn initdata_mistakes_give_their_named_violation_on_12_3_g13() {
    init_rules::<abi::G13V12_3>(Soc::T8103);
}

#[test]
fn initdata_mistakes_give_their_named_violation_on_13_5_g14x() {
    init_rules::<abi::G14XV13_5>(Soc::T6021);
}

#[test]
fn devctrl_mistakes_give_their_named_violation_on_12_3_g13() {
    devctrl_rules::<abi::G13V12_3>(Soc::T8103);
}

#[test]
fn devctrl_mistakes_give_their_named_violation_on_13_5_g14x() {
    devctrl_rules::<abi::G14XV13_5>(Soc::T6021);
}

#[test]
fn doorbells_are_latched_not_counted() {
    type A = abi::G13V13_5;
    let (mut env, tree) = setup::<A>(Soc::T6000);
    let mut fw = Firmware::<A>::new(42);
    // INIT alone initialises the channels but consumes nothing without a doorbell.
    fw.mailbox(0x20, init_word(tree.initdata));
    fw.run(&mut env.dev).unwrap();
    assert!(!fw.ready() && !fw.has_work());
    // Two doorbells, one run: Initialize is consumed once.
    fw.mailbox(0x21, (0x83 << 48) | 0x11);
    fw.mailbox(0x21, (0x83 << 48) | 0x10);
    fw.run(&mut env.dev).unwrap();
    assert!(fw.ready());
    // A later INIT is ignored, a later kick finds nothing new.
    assert!(fw.mailbox(0x20, init_word(tree.initdata))[0].starts_with("fw ignored"));
    fw.mailbox(0x21, (0x83 << 48) | 0x10);
    fw.run(&mut env.dev).unwrap();
    let text = env.trace_text();
    assert_eq!(text.matches("fw devctrl consumed").count(), 1);
    assert_eq!(text.matches("fw ready:").count(), 1);

    // Doorbells before INIT is processed (even before INIT arrives) are kept.
    let (mut env, tree) = setup::<A>(Soc::T6000);
    let mut fw = Firmware::<A>::new(42);
    fw.mailbox(0x21, (0x83 << 48) | 0x11);
    assert!(!fw.has_work(), "nothing to do before INIT");
    fw.mailbox(0x20, init_word(tree.initdata));
    fw.run(&mut env.dev).unwrap();
    assert!(fw.ready());
}

/// The whole path: RTKit boot over the mailbox registers, INIT and doorbells as the driver
/// sends them, the work run outside the MMIO access, 0x42 and its interrupt.
#[test]
fn the_device_runs_init_outside_the_mmio_access() {
    use crate::asc::{CPU_CONTROL, CPU_CONTROL_RUN};
    use crate::mailbox::{A2I_SEND0, A2I_SEND1, CONTROL_EMPTY, I2A_CONTROL, I2A_RECV0, I2A_RECV1};
    const ASC: u64 = 0x40_0000;
    const MBOX: u64 = 0x40_8000;
    type A = abi::G14XV13_5;
    let (mut env, tree) = setup::<A>(Soc::T6021);
    let d = &mut env.dev;
    let send = |d: &mut Device, ep: u64, msg0: u64| {
        d.write(MBOX + A2I_SEND0, 8, msg0).unwrap();
        d.write(MBOX + A2I_SEND1, 8, ep).unwrap();
    };
    let recv = |d: &mut Device| {
        let mut out = Vec::new();
        while d.read(MBOX + I2A_CONTROL, 4).unwrap() as u32 & CONTROL_EMPTY == 0 {
            let m0 = d.read(MBOX + I2A_RECV0, 8).unwrap();
            let m1 = d.read(MBOX + I2A_RECV1, 8).unwrap();
            out.push((m1 & 0xff, m0));
        }
        out
    };
    let v = d.read(ASC + CPU_CONTROL, 4).unwrap();
    d.write(ASC + CPU_CONTROL, 4, v | u64::from(CPU_CONTROL_RUN))
        .unwrap();
    recv(d);
    send(d, 0, (2 << 52) | 12 | (12 << 16));
    send(d, 0, (8 << 52) | 1);
    send(d, 0, (8 << 52) | (1 << 32) | (1 << 51));
    send(d, 0, (0xb << 52) | 0x20);
    send(d, 0, (5 << 52) | (0x20 << 32) | 2);
    send(d, 0, (5 << 52) | (0x21 << 32) | 2);
    recv(d);
    send(d, 0x20, init_word(tree.initdata));
    send(d, 0x21, (0x83 << 48) | 0x11);
    send(d, 0x21, (0x83 << 48) | 0x10);
    assert!(d.gpu_work_pending() && !d.gpu_ready(), "latched, not run");
    d.take_irqs();
    d.run_gpu_work().unwrap();
    assert!(d.gpu_ready() && !d.gpu_work_pending());
    assert_eq!(d.take_irqs(), vec![3], "recv-not-empty for the 0x42");
    assert_eq!(recv(d), vec![(0x20, 0x42 << 48)]);
    assert!(env.trace_text().contains("fw ready: 18 channels"));
}
