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
