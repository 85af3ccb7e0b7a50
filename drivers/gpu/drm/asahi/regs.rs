// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The few GPU and coprocessor registers the kernel touches directly.
//!
//! Almost everything goes through the firmware; the kernel only releases the ASC coprocessor
//! and reads the GPU's identification registers to check that the device tree told the truth.
//! Offsets and fields: jannau/linux:drivers/gpu/drm/asahi/regs.rs,
//! AsahiLinux/m1n1:proxyclient/m1n1/hw/agx.py.
//!
//! # Glossary
//!
//! - ASC: the coprocessor that runs the GPU firmware (`asc` register block).
//! - SGX: the GPU block proper (`sgx` register block); the name is historical.

use kernel::io::register;

/// Size of the ASC coprocessor control registers the driver maps.
pub(crate) const ASC_CTL_SIZE: usize = 0x4000;
/// Size of the GPU (`sgx`) register block the driver maps.
pub(crate) const SGX_SIZE: usize = 0x100_0000;

register! {
    /// ASC coprocessor control.
    pub(crate) ASC_CPU_CONTROL(u32) @ 0x44 {
        /// Set to let the coprocessor run; the firmware image is already resident.
        4:4 run => bool;
    }
}

register! {
    /// GPU generation, size and revision.
    pub(crate) SGX_ID_VERSION(u32) @ 0xd04000 {
        /// Generation code: 4 = G13, 5 = G14G, 6 = G14X.
        31:24 gen;
        /// Size: 1 P, 2 G, 3 S, 4 C (a C with more than four clusters is a D).
        23:16 variant;
        /// Silicon revision, BCD-like (A0 = 0x00, B1 = 0x11, ...).
        15:8 rev;
    }

    /// Core and die counts.
    pub(crate) SGX_ID_COUNTS_1(u32) @ 0xd04010 {
        /// G14X: dies.
        19:16 dies;
        /// G14X: clusters per die.
        15:8 clusters_per_die;
        /// Cores per cluster.
        7:0 cores_per_cluster;
    }

    /// Geometry-processor counts.
    pub(crate) SGX_ID_COUNTS_2(u32) @ 0xd04014 {
        /// Geometry processors per cluster.
        23:16 gps_per_cluster;
    }

    /// Cluster count (G13, G14G).
    pub(crate) SGX_ID_CLUSTERS(u32) @ 0xd0401c {
        /// Number of clusters.
        19:12 clusters;
    }
}

register! {
    /// Enabled shader cores, packed over all clusters, bits 31:0 (G13, G14G).
    pub(crate) SGX_CORE_MASK_0(u32) @ 0xd01500 {
        /// One bit per core, cluster after cluster.
        31:0 cores;
    }

    /// Enabled shader cores, packed over all clusters, bits 63:32 (G13, G14G).
    pub(crate) SGX_CORE_MASK_1(u32) @ 0xd01514 {
        /// One bit per core, cluster after cluster.
        31:0 cores;
    }

    /// Enabled shader cores, packed over all clusters, bits 31:0 (G14X).
    pub(crate) SGX_CORE_MASKS_G14X_0(u32) @ 0xe01500 {
        /// One bit per core, cluster after cluster.
        31:0 cores;
    }

    /// Enabled shader cores, packed over all clusters, bits 63:32 (G14X).
    pub(crate) SGX_CORE_MASKS_G14X_1(u32) @ 0xe01504 {
        /// One bit per core, cluster after cluster.
        31:0 cores;
    }

    /// Enabled shader cores, packed over all clusters, bits 95:64 (G14X).
    pub(crate) SGX_CORE_MASKS_G14X_2(u32) @ 0xe01508 {
        /// One bit per core, cluster after cluster.
        31:0 cores;
    }
}
