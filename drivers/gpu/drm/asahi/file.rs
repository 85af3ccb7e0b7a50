// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The DRM side of the driver: the `asahi` render device, its files and its ioctl table.
//!
//! Userspace (Mesa) opens the render node, reads GET_PARAMS and builds everything else from
//! there (shared/research/mesa-asahi-userspace.md §4). The device is registered only once the
//! firmware is up ([`crate::driver`]), and its data holds only what outlives the binding:
//! the GET_PARAMS answer, the firmware's health and the time base. Ioctl flags follow the
//! downstream driver (asahi-driver-facts.md §8): GET_PARAMS may be used by any render client,
//! everything else also needs an authenticated client.

use kernel::{
    drm::{
        self,
        gem,
        ioctl, //
    },
    prelude::*,
    sync::Arc,
    uapi, //
};

use crate::{
    gpu::crash::FwHealth,
    params::Params,
    timebase::Timebase, //
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
}

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
}

/// Per-client state.
pub(crate) struct File;

impl drm::file::DriverFile for File {
    type Driver = AsahiDriver;

    fn open(_dev: &AsahiDevice) -> Result<Pin<KBox<Self>>> {
        Ok(KBox::pin(File, GFP_KERNEL)?)
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
    type Object<Ctx: drm::DeviceContext> = gem::shmem::Object<Bo, Ctx>;

    const INFO: drm::DriverInfo = INFO;
    const FEAT_RENDER: bool = true;
    const FEAT_SYNCOBJ: bool = true;
    const FEAT_SYNCOBJ_TIMELINE: bool = true;
    const FEAT_GEM_GPUVA: bool = true;

    kernel::declare_drm_ioctls! {
        (ASAHI_GET_PARAMS, drm_asahi_get_params, ioctl::RENDER_ALLOW, File::get_params),
        (ASAHI_GET_TIME, drm_asahi_get_time, ioctl::AUTH | ioctl::RENDER_ALLOW, File::get_time),
    }
}
