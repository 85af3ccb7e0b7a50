// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The test cases, grouped by ioctl.

pub(crate) mod bind;
mod device;
pub(crate) mod gem;
mod params;
mod queue;
mod time;
mod timestamps;
mod vm;

use crate::Case;

/// Cases for a GPU whose firmware runs.
pub(crate) fn running() -> Vec<Case> {
    let mut all = Vec::new();
    all.extend(device::CASES);
    all.extend(params::CASES);
    all.extend(time::CASES);
    all.extend(vm::CASES);
    all.extend(gem::CASES);
    all.extend(bind::CASES);
    all.extend(queue::CASES);
    all.extend(timestamps::CASES);
    all
}

/// Cases for a GPU whose firmware crashed.
pub(crate) fn crashed() -> Vec<Case> {
    let mut all = Vec::new();
    all.extend(device::CASES);
    all.extend(params::CRASHED);
    all.extend(time::CASES);
    all.extend(vm::CRASHED);
    all
}
