//! `end_plugins`, for a host that is itself interrupted. Alone in its own
//! test binary: once it was called, no plugin starts in the process.
// Signals and process groups are Unix things; /proc is Linux's.
#![cfg(target_os = "linux")]

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{read_pid, wait_gone, Plugins, Steps, SIGN_OK};
use sigstore_kms_client::{end_plugins, CallOptions, Client, Error, StderrMode};

fn plugin(plugins: &Plugins, name: &str, body: &str) -> Client {
    Client::builder()
        .stderr(StderrMode::CAPTURE_TAIL)
        .with_executable(
            plugins.script(&format!("sigstore-kms-{name}"), body),
            common::KEY_REF,
        )
}

#[test]
fn end_plugins_ends_running_calls_with_all_they_started_and_refuses_new_ones() {
    let plugins = Plugins::new();
    let dir = plugins.dir.path().display().to_string();
    // Ends on SIGTERM, leaving a child that ignores it and holds no pipe.
    let quitter = plugin(
        &plugins,
        "quitter",
        &format!(
            "(trap '' TERM; exec sleep 60) > /dev/null 2>&1 & echo $! > '{dir}/child.pid'; \
         echo $$ > '{dir}/quitter.pid'; wait"
        ),
    );
    // Ignores SIGTERM.
    let stubborn = plugin(
        &plugins,
        "stubborn",
        &format!("trap '' TERM; echo $$ > '{dir}/stubborn.pid'; sleep 60"),
    );
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
    end_plugins(libc::SIGTERM, Duration::from_millis(500));
    let ending = start.elapsed();
    let gone = pids.map(wait_gone);
    for pid in pids {
        // SAFETY: kill(2) takes no pointers.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    assert_eq!(gone, [true; 3], "{pids:?} left running");
    assert!(ending < Duration::from_secs(5), "{ending:?}");
    for call in calls {
        let (result, elapsed) = call.join().unwrap();
        match result {
            Err(Error::Interrupted { signal, .. }) => assert_eq!(signal, libc::SIGTERM),
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
