// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! Per-SoC identity of the simulated GPU and the `sgx` registers that report it.
//!
//! The driver reads the GPU's generation, variant, revision and core counts from the `sgx`
//! block and refuses to probe when they disagree with its static table for the device-tree
//! compatible, so the model must answer them per SoC. Register offsets and decodes:
//! asahi-driver-facts.md §2.2 (jannau/linux:drivers/gpu/drm/asahi/regs.rs); counts and variants:
//! §2.1 (jannau/linux:drivers/gpu/drm/asahi/hw/*.rs). The model reports the full configuration
//! (every core of every cluster enabled); binned parts are a later option.
//!
//! Revisions: t8103 0x11 (B1) and t8112 0x10 (B0) are from user logs (mesa-asahi-userspace.md
//! §"GET_PARAMS"); the t600x (0x11) and t602x (0x10) values are the model's choice, since no
//! source records them and the driver accepts any revision.

use std::fmt;
use std::str::FromStr;

/// GPU ID: generation, variant, revision (`sgx + 0xd04000`).
pub const ID_VERSION: u64 = 0xd0_4000;
/// Logged only by the driver.
pub const ID_UNK08: u64 = 0xd0_4008;
/// Cores per cluster (7:0); on G14X also clusters per die (15:8) and dies (19:16).
pub const ID_COUNTS_1: u64 = 0xd0_4010;
/// GPs per cluster (23:16).
pub const ID_COUNTS_2: u64 = 0xd0_4014;
/// Logged only by the driver.
pub const ID_UNK18: u64 = 0xd0_4018;
/// Cluster count (19:12) on G13 and G14G.
pub const ID_CLUSTERS: u64 = 0xd0_401c;
/// Packed enabled-core bitmap, low word (G13, G14G).
pub const CORE_MASK_0: u64 = 0xd0_1500;
/// Packed enabled-core bitmap, high word (G13, G14G).
pub const CORE_MASK_1: u64 = 0xd0_1514;
/// Packed enabled-core bitmaps, three words at +0, +4, +8 (G14X).
pub const CORE_MASKS_G14X: u64 = 0xe0_1500;
/// MMU fault status on G13 and G14G.
pub const FAULT_INFO: u64 = 0x1_7030;
/// MMU fault status on G14X.
pub const FAULT_INFO_G14X: u64 = 0xd8c0;
/// MMU fault address on G14X.
pub const FAULT_ADDR_G14X: u64 = 0xd8c8;

/// GPU generation as the `ID_VERSION` register encodes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gen {
    /// M1 family (value 4).
    G13,
    /// M2 (value 5).
    G14G,
    /// M2 Pro/Max/Ultra (value 6).
    G14X,
}

/// The SoCs the project supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Soc {
    /// M1.
    #[default]
    T8103,
    /// M2.
    T8112,
    /// M1 Pro.
    T6000,
    /// M1 Max.
    T6001,
    /// M1 Ultra.
    T6002,
    /// M2 Pro.
    T6020,
    /// M2 Max.
    T6021,
    /// M2 Ultra.
    T6022,
}

impl Soc {
    /// All SoCs, for help texts and tests.
    pub const ALL: [Soc; 8] = [
        Soc::T8103,
        Soc::T8112,
        Soc::T6000,
        Soc::T6001,
        Soc::T6002,
        Soc::T6020,
        Soc::T6021,
        Soc::T6022,
    ];

