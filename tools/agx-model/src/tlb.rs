// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The GPU MMU's TLB: translations cached per context and page until the driver invalidates
//! them, and the stale-translation oracle.
//!
//! On hardware a translation, once cached, is used until a TLB invalidation drops it, whatever
//! the driver later writes into its tables; a driver that unmaps without invalidating leaves
//! the GPU able to reach freed memory (the class of bug this model exists to catch). The
//! invalidations are the CPU's outer-shareable TLBI instructions, which the GPU snoops
//! (asahi-driver-facts.md §6.5; shared/ARCHITECTURE.md "Page sizes and TLB maintenance").
//!
//! The model keeps such a TLB and, on every hit, walks the tables again: if the tables no
//! longer give the cached page and rights, the access is reported as **stale** (it still uses
//! the cached translation, as the hardware would). A change of the memory attribute alone is
//! not stale: the driver's unmap path first rewrites firmware-cached mappings as uncached and
//! only invalidates after the coprocessor flush (facts §6.5).
//!
//! Matching follows the arm64 rules for the instructions the driver uses (Arm ARM, TLBI
//! VAE1OS / RVAE1OS / ASIDE1OS / VMALLE1OS): entries from descriptors with nG set are tagged
//! with the ASID of the root they came from; entries with nG clear are global. A by-VA or
//! range invalidation drops the matching pages of that ASID and global ones; a by-ASID one
//! drops only that ASID's non-global entries; "all" drops everything. That the UAT applies
//! the arm64 global rule is an assumption (the driver's kernel upper half is global, facts
//! §6.1, and it invalidates kernel ranges by VA with ASID 0). Only leaf translations are
//! cached (no walk cache), and faults are not cached.

use std::collections::HashMap;

use crate::dma::Dma;
use crate::uat::{
    check_access, Access, Fault, FaultKind, Page, Walk, WalkError, Walker, PAGE_SHIFT,
};

/// One invalidation, decoded (see [`crate::tlbi`] for the operand encodings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalidate {
    /// One page of `asid` (and global entries of that page).
    Va {
        /// ASID.
        asid: u16,
        /// Any address in the page (full 64-bit VA).
        va: u64,
    },
    /// Pages `[start, end)` of `asid` (and global entries there).
    Range {
        /// ASID.
        asid: u16,
        /// First VA (page aligned).
        start: u64,
        /// End VA, exclusive (page aligned; may wrap to 0 at the top of the space).
        end: u64,
    },
    /// Every non-global entry of `asid`.
    Asid(u16),
    /// Everything.
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    asid: u16,
    page: Page,
}

/// What an access through the TLB gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Translated to `pa` (page base + offset).
    Ok {
        /// Physical address of the accessed byte.
        pa: u64,
    },
    /// The hardware faults.
    Fault(Fault),
    /// A cached translation was used although the tables no longer give it.
    Stale {
        /// Physical address the cached translation gives.
        pa: u64,
        /// The cached page.
        cached: Page,
        /// What the tables give now.
        now: Walk,
        /// Permission fault of the access against the cached rights, if any.
        fault: Option<Fault>,
    },
}

/// The TLB.
#[derive(Debug, Default)]
pub struct Tlb {
    entries: HashMap<(u32, u64), Entry>,
    hits: u64,
    misses: u64,
}

fn vpage(va: u64) -> u64 {
    va >> PAGE_SHIFT
}

impl Tlb {
    /// An empty TLB.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of cached translations.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// (hits, misses) so far.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    /// Whether a translation of `va` is cached for `ctx`.
    pub fn cached(&self, ctx: u32, va: u64) -> Option<Page> {
        self.entries.get(&(ctx, vpage(va))).map(|e| e.page)
    }

    /// Applies an invalidation; returns how many entries it dropped.
    pub fn invalidate(&mut self, op: Invalidate) -> usize {
        let before = self.entries.len();
        self.entries.retain(|&(_, vp), e| {
            let global = !e.page.ng;
            let hit = match op {
                Invalidate::Va { asid, va } => vp == vpage(va) && (global || e.asid == asid),
                Invalidate::Range { asid, start, end } => {
                    let va = vp << PAGE_SHIFT;
                    let inside = va >= start && (end == 0 || va < end);
                    inside && (global || e.asid == asid)
                }
                Invalidate::Asid(asid) => !global && e.asid == asid,
                Invalidate::All => true,
            };
            !hit
        });
        before - self.entries.len()
    }

