//! The host logs each call at debug level (plugin, method, duration,
//! outcome) and nothing a plugin or the caller handed it. One test binary
//! of its own, as the logger is global.
mod common;

use std::sync::Mutex;

use common::{fake_exe, Plugins, Steps};
use sigstore_kms_client::{CallOptions, HashFunc};

static RECORDS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Recorder;

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.target().starts_with("sigstore_kms_client") {
            RECORDS
                .lock()
                .unwrap()
                .push((record.level(), record.args().to_string()));
        }
    }

    fn flush(&self) {}
}

#[test]
fn each_call_is_one_debug_event_without_secrets() {
    log::set_logger(&Recorder).unwrap();
    log::set_max_level(log::LevelFilter::Debug);
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().err("stderr-secret").reply_by_method(&[
        (
            "defaultAlgorithm",
            r#"{"defaultAlgorithm":{"defaultAlgorithm":"ecdsa-p256-sha256"}}"#,
        ),
        ("*", r#"{"errorMessage":"answer-secret"}"#),
    ]));
    client.default_algorithm(&CallOptions::new()).unwrap();
    let options = CallOptions::new().digest(b"digest-secret-0123456789abcdefgh".to_vec());
    client
        .sign_message(&b"message-secret"[..], &options.hash_func(HashFunc::SHA256))
        .unwrap_err();

    let records = RECORDS.lock().unwrap().clone();
    let exe = fake_exe().display().to_string();
    assert_eq!(records.len(), 2, "{records:?}");
    let (level, first) = &records[0];
    assert_eq!(*level, log::Level::Debug);
    assert!(
        first.starts_with(&format!("plugin {exe} defaultAlgorithm: ok after ")),
        "{first}"
    );
    assert!(first.ends_with(" ms"), "{first}");
    let (_, second) = &records[1];
    assert!(
        second.starts_with(&format!("plugin {exe} signMessage: plugin error after ")),
        "{second}"
    );
    for (_, text) in &records {
        assert!(!text.contains("secret"), "{text}");
    }
}
