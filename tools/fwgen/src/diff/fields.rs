//! Struct comparison: fields matched by name, listed in layout order, with
//! every run of fields that moved by the same amount collapsed into one
//! [`Change::Shifted`].
//!
//! Why runs: one inserted, removed or resized field moves every field after
//! it, and listing each of those buries the one line that matters. So the
//! changes come in the order the fields sit in the struct (a field only on A
//! is placed where it was on A, one only on B where it is on B, a removal in
//! front of an addition at the same place, as in a line diff), and a run of
//! consecutive fields present on both sides that all moved by the same delta
//! becomes one change placed right after the change(s) that caused it. A new
//! delta starts a new run. A run that no added, removed or retyped field
//! precedes (an alignment gap that changed) stands on its own.

use std::fmt::Write;

use crate::layout::{FieldLayout, StructLayout};

/// A field in a [`Change::Shifted`] run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedField {
    /// Field name.
    pub name: String,
    /// Offset on A (the offset on B is this plus the run's delta).
    pub from: u64,
}

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
    /// Consecutive fields present on both sides that all moved by `delta`
    /// (one or more fields). Caused by the added, removed or retyped fields
    /// listed directly before it, if any.
    Shifted {
        /// Offset on B minus offset on A (never 0).
        delta: i64,
        /// The fields in layout order (never empty).
        fields: Vec<MovedField>,
    },
    /// Field type (and usually size) differs. Listed after the field's own
    /// move, if it moved, and before the fields it moves in turn.
    FieldRetyped {
        /// Field name.
        field: String,
        /// Type and size on A.
        from: String,
        /// Type and size on B.
        to: String,
    },
}

impl Change {
    /// Whether this change can move the fields after it (an added, removed or
    /// retyped field), so that a following [`Change::Shifted`] belongs to it.
    pub fn is_cause(&self) -> bool {
        matches!(
            self,
            Change::FieldAdded { .. } | Change::FieldRemoved { .. } | Change::FieldRetyped { .. }
        )
    }
}

/// Changes of one struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructDiff {
    /// Struct name.
    pub name: String,
    /// Changes in layout order (see the module doc).
    pub changes: Vec<Change>,
}

