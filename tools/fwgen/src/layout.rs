//! Layout engine: C (`repr(C)`) rules with per-type alignment.
//!
//! Fields are placed in order; each starts at the next multiple of its
//! alignment, a struct's alignment is the largest field alignment and its
//! size is rounded up to that alignment. Unaligned firmware types (`U64`,
//! GPU pointers, `pad<N>`) have alignment 1, so the only implicit padding is
//! in front of naturally aligned fields; it is recorded so the emitters can
//! turn it into explicit fields.

use std::collections::BTreeMap;

use crate::defs::{Defs, StructDef, Variant};
use crate::error::{Error, Result};
use crate::types::TypeExpr;

/// Where one field lands on one variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldLayout {
    /// Field name.
    pub name: String,
    /// Field type.
    pub ty: TypeExpr,
    /// Byte offset.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Alignment in bytes.
    pub align: u64,
    /// Implicit padding inserted in front of the field.
    pub pad_before: u64,
}

/// A struct's layout on one variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructLayout {
    /// Struct name.
    pub name: String,
    /// Total size (including trailing padding).
    pub size: u64,
    /// Alignment.
    pub align: u64,
    /// Fields present on this variant.
    pub fields: Vec<FieldLayout>,
    /// Implicit padding at the end.
    pub tail_pad: u64,
}

impl StructLayout {
    /// Looks a field up by name.
    pub fn field(&self, name: &str) -> Option<&FieldLayout> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// All struct layouts of one variant, in definition order.
#[derive(Debug, Clone)]
pub struct VariantLayouts {
    /// Variant name.
    pub variant: String,
    /// Layouts of the structs present on the variant.
    pub structs: Vec<StructLayout>,
}

impl VariantLayouts {
    /// Looks a struct layout up by name.
    pub fn get(&self, name: &str) -> Option<&StructLayout> {
        self.structs.iter().find(|s| s.name == name)
    }
}

struct Engine<'a> {
    defs: &'a Defs,
    variant: &'a Variant,
    done: BTreeMap<String, StructLayout>,
    in_progress: Vec<String>,
}

fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

impl Engine<'_> {
    fn type_size_align(&mut self, ty: &TypeExpr, ctx: &str) -> Result<(u64, u64)> {
        Ok(match ty {
            TypeExpr::Prim(p) => (p.size(), p.align()),
            TypeExpr::Pad(n) => (*n, 1),
            TypeExpr::Ptr { .. } => (8, 1),
            TypeExpr::Array(t, n) => {
                let (s, a) = self.type_size_align(t, ctx)?;
                (s * n, a)
            }
            TypeExpr::Named(name) => {
                if let Some(e) = self.defs.enum_def(name) {
                    (e.repr.size(), e.repr.align())
                } else {
                    let s = self
                        .defs
                        .struct_def(name)
                        .ok_or_else(|| Error::Invalid(format!("{ctx}: unknown type {name}")))?;
                    let l = self.struct_layout(s, ctx)?;
                    (l.size, l.align)
                }
            }
        })
    }

    fn struct_layout(&mut self, s: &StructDef, used_by: &str) -> Result<StructLayout> {
        if let Some(l) = self.done.get(&s.name) {
            return Ok(l.clone());
        }
        let v = self.variant;
        if !self.defs.struct_present(s, v) {
            return Err(Error::Invalid(format!(
                "variant {}: {used_by} uses struct {}, which is absent on this variant (when = \"{}\")",
                v.name, s.name, s.when_text
            )));
        }
        if self.in_progress.contains(&s.name) {
            return Err(Error::Invalid(format!(
                "variant {}: struct {} contains itself ({})",
                v.name,
                s.name,
                self.in_progress.join(" -> ")
            )));
        }
        self.in_progress.push(s.name.clone());
        let mut off = 0u64;
        let mut max_align = 1u64;
        let mut fields: Vec<FieldLayout> = Vec::new();
        for f in self.defs.fields_on(s, v) {
            let ctx = format!("variant {}: struct {}: field {}", v.name, s.name, f.name);
            if fields.iter().any(|x| x.name == f.name) {
                return Err(Error::Invalid(format!(
                    "{ctx}: declared twice on this variant"
                )));
            }
            let (size, align) = self.type_size_align(&f.ty, &ctx)?;
            let start = align_up(off, align);
            fields.push(FieldLayout {
                name: f.name.clone(),
                ty: f.ty.clone(),
                offset: start,
                size,
                align,
                pad_before: start - off,
            });
            off = start + size;
            max_align = max_align.max(align);
        }
        let size = align_up(off, max_align);
        self.in_progress.pop();
        let l = StructLayout {
            name: s.name.clone(),
            size,
            align: max_align,
            fields,
            tail_pad: size - off,
        };
        self.done.insert(s.name.clone(), l.clone());
        Ok(l)
    }
}

