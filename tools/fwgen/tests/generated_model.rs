//! Compiles the model flavour of the generated bindings for every variant and
//! checks a few layouts through the generated types themselves.

#![deny(warnings)]

include!(concat!(env!("OUT_DIR"), "/model_generated.rs"));

use zerocopy::{FromBytes, FromZeros, IntoBytes};

fn round_trip<T: FromBytes + IntoBytes + zerocopy::Immutable + zerocopy::KnownLayout + Copy>() {
    let zero = T::new_zeroed();
    let bytes = zero.as_bytes().to_vec();
    assert_eq!(bytes.len(), core::mem::size_of::<T>());
    let back = T::read_from_bytes(&bytes).expect("size matches");
    assert_eq!(back.as_bytes(), bytes.as_slice());
}

fn generic_sizes<A: abi::FwAbi>() -> (usize, usize) {
    round_trip::<A::InitData>();
    round_trip::<A::RuntimePointers>();
    (
        core::mem::size_of::<A::InitData>(),
        core::mem::size_of::<A::Globals>(),
    )
}

#[test]
fn sizes_through_the_trait() {
    assert_eq!(generic_sizes::<abi::G13V12_3>(), (0xb4, 0x11d40));
    assert_eq!(generic_sizes::<abi::G14V12_4>(), (0xb4, 0x11d40));
    assert_eq!(generic_sizes::<abi::G13V13_5>(), (0xbc, 0x12394));
    assert_eq!(generic_sizes::<abi::G14V13_5>(), (0xbc, 0x12394));
    assert_eq!(generic_sizes::<abi::G14XV13_5>(), (0xbc, 0x1715c));
    assert_eq!(
        <abi::G14XV13_5 as abi::FwAbi>::SOCS,
        &["t6020", "t6021", "t6022"]
    );
}

#[test]
fn unaligned_fields_and_pointers() {
    let mut m = g13_v13_5::RunWorkQueueMsg::new_zeroed();
    m.pipe_type = g13_v13_5::PipeType::FRAGMENT;
    m.work_queue = common::GpuPtr::new(0xffff_ffa0_0000_1234);
    m.wptr = 7;
    let b = m.as_bytes();
    assert_eq!(&b[0..4], &1u32.to_le_bytes());
    assert_eq!(&b[4..12], &0xffff_ffa0_0000_1234u64.to_le_bytes());
    assert_eq!(&b[12..16], &7u32.to_le_bytes());
    assert_eq!(core::mem::size_of::<g14_v13_5::RunWorkQueueMsg>(), 0x40);
}

fn initialize_tag<A: abi::FwAbi>() -> u32 {
    A::DEVICE_CONTROL_TAG_INITIALIZE
}

#[test]
fn enum_values_follow_the_version() {
    assert_eq!(initialize_tag::<abi::G13V12_3>(), 0x19);
    assert_eq!(initialize_tag::<abi::G14XV13_5>(), 0x1a);
    assert_eq!(g13_v12_3::DeviceControlTag::INITIALIZE.0, 0x19);
    assert_eq!(g13_v13_5::DeviceControlTag::INITIALIZE.0, 0x1a);
}

#[test]
fn pointer_tables_carry_offset_and_class() {
    use common::{PtrClass, PtrField};
    let find = |t: &'static [PtrField], n: &str| t.iter().copied().find(|p| p.name == n);
    let rp = find(g13_v13_5::InitData::POINTERS, "runtime_pointers").expect("listed");
    assert_eq!((rp.offset, rp.class), (0x18, PtrClass::Private));
    assert_eq!(rp.target, "RuntimePointers");
    let fs = find(g13_v12_3::InitData::POINTERS, "fw_status").expect("listed");
    assert_eq!((fs.offset, fs.class), (0x20, PtrClass::Shared));
    // Offset order, and no plain integer field is listed as a pointer.
    let t = g14x_v13_5::InitData::POINTERS;
    assert!(t.windows(2).all(|w| w[0].offset < w[1].offset));
    assert!(find(t, "ver_info").is_none());
}

#[test]
fn enum_names_follow_the_version() {
    let old = g13_v12_3::DeviceControlTag(0x19);
    let new = g14x_v13_5::DeviceControlTag(0x19);
    assert_eq!(old.name(), Some("Initialize"));
    // 13.3 shifted the tags by one; the definitions name no 0x19 on 13.5.
    assert_eq!(new.name(), None);
    assert!(!new.is_known());
    assert_eq!(
        g14x_v13_5::DeviceControlTag(0x1a).name(),
        Some("Initialize")
    );
    assert_eq!(g13_v13_5::EventTag(2).name(), None);
    assert!(g13_v13_5::EventTag(7).is_known());
}

