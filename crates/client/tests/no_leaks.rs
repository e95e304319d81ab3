//! Thousands of calls leave no zombie, no thread and no open descriptor
//! behind. One test, alone in its own test binary, so that no other test's
//! processes, threads or files are counted.
// Linux only: descriptors, threads and children are counted in /proc, and
// the daemon leaves the plugin's session with setsid. That no process
// outlives a call on every OS is checked by the tests in plugins.rs, which
// look each one up by pid.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::{Plugins, Steps, KEY_REF, SIGN_OK};
use sigstore_kms_client::{CallOptions, Client, HashFunc, StderrMode};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn calls_leak_no_descriptor_thread_or_process() {
    thousands_of_calls_leak_no_descriptor_and_no_process();
    a_daemon_holding_the_pipes_leaks_no_descriptor_and_no_thread();
}

fn thousands_of_calls_leak_no_descriptor_and_no_process() {
    let plugins = Plugins::new();
    let ok = plugins.client(Steps::new().read_stdin(None).err("note\n").reply(SIGN_OK));
    let failing = Client::builder()
        .stderr(StderrMode::Discard)
        .with_executable(common::fake_exe(), Steps::new().out("garbage\n").key_ref());
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
    assert_eq!(
        common::children(),
        Vec::<String>::new(),
        "children left behind"
    );
}

/// A plugin that answers and leaves a daemon in a session of its own (out
/// of reach of the process-group kill) holding its stdout and stderr: the
/// call ends after the exit grace, and closes its ends of the pipes.
fn a_daemon_holding_the_pipes_leaks_no_descriptor_and_no_thread() {
    let plugins = Plugins::new();
    let daemons = plugins.path("daemons");
    let exe = plugins.script(
        "sigstore-kms-daemon",
        &format!(
            "setsid sh -c 'echo $$ >> {}; exec sleep 60' & printf '%s' '{SIGN_OK}'; exit 0",
            daemons.display(),
        ),
    );
    let client = Client::builder()
        .stderr(StderrMode::CAPTURE_TAIL)
        .exit_grace(Duration::from_millis(50))
        .with_executable(exe, KEY_REF);
    let options = CallOptions::new();
    let sign_both_ways = || {
        client.sign_message(&b"message"[..], &options).unwrap();
        client
            .sign_digest(&[1; 32], HashFunc::SHA256, &options)
            .unwrap();
    };

    sign_both_ways();
    let before = (open_fds(), threads());
    for _ in 0..20 {
        sign_both_ways();
    }
    let after = (open_fds(), threads());
    for pid in std::fs::read_to_string(&daemons).unwrap().lines() {
        // SAFETY: kill(2) takes no pointers.
        unsafe { libc::kill(pid.parse().unwrap(), libc::SIGKILL) };
    }
    assert_eq!(before.0, after.0, "descriptors leaked");
    assert_eq!(before.1, after.1, "threads leaked");
}
