// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The InitData tree: the root the firmware reads at INIT and everything it points to.
//!
//! Region A (InitData itself), region B (RuntimePointers: every ring, statistics, the
//! calibration blocks) and region C (Globals), plus FwStatus, HwDataA and HwDataB
//! (asahi-driver-facts §3.5, §3.6; jannau/linux:drivers/gpu/drm/asahi/initdata.rs). The
//! calibration blocks and Globals are the bootloader's: copied from the `hw-cal-a`,
//! `hw-cal-b` and `globals` regions for exactly the size the ABI's structure has, never
//! computed here; the driver only sets what is its own (fault handling, pending work).
//!
//! Written once, generic over the ABI through fwgen's field accessors (see [`crate::fw`]);
//! the result is untyped (addresses and owned memory), so the GPU manager is not generic.
//! Every pointer targets a heap of the class the firmware expects (the generated
//! `POINTERS` tables say which; a KUnit test holds the tree to them).

use core::mem::size_of;

use kernel::{
    alloc::KVBox,
    of_reserved_mem::Mapping,
    prelude::*,
    transmute::{
        AsBytes,
        FromBytes, //
    },
};

use crate::{
    channel::Channels,
    fw::abi::{
        self,
        GlobalsFields,
        GpuGlobalStatsFragFields,
        GpuStatsFragFields,
        InitDataFields,
        RuntimePointersFields,
        RuntimeScratchFields,
        UatLevelInfoFields, //
    },
    fw::common,
    mem::{
        object::{
            GpuMem,
            GpuObject,
            SharedHeap, //
        },
        KernelHeaps,
    },
    uat::{heap::HeapBacking, pte},
};

/// A calibration blob the bootloader left in reserved memory.
pub(crate) trait Blob {
    /// Bytes available.
    fn size(&self) -> usize;
    /// Copies the first `dst.len()` bytes.
    fn read(&self, dst: &mut [u8]) -> Result;
}

impl Blob for Mapping {
    fn size(&self) -> usize {
        Mapping::size(self)
    }

    fn read(&self, dst: &mut [u8]) -> Result {
        self.read_bytes(0, dst)
    }
}

/// A blob in plain memory, for tests.
#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
impl Blob for KVec<u8> {
    fn size(&self) -> usize {
        self.len()
    }

    fn read(&self, dst: &mut [u8]) -> Result {
        dst.copy_from_slice(self.get(..dst.len()).ok_or(EINVAL)?);
        Ok(())
    }
}

/// The bootloader's three blobs.
pub(crate) struct Calibration<'a> {
    /// `hw-cal-a`: HwDataA (power).
    pub(crate) hw_cal_a: &'a dyn Blob,
    /// `hw-cal-b`: HwDataB (GPU configuration).
    pub(crate) hw_cal_b: &'a dyn Blob,
    /// `globals`: Globals.
    pub(crate) globals: &'a dyn Blob,
}

/// Soft faults: the firmware reports a GPU fault and carries on (macOS's default;
/// asahi-driver-facts §3.5).
pub(crate) const FAULT_CONTROL_SOFT: u32 = 0xb;
/// Bytes of the "IDTA" buffer InitData points to.
const UNK_BUF_SIZE: usize = 0x4000;

/// UAT geometry as the firmware wants it described: 16 KiB pages, three levels
/// (index shift, entries) from the root down.
pub(crate) const UAT_LEVELS: [(u8, u16); 3] = [(36, 8), (25, 2048), (14, 2048)];

/// The built tree: the root's address and every object it reaches.
pub(crate) struct InitData<B: HeapBacking> {
    va: u64,
    /// Kept as long as the firmware may use them (all of them, for good: InitData is read
    /// at INIT and the firmware keeps every pointer in it).
    objects: KVec<GpuMem<B>>,
}

impl<B: HeapBacking> InitData<B> {
    /// GPU address of InitData (for the INIT message).
    pub(crate) fn va(&self) -> u64 {
        self.va
    }

    /// The objects of the tree (for tests and debugfs).
    pub(crate) fn objects(&self) -> &[GpuMem<B>] {
        &self.objects
    }
}

/// Reads `T` from `blob`, which must hold at least `size_of::<T>()` bytes.
fn from_blob<T: AsBytes + FromBytes + Zeroable>(blob: &dyn Blob, name: &str) -> Result<KVBox<T>> {
    let mut v = KVBox::init(pin_init::init_zeroed::<T>(), GFP_KERNEL)?;
    if blob.size() < size_of::<T>() {
        pr_err!(
            "calibration region {} holds {:#x} bytes, the firmware needs {:#x}\n",
            name,
            blob.size(),
            size_of::<T>()
        );
        return Err(EINVAL);
    }
    blob.read(v.as_bytes_mut())?;
    Ok(v)
}

