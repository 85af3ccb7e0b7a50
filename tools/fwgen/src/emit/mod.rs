//! Output generators: Rust for the kernel driver and the model, and docs.

pub mod access;
pub mod docs;
pub mod rust;

/// Which Rust flavour to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// `no_std`, kernel `FromBytes`/`AsBytes` implemented by hand.
    Kernel,
    /// `std`, zerocopy 0.8 derives.
    Model,
}

/// Options for the Rust emitter.
#[derive(Debug, Clone)]
pub struct RustOptions {
    /// Flavour.
    pub lang: Lang,
    /// Path of the kernel crate (only for [`Lang::Kernel`]); `kernel` in the
    /// driver, a stub module in host tests.
    pub kernel_crate: String,
}

impl RustOptions {
    /// Options for the kernel driver.
    pub fn kernel() -> Self {
        RustOptions {
            lang: Lang::Kernel,
            kernel_crate: "kernel".into(),
        }
    }

    /// Options for the model.
    pub fn model() -> Self {
        RustOptions {
            lang: Lang::Model,
            kernel_crate: String::new(),
        }
    }
}
