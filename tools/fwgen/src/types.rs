//! Field types: `u32`, `U64`, `[u8; 0x3c]`, `ptr<QueueInfo, private>`, `pad<8>`.
//!
//! The firmware mixes naturally aligned integers with unaligned ones: the
//! Asahi driver's `U32`/`U64` and GPU pointers have alignment 1, while plain
//! `u16/u32`, atomics, stamp values and enums keep their natural alignment.
//! Each primitive therefore carries its own size and alignment, which is what
//! the layout engine needs to reproduce the firmware's offsets.

use nom::{
    branch::alt,
    bytes::complete::{tag, tag_no_case},
    character::complete::{alpha1, alphanumeric1, char, digit1, hex_digit1, multispace0},
    combinator::{all_consuming, map, map_res, opt, recognize},
    multi::many0,
    sequence::{delimited, pair, preceded, separated_pair, tuple},
    IResult,
};

use crate::error::{Error, Result};

/// A built-in scalar type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prim {
    /// Unsigned byte.
    U8,
    /// Signed byte.
    I8,
    /// Naturally aligned u16.
    U16,
    /// Naturally aligned i16.
    I16,
    /// Naturally aligned u32.
    U32,
    /// Naturally aligned i32.
    I32,
    /// Naturally aligned u64.
    U64,
    /// Naturally aligned i64.
    I64,
    /// IEEE single float, naturally aligned.
    F32,
    /// Unaligned little-endian u16 (u16 inside a packed struct).
    UnalignedU16,
    /// Unaligned little-endian u32 (driver `U32`).
    UnalignedU32,
    /// Unaligned little-endian u64 (driver `U64`).
    UnalignedU64,
    /// u32 the firmware updates concurrently.
    AtomicU32,
    /// i32 the firmware updates concurrently.
    AtomicI32,
    /// u64 the firmware updates concurrently (naturally aligned).
    AtomicU64,
    /// 32-bit stamp value.
    EventValue,
    /// One byte holding 0 or 1 (stored as u8 so every bit pattern is valid).
    Bool,
}

impl Prim {
    /// Every primitive with its spelling in the definitions.
    pub const ALL: &'static [(&'static str, Prim)] = &[
        ("u8", Prim::U8),
        ("i8", Prim::I8),
        ("u16", Prim::U16),
        ("i16", Prim::I16),
        ("u32", Prim::U32),
        ("i32", Prim::I32),
        ("u64", Prim::U64),
        ("i64", Prim::I64),
        ("f32", Prim::F32),
        ("U16", Prim::UnalignedU16),
        ("U32", Prim::UnalignedU32),
        ("U64", Prim::UnalignedU64),
        ("AtomicU32", Prim::AtomicU32),
        ("AtomicI32", Prim::AtomicI32),
        ("AtomicU64", Prim::AtomicU64),
        ("EventValue", Prim::EventValue),
        ("bool", Prim::Bool),
    ];

    /// Looks a primitive up by its spelling.
    pub fn from_name(name: &str) -> Option<Prim> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
    }

    /// Spelling in the definitions.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, p)| *p == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// Size in bytes.
    pub fn size(self) -> u64 {
        match self {
            Prim::U8 | Prim::I8 | Prim::Bool => 1,
            Prim::U16 | Prim::I16 | Prim::UnalignedU16 => 2,
            Prim::U32
            | Prim::I32
            | Prim::F32
            | Prim::UnalignedU32
            | Prim::AtomicU32
            | Prim::AtomicI32
            | Prim::EventValue => 4,
            Prim::U64 | Prim::I64 | Prim::UnalignedU64 | Prim::AtomicU64 => 8,
        }
    }

    /// Alignment in bytes.
    pub fn align(self) -> u64 {
        match self {
            Prim::UnalignedU16 | Prim::UnalignedU32 | Prim::UnalignedU64 => 1,
            p => p.size(),
        }
    }
}

/// Which memory a GPU pointer's target lives in (documentation for the driver
/// and checked by the model; it does not change the layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PtrClass {
    /// Not stated.
    #[default]
    Any,
    /// Shared (uncached, CPU and firmware write it).
    Shared,
    /// Firmware-private.
    Private,
    /// GPU read-only.
    GpuRo,
    /// User memory.
    User,
}

impl PtrClass {
    fn parse(s: &str) -> Option<PtrClass> {
        Some(match s {
            "any" => PtrClass::Any,
            "shared" => PtrClass::Shared,
            "private" => PtrClass::Private,
            "gpu_ro" => PtrClass::GpuRo,
            "user" => PtrClass::User,
            _ => return None,
        })
    }

    /// Spelling in the definitions.
    pub fn name(self) -> &'static str {
        match self {
            PtrClass::Any => "any",
            PtrClass::Shared => "shared",
            PtrClass::Private => "private",
            PtrClass::GpuRo => "gpu_ro",
            PtrClass::User => "user",
        }
    }
}

/// A parsed field type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeExpr {
    /// Built-in scalar.
    Prim(Prim),
    /// Explicit padding of N bytes (alignment 1).
    Pad(u64),
    /// Fixed array.
    Array(Box<TypeExpr>, u64),
    /// 64-bit GPU virtual address (alignment 1) of a `target`.
    Ptr {
        /// What the pointer points to.
        target: Box<TypeExpr>,
        /// Where the target is allocated.
        class: PtrClass,
    },
    /// A struct or enum defined in the data.
    Named(String),
}

impl TypeExpr {
    /// Parses a type expression.
    pub fn parse(text: &str, context: &str) -> Result<TypeExpr> {
        match all_consuming(ws(type_expr))(text) {
            Ok((_, t)) => Ok(t),
            Err(e) => Err(Error::Parse {
                context: context.to_string(),
                text: text.to_string(),
                message: e.to_string(),
            }),
        }
    }

