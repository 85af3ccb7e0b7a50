// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! `uapi-test --bench`: what the memory ioctls cost, as figures (`make bench`), not a test.
//!
//! Each figure is the mean over a batch of calls timed as a whole (one clock read before and
//! one after the batch, never per call), after a warm-up batch of the same work. Two clocks
//! are read: the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, which includes the time the
//! kernel spends in our ioctls) and the wall clock. VM_BIND figures are for a bind followed
//! by the unbind that takes it down again, so every iteration does the same work.
//!
//! UML counts thread CPU time in scheduler ticks (10 ms), so batches are long enough (0.1 s
//! and more) for a tick to be small against them.
//!
//! Prints `ioctl <name>: <cpu> us (wall <wall> us, <n> calls)` per figure.

use crate::{
    cases::{
        bind::{
            bind,
            op,
            unbind,
            BASE,
            PAGE,
            RW, //
        },
        gem::{
            gem_close,
            gem_create,
            vm_create, //
        },
    },
    drm::{
        Drm,
        GET_PARAMS, //
    },
    uapi,
};

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// `struct timespec` on 64-bit Linux.
#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

/// `CLOCK_MONOTONIC`.
const MONOTONIC: i32 = 1;
/// `CLOCK_THREAD_CPUTIME_ID`.
const THREAD_CPU: i32 = 3;

fn now_ns(clock: i32) -> u64 {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; both clocks exist on Linux.
    unsafe { clock_gettime(clock, &mut ts) };
    ts.sec as u64 * 1_000_000_000 + ts.nsec as u64
}

/// Runs `work` `calls` times after `calls / 10 + 1` warm-up calls; returns the mean CPU and
/// wall time per call in microseconds.
fn measure(calls: u32, mut work: impl FnMut() -> Result<(), String>) -> Result<(f64, f64), String> {
    for _ in 0..calls / 10 + 1 {
        work()?;
    }
    let (cpu0, wall0) = (now_ns(THREAD_CPU), now_ns(MONOTONIC));
    for _ in 0..calls {
        work()?;
    }
    let (cpu1, wall1) = (now_ns(THREAD_CPU), now_ns(MONOTONIC));
    let per_call = |a: u64, b: u64| (b - a) as f64 / 1000.0 / f64::from(calls);
    Ok((per_call(cpu0, cpu1), per_call(wall0, wall1)))
}

fn report(name: &str, calls: u32, work: impl FnMut() -> Result<(), String>) -> Result<(), String> {
    let (cpu, wall) = measure(calls, work).map_err(|e| format!("{name}: {e}"))?;
    println!("ioctl {name}: {cpu:.1} us (wall {wall:.1} us, {calls} calls)");
    Ok(())
}

/// Runs every benchmark; the error says which one could not run.
pub(crate) fn run() -> Result<(), String> {
    let drm = Drm::open_render()?;

    // SAFETY: the parameter block is plain integers; all-zero is a valid value.
    let mut params: uapi::drm_asahi_params_global = unsafe { std::mem::zeroed() };
    report("GET_PARAMS", 2000, || {
        let mut req = uapi::drm_asahi_get_params {
            param_group: 0,
            pad: 0,
            pointer: &mut params as *mut _ as u64,
            size: std::mem::size_of_val(&params) as u64,
        };
        drm.ioctl(GET_PARAMS, &mut req)
            .map(|_| ())
            .map_err(|e| format!("errno {e}"))
    })?;

    report("GEM_CREATE+close 16 KiB", 1000, || {
        let handle = gem_create(&drm, PAGE, 0, 0).map_err(|e| format!("GEM_CREATE: errno {e}"))?;
        gem_close(&drm, handle).map_err(|e| format!("GEM_CLOSE: errno {e}"))
    })?;

    let vm = vm_create(&drm)?;
    for (name, size, calls) in [
        ("VM_BIND 1 page (bind+unbind)", PAGE, 1000),
        ("VM_BIND 1 GiB (bind+unbind)", 1 << 30, 200),
    ] {
        let handle =
            gem_create(&drm, size, 0, 0).map_err(|e| format!("GEM_CREATE {size:#x}: errno {e}"))?;
        report(name, calls, || {
            bind(&drm, vm, &[op(RW, handle, 0, size, BASE)])
                .map_err(|e| format!("bind: errno {e}"))?;
            bind(&drm, vm, &[unbind(BASE, size)]).map_err(|e| format!("unbind: errno {e}"))
        })?;
        gem_close(&drm, handle).map_err(|e| format!("GEM_CLOSE: errno {e}"))?;
    }
    Ok(())
}
