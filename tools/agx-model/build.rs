//! Generates the firmware structures of every ABI variant (fwgen's model flavour: std +
//! zerocopy) from `firmware-defs/` into `OUT_DIR`, so the model reads and writes exactly the
//! layouts the driver is built with. A definitions error fails the build with fwgen's message.

use std::path::Path;

fn main() {
    let defs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../firmware-defs");
    println!("cargo::rerun-if-changed={}", defs.display());
    let text = fwgen::load(&defs)
        .and_then(|d| fwgen::emit_model(&d))
        .unwrap_or_else(|e| panic!("fwgen on {}: {e}", defs.display()));
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("fw_generated.rs");
    std::fs::write(&out, text).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}
