// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! GEM_BIND_OBJECT: user objects the firmware writes command timestamps into.
//!
//! Timestamps are written by the firmware, not by the GPU, so the buffer must be visible in
//! the firmware's (kernel, upper-half) address space rather than in the client's VM. BIND
//! maps a page-aligned range of a GEM object into a 64 MiB kernel window reserved for this
//! (asahi-driver-facts §6.2: `0xffffffae10000000..0xffffffae14000000`, firmware read-write,
//! uncached) and returns a per-file object handle; commands name timestamps by that handle
//! and an offset. UNBIND, or closing the file, unmaps it and frees the window range.
//!
//! The binding holds a reference on the GEM object, so closing the GEM handle does not pull
//! the pages away from the firmware. Should the unmap itself fail, the pages are leaked on
//! purpose rather than handed back while the firmware can still reach them.

use kernel::{
    drm::gem::BaseObject,
    maple_tree::{
        AllocErrorKind,
        MapleTreeAlloc, //
    },
    prelude::*,
    sync::{
        aref::ARef,
        Arc, //
    },
    uapi,
};

use crate::{
    file::{
        AsahiDevice,
        AsahiFile, //
    },
    gem::AsahiObject,
    gpu::boot::KernelUat,
    uat::pte::{
        self,
        PROT_FW_SHARED_RW, //
    },
};

/// First address of the kernel window for timestamp buffers.
pub(crate) const WINDOW_START: u64 = 0xffff_ffae_1000_0000;
/// End (exclusive) of that window.
pub(crate) const WINDOW_END: u64 = 0xffff_ffae_1400_0000;
/// GPU pages in the window.
const WINDOW_PAGES: usize = ((WINDOW_END - WINDOW_START) / pte::PAGE_SIZE) as usize;

/// The device's window, handed out in GPU pages (indices from 0).
#[pin_data]
pub(crate) struct TimestampWindow {
    #[pin]
    pages: MapleTreeAlloc<()>,
}

impl TimestampWindow {
    /// An empty window.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            pages <- MapleTreeAlloc::new(),
        })
    }
}

/// A GEM object range mapped for the firmware.
pub(crate) struct TimestampBinding {
    /// Kept alive while mapped (`None` once leaked after a failed unmap).
    obj: Option<ARef<AsahiObject>>,
    /// Window page index of the first page.
    first: usize,
    /// Pages mapped.
    pages: usize,
    uat: Arc<KernelUat>,
    window: Arc<TimestampWindow>,
}

impl TimestampBinding {
    /// Maps `range` bytes of `obj` from byte `offset` into the window.
    ///
    /// # Errors
    ///
    /// [`ENOSPC`] when the window is full, [`ENOMEM`], and those of mapping.
    fn new(
        window: &Arc<TimestampWindow>,
        uat: &Arc<KernelUat>,
        obj: ARef<AsahiObject>,
        offset: u64,
        range: u64,
    ) -> Result<Self> {
        let pages = usize::try_from(range / pte::PAGE_SIZE)?;
        let skip = usize::try_from(offset / pte::PAGE_SIZE)?;
        let first = window
            .pages
            .alloc_range(pages, (), 0..WINDOW_PAGES, GFP_KERNEL)
            .map_err(|e| match e.cause {
                AllocErrorKind::Busy => ENOSPC,
                cause => cause.into(),
            })?;
        let va = WINDOW_START + first as u64 * pte::PAGE_SIZE;
        let chunks = obj
            .pages()
            .chunk_phys_addrs()
            .skip(skip)
            .take(pages)
            .map(|pa| (pa, pte::PAGE_SIZE));
        if let Err(e) = uat.map_kernel_sg(va, chunks, PROT_FW_SHARED_RW) {
            // Whatever part was mapped goes before the range is reused.
            if uat.unmap_kernel(va, range).is_ok() {
                window.pages.erase(first);
            }
            return Err(e);
        }
        Ok(Self {
            obj: Some(obj),
            first,
            pages,
            uat: uat.clone(),
            window: window.clone(),
        })
    }