/// Fills InitData through the version-neutral accessors, as the driver does, and returns its
/// bytes; `ver_info` is set only where the variant has it.
fn fill_initdata<A: abi::FwAbi>() -> (Vec<u8>, bool) {
    use abi::{InitDataFields, UatLevelInfoFields};
    let mut d = A::InitData::new_zeroed();
    d.set_runtime_pointers(0xffff_ffa0_0001_0000);
    d.set_fw_status(0xffff_ffaa_0000_4000);
    *d.uat_page_size_mut() = 0x4000;
    *d.uat_page_bits_mut() = 14;
    *d.uat_num_levels_mut() = 3;
    *d.host_mapped_fw_allocations_mut() = 1;
    let lvl = &mut d.uat_level_info_mut()[1];
    *lvl.index_shift_mut() = 25;
    *lvl.num_entries_mut() = common::U16::new(2048);
    *lvl.index_mask_mut() = common::U64::new(0x7ff << 25);
    let has_ver = match d.ver_info_mut() {
        Some(v) => {
            *v = [1, 2, 3, 4];
            true
        }
        None => false,
    };
    assert_eq!(d.runtime_pointers(), 0xffff_ffa0_0001_0000);
    assert_eq!(d.uat_level_info()[1].num_entries().get(), 2048);
    (d.as_bytes().to_vec(), has_ver)
}

fn le(b: &[u8], at: usize, n: usize) -> u64 {
    let mut v = [0u8; 8];
    v[..n].copy_from_slice(&b[at..at + n]);
    u64::from_le_bytes(v)
}

/// The accessors write where facts §3.1 puts each field: region A moved by 8 bytes at 13.0b4
/// (`ver_info` was added in front), and 12.x has no `ver_info` at all.
#[test]
fn accessors_write_each_field_at_its_variant_offset() {
    fn check<A: abi::FwAbi>(base: usize, ver: bool) {
        let (b, has_ver) = fill_initdata::<A>();
        assert_eq!(has_ver, ver, "{:?}", A::FIRMWARE);
        assert_eq!(le(&b, base + 0x10, 8), 0xffff_ffa0_0001_0000);
        assert_eq!(le(&b, base + 0x20, 8), 0xffff_ffaa_0000_4000);
        assert_eq!(le(&b, base + 0x28, 2), 0x4000);
        assert_eq!(le(&b, base + 0x2a, 1), 14);
        assert_eq!(le(&b, base + 0x2b, 1), 3);
        let l1 = base + 0x2c + 0x20;
        assert_eq!(le(&b, l1 + 3, 1), 25);
        assert_eq!(le(&b, l1 + 4, 2), 2048);
        assert_eq!(le(&b, l1 + 0x18, 8), 0x7ff << 25);
        assert_eq!(le(&b, base + 0xa0, 4), 1);
        if ver {
            assert_eq!(&b[0..8], &[1, 0, 2, 0, 3, 0, 4, 0]);
        }
    }
    check::<abi::G13V12_3>(0, false);
    check::<abi::G14V12_4>(0, false);
    check::<abi::G13V13_5>(8, true);
    check::<abi::G14V13_5>(8, true);
    check::<abi::G14XV13_5>(8, true);
}

/// A field some variants lack reports its absence instead of writing elsewhere: an array
/// (`ver_info`, 13.0b4 on) and a GPU pointer (`control_word`, G14X only).
#[test]
fn optional_fields_report_absence() {
    use abi::{BufferSceneFields, InitDataFields};
    let mut d = g13_v12_3::InitData::new_zeroed();
    assert!(<g13_v12_3::InitData as InitDataFields<abi::G13V12_3>>::ver_info(&d).is_none());
    assert!(<g13_v12_3::InitData as InitDataFields<abi::G13V12_3>>::ver_info_mut(&mut d).is_none());
    assert!(d.as_bytes().iter().all(|&x| x == 0));

    fn point<A: abi::FwAbi>() -> (bool, Option<u64>, Vec<u8>) {
        let mut s = A::BufferScene::new_zeroed();
        let set = s.set_control_word(0xffff_ffa0_0000_8000);
        (set, s.control_word(), s.as_bytes().to_vec())
    }
    let (set, got, bytes) = point::<abi::G13V13_5>();
    assert!(!set);
    assert_eq!(got, None);
    assert!(bytes.iter().all(|&x| x == 0));
    let (set, got, bytes) = point::<abi::G14XV13_5>();
    assert!(set);
    assert_eq!(got, Some(0xffff_ffa0_0000_8000));
    assert_eq!(le(&bytes, 0, 8), 0xffff_ffa0_0000_8000);
}

/// The pointer tables are reachable generically and follow the variant's layout.
#[test]
fn pointer_tables_through_the_trait() {
    fn runtime_ptrs<A: abi::FwAbi>() -> Vec<(&'static str, usize)> {
        <A::InitData as abi::InitDataFields<A>>::POINTER_FIELDS
            .iter()
            .map(|p| (p.name, p.offset))
            .collect()
    }
    assert!(runtime_ptrs::<abi::G13V12_3>().contains(&("runtime_pointers", 0x10)));
    assert!(runtime_ptrs::<abi::G14XV13_5>().contains(&("runtime_pointers", 0x18)));
}
