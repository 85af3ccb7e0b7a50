//! The definitions directory: schema, loading and validation.
//!
//! `variants.toml` names the axes (GPU generation `G`, firmware version `V`)
//! and the shipped variants; every other `*.toml` file is one area of the ABI
//! (initdata, channels, ...) holding `[[enum]]` and `[[struct]]` tables. See
//! `firmware-defs/README.md` for the format; this module turns the files into
//! a validated [`Defs`] with parsed types, conditions and expanded facts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cond::{AxisOrder, Cond};
use crate::error::{Error, Result};
use crate::types::TypeExpr;

/// Ordered axes, e.g. `G = [G13, G14, G14X]`.
#[derive(Debug, Clone, Default)]
pub struct Axes(pub BTreeMap<String, Vec<String>>);

impl AxisOrder for Axes {
    fn rank(&self, axis: &str, value: &str) -> Option<usize> {
        self.0.get(axis)?.iter().position(|v| v == value)
    }
}

/// One supported (generation, firmware) combination.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Module-style name, e.g. `g13_v13_5`.
    pub name: String,
    /// Axis values, e.g. `[("G", "G13"), ("V", "V13_5")]`.
    pub point: Vec<(String, String)>,
    /// Firmware version triple.
    pub firmware: [u32; 3],
    /// SoCs that run this variant.
    pub socs: Vec<String>,
    /// Where the combination is accepted.
    pub source: String,
    /// Free text.
    pub doc: String,
}

impl Variant {
    /// Value of an axis for this variant.
    pub fn axis(&self, axis: &str) -> Option<&str> {
        self.point
            .iter()
            .find(|(a, _)| a == axis)
            .map(|(_, v)| v.as_str())
    }
}

/// A SoC and the variants it can run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Soc {
    /// Chip name, e.g. `t8103`.
    pub name: String,
    /// Product name.
    pub marketing: String,
    /// GPU, e.g. `G13G`.
    pub gpu: String,
    /// Firmware `GpuCore` enum value.
    pub core_id: u32,
    /// Variants (by name) this SoC runs, one per firmware version.
    pub variants: Vec<String>,
}

/// A recorded size or offset with its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// Variant the value holds for.
    pub variant: String,
    /// Expected value in bytes.
    pub value: u64,
    /// `repo:path` of the definition the value was taken from.
    pub source: String,
}

/// One named value of an enum.
#[derive(Debug, Clone)]
pub struct EnumValue {
    /// Name.
    pub name: String,
    /// Value.
    pub value: u64,
    /// Existence condition.
    pub when: Cond,
    /// Free text.
    pub doc: String,
}

/// An enum with explicit values, stored as its integer representation.
#[derive(Debug, Clone)]
pub struct EnumDef {
    /// Name.
    pub name: String,
    /// Area file it came from.
    pub area: String,
    /// Integer representation (a primitive name such as `u32`).
    pub repr: crate::types::Prim,
    /// Values.
    pub values: Vec<EnumValue>,
    /// Free text.
    pub doc: String,
    /// Where the values come from.
    pub source: String,
}

/// One field of a struct.
#[derive(Debug, Clone)]
pub struct FieldDef {
    /// Name (unique among the fields present on any one variant).
    pub name: String,
    /// Parsed type.
    pub ty: TypeExpr,
    /// Existence condition.
    pub when: Cond,
    /// Condition text as written.
    pub when_text: String,
    /// Free text.
    pub doc: String,
    /// Recorded offsets.
    pub offset_facts: Vec<Fact>,
}

/// A struct definition with its per-variant fields.
#[derive(Debug, Clone)]
pub struct StructDef {
    /// Name (unique across all areas).
    pub name: String,
    /// Area file it came from.
    pub area: String,
    /// Free text.
    pub doc: String,
    /// Where the field list comes from.
    pub source: String,
    /// Existence condition.
    pub when: Cond,
    /// Condition text as written.
    pub when_text: String,
    /// Fields in declaration order, all variants together.
    pub fields: Vec<FieldDef>,
    /// Recorded sizes.
    pub size_facts: Vec<Fact>,
}

