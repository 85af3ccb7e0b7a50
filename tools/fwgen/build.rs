//! Generates the kernel and model bindings from `firmware-defs/` into
//! `OUT_DIR` so `tests/generated_*.rs` can compile them for every variant.
//!
//! Only the tests include the output. A data error must not stop the `fwgen`
//! binary from building (it is the tool that reports the error), so failures
//! are written out as a `compile_error!` that only the tests trip over.

// The library modules refer to each other through `crate::`, so they are
// mounted at the build script's crate root.
#[allow(dead_code, unused_imports)]
#[path = "src/check.rs"]
mod check;
#[allow(dead_code)]
#[path = "src/cond.rs"]
mod cond;
#[allow(dead_code)]
#[path = "src/defs.rs"]
mod defs;
#[allow(dead_code, unused_imports)]
#[path = "src/diff/mod.rs"]
mod diff;
#[allow(dead_code)]
#[path = "src/emit/mod.rs"]
mod emit;
#[allow(dead_code)]
#[path = "src/error.rs"]
mod error;
#[allow(dead_code)]
#[path = "src/layout.rs"]
mod layout;
#[allow(dead_code)]
#[path = "src/types.rs"]
mod types;

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let defs_dir = manifest.join("../../firmware-defs");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    println!("cargo:rerun-if-changed={}", defs_dir.display());
    if let Ok(entries) = std::fs::read_dir(&defs_dir) {
        for e in entries.flatten() {
            println!("cargo:rerun-if-changed={}", e.path().display());
        }
    }
    println!("cargo:rerun-if-changed=src");

    let result = defs::load(&defs_dir).and_then(|defs| {
        let kernel = emit::rust::emit(
            &defs,
            &emit::RustOptions {
                lang: emit::Lang::Kernel,
                kernel_crate: "crate::kernel".into(),
            },
        )?;
        let model = emit::rust::emit(&defs, &emit::RustOptions::model())?;
        Ok::<_, error::Error>((kernel, model))
    });
    let (kernel, model) = match result {
        Ok(v) => v,
        Err(e) => {
            let msg = format!("compile_error!({:?});\n", format!("fwgen: {e}"));
            (msg.clone(), msg)
        }
    };
    std::fs::write(out.join("kernel_generated.rs"), kernel).expect("write OUT_DIR");
    std::fs::write(out.join("model_generated.rs"), model).expect("write OUT_DIR");
}
