// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! One VM_BIND operation, read from userspace and checked.
//!
//! Userspace passes an array of `drm_asahi_gem_bind_op` with its own stride, so a newer
//! userspace may pass larger entries and an older one smaller: each entry is read up to the
//! known size, zero-extended, and the rest of the stride skipped (asahi-driver-facts.md §8).
//! Every field is checked here before anything changes; only the object's size and VM (which
//! need the handle looked up) are checked later, in [`super::UserVm::bind`].

use core::ops::Range;

use kernel::{
    prelude::*,
    uaccess::UserSliceReader,
    uapi, //
};

use crate::uat::{
    context::{
        USER_END,
        USER_START, //
    },
    pte::{
        self,
        Prot,
        PAGE_SIZE, //
    },
};

/// Size of `drm_asahi_gem_bind_op` as this kernel knows it.
pub(crate) const OP_SIZE: usize = core::mem::size_of::<uapi::drm_asahi_gem_bind_op>();

const UNBIND: u32 = uapi::drm_asahi_bind_flags_DRM_ASAHI_BIND_UNBIND;
const READ: u32 = uapi::drm_asahi_bind_flags_DRM_ASAHI_BIND_READ;
const WRITE: u32 = uapi::drm_asahi_bind_flags_DRM_ASAHI_BIND_WRITE;
const SINGLE_PAGE: u32 = uapi::drm_asahi_bind_flags_DRM_ASAHI_BIND_SINGLE_PAGE;

/// A checked bind operation.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BindOp {
    /// Map `[addr, addr + range)` to the object `handle` from byte `offset`.
    Map {
        /// The object's handle in the calling file.
        handle: u32,
        /// Start in the object (16 KiB aligned).
        offset: u64,
        /// The GPU range (16 KiB aligned, in the user range, outside the kernel range).
        va: Range<u64>,
        /// GPU access.
        prot: Prot,
        /// Map the object's page at `offset` over the whole range.
        single_page: bool,
    },
    /// Unmap whatever is mapped in the range.
    Unmap {
        /// The GPU range.
        va: Range<u64>,
    },
}

impl BindOp {
    /// The bytes of the object the mapping needs: `offset..offset + len`.
    pub(crate) fn object_range(&self) -> Option<Range<u64>> {
        match self {
            BindOp::Map {
                offset,
                va,
                single_page,
                ..
            } => {
                let len = if *single_page {
                    PAGE_SIZE
                } else {
                    va.end - va.start
                };
                Some(*offset..offset.checked_add(len)?)
            }
            BindOp::Unmap { .. } => None,
        }
    }
}

/// Checks that `[addr, addr + range)` is a non-empty, aligned part of the user range that
/// leaves the kernel range alone.
fn user_range(addr: u64, range: u64, kernel: &Range<u64>) -> Result<Range<u64>> {
    let end = addr.checked_add(range).ok_or(EINVAL)?;
    if range == 0
        || addr % PAGE_SIZE != 0
        || range % PAGE_SIZE != 0
        || addr < USER_START
        || end > USER_END
        || (addr < kernel.end && end > kernel.start)
    {
        return Err(EINVAL);
    }
    Ok(addr..end)
}

/// Checks one operation against the VM's kernel range.
///
/// # Errors
///
/// [`EINVAL`] for unknown or contradictory flags, no access, an unaligned offset or range,
/// a range outside the user range or touching the kernel range, and an UNBIND with a handle
/// or offset.
pub(crate) fn check(op: &uapi::drm_asahi_gem_bind_op, kernel: &Range<u64>) -> Result<BindOp> {
    let va = user_range(op.addr, op.range, kernel)?;
    if op.flags & UNBIND != 0 {
        if op.flags != UNBIND || op.handle != 0 || op.offset != 0 {
            return Err(EINVAL);
        }
        return Ok(BindOp::Unmap { va });
    }
    if op.flags & !(READ | WRITE | SINGLE_PAGE) != 0 || op.offset % PAGE_SIZE != 0 {
        return Err(EINVAL);
    }
    let prot = match (op.flags & READ != 0, op.flags & WRITE != 0) {
        (true, true) => pte::PROT_GPU_SHARED_RW,
        (true, false) => pte::PROT_GPU_SHARED_RO,
        (false, true) => pte::PROT_GPU_SHARED_WO,
        (false, false) => return Err(EINVAL),
    };
    Ok(BindOp::Map {
        handle: op.handle,
        offset: op.offset,
        va,
        prot,
        single_page: op.flags & SINGLE_PAGE != 0,
    })
}

/// Reads the next entry of a `stride`-byte array: its first [`OP_SIZE`] bytes (zero-extended
/// when `stride` is smaller), skipping the rest.
///
/// # Errors
///
/// [`EFAULT`] when the memory cannot be read.
pub(crate) fn read(
    reader: &mut UserSliceReader,
    stride: usize,
) -> Result<uapi::drm_asahi_gem_bind_op> {
    let mut raw = [0u8; OP_SIZE];
    let known = stride.min(OP_SIZE);
    reader.read_slice(&mut raw[..known])?;
    reader.skip(stride - known)?;
    Ok(decode(&raw))
}

