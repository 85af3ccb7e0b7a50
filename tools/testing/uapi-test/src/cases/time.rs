// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! GET_TIME: the GPU timestamp clock, in nanoseconds.

use std::{
    thread::sleep,
    time::{
        Duration,
        Instant, //
    },
};

use crate::{
    check, check_eq,
    drm::{
        errno,
        Drm,
        GET_TIME, //
    },
    uapi, Case, Outcome,
};

pub(crate) const CASES: [Case; 2] = [
    Case {
        name: "GET_TIME runs at nanosecond rate",
        run: nanosecond_rate,
    },
    Case {
        name: "GET_TIME refuses flags",
        run: refuses_flags,
    },
];

fn get_time(drm: &Drm, flags: u64) -> Result<u64, i32> {
    let mut t = uapi::drm_asahi_get_time {
        flags,
        gpu_timestamp: 0,
    };
    drm.ioctl(GET_TIME, &mut t)?;
    Ok(t.gpu_timestamp)
}

fn nanosecond_rate() -> Outcome {
    // Mesa scales GPU timestamps by command_timestamp_frequency_hz (1 GHz): over a sleep, the
    // GPU clock must advance by about as many nanoseconds as the CPU's. Raw 24 MHz ticks
    // would advance 42 times too slowly. The bounds only catch a wrong scale, not jitter.
    let drm = Drm::open_render()?;
    let t0 = get_time(&drm, 0).map_err(|e| format!("GET_TIME: errno {e}"))?;
    let c0 = Instant::now();
    sleep(Duration::from_millis(50));
    let t1 = get_time(&drm, 0).map_err(|e| format!("GET_TIME: errno {e}"))?;
    let cpu = c0.elapsed().as_nanos() as u64;
    check!(t1 > t0, "GPU time went from {t0} to {t1}");
    let gpu = t1 - t0;
    check!(
        gpu * 2 > cpu && gpu < cpu * 2 + 20_000_000,
        "GPU time advanced {gpu} ns while the CPU slept {cpu} ns"
    );
    Ok(())
}

fn refuses_flags() -> Outcome {
    let drm = Drm::open_render()?;
    for flags in [1u64, 1 << 63] {
        check_eq!(
            format!("flags {flags:#x}"),
            get_time(&drm, flags),
            Err(errno::EINVAL)
        );
    }
    Ok(())
}
