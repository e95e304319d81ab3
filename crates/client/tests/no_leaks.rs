//! Thousands of calls leave no zombie and no open descriptor behind.
//! Alone in its own test binary, so no other test's processes or files are
//! counted.
#![cfg(target_os = "linux")]

mod common;

use common::{answer, Plugins};
use sigstore_kms_client::{CallOptions, Client, StderrMode};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Processes whose parent is this one, zombies included.
fn children() -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let stat = std::fs::read_to_string(entry.ok()?.path().join("stat")).ok()?;
            let (_, rest) = stat.rsplit_once(')')?;
            let ppid = rest.split_whitespace().nth(1)?;
            (ppid == me).then_some(stat)
        })
        .collect()
}

#[test]
fn thousands_of_calls_leak_no_descriptor_and_no_process() {
    let plugins = Plugins::new();
    let ok = plugins.client(&format!(
        "cat > /dev/null; echo note >&2; {}",
        answer(r#"{"signMessage":{"signature":"MAY="}}"#)
    ));
    let failing = Client::builder()
        .stderr(StderrMode::Discard)
        .with_executable(plugins.script("sigstore-kms-bad", "echo garbage"), "k");
    let options = CallOptions::new();

    // Warm up lazily opened descriptors (e.g. the random source).
    ok.sign_message(&b"warm"[..], &options).unwrap();
    let before = open_fds();
    for i in 0..1200 {
        if i % 4 == 0 {
            failing.default_algorithm(&options).unwrap_err();
        } else {
            ok.sign_message(&b"message"[..], &options).unwrap();
        }
    }
    let after = open_fds();
    assert_eq!(before, after, "descriptors leaked");
    assert_eq!(children(), Vec::<String>::new(), "children left behind");
}
