// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The DRM side of the driver: the `asahi` render device, its files and its ioctl table.
//!
//! Userspace (Mesa) opens the render node, reads GET_PARAMS and builds everything else from
//! there (shared/research/mesa-asahi-userspace.md §4). The device is registered only once the
//! firmware is up ([`crate::driver`]), and its data holds only what outlives the binding:
//! the GET_PARAMS answer, the firmware's health, the time base, the GPU MMU (whose memory
//! stays reserved until reboot, see [`kernel::of_reserved_mem`]) and handles on the kernel
//! heaps and the timestamp window, which live on the MMU's memory. A file owns its VMs,
//! queues and timestamp buffers by per-file ids; another file's ids name nothing. Ioctl flags follow the
//! downstream driver (asahi-driver-facts.md §8): GET_PARAMS may be used by any render client,
//! everything else also needs an authenticated client.

use kernel::{
    drm::{
        self,
        ioctl, //
    },
    new_mutex,
    prelude::*,
    sync::{
        Arc,
        Mutex, //
    },
    uapi,
    xarray::{
        AllocKind,
        XArray, //
    },
};

use crate::{
    fw::version::FwAbi,
    gem::{
        self,
        AsahiObject,
        Bo, //
    },
    gpu::{
        boot::KernelUat,
        crash::FwHealth,
        KernelHeapBacking, //
    },
    mem::KernelHeaps,
    params::Params,
    queue::{
        self,
        Queue,
        QueueIds, //
    },
    timebase::Timebase,
    timestamps::{
        self,
        TimestampBinding,
        TimestampWindow, //
    },
    vm::{
        self,
        UserVm, //
    },
};

/// The Asahi DRM driver.
pub(crate) struct AsahiDriver;

/// The `asahi` DRM device.
pub(crate) type AsahiDevice<Ctx = drm::Registered> = drm::Device<AsahiDriver, Ctx>;

/// A client's open file of the `asahi` device.
pub(crate) type AsahiFile = drm::File<File>;

/// Device data: what ioctls need that does not borrow the bound hardware.
pub(crate) struct DeviceData {
    /// The GET_PARAMS answer.
    pub(crate) params: Params,
    /// Whether the firmware still runs (a crashed GPU answers ENODEV).
    pub(crate) health: Arc<FwHealth>,
    /// The counter GET_TIME reads.
    pub(crate) timebase: Timebase,
    /// The GPU MMU user VMs are created in.
    pub(crate) uat: Arc<KernelUat>,
    /// The kernel heaps queues' firmware objects live in.
    pub(crate) heaps: KernelHeaps<KernelHeapBacking>,
    /// The firmware ABI those objects are built for.
    pub(crate) abi: FwAbi,
    /// The firmware's queue tags.
    pub(crate) queue_ids: QueueIds,
    /// The kernel window GEM_BIND_OBJECT maps timestamp buffers into.
    pub(crate) timestamps: Arc<TimestampWindow>,
}

/// Per-client state: the objects only this file can name.
#[pin_data]
pub(crate) struct File {
    /// The client's VMs by id (from 1). Ioctls that change the set hold `vms_lock`, so the
    /// xarray's own lock is only taken for single operations.
    #[pin]
    vms: XArray<Arc<UserVm>>,
    /// Serialises creation and destruction of VMs.
    #[pin]
    vms_lock: Mutex<()>,
    /// The client's queues by id (from 1).
    #[pin]
    queues: XArray<Arc<Queue>>,
    /// The client's timestamp buffers by object handle (from 1).
    #[pin]
    timestamps: XArray<KBox<TimestampBinding>>,
}

impl drm::file::DriverFile for File {
    type Driver = AsahiDriver;

    fn open(_dev: &AsahiDevice) -> Result<Pin<KBox<Self>>> {
        KBox::try_pin_init(
            try_pin_init!(File {
                vms <- XArray::new(AllocKind::Alloc1),
                vms_lock <- new_mutex!(()),
                queues <- XArray::new(AllocKind::Alloc1),
                timestamps <- XArray::new(AllocKind::Alloc1),
            }),
            GFP_KERNEL,
        )
    }
}

