// SPDX-License-Identifier: GPL-2.0-only OR MIT

//! The binary as a runner uses it: the "listening" line, exit on frontend disconnect and on
//! SIGTERM, `--print-layout`.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agx-model-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts the model and waits for its "listening" line.
fn spawn(dir: &std::path::Path, extra: &[&str]) -> Child {
    let socket = dir.join("agx.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_agx-model"))
        .arg("--socket")
        .arg(&socket)
        .arg("--trace")
        .arg(dir.join("trace"))
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let want = format!("agx-model: listening on {}", socket.display());
    loop {
        let line = lines
            .next()
            .expect("model exited before listening")
            .unwrap();
        if line == want {
            break;
        }
    }
    // Keep draining stderr so the model never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}

fn wait(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("model did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn exits_cleanly_when_the_frontend_disconnects() {
    let dir = scratch("disconnect");
    let mut child = spawn(&dir, &[]);
    let conn = UnixStream::connect(dir.join("agx.sock")).unwrap();
    drop(conn);
    let st = wait(&mut child);
    assert!(st.success(), "{st:?}");
    let trace = std::fs::read_to_string(dir.join("trace")).unwrap();
    assert!(
        trace.starts_with("model soc=t8103 strict=true fault=none"),
        "{trace}"
    );
    assert!(!dir.join("agx.sock").exists());
}

#[test]
fn exits_cleanly_on_sigterm() {
    let dir = scratch("sigterm");
    let mut child = spawn(&dir, &["--soc", "t6022", "--fault", "never-answer"]);
    let st = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let st = wait(&mut child);
    assert!(st.success(), "{st:?}");
    assert!(!dir.join("agx.sock").exists());
}

#[test]
fn prints_the_layout() {
    let out = Command::new(env!("CARGO_BIN_EXE_agx-model"))
        .arg("--print-layout")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("mbox   phys=0x10408000 size=0x4000"),
        "{text}"
    );
}
