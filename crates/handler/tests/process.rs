//! Runs this test binary as a plugin process and checks what a host sees:
//! exactly one JSON reply on stdout, diagnostics on stderr, the exit status.
//!
//! A harness-less test: started with `PLUGIN_ENV` set it *is* the plugin
//! (`sigstore_kms_handler::run`), otherwise it drives copies of itself.

mod support;

use std::io::Write;
use std::panic;
use std::process::{Command, Output, Stdio};

use sha2::Digest as _;
use sigstore_kms_protocol::{
    DefaultAlgorithmArgs, MessageOptions, MethodArgs, MethodName, MethodResp, PluginResp,
    PublicKeyArgs, SignMessageArgs,
};
use support::{args_json, rpc, Toy};

const PLUGIN_ENV: &str = "SIGSTORE_KMS_HANDLER_TEST_AS_PLUGIN";

fn main() {
    if std::env::var_os(PLUGIN_ENV).is_some() {
        sigstore_kms_handler::run(Toy::new)
    }
    let tests: &[(&str, fn())] = &[
        (
            "success_exits_zero_with_one_reply",
            success_exits_zero_with_one_reply,
        ),
        ("stray_output_goes_to_stderr", stray_output_goes_to_stderr),
        (
            "panic_in_method_is_an_error_reply",
            panic_in_method_is_an_error_reply,
        ),
        (
            "panic_in_constructor_is_an_error_reply",
            panic_in_constructor_is_an_error_reply,
        ),
        (
            "constructor_error_keeps_its_cause",
            constructor_error_keeps_its_cause,
        ),
        (
            "missing_argv_is_an_error_reply",
            missing_argv_is_an_error_reply,
        ),
        (
            "wrong_version_is_an_error_reply",
            wrong_version_is_an_error_reply,
        ),
        ("large_message_is_streamed", large_message_is_streamed),
        (
            "error_reply_without_reading_stdin",
            error_reply_without_reading_stdin,
        ),
    ];
    let mut failed = 0;
    for (name, test) in tests {
        match panic::catch_unwind(test) {
            Ok(()) => eprintln!("test {name} ... ok"),
            Err(_) => {
                eprintln!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    eprintln!("{} passed, {failed} failed", tests.len() - failed);
    if failed > 0 {
        std::process::exit(1);
    }
}

fn plugin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(args)
        .env(PLUGIN_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    // A plugin may answer without reading stdin; a broken pipe is fine.
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    output
}

fn call(key_ref: &str, method: MethodArgs, stdin: &[u8]) -> Output {
    plugin(&["v1", &args_json(key_ref, method)], stdin)
}

/// The reply, checked to be the whole of stdout.
fn reply(output: &Output, method: MethodName) -> PluginResp {
    PluginResp::parse(&output.stdout, method).unwrap_or_else(|err| {
        panic!(
            "stdout is not one reply ({err}): {:?}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn error_text(output: &Output, method: MethodName) -> String {
    assert_eq!(output.status.code(), Some(1), "an error exits 1");
    match reply(output, method) {
        PluginResp::Error(message) => message,
        other => panic!("expected an error reply, got {other:?}"),
    }
}

fn success_exits_zero_with_one_reply() {
    let output = call(
        support::NORMAL,
        MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs {}),
        b"",
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        output.stdout,
        br#"{"defaultAlgorithm":{"defaultAlgorithm":"toy-sha"}}"#
    );
}

fn stray_output_goes_to_stderr() {
    let output = call(
        support::NOISY,
        MethodArgs::PublicKey(PublicKeyArgs::new(rpc())),
        b"",
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(matches!(
        reply(&output, MethodName::PublicKey),
        PluginResp::Success(MethodResp::PublicKey(_))
    ));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("noise from println"), "{stderr}");
    assert!(stderr.contains("noise left in the buffer"), "{stderr}");
    assert!(stderr.contains("noise from a child process"), "{stderr}");
}

fn panic_in_method_is_an_error_reply() {
    let output = call(
        support::PANICS,
        MethodArgs::SignMessage(SignMessageArgs::new(rpc(), MessageOptions::default())),
        b"message",
    );
    let message = error_text(&output, MethodName::SignMessage);
    assert_eq!(message, "the plugin panicked: method blew up");
}

fn panic_in_constructor_is_an_error_reply() {
    let output = call(
        support::PANICS_IN_CONSTRUCTOR,
        MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs {}),
        b"",
    );
    let message = error_text(&output, MethodName::DefaultAlgorithm);
    assert_eq!(message, "the plugin panicked: constructor blew up");
}

fn constructor_error_keeps_its_cause() {
    let output = call(
        support::FAILS_IN_CONSTRUCTOR,
        MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs {}),
        b"",
    );
    let message = error_text(&output, MethodName::DefaultAlgorithm);
    assert_eq!(message, "key store not found");
}

fn missing_argv_is_an_error_reply() {
    for args in [&[][..], &["v1"][..]] {
        let output = plugin(args, b"");
        let message = error_text(&output, MethodName::DefaultAlgorithm);
        assert!(message.starts_with("expected to be run as"), "{message}");
    }
}

fn wrong_version_is_an_error_reply() {
    let json = args_json(
        support::NORMAL,
        MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs {}),
    );
    let output = plugin(&["v2", &json], b"");
    let message = error_text(&output, MethodName::DefaultAlgorithm);
    assert_eq!(
        message,
        r#"unsupported protocol version "v2": this plugin speaks "v1""#
    );
}

fn large_message_is_streamed() {
    let message: Vec<u8> = (0..40 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let output = call(
        support::NORMAL,
        MethodArgs::SignMessage(SignMessageArgs::new(rpc(), MessageOptions::default())),
        &message,
    );
    assert_eq!(output.status.code(), Some(0));
    match reply(&output, MethodName::SignMessage) {
        PluginResp::Success(MethodResp::SignMessage(signed)) => {
            assert_eq!(signed.signature, sha2::Sha256::digest(&message).to_vec());
        }
        other => panic!("{other:?}"),
    }
}

fn error_reply_without_reading_stdin() {
    let args = SignMessageArgs::new(
        rpc(),
        MessageOptions {
            digest: Some(vec![1; 5]),
            ..Default::default()
        },
    );
    let output = call(
        support::NORMAL,
        MethodArgs::SignMessage(args),
        &vec![0; 4 * 1024 * 1024],
    );
    let message = error_text(&output, MethodName::SignMessage);
    assert_eq!(
        message,
        "the digest is 5 bytes long, but a SHA-256 digest is 32 bytes"
    );
}