impl File {
    /// GET_PARAMS: the GPU's description (see [`Params`]).
    fn get_params(
        dev: &AsahiDevice,
        req: &mut uapi::drm_asahi_get_params,
        _file: &AsahiFile,
    ) -> Result<u32> {
        dev.params.get(req, &dev.health)?;
        Ok(0)
    }

    /// GET_TIME: the GPU timestamp counter now, in nanoseconds.
    fn get_time(
        dev: &AsahiDevice,
        req: &mut uapi::drm_asahi_get_time,
        _file: &AsahiFile,
    ) -> Result<u32> {
        dev.timebase.get_time(req)?;
        Ok(0)
    }

    /// VM_CREATE: a new address space, named by an id of this file.
    fn vm_create(
        dev: &AsahiDevice,
        req: &mut uapi::drm_asahi_vm_create,
        file: &AsahiFile,
    ) -> Result<u32> {
        let kernel = vm::kernel_range(req)?;
        dev.health.check()?;
        let vm = UserVm::new(dev, dev.uat.new_vm()?, kernel)?;
        let this = file.inner();
        let _serial = this.vms_lock.lock();
        // A refused VM is dropped (its tables freed) only after the xarray's spinlock.
        let stored = this.vms.lock().alloc(1..=u32::MAX, vm, GFP_KERNEL);
        req.vm_id = stored.map_err(|e| e.error)?;
        Ok(0)
    }

    /// VM_DESTROY: drops the file's VM `vm_id`; objects still using it keep it alive.
    fn vm_destroy(
        _dev: &AsahiDevice,
        req: &mut uapi::drm_asahi_vm_destroy,
        file: &AsahiFile,
    ) -> Result<u32> {
        if req.pad != 0 {
            return Err(EINVAL);
        }
        let this = file.inner();
        let _serial = this.vms_lock.lock();
        let vm = this
            .vms
            .lock()
            .remove(usize::try_from(req.vm_id)?)
            .ok_or(ENOENT)?;
        // The tables go (and the GPU's TLB is told) outside the xarray's spinlock.
        drop(vm);
        Ok(0)
    }

    /// VM_BIND: maps and unmaps ranges of one of the file's VMs.
    fn vm_bind(
        _dev: &AsahiDevice,
        req: &mut uapi::drm_asahi_vm_bind,
        file: &AsahiFile,
    ) -> Result<u32> {
        if req.pad != 0 {
            return Err(EINVAL);
        }
        let vm = file.inner().vm(req.vm_id)?;
        let ops = vm.read_ops(req.userptr, req.num_binds, req.stride)?;
        vm.bind(file, &ops)?;
        Ok(0)
    }

    /// Unmaps `obj` from every VM of this file: its handle is being closed, and a client
    /// must not keep GPU access to an object it can no longer name.
    pub(crate) fn unmap_object(&self, obj: &AsahiObject) {
        let mut next = 0;
        loop {
            // The VM is taken out of the xarray's spinlock before the sleeping unmap.
            let found = {
                let vms = self.vms.lock();
                vms.find(next, usize::MAX)
                    .map(|(id, vm)| (id, Arc::from(vm)))
            };
            let Some((id, vm)) = found else {
                break;
            };
            if let Err(e) = vm.unmap_object(obj) {
                pr_warn!("VM {}: cannot unmap a closed object ({:?})\n", id, e);
            }
            match id.checked_add(1) {
                Some(n) => next = n,
                None => break,
            }
        }
    }

    /// Adds `queue` under a fresh id.
    ///
    /// # Errors
    ///
    /// [`ENOMEM`], or [`EBUSY`] when every id is taken.
    pub(crate) fn add_queue(&self, queue: Arc<Queue>) -> Result<u32> {
        // A refused queue is dropped (its objects freed) only after the xarray's spinlock.
        let stored = self.queues.lock().alloc(1..=u32::MAX, queue, GFP_KERNEL);
        stored.map_err(|e| e.error)
    }

