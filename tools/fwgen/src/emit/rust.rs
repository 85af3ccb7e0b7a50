//! Rust emitter: one module per variant with `#[repr(C)]` structs, enum
//! newtypes, byte-conversion impls and compile-time size/offset assertions,
//! plus an `abi::FwAbi` trait with one marker type per variant so driver code
//! can be written once and instantiated for each variant; the struct fields are reached
//! through the per-struct traits of [`super::access`].
//!
//! Every byte of every struct is covered by a named field (implicit padding
//! becomes an `_implicit_pad_*` byte array), so "any bit pattern is valid" and "no
//! uninitialised bytes" both hold, which is what makes the kernel's
//! `FromBytes`/`AsBytes` and zerocopy's `FromBytes`/`IntoBytes` sound.

use std::fmt::Write;

use super::{Lang, RustOptions};
use crate::defs::{Defs, Variant};
use crate::error::Result;
use crate::layout::{self, StructLayout};
use crate::types::{Prim, PtrClass, TypeExpr};

const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "yield", "box", "do", "final", "macro", "override", "priv", "typeof",
    "unsized", "virtual", "abstract", "become", "try",
];

const MODULE_ALLOWS: &str = "#[allow(\n    dead_code,\n    missing_docs,\n    unreachable_pub,\n    non_camel_case_types,\n    non_snake_case,\n    non_upper_case_globals,\n    clippy::all,\n    clippy::pedantic\n)]";

pub(super) fn ident(name: &str) -> String {
    if RUST_KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_string()
    }
}

/// `g13_v12_3` -> `G13V12_3` (marker type name).
pub fn marker_name(variant: &str) -> String {
    let mut out = String::new();
    for (i, part) in variant.split('_').enumerate() {
        if i > 0 && part.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            out.push('_');
        }
        out.push_str(&part.to_ascii_uppercase());
    }
    out
}

/// `CamelCase` -> `CAMEL_CASE`.
fn const_name(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase() || (!prev.is_ascii_lowercase() && next_lower) {
                out.push('_');
            }
        }
        out.push(c.to_ascii_uppercase());
    }
    ident(&out)
}

pub(super) fn rust_type(ty: &TypeExpr) -> String {
    match ty {
        TypeExpr::Prim(p) => match p {
            Prim::U8 | Prim::Bool => "u8",
            Prim::I8 => "i8",
            Prim::U16 => "u16",
            Prim::I16 => "i16",
            Prim::U32 | Prim::AtomicU32 | Prim::EventValue => "u32",
            Prim::I32 | Prim::AtomicI32 => "i32",
            Prim::U64 | Prim::AtomicU64 => "u64",
            Prim::I64 => "i64",
            Prim::F32 => "f32",
            Prim::UnalignedU16 => "U16",
            Prim::UnalignedU32 => "U32",
            Prim::UnalignedU64 => "U64",
        }
        .to_string(),
        TypeExpr::Pad(n) => format!("[u8; {n:#x}]"),
        TypeExpr::Array(t, n) => format!("[{}; {n:#x}]", rust_type(t)),
        TypeExpr::Ptr { target, .. } => format!("GpuPtr<{}>", rust_type(target)),
        TypeExpr::Named(n) => n.clone(),
    }
}

fn doc_lines(out: &mut String, indent: &str, text: &str) {
    for line in text.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            let _ = writeln!(out, "{indent}///");
        } else {
            let _ = writeln!(out, "{indent}/// {line}");
        }
    }
}

fn derives(opts: &RustOptions) -> &'static str {
    match opts.lang {
        Lang::Kernel => "#[derive(Clone, Copy)]",
        Lang::Model => "#[derive(Clone, Copy, Debug, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)]",
    }
}

fn byte_impls(out: &mut String, opts: &RustOptions, generics: &str, name: &str, why: &str) {
    if opts.lang != Lang::Kernel {
        return;
    }
    let k = &opts.kernel_crate;
    let _ = writeln!(
        out,
        "// SAFETY: {why} Every byte belongs to an integer field, so any bit pattern is a valid value.\n\
         unsafe impl{generics} {k}::transmute::FromBytes for {name} {{}}\n\
         // SAFETY: {why} There are no implicit padding bytes (all padding is an explicit `[u8; N]` field), so every byte is initialised.\n\
         unsafe impl{generics} {k}::transmute::AsBytes for {name} {{}}\n\
         // SAFETY: {why} All-zero bytes are a valid value of every field.\n\
         unsafe impl{generics} {k}::prelude::Zeroable for {name} {{}}"
    );
}

