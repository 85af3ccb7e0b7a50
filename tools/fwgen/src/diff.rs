//! `fwgen diff A B`: what changes in the ABI between two variants.
//!
//! Fields are matched by name within a struct. A field present only in B is
//! added, only in A removed; a field whose offset changed moved; one whose
//! size or type changed was resized/retyped. Structs that exist on only one
//! side are listed as added/removed as a whole.

use std::fmt::Write;

use crate::defs::Defs;
use crate::error::{Error, Result};
use crate::layout::{self, StructLayout};

/// One change of a field or struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The whole struct exists only on B.
    StructAdded {
        /// Size on B.
        size: u64,
    },
    /// The whole struct exists only on A.
    StructRemoved {
        /// Size on A.
        size: u64,
    },
    /// Struct size differs.
    Resized {
        /// Size on A.
        from: u64,
        /// Size on B.
        to: u64,
    },
    /// Field only on B.
    FieldAdded {
        /// Field name.
        field: String,
        /// Offset on B.
        offset: u64,
        /// Type on B.
        ty: String,
    },
    /// Field only on A.
    FieldRemoved {
        /// Field name.
        field: String,
        /// Offset on A.
        offset: u64,
        /// Type on A.
        ty: String,
    },
    /// Field offset differs.
    FieldMoved {
        /// Field name.
        field: String,
        /// Offset on A.
        from: u64,
        /// Offset on B.
        to: u64,
    },
    /// Field type (and usually size) differs.
    FieldRetyped {
        /// Field name.
        field: String,
        /// Type and size on A.
        from: String,
        /// Type and size on B.
        to: String,
    },
}

/// Changes of one struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructDiff {
    /// Struct name.
    pub name: String,
    /// Changes in field order.
    pub changes: Vec<Change>,
}

/// Compares every struct between variants `a` and `b`.
pub fn diff(defs: &Defs, a: &str, b: &str) -> Result<Vec<StructDiff>> {
    let va = defs
        .variant(a)
        .ok_or_else(|| Error::Invalid(format!("unknown variant {a}")))?;
    let vb = defs
        .variant(b)
        .ok_or_else(|| Error::Invalid(format!("unknown variant {b}")))?;
    let la = layout::compute(defs, va)?;
    let lb = layout::compute(defs, vb)?;
    let mut out = Vec::new();
    for s in &defs.structs {
        let changes = match (la.get(&s.name), lb.get(&s.name)) {
            (None, None) => continue,
            (None, Some(l)) => vec![Change::StructAdded { size: l.size }],
            (Some(l), None) => vec![Change::StructRemoved { size: l.size }],
            (Some(x), Some(y)) => struct_changes(x, y),
        };
        if !changes.is_empty() {
            out.push(StructDiff {
                name: s.name.clone(),
                changes,
            });
        }
    }
    Ok(out)
}

fn struct_changes(a: &StructLayout, b: &StructLayout) -> Vec<Change> {
    let mut changes = Vec::new();
    if a.size != b.size {
        changes.push(Change::Resized {
            from: a.size,
            to: b.size,
        });
    }
    for fa in &a.fields {
        match b.field(&fa.name) {
            None => changes.push(Change::FieldRemoved {
                field: fa.name.clone(),
                offset: fa.offset,
                ty: fa.ty.to_string(),
            }),
            Some(fb) => {
                if fa.ty != fb.ty || fa.size != fb.size {
                    changes.push(Change::FieldRetyped {
                        field: fa.name.clone(),
                        from: format!("{} ({:#x} bytes)", fa.ty, fa.size),
                        to: format!("{} ({:#x} bytes)", fb.ty, fb.size),
                    });
                }
                if fa.offset != fb.offset {
                    changes.push(Change::FieldMoved {
                        field: fa.name.clone(),
                        from: fa.offset,
                        to: fb.offset,
                    });
                }
            }
        }
    }
    for fb in &b.fields {
        if a.field(&fb.name).is_none() {
            changes.push(Change::FieldAdded {
                field: fb.name.clone(),
                offset: fb.offset,
                ty: fb.ty.to_string(),
            });
        }
    }
    changes
}

