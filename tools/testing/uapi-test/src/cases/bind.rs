// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! VM_BIND: maps, replacements, splits, unmaps, batches and every refused operation.
//!
//! What the GPU then sees at a bound address is not checked here yet (the model does not
//! report it); a mapping the driver forgot to take down shows up as the kernel's warning
//! about a non-empty GPU VA tree when the VM goes, which fails the run.

use crate::{
    cases::gem::{
        gem_close,
        gem_create,
        vm_create, //
    },
    check_eq,
    drm::{
        errno,
        Drm,
        VM_BIND, //
    },
    uapi, Case, Outcome,
};

pub(crate) const CASES: [Case; 5] = [
    Case {
        name: "VM_BIND maps, replaces, splits and unmaps (partly mapped ranges too)",
        run: map_replace_split_unmap,
    },
    Case {
        name: "VM_BIND takes batches with any stride",
        run: batches,
    },
    Case {
        name: "VM_BIND refuses bad operations, ids, pads and pointers, changing nothing",
        run: bad_binds,
    },
    Case {
        name: "closing a handle or a VM with mappings left takes them down",
        run: close_with_mappings,
    },
    Case {
        name: "VM_BIND of a 1 GiB object and a 1 GiB single-page bind",
        run: large_binds,
    },
];

pub(crate) const PAGE: u64 = 0x4000;
const UNBIND: u32 = uapi::drm_asahi_bind_flags_DRM_ASAHI_BIND_UNBIND;
const READ: u32 = uapi::drm_asahi_bind_flags_DRM_ASAHI_BIND_READ;
const WRITE: u32 = uapi::drm_asahi_bind_flags_DRM_ASAHI_BIND_WRITE;
const SINGLE_PAGE: u32 = uapi::drm_asahi_bind_flags_DRM_ASAHI_BIND_SINGLE_PAGE;
pub(crate) const RW: u32 = READ | WRITE;
/// Mesa's kernel range starts here (gem::vm_create uses it).
const KERNEL_START: u64 = 0x77_ffff_8000;
/// Where the cases map.
pub(crate) const BASE: u64 = 0x10_0000_0000;

