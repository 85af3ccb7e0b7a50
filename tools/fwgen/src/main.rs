//! `fwgen` command line: check, gen, docs, diff, layout, pairs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use fwgen::emit::{Lang, RustOptions};

#[derive(Parser)]
#[command(version, about = "AGX firmware ABI generator")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LangArg {
    /// no_std Rust for the kernel driver
    Kernel,
    /// std + zerocopy Rust for the model
    Model,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compute every layout and verify every recorded fact.
    Check {
        /// Definitions directory.
        defs: PathBuf,
    },
    /// Generate Rust source.
    Gen {
        /// Output flavour.
        #[arg(long, value_enum)]
        lang: LangArg,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Path of the kernel crate in the generated code (kernel flavour).
        #[arg(long, default_value = "kernel")]
        kernel_crate: String,
        /// Definitions directory.
        defs: PathBuf,
    },
    /// Generate markdown tables (one file per variant plus an index).
    Docs {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Definitions directory.
        defs: PathBuf,
    },
    /// List added/removed/moved/resized fields and changed enum values between two variants
    /// (a run of fields moved by the same amount is one line under its cause).
    Diff {
        /// Definitions directory.
        defs: PathBuf,
        /// Old variant, e.g. g13_v12_3.
        a: String,
        /// New variant, e.g. g13_v13_5.
        b: String,
    },
    /// List the shipped SoC/firmware pairs, one `<soc> <version>` per line (what the
    /// simulated-machine runners and the CI matrix iterate over).
    Pairs {
        /// Definitions directory.
        defs: PathBuf,
    },
    /// Print one struct's layout on one variant.
    Layout {
        /// Definitions directory.
        defs: PathBuf,
        /// Variant name.
        variant: String,
        /// Struct name.
        name: String,
    },
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    // Leave an unchanged file alone so make does not rebuild what uses it.
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    // Write then rename so a failed run never leaves a half-written file
    // behind for make to consider up to date.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

fn run(cli: Cli) -> Result<bool, String> {
    let e = |e: fwgen::Error| e.to_string();
    match cli.cmd {
        Cmd::Check { defs } => {
            let d = fwgen::load(&defs).map_err(e)?;
            let r = fwgen::check(&d).map_err(e)?;
            for m in &r.mismatches {
                eprintln!("fwgen: mismatch: {m}");
            }
            for v in &r.per_variant {
                println!(
                    "{}: {} layouts, {} facts, {} mismatches",
                    v.variant, v.layouts, v.facts, v.mismatches
                );
            }
            println!("{}", r.summary_line());
            Ok(r.mismatches.is_empty())
        }
        Cmd::Gen {
            lang,
            out,
            kernel_crate,
            defs,
        } => {
            let d = fwgen::load(&defs).map_err(e)?;
            let r = fwgen::check(&d).map_err(e)?;
            if !r.mismatches.is_empty() {
                for m in &r.mismatches {
                    eprintln!("fwgen: mismatch: {m}");
                }
                return Err(format!(
                    "{} fact mismatches, not generating",
                    r.mismatches.len()
                ));
            }
            let opts = match lang {
                LangArg::Kernel => RustOptions {
                    lang: Lang::Kernel,
                    kernel_crate,
                },
                LangArg::Model => RustOptions::model(),
            };
            let text = fwgen::emit::rust::emit(&d, &opts).map_err(e)?;
            write_file(&out, &text)?;
            Ok(true)
        }
        Cmd::Docs { out, defs } => {
            let d = fwgen::load(&defs).map_err(e)?;
            for (name, text) in fwgen::emit::docs::emit(&d).map_err(e)? {
                write_file(&out.join(name), &text)?;
            }
            Ok(true)
        }
        Cmd::Diff { defs, a, b } => {
            let d = fwgen::load(&defs).map_err(e)?;
            let diff = fwgen::diff(&d, &a, &b).map_err(e)?;
            print!("{}", fwgen::diff::render(&diff));
            Ok(true)
        }
        Cmd::Pairs { defs } => {
            let d = fwgen::load(&defs).map_err(e)?;
            for (soc, version) in d.pairs() {
                println!("{soc} {version}");
            }
            Ok(true)
        }
        Cmd::Layout {
            defs,
            variant,
            name,
        } => {
            let d = fwgen::load(&defs).map_err(e)?;
            let l = d.layouts(&variant).map_err(e)?;
            let s = l
                .get(&name)
                .ok_or_else(|| format!("struct {name} is not present on {variant}"))?;
            println!(
                "{} on {variant}: size {:#x}, align {}",
                s.name, s.size, s.align
            );
            for f in &s.fields {
                println!(
                    "  {:#06x} {:#6x}  {:<28} {}",
                    f.offset, f.size, f.name, f.ty
                );
            }
            Ok(true)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(msg) => {
            eprintln!("fwgen: error: {msg}");
            ExitCode::FAILURE
        }
    }
}
