// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! QUEUE_CREATE and QUEUE_DESTROY: ids, the VM a queue keeps alive, priorities, bad
//! arguments and one client's queues out of another's reach.

use crate::{
    cases::gem::vm_create,
    check, check_eq,
    drm::{
        errno,
        Drm,
        QUEUE_CREATE,
        QUEUE_DESTROY,
        VM_DESTROY, //
    },
    uapi, Case, Outcome,
};

pub(crate) const CASES: [Case; 2] = [
    Case {
        name: "QUEUE_CREATE makes queues in the file's VMs, QUEUE_DESTROY drops them",
        run: create_destroy,
    },
    Case {
        name: "QUEUE_CREATE and QUEUE_DESTROY refuse bad arguments and other clients' ids",
        run: bad_queues,
    },
];

const LOW: u32 = uapi::drm_asahi_priority_DRM_ASAHI_PRIORITY_LOW;
const MEDIUM: u32 = uapi::drm_asahi_priority_DRM_ASAHI_PRIORITY_MEDIUM;
const HIGH: u32 = uapi::drm_asahi_priority_DRM_ASAHI_PRIORITY_HIGH;
const REALTIME: u32 = uapi::drm_asahi_priority_DRM_ASAHI_PRIORITY_REALTIME;
/// Mesa's USC heap base.
const USC_BASE: u64 = 0x11_0000_0000;

fn queue_create_with(drm: &Drm, flags: u32, vm_id: u32, priority: u32) -> Result<u32, i32> {
    let mut req = uapi::drm_asahi_queue_create {
        flags,
        vm_id,
        priority,
        queue_id: 0,
        usc_exec_base: USC_BASE,
    };
    drm.ioctl(QUEUE_CREATE, &mut req)?;
    Ok(req.queue_id)
}

/// QUEUE_CREATE as Mesa issues it.
pub(crate) fn queue_create(drm: &Drm, vm_id: u32, priority: u32) -> Result<u32, i32> {
    queue_create_with(drm, 0, vm_id, priority)
}

fn queue_destroy_with(drm: &Drm, queue_id: u32, pad: u32) -> Result<(), i32> {
    let mut req = uapi::drm_asahi_queue_destroy { queue_id, pad };
    drm.ioctl(QUEUE_DESTROY, &mut req).map(|_| ())
}

/// QUEUE_DESTROY.
pub(crate) fn queue_destroy(drm: &Drm, queue_id: u32) -> Result<(), i32> {
    queue_destroy_with(drm, queue_id, 0)
}

fn create_destroy() -> Outcome {
    let drm = Drm::open_render()?;
    let vm = vm_create(&drm)?;
    let low = queue_create(&drm, vm, LOW).map_err(|e| format!("LOW queue: errno {e}"))?;
    let medium = queue_create(&drm, vm, MEDIUM).map_err(|e| format!("MEDIUM queue: errno {e}"))?;
    check!(
        low != 0 && medium != 0 && low != medium,
        "queue ids {low} and {medium}"
    );
    check_eq!("destroy the LOW queue", queue_destroy(&drm, low), Ok(()));
    check_eq!(
        "destroy it again",
        queue_destroy(&drm, low),
        Err(errno::ENOENT)
    );
    // A queue keeps its VM: destroying the VM only drops the id.
    let mut req = uapi::drm_asahi_vm_destroy { vm_id: vm, pad: 0 };
    check_eq!(
        "destroy the VM under a queue",
        drm.ioctl(VM_DESTROY, &mut req),
        Ok(0)
    );
    check_eq!(
        "a queue in the destroyed VM",
        queue_create(&drm, vm, LOW),
        Err(errno::ENOENT)
    );
    check_eq!(
        "destroy the queue after its VM",
        queue_destroy(&drm, medium),
        Ok(())
    );
    // Many queues at once, in two VMs; half left for the file's close to drop.
    let vms = [vm_create(&drm)?, vm_create(&drm)?];
    let mut ids = Vec::new();
    for i in 0..64 {
        let id = queue_create(&drm, vms[i % 2], [LOW, MEDIUM][i % 2])
            .map_err(|e| format!("queue {i}: errno {e}"))?;
        check!(!ids.contains(&id), "queue id {id} handed out twice");
        ids.push(id);
    }
    for id in ids.iter().step_by(2) {
        check_eq!(
            "destroy one of many queues",
            queue_destroy(&drm, *id),
            Ok(())
        );
    }
    Ok(())
}

fn bad_queues() -> Outcome {
    let drm = Drm::open_render()?;
    let vm = vm_create(&drm)?;
    check_eq!(
        "flags 1",
        queue_create_with(&drm, 1, vm, LOW),
        Err(errno::EINVAL)
    );
    for (what, p) in [
        ("HIGH", HIGH),
        ("REALTIME", REALTIME),
        ("4", 4),
        ("u32::MAX", u32::MAX),
    ] {
        check_eq!(
            format!("priority {what}"),
            queue_create(&drm, vm, p),
            Err(errno::EINVAL)
        );
    }
    check_eq!("VM 0", queue_create(&drm, 0, LOW), Err(errno::ENOENT));
    check_eq!(
        "unknown VM",
        queue_create(&drm, vm + 100, LOW),
        Err(errno::ENOENT)
    );
    let q = queue_create(&drm, vm, LOW).map_err(|e| format!("queue: errno {e}"))?;
    check_eq!(
        "destroy with pad",
        queue_destroy_with(&drm, q, 1),
        Err(errno::EINVAL)
    );
    check_eq!(
        "destroy queue 0",
        queue_destroy(&drm, 0),
        Err(errno::ENOENT)
    );
    // The refused destroy changed nothing: the queue is still there.
    let other = Drm::open_render()?;
    check_eq!(
        "another client's VM",
        queue_create(&other, vm, LOW),
        Err(errno::ENOENT)
    );
    check_eq!(
        "another client's queue",
        queue_destroy(&other, q),
        Err(errno::ENOENT)
    );
    check_eq!("destroy after the refusals", queue_destroy(&drm, q), Ok(()));
    Ok(())
}
