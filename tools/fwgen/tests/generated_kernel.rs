//! Compiles the kernel flavour of the generated bindings for every variant on
//! the host, against a stand-in for the kernel's `transmute` traits, and
//! separately as a `#![no_std]` crate with `rustc -D warnings`.

#![deny(warnings)]

/// Stand-in for the kernel crate's byte-conversion traits.
mod kernel {
    /// Same shape as `kernel::transmute`.
    pub mod transmute {
        /// Every bit pattern is a valid value.
        ///
        /// # Safety
        ///
        /// Implementors must uphold the above.
        pub unsafe trait FromBytes {}
        /// No uninitialised bytes.
        ///
        /// # Safety
        ///
        /// Implementors must uphold the above.
        pub unsafe trait AsBytes {}
    }
    /// Same shape as the `Zeroable` re-export in `kernel::prelude`.
    pub mod prelude {
        /// All-zero bytes are a valid value.
        ///
        /// # Safety
        ///
        /// Implementors must uphold the above.
        pub unsafe trait Zeroable {}
    }
}

include!(concat!(env!("OUT_DIR"), "/kernel_generated.rs"));

fn assert_bytes<
    T: kernel::transmute::FromBytes + kernel::transmute::AsBytes + kernel::prelude::Zeroable,
>() {
}

fn generic<A: abi::FwAbi>() -> usize {
    assert_bytes::<A::InitData>();
    core::mem::size_of::<A::RuntimePointers>()
}

#[test]
fn trait_is_usable_generically() {
    assert_eq!(generic::<abi::G13V12_3>(), 0x6bc0);
    assert_eq!(generic::<abi::G14XV13_5>(), 0xb3b0);
    assert_eq!(<abi::G14V12_4 as abi::FwAbi>::FIRMWARE, [12, 4, 0]);
}

#[test]
fn builds_as_no_std_without_warnings() {
    let out = std::path::PathBuf::from(env!("OUT_DIR"));
    let tmp = std::env::temp_dir().join(format!("fwgen-nostd-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let wrapper = tmp.join("lib.rs");
    std::fs::write(
        &wrapper,
        format!(
            "#![no_std]\n\
             //! no_std build check of the generated kernel bindings.\n\
             /// Stand-in for the kernel crate.\n\
             pub mod kernel {{\n\
             /// Stand-in for `kernel::transmute`.\n\
             pub mod transmute {{\n\
             /// Any bit pattern is valid.\n///\n/// # Safety\n///\n/// See above.\n\
             pub unsafe trait FromBytes {{}}\n\
             /// No uninitialised bytes.\n///\n/// # Safety\n///\n/// See above.\n\
             pub unsafe trait AsBytes {{}}\n\
             }}\n\
             /// Stand-in for `kernel::prelude`.\n\
             pub mod prelude {{\n\
             /// All-zero is valid.\n///\n/// # Safety\n///\n/// See above.\n\
             pub unsafe trait Zeroable {{}}\n\
             }}\n}}\n\
             mod fw {{\n include!({:?});\n}}\n",
            out.join("kernel_generated.rs")
        ),
    )
    .unwrap();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let status = std::process::Command::new(rustc)
        .args([
            "--edition=2021",
            "--crate-type=lib",
            "--crate-name=fwgen_nostd",
            "--emit=metadata",
            "-o",
        ])
        .arg(tmp.join("out.rmeta"))
        .arg(&wrapper)
        .status()
        .expect("run rustc");
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(
        status.success(),
        "generated kernel code failed to build as no_std"
    );
}