    /// The firmware's address of the first byte.
    pub(crate) fn va(&self) -> u64 {
        WINDOW_START + self.first as u64 * pte::PAGE_SIZE
    }

    /// Bytes mapped.
    pub(crate) fn size(&self) -> u64 {
        self.pages as u64 * pte::PAGE_SIZE
    }
}

impl Drop for TimestampBinding {
    fn drop(&mut self) {
        match self.uat.unmap_kernel(self.va(), self.size()) {
            Ok(_) => {
                self.window.pages.erase(self.first);
            }
            Err(e) => {
                pr_err!(
                    "cannot unmap timestamp buffer at {:#x} ({:?}); leaking it\n",
                    self.va(),
                    e
                );
                // The firmware may still reach the pages: keep them, and the window range.
                if let Some(obj) = self.obj.take() {
                    core::mem::forget(obj);
                }
            }
        }
    }
}

/// Checks a BIND request's range against an object of `size` bytes.
///
/// # Errors
///
/// [`EINVAL`] for an empty or unaligned range or one that runs past the object.
fn check_range(offset: u64, range: u64, size: u64) -> Result {
    let mask = pte::PAGE_SIZE - 1;
    if range == 0 || offset & mask != 0 || range & mask != 0 {
        return Err(EINVAL);
    }
    match offset.checked_add(range) {
        Some(end) if end <= size => Ok(()),
        _ => Err(EINVAL),
    }
}

/// GEM_BIND_OBJECT: binds or unbinds an object range as a timestamp buffer.
pub(crate) fn bind_object(
    dev: &AsahiDevice,
    req: &mut uapi::drm_asahi_gem_bind_object,
    file: &AsahiFile,
) -> Result<u32> {
    const BIND: u32 = uapi::drm_asahi_bind_object_op_DRM_ASAHI_BIND_OBJECT_OP_BIND;
    const UNBIND: u32 = uapi::drm_asahi_bind_object_op_DRM_ASAHI_BIND_OBJECT_OP_UNBIND;
    const TIMESTAMPS: u32 =
        uapi::drm_asahi_bind_object_flags_DRM_ASAHI_BIND_OBJECT_USAGE_TIMESTAMPS;
    if req.pad != 0 || req.vm_id != 0 {
        return Err(EINVAL);
    }
    match req.op {
        BIND => {
            if req.flags != TIMESTAMPS {
                return Err(EINVAL);
            }
            let obj = AsahiObject::lookup_handle(file, req.handle)?;
            check_range(req.offset, req.range, obj.size() as u64)?;
            dev.health.check()?;
            let binding =
                TimestampBinding::new(&dev.timestamps, &dev.uat, obj, req.offset, req.range)?;
            req.object_handle = file.inner().add_timestamps(binding)?;
            Ok(0)
        }
        UNBIND => {
            if req.flags != 0 || req.handle != 0 || req.offset != 0 || req.range != 0 {
                return Err(EINVAL);
            }
            let binding = file.inner().remove_timestamps(req.object_handle)?;
            // Unmapped outside the xarray's spinlock.
            drop(binding);
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_timestamps)]
mod tests {
    use super::*;

    const P: u64 = pte::PAGE_SIZE;

    #[test]
    fn ranges_are_whole_pages_inside_the_object() {
        assert_eq!(check_range(0, P, P), Ok(()));
        assert_eq!(check_range(P, 2 * P, 3 * P), Ok(()));
        assert_eq!(check_range(0, 0, P), Err(EINVAL));
        assert_eq!(check_range(0x1000, P, 2 * P), Err(EINVAL));
        assert_eq!(check_range(0, P + 0x1000, 2 * P), Err(EINVAL));
        assert_eq!(check_range(P, P, P), Err(EINVAL));
        assert_eq!(check_range(!(P - 1), P, u64::MAX), Err(EINVAL));
    }

    #[test]
    fn the_window_holds_4096_pages() {
        assert_eq!(WINDOW_PAGES, 4096);
    }
}