/// One step of walking both field lists together.
enum Step<'a> {
    OnlyA(&'a FieldLayout),
    OnlyB(&'a FieldLayout),
    Both(&'a FieldLayout, &'a FieldLayout),
}

/// Both field lists as one sequence in B's order, with the fields only on A
/// slotted in where they sat on A.
fn merge<'a>(a: &'a StructLayout, b: &'a StructLayout) -> Vec<Step<'a>> {
    let mut steps = Vec::new();
    let mut ia = 0;
    for fb in &b.fields {
        let in_a = a.fields.iter().position(|f| f.name == fb.name);
        // Fields only on A in front of this point go first. For a field only
        // on B that is just the removals directly ahead (a replacement); a
        // field on both sides also passes fields B has elsewhere (reordered),
        // which are listed where B has them.
        let stop = in_a.unwrap_or(a.fields.len());
        while ia < stop {
            let fa = &a.fields[ia];
            if b.field(&fa.name).is_none() {
                steps.push(Step::OnlyA(fa));
            } else if in_a.is_none() {
                break;
            }
            ia += 1;
        }
        match in_a {
            Some(j) => {
                ia = ia.max(j + 1);
                steps.push(Step::Both(&a.fields[j], fb));
            }
            None => steps.push(Step::OnlyB(fb)),
        }
    }
    for fa in &a.fields[ia.min(a.fields.len())..] {
        if b.field(&fa.name).is_none() {
            steps.push(Step::OnlyA(fa));
        }
    }
    steps
}

/// Signed `to - from`; offsets are far below `i64::MAX`.
fn delta(from: u64, to: u64) -> i64 {
    to.wrapping_sub(from) as i64
}

/// Collects consecutive same-delta moves into [`Change::Shifted`].
#[derive(Default)]
struct Runs {
    changes: Vec<Change>,
    run: Option<(i64, Vec<MovedField>)>,
}

impl Runs {
    fn end_run(&mut self) {
        if let Some((delta, fields)) = self.run.take() {
            self.changes.push(Change::Shifted { delta, fields });
        }
    }

    fn push(&mut self, c: Change) {
        self.end_run();
        self.changes.push(c);
    }

    fn moved(&mut self, fa: &FieldLayout, fb: &FieldLayout) {
        let d = delta(fa.offset, fb.offset);
        if d == 0 {
            self.end_run();
            return;
        }
        let field = MovedField {
            name: fa.name.clone(),
            from: fa.offset,
        };
        match &mut self.run {
            Some((run_delta, fields)) if *run_delta == d => fields.push(field),
            _ => {
                self.end_run();
                self.run = Some((d, vec![field]));
            }
        }
    }
}

/// Changes between two layouts of the same struct, in layout order.
pub fn struct_changes(a: &StructLayout, b: &StructLayout) -> Vec<Change> {
    let mut runs = Runs::default();
    if a.size != b.size {
        runs.push(Change::Resized {
            from: a.size,
            to: b.size,
        });
    }
    for step in merge(a, b) {
        match step {
            Step::OnlyA(fa) => runs.push(Change::FieldRemoved {
                field: fa.name.clone(),
                offset: fa.offset,
                ty: fa.ty.to_string(),
            }),
            Step::OnlyB(fb) => runs.push(Change::FieldAdded {
                field: fb.name.clone(),
                offset: fb.offset,
                ty: fb.ty.to_string(),
            }),
            Step::Both(fa, fb) => {
                runs.moved(fa, fb);
                if fa.ty != fb.ty || fa.size != fb.size {
                    runs.push(Change::FieldRetyped {
                        field: fa.name.clone(),
                        from: format!("{} ({:#x} bytes)", fa.ty, fa.size),
                        to: format!("{} ({:#x} bytes)", fb.ty, fb.size),
                    });
                }
            }
        }
    }
    runs.end_run();
    runs.changes
}

/// `+0x8` / `-0x4`.
pub fn signed_hex(v: i64) -> String {
    let sign = if v < 0 { '-' } else { '+' };
    format!("{sign}{:#x}", v.unsigned_abs())
}

/// Appends the text of one struct's changes: `struct <name>:` and one line
/// per change. A run is indented under the change that caused it; a run of
/// one field reads `> f moved <from> -> <to>`, a longer one
/// `<delta> for the next <n> fields (<first> .. <last>)`.
pub fn render_struct(out: &mut String, d: &StructDiff) {
    let _ = writeln!(out, "struct {}:", d.name);
    let mut prev: Option<&Change> = None;
    for c in &d.changes {
        let _ = match c {
            Change::StructAdded { size } => writeln!(out, "  + struct added (size {size:#x})"),
            Change::StructRemoved { size } => writeln!(out, "  - struct removed (size {size:#x})"),
            Change::Resized { from, to } => writeln!(out, "  ~ size {from:#x} -> {to:#x}"),
            Change::FieldAdded { field, offset, ty } => {
                writeln!(out, "  + {field} @ {offset:#x}: {ty}")
            }
            Change::FieldRemoved { field, offset, ty } => {
                writeln!(out, "  - {field} @ {offset:#x}: {ty}")
            }
            Change::FieldRetyped { field, from, to } => {
                writeln!(out, "  * {field} retyped {from} -> {to}")
            }
            Change::Shifted { delta, fields } => {
                let indent = if prev.is_some_and(Change::is_cause) {
                    "    "
                } else {
                    "  "
                };
                match fields.as_slice() {
                    [] => Ok(()),
                    [f] => writeln!(
                        out,
                        "{indent}> {} moved {:#x} -> {:#x}",
                        f.name,
                        f.from,
                        f.from.wrapping_add_signed(*delta)
                    ),
                    [first, .., last] => writeln!(
                        out,
                        "{indent}{} for the next {} fields ({} .. {})",
                        signed_hex(*delta),
                        fields.len(),
                        first.name,
                        last.name
                    ),
                }
            }
        };
        prev = Some(c);
    }
}
