// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The UAT, the GPU's MMU, and the driver's side of sharing it with the firmware.
//!
//! The GPU and its firmware translate addresses through per-context page tables in the
//! format of [`pte`] and [`pgtable`]: the lower half (TTB0) is the context's own, the upper
//! half (TTB1) is the kernel's, set up by the bootloader for the firmware. The TTBAT (a table
//! of 64 {TTB0, TTB1} pairs in the `ttbs` reserved region) tells the GPU which tables each
//! context slot uses; the `handoff` region is a small mailbox through which the driver and the
//! firmware agree on who may change that table. [`tlb`] is the only piece that differs between
//! the real machine and the simulated one.
//!
//! Facts: asahi-driver-facts §6 (jannau/linux:drivers/gpu/drm/asahi/{mmu,pgtable}.rs;
//! AsahiLinux/m1n1:proxyclient/m1n1/fw/agx/handoff.py).

pub(crate) mod context;
pub(crate) mod handoff;
pub(crate) mod heap;
pub(crate) mod pgtable;
#[cfg(all(CONFIG_DRM_ASAHI_KUNIT_TEST, CONFIG_IOMMU_IO_PGTABLE_LPAE))]
mod pgtable_bench;
pub(crate) mod pte;
pub(crate) mod slots;
pub(crate) mod tlb;
pub(crate) mod ttbat;
pub(crate) mod vm_heap;
