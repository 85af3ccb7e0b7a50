// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! UAT descriptor encoding and the protections the driver maps with.
//!
//! The UAT reuses the shape of an ARMv8 stage-1 descriptor (valid bits, attribute index, AP,
//! AF, nG, PXN/UXN) but gives the fields its own meaning: AP selects who may touch a page at
//! all (firmware, GPU or both) and the (UXN, PXN) pair then selects read, write or both, with
//! a different table for each AP value. Bit 55, unused on the CPU side, must be set on every
//! driver mapping. Sources: asahi-driver-facts §6.1 (jannau/linux:drivers/gpu/drm/asahi/
//! pgtable.rs `Prot`, the `PROT_*` constants and `PTE_TABLE`).
//!
//! The named protections live here as constants so each is written once and its meaning can
//! be checked by decoding it again (see the KUnit suite `asahi_uat_pte`).

/// Valid bits of a table or page descriptor (both levels use `0b11`).
const DESC_VALID: u64 = 0b11;
/// Shift of the memory attribute index (bits 4:2).
const ATTR_SHIFT: u32 = 2;
/// Shift of the AP field (bits 7:6).
const AP_SHIFT: u32 = 6;
/// Access flag (bit 10), always set: the UAT has no access-flag faults the driver handles.
const AF: u64 = 1 << 10;
/// Not-global (bit 11): the translation is tagged with the context's ASID.
const NG: u64 = 1 << 11;
/// "PXN" (bit 53), second permission bit.
const PXN: u64 = 1 << 53;
/// "UXN" (bit 54), first permission bit.
const UXN: u64 = 1 << 54;
/// GPU-access bit (bit 55), set on every driver mapping.
const GPU_ACCESS: u64 = 1 << 55;

/// Bits 63:52, which the driver treats as one group of protection bits.
const HIGH_BITS: u64 = 0xfff << 52;
/// Bits 11:2, the low attribute bits of a page descriptor.
const LOW_BITS: u64 = 0x3ff << 2;

/// Granule shift: the UAT page is always 16 KiB, whatever the CPU page size.
pub(crate) const PAGE_SHIFT: u32 = 14;
/// Size of a UAT page.
pub(crate) const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;

/// Memory attribute index of a page (bits 4:2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum MemAttr {
    /// Normal write-back cached memory.
    Cached = 0,
    /// Device memory (firmware MMIO windows).
    Device = 1,
    /// Normal uncached memory.
    Uncached = 2,
}

/// The AP field (bits 7:6): which agents may access the page at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Ap {
    /// Firmware and GPU.
    FwGpu = 0,
    /// Firmware only (the (1, 1) permission pair adds GPU read access).
    Fw = 1,
    /// GPU only.
    Gpu = 2,
}

/// What one agent may do with a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// No access.
    None,
    /// Read only.
    Read,
    /// Write only.
    Write,
    /// Read and write.
    ReadWrite,
}

/// A protection: attribute index, AP and the (UXN, PXN) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Prot {
    attr: MemAttr,
    ap: Ap,
    uxn: bool,
    pxn: bool,
}

impl Prot {
    /// Builds a protection from its raw fields.
    pub(crate) const fn new(attr: MemAttr, ap: Ap, uxn: bool, pxn: bool) -> Self {
        Self { attr, ap, uxn, pxn }
    }

    /// Memory attribute index.
    pub(crate) const fn attr(&self) -> MemAttr {
        self.attr
    }

    /// What the firmware (ASC) may do with a page of this protection.
    pub(crate) const fn fw_access(&self) -> Access {
        match (self.ap, self.uxn, self.pxn) {
            (Ap::Gpu, _, _) => Access::None,
            (Ap::FwGpu, false, false) | (Ap::Fw, false, true) => Access::None,
            (Ap::FwGpu, false, true) | (Ap::Fw, false, false) => Access::Read,
            (Ap::FwGpu, true, false) => Access::Write,
            (Ap::FwGpu, true, true) | (Ap::Fw, true, _) => Access::ReadWrite,
        }
    }

