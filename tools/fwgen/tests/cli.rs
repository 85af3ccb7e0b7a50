//! End-to-end tests of the `fwgen` binary on the real `firmware-defs/`:
//! the check summary, failure on a changed fact, the 12.3 -> 13.5 diff, and the pair list.

use std::path::{Path, PathBuf};
use std::process::Command;

fn defs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../firmware-defs")
}

fn fwgen(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fwgen"))
        .args(args)
        .output()
        .expect("run fwgen");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn summary_numbers(line: &str) -> Vec<u64> {
    line.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

#[test]
fn check_passes_and_covers_every_struct_on_every_variant() {
    let dir = defs_dir();
    let (ok, stdout, stderr) = fwgen(&["check", dir.to_str().unwrap()]);
    assert!(ok, "{stdout}{stderr}");
    let last = stdout.lines().last().unwrap();
    assert!(last.ends_with(" 0 mismatches"), "{last}");
    let n = summary_numbers(last);
    let (s, v, l, f) = (n[0], n[1], n[2], n[3]);
    assert_eq!(v, 5);
    assert!(l <= s * v && l > 0);
    assert!(f >= s * v, "facts {f} < structs x variants {}", s * v);
}

fn copy_defs(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(defs_dir()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn changed_size_fails_naming_struct_and_variant() {
    let tmp = std::env::temp_dir().join(format!("fwgen-cli-{}", std::process::id()));
    copy_defs(&tmp);
    let path = tmp.join("initdata.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = text.replacen("g13_v13_5 = 0xbc,", "g13_v13_5 = 0xc0,", 1);
    assert_ne!(text, changed, "InitData size fact not found");
    std::fs::write(&path, changed).unwrap();

    let (ok, stdout, stderr) = fwgen(&["check", tmp.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("variant g13_v13_5: struct InitData: size: expected 0xc0, computed 0xbc"),
        "{stderr}"
    );
    assert!(stderr.contains("jannau/linux:"), "{stderr}");
    assert!(
        stdout.lines().last().unwrap().ends_with(" 1 mismatches"),
        "{stdout}"
    );

    let out = tmp.join("gen.rs");
    let (ok, _, stderr) = fwgen(&[
        "gen",
        "--lang",
        "kernel",
        "--out",
        out.to_str().unwrap(),
        tmp.to_str().unwrap(),
    ]);
    assert!(!ok, "gen must refuse to generate from mismatching data");
    assert!(stderr.contains("struct InitData"), "{stderr}");
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn diff_g13_12_3_to_13_5_lists_the_known_changes() {
    let dir = defs_dir();
    let (ok, stdout, stderr) = fwgen(&["diff", dir.to_str().unwrap(), "g13_v12_3", "g13_v13_5"]);
    assert!(ok, "{stderr}");
    for line in [
        "struct InitData:\n  ~ size 0xb4 -> 0xbc\n",
        "  + ver_info @ 0x0: [u16; 0x4]\n",
        "  > unk_buf moved 0x0 -> 0x8\n",
        "struct RunVertex:\n  ~ size 0x5e0 -> 0x608\n",
        "  + counter @ 0x4: U64\n",
        "struct Notifier:\n  ~ size 0xa8 -> 0xb0\n  + unk_buf @ 0xa8: [u8; 0x8]\n",
        "struct QueueInfo:\n  ~ size 0xb0 -> 0xb8\n",
        "  + unk_84_0 @ 0x84: u32\n",
        "struct AuxFBInfo:\n  ~ size 0x10 -> 0x18\n  + unk3 @ 0x10: U64\n",
        "struct Globals:\n  ~ size 0x11d40 -> 0x12394\n",
        "  > pending_submissions moved 0x8904 -> 0x8974\n",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
    assert!(
        !stdout.contains("struct UatLevelInfo"),
        "unchanged struct listed"
    );
}

#[test]
fn gen_and_docs_write_files() {
    let dir = defs_dir();
    let tmp = std::env::temp_dir().join(format!("fwgen-out-{}", std::process::id()));
    let model = tmp.join("model.rs");
    let (ok, _, stderr) = fwgen(&[
        "gen",
        "--lang",
        "model",
        "--out",
        model.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let text = std::fs::read_to_string(&model).unwrap();
    for m in [
        "g13_v12_3",
        "g14_v12_4",
        "g13_v13_5",
        "g14_v13_5",
        "g14x_v13_5",
    ] {
        assert!(text.contains(&format!("pub mod {m} {{")), "{m}");
    }
    let docs = tmp.join("docs");
    let (ok, _, stderr) = fwgen(&[
        "docs",
        "--out",
        docs.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let md = std::fs::read_to_string(docs.join("g14x_v13_5.md")).unwrap();
    assert!(
        md.contains("### RunVertex\n\nSize 0x8f4"),
        "docs table missing"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn pairs_lists_the_thirteen_shipped_soc_firmware_pairs() {
    let dir = defs_dir();
    let (ok, stdout, stderr) = fwgen(&["pairs", dir.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let pairs: Vec<&str> = stdout.lines().collect();
    assert_eq!(pairs.len(), 13, "{stdout}");
    for want in [
        "t8103 12.3",
        "t8103 13.5",
        "t6002 12.3",
        "t8112 12.4",
        "t8112 13.5",
        "t6022 13.5",
    ] {
        assert!(pairs.contains(&want), "{want} missing from {stdout}");
    }
    // The M2 Pro/Max/Ultra never ran 12.x firmware; the M1 family never ran 12.4.
    assert!(!pairs
        .iter()
        .any(|p| p.starts_with("t602") && p.ends_with(" 12.4")));
    assert!(!pairs
        .iter()
        .any(|p| p.starts_with("t602") && p.contains(" 12.")));
    assert!(!pairs.contains(&"t8103 12.4"));
}
