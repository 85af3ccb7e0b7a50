//! Version-neutral field access: one trait per struct that every variant has.
//!
//! Driver and model code that builds or reads a firmware structure is written once, generic
//! over `A: abi::FwAbi`, and reaches the fields through `abi::<Struct>Fields<A>`, which each
//! variant's struct implements. A field keeps the same name on every variant even when it
//! moves, so the accessor hides the offset; what it cannot hide is a field that exists only on
//! some variants (its accessors return `Option`) or one whose type changes between variants
//! (no accessor: code must name the variant, and the trait's docs list such fields).
//!
//! Access kinds:
//! - integers, integer arrays and nested structs (themselves `FwAbi` types): by reference,
//!   `f()` and `f_mut()`;
//! - GPU pointers: by address, `f() -> u64` and `set_f(u64)`; pointer classes stay in the
//!   per-struct `POINTERS` table, which the users check against their heaps;
//! - enums: by their integer, `f()` and `set_f()`, with values from the `FwAbi` constants.

use std::fmt::Write;

use crate::defs::Defs;
use crate::layout::VariantLayouts;
use crate::types::{Prim, TypeExpr};

use super::rust::{ident, marker_name};

/// How generic code reaches one field.
enum Kind {
    /// By reference, with the type as seen from the trait (`A::X` for nested structs) and
    /// as seen from one variant's module.
    Ref {
        generic: String,
        per_variant: Vec<String>,
    },
    /// GPU pointer, by address.
    Ptr,
    /// Enum, by its integer representation.
    Enum { repr: String },
}

/// One accessible field of a struct.
struct Access {
    name: String,
    kind: Kind,
    /// Whether each variant (in `Defs::variants` order) has the field.
    present: Vec<bool>,
}

fn prim(p: Prim) -> String {
    match p {
        Prim::UnalignedU16 => "super::common::U16".into(),
        Prim::UnalignedU32 => "super::common::U32".into(),
        Prim::UnalignedU64 => "super::common::U64".into(),
        p => super::rust::rust_type(&TypeExpr::Prim(p)),
    }
}

/// The Rust type of `ty` where nested structs are named by `named`, or `None` when generic
/// code cannot name it (a struct some variants lack, an enum or a pointer inside an array).
fn value_type(ty: &TypeExpr, common: &[String], named: &dyn Fn(&str) -> String) -> Option<String> {
    match ty {
        TypeExpr::Prim(p) => Some(prim(*p)),
        TypeExpr::Array(t, n) => value_type(t, common, named).map(|t| format!("[{t}; {n:#x}]")),
        TypeExpr::Named(n) if common.contains(n) => Some(named(n)),
        _ => None,
    }
}

fn classify(ty: &TypeExpr, defs: &Defs, common: &[String], variants: &[String]) -> Option<Kind> {
    match ty {
        TypeExpr::Pad(_) => None,
        TypeExpr::Ptr { .. } => Some(Kind::Ptr),
        TypeExpr::Named(n) if defs.enum_def(n).is_some() => {
            let e = defs.enum_def(n)?;
            Some(Kind::Enum { repr: prim(e.repr) })
        }
        _ => {
            let generic = value_type(ty, common, &|n| format!("A::{n}"))?;
            let per_variant = variants
                .iter()
                .map(|v| value_type(ty, common, &|n| format!("super::{v}::{n}")))
                .collect::<Option<Vec<_>>>()?;
            Some(Kind::Ref {
                generic,
                per_variant,
            })
        }
    }
}

/// The accessible fields of `name` (in declaration order) and the names left out because
/// their type differs between variants or cannot be named generically.
fn accesses(
    defs: &Defs,
    all: &[VariantLayouts],
    common: &[String],
    name: &str,
) -> (Vec<Access>, Vec<String>) {
    let variants: Vec<String> = defs.variants.iter().map(|v| v.name.clone()).collect();
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let Some(def) = defs.struct_def(name) else {
        return (out, skipped);
    };
    let mut seen: Vec<&str> = Vec::new();
    for f in &def.fields {
        if seen.contains(&f.name.as_str()) {
            continue;
        }
        seen.push(&f.name);
        let per: Vec<Option<&TypeExpr>> = all
            .iter()
            .map(|l| l.get(name).and_then(|s| s.field(&f.name)).map(|f| &f.ty))
            .collect();
        let mut types = per.iter().flatten();
        let Some(first) = types.next() else { continue };
        if matches!(first, TypeExpr::Pad(_)) {
            continue;
        }
        if types.any(|t| t != first) {
            skipped.push(f.name.clone());
            continue;
        }
        match classify(first, defs, common, &variants) {
            Some(kind) => out.push(Access {
                name: f.name.clone(),
                kind,
                present: per.iter().map(Option::is_some).collect(),
            }),
            None => skipped.push(f.name.clone()),
        }
    }
    (out, skipped)
}

/// The trait's name for struct `s`.
pub fn trait_name(s: &str) -> String {
    format!("{s}Fields")
}

fn bare(name: &str) -> String {
    name.trim_start_matches("r#").to_string()
}

