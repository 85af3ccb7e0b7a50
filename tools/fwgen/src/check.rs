//! Fact checking: recorded sizes and offsets against computed layouts.
//!
//! The data carries sizes and offsets transcribed from the Asahi driver and
//! m1n1 with their source. Any disagreement means the field list is wrong
//! for that variant, so it is reported naming the variant, struct, field,
//! both values and where the expected one came from. A struct without a size
//! fact on a variant where it exists is reported too: every layout must be
//! pinned by at least its size.

use std::fmt;

use crate::defs::Defs;
use crate::error::Result;
use crate::layout;

/// What kind of disagreement was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MismatchKind {
    /// Computed struct size differs from the recorded one.
    Size,
    /// Computed field offset differs from the recorded one.
    Offset,
    /// A fact names a struct or field that does not exist on the variant.
    Absent,
    /// The struct exists on the variant but no size is recorded.
    Uncovered,
}

/// One failed fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Kind of failure.
    pub kind: MismatchKind,
    /// Variant name.
    pub variant: String,
    /// Struct name.
    pub struct_name: String,
    /// Field name, for offset facts.
    pub field: Option<String>,
    /// Recorded value.
    pub expected: Option<u64>,
    /// Computed value.
    pub computed: Option<u64>,
    /// Source of the recorded value.
    pub source: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = |v: Option<u64>| v.map_or("absent".to_string(), |v| format!("{v:#x}"));
        let what = match &self.field {
            Some(fld) => format!("field {fld} offset"),
            None => "size".to_string(),
        };
        match self.kind {
            MismatchKind::Uncovered => write!(
                f,
                "variant {}: struct {}: no size fact recorded (computed size {})",
                self.variant,
                self.struct_name,
                hex(self.computed)
            ),
            _ => write!(
                f,
                "variant {}: struct {}: {what}: expected {}, computed {} (fact source: {})",
                self.variant,
                self.struct_name,
                hex(self.expected),
                hex(self.computed),
                self.source
            ),
        }
    }
}

/// Counts for one variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantCounts {
    /// Variant name.
    pub variant: String,
    /// Structs present (layouts computed).
    pub layouts: usize,
    /// Facts compared.
    pub facts: usize,
    /// Facts that failed.
    pub mismatches: usize,
}

/// Outcome of checking a definitions set.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// Number of struct definitions.
    pub structs: usize,
    /// Number of variants.
    pub variants: usize,
    /// Number of (struct, variant) layouts computed.
    pub layouts: usize,
    /// Number of facts compared.
    pub facts: usize,
    /// Failures.
    pub mismatches: Vec<Mismatch>,
    /// Per-variant breakdown, in variant order.
    pub per_variant: Vec<VariantCounts>,
}

impl CheckReport {
    /// The one-line summary `fwgen check` prints last.
    pub fn summary_line(&self) -> String {
        format!(
            "{} structs x {} variants: {} layouts computed, {} facts verified, {} mismatches",
            self.structs,
            self.variants,
            self.layouts,
            self.facts,
            self.mismatches.len()
        )
    }
}

