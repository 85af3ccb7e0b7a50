// SPDX-License-Identifier: GPL-2.0

//! Support for blocks of Apple SoCs that several drivers share.

pub mod rtkit;
