//! Enum comparison: values matched by name between the two variants.
//!
//! Why: a firmware update can renumber message tags without touching any
//! struct layout (firmware 13.3 inserted a DeviceControl message and shifted
//! the later tags by one), so a struct-only diff would call two variants
//! compatible while every such tag the driver sends would be wrong.
//!
//! Enums have no `when` of their own, only their values do, so an enum
//! counts as present on a variant when at least one of its values is; one
//! with values on only one side is listed as added or removed as a whole.

use std::fmt::Write;

use crate::defs::{Defs, EnumDef, Variant};
use crate::error::{Error, Result};

/// One change of an enum or of one of its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnumChange {
    /// The enum has values only on B.
    EnumAdded {
        /// Number of values on B.
        values: usize,
    },
    /// The enum has values only on A.
    EnumRemoved {
        /// Number of values on A.
        values: usize,
    },
    /// A value exists on both sides with different numbers.
    ValueChanged {
        /// Value name.
        name: String,
        /// Number on A.
        from: u64,
        /// Number on B.
        to: u64,
    },
    /// A value only on B.
    ValueAdded {
        /// Value name.
        name: String,
        /// Number on B.
        value: u64,
    },
    /// A value only on A.
    ValueRemoved {
        /// Value name.
        name: String,
        /// Number on A.
        value: u64,
    },
}

/// Changes of one enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumDiff {
    /// Enum name.
    pub name: String,
    /// Changes in the order the values are declared.
    pub changes: Vec<EnumChange>,
}

/// The values of `e` present on `v`, as `(name, number)` in declaration
/// order. A name present twice on one variant is an error: the diff (and
/// the generated constants) could not tell which number it means.
fn values_on<'a>(defs: &Defs, e: &'a EnumDef, v: &Variant) -> Result<Vec<(&'a str, u64)>> {
    let mut out: Vec<(&str, u64)> = Vec::new();
    for val in e
        .values
        .iter()
        .filter(|x| x.when.eval(&defs.axes, &v.point))
    {
        if out.iter().any(|(n, _)| *n == val.name) {
            return Err(Error::Invalid(format!(
                "{}.toml: enum {}: value {} is defined twice on variant {}",
                e.area, e.name, val.name, v.name
            )));
        }
        out.push((&val.name, val.value));
    }
    Ok(out)
}

fn number(values: &[(&str, u64)], name: &str) -> Option<u64> {
    values.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// Changes of one enum between variants `va` and `vb` (empty when equal).
pub fn enum_changes(
    defs: &Defs,
    e: &EnumDef,
    va: &Variant,
    vb: &Variant,
) -> Result<Vec<EnumChange>> {
    let on_a = values_on(defs, e, va)?;
    let on_b = values_on(defs, e, vb)?;
    match (on_a.is_empty(), on_b.is_empty()) {
        (true, true) => return Ok(Vec::new()),
        (true, false) => return Ok(vec![EnumChange::EnumAdded { values: on_b.len() }]),
        (false, true) => return Ok(vec![EnumChange::EnumRemoved { values: on_a.len() }]),
        (false, false) => {}
    }
    let mut changes = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for val in &e.values {
        let name = val.name.as_str();
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        let change = match (number(&on_a, name), number(&on_b, name)) {
            (Some(from), Some(to)) if from != to => EnumChange::ValueChanged {
                name: name.to_string(),
                from,
                to,
            },
            (None, Some(value)) => EnumChange::ValueAdded {
                name: name.to_string(),
                value,
            },
            (Some(value), None) => EnumChange::ValueRemoved {
                name: name.to_string(),
                value,
            },
            _ => continue,
        };
        changes.push(change);
    }
    Ok(changes)
}

/// `1 value`, `3 values`.
fn count(n: usize) -> String {
    if n == 1 {
        "1 value".to_string()
    } else {
        format!("{n} values")
    }
}

/// Appends the text of one enum's changes: `enum <name>:` and one line per
/// change (`~ V <from> -> <to>`, `+ V = <n>`, `- V = <n>`).
pub fn render_enum(out: &mut String, d: &EnumDiff) {
    let _ = writeln!(out, "enum {}:", d.name);
    for c in &d.changes {
        let _ = match c {
            EnumChange::EnumAdded { values } => {
                writeln!(out, "  + enum added ({})", count(*values))
            }
            EnumChange::EnumRemoved { values } => {
                writeln!(out, "  - enum removed ({})", count(*values))
            }
            EnumChange::ValueChanged { name, from, to } => {
                writeln!(out, "  ~ {name} {from:#x} -> {to:#x}")
            }
            EnumChange::ValueAdded { name, value } => writeln!(out, "  + {name} = {value:#x}"),
            EnumChange::ValueRemoved { name, value } => {
                writeln!(out, "  - {name} = {value:#x}")
            }
        };
    }
}