    /// What the GPU may do with a page of this protection.
    pub(crate) const fn gpu_access(&self) -> Access {
        match (self.ap, self.uxn, self.pxn) {
            (Ap::Fw, true, true) => Access::Read,
            (Ap::Fw, _, _) => Access::None,
            (Ap::FwGpu, false, false) | (Ap::Gpu, true, true) => Access::None,
            (Ap::FwGpu, false, true) | (Ap::Gpu, false, false) => Access::Read,
            (Ap::FwGpu, true, false) | (Ap::Gpu, false, true) => Access::Write,
            (Ap::FwGpu, true, true) | (Ap::Gpu, true, false) => Access::ReadWrite,
        }
    }

    /// Whether pages of this protection may sit in the firmware's (ASC's) data cache, so that
    /// the coprocessor-cache flush protocol must run before they are unmapped.
    pub(crate) const fn is_cached_noncoherent(&self) -> bool {
        !matches!(self.ap, Ap::Gpu) && matches!(self.attr, MemAttr::Cached)
    }

    /// The same protection with the given memory attribute (used to remap a cached mapping
    /// uncached before its cache lines are flushed).
    pub(crate) const fn with_attr(self, attr: MemAttr) -> Self {
        Self { attr, ..self }
    }

    /// Descriptor bits of this protection (everything but the address and the nG bit).
    const fn bits(&self) -> u64 {
        let mut bits = DESC_VALID
            | AF
            | GPU_ACCESS
            | ((self.attr as u64) << ATTR_SHIFT)
            | ((self.ap as u64) << AP_SHIFT);
        if self.uxn {
            bits |= UXN;
        }
        if self.pxn {
            bits |= PXN;
        }
        bits
    }

    /// Decodes the protection of a valid page descriptor; `None` for unknown field values.
    pub(crate) const fn from_pte(pte: u64) -> Option<Self> {
        let attr = match (pte >> ATTR_SHIFT) & 0x7 {
            0 => MemAttr::Cached,
            1 => MemAttr::Device,
            2 => MemAttr::Uncached,
            _ => return None,
        };
        let ap = match (pte >> AP_SHIFT) & 0x3 {
            0 => Ap::FwGpu,
            1 => Ap::Fw,
            2 => Ap::Gpu,
            _ => return None,
        };
        Some(Self::new(attr, ap, pte & UXN != 0, pte & PXN != 0))
    }
}

/// Firmware MMIO window, firmware read-write.
pub(crate) const PROT_FW_MMIO_RW: Prot = Prot::new(MemAttr::Device, Ap::Fw, true, false);
/// Firmware MMIO window, firmware read-only.
pub(crate) const PROT_FW_MMIO_RO: Prot = Prot::new(MemAttr::Device, Ap::Fw, false, false);
/// Shared kernel objects (uncached), firmware read-write.
pub(crate) const PROT_FW_SHARED_RW: Prot = Prot::new(MemAttr::Uncached, Ap::Fw, true, false);
/// Shared kernel objects (uncached), firmware read-only.
pub(crate) const PROT_FW_SHARED_RO: Prot = Prot::new(MemAttr::Uncached, Ap::Fw, false, false);
/// Private kernel objects (cached), firmware read-write.
pub(crate) const PROT_FW_PRIV_RW: Prot = Prot::new(MemAttr::Cached, Ap::Fw, true, false);
/// Kernel objects the GPU also uses (uncached), firmware and GPU read-write.
pub(crate) const PROT_GPU_FW_SHARED_RW: Prot = Prot::new(MemAttr::Uncached, Ap::FwGpu, true, true);
/// Per-VM GPU+firmware private objects (cached), firmware and GPU read-write.
pub(crate) const PROT_GPU_FW_PRIV_RW: Prot = Prot::new(MemAttr::Cached, Ap::FwGpu, true, true);
/// Command objects (cached): firmware read-write, GPU read-only.
pub(crate) const PROT_GPU_RO_FW_PRIV_RW: Prot = Prot::new(MemAttr::Cached, Ap::Fw, true, true);
/// User buffers (uncached), GPU read-write.
pub(crate) const PROT_GPU_SHARED_RW: Prot = Prot::new(MemAttr::Uncached, Ap::Gpu, true, false);
/// User buffers (uncached), GPU read-only.
pub(crate) const PROT_GPU_SHARED_RO: Prot = Prot::new(MemAttr::Uncached, Ap::Gpu, false, false);
/// User buffers (uncached), GPU write-only.
pub(crate) const PROT_GPU_SHARED_WO: Prot = Prot::new(MemAttr::Uncached, Ap::Gpu, false, true);