/// Collects objects and hands out their addresses.
struct Tree<B: HeapBacking>(KVec<GpuMem<B>>);

impl<B: HeapBacking> Tree<B> {
    fn keep<T: AsBytes + FromBytes + Zeroable>(&mut self, obj: GpuObject<T, B>) -> Result<u64> {
        let mem = obj.into_mem();
        let va = mem.va();
        self.0.push(mem, GFP_KERNEL)?;
        Ok(va)
    }

    fn zeroed(&mut self, heap: &SharedHeap<B>, size: usize) -> Result<u64> {
        let mem = GpuMem::new(heap, size, 0x80)?;
        let va = mem.va();
        self.0.push(mem, GFP_KERNEL)?;
        Ok(va)
    }

    fn copy<T: AsBytes + FromBytes + Zeroable>(
        &mut self,
        heap: &SharedHeap<B>,
        value: &T,
    ) -> Result<u64> {
        let obj = GpuObject::<T, B>::zeroed(heap)?;
        obj.write(value)?;
        self.keep(obj)
    }
}

/// Fills the UAT description of `d` for an output address size of `oas` bits.
pub(crate) fn describe_uat<A: abi::FwAbi>(d: &mut A::InitData, oas: u32) {
    *d.uat_page_size_mut() = pte::PAGE_SIZE as u16;
    *d.uat_page_bits_mut() = pte::PAGE_SHIFT as u8;
    *d.uat_num_levels_mut() = UAT_LEVELS.len() as u8;
    let out_mask = ((1u64 << oas) - 1) & !(pte::PAGE_SIZE - 1);
    for (l, &(shift, entries)) in d.uat_level_info_mut().iter_mut().zip(UAT_LEVELS.iter()) {
        *l.unk_3_mut() = 8;
        *l.unk_1_mut() = pte::PAGE_SHIFT as u8;
        *l.unk_2_mut() = pte::PAGE_SHIFT as u8;
        *l.index_shift_mut() = shift;
        *l.num_entries_mut() = common::U16::new(entries);
        *l.unk_4_mut() = common::U16::new(pte::PAGE_SIZE as u16);
        *l.unk_8_mut() = common::U64::new(1);
        *l.unk_10_mut() = common::U64::new(out_mask);
        *l.index_mask_mut() = common::U64::new((u64::from(entries) - 1) << shift);
    }
}