pub(crate) fn op(
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

pub(crate) fn unbind(addr: u64, range: u64) -> uapi::drm_asahi_gem_bind_op {
    op(UNBIND, 0, 0, range, addr)
}

/// VM_BIND of `ops` laid out with `stride` bytes per entry.
fn bind_stride(
    drm: &Drm,
    vm: u32,
    ops: &[uapi::drm_asahi_gem_bind_op],
    stride: usize,
    pad: u32,
) -> Result<(), i32> {
    let size = std::mem::size_of::<uapi::drm_asahi_gem_bind_op>();
    let mut buf = vec![0u8; ops.len() * stride.max(1)];
    for (i, o) in ops.iter().enumerate() {
        let mut raw = Vec::with_capacity(size);
        raw.extend_from_slice(&o.flags.to_ne_bytes());
        raw.extend_from_slice(&o.handle.to_ne_bytes());
        raw.extend_from_slice(&o.offset.to_ne_bytes());
        raw.extend_from_slice(&o.range.to_ne_bytes());
        raw.extend_from_slice(&o.addr.to_ne_bytes());
        let n = size.min(stride);
        buf[i * stride..i * stride + n].copy_from_slice(&raw[..n]);
    }
    let mut req = uapi::drm_asahi_vm_bind {
        vm_id: vm,
        num_binds: ops.len() as u32,
        stride: stride as u32,
        pad,
        userptr: buf.as_ptr() as u64,
    };
    drm.ioctl(VM_BIND, &mut req).map(|_| ())
}

pub(crate) fn bind(drm: &Drm, vm: u32, ops: &[uapi::drm_asahi_gem_bind_op]) -> Result<(), i32> {
    bind_stride(
        drm,
        vm,
        ops,
        std::mem::size_of::<uapi::drm_asahi_gem_bind_op>(),
        0,
    )
}

fn create(drm: &Drm, size: u64) -> Result<u32, String> {
    gem_create(drm, size, 0, 0).map_err(|e| format!("GEM_CREATE: errno {e}"))
}

fn map_replace_split_unmap() -> Outcome {
    let drm = Drm::open_render()?;
    let vm = vm_create(&drm)?;
    let a = create(&drm, 8 * PAGE)?;
    let b = create(&drm, PAGE)?;
    check_eq!(
        "bind 8 pages RW",
        bind(&drm, vm, &[op(RW, a, 0, 8 * PAGE, BASE)]),
        Ok(())
    );
    // Page 3 of the range now shows b: the first mapping is split in two around it.
    check_eq!(
        "replace one page in the middle",
        bind(&drm, vm, &[op(READ, b, 0, PAGE, BASE + 3 * PAGE)]),
        Ok(())
    );
    // Rebind the tail from a later offset of a, over both pieces' end.
    check_eq!(
        "rebind pages 2..8 from offset 1 page",
        bind(&drm, vm, &[op(WRITE, a, PAGE, 6 * PAGE, BASE + 2 * PAGE)]),
        Ok(())
    );
    check_eq!(
        "unbind a range half of which is unmapped",
        bind(&drm, vm, &[unbind(BASE + 4 * PAGE, 8 * PAGE)]),
        Ok(())
    );
    check_eq!(
        "unbind a range with nothing mapped",
        bind(&drm, vm, &[unbind(BASE + 64 * PAGE, PAGE)]),
        Ok(())
    );
    check_eq!(
        "unbind the rest",
        bind(&drm, vm, &[unbind(BASE, 4 * PAGE)]),
        Ok(())
    );
    // Right below the kernel range, and at the bottom of the user range.
    check_eq!(
        "bind just below the kernel range",
        bind(&drm, vm, &[op(READ, b, 0, PAGE, KERNEL_START - PAGE)]),
        Ok(())
    );
    check_eq!(
        "bind at vm_start",
        bind(&drm, vm, &[op(READ, b, 0, PAGE, PAGE)]),
        Ok(())
    );
    check_eq!(
        "a single page over 16 pages",
        bind(
            &drm,
            vm,
            &[op(READ | SINGLE_PAGE, a, 7 * PAGE, 16 * PAGE, BASE)]
        ),
        Ok(())
    );
    Ok(())
}

fn batches() -> Outcome {
    let drm = Drm::open_render()?;
    let vm = vm_create(&drm)?;
    let a = create(&drm, 4 * PAGE)?;
    let ops = [
        op(RW, a, 0, 4 * PAGE, BASE),
        op(READ, a, PAGE, PAGE, BASE + 8 * PAGE),
        unbind(BASE + PAGE, PAGE),
    ];
    check_eq!("empty batch", bind(&drm, vm, &[]), Ok(()));
    check_eq!("stride 32", bind(&drm, vm, &ops), Ok(()));
    // A newer userspace's larger entries: the extra bytes are skipped.
    check_eq!("stride 48", bind_stride(&drm, vm, &ops, 48, 0), Ok(()));
    // An older userspace's smaller entries: the missing fields read as 0, so an entry
    // without its address is refused.
    check_eq!(
        "stride 24 (no address)",
        bind_stride(&drm, vm, &ops, 24, 0),
        Err(errno::EINVAL)
    );
    check_eq!(
        "stride 0",
        bind_stride(&drm, vm, &ops, 0, 0),
        Err(errno::EINVAL)
    );
    Ok(())
}

fn bad_binds() -> Outcome {
    let drm = Drm::open_render()?;
    let vm = vm_create(&drm)?;
    let other_vm = vm_create(&drm)?;
    let a = create(&drm, 4 * PAGE)?;
    let private = gem_create(
        &drm,
        PAGE,
        uapi::drm_asahi_gem_flags_DRM_ASAHI_GEM_VM_PRIVATE,
        other_vm,
    )
    .map_err(|e| format!("GEM_CREATE private: errno {e}"))?;
    let einval = [
        ("no access flags", op(0, a, 0, PAGE, BASE)),
        ("unknown flag", op(READ | 0x100, a, 0, PAGE, BASE)),
        ("UNBIND with READ", op(UNBIND | READ, 0, 0, PAGE, BASE)),
        ("UNBIND with a handle", op(UNBIND, a, 0, PAGE, BASE)),
        ("UNBIND with an offset", op(UNBIND, 0, PAGE, PAGE, BASE)),
        ("unaligned address", op(READ, a, 0, PAGE, BASE + 0x1000)),
        ("unaligned range", op(READ, a, 0, 0x1000, BASE)),
        ("unaligned offset", op(READ, a, 0x1000, PAGE, BASE)),
        ("empty range", op(READ, a, 0, 0, BASE)),
        ("address 0", op(READ, a, 0, PAGE, 0)),
        ("past vm_end", op(READ, a, 0, PAGE, 0x7f_ffff_8000)),
        (
            "into the kernel range",
            op(READ, a, 0, 2 * PAGE, KERNEL_START - PAGE),
        ),
        (
            "inside the kernel range",
            op(READ, a, 0, PAGE, KERNEL_START),
        ),
        (
            "address + range overflows",
            op(READ, a, 0, 2 * PAGE, u64::MAX - PAGE + 1),
        ),
        ("past the object's end", op(READ, a, PAGE, 4 * PAGE, BASE)),
        (
            "offset + range overflows",
            op(READ, a, u64::MAX - PAGE + 1, 2 * PAGE, BASE),
        ),
        (
            "single page past the object's end",
            op(READ | SINGLE_PAGE, a, 4 * PAGE, 8 * PAGE, BASE),
        ),
        (
            "another VM's private object",
            op(READ, private, 0, PAGE, BASE),
        ),
    ];
    for (what, o) in einval {
        // Each bad entry also spoils the good one before it: a batch is checked whole.
        check_eq!(
            what,
            bind(&drm, vm, &[op(RW, a, 0, PAGE, BASE + 64 * PAGE), o]),
            Err(errno::EINVAL)
        );
    }
    check_eq!(
        "unknown handle",
        bind(&drm, vm, &[op(READ, a + 100, 0, PAGE, BASE)]),
        Err(errno::ENOENT)
    );
    check_eq!(
        "unknown VM",
        bind(&drm, other_vm + 1, &[op(READ, a, 0, PAGE, BASE)]),
        Err(errno::ENOENT)
    );
    check_eq!(
        "pad 1",
        bind_stride(&drm, vm, &[op(READ, a, 0, PAGE, BASE)], 32, 1),
        Err(errno::EINVAL)
    );
    let mut req = uapi::drm_asahi_vm_bind {
        vm_id: vm,
        num_binds: 1,
        stride: 32,
        pad: 0,
        userptr: 8,
    };
    check_eq!(
        "unreadable array",
        drm.ioctl(VM_BIND, &mut req).map(|_| ()),
        Err(errno::EFAULT)
    );
    // The private object binds in its own VM.
    check_eq!(
        "private object in its VM",
        bind(&drm, other_vm, &[op(READ, private, 0, PAGE, BASE)]),
        Ok(())
    );
    // Another client can name neither the VM nor the object.
    let other = Drm::open_render()?;
    check_eq!(
        "another client's VM",
        bind(&other, vm, &[op(READ, a, 0, PAGE, BASE)]),
        Err(errno::ENOENT)
    );
    Ok(())
}

fn close_with_mappings() -> Outcome {
    let drm = Drm::open_render()?;
    let vm1 = vm_create(&drm)?;
    let vm2 = vm_create(&drm)?;
    let a = create(&drm, 4 * PAGE)?;
    for vm in [vm1, vm2] {
        check_eq!(
            format!("bind in VM {vm}"),
            bind(
                &drm,
                vm,
                &[
                    op(RW, a, 0, 4 * PAGE, BASE),
                    op(READ, a, PAGE, PAGE, BASE + 16 * PAGE)
                ]
            ),
            Ok(())
        );
    }
    check_eq!("GEM_CLOSE of a mapped object", gem_close(&drm, a), Ok(()));
    // The handle is gone, so binding it is refused; the VMs themselves still work.
    check_eq!(
        "bind the closed handle",
        bind(&drm, vm1, &[op(READ, a, 0, PAGE, BASE)]),
        Err(errno::ENOENT)
    );
    let b = create(&drm, PAGE)?;
    check_eq!(
        "bind another object where a was",
        bind(&drm, vm1, &[op(READ, b, 0, PAGE, BASE)]),
        Ok(())
    );
    // Closing the file with VMs and mappings left takes them down too (a leftover mapping
    // would make the kernel warn about a non-empty GPU VA tree).
    drop(drm);
    Ok(())
}

fn large_binds() -> Outcome {
    let drm = Drm::open_render()?;
    let vm = vm_create(&drm)?;
    let size = 1 << 30;
    let a = create(&drm, size)?;
    check_eq!(
        "bind 1 GiB",
        bind(&drm, vm, &[op(RW, a, 0, size, BASE)]),
        Ok(())
    );
    check_eq!(
        "1 GiB of one page",
        bind(
            &drm,
            vm,
            &[op(READ | SINGLE_PAGE, a, 0, 1 << 30, BASE + (1 << 32))]
        ),
        Ok(())
    );
    check_eq!(
        "unbind all",
        bind(&drm, vm, &[unbind(BASE, (1 << 32) + (1 << 30))]),
        Ok(())
    );
    Ok(())
}
