// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The UAT handoff region's firmware side, as far as this stage models it.
//!
//! The driver writes `magic_ap` and then polls `magic_fw` (up to 1 s) before it creates the
//! mailbox and RTKit; the firmware writes the same magic once its page-table manager runs,
//! which it does on its own after the CPU starts (asahi-driver-facts.md §6.1 and §6.4,
//! jannau/linux:drivers/gpu/drm/asahi/mmu.rs `Handoff::init`; agx-firmware-behaviour.md §2).
//! The model writes it once, at CPU start; whether the real firmware waits for `magic_ap` is
//! unknown (agx-firmware-behaviour.md §7.5), and a driver that clears the field after starting
//! the CPU would wait forever here as it presumably would on hardware.

/// Value of both magics.
pub const MAGIC: u64 = 0x4b1d_0000_0000_0002;
/// Offset of `magic_ap` (host writes).
pub const MAGIC_AP: u64 = 0x0;
/// Offset of `magic_fw` (firmware writes).
pub const MAGIC_FW: u64 = 0x8;
/// Size of the handoff structure.
pub const SIZE: u64 = 0x648;
