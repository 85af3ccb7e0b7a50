// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! INIT: the firmware reads InitData and everything it points to, and panics on anything it
//! cannot use (facts §3.6, agx-firmware-behaviour.md §4.2, §5.6).
//!
//! Checked here: the UAT geometry the driver describes (it must be the one the firmware's
//! page-table code walks), `host_mapped_fw_allocations = 1`, and every pointer of InitData,
//! RuntimePointers, the 17 ring descriptors and FwStatus's FwCtl ring, each against its class
//! (heap), alignment and UAT mapping. Pointers are walked from fwgen's pointer tables, so a
//! pointer added to the definitions is checked without code here. Fields and pointers are
//! counted as they are checked, for the `fw ready:` trace line.

use std::mem::{align_of, size_of};

use zerocopy::IntoBytes;

use super::channels::{Desc, Kind};
use super::generated::abi::{
    DeviceControlRingFields, EventRingFields, FwCtlRingFields, FwLogRingFields, KTraceRingFields,
    PipeRingFields, StatsRingFields,
};
use super::generated::abi::{
    FwStatusFields, InitDataFields, PipeChannelsFields, RuntimePointersFields, UatLevelInfoFields,
};
use super::generated::common::{PtrClass, PtrField};
use super::gpumem::{self, FwBus, Target};
use super::model_abi::{target_layout, ModelAbi};
use super::violation::InitDataViolation;
use crate::strict::{Checked, Violation};

/// UAT geometry the firmware walks: (index_shift, entries) per level, 16 KiB pages.
pub const LEVELS: [(u8, u16); 3] = [(36, 8), (25, 2048), (14, 2048)];

/// What INIT learned from a tree it accepted.
#[derive(Clone, Debug)]
pub struct InitTree {
    /// The 18 ring descriptors, checked (RuntimePointers order, then FwCtl).
    pub channels: Vec<Desc>,
    /// The FW-log payload array.
    pub fwlog_buf: u64,
    /// Scalar fields checked.
    pub fields: usize,
    /// Pointers checked.
    pub pointers: usize,
}

struct Checker<'a> {
    bus: &'a mut dyn FwBus,
    fields: usize,
    pointers: usize,
}

impl Checker<'_> {
    fn field(&mut self, field: &str, expected: u64, got: u64) -> Checked<()> {
        self.fields += 1;
        if expected != got {
            return Err(Violation::InitData(InitDataViolation::FieldValue {
                field: field.into(),
                expected,
                got,
            }));
        }
        Ok(())
    }

    /// Checks every pointer of `table` in `bytes` (a struct read from `base` at `prefix`).
    fn table<A: ModelAbi>(
        &mut self,
        prefix: &str,
        bytes: &[u8],
        table: &[PtrField],
    ) -> Checked<()> {
        for p in table {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&bytes[p.offset..p.offset + 8]);
            let (size, align) = target_layout::<A>(p.target).unwrap_or((1, 1));
            self.pointer(
                &format!("{prefix}{}", p.name),
                u64::from_le_bytes(raw),
                size,
                align,
                p.class,
            )?;
        }
        Ok(())
    }

    fn pointer(
        &mut self,
        field: &str,
        va: u64,
        size: u64,
        align: u64,
        class: PtrClass,
    ) -> Checked<()> {
        self.pointers += 1;
        gpumem::check_target(
            self.bus,
            Target {
                field,
                va,
                size,
                align,
                class,
            },
        )
    }
}