/// Computes all layouts and compares them with every recorded fact.
pub fn check(defs: &Defs) -> Result<CheckReport> {
    let mut report = CheckReport {
        structs: defs.structs.len(),
        variants: defs.variants.len(),
        layouts: 0,
        facts: 0,
        mismatches: Vec::new(),
        per_variant: Vec::new(),
    };
    for v in &defs.variants {
        let (facts_before, mismatches_before) = (report.facts, report.mismatches.len());
        let layouts = layout::compute(defs, v)?;
        report.layouts += layouts.structs.len();
        for s in &defs.structs {
            let l = layouts.get(&s.name);
            let mut sized = false;
            for fact in s.size_facts.iter().filter(|f| f.variant == v.name) {
                sized = true;
                report.facts += 1;
                let computed = l.map(|l| l.size);
                if computed != Some(fact.value) {
                    report.mismatches.push(Mismatch {
                        kind: if l.is_some() {
                            MismatchKind::Size
                        } else {
                            MismatchKind::Absent
                        },
                        variant: v.name.clone(),
                        struct_name: s.name.clone(),
                        field: None,
                        expected: Some(fact.value),
                        computed,
                        source: fact.source.clone(),
                    });
                }
            }
            if let (Some(l), false) = (l, sized) {
                report.mismatches.push(Mismatch {
                    kind: MismatchKind::Uncovered,
                    variant: v.name.clone(),
                    struct_name: s.name.clone(),
                    field: None,
                    expected: None,
                    computed: Some(l.size),
                    source: String::new(),
                });
            }
            for fd in &s.fields {
                for fact in fd.offset_facts.iter().filter(|f| f.variant == v.name) {
                    report.facts += 1;
                    let fl = l.and_then(|l| l.field(&fd.name));
                    let computed = fl.map(|f| f.offset);
                    if computed != Some(fact.value) {
                        report.mismatches.push(Mismatch {
                            kind: if fl.is_some() {
                                MismatchKind::Offset
                            } else {
                                MismatchKind::Absent
                            },
                            variant: v.name.clone(),
                            struct_name: s.name.clone(),
                            field: Some(fd.name.clone()),
                            expected: Some(fact.value),
                            computed,
                            source: fact.source.clone(),
                        });
                    }
                }
            }
        }
        report.per_variant.push(VariantCounts {
            variant: v.name.clone(),
            layouts: layouts.structs.len(),
            facts: report.facts - facts_before,
            mismatches: report.mismatches.len() - mismatches_before,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defs::{load_from_strs, two_version_variants};

    fn area(size_new: u64, off_b: u64) -> String {
        format!(
            r#"
            source = "repo:fw/x.rs"
            offsets_for = ["g13_v12_3", "g13_v13_5"]
            [[struct]]
            name = "Msg"
            size = {{ g13_v12_3 = 0x8, g13_v13_5 = {size_new:#x} }}
            fields = [
              {{ name = "a", type = "u32", at = 0 }},
              {{ name = "c", type = "U64", when = "V >= V13_5", at = 4 }},
              {{ name = "b", type = "u32", at = {{ g13_v12_3 = 4, g13_v13_5 = {off_b:#x} }} }},
            ]
        "#
        )
    }

    #[test]
    fn all_facts_pass() {
        let d = load_from_strs(
            &two_version_variants("g13_v12_3", "g13_v13_5"),
            &[("x", &area(0x10, 0xc))],
        )
        .unwrap();
        let r = check(&d).unwrap();
        assert!(r.mismatches.is_empty(), "{:?}", r.mismatches);
        // 2 sizes + a twice + c once + b twice
        assert_eq!(r.facts, 7);
        assert_eq!(r.layouts, 2);
        assert_eq!(
            r.summary_line(),
            "1 structs x 2 variants: 2 layouts computed, 7 facts verified, 0 mismatches"
        );
    }

    #[test]
    fn changed_size_names_struct_and_variant() {
        let d = load_from_strs(
            &two_version_variants("g13_v12_3", "g13_v13_5"),
            &[("x", &area(0x14, 0xc))],
        )
        .unwrap();
        let r = check(&d).unwrap();
        assert_eq!(r.mismatches.len(), 1);
        let msg = r.mismatches[0].to_string();
        assert!(msg.contains("variant g13_v13_5"), "{msg}");
        assert!(msg.contains("struct Msg"), "{msg}");
        assert!(msg.contains("expected 0x14, computed 0x10"), "{msg}");
        assert!(msg.contains("repo:fw/x.rs"), "{msg}");
        assert!(r.summary_line().ends_with("1 mismatches"));
    }

    #[test]
    fn changed_offset_names_field() {
        let d = load_from_strs(
            &two_version_variants("g13_v12_3", "g13_v13_5"),
            &[("x", &area(0x10, 0x8))],
        )
        .unwrap();
        let r = check(&d).unwrap();
        assert_eq!(r.mismatches.len(), 1);
        let msg = r.mismatches[0].to_string();
        assert!(
            msg.contains("field b offset: expected 0x8, computed 0xc"),
            "{msg}"
        );
    }

    #[test]
    fn missing_size_fact_is_reported() {
        let text = area(0x10, 0xc).replace("size = { g13_v12_3 = 0x8, ", "size = { ");
        let d = load_from_strs(
            &two_version_variants("g13_v12_3", "g13_v13_5"),
            &[("x", &text)],
        )
        .unwrap();
        let r = check(&d).unwrap();
        assert_eq!(r.mismatches.len(), 1);
        assert_eq!(r.mismatches[0].kind, MismatchKind::Uncovered);
        assert!(r.mismatches[0].to_string().contains("g13_v12_3"));
    }
}
