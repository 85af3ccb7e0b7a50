// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! What the firmware code needs of a variant beyond fwgen's `FwAbi` trait: the pointer tables
//! and enum names that fwgen emits per concrete struct, gathered behind one trait so the
//! firmware is written once, generic over `A: ModelAbi`.
//!
//! The impls are produced by one macro from the variant list, so adding a variant is one line
//! here and no firmware code.

use std::mem::{align_of, size_of};

use super::generated::abi::{self, FwAbi};
use super::generated::common::PtrField;
use super::generated::{g13_v12_3, g13_v13_5, g14_v12_4, g14_v13_5, g14x_v13_5};

/// A variant as the model's firmware uses it.
pub trait ModelAbi: FwAbi + std::fmt::Debug {
    /// `InitData`'s pointer fields.
    const INITDATA_PTRS: &'static [PtrField];
    /// `RuntimePointers`' pointer fields (the non-ring ones; rings are descriptors).
    const RUNTIME_POINTERS_PTRS: &'static [PtrField];
    /// `PipeRing`'s pointers (state, ring).
    const PIPE_RING_PTRS: &'static [PtrField];
    /// `DeviceControlRing`'s pointers.
    const DEVICE_CONTROL_RING_PTRS: &'static [PtrField];
    /// `EventRing`'s pointers.
    const EVENT_RING_PTRS: &'static [PtrField];
    /// `FwLogRing`'s pointers.
    const FW_LOG_RING_PTRS: &'static [PtrField];
    /// `KTraceRing`'s pointers.
    const KTRACE_RING_PTRS: &'static [PtrField];
    /// `StatsRing`'s pointers.
    const STATS_RING_PTRS: &'static [PtrField];
    /// `FwCtlRing`'s pointers.
    const FWCTL_RING_PTRS: &'static [PtrField];

    /// The name of DeviceControl tag `tag` on this variant, `None` if it defines none.
    fn device_control_tag_name(tag: u32) -> Option<&'static str>;
}

macro_rules! model_abi {
    ($($marker:ident => $m:ident),* $(,)?) => {$(
        impl ModelAbi for abi::$marker {
            const INITDATA_PTRS: &'static [PtrField] = $m::InitData::POINTERS;
            const RUNTIME_POINTERS_PTRS: &'static [PtrField] = $m::RuntimePointers::POINTERS;
            const PIPE_RING_PTRS: &'static [PtrField] = $m::PipeRing::POINTERS;
            const DEVICE_CONTROL_RING_PTRS: &'static [PtrField] = $m::DeviceControlRing::POINTERS;
            const EVENT_RING_PTRS: &'static [PtrField] = $m::EventRing::POINTERS;
            const FW_LOG_RING_PTRS: &'static [PtrField] = $m::FwLogRing::POINTERS;
            const KTRACE_RING_PTRS: &'static [PtrField] = $m::KTraceRing::POINTERS;
            const STATS_RING_PTRS: &'static [PtrField] = $m::StatsRing::POINTERS;
            const FWCTL_RING_PTRS: &'static [PtrField] = $m::FwCtlRing::POINTERS;

            fn device_control_tag_name(tag: u32) -> Option<&'static str> {
                $m::DeviceControlTag(tag).name()
            }
        }
    )*};
}

model_abi!(
    G13V12_3 => g13_v12_3,
    G14V12_4 => g14_v12_4,
    G13V13_5 => g13_v13_5,
    G14V13_5 => g14_v13_5,
    G14XV13_5 => g14x_v13_5,
);

/// Size and alignment of a pointer target as the definitions spell it (`RuntimePointers`,
/// `[u8; 0x80]`, ...). `None` for a name the model does not know; the caller then checks
/// only the first byte.
pub fn target_layout<A: FwAbi>(target: &str) -> Option<(u64, u64)> {
    fn of<T>() -> Option<(u64, u64)> {
        Some((size_of::<T>() as u64, align_of::<T>() as u64))
    }
    match target {
        "RuntimePointers" => of::<A::RuntimePointers>(),
        "Globals" => of::<A::Globals>(),
        "FwStatus" => of::<A::FwStatus>(),
        "HwDataA" => of::<A::HwDataA>(),
        "HwDataB" => of::<A::HwDataB>(),
        "GpuGlobalStatsVtx" => of::<A::GpuGlobalStatsVtx>(),
        "GpuGlobalStatsFrag" => of::<A::GpuGlobalStatsFrag>(),
        "GpuStatsComp" => of::<A::GpuStatsComp>(),
        "ChannelState" => of::<A::ChannelState>(),
        "FwCtlChannelState" => of::<A::FwCtlChannelState>(),
        "FwLogChannelState" => of::<A::FwLogChannelState>(),
        // The payload array: one entry per (sub-ring, index) of the FW log (facts §3.3).
        "RawFwLogPayloadMsg" => Some((
            size_of::<A::RawFwLogPayloadMsg>() as u64
                * u64::from(super::channels::FWLOG_SUBRINGS * super::channels::ENTRIES),
            align_of::<A::RawFwLogPayloadMsg>() as u64,
        )),
        t => {
            let n = t.strip_prefix("[u8; 0x")?.strip_suffix(']')?;
            Some((u64::from_str_radix(n, 16).ok()?, 1))
        }
    }
}

/// Byte offset of the field `set` writes in a zeroed `T` (it must write a non-zero value):
/// how the firmware learns where `read_ptr`/`write_ptr` sit without naming a variant.
pub fn field_offset<T: zerocopy::FromZeros + zerocopy::IntoBytes + zerocopy::Immutable>(
    set: impl FnOnce(&mut T),
) -> usize {
    let mut t = T::new_zeroed();
    set(&mut t);
    t.as_bytes()
        .iter()
        .position(|b| *b != 0)
        .expect("the setter writes a non-zero value")
}

#[cfg(test)]
mod tests {
    use super::super::generated::abi::{ChannelStateFields, FwCtlChannelStateFields};
    use super::*;

    #[test]
    fn tag_names_and_layouts_follow_the_variant() {
        assert_eq!(
            abi::G13V12_3::device_control_tag_name(0x19),
            Some("Initialize")
        );
        assert_eq!(abi::G14XV13_5::device_control_tag_name(0x19), None);
        assert_eq!(
            target_layout::<abi::G13V12_3>("[u8; 0x1000]"),
            Some((0x1000, 1))
        );
        assert_eq!(
            target_layout::<abi::G14XV13_5>("Globals").map(|l| l.0),
            Some(0x1715c)
        );
        assert_eq!(target_layout::<abi::G13V12_3>("Nonsense"), None);
    }

    #[test]
    fn pointer_offsets_are_found_from_the_accessors() {
        type S = <abi::G13V13_5 as FwAbi>::ChannelState;
        type F = <abi::G13V13_5 as FwAbi>::FwCtlChannelState;
        assert_eq!(field_offset::<S>(|s| *s.read_ptr_mut() = !0), 0);
        assert_eq!(field_offset::<S>(|s| *s.write_ptr_mut() = !0), 0x20);
        assert_eq!(field_offset::<F>(|s| *s.write_ptr_mut() = !0), 0x10);
    }
}
