// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! VM_CREATE and VM_DESTROY: ids, kernel-range checks, one client's VMs out of another's reach.

use std::collections::BTreeSet;

use crate::{
    check, check_eq,
    drm::{
        errno,
        Drm,
        VM_CREATE,
        VM_DESTROY, //
    },
    uapi, Case, Outcome,
};

pub(crate) const CASES: [Case; 5] = [
    Case {
        name: "VM_CREATE with Mesa's kernel range, VM_DESTROY",
        run: create_destroy,
    },
    Case {
        name: "VM_CREATE refuses bad kernel ranges and pads",
        run: bad_ranges,
    },
    Case {
        name: "VM_DESTROY refuses unknown ids and pads",
        run: bad_destroy,
    },
    Case {
        name: "a client cannot destroy another client's VM",
        run: clients_are_isolated,
    },
    Case {
        name: "100 VMs in one file get distinct ids",
        run: many_vms,
    },
];

pub(crate) const CRASHED: [Case; 1] = [Case {
    name: "VM_CREATE after a firmware crash is ENODEV",
    run: crashed_create,
}];

/// Mesa's kernel range: the top 32 GiB of the user range (mesa-asahi-userspace.md §2.5).
const MESA_KERNEL: (u64, u64) = (0x77_ffff_8000, 0x7f_ffff_8000);
/// The smallest kernel range GET_PARAMS allows (vm_kernel_min_size).
const MIN: u64 = 0x2000_0000;

fn vm_create(drm: &Drm, start: u64, end: u64, pad: u32) -> Result<u32, i32> {
    let mut req = uapi::drm_asahi_vm_create {
        kernel_start: start,
        kernel_end: end,
        vm_id: 0,
        pad,
    };
    drm.ioctl(VM_CREATE, &mut req)?;
    Ok(req.vm_id)
}

fn vm_destroy(drm: &Drm, id: u32, pad: u32) -> Result<(), i32> {
    let mut req = uapi::drm_asahi_vm_destroy { vm_id: id, pad };
    drm.ioctl(VM_DESTROY, &mut req).map(|_| ())
}

fn create_destroy() -> Outcome {
    let drm = Drm::open_render()?;
    let (s, e) = MESA_KERNEL;
    let a = vm_create(&drm, s, e, 0).map_err(|e| format!("VM_CREATE: errno {e}"))?;
    let b = vm_create(&drm, s, e, 0).map_err(|e| format!("VM_CREATE: errno {e}"))?;
    check!(a != 0 && b != 0 && a != b, "VM ids {a} and {b}");
    check_eq!("VM_DESTROY first", vm_destroy(&drm, a, 0), Ok(()));
    check_eq!(
        "VM_DESTROY again",
        vm_destroy(&drm, a, 0),
        Err(errno::ENOENT)
    );
    check_eq!("VM_DESTROY second", vm_destroy(&drm, b, 0), Ok(()));
    Ok(())
}

fn bad_ranges() -> Outcome {
    let drm = Drm::open_render()?;
    let base = 0x1_0000_0000u64;
    let end = 0x7f_ffff_8000u64;
    let cases = [
        (
            "start not 16 KiB aligned",
            base + 0x1000,
            base + MIN + 0x4000,
        ),
        ("end not 16 KiB aligned", base, base + MIN + 0x1000),
        ("smaller than vm_kernel_min_size", base, base + MIN - 0x4000),
        ("end below start", base + MIN, base),
        ("empty", base, base),
        ("starting below vm_start", 0, MIN),
        ("ending past vm_end", end - MIN + 0x4000, end + 0x4000),
        (
            "in the upper half",
            0xffff_ff80_0000_0000,
            0xffff_ff80_2000_0000,
        ),
    ];
    for (what, s, e) in cases {
        check_eq!(what, vm_create(&drm, s, e, 0), Err(errno::EINVAL));
    }
    let (s, e) = MESA_KERNEL;
    check_eq!("pad 1", vm_create(&drm, s, e, 1), Err(errno::EINVAL));
    // The smallest range, at either end of the user range, is fine.
    for (s, e) in [(0x4000, 0x4000 + MIN), (end - MIN, end)] {
        let id = vm_create(&drm, s, e, 0).map_err(|e| format!("VM_CREATE {s:#x}: errno {e}"))?;
        check_eq!("VM_DESTROY", vm_destroy(&drm, id, 0), Ok(()));
    }
    Ok(())
}

fn bad_destroy() -> Outcome {
    let drm = Drm::open_render()?;
    let (s, e) = MESA_KERNEL;
    let id = vm_create(&drm, s, e, 0).map_err(|e| format!("VM_CREATE: errno {e}"))?;
    check_eq!("id 0", vm_destroy(&drm, 0, 0), Err(errno::ENOENT));
    check_eq!(
        "id u32::MAX",
        vm_destroy(&drm, u32::MAX, 0),
        Err(errno::ENOENT)
    );
    check_eq!("pad 1", vm_destroy(&drm, id, 1), Err(errno::EINVAL));
    // The refused request left the VM alone.
    check_eq!("VM_DESTROY", vm_destroy(&drm, id, 0), Ok(()));
    Ok(())
}

fn clients_are_isolated() -> Outcome {
    let a = Drm::open_render()?;
    let b = Drm::open_render()?;
    let (s, e) = MESA_KERNEL;
    let va = vm_create(&a, s, e, 0).map_err(|e| format!("VM_CREATE A: errno {e}"))?;
    // B has no VM of that id (its own ids start over), so it cannot reach A's.
    check_eq!(
        "B destroys A's id",
        vm_destroy(&b, va, 0),
        Err(errno::ENOENT)
    );
    let vb = vm_create(&b, s, e, 0).map_err(|e| format!("VM_CREATE B: errno {e}"))?;
    check_eq!("per-file ids start at 1 in each file", (va, vb), (1, 1));
    check_eq!("A destroys its VM", vm_destroy(&a, va, 0), Ok(()));
    check_eq!("B's VM survives", vm_destroy(&b, vb, 0), Ok(()));
    Ok(())
}

fn many_vms() -> Outcome {
    // More VMs than the GPU has context slots (63): creating them binds none.
    let drm = Drm::open_render()?;
    let (s, e) = MESA_KERNEL;
    let mut ids = BTreeSet::new();
    for i in 0..100 {
        let id = vm_create(&drm, s, e, 0).map_err(|e| format!("VM_CREATE #{i}: errno {e}"))?;
        check!(ids.insert(id), "VM id {id} handed out twice");
    }
    for id in &ids {
        check_eq!(format!("VM_DESTROY {id}"), vm_destroy(&drm, *id, 0), Ok(()));
    }
    // Closing a file with VMs left frees them too (checked by the kernel's leak report).
    let other = Drm::open_render()?;
    for _ in 0..10 {
        vm_create(&other, s, e, 0).map_err(|e| format!("VM_CREATE: errno {e}"))?;
    }
    drop(other);
    Ok(())
}

fn crashed_create() -> Outcome {
    let drm = Drm::open_render()?;
    let (s, e) = MESA_KERNEL;
    check_eq!("VM_CREATE", vm_create(&drm, s, e, 0), Err(errno::ENODEV));
    // Argument errors are still reported as such; destroying works as before.
    check_eq!(
        "VM_CREATE pad 1",
        vm_create(&drm, s, e, 1),
        Err(errno::EINVAL)
    );
    check_eq!(
        "VM_DESTROY unknown",
        vm_destroy(&drm, 1, 0),
        Err(errno::ENOENT)
    );
    Ok(())
}
