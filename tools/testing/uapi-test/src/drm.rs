// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! A DRM file and the raw ioctl call, std only.
//!
//! Request codes are computed here from the ioctl number and argument size, the way the
//! kernel's `_IOC` macros do (asm-generic/ioctl.h), so a struct whose size the kernel does not
//! expect shows up as a wrong code, not a silent mismatch.

use std::{
    ffi::c_void,
    fs::{
        self,
        File,
        OpenOptions, //
    },
    io,
    os::fd::AsRawFd,
    path::PathBuf,
};

use crate::uapi;

extern "C" {
    fn ioctl(fd: i32, request: u64, ...) -> i32;
}

const IOC_WRITE: u64 = 1;
const IOC_READ: u64 = 2;

/// `_IOC(dir, 'd', nr, size)`.
pub(crate) const fn ioc(dir: u64, nr: u32, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | ((b'd' as u64) << 8) | nr as u64
}

/// `DRM_IOWR(nr, T)`.
pub(crate) const fn iowr<T>(nr: u32) -> u64 {
    ioc(IOC_READ | IOC_WRITE, nr, std::mem::size_of::<T>())
}

/// `DRM_IOW(nr, T)`.
pub(crate) const fn iow<T>(nr: u32) -> u64 {
    ioc(IOC_WRITE, nr, std::mem::size_of::<T>())
}

/// An asahi driver ioctl: `DRM_COMMAND_BASE + id`.
pub(crate) const fn asahi_nr(id: u32) -> u32 {
    crate::uapi::DRM_COMMAND_BASE + id
}

/// `DRM_IOCTL_ASAHI_GET_PARAMS`.
pub(crate) const GET_PARAMS: u64 =
    iow::<uapi::drm_asahi_get_params>(asahi_nr(uapi::drm_asahi_ioctl_id_DRM_ASAHI_GET_PARAMS));
/// `DRM_IOCTL_ASAHI_GET_TIME`.
pub(crate) const GET_TIME: u64 =
    iowr::<uapi::drm_asahi_get_time>(asahi_nr(uapi::drm_asahi_ioctl_id_DRM_ASAHI_GET_TIME));

/// `DRM_IOCTL_ASAHI_VM_CREATE`.
pub(crate) const VM_CREATE: u64 =
    iowr::<uapi::drm_asahi_vm_create>(asahi_nr(uapi::drm_asahi_ioctl_id_DRM_ASAHI_VM_CREATE));
/// `DRM_IOCTL_ASAHI_VM_DESTROY`.
pub(crate) const VM_DESTROY: u64 =
    iow::<uapi::drm_asahi_vm_destroy>(asahi_nr(uapi::drm_asahi_ioctl_id_DRM_ASAHI_VM_DESTROY));

/// `DRM_IOCTL_ASAHI_VM_BIND`.
pub(crate) const VM_BIND: u64 =
    iow::<uapi::drm_asahi_vm_bind>(asahi_nr(uapi::drm_asahi_ioctl_id_DRM_ASAHI_VM_BIND));

/// `DRM_IOCTL_ASAHI_GEM_CREATE`.
pub(crate) const GEM_CREATE: u64 =
    iowr::<uapi::drm_asahi_gem_create>(asahi_nr(uapi::drm_asahi_ioctl_id_DRM_ASAHI_GEM_CREATE));
/// `DRM_IOCTL_ASAHI_GEM_MMAP_OFFSET`.
pub(crate) const GEM_MMAP_OFFSET: u64 = iowr::<uapi::drm_asahi_gem_mmap_offset>(asahi_nr(
    uapi::drm_asahi_ioctl_id_DRM_ASAHI_GEM_MMAP_OFFSET,
));

/// `DRM_IOCTL_ASAHI_GEM_BIND_OBJECT`.
pub(crate) const GEM_BIND_OBJECT: u64 = iowr::<uapi::drm_asahi_gem_bind_object>(asahi_nr(
    uapi::drm_asahi_ioctl_id_DRM_ASAHI_GEM_BIND_OBJECT,
));
/// `DRM_IOCTL_ASAHI_QUEUE_CREATE`.
pub(crate) const QUEUE_CREATE: u64 =
    iowr::<uapi::drm_asahi_queue_create>(asahi_nr(uapi::drm_asahi_ioctl_id_DRM_ASAHI_QUEUE_CREATE));
/// `DRM_IOCTL_ASAHI_QUEUE_DESTROY`.
pub(crate) const QUEUE_DESTROY: u64 = iow::<uapi::drm_asahi_queue_destroy>(asahi_nr(
    uapi::drm_asahi_ioctl_id_DRM_ASAHI_QUEUE_DESTROY,
));