/// An area file.
#[derive(Debug, Clone)]
pub struct Area {
    /// File stem, e.g. `initdata`.
    pub name: String,
    /// Free text.
    pub doc: String,
}

/// The whole, validated ABI description.
#[derive(Debug, Clone)]
pub struct Defs {
    /// Axis orderings.
    pub axes: Axes,
    /// Variants in file order.
    pub variants: Vec<Variant>,
    /// SoCs.
    pub socs: Vec<Soc>,
    /// Areas sorted by file name.
    pub areas: Vec<Area>,
    /// Structs in area, then file order.
    pub structs: Vec<StructDef>,
    /// Enums in area, then file order.
    pub enums: Vec<EnumDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariants {
    axes: BTreeMap<String, Vec<String>>,
    variant: Vec<RawVariant>,
    #[serde(default)]
    soc: Vec<Soc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    name: String,
    axes: BTreeMap<String, String>,
    firmware: [u32; 3],
    #[serde(default)]
    socs: Vec<String>,
    source: String,
    #[serde(default)]
    doc: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArea {
    #[serde(default)]
    doc: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    offsets_for: Option<Vec<String>>,
    #[serde(default, rename = "enum")]
    enums: Vec<RawEnum>,
    #[serde(default, rename = "struct")]
    structs: Vec<RawStruct>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnum {
    name: String,
    repr: String,
    #[serde(default)]
    doc: String,
    #[serde(default)]
    source: Option<String>,
    values: Vec<RawEnumValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnumValue {
    name: String,
    value: u64,
    #[serde(default)]
    when: String,
    #[serde(default)]
    doc: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStruct {
    name: String,
    #[serde(default)]
    doc: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    when: String,
    #[serde(default)]
    offsets_for: Option<Vec<String>>,
    #[serde(default)]
    size: BTreeMap<String, u64>,
    #[serde(default)]
    size_source: Option<String>,
    fields: Vec<RawField>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawAt {
    Same(u64),
    PerVariant(BTreeMap<String, u64>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    when: String,
    #[serde(default)]
    at: Option<RawAt>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    doc: String,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    toml::from_str(text).map_err(|source| Error::Toml {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads and validates a definitions directory.
pub fn load(dir: &Path) -> Result<Defs> {
    let vpath = dir.join("variants.toml");
    let raw_variants: RawVariants = parse_toml(&vpath, &read(&vpath)?)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && !p.ends_with("variants.toml"))
        .collect();
    files.sort();
    let mut areas = Vec::new();
    for path in files {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let raw: RawArea = parse_toml(&path, &read(&path)?)?;
        areas.push((stem, raw));
    }
    build(raw_variants, areas)
}

/// Builds [`Defs`] from in-memory TOML texts: `variants` plus `(area, text)`
/// pairs. Used by tests and by callers that assemble definitions themselves.
pub fn load_from_strs(variants: &str, areas: &[(&str, &str)]) -> Result<Defs> {
    let vpath = Path::new("variants.toml");
    let raw_variants: RawVariants = parse_toml(vpath, variants)?;
    let mut parsed = Vec::new();
    for (name, text) in areas {
        let path = PathBuf::from(format!("{name}.toml"));
        parsed.push((name.to_string(), parse_toml::<RawArea>(&path, text)?));
    }
    build(raw_variants, parsed)
}

fn build(raw_variants: RawVariants, raw_areas: Vec<(String, RawArea)>) -> Result<Defs> {
    let axes = Axes(raw_variants.axes);
    let mut variants = Vec::new();
    let mut seen = BTreeSet::new();
    for v in raw_variants.variant.into_iter() {
        if !seen.insert(v.name.clone()) {
            return Err(Error::Invalid(format!(
                "variants.toml: duplicate variant {}",
                v.name
            )));
        }
        for (axis, values) in &axes.0 {
            match v.axes.get(axis) {
                Some(val) if values.contains(val) => {}
                _ => {
                    return Err(Error::Invalid(format!(
                        "variants.toml: variant {} needs a valid value for axis {axis}",
                        v.name
                    )))
                }
            }
        }
        variants.push(Variant {
            name: v.name,
            point: v.axes.into_iter().collect(),
            firmware: v.firmware,
            socs: v.socs,
            source: v.source,
            doc: v.doc,
        });
    }
    if variants.is_empty() {
        return Err(Error::Invalid("variants.toml: no variants".into()));
    }
    let variant_names: BTreeSet<&str> = variants.iter().map(|v| v.name.as_str()).collect();
    for soc in &raw_variants.soc {
        for v in &soc.variants {
            if !variant_names.contains(v.as_str()) {
                return Err(Error::Invalid(format!(
                    "variants.toml: soc {} names unknown variant {v}",
                    soc.name
                )));
            }
        }
    }

    let mut areas = Vec::new();
    let mut structs = Vec::new();
    let mut enums = Vec::new();
    for (area, raw) in raw_areas {
        areas.push(Area {
            name: area.clone(),
            doc: raw.doc.clone(),
        });
        let area_source = raw.source.clone().unwrap_or_default();
        for e in raw.enums {
            let ctx = format!("{area}.toml: enum {}", e.name);
            let repr = crate::types::Prim::from_name(&e.repr)
                .filter(|p| {
                    matches!(
                        p,
                        crate::types::Prim::U8 | crate::types::Prim::U16 | crate::types::Prim::U32
                    )
                })
                .ok_or_else(|| Error::Invalid(format!("{ctx}: repr must be u8, u16 or u32")))?;
            let mut values = Vec::new();
            for v in e.values {
                let when = Cond::parse(&v.when, &format!("{ctx}: value {}", v.name))?;
                when.validate(&axes, &ctx)?;
                values.push(EnumValue {
                    name: v.name,
                    value: v.value,
                    when,
                    doc: v.doc,
                });
            }
            enums.push(EnumDef {
                name: e.name,
                area: area.clone(),
                repr,
                values,
                doc: e.doc,
                source: e.source.unwrap_or_else(|| area_source.clone()),
            });
        }
        for s in raw.structs {
            let ctx = format!("{area}.toml: struct {}", s.name);
            let source = s.source.clone().unwrap_or_else(|| area_source.clone());
            if source.is_empty() {
                return Err(Error::Invalid(format!("{ctx}: no source given")));
            }
            let when = Cond::parse(&s.when, &ctx)?;
            when.validate(&axes, &ctx)?;
            let present: Vec<&Variant> = variants
                .iter()
                .filter(|v| when.eval(&axes, &v.point))
                .collect();
            let offsets_for = s
                .offsets_for
                .clone()
                .or_else(|| raw.offsets_for.clone())
                .unwrap_or_default();
            for v in &offsets_for {
                if !variant_names.contains(v.as_str()) {
                    return Err(Error::Invalid(format!(
                        "{ctx}: offsets_for names unknown variant {v}"
                    )));
                }
            }
            let size_source = s.size_source.clone().unwrap_or_else(|| source.clone());
            let mut size_facts = Vec::new();
            for (key, value) in &s.size {
                if key == "all" {
                    for v in &present {
                        if !s.size.contains_key(&v.name) {
                            size_facts.push(Fact {
                                variant: v.name.clone(),
                                value: *value,
                                source: size_source.clone(),
                            });
                        }
                    }
                } else if variant_names.contains(key.as_str()) {
                    size_facts.push(Fact {
                        variant: key.clone(),
                        value: *value,
                        source: size_source.clone(),
                    });
                } else {
                    return Err(Error::Invalid(format!(
                        "{ctx}: size fact for unknown variant {key}"
                    )));
                }
            }
            let mut fields = Vec::new();
            for f in s.fields {
                let fctx = format!("{ctx}: field {}", f.name);
                let ty = TypeExpr::parse(&f.ty, &fctx)?;
                let fwhen = Cond::parse(&f.when, &fctx)?;
                fwhen.validate(&axes, &fctx)?;
                let fsource = f.source.clone().unwrap_or_else(|| source.clone());
                let mut offset_facts = Vec::new();
                match &f.at {
                    None => {}
                    Some(RawAt::Same(off)) => {
                        if offsets_for.is_empty() {
                            return Err(Error::Invalid(format!(
                                "{fctx}: `at = {off:#x}` needs `offsets_for` on the struct or file"
                            )));
                        }
                        for vname in &offsets_for {
                            let v = variants.iter().find(|v| &v.name == vname).expect("checked");
                            if when.eval(&axes, &v.point) && fwhen.eval(&axes, &v.point) {
                                offset_facts.push(Fact {
                                    variant: vname.clone(),
                                    value: *off,
                                    source: fsource.clone(),
                                });
                            }
                        }
                    }
                    Some(RawAt::PerVariant(map)) => {
                        for (vname, off) in map {
                            if !variant_names.contains(vname.as_str()) {
                                return Err(Error::Invalid(format!(
                                    "{fctx}: offset fact for unknown variant {vname}"
                                )));
                            }
                            offset_facts.push(Fact {
                                variant: vname.clone(),
                                value: *off,
                                source: fsource.clone(),
                            });
                        }
                    }
                }
                fields.push(FieldDef {
                    name: f.name,
                    ty,
                    when: fwhen,
                    when_text: f.when,
                    doc: f.doc,
                    offset_facts,
                });
            }
            structs.push(StructDef {
                name: s.name,
                area: area.clone(),
                doc: s.doc,
                source,
                when,
                when_text: s.when,
                fields,
                size_facts,
            });
        }
    }

    let defs = Defs {
        axes,
        variants,
        socs: raw_variants.soc,
        areas,
        structs,
        enums,
    };
    defs.validate_names()?;
    Ok(defs)
}

impl Defs {
    /// The SoC/firmware pairs that shipped: for each SoC in file order, each variant it runs,
    /// as `(soc, "major.minor")` (with `.patch` only when it is not 0). The loader has
    /// checked that every variant a SoC names exists.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for soc in &self.socs {
            for name in &soc.variants {
                if let Some(v) = self.variants.iter().find(|v| &v.name == name) {
                    let [major, minor, patch] = v.firmware;
                    let version = if patch == 0 {
                        format!("{major}.{minor}")
                    } else {
                        format!("{major}.{minor}.{patch}")
                    };
                    out.push((soc.name.clone(), version));
                }
            }
        }
        out
    }

    fn validate_names(&self) -> Result<()> {
        let mut names = BTreeSet::new();
        for n in self
            .structs
            .iter()
            .map(|s| &s.name)
            .chain(self.enums.iter().map(|e| &e.name))
        {
            if !names.insert(n.as_str()) {
                return Err(Error::Invalid(format!("type {n} is defined twice")));
            }
            if crate::types::Prim::from_name(n).is_some() {
                return Err(Error::Invalid(format!("type {n} shadows a primitive")));
            }
        }
        for s in &self.structs {
            for f in &s.fields {
                for dep in f.ty.all_names() {
                    if !names.contains(dep) {
                        return Err(Error::Invalid(format!(
                            "{}.toml: struct {}: field {}: unknown type {dep}",
                            s.area, s.name, f.name
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Looks a variant up by name.
    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// Looks a struct up by name.
    pub fn struct_def(&self, name: &str) -> Option<&StructDef> {
        self.structs.iter().find(|s| s.name == name)
    }

    /// Looks an enum up by name.
    pub fn enum_def(&self, name: &str) -> Option<&EnumDef> {
        self.enums.iter().find(|e| e.name == name)
    }

    /// Whether a struct exists on a variant.
    pub fn struct_present(&self, s: &StructDef, v: &Variant) -> bool {
        s.when.eval(&self.axes, &v.point)
    }

    /// Fields of a struct present on a variant, in order.
    pub fn fields_on<'a>(
        &'a self,
        s: &'a StructDef,
        v: &'a Variant,
    ) -> impl Iterator<Item = &'a FieldDef> + 'a {
        s.fields
            .iter()
            .filter(move |f| f.when.eval(&self.axes, &v.point))
    }
}

/// Test definitions: an axis `V` with two firmware versions, and variants `old` (12.3) and
/// `new` (13.5) on it, for tests that compare two versions of a structure.
#[cfg(test)]
pub(crate) fn two_version_variants(old: &str, new: &str) -> String {
    format!(
        r#"
        [axes]
        V = ["V12_3", "V13_5"]
        [[variant]]
        name = "{old}"
        axes = {{ V = "V12_3" }}
        firmware = [12, 3, 0]
        source = "test"
        [[variant]]
        name = "{new}"
        axes = {{ V = "V13_5" }}
        firmware = [13, 5, 0]
        source = "test"
    "#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARIANTS: &str = r#"
        [axes]
        V = ["V12_3", "V13_5"]
        [[variant]]
        name = "a"
        axes = { V = "V12_3" }
        firmware = [12, 3, 0]
        socs = ["t8103"]
        source = "t"
        [[variant]]
        name = "b"
        axes = { V = "V13_5" }
        firmware = [13, 5, 0]
        source = "t"
        [[soc]]
        name = "t8103"
        marketing = "M1"
        gpu = "G13G"
        core_id = 11
        variants = ["a", "b"]
    "#;

    fn err(area: &str) -> String {
        load_from_strs(VARIANTS, &[("x", area)])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn expands_all_and_same_offset_facts() {
        let d = load_from_strs(
            VARIANTS,
            &[(
                "x",
                r#"
                source = "repo:file"
                offsets_for = ["a", "b"]
                [[struct]]
                name = "S"
                size = { all = 8 }
                fields = [
                  { name = "p", type = "u32", at = 0 },
                  { name = "q", type = "u32", when = "V >= V13_5", at = 4, source = "other:file" },
                ]
            "#,
            )],
        )
        .unwrap();
        let s = d.struct_def("S").unwrap();
        assert_eq!(s.size_facts.len(), 2);
        assert_eq!(s.fields[0].offset_facts.len(), 2);
        assert_eq!(
            s.fields[1].offset_facts.len(),
            1,
            "absent on `a`, so no fact there"
        );
        assert_eq!(s.fields[1].offset_facts[0].source, "other:file");
        assert_eq!(d.socs[0].variants, ["a", "b"]);
    }

    #[test]
    fn rejects_unknown_names() {
        let e = err(r#"
            source = "t"
            [[struct]]
            name = "S"
            fields = [{ name = "p", type = "Missing" }]
        "#);
        assert!(e.contains("unknown type Missing"), "{e}");
        let e = err(r#"
            source = "t"
            [[struct]]
            name = "S"
            size = { zz = 4 }
            fields = [{ name = "p", type = "u32" }]
        "#);
        assert!(e.contains("unknown variant zz"), "{e}");
        let e = err(r#"
            source = "t"
            [[struct]]
            name = "S"
            fields = [{ name = "p", type = "u32", when = "W > V1" }]
        "#);
        assert!(e.contains("unknown axis value"), "{e}");
    }

    #[test]
    fn schema_errors_name_the_file() {
        let e = err("[[struct]]\nname = \"S\"\nfields = []\nbogus = 1\n");
        assert!(e.contains("x.toml"), "{e}");
        let e = err("source = \"t\"\n[[struct]]\nname = \"S\"\nfields = [{ name = \"p\", type = \"u32\", at = 0 }]\n");
        assert!(e.contains("offsets_for"), "{e}");
    }

    #[test]
    fn duplicate_types_and_missing_source_are_rejected() {
        let e = err(r#"
            source = "t"
            [[struct]]
            name = "S"
            fields = []
            [[enum]]
            name = "S"
            repr = "u32"
            values = []
        "#);
        assert!(e.contains("defined twice"), "{e}");
        let e = err("[[struct]]\nname = \"S\"\nfields = []\n");
        assert!(e.contains("no source"), "{e}");
    }
}