    /// Lower-case name (`t8103`).
    pub fn name(self) -> &'static str {
        match self {
            Soc::T8103 => "t8103",
            Soc::T8112 => "t8112",
            Soc::T6000 => "t6000",
            Soc::T6001 => "t6001",
            Soc::T6002 => "t6002",
            Soc::T6020 => "t6020",
            Soc::T6021 => "t6021",
            Soc::T6022 => "t6022",
        }
    }

    /// GPU generation.
    pub fn gen(self) -> Gen {
        match self {
            Soc::T8103 | Soc::T6000 | Soc::T6001 | Soc::T6002 => Gen::G13,
            Soc::T8112 => Gen::G14G,
            Soc::T6020 | Soc::T6021 | Soc::T6022 => Gen::G14X,
        }
    }

    /// Variant code of `ID_VERSION` bits 23:16 (2 G, 3 S, 4 C; D is C with more than four
    /// clusters).
    fn variant_code(self) -> u32 {
        match self {
            Soc::T8103 | Soc::T8112 => 2,
            Soc::T6000 | Soc::T6020 => 3,
            Soc::T6001 | Soc::T6002 | Soc::T6021 | Soc::T6022 => 4,
        }
    }

    fn revision(self) -> u32 {
        match self {
            Soc::T8103 | Soc::T6000 | Soc::T6001 | Soc::T6002 => 0x11,
            Soc::T8112 | Soc::T6020 | Soc::T6021 | Soc::T6022 => 0x10,
        }
    }

    /// Output address size of the GPU MMU in bits: 40 on M1/M2, 42 on the Pro/Max/Ultra parts
    /// (asahi-driver-facts.md §6.1).
    pub fn uat_oas(self) -> u32 {
        match self {
            Soc::T8103 | Soc::T8112 => 40,
            _ => 42,
        }
    }

    /// Number of dies.
    pub fn dies(self) -> u32 {
        match self {
            Soc::T6002 | Soc::T6022 => 2,
            _ => 1,
        }
    }

    /// Total clusters (all dies).
    pub fn clusters(self) -> u32 {
        match self {
            Soc::T8103 | Soc::T8112 => 1,
            Soc::T6000 | Soc::T6020 => 2,
            Soc::T6001 | Soc::T6021 => 4,
            Soc::T6002 | Soc::T6022 => 8,
        }
    }

    /// Cores per cluster.
    pub fn cores_per_cluster(self) -> u32 {
        match self.gen() {
            Gen::G13 => 8,
            Gen::G14G | Gen::G14X => 10,
        }
    }

    /// GPs per cluster.
    pub fn gps_per_cluster(self) -> u32 {
        4
    }

    /// The packed core mask words (all cores enabled), three words.
    fn core_mask_words(self) -> [u32; 3] {
        let bits = self.clusters() * self.cores_per_cluster();
        let mut words = [0u32; 3];
        for (i, w) in words.iter_mut().enumerate() {
            let lo = 32 * i as u32;
            *w = match bits.saturating_sub(lo) {
                0 => 0,
                n if n >= 32 => u32::MAX,
                n => (1u32 << n) - 1,
            };
        }
        words
    }

    /// The value of an `sgx` register read with `size` bytes at `offset`, if the model knows
    /// it. The fault registers are 64-bit (the driver reads them with `readq`); every other
    /// known register is 32-bit.
    pub fn sgx_read(self, offset: u64, size: u32) -> Option<u64> {
        let g14x = self.gen() == Gen::G14X;
        let fault = if g14x {
            [FAULT_INFO_G14X, FAULT_ADDR_G14X]
        } else {
            [FAULT_INFO, FAULT_INFO]
        };
        match size {
            // No fault latched: the model has no GPU MMU faults yet.
            8 if fault.contains(&offset) => Some(0),
            4 => self.sgx_register(offset).map(u64::from),
            _ => None,
        }
    }

    /// The value of a 32-bit `sgx` register at `offset`, if the model knows it.
    pub fn sgx_register(self, offset: u64) -> Option<u32> {
        let g14x = self.gen() == Gen::G14X;
        let masks = self.core_mask_words();
        let v = match offset {
            ID_VERSION => {
                let gen = match self.gen() {
                    Gen::G13 => 4,
                    Gen::G14G => 5,
                    Gen::G14X => 6,
                };
                (gen << 24) | (self.variant_code() << 16) | (self.revision() << 8)
            }
            ID_UNK08 | ID_UNK18 => 0,
            ID_COUNTS_1 if g14x => {
                let per_die = self.clusters() / self.dies();
                (self.dies() << 16) | (per_die << 8) | self.cores_per_cluster()
            }
            ID_COUNTS_1 => self.cores_per_cluster(),
            ID_COUNTS_2 => self.gps_per_cluster() << 16,
            // Bits 23:20 are read as the die count by jannau/linux regs.rs (`max_dies`).
            ID_CLUSTERS => (self.dies() << 20) | (self.clusters() << 12),
            CORE_MASK_0 if !g14x => masks[0],
            CORE_MASK_1 if !g14x => masks[1],
            o if g14x && (CORE_MASKS_G14X..CORE_MASKS_G14X + 12).contains(&o) && o % 4 == 0 => {
                masks[((o - CORE_MASKS_G14X) / 4) as usize]
            }
            FAULT_INFO if !g14x => 0,
            FAULT_INFO_G14X | FAULT_ADDR_G14X if g14x => 0,
            0x1_7034 if !g14x => 0,
            0xd8c4 | 0xd8cc if g14x => 0,
            _ => return None,
        };
        Some(v)
    }
}