    /// Translates `va` in context `ctx` for `access`, filling the TLB on a miss and checking a
    /// hit against the tables.
    pub fn translate(
        &mut self,
        walker: &Walker,
        dma: &Dma,
        ctx: u32,
        va: u64,
        access: Access,
    ) -> Result<Outcome, WalkError> {
        let offset = va & ((1 << PAGE_SHIFT) - 1);
        let fault = |level, kind| Fault {
            ctx,
            va,
            level,
            kind,
            access,
        };
        let now = walker.walk(dma, ctx, va)?;
        if let Some(e) = self.entries.get(&(ctx, vpage(va))).copied() {
            self.hits += 1;
            let perm = check_access(e.page.perms, access).map(|k| fault(2, k));
            let same = matches!(now, Walk::Page { asid, page }
                if asid == e.asid && page.pa == e.page.pa && page.perms == e.page.perms
                    && page.ng == e.page.ng);
            if !same {
                return Ok(Outcome::Stale {
                    pa: e.page.pa | offset,
                    cached: e.page,
                    now,
                    fault: perm,
                });
            }
            return Ok(match perm {
                Some(f) => Outcome::Fault(f),
                None => Outcome::Ok {
                    pa: e.page.pa | offset,
                },
            });
        }
        self.misses += 1;
        match now {
            Walk::Fault { level, kind } => Ok(Outcome::Fault(fault(level, kind))),
            Walk::Page { asid, page } => {
                self.entries.insert((ctx, vpage(va)), Entry { asid, page });
                Ok(match check_access(page.perms, access) {
                    Some(k) => Outcome::Fault(fault(2, k)),
                    None => Outcome::Ok {
                        pa: page.pa | offset,
                    },
                })
            }
        }
    }
}

impl Outcome {
    /// The trace line for a stale access (`None` for the others; faults use
    /// [`Fault::trace_line`]).
    pub fn stale_line(&self, ctx: u32, va: u64) -> Option<String> {
        let Outcome::Stale { cached, now, .. } = self else {
            return None;
        };
        let table = match now {
            Walk::Page { page, .. } => format!("0x{:x} table_pte=0x{:x}", page.pa, page.raw),
            Walk::Fault { level, kind } => format!("fault:{}@{level}", kind_name(*kind)),
        };
        Some(format!(
            "uat stale ctx={ctx} va=0x{va:x} cached_pa=0x{:x} table={table} cached_pte=0x{:x}",
            cached.pa, cached.raw
        ))
    }
}

