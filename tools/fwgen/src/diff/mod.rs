//! `fwgen diff A B`: what changes in the ABI between two variants.
//!
//! Porting the driver to a new firmware starts from this list, so it names
//! each change once, where it happens: struct fields matched by name in
//! layout order with the fields an insertion, removal or resize moves
//! collapsed under it ([`fields`]), and enum values matched by name
//! ([`enums`]), since renumbered tags break the protocol without changing any
//! layout. Structs and enums that exist on only one side are listed as added
//! or removed as a whole.

pub mod enums;
pub mod fields;

use std::fmt::Write;

pub use enums::{EnumChange, EnumDiff};
pub use fields::{Change, MovedField, StructDiff};

use crate::defs::Defs;
use crate::error::{Error, Result};
use crate::layout;

/// Everything that differs between two variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// Old variant name.
    pub a: String,
    /// New variant name.
    pub b: String,
    /// Structs that differ, in definition order.
    pub structs: Vec<StructDiff>,
    /// Enums that differ, in definition order.
    pub enums: Vec<EnumDiff>,
    /// Number of structs defined (on any variant).
    pub total_structs: usize,
    /// Number of enums defined.
    pub total_enums: usize,
}

/// Compares every struct and enum between variants `a` and `b`.
pub fn diff(defs: &Defs, a: &str, b: &str) -> Result<Diff> {
    let va = defs
        .variant(a)
        .ok_or_else(|| Error::Invalid(format!("unknown variant {a}")))?;
    let vb = defs
        .variant(b)
        .ok_or_else(|| Error::Invalid(format!("unknown variant {b}")))?;
    let la = layout::compute(defs, va)?;
    let lb = layout::compute(defs, vb)?;
    let mut structs = Vec::new();
    for s in &defs.structs {
        let changes = match (la.get(&s.name), lb.get(&s.name)) {
            (None, None) => continue,
            (None, Some(l)) => vec![Change::StructAdded { size: l.size }],
            (Some(l), None) => vec![Change::StructRemoved { size: l.size }],
            (Some(x), Some(y)) => fields::struct_changes(x, y),
        };
        if !changes.is_empty() {
            structs.push(StructDiff {
                name: s.name.clone(),
                changes,
            });
        }
    }
    let mut enums = Vec::new();
    for e in &defs.enums {
        let changes = enums::enum_changes(defs, e, va, vb)?;
        if !changes.is_empty() {
            enums.push(EnumDiff {
                name: e.name.clone(),
                changes,
            });
        }
    }
    Ok(Diff {
        a: a.to_string(),
        b: b.to_string(),
        structs,
        enums,
        total_structs: defs.structs.len(),
        total_enums: defs.enums.len(),
    })
}

