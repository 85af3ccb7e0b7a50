// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! GEM_CREATE, GEM_MMAP_OFFSET, CPU mappings, handle close and PRIME.

use std::os::fd::{
    FromRawFd,
    OwnedFd, //
};

use crate::{
    check, check_eq,
    drm::{
        errno,
        Drm,
        GEM_CLOSE,
        GEM_CREATE,
        GEM_MMAP_OFFSET,
        PRIME_FD_TO_HANDLE,
        PRIME_HANDLE_TO_FD,
        VM_CREATE, //
    },
    mmap::{
        Mapping,
        MAP_PRIVATE,
        MAP_SHARED, //
    },
    uapi, Case, Outcome,
};

pub(crate) const CASES: [Case; 7] = [
    Case {
        name: "GEM_CREATE rounds up to 16 KiB; mmap shows zeroed memory that keeps its contents",
        run: create_map_write_read,
    },
    Case {
        name: "GEM_CREATE refuses bad sizes, flags, pads and VM ids",
        run: bad_creates,
    },
    Case {
        name: "GEM_MMAP_OFFSET refuses unknown handles and flags; GEM_CLOSE ends a handle",
        run: mmap_offset_errors,
    },
    Case {
        name: "mmap refuses a mapping past the object and a private writable one",
        run: bad_mappings,
    },
    Case {
        name: "a mapping keeps working after its handle is closed",
        run: mapping_outlives_handle,
    },
    Case {
        name: "a client cannot name or map another client's objects",
        run: clients_are_isolated,
    },
    Case {
        name: "PRIME shares an object's contents between clients; VM-private objects refuse export",
        run: prime,
    },
];

/// GPU page size: every object is a multiple of it.
const GPU_PAGE: u64 = 0x4000;
const WRITEBACK: u32 = uapi::drm_asahi_gem_flags_DRM_ASAHI_GEM_WRITEBACK;
const VM_PRIVATE: u32 = uapi::drm_asahi_gem_flags_DRM_ASAHI_GEM_VM_PRIVATE;

/// The request for GEM_CREATE.
fn create_req(size: u64, flags: u32, vm_id: u32) -> uapi::drm_asahi_gem_create {
    uapi::drm_asahi_gem_create {
        size,
        flags,
        vm_id,
        handle: 0,
        pad: 0,
    }
}

/// GEM_CREATE; returns the handle.
pub(crate) fn gem_create(drm: &Drm, size: u64, flags: u32, vm_id: u32) -> Result<u32, i32> {
    let mut req = create_req(size, flags, vm_id);
    drm.ioctl(GEM_CREATE, &mut req)?;
    Ok(req.handle)
}

/// GEM_MMAP_OFFSET with `flags`.
fn mmap_offset_flags(drm: &Drm, handle: u32, flags: u32) -> Result<u64, i32> {
    let mut req = uapi::drm_asahi_gem_mmap_offset {
        handle,
        flags,
        offset: 0,
    };
    drm.ioctl(GEM_MMAP_OFFSET, &mut req)?;
    Ok(req.offset)
}

/// Maps `len` bytes of the object `handle` shared.
pub(crate) fn map(drm: &Drm, handle: u32, len: u64) -> Result<Mapping, String> {
    let off = mmap_offset_flags(drm, handle, 0)
        .map_err(|e| format!("GEM_MMAP_OFFSET {handle}: errno {e}"))?;
    Mapping::new(drm.fd(), off, len as usize, MAP_SHARED)
        .map_err(|e| format!("mmap of handle {handle}: errno {e}"))
}

/// GEM_CLOSE.
pub(crate) fn gem_close(drm: &Drm, handle: u32) -> Result<(), i32> {
    let mut req = uapi::drm_gem_close { handle, pad: 0 };
    drm.ioctl(GEM_CLOSE, &mut req).map(|_| ())
}

/// A VM with Mesa's kernel range.
pub(crate) fn vm_create(drm: &Drm) -> Result<u32, String> {
    let mut req = uapi::drm_asahi_vm_create {
        kernel_start: 0x77_ffff_8000,
        kernel_end: 0x7f_ffff_8000,
        vm_id: 0,
        pad: 0,
    };
    drm.ioctl(VM_CREATE, &mut req)
        .map_err(|e| format!("VM_CREATE: errno {e}"))?;
    Ok(req.vm_id)
}