/// Whether a table's page descriptors are tagged with the context's ASID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Global: the bootloader-owned kernel upper half.
    Global,
    /// Not global (nG set): every table the driver owns.
    NonGlobal,
}

/// Encodes a table descriptor pointing at the next-level table at `pa`.
pub(crate) const fn table_desc(pa: u64) -> u64 {
    pa | DESC_VALID
}

/// Encodes a page descriptor mapping the 16 KiB page at `pa`.
pub(crate) const fn page_desc(pa: u64, prot: Prot, scope: Scope) -> u64 {
    let ng = match scope {
        Scope::Global => 0,
        Scope::NonGlobal => NG,
    };
    pa | prot.bits() | ng
}

/// Whether a descriptor is valid (bits 1:0 = `0b11`).
pub(crate) const fn is_valid(desc: u64) -> bool {
    desc & DESC_VALID == DESC_VALID
}

/// Output address of a descriptor: everything but the attribute bits.
pub(crate) const fn desc_addr(desc: u64) -> u64 {
    desc & !(HIGH_BITS | LOW_BITS | DESC_VALID)
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_uat_pte)]
mod tests {
    use super::*;

    const PA: u64 = 0x8_1234_4000;

    /// Every named protection with (name, descriptor bits without nG, firmware access, GPU
    /// access); the bits are written out by hand from the format table, not computed.
    const NAMED: [(&str, Prot, u64, Access, Access); 11] = [
        // valid 0b11 | attr << 2 | AP << 6 | AF bit 10 | UXN 54 / PXN 53 | GPU bit 55
        (
            "FW_MMIO_RW",
            PROT_FW_MMIO_RW,
            0x00c0_0000_0000_0447,
            Access::ReadWrite,
            Access::None,
        ),
        (
            "FW_MMIO_RO",
            PROT_FW_MMIO_RO,
            0x0080_0000_0000_0447,
            Access::Read,
            Access::None,
        ),
        (
            "FW_SHARED_RW",
            PROT_FW_SHARED_RW,
            0x00c0_0000_0000_044b,
            Access::ReadWrite,
            Access::None,
        ),
        (
            "FW_SHARED_RO",
            PROT_FW_SHARED_RO,
            0x0080_0000_0000_044b,
            Access::Read,
            Access::None,
        ),
        (
            "FW_PRIV_RW",
            PROT_FW_PRIV_RW,
            0x00c0_0000_0000_0443,
            Access::ReadWrite,
            Access::None,
        ),
        (
            "GPU_FW_SHARED_RW",
            PROT_GPU_FW_SHARED_RW,
            0x00e0_0000_0000_040b,
            Access::ReadWrite,
            Access::ReadWrite,
        ),
        (
            "GPU_FW_PRIV_RW",
            PROT_GPU_FW_PRIV_RW,
            0x00e0_0000_0000_0403,
            Access::ReadWrite,
            Access::ReadWrite,
        ),
        (
            "GPU_RO_FW_PRIV_RW",
            PROT_GPU_RO_FW_PRIV_RW,
            0x00e0_0000_0000_0443,
            Access::ReadWrite,
            Access::Read,
        ),
        (
            "GPU_SHARED_RW",
            PROT_GPU_SHARED_RW,
            0x00c0_0000_0000_048b,
            Access::None,
            Access::ReadWrite,
        ),
        (
            "GPU_SHARED_RO",
            PROT_GPU_SHARED_RO,
            0x0080_0000_0000_048b,
            Access::None,
            Access::Read,
        ),
        (
            "GPU_SHARED_WO",
            PROT_GPU_SHARED_WO,
            0x00a0_0000_0000_048b,
            Access::None,
            Access::Write,
        ),
    ];

