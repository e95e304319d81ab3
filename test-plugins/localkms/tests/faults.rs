//! SIGSTORE_KMS_LOCALKMS_FAIL makes the plugin fail on purpose, so that
//! hosts can test their error paths with a real process.

mod support;

use sigstore_kms_protocol::{
    DefaultAlgorithmArgs, HashFunc, InitOptions, MethodArgs, MethodName, PluginArgs,
};
use support::{run_json, sign_args};

fn json(method: MethodArgs) -> String {
    PluginArgs::new(InitOptions::new("key.pem", HashFunc::SHA256), method)
        .to_json()
        .unwrap()
}

fn default_algorithm() -> String {
    json(MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs::new()))
}

#[test]
fn error_and_panic_become_error_replies() {
    let dir = tempfile::tempdir().unwrap();
    let call = run_json(
        dir.path(),
        &default_algorithm(),
        b"",
        &[("SIGSTORE_KMS_LOCALKMS_FAIL", "error")],
    );
    assert_eq!(
        call.error(MethodName::DefaultAlgorithm),
        "injected failure in defaultAlgorithm (SIGSTORE_KMS_LOCALKMS_FAIL)"
    );
    let call = run_json(
        dir.path(),
        &default_algorithm(),
        b"",
        &[("SIGSTORE_KMS_LOCALKMS_FAIL", "panic")],
    );
    assert_eq!(
        call.error(MethodName::DefaultAlgorithm),
        "the plugin panicked: injected panic in defaultAlgorithm (SIGSTORE_KMS_LOCALKMS_FAIL)"
    );
}

#[test]
fn a_method_scoped_fault_spares_other_methods() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("SIGSTORE_KMS_LOCALKMS_FAIL", "signMessage:error")];
    let call = run_json(dir.path(), &default_algorithm(), b"", &env);
    call.success(MethodName::DefaultAlgorithm);
    support::create_key(dir.path(), "key.pem");
    let call = run_json(dir.path(), &json(sign_args(None, None)), b"m", &env);
    assert!(call
        .error(MethodName::SignMessage)
        .starts_with("injected failure in signMessage"));
}

#[test]
fn stray_stdout_output_does_not_corrupt_the_reply() {
    let dir = tempfile::tempdir().unwrap();
    let call = run_json(
        dir.path(),
        &default_algorithm(),
        b"",
        &[("SIGSTORE_KMS_LOCALKMS_FAIL", "noise")],
    );
    assert_eq!(
        call.stdout(),
        r#"{"defaultAlgorithm":{"defaultAlgorithm":"ecdsa-p256-sha256"}}"#
    );
    assert!(call
        .stderr()
        .contains("noise written to stdout by the plugin"));
}

#[test]
fn process_level_faults() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = run_json(
        dir.path(),
        &default_algorithm(),
        b"",
        &[("SIGSTORE_KMS_LOCALKMS_FAIL", "garbage")],
    );
    assert_eq!(garbage.stdout(), "this is not JSON\n");
    assert_eq!(garbage.output.status.code(), Some(1));
    let empty = run_json(
        dir.path(),
        &default_algorithm(),
        b"",
        &[("SIGSTORE_KMS_LOCALKMS_FAIL", "empty")],
    );
    assert!(empty.output.stdout.is_empty());
    assert_eq!(empty.output.status.code(), Some(1));
    let aborted = run_json(
        dir.path(),
        &default_algorithm(),
        b"",
        &[("SIGSTORE_KMS_LOCALKMS_FAIL", "abort")],
    );
    assert!(aborted.output.stdout.is_empty());
    assert!(!aborted.output.status.success());
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(aborted.output.status.signal(), Some(6), "SIGABRT");
    }
}

#[test]
fn an_unknown_mode_is_an_error_not_silence() {
    let dir = tempfile::tempdir().unwrap();
    let call = run_json(
        dir.path(),
        &default_algorithm(),
        b"",
        &[("SIGSTORE_KMS_LOCALKMS_FAIL", "explode")],
    );
    assert!(call
        .error(MethodName::DefaultAlgorithm)
        .starts_with("SIGSTORE_KMS_LOCALKMS_FAIL: unknown mode \"explode\""));
}
