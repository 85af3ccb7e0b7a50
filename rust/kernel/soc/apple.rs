// SPDX-License-Identifier: GPL-2.0

//! Support for Apple SoC blocks shared by several drivers.

#[cfg(CONFIG_APPLE_RTKIT = "y")]
pub mod rtkit;