    #[test]
    fn named_protections_encode_as_documented() {
        for (name, prot, bits, _, _) in NAMED {
            let global = page_desc(PA, prot, Scope::Global);
            if global != PA | bits {
                kernel::pr_err!("{}: {:#x} != {:#x}\n", name, global, PA | bits);
            }
            assert_eq!(global, PA | bits);
            assert_eq!(page_desc(PA, prot, Scope::NonGlobal), PA | bits | (1 << 11));
        }
    }

    #[test]
    fn named_protections_grant_documented_access() {
        for (_, prot, _, fw, gpu) in NAMED {
            assert_eq!(prot.fw_access(), fw);
            assert_eq!(prot.gpu_access(), gpu);
        }
    }

    #[test]
    fn descriptors_decode_back() {
        for (_, prot, _, _, _) in NAMED {
            for scope in [Scope::Global, Scope::NonGlobal] {
                let pte = page_desc(PA, prot, scope);
                assert!(is_valid(pte));
                assert_eq!(desc_addr(pte), PA);
                assert_eq!(Prot::from_pte(pte), Some(prot));
            }
        }
        // A 42-bit output address survives the encoding.
        let high = (1u64 << 42) - PAGE_SIZE;
        assert_eq!(
            desc_addr(page_desc(high, PROT_FW_PRIV_RW, Scope::Global)),
            high
        );
        // Reserved attribute or AP values are rejected.
        assert_eq!(Prot::from_pte(0b11 | (3 << 2)), None);
        assert_eq!(Prot::from_pte(0b11 | (3 << 6)), None);
    }

    #[test]
    fn table_descriptors() {
        assert_eq!(table_desc(0x8_0000_c000), 0x8_0000_c003);
        assert!(is_valid(table_desc(0x4000)));
        assert!(!is_valid(0));
        assert!(!is_valid(0x4001));
        assert_eq!(desc_addr(table_desc(0x8_0000_c000)), 0x8_0000_c000);
    }

    #[test]
    fn permission_table_is_complete() {
        // Each AP value has exactly one (UXN, PXN) pair without any access for its agents.
        let mut none = 0;
        for ap in [Ap::FwGpu, Ap::Fw, Ap::Gpu] {
            for (uxn, pxn) in [(false, false), (false, true), (true, false), (true, true)] {
                let p = Prot::new(MemAttr::Cached, ap, uxn, pxn);
                if p.fw_access() == Access::None && p.gpu_access() == Access::None {
                    none += 1;
                }
            }
        }
        assert_eq!(none, 3);
    }

    #[test]
    fn cache_flush_is_needed_for_cached_firmware_mappings_only() {
        assert!(PROT_FW_PRIV_RW.is_cached_noncoherent());
        assert!(PROT_GPU_FW_PRIV_RW.is_cached_noncoherent());
        assert!(PROT_GPU_RO_FW_PRIV_RW.is_cached_noncoherent());
        assert!(!PROT_FW_SHARED_RW.is_cached_noncoherent());
        assert!(!PROT_GPU_SHARED_RW.is_cached_noncoherent());
        assert!(!PROT_GPU_SHARED_RW
            .with_attr(MemAttr::Cached)
            .is_cached_noncoherent());
        assert_eq!(
            PROT_FW_PRIV_RW.with_attr(MemAttr::Uncached),
            PROT_FW_SHARED_RW
        );
    }
}
