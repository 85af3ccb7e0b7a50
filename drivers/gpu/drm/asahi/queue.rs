// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! User queues: what QUEUE_CREATE makes and QUEUE_DESTROY drops.
//!
//! A queue belongs to one file and runs in one of that file's VMs, which it keeps alive
//! (VM_DESTROY only drops the id). It owns its firmware objects ([`fw_context`]): a GPU
//! context record, a notifier and three work queues (vertex, fragment, compute), built for
//! the device's firmware ABI. Job submission feeds the work queues; until a queue has been
//! submitted to, the firmware has never seen its objects, so dropping it frees them at
//! once.
//!
//! Priorities (UAPI `drm_asahi_priority`): LOW and MEDIUM become firmware priorities 3 and
//! 2 (asahi-driver-facts §7.1); HIGH and REALTIME are "reserved for future extension" in
//! the 7.2 header and refused with EINVAL, as the downstream driver does.

pub(crate) mod fw_context;
pub(crate) mod work_queue;

use kernel::{
    prelude::*,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        Arc,
    },
    uapi,
};

use crate::{
    file::{
        AsahiDevice,
        AsahiFile, //
    },
    fw::{
        abi,
        version::FwAbi, //
    },
    gpu::KernelHeapBacking,
    mem::KernelHeaps,
    vm::UserVm,
};

use self::{
    fw_context::{
        FwContext,
        FwQueue, //
    },
    work_queue::FwPriority,
};

/// A client's queue.
pub(crate) struct Queue {
    /// The firmware objects (dropped before the VM they will run in).
    fw: KBox<dyn FwQueue>,
    /// The VM the queue's work runs in.
    vm: Arc<UserVm>,
    /// The firmware priority of its work queues.
    priority: FwPriority,
    /// Base of the 4 GiB window USC (shader) addresses are relative to.
    usc_exec_base: u64,
    /// Device-wide id, the firmware's `uuid` of the queue.
    uuid: u32,
}

/// Ids for the firmware's queue uuids, unique on the device.
pub(crate) struct QueueIds(Atomic<u32>);

impl QueueIds {
    /// Starts at 1.
    pub(crate) const fn new() -> Self {
        Self(Atomic::new(1))
    }

    /// A fresh id (wraps after 2^32 queues; the firmware only uses it as a tag).
    fn next(&self) -> u32 {
        self.0.fetch_add(1, Relaxed)
    }
}

/// The firmware priority for UAPI priority `priority`.
///
/// # Errors
///
/// [`EINVAL`] for HIGH, REALTIME (reserved) and unknown values.
fn fw_priority(priority: u32) -> Result<FwPriority> {
    const LOW: u32 = uapi::drm_asahi_priority_DRM_ASAHI_PRIORITY_LOW;
    const MEDIUM: u32 = uapi::drm_asahi_priority_DRM_ASAHI_PRIORITY_MEDIUM;
    match priority {
        LOW | MEDIUM => {
            // LOW -> 3, MEDIUM -> 2: the firmware's 0 is the most urgent.
            FwPriority::new(FwPriority::LOWEST - priority as u8)
        }
        _ => Err(EINVAL),
    }
}

/// Builds the firmware objects for `abi`: the one place queue code picks generated types.
fn new_fw_context(
    abi: FwAbi,
    heaps: &KernelHeaps<KernelHeapBacking>,
    uuid: u32,
    priority: FwPriority,
) -> Result<KBox<dyn FwQueue>> {
    fn build<A: abi::FwAbi>(
        heaps: &KernelHeaps<KernelHeapBacking>,
        uuid: u32,
        priority: FwPriority,
    ) -> Result<KBox<dyn FwQueue>>
    where
        FwContext<A, KernelHeapBacking>: FwQueue + 'static,
    {
        let ctx = FwContext::<A, KernelHeapBacking>::new(heaps, uuid, priority)?;
        Ok(KBox::new(ctx, GFP_KERNEL)?)
    }
    match abi {
        FwAbi::G13V12_3 => build::<abi::G13V12_3>(heaps, uuid, priority),
        FwAbi::G14V12_4 => build::<abi::G14V12_4>(heaps, uuid, priority),
        FwAbi::G13V13_5 => build::<abi::G13V13_5>(heaps, uuid, priority),
        FwAbi::G14V13_5 => build::<abi::G14V13_5>(heaps, uuid, priority),
        FwAbi::G14XV13_5 => build::<abi::G14XV13_5>(heaps, uuid, priority),
    }
}

impl Queue {
    /// The VM the queue runs in.
    #[allow(dead_code)] // Job submission binds it to a slot.
    pub(crate) fn vm(&self) -> &Arc<UserVm> {
        &self.vm
    }

    /// The firmware priority of the queue's work queues (also selects their pipe channel).
    #[allow(dead_code)] // Job submission picks the pipe channel by it.
    pub(crate) fn priority(&self) -> FwPriority {
        self.priority
    }

    /// The USC base written into every command of the queue.
    #[allow(dead_code)] // Job submission writes it.
    pub(crate) fn usc_exec_base(&self) -> u64 {
        self.usc_exec_base
    }

    /// The firmware's tag of the queue.
    #[allow(dead_code)] // Job submission tags its commands with it.
    pub(crate) fn uuid(&self) -> u32 {
        self.uuid
    }

    /// The firmware objects.
    #[allow(dead_code)] // Job submission names the work queues.
    pub(crate) fn fw(&self) -> &dyn FwQueue {
        &*self.fw
    }
}

/// QUEUE_CREATE: a queue in one of the file's VMs, named by an id of this file.
pub(crate) fn create(
    dev: &AsahiDevice,
    req: &mut uapi::drm_asahi_queue_create,
    file: &AsahiFile,
) -> Result<u32> {
    if req.flags != 0 {
        return Err(EINVAL);
    }
    let priority = fw_priority(req.priority)?;
    let this = file.inner();
    let vm = this.vm(req.vm_id)?;
    dev.health.check()?;
    let uuid = dev.queue_ids.next();
    let queue = Arc::new(
        Queue {
            fw: new_fw_context(dev.abi, &dev.heaps, uuid, priority)?,
            vm,
            priority,
            usc_exec_base: req.usc_exec_base,
            uuid,
        },
        GFP_KERNEL,
    )?;
    req.queue_id = this.add_queue(queue)?;
    Ok(0)
}

/// QUEUE_DESTROY: drops the file's queue `queue_id`.
pub(crate) fn destroy(
    _dev: &AsahiDevice,
    req: &mut uapi::drm_asahi_queue_destroy,
    file: &AsahiFile,
) -> Result<u32> {
    if req.pad != 0 {
        return Err(EINVAL);
    }
    let queue = file.inner().remove_queue(req.queue_id)?;
    // The firmware objects go back to their heaps outside the xarray's spinlock.
    drop(queue);
    Ok(0)
}

#[cfg(CONFIG_DRM_ASAHI_KUNIT_TEST)]
#[kernel::prelude::kunit_tests(asahi_queue)]
mod tests {
    use super::*;

    #[test]
    fn uapi_priorities_map_to_firmware_levels() {
        assert!(matches!(fw_priority(0), Ok(p) if p.level() == 3));
        assert!(matches!(fw_priority(1), Ok(p) if p.level() == 2));
        for reserved in [2, 3, 4, u32::MAX] {
            assert_eq!(fw_priority(reserved).err(), Some(EINVAL));
        }
    }
}