fn kind_name(k: FaultKind) -> &'static str {
    k.kind()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uat::tests::{dma, prot, Builder, TTBAT};
    use crate::uat::{FaultKind, PAGE_SIZE, PTE_NG};

    const W: Walker = Walker {
        ttbat: TTBAT,
        oas: 40,
    };
    const USER: u64 = 0x10_0000_0000;

    fn gpu_rw() -> u64 {
        prot(2, true, false, 2) | PTE_NG
    }

    /// Context 1 (ASID 1) with `n` user pages at USER mapped to 0x40_0000.., returns the
    /// builder, root and leaf slots.
    fn setup(d: &Dma, n: u64) -> (Builder, u64, Vec<u64>) {
        let mut b = Builder::new();
        let root = b.root(d, 1, 0, 1);
        let leaves = (0..n)
            .map(|i| {
                b.map(
                    d,
                    root,
                    USER + i * PAGE_SIZE,
                    (0x40_0000 + i * PAGE_SIZE) | gpu_rw(),
                )
            })
            .collect();
        (b, root, leaves)
    }

    #[test]
    fn miss_fills_hit_uses_and_faults_are_not_cached() {
        let d = dma();
        let (_, _, leaves) = setup(&d, 1);
        let mut t = Tlb::new();
        assert_eq!(
            t.translate(&W, &d, 1, USER + 0x10, Access::GPU_READ)
                .unwrap(),
            Outcome::Ok { pa: 0x40_0010 }
        );
        assert_eq!(t.len(), 1);
        assert_eq!(
            t.translate(&W, &d, 1, USER + 0x20, Access::GPU_WRITE)
                .unwrap(),
            Outcome::Ok { pa: 0x40_0020 }
        );
        assert_eq!(t.stats(), (1, 1));
        // The firmware has no right to a GPU-only page: permission fault from the cached entry.
        let Outcome::Fault(f) = t.translate(&W, &d, 1, USER, Access::FW_READ).unwrap() else {
            panic!()
        };
        assert_eq!((f.level, f.kind), (2, FaultKind::NoAccess));
        // Unmapped page: fault, nothing cached.
        assert!(matches!(
            t.translate(&W, &d, 1, USER + PAGE_SIZE, Access::GPU_READ)
                .unwrap(),
            Outcome::Fault(Fault {
                level: 2,
                kind: FaultKind::Translation,
                ..
            })
        ));
        assert_eq!(t.len(), 1);
        let _ = leaves;
    }

    #[test]
    fn unmap_without_invalidate_is_stale_and_with_it_faults() {
        let d = dma();
        let (_, _, leaves) = setup(&d, 1);
        let mut t = Tlb::new();
        t.translate(&W, &d, 1, USER, Access::GPU_READ).unwrap();
        d.write_u64(leaves[0], 0).unwrap();
        let o = t.translate(&W, &d, 1, USER + 8, Access::GPU_READ).unwrap();
        let Outcome::Stale { pa, fault, .. } = o else {
            panic!("{o:?}")
        };
        assert_eq!((pa, fault), (0x40_0008, None));
        assert_eq!(
            o.stale_line(1, USER + 8).unwrap(),
            "uat stale ctx=1 va=0x1000000008 cached_pa=0x400000 table=fault:translation@2 \
             cached_pte=0xc0000000400c8b"
        );
        assert_eq!(
            t.invalidate(Invalidate::Va {
                asid: 1,
                va: USER + 8
            }),
            1
        );
        assert!(matches!(
            t.translate(&W, &d, 1, USER, Access::GPU_READ).unwrap(),
            Outcome::Fault(Fault {
                level: 2,
                kind: FaultKind::Translation,
                ..
            })
        ));
        // Remapped to another page without invalidation: stale, names the new page.
        d.write_u64(leaves[0], 0x44_0000 | gpu_rw()).unwrap();
        t.translate(&W, &d, 1, USER, Access::GPU_READ).unwrap();
        d.write_u64(leaves[0], 0x48_0000 | gpu_rw()).unwrap();
        let o = t.translate(&W, &d, 1, USER, Access::GPU_READ).unwrap();
        assert!(o
            .stale_line(1, USER)
            .unwrap()
            .contains("cached_pa=0x440000 table=0x480000 "));
        // A memory-attribute change alone is not stale.
        t.invalidate(Invalidate::All);
        t.translate(&W, &d, 1, USER, Access::GPU_READ).unwrap();
        d.write_u64(leaves[0], 0x48_0000 | (gpu_rw() & !(7 << 2)))
            .unwrap();
        assert_eq!(
            t.translate(&W, &d, 1, USER, Access::GPU_READ).unwrap(),
            Outcome::Ok { pa: 0x48_0000 }
        );
        // A rights change is.
        d.write_u64(leaves[0], 0x48_0000 | prot(2, false, false, 2) | PTE_NG)
            .unwrap();
        assert!(matches!(
            t.translate(&W, &d, 1, USER, Access::GPU_WRITE).unwrap(),
            Outcome::Stale { fault: None, .. }
        ));
    }

    #[test]
    fn invalidation_ops_match_asid_range_and_global() {
        let d = dma();
        let (mut b, _, _) = setup(&d, 4);
        // Context 0 (ASID 0): a global kernel page in the upper half.
        let kroot = b.root(&d, 0, 1, 0);
        let kva = 0xffff_ffa8_0000_0000;
        b.map(&d, kroot, kva, 0x50_0000 | prot(1, true, false, 2));
        let mut t = Tlb::new();
        let fill = |t: &mut Tlb| {
            for i in 0..4 {
                t.translate(&W, &d, 1, USER + i * PAGE_SIZE, Access::GPU_READ)
                    .unwrap();
            }
            t.translate(&W, &d, 0, kva, Access::FW_READ).unwrap();
        };
        fill(&mut t);
        assert_eq!(t.len(), 5);
        // Wrong ASID: nothing.
        assert_eq!(t.invalidate(Invalidate::Va { asid: 2, va: USER }), 0);
        assert_eq!(t.invalidate(Invalidate::Asid(2)), 0);
        // Range edges: [USER + 1 page, USER + 3 pages) drops pages 1 and 2 only.
        let r = Invalidate::Range {
            asid: 1,
            start: USER + PAGE_SIZE,
            end: USER + 3 * PAGE_SIZE,
        };
        assert_eq!(t.invalidate(r), 2);
        assert!(t.cached(1, USER).is_some());
        assert!(t.cached(1, USER + 3 * PAGE_SIZE).is_some());
        // By ASID: user entries go, the global kernel entry stays.
        assert_eq!(t.invalidate(Invalidate::Asid(1)), 2);
        assert_eq!(t.invalidate(Invalidate::Asid(0)), 0);
        assert!(t.cached(0, kva).is_some());
        // A global entry goes with a by-VA op of any ASID.
        assert_eq!(t.invalidate(Invalidate::Va { asid: 7, va: kva }), 1);
        fill(&mut t);
        // Range at the top of the space (end wraps to 0).
        let top = Invalidate::Range {
            asid: 0,
            start: kva,
            end: 0,
        };
        assert_eq!(t.invalidate(top), 1);
        assert_eq!(t.invalidate(Invalidate::All), 4);
        assert!(t.is_empty());
    }

    #[test]
    fn rebinding_a_slot_without_invalidating_the_asid_is_stale() {
        let d = dma();
        let (mut b, _, _) = setup(&d, 1);
        let mut t = Tlb::new();
        t.translate(&W, &d, 1, USER, Access::GPU_READ).unwrap();
        // Another VM takes slot 1: a new root with nothing mapped at USER.
        b.root(&d, 1, 0, 1);
        assert!(matches!(
            t.translate(&W, &d, 1, USER, Access::GPU_READ).unwrap(),
            Outcome::Stale {
                now: Walk::Fault { level: 0, .. },
                ..
            }
        ));
        t.invalidate(Invalidate::Asid(1));
        assert!(matches!(
            t.translate(&W, &d, 1, USER, Access::GPU_READ).unwrap(),
            Outcome::Fault(_)
        ));
    }
}