impl fmt::Display for Soc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Soc {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Soc::ALL
            .into_iter()
            .find(|soc| soc.name() == s)
            .ok_or_else(|| format!("unknown SoC {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_registers_decode_as_the_driver_expects() {
        let t8103 = Soc::T8103;
        let v = t8103.sgx_register(ID_VERSION).unwrap();
        assert_eq!((v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff), (4, 2, 0x11));
        assert_eq!(t8103.sgx_register(ID_COUNTS_1).unwrap() & 0xff, 8);
        assert_eq!((t8103.sgx_register(ID_CLUSTERS).unwrap() >> 12) & 0xff, 1);
        assert_eq!(t8103.sgx_register(CORE_MASK_0), Some(0xff));

        let t6002 = Soc::T6002;
        assert_eq!(t6002.sgx_register(CORE_MASK_0), Some(u32::MAX));
        assert_eq!(t6002.sgx_register(CORE_MASK_1), Some(u32::MAX));
        assert_eq!((t6002.sgx_register(ID_CLUSTERS).unwrap() >> 12) & 0xff, 8);
        assert_eq!((t6002.sgx_register(ID_CLUSTERS).unwrap() >> 20) & 0xf, 2);
        assert_eq!(t6002.sgx_read(FAULT_INFO, 8), Some(0));
        assert_eq!(t6002.sgx_read(FAULT_INFO_G14X, 8), None);
        assert_eq!(t6002.sgx_read(ID_VERSION, 8), None);

        let t6022 = Soc::T6022;
        let c = t6022.sgx_register(ID_COUNTS_1).unwrap();
        assert_eq!((c & 0xff, (c >> 8) & 0xff, (c >> 16) & 0xf), (10, 4, 2));
        assert_eq!(t6022.sgx_register(CORE_MASKS_G14X + 8), Some(0xffff));
        assert_eq!(t6022.sgx_register(CORE_MASK_0), None);
        assert_eq!(t6022.sgx_register(ID_VERSION).unwrap() >> 24, 6);
        assert_eq!(t6022.sgx_read(FAULT_ADDR_G14X, 8), Some(0));
        // Newer drivers count G14X clusters as clusters-per-die x dies; the masks cover all.
        let total = ((c >> 8) & 0xff) * ((c >> 16) & 0xf) * (c & 0xff);
        let bits: u32 = (0..3)
            .map(|i| {
                t6022
                    .sgx_register(CORE_MASKS_G14X + 4 * i)
                    .unwrap()
                    .count_ones()
            })
            .sum();
        assert_eq!(total, bits);
    }

    #[test]
    fn soc_names_round_trip() {
        for soc in Soc::ALL {
            assert_eq!(soc.name().parse::<Soc>(), Ok(soc));
        }
        assert!("t9999".parse::<Soc>().is_err());
    }
}