fn emit_trait(out: &mut String, name: &str, acc: &[Access], skipped: &[String]) {
    let t = trait_name(name);
    let _ = writeln!(
        out,
        "    /// Fields of `{name}` on every variant (optional ones return `None` where absent)."
    );
    if !skipped.is_empty() {
        let _ = writeln!(
            out,
            "    ///\n    /// Without accessor (type differs by variant): {}.",
            skipped
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(out, "    pub trait {t}<A: FwAbi> {{");
    let _ = writeln!(
        out,
        "        /// This variant's pointer fields (its `POINTERS` table), for generic checks."
    );
    let _ = writeln!(
        out,
        "        const POINTER_FIELDS: &'static [super::common::PtrField];"
    );
    for a in acc {
        let id = ident(&a.name);
        let b = bare(&a.name);
        let opt = a.present.iter().any(|p| !p);
        let wrap = |t: &str| {
            if opt {
                format!("Option<{t}>")
            } else {
                t.to_string()
            }
        };
        match &a.kind {
            Kind::Ref { generic, .. } => {
                let _ = writeln!(
                    out,
                    "        /// `{b}`.\n        fn {id}(&self) -> {};\n        /// `{b}`, writable.\n        fn {b}_mut(&mut self) -> {};",
                    wrap(&format!("&{generic}")),
                    wrap(&format!("&mut {generic}"))
                );
            }
            Kind::Ptr => {
                let _ = writeln!(
                    out,
                    "        /// `{b}`: the GPU address.\n        fn {id}(&self) -> {};\n        /// Points `{b}` at `va`{}.\n        fn set_{b}(&mut self, va: u64){};",
                    wrap("u64"),
                    if opt { "; `false` where the field is absent" } else { "" },
                    if opt { " -> bool" } else { "" }
                );
            }
            Kind::Enum { repr } => {
                let _ = writeln!(
                    out,
                    "        /// `{b}`: the raw value.\n        fn {id}(&self) -> {};\n        /// Sets `{b}`{}.\n        fn set_{b}(&mut self, v: {repr}){};",
                    wrap(repr),
                    if opt { "; `false` where the field is absent" } else { "" },
                    if opt { " -> bool" } else { "" }
                );
            }
        }
    }
    let _ = writeln!(out, "    }}\n");
}

fn emit_impl(out: &mut String, name: &str, acc: &[Access], vi: usize, variant: &str) {
    let t = trait_name(name);
    let m = marker_name(variant);
    let _ = writeln!(out, "    impl {t}<{m}> for super::{variant}::{name} {{");
    let _ = writeln!(
        out,
        "        const POINTER_FIELDS: &'static [super::common::PtrField] = super::{variant}::{name}::POINTERS;"
    );
    for a in acc {
        let id = ident(&a.name);
        let b = bare(&a.name);
        let opt = a.present.iter().any(|p| !p);
        let here = a.present[vi];
        match &a.kind {
            Kind::Ref { per_variant, .. } => {
                let ty = &per_variant[vi];
                let (r, w) = match (opt, here) {
                    (false, _) => (format!("&self.{id}"), format!("&mut self.{id}")),
                    (true, true) => (format!("Some(&self.{id})"), format!("Some(&mut self.{id})")),
                    (true, false) => ("None".into(), "None".into()),
                };
                let (rt, wt) = if opt {
                    (format!("Option<&{ty}>"), format!("Option<&mut {ty}>"))
                } else {
                    (format!("&{ty}"), format!("&mut {ty}"))
                };
                let _ = writeln!(
                    out,
                    "        fn {id}(&self) -> {rt} {{\n            {r}\n        }}\n        fn {b}_mut(&mut self) -> {wt} {{\n            {w}\n        }}"
                );
            }
            Kind::Ptr | Kind::Enum { .. } => {
                let (vty, get, set) = match &a.kind {
                    Kind::Ptr => (
                        "u64".to_string(),
                        format!("self.{id}.addr()"),
                        format!("self.{id} = super::common::GpuPtr::new(v)"),
                    ),
                    Kind::Enum { repr } => (
                        repr.clone(),
                        format!("self.{id}.0"),
                        format!("self.{id}.0 = v"),
                    ),
                    Kind::Ref { .. } => unreachable!(),
                };
                let arg = if matches!(a.kind, Kind::Ptr) {
                    "va"
                } else {
                    "v"
                };
                let set = set
                    .replace("(v)", &format!("({arg})"))
                    .replace("= v", &format!("= {arg}"));
                match (opt, here) {
                    (false, _) => {
                        let _ = writeln!(
                            out,
                            "        fn {id}(&self) -> {vty} {{\n            {get}\n        }}\n        fn set_{b}(&mut self, {arg}: {vty}) {{\n            {set};\n        }}"
                        );
                    }
                    (true, true) => {
                        let _ = writeln!(
                            out,
                            "        fn {id}(&self) -> Option<{vty}> {{\n            Some({get})\n        }}\n        fn set_{b}(&mut self, {arg}: {vty}) -> bool {{\n            {set};\n            true\n        }}"
                        );
                    }
                    (true, false) => {
                        let _ = writeln!(
                            out,
                            "        fn {id}(&self) -> Option<{vty}> {{\n            None\n        }}\n        fn set_{b}(&mut self, _{arg}: {vty}) -> bool {{\n            false\n        }}"
                        );
                    }
                }
            }
        }
    }
    let _ = writeln!(out, "    }}\n");
}

/// Emits, inside the `abi` module, one `<Struct>Fields<A>` trait per struct every variant
/// has and its implementation for each variant.
pub fn emit(out: &mut String, defs: &Defs, all: &[VariantLayouts], common: &[String]) {
    for name in common {
        let (acc, skipped) = accesses(defs, all, common, name);
        emit_trait(out, name, &acc, &skipped);
        for (vi, v) in defs.variants.iter().enumerate() {
            emit_impl(out, name, &acc, vi, &v.name);
        }
    }
}