fn emit_common(out: &mut String, opts: &RustOptions) {
    let _ = writeln!(
        out,
        "/// Types shared by every variant: unaligned integers and typed GPU pointers."
    );
    let _ = writeln!(out, "{MODULE_ALLOWS}\npub mod common {{");
    let model = opts.lang == Lang::Model;
    let _ = writeln!(
        out,
        r#"    /// Which memory the firmware expects a pointer's target in (`ptr<T, class>`).
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub enum PtrClass {{
        /// Not stated.
        Any,
        /// Shared kernel memory (uncached; CPU and firmware write it).
        Shared,
        /// Firmware-private kernel memory.
        Private,
        /// Kernel memory the GPU only reads.
        GpuRo,
        /// User memory.
        User,
    }}

    /// A pointer field of a firmware structure, for checking pointers generically.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub struct PtrField {{
        /// Field name.
        pub name: &'static str,
        /// Byte offset in the structure.
        pub offset: usize,
        /// Where the target must live.
        pub class: PtrClass,
        /// The target's type, as the definitions spell it.
        pub target: &'static str,
    }}
"#
    );
    for (name, bits, bytes) in [("U16", "u16", 2), ("U32", "u32", 4), ("U64", "u64", 8)] {
        let _ = writeln!(
            out,
            "    /// Little-endian `{bits}` with alignment 1, as the firmware packs it.\n    #[repr(transparent)]"
        );
        if model {
            let _ = writeln!(out, "    #[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Debug, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout, zerocopy::Unaligned)]");
        } else {
            let _ = writeln!(
                out,
                "    #[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]"
            );
        }
        let _ = writeln!(
            out,
            "    pub struct {name}(pub [u8; {bytes}]);\n\n    impl {name} {{\n        /// Wraps a native value.\n        pub const fn new(v: {bits}) -> Self {{\n            Self(v.to_le_bytes())\n        }}\n\n        /// The native value.\n        pub const fn get(self) -> {bits} {{\n            {bits}::from_le_bytes(self.0)\n        }}\n    }}\n"
        );
        if !model {
            let mut s = String::new();
            byte_impls(
                &mut s,
                opts,
                "",
                name,
                &format!("`{name}` is a transparent byte array."),
            );
            for l in s.lines() {
                let _ = writeln!(out, "    {l}");
            }
            let _ = writeln!(out);
        }
    }
    let _ = writeln!(
        out,
        "    /// GPU virtual address of a `T` (64-bit little-endian, alignment 1). The\n    /// pointee type is documentation and type safety only; it does not change the layout."
    );
    let _ = writeln!(out, "    #[repr(transparent)]");
    if model {
        let _ = writeln!(out, "    #[derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout, zerocopy::Unaligned)]");
    }
    let _ = writeln!(
        out,
        "    pub struct GpuPtr<T> {{\n        raw: U64,\n        _target: core::marker::PhantomData<fn() -> T>,\n    }}\n\n\
         impl<T> GpuPtr<T> {{\n        /// The null pointer.\n        pub const NULL: Self = Self::new(0);\n\n        /// A pointer to `addr`.\n        pub const fn new(addr: u64) -> Self {{\n            Self {{\n                raw: U64::new(addr),\n                _target: core::marker::PhantomData,\n            }}\n        }}\n\n        /// The address.\n        pub const fn addr(self) -> u64 {{\n            self.raw.get()\n        }}\n\n        /// Whether the address is zero.\n        pub const fn is_null(self) -> bool {{\n            self.addr() == 0\n        }}\n    }}\n\n\
         impl<T> Clone for GpuPtr<T> {{\n        fn clone(&self) -> Self {{\n            *self\n        }}\n    }}\n\n\
         impl<T> Copy for GpuPtr<T> {{}}\n\n\
         impl<T> PartialEq for GpuPtr<T> {{\n        fn eq(&self, other: &Self) -> bool {{\n            self.addr() == other.addr()\n        }}\n    }}\n\n\
         impl<T> Eq for GpuPtr<T> {{}}\n\n\
         impl<T> Default for GpuPtr<T> {{\n        fn default() -> Self {{\n            Self::NULL\n        }}\n    }}\n\n\
         impl<T> core::fmt::Debug for GpuPtr<T> {{\n        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {{\n            write!(f, \"GpuPtr({{:#x}})\", self.addr())\n        }}\n    }}\n"
    );
    if !model {
        let mut s = String::new();
        byte_impls(
            &mut s,
            opts,
            "<T>",
            "GpuPtr<T>",
            "`GpuPtr<T>` is a transparent `U64` plus a zero-sized marker.",
        );
        for l in s.lines() {
            let _ = writeln!(out, "    {l}");
        }
    }
    let _ = writeln!(out, "}}\n");
}