/// Computes the layout of every struct present on `variant`.
pub fn compute(defs: &Defs, variant: &Variant) -> Result<VariantLayouts> {
    let mut engine = Engine {
        defs,
        variant,
        done: BTreeMap::new(),
        in_progress: Vec::new(),
    };
    let mut structs = Vec::new();
    for s in &defs.structs {
        if defs.struct_present(s, variant) {
            structs.push(engine.struct_layout(s, "definition")?);
        }
    }
    // Pointer targets must exist on the variant too, or the typed pointer
    // would name a type the variant does not have.
    for s in structs.iter() {
        for f in &s.fields {
            for name in f.ty.all_names() {
                let ok = defs.enum_def(name).is_some()
                    || defs
                        .struct_def(name)
                        .is_some_and(|d| defs.struct_present(d, variant));
                if !ok {
                    return Err(Error::Invalid(format!(
                        "variant {}: struct {}: field {} refers to {name}, absent on this variant",
                        variant.name, s.name, f.name
                    )));
                }
            }
        }
    }
    Ok(VariantLayouts {
        variant: variant.name.clone(),
        structs,
    })
}

#[cfg(test)]
mod tests {
    use crate::defs::load_from_strs;

    const VARIANTS: &str = r#"
        [axes]
        G = ["G13", "G14"]
        V = ["V12_3", "V13_5"]
        [[variant]]
        name = "old"
        axes = { G = "G13", V = "V12_3" }
        firmware = [12, 3, 0]
        source = "test"
        [[variant]]
        name = "new"
        axes = { G = "G14", V = "V13_5" }
        firmware = [13, 5, 0]
        source = "test"
    "#;

    fn layouts(area: &str) -> (crate::layout::VariantLayouts, crate::layout::VariantLayouts) {
        let d = load_from_strs(VARIANTS, &[("a", area)]).unwrap();
        (
            super::compute(&d, &d.variants[0]).unwrap(),
            super::compute(&d, &d.variants[1]).unwrap(),
        )
    }

    #[test]
    fn natural_alignment_inserts_padding() {
        let (l, _) = layouts(
            r#"
            source = "t"
            [[struct]]
            name = "S"
            fields = [
              { name = "a", type = "u8" },
              { name = "b", type = "u32" },
              { name = "c", type = "u16" },
              { name = "d", type = "AtomicU64" },
              { name = "e", type = "u8" },
            ]
        "#,
        );
        let s = l.get("S").unwrap();
        let offs: Vec<u64> = s.fields.iter().map(|f| f.offset).collect();
        assert_eq!(offs, [0, 4, 8, 16, 24]);
        assert_eq!(s.fields[1].pad_before, 3);
        assert_eq!((s.size, s.align, s.tail_pad), (32, 8, 7));
    }

    #[test]
    fn unaligned_types_pack() {
        let (l, _) = layouts(
            r#"
            source = "t"
            [[struct]]
            name = "S"
            fields = [
              { name = "tag", type = "u32" },
              { name = "p", type = "ptr<S2, shared>" },
              { name = "v", type = "U64" },
              { name = "pad", type = "pad<3>" },
              { name = "x", type = "u8" },
            ]
            [[struct]]
            name = "S2"
            fields = [{ name = "a", type = "U32" }]
        "#,
        );
        let s = l.get("S").unwrap();
        let offs: Vec<u64> = s.fields.iter().map(|f| f.offset).collect();
        assert_eq!(offs, [0, 4, 12, 20, 23]);
        assert_eq!((s.size, s.align), (24, 4));
        assert_eq!(l.get("S2").unwrap().align, 1);
    }