/// Builds the tree for ABI `A` over `heaps`, pointing at `channels`, for a GPU whose UAT
/// outputs `oas`-bit addresses.
///
/// # Errors
///
/// [`EINVAL`] when a calibration blob is smaller than the ABI's structure, [`ENOMEM`] and
/// the heaps' errors.
pub(crate) fn build<A: abi::FwAbi, B: HeapBacking>(
    heaps: &KernelHeaps<B>,
    channels: &Channels<B>,
    cal: &Calibration<'_>,
    oas: u32,
) -> Result<InitData<B>> {
    let mut t = Tree(KVec::new());

    // Calibration, copied.
    let hwdata_a = from_blob::<A::HwDataA>(cal.hw_cal_a, "hw-cal-a")?;
    let hwdata_a = t.copy(&heaps.private, &*hwdata_a)?;
    let hwdata_b = from_blob::<A::HwDataB>(cal.hw_cal_b, "hw-cal-b")?;
    let hwdata_b = t.copy(&heaps.private, &*hwdata_b)?;
    let mut globals = from_blob::<A::Globals>(cal.globals, "globals")?;
    *globals.fault_control_mut() = FAULT_CONTROL_SOFT;
    *globals.pending_submissions_mut() = 0;
    let globals = t.copy(&heaps.private, &*globals)?;

    // Statistics the firmware keeps.
    let stats_vtx = t.zeroed(&heaps.private, size_of::<A::GpuGlobalStatsVtx>())?;
    let stats_frag = GpuObject::<A::GpuGlobalStatsFrag, B>::new(&heaps.private, |s| {
        *s.stats_mut().cur_stamp_id_mut() = -1;
        *s.stats_mut().unk_id_mut() = -1;
        Ok(())
    })?;
    let stats_frag = t.keep(stats_frag)?;
    let stats_comp = t.zeroed(&heaps.private, size_of::<A::GpuStatsComp>())?;

    // Firmware scratch arrays (sizes: the pointer targets in firmware-defs).
    let unk_190 = t.zeroed(&heaps.private, 0x80)?;
    let unk_198 = t.zeroed(&heaps.private, 0xc0)?;
    let unk_1b8 = t.zeroed(&heaps.private, 0x1000)?;
    let unk_1c0 = t.zeroed(&heaps.private, 0x300)?;
    let unk_1c8 = t.zeroed(&heaps.private, 0x1000)?;

    let runtime = GpuObject::<A::RuntimePointers, B>::new(&heaps.private, |rp| {
        channels.publish::<A>(rp);
        rp.set_stats_vtx(stats_vtx);
        rp.set_stats_frag(stats_frag);
        rp.set_stats_comp(stats_comp);
        rp.set_hwdata_a(hwdata_a);
        rp.set_hwdata_b(hwdata_b);
        rp.set_hwdata_b_2(hwdata_b);
        rp.set_unkptr_190(unk_190);
        rp.set_unkptr_198(unk_198);
        rp.set_unkptr_1b8(unk_1b8);
        // Absent on G14X: the arrays are then kept but unused.
        rp.set_unkptr_1c0(unk_1c0);
        rp.set_unkptr_1c8(unk_1c8);
        *rp.gpu_scratch_mut().unk_6b38_mut() = 0xff;
        Ok(())
    })?;
    let runtime = t.keep(runtime)?;

    let fw_status = GpuObject::<A::FwStatus, B>::new(&heaps.shared, |s| {
        channels.publish_fw_ctl::<A>(s);
        Ok(())
    })?;
    let fw_status = t.keep(fw_status)?;
    let unk_buf = t.zeroed(&heaps.ro_shared, UNK_BUF_SIZE)?;

    let root = GpuObject::<A::InitData, B>::new(&heaps.private, |d| {
        d.set_unk_buf(unk_buf);
        d.set_runtime_pointers(runtime);
        d.set_globals(globals);
        d.set_fw_status(fw_status);
        describe_uat::<A>(d, oas);
        *d.host_mapped_fw_allocations_mut() = 1;
        Ok(())
    })?;
    let va = t.keep(root)?;
    Ok(InitData { va, objects: t.0 })
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_initdata)]
mod tests {
    use super::*;
    use crate::{
        fw::{
            abi::{
                DeviceControlRingFields,
                FwCtlRingFields,
                FwStatusFields, //
            },
            common::PtrField,
        },
        mem::{
            class_accepts,
            test_backing::MemBacking, //
        },
    };

    fn blob(size: usize, seed: u8) -> Result<KVec<u8>> {
        let mut v = KVec::with_capacity(size, GFP_KERNEL)?;
        for i in 0..size {
            v.push((i as u8).wrapping_mul(7).wrapping_add(seed), GFP_KERNEL)?;
        }
        Ok(v)
    }

    /// Reads the object of `tree` that starts at `va` as a `T`.
    fn object<T: AsBytes + FromBytes + Zeroable>(
        tree: &InitData<MemBacking>,
        va: u64,
    ) -> Result<KVBox<T>> {
        let mem = tree.objects().iter().find(|m| m.va() == va).ok_or(ENOENT)?;
        assert_eq!(mem.size(), size_of::<T>());
        let mut v = KVBox::init(pin_init::init_zeroed::<T>(), GFP_KERNEL)?;
        mem.read_bytes(0, v.as_bytes_mut())?;
        Ok(v)
    }

