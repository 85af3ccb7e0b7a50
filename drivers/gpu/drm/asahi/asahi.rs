// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Driver for the AGX GPUs of Apple M1 and M2 SoCs.
//!
//! The GPU is run by firmware on an ASC coprocessor. The kernel never loads that firmware: the
//! bootloader leaves it resident, describes the GPU in the device tree (upstream binding
//! `gpu/apple,agx.yaml`) and hands over the calibration data the firmware needs. This driver
//! checks that description, picks the firmware ABI the bootloader names, and talks to the
//! firmware through shared memory and the ASC mailbox.
//!
//! # Glossary
//!
//! - AGX: Apple's GPU family. G13 is the M1 generation, G14 the M2 one; the letter after the
//!   generation (G, S, C, D) is the size of the part.
//! - ASC: the ARM coprocessor that runs the GPU firmware under the RTKit OS.
//! - UAT: the GPU's MMU.

// The RX rings are drained and the pipe rings used from the next stages on; KUnit exercises
// them meanwhile.
#[allow(dead_code)]
mod channel;
mod debugfs;
mod driver;
mod dt;
// Slots are allocated by job submission; KUnit exercises them meanwhile.
#[allow(dead_code)]
mod event;
mod file;
mod fw;
mod gem;
mod gpu;
mod gpu_id;
mod hw;
#[allow(dead_code)]
mod mem;
mod params;
mod queue;
mod region_mem;
mod regs;
#[cfg(CONFIG_DRM_ASAHI_SELFTEST)]
mod selftest;
// SUBMIT's layers come in before the ioctl itself; KUnit exercises them meanwhile.
#[allow(dead_code)]
mod submit;
mod timebase;
mod timestamps;
// Parts of the UAT (user VMs, heaps) wait for their users; KUnit exercises them meanwhile.
#[allow(dead_code)]
mod uat;
mod vm;

kernel::module_platform_driver! {
    type: driver::AsahiPlatformDriver,
    name: "asahi",
    authors: ["asahi-agx developers"],
    description: "Apple AGX GPU driver",
    license: "Dual MIT/GPL",
    params: {
        live_selftests: u32 {
            default: 0,
            description: "Run the live self-tests after the firmware is up (needs CONFIG_DRM_ASAHI_SELFTEST)",
        },
    },
}