    /// Takes the file's queue `id` out of its table.
    ///
    /// # Errors
    ///
    /// [`ENOENT`] when this file has no such queue.
    pub(crate) fn remove_queue(&self, id: u32) -> Result<Arc<Queue>> {
        self.queues
            .lock()
            .remove(usize::try_from(id)?)
            .ok_or(ENOENT)
    }

    /// Adds a timestamp buffer under a fresh object handle.
    ///
    /// # Errors
    ///
    /// [`ENOMEM`], or [`EBUSY`] when every handle is taken.
    pub(crate) fn add_timestamps(&self, binding: TimestampBinding) -> Result<u32> {
        let binding = KBox::new(binding, GFP_KERNEL)?;
        // A refused binding is unmapped only after the xarray's spinlock.
        let stored = self
            .timestamps
            .lock()
            .alloc(1..=u32::MAX, binding, GFP_KERNEL);
        stored.map_err(|e| e.error)
    }

    /// Takes the file's timestamp buffer `handle` out of its table.
    ///
    /// # Errors
    ///
    /// [`ENOENT`] when this file has no such object handle.
    pub(crate) fn remove_timestamps(&self, handle: u32) -> Result<KBox<TimestampBinding>> {
        self.timestamps
            .lock()
            .remove(usize::try_from(handle)?)
            .ok_or(ENOENT)
    }

    /// The file's VM `id`.
    ///
    /// # Errors
    ///
    /// [`ENOENT`] when this file has no such VM.
    pub(crate) fn vm(&self, id: u32) -> Result<Arc<UserVm>> {
        let vms = self.vms.lock();
        let vm = vms.get(usize::try_from(id)?).ok_or(ENOENT)?;
        Ok(vm.into())
    }
}

const INFO: drm::DriverInfo = drm::DriverInfo {
    major: 1,
    minor: 0,
    patchlevel: 0,
    // Mesa picks its driver by this name.
    name: c"asahi",
    desc: c"Apple AGX Graphics",
};

#[vtable]
impl drm::Driver for AsahiDriver {
    type Data = DeviceData;
    type File = File;
    type Object<Ctx: drm::DeviceContext> = kernel::drm::gem::chunked::Object<Bo, Ctx>;

    const INFO: drm::DriverInfo = INFO;
    const FEAT_RENDER: bool = true;
    const FEAT_SYNCOBJ: bool = true;
    const FEAT_SYNCOBJ_TIMELINE: bool = true;
    const FEAT_GEM_GPUVA: bool = true;

    kernel::declare_drm_ioctls! {
        (ASAHI_GET_PARAMS, drm_asahi_get_params, ioctl::RENDER_ALLOW, File::get_params),
        (ASAHI_GET_TIME, drm_asahi_get_time, ioctl::AUTH | ioctl::RENDER_ALLOW, File::get_time),
        (ASAHI_VM_CREATE, drm_asahi_vm_create, ioctl::AUTH | ioctl::RENDER_ALLOW, File::vm_create),
        (ASAHI_VM_DESTROY, drm_asahi_vm_destroy, ioctl::AUTH | ioctl::RENDER_ALLOW,
            File::vm_destroy),
        (ASAHI_VM_BIND, drm_asahi_vm_bind, ioctl::AUTH | ioctl::RENDER_ALLOW, File::vm_bind),
        (ASAHI_GEM_CREATE, drm_asahi_gem_create, ioctl::AUTH | ioctl::RENDER_ALLOW, gem::create),
        (ASAHI_GEM_MMAP_OFFSET, drm_asahi_gem_mmap_offset, ioctl::AUTH | ioctl::RENDER_ALLOW,
            gem::mmap_offset),
        (ASAHI_GEM_BIND_OBJECT, drm_asahi_gem_bind_object, ioctl::AUTH | ioctl::RENDER_ALLOW,
            timestamps::bind_object),
        (ASAHI_QUEUE_CREATE, drm_asahi_queue_create, ioctl::AUTH | ioctl::RENDER_ALLOW,
            queue::create),
        (ASAHI_QUEUE_DESTROY, drm_asahi_queue_destroy, ioctl::AUTH | ioctl::RENDER_ALLOW,
            queue::destroy),
    }
}
