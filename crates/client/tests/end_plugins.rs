//! `end_plugins`, for a host that is itself interrupted. Alone in its own
//! test binary: once it was called, no plugin starts in the process.

mod common;

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::{read_pid, wait_gone, Plugins, Steps, SIGN_OK};
use sigstore_kms_client::{end_plugins, CallOptions, Client, Error};

/// What the calls report as the signal that ended them.
#[cfg(unix)]
const SIGTERM: i32 = libc::SIGTERM;
/// What the calls report as the signal that ended them (on Windows, only a
/// number that `end_plugins` passes on).
#[cfg(windows)]
const SIGTERM: i32 = 15;

/// Two plugins that wait, the first with a child of its own; each writes
/// its pid (and the first its child's) to `NAME.pid` in `dir`.
///
/// On Unix they are scripts that put the signal to the test: the first ends
/// on SIGTERM, leaving a child that ignores it and holds no pipe; the second
/// ignores SIGTERM, so only the kill after the grace ends it.
#[cfg(unix)]
fn waiting_plugins(plugins: &Plugins, dir: &Path) -> [Client; 2] {
    let dir = dir.display();
    let plugin = |name: &str, body: String| {
        Client::builder()
            .stderr(sigstore_kms_client::StderrMode::CAPTURE_TAIL)
            .with_executable(
                plugins.script(&format!("sigstore-kms-{name}"), &body),
                common::KEY_REF,
            )
    };
    [
        plugin(
            "quitter",
            format!(
                "(trap '' TERM; exec sleep 60) > /dev/null 2>&1 & echo $! > '{dir}/child.pid'; \
                 echo $$ > '{dir}/quitter.pid'; wait"
            ),
        ),
        plugin(
            "stubborn",
            format!("trap '' TERM; echo $$ > '{dir}/stubborn.pid'; sleep 60"),
        ),
    ]
}

/// Windows has no signal to ignore: `end_plugins` terminates each
/// plugin's Job Object, which holds the child too.
#[cfg(windows)]
fn waiting_plugins(plugins: &Plugins, dir: &Path) -> [Client; 2] {
    [
        plugins.client(
            Steps::new()
                .spawn(&dir.join("child.pid"))
                .pid(&dir.join("quitter.pid"))
                .sleep(60),
        ),
        plugins.client(Steps::new().pid(&dir.join("stubborn.pid")).sleep(60)),
    ]
}

/// Kills what a failed test left running.
fn kill(pid: u32) {
    #[cfg(unix)]
    // SAFETY: kill(2) takes no pointers.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    #[cfg(windows)]
    let _ = std::process::Command::new("taskkill")
        .args(["/F", "/PID", &pid.to_string()])
        .output();
}

#[test]
fn end_plugins_ends_running_calls_with_all_they_started_and_refuses_new_ones() {
    let plugins = Plugins::new();
    let [quitter, stubborn] = waiting_plugins(&plugins, plugins.dir.path());
    let calls = [quitter, stubborn].map(|client| {
        thread::spawn(move || {
            let start = Instant::now();
            let result = client.sign_message(&b"m"[..], &CallOptions::new());
            (result, start.elapsed())
        })
    });
    let pids = ["quitter", "child", "stubborn"]
        .map(|name| read_pid(&plugins.path(&format!("{name}.pid"))));

    let start = Instant::now();
    end_plugins(SIGTERM, Duration::from_millis(500));
    let ending = start.elapsed();
    let gone = pids.map(wait_gone);
    for pid in pids {
        kill(pid);
    }
    assert_eq!(gone, [true; 3], "{pids:?} left running");
    assert!(ending < Duration::from_secs(5), "{ending:?}");
    for call in calls {
        let (result, elapsed) = call.join().unwrap();
        match result {
            Err(Error::Interrupted { signal, .. }) => assert_eq!(signal, SIGTERM),
            other => panic!("{other:?}"),
        }
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    }

    let marker = plugins.path("started");
    let later = plugins.client(Steps::new().touch(&marker).reply(SIGN_OK));
    let err = later
        .sign_message(&b"m"[..], &CallOptions::new())
        .unwrap_err();
    assert!(matches!(err, Error::Interrupted { .. }), "{err:?}");
    assert!(!marker.exists(), "a plugin started after end_plugins");
}
