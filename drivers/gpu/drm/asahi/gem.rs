// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Buffer objects: GEM_CREATE and GEM_MMAP_OFFSET.
//!
//! Every buffer the GPU sees is made of 16 KiB GPU pages, and each GPU page must be one
//! physically contiguous, naturally aligned block whatever the CPU page size
//! (ARCHITECTURE.md, page sizes). shmem objects cannot promise that on a 4 KiB kernel, so
//! objects here are [`kernel::drm::gem::chunked`] objects with 16 KiB chunks: one chunk per GPU
//! page, mapped by the UAT directly, while the CPU sees ordinary pages. This differs from
//! ARCHITECTURE.md's "shmem GEM objects" in the driver layout; the page-size decision wins.
//!
//! Objects are CPU-mapped write-combined unless created WRITEBACK (asahi-driver-facts.md §8).
//! A VM_PRIVATE object belongs to one of the file's VMs: it shares that VM's reservation object
//! (so binding and fencing it needs no extra lock) and can never be exported.

use kernel::{
    drm::{
        self,
        gem::{
            self,
            chunked::ObjectConfig,
            BaseObject, //
        },
    },
    page,
    prelude::*,
    sync::aref::ARef,
    uapi,
};

use crate::{
    file::{
        AsahiDevice,
        AsahiDriver,
        AsahiFile, //
    },
    uat::pte,
};

/// A buffer object of the `asahi` device.
pub(crate) type AsahiObject = gem::chunked::Object<Bo>;

/// A GEM object's driver data.
pub(crate) struct Bo;

impl gem::DriverObject for Bo {
    type Driver = AsahiDriver;
    type Args = ();

    fn new<Ctx: drm::DeviceContext>(
        _dev: &AsahiDevice<Ctx>,
        _size: usize,
        _args: (),
    ) -> impl PinInit<Self, Error> {
        Ok::<_, Error>(Bo)
    }

    fn close(obj: &AsahiObject, file: &gem::DriverFile<Self>) {
        file.inner().unmap_object(obj);
    }
}

/// Chunk order of the backing: one chunk per GPU page.
const CHUNK_ORDER: u32 = pte::PAGE_SHIFT - page::PAGE_SHIFT as u32;

/// Every flag GEM_CREATE knows.
const CREATE_FLAGS: u32 = uapi::drm_asahi_gem_flags_DRM_ASAHI_GEM_WRITEBACK
    | uapi::drm_asahi_gem_flags_DRM_ASAHI_GEM_VM_PRIVATE;

/// Allocates an object of `size` bytes (a multiple of the GPU page); see [`ObjectConfig`].
fn new_object(
    dev: &AsahiDevice,
    size: usize,
    writeback: bool,
    resv: Option<&AsahiObject>,
) -> Result<ARef<AsahiObject>> {
    AsahiObject::new(
        dev,
        size,
        ObjectConfig {
            chunk_order: CHUNK_ORDER,
            map_wc: !writeback,
            exportable: resv.is_none(),
            parent_resv_obj: resv,
        },
        (),
    )
}

/// The empty object whose reservation a VM and its private objects share.
pub(crate) fn new_resv_object(dev: &AsahiDevice) -> Result<ARef<AsahiObject>> {
    new_object(dev, 0, false, None)
}

/// Checks a GEM_CREATE request and returns the object size, rounded up to the GPU page.
///
/// # Errors
///
/// [`EINVAL`] for a non-zero pad, an unknown flag, a VM id without VM_PRIVATE, a zero size or
/// one that overflows when rounded up.
fn create_size(req: &uapi::drm_asahi_gem_create) -> Result<usize> {
    let private = req.flags & uapi::drm_asahi_gem_flags_DRM_ASAHI_GEM_VM_PRIVATE != 0;
    if req.pad != 0 || req.flags & !CREATE_FLAGS != 0 || (!private && req.vm_id != 0) {
        return Err(EINVAL);
    }
    if req.size == 0 {
        return Err(EINVAL);
    }
    let size = req
        .size
        .checked_next_multiple_of(pte::PAGE_SIZE)
        .ok_or(EINVAL)?;
    usize::try_from(size).map_err(|_| EINVAL)
}

/// GEM_CREATE: a new zeroed object, named by a handle of `file`.
///
/// # Errors
///
/// As [`create_size`]; [`ENOENT`] for a VM_PRIVATE request naming no VM of this file;
/// [`ENOMEM`] when the memory is not there.
pub(crate) fn create(
    dev: &AsahiDevice,
    req: &mut uapi::drm_asahi_gem_create,
    file: &AsahiFile,
) -> Result<u32> {
    let size = create_size(req)?;
    let writeback = req.flags & uapi::drm_asahi_gem_flags_DRM_ASAHI_GEM_WRITEBACK != 0;
    let vm = if req.flags & uapi::drm_asahi_gem_flags_DRM_ASAHI_GEM_VM_PRIVATE != 0 {
        Some(file.inner().vm(req.vm_id)?)
    } else {
        None
    };
    let obj = new_object(dev, size, writeback, vm.as_ref().map(|vm| vm.resv()))?;
    // The handle holds its own reference; ours goes when `obj` does.
    req.handle = obj.create_handle(file)?;
    Ok(0)
}

/// GEM_MMAP_OFFSET: the offset at which `mmap()` of the device file maps the object.
///
/// # Errors
///
/// [`EINVAL`] for non-zero flags, [`ENOENT`] for a handle this file does not have.
pub(crate) fn mmap_offset(
    _dev: &AsahiDevice,
    req: &mut uapi::drm_asahi_gem_mmap_offset,
    file: &AsahiFile,
) -> Result<u32> {
    if req.flags != 0 {
        return Err(EINVAL);
    }
    let obj = AsahiObject::lookup_handle(file, req.handle)?;
    req.offset = obj.create_mmap_offset()?;
    Ok(0)
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_gem)]
mod tests {
    use super::*;

    fn req(size: u64, flags: u32, vm_id: u32) -> uapi::drm_asahi_gem_create {
        uapi::drm_asahi_gem_create {
            size,
            flags,
            vm_id,
            handle: 0,
            pad: 0,
        }
    }

    #[test]
    fn sizes_round_up_to_the_gpu_page() {
        assert_eq!(create_size(&req(1, 0, 0)), Ok(0x4000));
        assert_eq!(create_size(&req(0x4000, 0, 0)), Ok(0x4000));
        assert_eq!(create_size(&req(0x4001, 0, 0)), Ok(0x8000));
        assert_eq!(create_size(&req(0x4000, CREATE_FLAGS, 1)), Ok(0x4000));
    }

    #[test]
    fn bad_requests_are_refused() {
        assert_eq!(create_size(&req(0, 0, 0)), Err(EINVAL));
        assert_eq!(create_size(&req(u64::MAX - 2, 0, 0)), Err(EINVAL));
        assert_eq!(create_size(&req(0x4000, 4, 0)), Err(EINVAL));
        // A VM id only goes with VM_PRIVATE.
        assert_eq!(create_size(&req(0x4000, 1, 3)), Err(EINVAL));
        let mut padded = req(0x4000, 0, 0);
        padded.pad = 1;
        assert_eq!(create_size(&padded), Err(EINVAL));
    }

    #[test]
    fn a_chunk_is_one_gpu_page() {
        assert_eq!((page::PAGE_SIZE << CHUNK_ORDER) as u64, pte::PAGE_SIZE);
    }
}