/// Renders a diff as text: a `--- A` / `+++ B` header, each differing struct
/// then each differing enum with one line per change, and a last line
/// `<n> of <N> structs and <m> of <M> enums differ between A and B`.
pub fn render(d: &Diff) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "--- {}\n+++ {}", d.a, d.b);
    for sd in &d.structs {
        fields::render_struct(&mut s, sd);
    }
    for ed in &d.enums {
        enums::render_enum(&mut s, ed);
    }
    let _ = writeln!(
        s,
        "{} of {} structs and {} of {} enums differ between {} and {}",
        d.structs.len(),
        d.total_structs,
        d.enums.len(),
        d.total_enums,
        d.a,
        d.b
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defs::{load_from_strs, two_version_variants};

    // Cmd: `old` is replaced by a wider `counter`, which moves x, y, z and
    // arr by 4; arr then grows by 4, so w moves by 8.
    // Align: an inserted u16 moves c by 2, but d and e move by 4 because of
    // d's alignment: that second run has no cause of its own.
    // Swap: two fields trade places.
    const AREA: &str = r#"
        source = "t"
        [[struct]]
        name = "Cmd"
        fields = [
          { name = "tag", type = "u32" },
          { name = "old", type = "u32", when = "V < V13_5" },
          { name = "counter", type = "U64", when = "V >= V13_5" },
          { name = "x", type = "u32" },
          { name = "y", type = "u32" },
          { name = "z", type = "u32" },
          { name = "arr", type = "[u8; 4]", when = "V < V13_5" },
          { name = "arr", type = "[u8; 8]", when = "V >= V13_5" },
          { name = "w", type = "u32" },
        ]
        [[struct]]
        name = "Align"
        fields = [
          { name = "a", type = "u8" },
          { name = "n", type = "u16", when = "V >= V13_5" },
          { name = "c", type = "u16" },
          { name = "d", type = "u32" },
          { name = "e", type = "u32" },
        ]
        [[struct]]
        name = "Swap"
        fields = [
          { name = "p", type = "u32", when = "V < V13_5" },
          { name = "q", type = "u32" },
          { name = "p", type = "u32", when = "V >= V13_5" },
        ]
        [[struct]]
        name = "Same"
        fields = [{ name = "a", type = "u32" }]
        [[struct]]
        name = "Gone"
        when = "V < V13_5"
        fields = [{ name = "a", type = "u32" }, { name = "b", type = "u32" }]
        [[struct]]
        name = "New"
        when = "V >= V13_5"
        fields = [{ name = "a", type = "u32" }]

        [[enum]]
        name = "Tag"
        repr = "u32"
        values = [
          { name = "A", value = 0 },
          { name = "B", value = 1, when = "V < V13_5" },
          { name = "B", value = 2, when = "V >= V13_5" },
          { name = "C", value = 3, when = "V < V13_5" },
          { name = "D", value = 4, when = "V >= V13_5" },
        ]
        [[enum]]
        name = "Stable"
        repr = "u8"
        values = [{ name = "X", value = 7 }]
        [[enum]]
        name = "OldKind"
        repr = "u32"
        values = [{ name = "P", value = 0, when = "V < V13_5" }, { name = "Q", value = 1, when = "V < V13_5" }]
        [[enum]]
        name = "NewKind"
        repr = "u16"
        values = [{ name = "R", value = 0x10, when = "V >= V13_5" }]
    "#;

    const EXPECTED: &str = "\
--- a
+++ b
struct Cmd:
  ~ size 0x1c -> 0x24
  - old @ 0x4: u32
  + counter @ 0x4: U64
    +0x4 for the next 4 fields (x .. arr)
  * arr retyped [u8; 0x4] (0x4 bytes) -> [u8; 0x8] (0x8 bytes)
    > w moved 0x18 -> 0x20
struct Align:
  ~ size 0xc -> 0x10
  + n @ 0x2: u16
    > c moved 0x2 -> 0x4
  +0x4 for the next 2 fields (d .. e)
struct Swap:
  > q moved 0x4 -> 0x0
  > p moved 0x0 -> 0x4
struct Gone:
  - struct removed (size 0x8)
struct New:
  + struct added (size 0x4)
enum Tag:
  ~ B 0x1 -> 0x2
  - C = 0x3
  + D = 0x4
enum OldKind:
  - enum removed (2 values)
enum NewKind:
  + enum added (1 value)
5 of 6 structs and 3 of 4 enums differ between a and b
";

    fn defs() -> Defs {
        load_from_strs(&two_version_variants("a", "b"), &[("x", AREA)]).unwrap()
    }

    #[test]
    fn renders_every_kind_of_change_in_layout_order() {
        let d = defs();
        let text = render(&diff(&d, "a", "b").unwrap());
        assert_eq!(text, EXPECTED);
    }

    #[test]
    fn runs_carry_delta_and_fields() {
        let d = defs();
        let diff = diff(&d, "a", "b").unwrap();
        let cmd = &diff.structs[0];
        assert_eq!(cmd.name, "Cmd");
        let moved = |names: &[(&str, u64)]| -> Vec<MovedField> {
            names
                .iter()
                .map(|(n, from)| MovedField {
                    name: n.to_string(),
                    from: *from,
                })
                .collect()
        };
        assert_eq!(
            cmd.changes[3],
            Change::Shifted {
                delta: 4,
                fields: moved(&[("x", 8), ("y", 0xc), ("z", 0x10), ("arr", 0x14)])
            }
        );
        assert!(cmd.changes[2].is_cause());
        assert_eq!(
            cmd.changes[5],
            Change::Shifted {
                delta: 8,
                fields: moved(&[("w", 0x18)])
            }
        );
        let swap = &diff.structs[2];
        assert_eq!(
            swap.changes[0],
            Change::Shifted {
                delta: -4,
                fields: moved(&[("q", 4)])
            }
        );
        assert_eq!(
            diff.enums[0].changes[0],
            EnumChange::ValueChanged {
                name: "B".into(),
                from: 1,
                to: 2
            }
        );
    }

    #[test]
    fn same_variant_has_no_changes() {
        let d = defs();
        let diff = diff(&d, "b", "b").unwrap();
        assert!(diff.structs.is_empty() && diff.enums.is_empty());
        assert_eq!(
            render(&diff),
            "--- b\n+++ b\n0 of 6 structs and 0 of 4 enums differ between b and b\n"
        );
    }

    #[test]
    fn negative_deltas_print_with_a_minus() {
        let d = defs();
        let text = render(&diff(&d, "b", "a").unwrap());
        assert!(
            text.contains("  + old @ 0x4: u32\n    -0x4 for the next 4 fields (x .. arr)\n"),
            "{text}"
        );
        assert!(
            text.contains("enum Tag:\n  ~ B 0x2 -> 0x1\n  + C = 0x3\n  - D = 0x4\n"),
            "{text}"
        );
        assert_eq!(fields::signed_hex(-0x10), "-0x10");
        assert_eq!(fields::signed_hex(0x8), "+0x8");
    }

    #[test]
    fn unknown_variant_is_an_error() {
        let d = defs();
        assert!(diff(&d, "a", "zz").is_err());
    }

    #[test]
    fn value_defined_twice_on_a_variant_is_an_error() {
        let area = r#"
            source = "t"
            [[enum]]
            name = "Dup"
            repr = "u32"
            values = [{ name = "A", value = 0 }, { name = "A", value = 1, when = "V >= V13_5" }]
        "#;
        let d = load_from_strs(&two_version_variants("a", "b"), &[("x", area)]).unwrap();
        let e = diff(&d, "a", "b").unwrap_err().to_string();
        assert!(
            e.contains("enum Dup: value A is defined twice on variant b"),
            "{e}"
        );
    }
}