    /// Every pointer of `table` in `v` is set and lands in a heap of its class; returns
    /// how many were checked.
    fn pointers_in_class<T: AsBytes>(v: &T, table: &[PtrField]) -> usize {
        let b = v.as_bytes();
        for p in table {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[p.offset..p.offset + 8]);
            let va = u64::from_le_bytes(w);
            assert!(va != 0, "{} is null", p.name);
            assert!(
                class_accepts(p.class, va),
                "{} = {:#x} outside its heap class",
                p.name,
                va
            );
        }
        table.len()
    }

    /// Builds the tree for `A` and checks it against asahi-driver-facts §3.5-3.6.
    fn check<A: abi::FwAbi>(oas: u32) -> Result {
        let heaps = KernelHeaps::new(MemBacking::new)?;
        let events = crate::event::EventManager::new(&heaps)?;
        let channels = Channels::new::<A>(&heaps, &events)?;
        let (a, b, g) = (blob(0x8000, 1)?, blob(0x4000, 2)?, blob(0x1_8000, 3)?);
        let cal = Calibration {
            hw_cal_a: &a,
            hw_cal_b: &b,
            globals: &g,
        };
        let tree = build::<A, MemBacking>(&heaps, &channels, &cal, oas)?;

        let root = object::<A::InitData>(&tree, tree.va())?;
        assert_eq!(*root.uat_page_size(), 0x4000);
        assert_eq!(*root.uat_page_bits(), 14);
        assert_eq!(*root.uat_num_levels(), 3);
        assert_eq!(*root.host_mapped_fw_allocations(), 1);
        let levels = root.uat_level_info();
        for (l, &(shift, entries)) in levels.iter().zip(UAT_LEVELS.iter()) {
            assert_eq!((*l.index_shift(), l.num_entries().get()), (shift, entries));
            assert_eq!((*l.unk_1(), *l.unk_2(), *l.unk_3()), (14, 14, 8));
            assert_eq!(l.unk_4().get(), 0x4000);
            assert_eq!(l.unk_8().get(), 1);
            assert_eq!(l.unk_10().get(), ((1u64 << oas) - 1) & !0x3fff);
            assert_eq!(l.index_mask().get(), (u64::from(entries) - 1) << shift);
        }
        assert_eq!(levels[0].index_mask().get(), 0x7 << 36);
        let mut checked =
            pointers_in_class(&*root, <A::InitData as InitDataFields<A>>::POINTER_FIELDS);

        let rp = object::<A::RuntimePointers>(&tree, root.runtime_pointers())?;
        checked += pointers_in_class(
            &*rp,
            <A::RuntimePointers as RuntimePointersFields<A>>::POINTER_FIELDS,
        );
        let dc = rp.device_control();
        checked += pointers_in_class(
            dc,
            <A::DeviceControlRing as DeviceControlRingFields<A>>::POINTER_FIELDS,
        );
        assert_eq!(dc.state(), channels.device_control.state().va());
        assert_eq!(rp.hwdata_b(), rp.hwdata_b_2());
        assert_eq!(*rp.gpu_scratch().unk_6b38(), 0xff);

        let st = object::<A::FwStatus>(&tree, root.fw_status())?;
        checked += pointers_in_class(
            st.fwctl_channel(),
            <A::FwCtlRing as FwCtlRingFields<A>>::POINTER_FIELDS,
        );

        // Copied, not computed: the blobs' bytes, but for what the driver owns.
        let globals = object::<A::Globals>(&tree, root.globals())?;
        assert_eq!(*globals.fault_control(), FAULT_CONTROL_SOFT);
        let gb = globals.as_bytes();
        let differing = gb.iter().zip(g.iter()).filter(|(x, y)| x != y).count();
        assert!(
            differing <= 8,
            "{} bytes of Globals differ from the blob",
            differing
        );
        let hb = object::<A::HwDataB>(&tree, rp.hwdata_b())?;
        assert_eq!(hb.as_bytes(), &b[..size_of::<A::HwDataB>()]);
        let ha = object::<A::HwDataA>(&tree, rp.hwdata_a())?;
        assert_eq!(ha.as_bytes(), &a[..size_of::<A::HwDataA>()]);
        assert!(checked >= 16);
        Ok(())
    }

    #[test]
    fn initdata_g13_v12_3() -> Result {
        check::<abi::G13V12_3>(40)
    }

    #[test]
    fn initdata_g14_v12_4() -> Result {
        check::<abi::G14V12_4>(40)
    }

    #[test]
    fn initdata_g13_v13_5() -> Result {
        check::<abi::G13V13_5>(42)
    }

    #[test]
    fn initdata_g14_v13_5() -> Result {
        check::<abi::G14V13_5>(40)
    }

    #[test]
    fn initdata_g14x_v13_5() -> Result {
        check::<abi::G14XV13_5>(42)
    }

    #[test]
    fn a_blob_smaller_than_the_structure_is_refused() -> Result {
        let heaps = KernelHeaps::new(MemBacking::new)?;
        let events = crate::event::EventManager::new(&heaps)?;
        let channels = Channels::new::<abi::G13V13_5>(&heaps, &events)?;
        let (a, b, g) = (blob(0x8000, 1)?, blob(0x100, 2)?, blob(0x1_8000, 3)?);
        let cal = Calibration {
            hw_cal_a: &a,
            hw_cal_b: &b,
            globals: &g,
        };
        let r = build::<abi::G13V13_5, MemBacking>(&heaps, &channels, &cal, 42);
        assert_eq!(r.err(), Some(EINVAL));
        Ok(())
    }
}
