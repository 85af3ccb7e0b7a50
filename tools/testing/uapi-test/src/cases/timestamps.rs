// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! GEM_BIND_OBJECT: timestamp buffers bound and unbound, the 64 MiB window they share,
//! bad arguments and one client's object handles out of another's reach.

use crate::{
    cases::gem::{
        gem_close,
        gem_create, //
    },
    check, check_eq,
    drm::{
        errno,
        Drm,
        GEM_BIND_OBJECT, //
    },
    uapi, Case, Outcome,
};

pub(crate) const CASES: [Case; 3] = [
    Case {
        name: "GEM_BIND_OBJECT binds timestamp buffers and unbinds them",
        run: bind_unbind,
    },
    Case {
        name: "GEM_BIND_OBJECT refuses bad arguments and other clients' handles",
        run: bad_binds,
    },
    Case {
        name: "timestamp buffers share a 64 MiB window: full gives ENOSPC, freed space is reused",
        run: window_full,
    },
];

const PAGE: u64 = 0x4000;
const BIND: u32 = uapi::drm_asahi_bind_object_op_DRM_ASAHI_BIND_OBJECT_OP_BIND;
const UNBIND: u32 = uapi::drm_asahi_bind_object_op_DRM_ASAHI_BIND_OBJECT_OP_UNBIND;
const TIMESTAMPS: u32 = uapi::drm_asahi_bind_object_flags_DRM_ASAHI_BIND_OBJECT_USAGE_TIMESTAMPS;

fn req(
    op: u32,
    flags: u32,
    handle: u32,
    offset: u64,
    range: u64,
) -> uapi::drm_asahi_gem_bind_object {
    uapi::drm_asahi_gem_bind_object {
        op,
        flags,
        handle,
        vm_id: 0,
        offset,
        range,
        object_handle: 0,
        pad: 0,
    }
}

fn issue(drm: &Drm, mut r: uapi::drm_asahi_gem_bind_object) -> Result<u32, i32> {
    drm.ioctl(GEM_BIND_OBJECT, &mut r)?;
    Ok(r.object_handle)
}

/// BIND as gallium issues it.
fn bind(drm: &Drm, handle: u32, offset: u64, range: u64) -> Result<u32, i32> {
    issue(drm, req(BIND, TIMESTAMPS, handle, offset, range))
}

fn unbind(drm: &Drm, object: u32) -> Result<(), i32> {
    let mut r = req(UNBIND, 0, 0, 0, 0);
    r.object_handle = object;
    issue(drm, r).map(|_| ())
}

fn create(drm: &Drm, size: u64) -> Result<u32, String> {
    gem_create(drm, size, 0, 0).map_err(|e| format!("GEM_CREATE: errno {e}"))
}

fn bind_unbind() -> Outcome {
    let drm = Drm::open_render()?;
    let bo = create(&drm, 2 * PAGE)?;
    let whole = bind(&drm, bo, 0, 2 * PAGE).map_err(|e| format!("bind: errno {e}"))?;
    let second = bind(&drm, bo, PAGE, PAGE).map_err(|e| format!("bind page 1: errno {e}"))?;
    check!(
        whole != 0 && second != 0 && whole != second,
        "object handles {whole}, {second}"
    );
    check_eq!("unbind the first", unbind(&drm, whole), Ok(()));
    check_eq!("unbind it again", unbind(&drm, whole), Err(errno::ENOENT));
    // The binding holds the object: closing the GEM handle leaves it bound.
    check_eq!("close the GEM handle", gem_close(&drm, bo), Ok(()));
    check_eq!(
        "unbind after the handle closed",
        unbind(&drm, second),
        Ok(())
    );
    // One left bound for the file's close to take down.
    let bo = create(&drm, PAGE)?;
    bind(&drm, bo, 0, PAGE).map_err(|e| format!("bind left for close: errno {e}"))?;
    Ok(())
}