/// `DRM_IOCTL_GEM_CLOSE` (drm.h: `DRM_IOW(0x09, struct drm_gem_close)`).
pub(crate) const GEM_CLOSE: u64 = iow::<uapi::drm_gem_close>(0x09);
/// `DRM_IOCTL_PRIME_HANDLE_TO_FD` (drm.h: `DRM_IOWR(0x2d, struct drm_prime_handle)`).
pub(crate) const PRIME_HANDLE_TO_FD: u64 = iowr::<uapi::drm_prime_handle>(0x2d);
/// `DRM_IOCTL_PRIME_FD_TO_HANDLE` (drm.h: `DRM_IOWR(0x2e, struct drm_prime_handle)`).
pub(crate) const PRIME_FD_TO_HANDLE: u64 = iowr::<uapi::drm_prime_handle>(0x2e);

/// An open DRM device file.
pub(crate) struct Drm {
    file: File,
}

/// The first render node.
pub(crate) fn render_node() -> Result<PathBuf, String> {
    let mut nodes: Vec<PathBuf> = fs::read_dir("/dev/dri")
        .map_err(|e| format!("/dev/dri: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("renderD"))
        })
        .collect();
    nodes.sort();
    nodes
        .into_iter()
        .next()
        .ok_or_else(|| "no render node in /dev/dri".into())
}

impl Drm {
    /// Opens the render node read-write, as Mesa does.
    pub(crate) fn open_render() -> Result<Self, String> {
        let path = render_node()?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| format!("open {}: {e}", path.display()))?;
        Ok(Self { file })
    }

    /// The file descriptor, for `mmap()`.
    pub(crate) fn fd(&self) -> i32 {
        self.file.as_raw_fd()
    }

    /// Issues `request` with `arg`; the error is the errno.
    pub(crate) fn ioctl<T>(&self, request: u64, arg: &mut T) -> Result<i32, i32> {
        // SAFETY: `arg` is a valid, exclusively borrowed `T` for the duration of the call, and
        // every request code used with it encodes `size_of::<T>()`, so the kernel reads and
        // writes within it.
        let r = unsafe { ioctl(self.file.as_raw_fd(), request, arg as *mut T as *mut c_void) };
        if r < 0 {
            Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
        } else {
            Ok(r)
        }
    }
}

/// Errno values the cases expect.
pub(crate) mod errno {
    /// Permission denied.
    pub(crate) const EACCES: i32 = 13;
    /// Out of memory.
    pub(crate) const ENOMEM: i32 = 12;
    /// Bad address.
    pub(crate) const EFAULT: i32 = 14;
    /// No such device.
    pub(crate) const ENODEV: i32 = 19;
    /// Invalid argument.
    pub(crate) const EINVAL: i32 = 22;
    /// No such entry.
    pub(crate) const ENOENT: i32 = 2;
    /// No space left (a full address window).
    pub(crate) const ENOSPC: i32 = 28;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computed_codes_match_the_header_and_mesa() {
        // The header's own values, and those Mesa 26.2 was seen passing
        // (mesa-asahi-userspace.md §2.4).
        assert_eq!(GET_PARAMS, u64::from(uapi::DRM_IOCTL_ASAHI_GET_PARAMS));
        assert_eq!(GET_PARAMS, 0x4018_6440);
        assert_eq!(GET_TIME, u64::from(uapi::DRM_IOCTL_ASAHI_GET_TIME));
        assert_eq!(GET_TIME, 0xc010_6441);
        assert_eq!(VM_CREATE, u64::from(uapi::DRM_IOCTL_ASAHI_VM_CREATE));
        assert_eq!(VM_CREATE, 0xc018_6442);
        assert_eq!(VM_DESTROY, u64::from(uapi::DRM_IOCTL_ASAHI_VM_DESTROY));
        assert_eq!(VM_DESTROY, 0x4008_6443);
        assert_eq!(VM_BIND, u64::from(uapi::DRM_IOCTL_ASAHI_VM_BIND));
        assert_eq!(VM_BIND, 0x4018_6444);
        assert_eq!(GEM_CREATE, u64::from(uapi::DRM_IOCTL_ASAHI_GEM_CREATE));
        assert_eq!(GEM_CREATE, 0xc018_6445);
        assert_eq!(
            GEM_MMAP_OFFSET,
            u64::from(uapi::DRM_IOCTL_ASAHI_GEM_MMAP_OFFSET)
        );
        assert_eq!(GEM_MMAP_OFFSET, 0xc010_6446);
        // drm.h's generic ioctls, as libdrm encodes them.
        assert_eq!(GEM_CLOSE, 0x4008_6409);
        assert_eq!(PRIME_HANDLE_TO_FD, 0xc00c_642d);
        assert_eq!(PRIME_FD_TO_HANDLE, 0xc00c_642e);
    }
}