    /// Struct and enum names this type mentions for its layout (pointer
    /// targets are not layout dependencies).
    pub fn layout_deps(&self) -> Vec<&str> {
        match self {
            TypeExpr::Named(n) => vec![n.as_str()],
            TypeExpr::Array(t, _) => t.layout_deps(),
            _ => vec![],
        }
    }

    /// Every named type mentioned, including pointer targets.
    pub fn all_names(&self) -> Vec<&str> {
        match self {
            TypeExpr::Named(n) => vec![n.as_str()],
            TypeExpr::Array(t, _) => t.all_names(),
            TypeExpr::Ptr { target, .. } => target.all_names(),
            _ => vec![],
        }
    }
}

impl std::fmt::Display for TypeExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypeExpr::Prim(p) => f.write_str(p.name()),
            TypeExpr::Pad(n) => write!(f, "pad<{n:#x}>"),
            TypeExpr::Array(t, n) => write!(f, "[{t}; {n:#x}]"),
            TypeExpr::Ptr { target, class } => match class {
                PtrClass::Any => write!(f, "ptr<{target}>"),
                c => write!(f, "ptr<{target}, {}>", c.name()),
            },
            TypeExpr::Named(n) => f.write_str(n),
        }
    }
}

fn ws<'a, O>(
    p: impl FnMut(&'a str) -> IResult<&'a str, O>,
) -> impl FnMut(&'a str) -> IResult<&'a str, O> {
    delimited(multispace0, p, multispace0)
}

fn ident(i: &str) -> IResult<&str, &str> {
    recognize(pair(
        alt((alpha1, tag("_"))),
        many0(alt((alphanumeric1, tag("_")))),
    ))(i)
}

/// Decimal or `0x` hexadecimal integer.
pub(crate) fn number(i: &str) -> IResult<&str, u64> {
    alt((
        map_res(preceded(tag_no_case("0x"), hex_digit1), |h: &str| {
            u64::from_str_radix(h, 16)
        }),
        map_res(digit1, |d: &str| d.parse::<u64>()),
    ))(i)
}

fn array(i: &str) -> IResult<&str, TypeExpr> {
    map(
        delimited(
            ws(char('[')),
            separated_pair(type_expr, ws(char(';')), ws(number)),
            ws(char(']')),
        ),
        |(t, n)| TypeExpr::Array(Box::new(t), n),
    )(i)
}

fn pad(i: &str) -> IResult<&str, TypeExpr> {
    map(
        preceded(
            tuple((tag("pad"), ws(char('<')))),
            tuple((ws(number), char('>'))),
        ),
        |(n, _)| TypeExpr::Pad(n),
    )(i)
}

fn ptr(i: &str) -> IResult<&str, TypeExpr> {
    map_res(
        preceded(
            tuple((tag("ptr"), ws(char('<')))),
            tuple((
                type_expr,
                opt(preceded(ws(char(',')), ws(ident))),
                char('>'),
            )),
        ),
        |(t, class, _)| {
            let class = match class {
                None => PtrClass::Any,
                Some(c) => PtrClass::parse(c).ok_or("unknown pointer class")?,
            };
            Ok::<_, &str>(TypeExpr::Ptr {
                target: Box::new(t),
                class,
            })
        },
    )(i)
}

fn named(i: &str) -> IResult<&str, TypeExpr> {
    map(ident, |n| match Prim::from_name(n) {
        Some(p) => TypeExpr::Prim(p),
        None => TypeExpr::Named(n.to_string()),
    })(i)
}

fn type_expr(i: &str) -> IResult<&str, TypeExpr> {
    ws(alt((array, pad, ptr, named)))(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_forms() {
        assert_eq!(
            TypeExpr::parse("u32", "t").unwrap(),
            TypeExpr::Prim(Prim::U32)
        );
        assert_eq!(
            TypeExpr::parse(" [ [u16; 4] ; 0x3 ] ", "t").unwrap(),
            TypeExpr::Array(
                Box::new(TypeExpr::Array(Box::new(TypeExpr::Prim(Prim::U16)), 4)),
                3
            )
        );
        assert_eq!(
            TypeExpr::parse("pad<0x10>", "t").unwrap(),
            TypeExpr::Pad(16)
        );
        assert_eq!(
            TypeExpr::parse("ptr<QueueInfo, private>", "t").unwrap(),
            TypeExpr::Ptr {
                target: Box::new(TypeExpr::Named("QueueInfo".into())),
                class: PtrClass::Private
            }
        );
        assert_eq!(
            TypeExpr::parse("padding", "t").unwrap(),
            TypeExpr::Named("padding".into())
        );
    }

    #[test]
    fn display_round_trips() {
        for s in ["[U64; 0x4]", "ptr<[u8; 0x10], shared>", "pad<0x8>", "Foo"] {
            let t = TypeExpr::parse(s, "t").unwrap();
            assert_eq!(TypeExpr::parse(&t.to_string(), "t").unwrap(), t);
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert!(TypeExpr::parse("[u8; ]", "t").is_err());
        assert!(TypeExpr::parse("ptr<u8, weird>", "t").is_err());
        assert!(TypeExpr::parse("u8 u8", "t").is_err());
    }

    #[test]
    fn unaligned_prims_have_alignment_one() {
        assert_eq!(Prim::UnalignedU64.align(), 1);
        assert_eq!(Prim::UnalignedU64.size(), 8);
        assert_eq!(Prim::AtomicU64.align(), 8);
        assert_eq!(Prim::U16.align(), 2);
    }
}