fn emit_struct(out: &mut String, defs: &Defs, v: &Variant, l: &StructLayout, opts: &RustOptions) {
    let def = defs
        .struct_def(&l.name)
        .expect("layout of a defined struct");
    let mut doc = String::new();
    if !def.doc.is_empty() {
        let _ = writeln!(doc, "{}\n", def.doc.trim());
    }
    let _ = write!(
        doc,
        "Size {:#x}, alignment {} on `{}`. Field list: {}.",
        l.size, l.align, v.name, def.source
    );
    doc_lines(out, "    ", &doc);
    let _ = writeln!(
        out,
        "    #[repr(C)]\n    {}\n    pub struct {} {{",
        derives(opts),
        l.name
    );
    let mut names = Vec::new();
    let push_pad = |out: &mut String, at: u64, n: u64, names: &mut Vec<(String, u64)>| {
        let name = format!("_implicit_pad_{at:x}");
        let _ = writeln!(
            out,
            "        /// Implicit padding made explicit.\n        pub {name}: [u8; {n:#x}],"
        );
        names.push((name, at));
    };
    for f in &l.fields {
        if f.pad_before > 0 {
            push_pad(out, f.offset - f.pad_before, f.pad_before, &mut names);
        }
        let fdef = def
            .fields
            .iter()
            .find(|d| d.name == f.name && d.when.eval(&defs.axes, &v.point));
        let mut fdoc = String::new();
        if let Some(d) = fdef {
            if !d.doc.is_empty() {
                let _ = writeln!(fdoc, "{}\n", d.doc.trim());
            }
        }
        let _ = write!(fdoc, "`{}` at {:#x}.", f.ty, f.offset);
        if let TypeExpr::Prim(p @ (Prim::AtomicU32 | Prim::AtomicI32 | Prim::AtomicU64)) = &f.ty {
            let _ = write!(fdoc, " Accessed atomically (`{}`).", p.name());
        }
        doc_lines(out, "        ", &fdoc);
        let id = ident(&f.name);
        let _ = writeln!(out, "        pub {id}: {},", rust_type(&f.ty));
        names.push((id, f.offset));
    }
    if l.tail_pad > 0 {
        push_pad(out, l.size - l.tail_pad, l.tail_pad, &mut names);
    }
    let _ = writeln!(out, "    }}\n");
    let _ = writeln!(out, "    impl {} {{", l.name);
    let _ = writeln!(
        out,
        "        /// The pointer fields, in offset order (class as the definitions state it)."
    );
    let _ = writeln!(out, "        pub const POINTERS: &'static [PtrField] = &[");
    for f in &l.fields {
        if let TypeExpr::Ptr { target, class } = &f.ty {
            let _ = writeln!(
                out,
                "            PtrField {{ name: {:?}, offset: {:#x}, class: PtrClass::{}, target: {:?} }},",
                f.name,
                f.offset,
                ptr_class_variant(*class),
                target.to_string()
            );
        }
    }
    let _ = writeln!(out, "        ];\n    }}\n");
    byte_impls_indented(out, opts, &l.name);
    let _ = writeln!(
        out,
        "    const _: () = assert!(core::mem::size_of::<{}>() == {:#x});",
        l.name, l.size
    );
    let _ = writeln!(
        out,
        "    const _: () = assert!(core::mem::align_of::<{}>() == {});",
        l.name, l.align
    );
    for (n, off) in names {
        let _ = writeln!(
            out,
            "    const _: () = assert!(core::mem::offset_of!({}, {n}) == {off:#x});",
            l.name
        );
    }
    let _ = writeln!(out);
}

fn ptr_class_variant(c: PtrClass) -> &'static str {
    match c {
        PtrClass::Any => "Any",
        PtrClass::Shared => "Shared",
        PtrClass::Private => "Private",
        PtrClass::GpuRo => "GpuRo",
        PtrClass::User => "User",
    }
}

