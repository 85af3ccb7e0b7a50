//! End-to-end tests of the `fwgen` binary on the real `firmware-defs/`:
//! the check summary, failure on a changed fact, the 12.3 -> 13.5 diff (grouped field moves
//! and the DeviceControl tag shift), and the pair list.

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

/// The lines of one `struct X:` / `enum X:` section of a diff, header included.
fn section<'a>(diff: &'a str, header: &str) -> Vec<&'a str> {
    let mut lines = diff.lines().skip_while(|l| *l != header);
    let Some(first) = lines.next() else {
        panic!("no {header:?} in\n{diff}");
    };
    std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with(' ')))
        .collect()
}

fn diff_text(a: &str, b: &str) -> String {
    let dir = defs_dir();
    let (ok, stdout, stderr) = fwgen(&["diff", dir.to_str().unwrap(), a, b]);
    assert!(ok, "{stderr}");
    stdout
}

#[test]
fn diff_g13_12_3_to_13_5_groups_moves_under_their_cause() {
    let out = diff_text("g13_v12_3", "g13_v13_5");
    assert!(out.starts_with("--- g13_v12_3\n+++ g13_v13_5\n"), "{out}");
    // One inserted field moves everything after it by its size.
    assert_eq!(
        section(&out, "struct InitData:"),
        [
            "struct InitData:",
            "  ~ size 0xb4 -> 0xbc",
            "  + ver_info @ 0x0: [u16; 0x4]",
            "    +0x8 for the next 16 fields (unk_buf .. unk_b8)",
        ]
    );
    assert_eq!(
        section(&out, "struct RunCompute:"),
        [
            "struct RunCompute:",
            "  ~ size 0x2dc -> 0x31c",
            "  + counter @ 0x4: U64",
            "    +0x8 for the next 19 fields (unk_4 .. unk_2d8)",
            "  + context_store_req @ 0x2e1: U64",
            "  + context_store_compl @ 0x2e9: U64",
            "  + unk_2e9 @ 0x2f1: [u8; 0x14]",
            "  + unk_flag @ 0x305: U32",
            "  + unk_pad @ 0x309: [u8; 0x10]",
        ]
    );
    // A removal moves the rest back; a resized nested struct moves the rest on.
    assert_eq!(
        section(&out, "struct BufferInfo:"),
        [
            "struct BufferInfo:",
            "  ~ size 0xc0 -> 0xbc",
            "  - unk_1c @ 0x1c: u32",
            "    -0x4 for the next 24 fields (page_list .. unk_90)",
        ]
    );
    // Each new delta starts a new group under its own cause; a group of one
    // field keeps its offsets.
    assert_eq!(
        section(&out, "struct DcDestroyContext:"),
        [
            "struct DcDestroyContext:",
            "  - pad_9 @ 0x9: pad<0x3>",
            "    -0x3 for the next 5 fields (unk_c .. ctx_4)",
            "  - pad_17 @ 0x17: pad<0x1>",
            "  - unk_18 @ 0x18: u32",
            "    -0x8 for the next 2 fields (gpu_context .. pad_tail)",
            "  * pad_tail retyped pad<0xc> (0xc bytes) -> pad<0x14> (0x14 bytes)",
        ]
    );
    assert_eq!(
        section(&out, "struct FragJobParameters3:"),
        [
            "struct FragJobParameters3:",
            "  ~ size 0x2a8 -> 0x2b8",
            "  * aux_fb_info retyped AuxFBInfo (0x10 bytes) -> AuxFBInfo (0x18 bytes)",
            "    +0x8 for the next 10 fields (tile_config .. unk_388)",
            "  + unk_390_0 @ 0x2a8: U64",
            "    > isp_zls_pixels moved 0x2a0 -> 0x2b0",
        ]
    );
    for lines in [
        "struct Notifier:\n  ~ size 0xa8 -> 0xb0\n  + unk_buf @ 0xa8: [u8; 0x8]\n",
        "struct AuxFBInfo:\n  ~ size 0x10 -> 0x18\n  + unk3 @ 0x10: U64\n",
        "  + unk_8900_pad2 @ 0x891c: [u8; 0x54]\n    +0x70 for the next 17 fields (unk_8900 .. unk_8978)\n",
    ] {
        assert!(out.contains(lines), "missing {lines:?} in\n{out}");
    }
    assert!(
        !out.contains("struct UatLevelInfo"),
        "unchanged struct listed"
    );
    // No field that moved is listed on its own line when a group covers it.
    assert!(!out.contains("> page_list moved"), "{out}");
}

#[test]
fn diff_shows_the_device_control_tag_shift_at_13_3() {
    let out = diff_text("g13_v12_3", "g13_v13_5");
    assert_eq!(
        section(&out, "enum DeviceControlTag:"),
        [
            "enum DeviceControlTag:",
            "  ~ GrowTvbAck 0xd -> 0xe",
            "  ~ RecoverChannel 0xe -> 0xf",
            "  ~ DestroyContext 0x17 -> 0x18",
            "  ~ Initialize 0x19 -> 0x1a",
        ]
    );
    assert_eq!(
        out.matches("\nenum ").count(),
        1,
        "only the tags changed\n{out}"
    );
    assert_eq!(
        out.lines().last(),
        Some("36 of 117 structs and 1 of 9 enums differ between g13_v12_3 and g13_v13_5")
    );
    // Both 13.5 variants are past 13.3: same tags, whatever else differs.
    let out = diff_text("g13_v13_5", "g14_v13_5");
    assert!(!out.contains("enum "), "{out}");
    // The other way round the shift is negative.
    let out = diff_text("g13_v13_5", "g13_v12_3");
    assert!(
        out.contains("enum DeviceControlTag:\n  ~ GrowTvbAck 0xe -> 0xd\n"),
        "{out}"
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