/// Renders a diff as text, one line per change.
pub fn render(a: &str, b: &str, diffs: &[StructDiff], total_structs: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "--- {a}\n+++ {b}");
    for d in diffs {
        let _ = writeln!(s, "struct {}:", d.name);
        for c in &d.changes {
            let _ = match c {
                Change::StructAdded { size } => writeln!(s, "  + struct added (size {size:#x})"),
                Change::StructRemoved { size } => {
                    writeln!(s, "  - struct removed (size {size:#x})")
                }
                Change::Resized { from, to } => writeln!(s, "  ~ size {from:#x} -> {to:#x}"),
                Change::FieldAdded { field, offset, ty } => {
                    writeln!(s, "  + {field} @ {offset:#x}: {ty}")
                }
                Change::FieldRemoved { field, offset, ty } => {
                    writeln!(s, "  - {field} @ {offset:#x}: {ty}")
                }
                Change::FieldMoved { field, from, to } => {
                    writeln!(s, "  > {field} moved {from:#x} -> {to:#x}")
                }
                Change::FieldRetyped { field, from, to } => {
                    writeln!(s, "  * {field} retyped {from} -> {to}")
                }
            };
        }
    }
    let _ = writeln!(
        s,
        "{} of {} structs differ between {a} and {b}",
        diffs.len(),
        total_structs
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defs::load_from_strs;

    const VARIANTS: &str = r#"
        [axes]
        V = ["V12_3", "V13_5"]
        [[variant]]
        name = "a"
        axes = { V = "V12_3" }
        firmware = [12, 3, 0]
        source = "t"
        [[variant]]
        name = "b"
        axes = { V = "V13_5" }
        firmware = [13, 5, 0]
        source = "t"
    "#;

    const AREA: &str = r#"
        source = "t"
        [[struct]]
        name = "Cmd"
        fields = [
          { name = "tag", type = "u32" },
          { name = "counter", type = "U64", when = "V >= V13_5" },
          { name = "old", type = "u32", when = "V < V13_5" },
          { name = "arr", type = "[u8; 4]", when = "V < V13_5" },
          { name = "arr", type = "[u8; 8]", when = "V >= V13_5" },
        ]
        [[struct]]
        name = "Same"
        fields = [{ name = "a", type = "u32" }]
        [[struct]]
        name = "New"
        when = "V >= V13_5"
        fields = [{ name = "a", type = "u32" }]
    "#;

    #[test]
    fn lists_added_removed_moved_resized() {
        let d = load_from_strs(VARIANTS, &[("x", AREA)]).unwrap();
        let diffs = diff(&d, "a", "b").unwrap();
        assert_eq!(diffs.len(), 2);
        assert_eq!(diffs[0].name, "Cmd");
        let c = &diffs[0].changes;
        assert!(c.contains(&Change::Resized { from: 12, to: 20 }));
        assert!(c.contains(&Change::FieldRemoved {
            field: "old".into(),
            offset: 4,
            ty: "u32".into()
        }));
        assert!(c.contains(&Change::FieldAdded {
            field: "counter".into(),
            offset: 4,
            ty: "U64".into()
        }));
        assert!(c.contains(&Change::FieldMoved {
            field: "arr".into(),
            from: 8,
            to: 12
        }));
        assert!(c
            .iter()
            .any(|c| matches!(c, Change::FieldRetyped { field, .. } if field == "arr")));
        assert_eq!(diffs[1].changes, vec![Change::StructAdded { size: 4 }]);

        let text = render("a", "b", &diffs, d.structs.len());
        assert!(
            text.contains("struct Cmd:\n  ~ size 0xc -> 0x14\n"),
            "{text}"
        );
        assert!(text.contains("  + counter @ 0x4: U64\n"), "{text}");
        assert!(text.contains("  - old @ 0x4: u32\n"), "{text}");
        assert!(text.contains("  > arr moved 0x8 -> 0xc\n"), "{text}");
        assert!(
            text.contains("struct New:\n  + struct added (size 0x4)\n"),
            "{text}"
        );
        assert!(!text.contains("struct Same"), "{text}");
        assert!(
            text.ends_with("2 of 3 structs differ between a and b\n"),
            "{text}"
        );
    }

    #[test]
    fn unknown_variant_is_an_error() {
        let d = load_from_strs(VARIANTS, &[("x", AREA)]).unwrap();
        assert!(diff(&d, "a", "zz").is_err());
    }
}