fn byte_impls_indented(out: &mut String, opts: &RustOptions, name: &str) {
    let mut s = String::new();
    byte_impls(
        &mut s,
        opts,
        "",
        name,
        &format!("`{name}` is `repr(C)` and built only from integers, integer arrays and types with the same property."),
    );
    for l in s.lines() {
        let _ = writeln!(out, "    {l}");
    }
}

fn emit_enums(out: &mut String, defs: &Defs, v: &Variant, opts: &RustOptions) {
    for e in &defs.enums {
        let repr = rust_type(&TypeExpr::Prim(e.repr));
        let mut doc = e.doc.trim().to_string();
        if !doc.is_empty() {
            doc.push_str("\n\n");
        }
        let _ = write!(doc, "Stored as `{repr}`; values from {}.", e.source);
        doc_lines(out, "    ", &doc);
        let _ = writeln!(out, "    #[repr(transparent)]");
        match opts.lang {
            Lang::Kernel => {
                let _ = writeln!(
                    out,
                    "    #[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]"
                );
            }
            Lang::Model => {
                let _ = writeln!(out, "    #[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Debug, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)]");
            }
        }
        let _ = writeln!(out, "    pub struct {}(pub {repr});\n", e.name);
        let _ = writeln!(out, "    impl {} {{", e.name);
        for val in e
            .values
            .iter()
            .filter(|x| x.when.eval(&defs.axes, &v.point))
        {
            let doc = if val.doc.is_empty() {
                format!("`{}`.", val.name)
            } else {
                val.doc.clone()
            };
            doc_lines(out, "        ", &doc);
            let _ = writeln!(
                out,
                "        pub const {}: Self = Self({:#x});",
                const_name(&val.name),
                val.value
            );
        }
        let _ = writeln!(
            out,
            "\n        /// The value's name on this variant, or `None` for a value it does not define."
        );
        let _ = writeln!(
            out,
            "        pub const fn name(self) -> Option<&'static str> {{"
        );
        for val in e
            .values
            .iter()
            .filter(|x| x.when.eval(&defs.axes, &v.point))
        {
            let _ = writeln!(
                out,
                "            if self.0 == {:#x} {{\n                return Some({:?});\n            }}",
                val.value, val.name
            );
        }
        let _ = writeln!(out, "            None\n        }}\n");
        let _ = writeln!(
            out,
            "        /// Whether this variant defines the value.\n        pub const fn is_known(self) -> bool {{\n            self.name().is_some()\n        }}"
        );
        let _ = writeln!(out, "    }}\n");
        byte_impls_indented(out, opts, &e.name);
        let _ = writeln!(out);
    }
}

/// An enum value that exists on every variant (possibly with different
/// numbers), exposed as a trait constant so generic code can use it.
struct TraitConst {
    enum_name: String,
    value_name: String,
    const_name: String,
    repr: String,
}

fn common_enum_values(defs: &Defs) -> Vec<TraitConst> {
    let mut out = Vec::new();
    for e in &defs.enums {
        let mut seen: Vec<&str> = Vec::new();
        for val in &e.values {
            if seen.contains(&val.name.as_str()) {
                continue;
            }
            seen.push(&val.name);
            let everywhere = defs.variants.iter().all(|v| {
                e.values
                    .iter()
                    .any(|x| x.name == val.name && x.when.eval(&defs.axes, &v.point))
            });
            if everywhere {
                out.push(TraitConst {
                    enum_name: e.name.clone(),
                    value_name: val.name.clone(),
                    const_name: format!("{}_{}", const_name(&e.name), const_name(&val.name))
                        .replace("r#", ""),
                    repr: rust_type(&TypeExpr::Prim(e.repr)),
                });
            }
        }
    }
    out
}

