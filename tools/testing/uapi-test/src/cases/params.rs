// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! GET_PARAMS: the values Mesa builds the device from, the copy length, and bad requests.

use std::mem::size_of;

use crate::{
    check, check_eq,
    drm::{
        errno,
        Drm,
        GET_PARAMS, //
    },
    expect::this_soc,
    uapi::{
        self,
        drm_asahi_params_global as Global, //
    },
    Case, Outcome,
};

pub(crate) const CASES: [Case; 6] = [
    Case {
        name: "GET_PARAMS describes this SoC",
        run: describes_this_soc,
    },
    Case {
        name: "GET_PARAMS core masks cover each cluster",
        run: core_masks,
    },
    Case {
        name: "GET_PARAMS VM range and limits",
        run: vm_range_and_limits,
    },
    Case {
        name: "GET_PARAMS copies only what was asked for",
        run: short_and_long_buffers,
    },
    Case {
        name: "GET_PARAMS refuses a parameter group or pad",
        run: bad_group_or_pad,
    },
    Case {
        name: "GET_PARAMS to an unwritable buffer is EFAULT",
        run: bad_pointer,
    },
];

pub(crate) const CRASHED: [Case; 1] = [Case {
    name: "GET_PARAMS after a firmware crash is ENODEV",
    run: crashed_is_enodev,
}];

const SIZE: usize = size_of::<Global>();

/// GET_PARAMS into `buf` with `size`; the error is the errno.
fn get_params(drm: &Drm, group: u32, pad: u32, pointer: u64, size: u64) -> Result<(), i32> {
    let mut req = uapi::drm_asahi_get_params {
        param_group: group,
        pad,
        pointer,
        size,
    };
    drm.ioctl(GET_PARAMS, &mut req).map(|_| ())
}

fn read_params(drm: &Drm) -> Result<Global, String> {
    // SAFETY: `Global` is plain integers; all-zero is a valid value.
    let mut p: Global = unsafe { std::mem::zeroed() };
    get_params(drm, 0, 0, &mut p as *mut Global as u64, SIZE as u64)
        .map_err(|e| format!("GET_PARAMS: errno {e}"))?;
    Ok(p)
}

fn describes_this_soc() -> Outcome {
    let soc = this_soc()?;
    let p = read_params(&Drm::open_render()?)?;
    let fields = [
        ("generation", p.gpu_generation, soc.generation),
        ("variant", p.gpu_variant, u32::from(soc.variant)),
        ("revision", p.gpu_revision, soc.revision),
        ("chip id", p.chip_id, soc.chip_id),
        ("dies", p.num_dies, soc.dies),
        ("clusters", p.num_clusters_total, soc.clusters),
        (
            "cores per cluster",
            p.num_cores_per_cluster,
            soc.cores_per_cluster,
        ),
        ("max frequency", p.max_frequency_khz, soc.max_frequency_khz),
    ];
    for (what, got, want) in fields {
        check_eq!(format!("{} {what}", soc.name), got, want);
    }
    // The firmware is told to take GPU faults softly (macOS's default), and says so.
    check_eq!(
        "features",
        p.features,
        u64::from(uapi::drm_asahi_feature_DRM_ASAHI_FEATURE_SOFT_FAULTS)
    );
    Ok(())
}

fn core_masks() -> Outcome {
    let soc = this_soc()?;
    let p = read_params(&Drm::open_render()?)?;
    let full = (1u64 << soc.cores_per_cluster) - 1;
    for (i, mask) in p.core_masks.iter().enumerate() {
        let want = if (i as u32) < soc.clusters { full } else { 0 };
        check_eq!(format!("core mask of cluster {i}"), *mask, want);
    }
    Ok(())
}