/// A value for word `i` of a buffer tagged `tag`.
fn pattern(tag: u64, i: usize) -> u64 {
    (tag << 48) ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn fill(m: &Mapping, tag: u64) {
    for i in 0..m.words() {
        m.write(i, pattern(tag, i));
    }
}

/// Checks the whole mapping holds `tag`'s pattern.
fn holds(m: &Mapping, tag: u64) -> Result<(), String> {
    for i in 0..m.words() {
        let got = m.read(i);
        if got != pattern(tag, i) {
            return Err(format!("word {i}: {got:#x}, want {:#x}", pattern(tag, i)));
        }
    }
    Ok(())
}

fn create_map_write_read() -> Outcome {
    let drm = Drm::open_render()?;
    for flags in [0, WRITEBACK] {
        let h = gem_create(&drm, 1, flags, 0).map_err(|e| format!("GEM_CREATE: errno {e}"))?;
        {
            let m = map(&drm, h, GPU_PAGE)?;
            check!(
                (0..m.words()).all(|i| m.read(i) == 0),
                "a new object (flags {flags}) is not zeroed"
            );
            fill(&m, 1);
        }
        // A second mapping sees what the first wrote: the memory is the object's own.
        let m = map(&drm, h, GPU_PAGE)?;
        holds(&m, 1)?;
        drop(m);
        check_eq!("GEM_CLOSE", gem_close(&drm, h), Ok(()));
    }
    // A larger object, with more than one chunk, keeps every page apart.
    let size = 64 * GPU_PAGE + 1;
    let h = gem_create(&drm, size, 0, 0).map_err(|e| format!("GEM_CREATE: errno {e}"))?;
    let m = map(&drm, h, 65 * GPU_PAGE)?;
    fill(&m, 2);
    drop(m);
    holds(&map(&drm, h, 65 * GPU_PAGE)?, 2)?;
    check_eq!("GEM_CLOSE", gem_close(&drm, h), Ok(()));
    Ok(())
}

fn bad_creates() -> Outcome {
    let drm = Drm::open_render()?;
    let vm = vm_create(&drm)?;
    let cases = [
        ("size 0", create_req(0, 0, 0), errno::EINVAL),
        (
            "size overflowing the round-up",
            create_req(u64::MAX - 2, 0, 0),
            errno::EINVAL,
        ),
        ("unknown flag", create_req(GPU_PAGE, 4, 0), errno::EINVAL),
        (
            "VM id without VM_PRIVATE",
            create_req(GPU_PAGE, 0, vm),
            errno::EINVAL,
        ),
        (
            "VM_PRIVATE with VM 0",
            create_req(GPU_PAGE, VM_PRIVATE, 0),
            errno::ENOENT,
        ),
        (
            "VM_PRIVATE with an unknown VM",
            create_req(GPU_PAGE, VM_PRIVATE, vm + 1),
            errno::ENOENT,
        ),
        (
            "64 TiB, more memory than there is",
            create_req(1 << 46, 0, 0),
            errno::ENOMEM,
        ),
    ];
    for (what, mut req, want) in cases {
        check_eq!(what, drm.ioctl(GEM_CREATE, &mut req).map(|_| ()), Err(want));
        check_eq!(format!("{what}: no handle"), req.handle, 0);
    }
    let mut padded = create_req(GPU_PAGE, 0, 0);
    padded.pad = 1;
    check_eq!(
        "pad 1",
        drm.ioctl(GEM_CREATE, &mut padded).map(|_| ()),
        Err(errno::EINVAL)
    );
    // The VM's own private objects are fine.
    let h = gem_create(&drm, GPU_PAGE, VM_PRIVATE | WRITEBACK, vm)
        .map_err(|e| format!("VM_PRIVATE GEM_CREATE: errno {e}"))?;
    holds_zero(&map(&drm, h, GPU_PAGE)?)?;
    Ok(())
}

fn holds_zero(m: &Mapping) -> Result<(), String> {
    check!((0..m.words()).all(|i| m.read(i) == 0), "object not zeroed");
    Ok(())
}

fn mmap_offset_errors() -> Outcome {
    let drm = Drm::open_render()?;
    let h = gem_create(&drm, GPU_PAGE, 0, 0).map_err(|e| format!("GEM_CREATE: errno {e}"))?;
    check_eq!(
        "flags 1",
        mmap_offset_flags(&drm, h, 1).map(|_| ()),
        Err(errno::EINVAL)
    );
    check_eq!(
        "unknown handle",
        mmap_offset_flags(&drm, h + 1, 0).map(|_| ()),
        Err(errno::ENOENT)
    );
    let first = mmap_offset_flags(&drm, h, 0).map_err(|e| format!("errno {e}"))?;
    let again = mmap_offset_flags(&drm, h, 0).map_err(|e| format!("errno {e}"))?;
    check_eq!("the offset is stable", again, first);
    check!(first % 4096 == 0, "offset {first:#x} is not page aligned");
    check_eq!("GEM_CLOSE", gem_close(&drm, h), Ok(()));
    check_eq!(
        "GEM_MMAP_OFFSET after GEM_CLOSE",
        mmap_offset_flags(&drm, h, 0).map(|_| ()),
        Err(errno::ENOENT)
    );
    check_eq!("GEM_CLOSE again", gem_close(&drm, h), Err(errno::EINVAL));
    Ok(())
}

fn bad_mappings() -> Outcome {
    let drm = Drm::open_render()?;
    let h = gem_create(&drm, GPU_PAGE, 0, 0).map_err(|e| format!("GEM_CREATE: errno {e}"))?;
    let off = mmap_offset_flags(&drm, h, 0).map_err(|e| format!("errno {e}"))?;
    check_eq!(
        "mapping two GPU pages of a one-page object",
        Mapping::new(drm.fd(), off, 2 * GPU_PAGE as usize, MAP_SHARED).map(|_| ()),
        Err(errno::EINVAL)
    );
    check_eq!(
        "a private writable mapping",
        Mapping::new(drm.fd(), off, GPU_PAGE as usize, MAP_PRIVATE).map(|_| ()),
        Err(errno::EINVAL)
    );
    // The first CPU page alone is fine.
    check!(
        Mapping::new(drm.fd(), off, 4096, MAP_SHARED).is_ok(),
        "a one-page mapping was refused"
    );
    Ok(())
}

fn mapping_outlives_handle() -> Outcome {
    let drm = Drm::open_render()?;
    let h = gem_create(&drm, 4 * GPU_PAGE, 0, 0).map_err(|e| format!("GEM_CREATE: errno {e}"))?;
    let m = map(&drm, h, 4 * GPU_PAGE)?;
    fill(&m, 3);
    check_eq!("GEM_CLOSE", gem_close(&drm, h), Ok(()));
    holds(&m, 3)?;
    fill(&m, 4);
    holds(&m, 4)?;
    Ok(())
}

fn clients_are_isolated() -> Outcome {
    let a = Drm::open_render()?;
    let b = Drm::open_render()?;
    let h = gem_create(&a, GPU_PAGE, 0, 0).map_err(|e| format!("GEM_CREATE: errno {e}"))?;
    let off = mmap_offset_flags(&a, h, 0).map_err(|e| format!("errno {e}"))?;
    check_eq!(
        "B asks for A's handle",
        mmap_offset_flags(&b, h, 0).map(|_| ()),
        Err(errno::ENOENT)
    );
    check_eq!("B closes A's handle", gem_close(&b, h), Err(errno::EINVAL));
    check_eq!(
        "B maps A's offset",
        Mapping::new(b.fd(), off, GPU_PAGE as usize, MAP_SHARED).map(|_| ()),
        Err(errno::EACCES)
    );
    // A's handle survived all of that.
    check!(map(&a, h, GPU_PAGE).is_ok(), "A lost its object");
    Ok(())
}

/// PRIME_HANDLE_TO_FD; the dma-buf file closes on drop.
fn export(drm: &Drm, handle: u32) -> Result<OwnedFd, i32> {
    let mut req = uapi::drm_prime_handle {
        handle,
        flags: 0o2000000, // O_CLOEXEC
        fd: -1,
    };
    drm.ioctl(PRIME_HANDLE_TO_FD, &mut req)?;
    // SAFETY: The kernel just gave us this descriptor, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(req.fd) })
}

fn import(drm: &Drm, fd: &OwnedFd) -> Result<u32, i32> {
    use std::os::fd::AsRawFd;
    let mut req = uapi::drm_prime_handle {
        handle: 0,
        flags: 0,
        fd: fd.as_raw_fd(),
    };
    drm.ioctl(PRIME_FD_TO_HANDLE, &mut req)?;
    Ok(req.handle)
}

fn prime() -> Outcome {
    let a = Drm::open_render()?;
    let b = Drm::open_render()?;
    let h = gem_create(&a, 2 * GPU_PAGE, 0, 0).map_err(|e| format!("GEM_CREATE: errno {e}"))?;
    fill(&map(&a, h, 2 * GPU_PAGE)?, 5);
    let fd = export(&a, h).map_err(|e| format!("export: errno {e}"))?;
    let hb = import(&b, &fd).map_err(|e| format!("import: errno {e}"))?;
    // B sees A's contents, and A sees B's writes: one object, two handles.
    let mb = map(&b, hb, 2 * GPU_PAGE)?;
    holds(&mb, 5)?;
    fill(&mb, 6);
    holds(&map(&a, h, 2 * GPU_PAGE)?, 6)?;
    // Importing into the exporting file gives back the same handle.
    check_eq!("re-import in A", import(&a, &fd), Ok(h));

    let vm = vm_create(&a)?;
    let private = gem_create(&a, GPU_PAGE, VM_PRIVATE, vm)
        .map_err(|e| format!("VM_PRIVATE GEM_CREATE: errno {e}"))?;
    check_eq!(
        "export of a VM_PRIVATE object",
        export(&a, private).map(|_| ()),
        Err(errno::EINVAL)
    );
    Ok(())
}