fn emit_trait(
    out: &mut String,
    defs: &Defs,
    all: &[layout::VariantLayouts],
    common: &[String],
    opts: &RustOptions,
) {
    let bound = match opts.lang {
        Lang::Kernel => format!(
            "Copy + {k}::transmute::FromBytes + {k}::transmute::AsBytes + {k}::prelude::Zeroable",
            k = opts.kernel_crate
        ),
        Lang::Model => "Copy + zerocopy::FromBytes + zerocopy::IntoBytes + zerocopy::Immutable + zerocopy::KnownLayout".to_string(),
    };
    let _ = writeln!(
        out,
        "/// Variant selection: one marker type per variant implementing [`abi::FwAbi`]."
    );
    let _ = writeln!(out, "{MODULE_ALLOWS}\npub mod abi {{");
    let _ = writeln!(
        out,
        "    /// A firmware ABI variant: identity plus the struct types every variant has,\n    /// so code generic over `A: FwAbi` is written once and instantiated per variant.\n    pub trait FwAbi: Sized + 'static {{\n        /// Module name, e.g. `g13_v13_5`.\n        const NAME: &'static str;\n        /// GPU generation axis value, e.g. `G13`.\n        const GEN: &'static str;\n        /// Firmware version.\n        const FIRMWARE: [u32; 3];\n        /// SoCs that run this variant.\n        const SOCS: &'static [&'static str];"
    );
    for s in common {
        let _ = writeln!(
            out,
            "        /// This variant's `{s}`.\n        type {s}: {bound} + {}<Self>;",
            super::access::trait_name(s)
        );
    }
    let consts = common_enum_values(defs);
    for c in &consts {
        let _ = writeln!(
            out,
            "        /// `{}::{}` on this variant.\n        const {}: {};",
            c.enum_name, c.value_name, c.const_name, c.repr
        );
    }
    let _ = writeln!(out, "    }}\n");
    for v in &defs.variants {
        let m = marker_name(&v.name);
        let socs: Vec<String> = v.socs.iter().map(|s| format!("\"{s}\"")).collect();
        let _ = writeln!(
            out,
            "    /// Marker for `{}`.\n    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]\n    pub struct {m};\n\n    impl FwAbi for {m} {{\n        const NAME: &'static str = \"{}\";\n        const GEN: &'static str = \"{}\";\n        const FIRMWARE: [u32; 3] = [{}, {}, {}];\n        const SOCS: &'static [&'static str] = &[{}];",
            v.name,
            v.name,
            v.axis("G").unwrap_or(""),
            v.firmware[0],
            v.firmware[1],
            v.firmware[2],
            socs.join(", ")
        );
        for s in common {
            let _ = writeln!(out, "        type {s} = super::{}::{s};", v.name);
        }
        for c in &consts {
            let _ = writeln!(
                out,
                "        const {}: {} = super::{}::{}::{}.0;",
                c.const_name,
                c.repr,
                v.name,
                c.enum_name,
                const_name(&c.value_name)
            );
        }
        let _ = writeln!(out, "    }}\n");
    }
    super::access::emit(out, defs, all, common);
    let _ = writeln!(out, "}}");
}

/// Emits the whole Rust source for all variants.
pub fn emit(defs: &Defs, opts: &RustOptions) -> Result<String> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Generated by fwgen from firmware-defs/. Do not edit; change the data instead.\n"
    );
    emit_common(&mut out, opts);
    let mut all = Vec::new();
    for v in &defs.variants {
        let layouts = layout::compute(defs, v)?;
        let _ = writeln!(
            out,
            "/// Firmware ABI for `{}` (firmware {}.{}.{}; SoCs: {}).",
            v.name,
            v.firmware[0],
            v.firmware[1],
            v.firmware[2],
            v.socs.join(", ")
        );
        let _ = writeln!(out, "{MODULE_ALLOWS}\npub mod {} {{", v.name);
        let _ = writeln!(out, "    use super::common::*;\n");
        emit_enums(&mut out, defs, v, opts);
        for l in &layouts.structs {
            emit_struct(&mut out, defs, v, l, opts);
        }
        let _ = writeln!(out, "}}\n");
        all.push(layouts);
    }
    let common: Vec<String> = defs
        .structs
        .iter()
        .filter(|s| all.iter().all(|l| l.get(&s.name).is_some()))
        .map(|s| s.name.clone())
        .collect();
    emit_trait(&mut out, defs, &all, &common, opts);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(marker_name("g13_v12_3"), "G13V12_3");
        assert_eq!(marker_name("g14x_v13_5"), "G14XV13_5");
        assert_eq!(const_name("GrowTVBAck"), "GROW_TVB_ACK");
        assert_eq!(const_name("Vertex"), "VERTEX");
        assert_eq!(const_name("G13G"), "G13G");
        assert_eq!(ident("type"), "r#type");
    }
}