fn vm_range_and_limits() -> Outcome {
    let p = read_params(&Drm::open_render()?)?;
    // Mesa's VA layout (mesa-asahi-userspace.md §4.3) assumes this range.
    check_eq!("vm_start", p.vm_start, 0x4000u64);
    check_eq!("vm_end", p.vm_end, 0x7f_ffff_8000u64);
    check_eq!("vm_kernel_min_size", p.vm_kernel_min_size, 0x2000_0000u64);
    check_eq!(
        "command_timestamp_frequency_hz",
        p.command_timestamp_frequency_hz,
        1_000_000_000u64
    );
    check_eq!(
        "max_commands_per_submission",
        p.max_commands_per_submission,
        64
    );
    check_eq!("max_attachments", p.max_attachments, 16);
    Ok(())
}

fn short_and_long_buffers() -> Outcome {
    let drm = Drm::open_render()?;
    let full = read_params(&drm)?;
    // SAFETY: `Global` is plain integers, so its bytes can be viewed.
    let full: &[u8] =
        unsafe { std::slice::from_raw_parts(&full as *const Global as *const u8, SIZE) };

    // A 12-byte buffer gets the features and the generation, nothing more.
    let mut buf = [0xa5u8; SIZE + 64];
    get_params(&drm, 0, 0, buf.as_mut_ptr() as u64, 12)
        .map_err(|e| format!("GET_PARAMS size 12: errno {e}"))?;
    check_eq!("first 12 bytes", &buf[..12], &full[..12]);
    check!(
        buf[12..].iter().all(|b| *b == 0xa5),
        "GET_PARAMS size 12 wrote past byte 12"
    );

    // A larger buffer (a newer userspace) gets the whole struct and no more.
    let mut buf = [0xa5u8; SIZE + 64];
    get_params(&drm, 0, 0, buf.as_mut_ptr() as u64, (SIZE + 64) as u64)
        .map_err(|e| format!("GET_PARAMS size {}: errno {e}", SIZE + 64))?;
    check_eq!("whole struct", &buf[..SIZE], full);
    check!(
        buf[SIZE..].iter().all(|b| *b == 0xa5),
        "GET_PARAMS wrote past the end of the struct"
    );

    // Size 0 writes nothing and succeeds.
    let mut buf = [0xa5u8; 8];
    get_params(&drm, 0, 0, buf.as_mut_ptr() as u64, 0)
        .map_err(|e| format!("GET_PARAMS size 0: errno {e}"))?;
    check!(buf.iter().all(|b| *b == 0xa5), "GET_PARAMS size 0 wrote");
    Ok(())
}

fn bad_group_or_pad() -> Outcome {
    let drm = Drm::open_render()?;
    let mut buf = [0xa5u8; SIZE];
    let ptr = buf.as_mut_ptr() as u64;
    check_eq!(
        "param_group 1",
        get_params(&drm, 1, 0, ptr, SIZE as u64),
        Err(errno::EINVAL)
    );
    check_eq!(
        "pad 1",
        get_params(&drm, 0, 1, ptr, SIZE as u64),
        Err(errno::EINVAL)
    );
    check!(
        buf.iter().all(|b| *b == 0xa5),
        "a refused GET_PARAMS wrote the buffer"
    );
    Ok(())
}

fn bad_pointer() -> Outcome {
    let drm = Drm::open_render()?;
    // Page 0 is never mapped; a kernel address is never writable from userspace.
    for ptr in [0x10u64, 0xffff_8000_0000_0000] {
        check_eq!(
            format!("pointer {ptr:#x}"),
            get_params(&drm, 0, 0, ptr, SIZE as u64),
            Err(errno::EFAULT)
        );
    }
    Ok(())
}

fn crashed_is_enodev() -> Outcome {
    let drm = Drm::open_render()?;
    let mut buf = [0xa5u8; SIZE];
    check_eq!(
        "GET_PARAMS",
        get_params(&drm, 0, 0, buf.as_mut_ptr() as u64, SIZE as u64),
        Err(errno::ENODEV)
    );
    check!(
        buf.iter().all(|b| *b == 0xa5),
        "a refused GET_PARAMS wrote the buffer"
    );
    // Argument errors are still reported as such.
    check_eq!(
        "param_group 1",
        get_params(&drm, 1, 0, buf.as_mut_ptr() as u64, SIZE as u64),
        Err(errno::EINVAL)
    );
    Ok(())
}