fn bad_binds() -> Outcome {
    let drm = Drm::open_render()?;
    let bo = create(&drm, 2 * PAGE)?;
    let cases: [(&str, uapi::drm_asahi_gem_bind_object, i32); 10] = [
        ("op 2", req(2, TIMESTAMPS, bo, 0, PAGE), errno::EINVAL),
        ("no usage flag", req(BIND, 0, bo, 0, PAGE), errno::EINVAL),
        (
            "unknown flag",
            req(BIND, TIMESTAMPS | 2, bo, 0, PAGE),
            errno::EINVAL,
        ),
        (
            "unaligned offset",
            req(BIND, TIMESTAMPS, bo, 0x1000, PAGE),
            errno::EINVAL,
        ),
        (
            "unaligned range",
            req(BIND, TIMESTAMPS, bo, 0, 0x1000),
            errno::EINVAL,
        ),
        (
            "empty range",
            req(BIND, TIMESTAMPS, bo, 0, 0),
            errno::EINVAL,
        ),
        (
            "past the object",
            req(BIND, TIMESTAMPS, bo, PAGE, 2 * PAGE),
            errno::EINVAL,
        ),
        (
            "offset + range overflows",
            req(BIND, TIMESTAMPS, bo, !(PAGE - 1), 2 * PAGE),
            errno::EINVAL,
        ),
        (
            "unknown handle",
            req(BIND, TIMESTAMPS, bo + 100, 0, PAGE),
            errno::ENOENT,
        ),
        (
            "unbind with a range",
            req(UNBIND, 0, 0, 0, PAGE),
            errno::EINVAL,
        ),
    ];
    for (what, r, want) in cases {
        check_eq!(what, issue(&drm, r), Err(want));
    }
    let mut r = req(BIND, TIMESTAMPS, bo, 0, PAGE);
    r.vm_id = 1;
    check_eq!("vm_id 1", issue(&drm, r), Err(errno::EINVAL));
    let mut r = req(BIND, TIMESTAMPS, bo, 0, PAGE);
    r.pad = 1;
    check_eq!("pad", issue(&drm, r), Err(errno::EINVAL));
    let object = bind(&drm, bo, 0, PAGE).map_err(|e| format!("bind: errno {e}"))?;
    let mut r = req(UNBIND, TIMESTAMPS, 0, 0, 0);
    r.object_handle = object;
    check_eq!("unbind with flags", issue(&drm, r), Err(errno::EINVAL));
    let mut r = req(UNBIND, 0, bo, 0, 0);
    r.object_handle = object;
    check_eq!(
        "unbind with a GEM handle",
        issue(&drm, r),
        Err(errno::EINVAL)
    );
    check_eq!("unbind object 0", unbind(&drm, 0), Err(errno::ENOENT));
    let other = Drm::open_render()?;
    check_eq!(
        "another client's object handle",
        unbind(&other, object),
        Err(errno::ENOENT)
    );
    check_eq!(
        "another client's GEM handle",
        bind(&other, bo, 0, PAGE),
        Err(errno::ENOENT)
    );
    check_eq!("unbind after the refusals", unbind(&drm, object), Ok(()));
    Ok(())
}

fn window_full() -> Outcome {
    const WINDOW: u64 = 64 << 20;
    let drm = Drm::open_render()?;
    let big = create(&drm, WINDOW)?;
    let small = create(&drm, PAGE)?;
    let all = bind(&drm, big, 0, WINDOW).map_err(|e| format!("bind 64 MiB: errno {e}"))?;
    check_eq!(
        "one page more",
        bind(&drm, small, 0, PAGE),
        Err(errno::ENOSPC)
    );
    check_eq!("free the window", unbind(&drm, all), Ok(()));
    let halves = [
        bind(&drm, big, 0, WINDOW / 2).map_err(|e| format!("first half: errno {e}"))?,
        bind(&drm, big, WINDOW / 2, WINDOW / 2).map_err(|e| format!("second half: errno {e}"))?,
    ];
    check_eq!("full again", bind(&drm, small, 0, PAGE), Err(errno::ENOSPC));
    check_eq!("free the first half", unbind(&drm, halves[0]), Ok(()));
    let page = bind(&drm, small, 0, PAGE).map_err(|e| format!("page after a free: errno {e}"))?;
    check_eq!("unbind the page", unbind(&drm, page), Ok(()));
    check_eq!("unbind the second half", unbind(&drm, halves[1]), Ok(()));
    check_eq!("close the 64 MiB object", gem_close(&drm, big), Ok(()));
    Ok(())
}
