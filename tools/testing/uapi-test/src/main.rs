// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Userspace test of the asahi DRM UAPI, run inside the simulated Mac.
//!
//! It opens the render node as Mesa does and drives every ioctl the driver implements, on
//! its success paths (results checked against what the machine is) and its error paths
//! (each with its errno). It prints one line per case and ends with
//! `uapi-test: N passed, M failed`; the exit status is 0 only when nothing failed.
//!
//! Usage: `uapi-test [--crashed | --bench]`. `--crashed` runs the cases for a GPU whose
//! firmware has crashed: the device stays, but GET_PARAMS reports `ENODEV`. `--bench` prints
//! what the memory ioctls cost instead (`make bench`, see bench.rs).

mod bench;
mod cases;
mod drm;
mod expect;
mod mmap;
#[allow(
    dead_code,
    unused_imports,
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    clippy::all,
    missing_docs
)]
mod uapi {
    include!(env!("ASAHI_UAPI_BINDINGS"));
}

use std::process::ExitCode;

/// The outcome of one case: `Err` carries what went wrong.
pub(crate) type Outcome = Result<(), String>;

/// One named test case.
pub(crate) struct Case {
    /// Name printed on its result line.
    pub(crate) name: &'static str,
    /// The test.
    pub(crate) run: fn() -> Outcome,
}

/// Fails the case with a message unless `cond` holds.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Fails the case unless both sides are equal, naming what was compared.
#[macro_export]
macro_rules! check_eq {
    ($what:expr, $got:expr, $want:expr) => {{
        let (got, want) = (&$got, &$want);
        if got != want {
            return Err(format!("{}: got {:?}, want {:?}", $what, got, want));
        }
    }};
}

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--bench") {
        return match bench::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(why) => {
                println!("uapi-test: bench failed: {why}");
                ExitCode::FAILURE
            }
        };
    }
    let crashed = std::env::args().skip(1).any(|a| a == "--crashed");
    let list = if crashed {
        cases::crashed()
    } else {
        cases::running()
    };
    let (mut passed, mut failed) = (0, 0);
    for case in list {
        match (case.run)() {
            Ok(()) => {
                passed += 1;
                println!("uapi-test: ok {}", case.name);
            }
            Err(why) => {
                failed += 1;
                println!("uapi-test: FAIL {}: {}", case.name, why);
            }
        }
    }
    println!("uapi-test: {passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