/// Reads and checks the InitData tree at `va` (already re-extended to the upper half) for a
/// SoC whose UAT output address size is `oas` bits.
pub fn check<A: ModelAbi>(bus: &mut dyn FwBus, va: u64, oas: u32) -> Checked<InitTree> {
    gpumem::check_target(
        bus,
        Target {
            field: "initdata",
            va,
            size: size_of::<A::InitData>() as u64,
            align: align_of::<A::InitData>() as u64,
            class: PtrClass::Any,
        },
    )?;
    let init: A::InitData = gpumem::read_obj(bus, va, "InitData")?;
    bus.fw_trace(format!("fw initdata va=0x{va:x} read"));
    let mut c = Checker {
        bus,
        fields: 0,
        pointers: 0,
    };

    c.field("uat_page_size", 0x4000, (*init.uat_page_size()).into())?;
    c.field("uat_page_bits", 14, (*init.uat_page_bits()).into())?;
    c.field("uat_num_levels", 3, (*init.uat_num_levels()).into())?;
    let unk_10 = ((1u64 << oas) - 1) & !0x3fff;
    for (i, (l, (shift, entries))) in init.uat_level_info().iter().zip(LEVELS).enumerate() {
        let f = |n: &str| format!("uat_level_info[{i}].{n}");
        let mask = (u64::from(entries) - 1) << shift;
        c.field(&f("index_shift"), shift.into(), (*l.index_shift()).into())?;
        c.field(
            &f("num_entries"),
            entries.into(),
            l.num_entries().get().into(),
        )?;
        c.field(&f("unk_1"), 14, (*l.unk_1()).into())?;
        c.field(&f("unk_2"), 14, (*l.unk_2()).into())?;
        c.field(&f("unk_3"), 8, (*l.unk_3()).into())?;
        c.field(&f("unk_4"), 0x4000, l.unk_4().get().into())?;
        c.field(&f("unk_8"), 1, l.unk_8().get())?;
        c.field(&f("unk_10"), unk_10, l.unk_10().get())?;
        c.field(&f("index_mask"), mask, l.index_mask().get())?;
    }
    c.field(
        "host_mapped_fw_allocations",
        1,
        (*init.host_mapped_fw_allocations()).into(),
    )?;
    c.table::<A>("", init.as_bytes(), A::INITDATA_PTRS)?;

    let rp: A::RuntimePointers =
        gpumem::read_obj(c.bus, init.runtime_pointers(), "RuntimePointers")?;
    c.table::<A>("runtime_pointers.", rp.as_bytes(), A::RUNTIME_POINTERS_PTRS)?;
    let mut channels = Vec::new();
    let mut desc = |name: String, field: String, kind, state, ring, ptrs| {
        channels.push(Desc {
            name,
            field: format!("runtime_pointers.{field}"),
            kind,
            state,
            ring,
            ptrs,
        })
    };
    for (n, p) in rp.pipes().iter().enumerate() {
        for (prefix, sub, r) in [
            ("TA", "vtx", p.vtx()),
            ("3D", "frag", p.frag()),
            ("CL", "comp", p.comp()),
        ] {
            desc(
                format!("{prefix}_{n}"),
                format!("pipes[{n}].{sub}"),
                Kind::Pipe,
                r.state(),
                r.ring(),
                A::PIPE_RING_PTRS,
            );
        }
    }
    let r = rp.device_control();
    desc(
        "DevCtrl".into(),
        "device_control".into(),
        Kind::DevCtrl,
        r.state(),
        r.ring(),
        A::DEVICE_CONTROL_RING_PTRS,
    );
    let r = rp.event();
    desc(
        "Event".into(),
        "event".into(),
        Kind::Event,
        r.state(),
        r.ring(),
        A::EVENT_RING_PTRS,
    );
    let r = rp.fw_log();
    desc(
        "FWLog".into(),
        "fw_log".into(),
        Kind::FwLog,
        r.state(),
        r.ring(),
        A::FW_LOG_RING_PTRS,
    );
    let r = rp.ktrace();
    desc(
        "KTrace".into(),
        "ktrace".into(),
        Kind::KTrace,
        r.state(),
        r.ring(),
        A::KTRACE_RING_PTRS,
    );
    let r = rp.stats();
    desc(
        "Stats".into(),
        "stats".into(),
        Kind::Stats,
        r.state(),
        r.ring(),
        A::STATS_RING_PTRS,
    );

    let status: A::FwStatus = gpumem::read_obj(c.bus, init.fw_status(), "FwStatus")?;
    let r = status.fwctl_channel();
    channels.push(Desc {
        name: "FWCtl".into(),
        field: "fw_status.fwctl_channel".into(),
        kind: Kind::FwCtl,
        state: r.state(),
        ring: r.ring(),
        ptrs: A::FWCTL_RING_PTRS,
    });
    for d in &channels {
        c.pointers += d.check::<A>(c.bus)?;
    }
    Ok(InitTree {
        channels,
        fwlog_buf: rp.fwlog_buf(),
        fields: c.fields,
        pointers: c.pointers,
    })
}
