// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The device as Mesa discovers it: driver name, bus, DRM core capabilities, sync objects.

use std::{ffi::c_char, fs};

use crate::{
    check, check_eq,
    drm::{
        iowr,
        render_node,
        Drm, //
    },
    uapi, Case, Outcome,
};

pub(crate) const CASES: [Case; 4] = [
    Case {
        name: "version names the driver asahi",
        run: version,
    },
    Case {
        name: "the device sits on the platform bus",
        run: platform_bus,
    },
    Case {
        name: "sync object capabilities",
        run: syncobj_caps,
    },
    Case {
        name: "signalled sync object waits without blocking",
        run: syncobj_wait,
    },
];

fn version() -> Outcome {
    let drm = Drm::open_render()?;
    let mut name = [0 as c_char; 64];
    let mut desc = [0 as c_char; 64];
    let mut v = uapi::drm_version {
        version_major: 0,
        version_minor: 0,
        version_patchlevel: 0,
        name_len: name.len() as _,
        name: name.as_mut_ptr(),
        date_len: 0,
        date: std::ptr::null_mut(),
        desc_len: desc.len() as _,
        desc: desc.as_mut_ptr(),
    };
    drm.ioctl(iowr::<uapi::drm_version>(0x00), &mut v)
        .map_err(|e| format!("DRM_IOCTL_VERSION: errno {e}"))?;
    let text = |b: &[c_char], len: u64| -> String {
        b[..len as usize].iter().map(|c| *c as u8 as char).collect()
    };
    check_eq!("driver name", text(&name, v.name_len as u64), "asahi");
    check!(v.desc_len > 0, "driver description is empty");
    check_eq!("major version", v.version_major, 1);
    Ok(())
}

fn platform_bus() -> Outcome {
    // libdrm reports DRM_BUS_PLATFORM from this link, and honeykrisp accepts no other bus.
    let node = render_node()?;
    let name = node
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let link = format!("/sys/class/drm/{name}/device/subsystem");
    let target = fs::read_link(&link).map_err(|e| format!("{link}: {e}"))?;
    check!(
        target.ends_with("bus/platform"),
        "{link} points to {}",
        target.display()
    );
    Ok(())
}

fn get_cap(drm: &Drm, cap: u32) -> Result<u64, String> {
    let mut c = uapi::drm_get_cap {
        capability: u64::from(cap),
        value: 0,
    };
    drm.ioctl(iowr::<uapi::drm_get_cap>(0x0c), &mut c)
        .map_err(|e| format!("DRM_IOCTL_GET_CAP {cap:#x}: errno {e}"))?;
    Ok(c.value)
}

fn syncobj_caps() -> Outcome {
    let drm = Drm::open_render()?;
    // The Vulkan runtime enables timeline semaphores from DRM_CAP_SYNCOBJ_TIMELINE.
    check_eq!("DRM_CAP_SYNCOBJ", get_cap(&drm, uapi::DRM_CAP_SYNCOBJ)?, 1);
    check_eq!(
        "DRM_CAP_SYNCOBJ_TIMELINE",
        get_cap(&drm, uapi::DRM_CAP_SYNCOBJ_TIMELINE)?,
        1
    );
    Ok(())
}

fn syncobj_wait() -> Outcome {
    // The Vulkan runtime's CPU-wait probe (mesa-asahi-userspace.md §4.1).
    let drm = Drm::open_render()?;
    let mut create = uapi::drm_syncobj_create {
        handle: 0,
        flags: uapi::DRM_SYNCOBJ_CREATE_SIGNALED,
    };
    drm.ioctl(iowr::<uapi::drm_syncobj_create>(0xbf), &mut create)
        .map_err(|e| format!("SYNCOBJ_CREATE: errno {e}"))?;
    check!(create.handle != 0, "SYNCOBJ_CREATE returned handle 0");
    let handles = [create.handle];
    let mut wait = uapi::drm_syncobj_wait {
        handles: handles.as_ptr() as u64,
        timeout_nsec: 0,
        count_handles: 1,
        flags: uapi::DRM_SYNCOBJ_WAIT_FLAGS_WAIT_ALL,
        first_signaled: 0,
        pad: 0,
        deadline_nsec: 0,
    };
    drm.ioctl(iowr::<uapi::drm_syncobj_wait>(0xc3), &mut wait)
        .map_err(|e| format!("SYNCOBJ_WAIT: errno {e}"))?;
    let mut destroy = uapi::drm_syncobj_destroy {
        handle: create.handle,
        pad: 0,
    };
    drm.ioctl(iowr::<uapi::drm_syncobj_destroy>(0xc0), &mut destroy)
        .map_err(|e| format!("SYNCOBJ_DESTROY: errno {e}"))?;
    Ok(())
}