    #[test]
    fn arrays_and_nesting() {
        let (l, _) = layouts(
            r#"
            source = "t"
            [[struct]]
            name = "Inner"
            fields = [{ name = "a", type = "u8" }, { name = "b", type = "u16" }]
            [[struct]]
            name = "Outer"
            fields = [
              { name = "x", type = "u8" },
              { name = "inner", type = "[Inner; 3]" },
              { name = "grid", type = "[[u32; 2]; 2]" },
            ]
        "#,
        );
        let o = l.get("Outer").unwrap();
        assert_eq!(l.get("Inner").unwrap().size, 4);
        assert_eq!(o.field("inner").unwrap().offset, 2);
        assert_eq!(o.field("inner").unwrap().size, 12);
        assert_eq!(o.field("grid").unwrap().offset, 16);
        assert_eq!(o.size, 32);
    }

    #[test]
    fn version_conditions_select_fields_and_structs() {
        let (old, new) = layouts(
            r#"
            source = "t"
            [[struct]]
            name = "Cmd"
            fields = [
              { name = "tag", type = "u32" },
              { name = "counter", type = "U64", when = "V >= V13_5" },
              { name = "slot", type = "u32", when = "G == G13" },
              { name = "slot", type = "u16", when = "G == G14" },
              { name = "extra", type = "G14Only", when = "G >= G14" },
            ]
            [[struct]]
            name = "G14Only"
            when = "G >= G14"
            fields = [{ name = "a", type = "u32" }]
        "#,
        );
        let o = old.get("Cmd").unwrap();
        assert_eq!(o.size, 8);
        assert!(o.field("counter").is_none());
        assert!(old.get("G14Only").is_none());
        let n = new.get("Cmd").unwrap();
        assert_eq!(n.field("counter").unwrap().offset, 4);
        assert_eq!(n.field("slot").unwrap().offset, 12);
        assert_eq!(n.field("slot").unwrap().size, 2);
        assert_eq!(n.field("extra").unwrap().offset, 16);
        assert_eq!(n.size, 20);
    }

    #[test]
    fn enums_take_their_repr() {
        let (l, _) = layouts(
            r#"
            source = "t"
            [[enum]]
            name = "Kind"
            repr = "u32"
            values = [{ name = "A", value = 0 }, { name = "B", value = 7 }]
            [[struct]]
            name = "S"
            fields = [{ name = "b", type = "u8" }, { name = "k", type = "Kind" }]
        "#,
        );
        assert_eq!(l.get("S").unwrap().field("k").unwrap().offset, 4);
    }

    #[test]
    fn absent_nested_struct_is_an_error() {
        let d = load_from_strs(
            VARIANTS,
            &[(
                "a",
                r#"
                source = "t"
                [[struct]]
                name = "S"
                fields = [{ name = "n", type = "N" }]
                [[struct]]
                name = "N"
                when = "V >= V13_5"
                fields = [{ name = "a", type = "u32" }]
            "#,
            )],
        )
        .unwrap();
        let e = super::compute(&d, &d.variants[0]).unwrap_err().to_string();
        assert!(e.contains("old") && e.contains("absent"), "{e}");
    }

    #[test]
    fn duplicate_field_on_a_variant_is_an_error() {
        let d = load_from_strs(
            VARIANTS,
            &[(
                "a",
                r#"
                source = "t"
                [[struct]]
                name = "S"
                fields = [{ name = "a", type = "u32" }, { name = "a", type = "u8", when = "V >= V13_5" }]
            "#,
            )],
        )
        .unwrap();
        assert!(super::compute(&d, &d.variants[0]).is_ok());
        assert!(super::compute(&d, &d.variants[1]).is_err());
    }
}
