// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The driver's kernel heaps (context 0, upper half) and which pointer class may point where.
//!
//! The firmware maps its objects with the attributes of the heap they come from (cached
//! private, uncached shared, read-only to the GPU, ...). An object in the wrong heap has the
//! wrong cacheability or rights for the firmware, which on hardware corrupts state silently;
//! the model refuses it at INIT instead.

use super::generated::common::PtrClass;

/// One of the driver's kernel heaps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heap {
    /// Firmware-private (cached) objects.
    KernelPrivate,
    /// Shared objects the GPU only reads.
    KernelGpuRoShared,
    /// Shared (uncached) objects.
    KernelShared,
    /// Shared objects the firmware only reads.
    KernelRoShared,
    /// Shared objects the GPU also writes.
    KernelGpuShared,
}

/// The heaps' VA ranges, [start, end).
pub const HEAPS: [(Heap, u64, u64); 5] = [
    (
        Heap::KernelPrivate,
        0xffff_ffa0_0000_0000,
        0xffff_ffa6_0000_0000,
    ),
    (
        Heap::KernelGpuRoShared,
        0xffff_ffa6_0000_0000,
        0xffff_ffa8_0000_0000,
    ),
    (
        Heap::KernelShared,
        0xffff_ffa8_0000_0000,
        0xffff_ffaa_0000_0000,
    ),
    (
        Heap::KernelRoShared,
        0xffff_ffaa_0000_0000,
        0xffff_ffac_0000_0000,
    ),
    (
        Heap::KernelGpuShared,
        0xffff_ffac_0000_0000,
        0xffff_ffae_0000_0000,
    ),
];

impl Heap {
    /// Name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Heap::KernelPrivate => "Kernel Private",
            Heap::KernelGpuRoShared => "Kernel GPU RO Shared",
            Heap::KernelShared => "Kernel Shared",
            Heap::KernelRoShared => "Kernel RO Shared",
            Heap::KernelGpuShared => "Kernel GPU Shared",
        }
    }

    /// The heap holding `va`.
    pub fn of(va: u64) -> Option<Heap> {
        HEAPS
            .iter()
            .find(|(_, s, e)| (*s..*e).contains(&va))
            .map(|(h, _, _)| *h)
    }
}

/// Whether a `class` pointer may point into `heap`.
pub fn accepts(class: PtrClass, heap: Heap) -> bool {
    match class {
        PtrClass::Any => true,
        PtrClass::Private => heap == Heap::KernelPrivate,
        PtrClass::Shared => matches!(heap, Heap::KernelShared | Heap::KernelGpuShared),
        PtrClass::GpuRo => matches!(heap, Heap::KernelGpuRoShared | Heap::KernelRoShared),
        PtrClass::User => false,
    }
}

/// The heaps `class` allows, for reports.
pub fn allowed(class: PtrClass) -> &'static str {
    match class {
        PtrClass::Any => "any kernel heap",
        PtrClass::Private => "Kernel Private",
        PtrClass::Shared => "Kernel Shared or Kernel GPU Shared",
        PtrClass::GpuRo => "Kernel GPU RO Shared or Kernel RO Shared",
        PtrClass::User => "user memory (never a kernel object)",
    }
}

/// Whether the firmware writes targets of `class` pointers (so they must map writable).
pub fn written(class: PtrClass) -> bool {
    matches!(class, PtrClass::Shared | PtrClass::Private)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_map_to_heaps() {
        assert_eq!(Heap::of(0xffff_ffa0_0000_0000), Some(Heap::KernelPrivate));
        assert_eq!(Heap::of(0xffff_ffad_ffff_ffff), Some(Heap::KernelGpuShared));
        assert_eq!(Heap::of(0xffff_ffae_0000_0000), None);
        assert!(accepts(PtrClass::Shared, Heap::KernelGpuShared));
        assert!(!accepts(PtrClass::Shared, Heap::KernelPrivate));
        assert!(accepts(PtrClass::GpuRo, Heap::KernelRoShared));
        assert!(accepts(PtrClass::Any, Heap::KernelRoShared));
        assert!(written(PtrClass::Private) && !written(PtrClass::GpuRo));
    }
}
