//! fwgen: the AGX firmware ABI as data.
//!
//! The firmware's shared-memory structures differ per GPU generation and
//! firmware version. Rather than writing five copies of every struct by hand,
//! `firmware-defs/` describes each struct once with version conditions and
//! recorded facts (sizes and offsets with their source). This crate
//!
//! * loads and validates that data ([`load`]),
//! * computes every layout with C rules and per-type alignment
//!   ([`Defs::layouts`]),
//! * checks the layouts against the facts ([`check()`]),
//! * emits Rust for the kernel driver and the model ([`emit_kernel`],
//!   [`emit_model`]), markdown docs ([`emit::docs::emit`]) and per-variant
//!   diffs of struct layouts and enum values ([`diff()`]).
//!
//! The `fwgen` binary wraps these for the build (Kbuild, `make fwgen-check`);
//! the model calls the library from its `build.rs`.

pub mod check;
pub mod cond;
pub mod defs;
pub mod diff;
pub mod emit;
pub mod error;
pub mod layout;
pub mod types;

use std::path::Path;

pub use check::{check, CheckReport, Mismatch};
pub use defs::{Defs, Variant};
pub use diff::{diff, Diff};
pub use error::{Error, Result};
pub use layout::{StructLayout, VariantLayouts};

/// Loads and validates the definitions in `dir`.
pub fn load(dir: impl AsRef<Path>) -> Result<Defs> {
    defs::load(dir.as_ref())
}

impl Defs {
    /// Computes the layouts of every struct on the named variant.
    pub fn layouts(&self, variant: &str) -> Result<VariantLayouts> {
        let v = self
            .variant(variant)
            .ok_or_else(|| Error::Invalid(format!("unknown variant {variant}")))?;
        layout::compute(self, v)
    }
}

/// Rust source for the kernel driver (`include!` it inside a module).
pub fn emit_kernel(defs: &Defs) -> Result<String> {
    emit::rust::emit(defs, &emit::RustOptions::kernel())
}

/// Rust source for the model (std, zerocopy 0.8 derives).
pub fn emit_model(defs: &Defs) -> Result<String> {
    emit::rust::emit(defs, &emit::RustOptions::model())
}