/// The operation in `raw`, laid out as the UAPI struct (native byte order).
fn decode(raw: &[u8; OP_SIZE]) -> uapi::drm_asahi_gem_bind_op {
    let u32_at = |o: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&raw[o..o + 4]);
        u32::from_ne_bytes(b)
    };
    let u64_at = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&raw[o..o + 8]);
        u64::from_ne_bytes(b)
    };
    uapi::drm_asahi_gem_bind_op {
        flags: u32_at(core::mem::offset_of!(uapi::drm_asahi_gem_bind_op, flags)),
        handle: u32_at(core::mem::offset_of!(uapi::drm_asahi_gem_bind_op, handle)),
        offset: u64_at(core::mem::offset_of!(uapi::drm_asahi_gem_bind_op, offset)),
        range: u64_at(core::mem::offset_of!(uapi::drm_asahi_gem_bind_op, range)),
        addr: u64_at(core::mem::offset_of!(uapi::drm_asahi_gem_bind_op, addr)),
    }
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_vm_bind_op)]
mod tests {
    use super::*;

    const KERNEL: Range<u64> = 0x77_ffff_8000..0x7f_ffff_8000;

    fn op(
        flags: u32,
        handle: u32,
        offset: u64,
        range: u64,
        addr: u64,
    ) -> uapi::drm_asahi_gem_bind_op {
        uapi::drm_asahi_gem_bind_op {
            flags,
            handle,
            offset,
            range,
            addr,
        }
    }

    #[test]
    fn binds_and_unbinds_are_read() {
        assert_eq!(
            check(&op(READ | WRITE, 3, 0x4000, 0x8000, 0x1_0000_0000), &KERNEL),
            Ok(BindOp::Map {
                handle: 3,
                offset: 0x4000,
                va: 0x1_0000_0000..0x1_0000_8000,
                prot: pte::PROT_GPU_SHARED_RW,
                single_page: false,
            })
        );
        let ro = check(&op(READ | SINGLE_PAGE, 1, 0, 0x10_0000, 0x4000), &KERNEL);
        assert_eq!(ro.as_ref().map(|o| o.object_range()), Ok(Some(0..0x4000)));
        assert!(
            matches!(ro, Ok(BindOp::Map { prot, single_page: true, .. }) if prot == pte::PROT_GPU_SHARED_RO)
        );
        assert!(matches!(
            check(&op(WRITE, 1, 0, 0x4000, 0x4000), &KERNEL),
            Ok(BindOp::Map { prot, .. }) if prot == pte::PROT_GPU_SHARED_WO
        ));
        // Right below and right above the kernel range.
        assert_eq!(
            check(&op(UNBIND, 0, 0, 0x4000, KERNEL.start - 0x4000), &KERNEL),
            Ok(BindOp::Unmap {
                va: KERNEL.start - 0x4000..KERNEL.start
            })
        );
    }

    #[test]
    fn bad_ops_are_refused() {
        for o in [
            op(0, 1, 0, 0x4000, 0x4000),                   // no access
            op(READ | 0x10, 1, 0, 0x4000, 0x4000),         // unknown flag
            op(READ | UNBIND, 0, 0, 0x4000, 0x4000),       // unbind with more flags
            op(UNBIND, 1, 0, 0x4000, 0x4000),              // unbind with a handle
            op(UNBIND, 0, 0x4000, 0x4000, 0x4000),         // unbind with an offset
            op(READ, 1, 0x1000, 0x4000, 0x4000),           // unaligned offset
            op(READ, 1, 0, 0x1000, 0x4000),                // unaligned range
            op(READ, 1, 0, 0x4000, 0x5000),                // unaligned address
            op(READ, 1, 0, 0, 0x4000),                     // empty
            op(READ, 1, 0, 0x4000, 0),                     // below the user range
            op(READ, 1, 0, 0x8000, USER_END - 0x4000),     // past the user range
            op(READ, 1, 0, 0x8000, KERNEL.start - 0x4000), // into the kernel range
            op(READ, 1, 0, 0x4000, KERNEL.start),          // inside it
            op(READ, 1, 0, 0x4000, u64::MAX - 0x3fff),     // overflow
        ] {
            assert_eq!(check(&o, &KERNEL), Err(EINVAL));
        }
    }

    #[test]
    fn entries_decode_in_uapi_layout() {
        let want = op(READ, 7, 0x4000, 0x8000, 0x1234_5678_c000);
        let mut raw = [0u8; OP_SIZE];
        raw[0..4].copy_from_slice(&want.flags.to_ne_bytes());
        raw[4..8].copy_from_slice(&want.handle.to_ne_bytes());
        raw[8..16].copy_from_slice(&want.offset.to_ne_bytes());
        raw[16..24].copy_from_slice(&want.range.to_ne_bytes());
        raw[24..32].copy_from_slice(&want.addr.to_ne_bytes());
        let got = decode(&raw);
        assert_eq!(
            (got.flags, got.handle, got.offset, got.range, got.addr),
            (want.flags, want.handle, want.offset, want.range, want.addr)
        );
    }
}
