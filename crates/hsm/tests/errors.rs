//! What an operator sees when something is wrong: each failure has its own
//! message naming what to fix, and none shows the PIN. Also verification
//! inside the token (`remoteVerification`).
#![cfg(unix)]

mod support;

use std::path::Path;

use sigstore_kms_client::{CallOptions, Error, HashFunc};

/// The plugin's own error message, or a panic naming what happened instead.
fn plugin_error<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result {
        Err(Error::Plugin { message, .. }) => {
            assert!(
                !message.contains(support::USER_PIN),
                "the message shows the PIN: {message}"
            );
            message
        }
        other => panic!("expected the plugin's error, got {other:?}"),
    }
}

fn options() -> CallOptions {
    CallOptions::new()
}

fn assert_contains(message: &str, expected: &str) {
    assert!(
        message.contains(expected),
        "{expected:?} is not in: {message}"
    );
}

#[test]
fn wrong_pin() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("err-wrong-pin");
    let reference = token.reference("key", "");
    support::client(&reference)
        .create_key("ecdsa-p256-sha256", &options())
        .expect("the key is created with the right PIN");
    let wrong = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wrong.path(), "999999\n").unwrap();
    let reference = format!(
        "hsm://token={};object=key?module-path={}&pin-source=file:{}",
        token.label,
        token.module.display(),
        wrong.path().display()
    );
    let message = plugin_error(support::client(&reference).public_key(&options()));
    assert_contains(&message, "wrong PIN");
    assert_contains(&message, "err-wrong-pin");
    assert_contains(&message, "pin-source file");
    assert!(!message.contains("999999"), "{message}");
}

#[test]
fn wrong_token_lists_the_tokens_seen() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("err-seen");
    let reference = format!(
        "hsm://token=no-such-token;object=key?module-path={}&pin-source=file:{}",
        token.module.display(),
        token.pin_file.display()
    );
    let message = plugin_error(support::client(&reference).public_key(&options()));
    assert_contains(&message, "token not found");
    assert_contains(&message, "no-such-token");
    assert_contains(&message, "\"err-seen\"");
}

#[test]
fn missing_module() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("err-module");
    let reference = format!(
        "hsm://token={};object=key?module-path=/nonexistent/libpkcs11.so&pin-source=file:{}",
        token.label,
        token.pin_file.display()
    );
    let message = plugin_error(support::client(&reference).public_key(&options()));
    assert_contains(&message, "PKCS#11 module not found");
    assert_contains(&message, "/nonexistent/libpkcs11.so");

    // A file that is not a shared library.
    let reference = format!(
        "hsm://token={};object=key?module-path={}",
        token.label,
        token.pin_file.display()
    );
    let message = plugin_error(support::client(&reference).public_key(&options()));
    assert_contains(&message, "cannot use");
    assert_contains(&message, "as a PKCS#11 module");
}

#[test]
fn object_not_found() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("err-object");
    let client = support::client(&token.reference("never-created", ""));
    let message = plugin_error(client.public_key(&options()));
    assert_contains(&message, "object not found");
    assert_contains(&message, "never-created");
    let message = plugin_error(client.sign_digest(&[1; 32], HashFunc::SHA256, &options()));
    assert_contains(&message, "object not found");
}

#[test]
fn pin_must_be_given_and_never_in_the_reference() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("err-no-pin");
    let reference = format!(
        "hsm://token={};object=key?module-path={}",
        token.label,
        token.module.display()
    );
    if std::env::var_os("SIGSTORE_KMS_HSM_PIN").is_none() {
        let message = plugin_error(support::client(&reference).public_key(&options()));
        assert_contains(&message, "requires a PIN");
        assert_contains(&message, "SIGSTORE_KMS_HSM_PIN");
    }
    let in_argv = format!("{reference}&pin-value={}", support::USER_PIN);
    let message = plugin_error(support::client(&in_argv).public_key(&options()));
    assert_contains(&message, "pin-value is refused");
}

#[test]
fn an_existing_key_of_another_algorithm_is_an_error() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("err-mismatch");
    let client = support::client(&token.reference("key", ""));
    let created = client.create_key("ecdsa-p256-sha256", &options()).unwrap();
    let message = plugin_error(client.create_key("rsa-pkcs1v15-2048-sha256", &options()));
    assert_contains(&message, "exists as ecdsa-p256-sha256");
    let message = plugin_error(client.create_key("rsa-2048", &options()));
    assert_contains(&message, "unsupported algorithm");
    // The key is untouched.
    assert_eq!(client.public_key(&options()).unwrap(), created);
    // A reference that says what the key is must be right.
    let says_rsa = support::client(&token.reference("key", "&algorithm=rsa-pkcs1v15-3072-sha256"));
    let message = plugin_error(says_rsa.public_key(&options()));
    assert_contains(&message, "exists as ecdsa-p256-sha256");
}

#[test]
fn remote_verification_inside_the_token() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("remote-verify");
    for (object, algorithm) in [
        ("ec", "ecdsa-p384-sha384"),
        ("rsa", "rsa-pkcs1v15-2048-sha256"),
    ] {
        let reference = token.reference(object, "");
        support::client(&reference)
            .create_key(algorithm, &options())
            .unwrap();
        for hash in [HashFunc::SHA256, HashFunc::SHA512] {
            let remote = support::client_with(&reference, hash, true);
            let message: &[u8] = b"verified by the token";
            let signature = remote.sign_message(message, &options()).unwrap();
            remote
                .verify_signature(&signature, message, &options())
                .unwrap_or_else(|err| panic!("{algorithm} {hash}: {err}"));
            let error = plugin_error(remote.verify_signature(
                &signature,
                &b"verified by the token!"[..],
                &options(),
            ));
            assert_contains(&error, "invalid signature");
            let error = plugin_error(remote.verify_signature(b"junk", message, &options()));
            assert_contains(&error, "invalid signature");
        }
    }
}

/// A reference to `key` in `token` through `module`, with the PIN read
/// from `pin_file`.
fn reference_with(token: &support::Token, module: &Path, pin_file: &Path) -> String {
    format!(
        "hsm://token={};object=key?module-path={}&pin-source=file:{}",
        token.label,
        module.display(),
        pin_file.display()
    )
}

/// A reference to `key` in `token` with the PIN read from `pin_file`.
fn with_pin_file(token: &support::Token, pin_file: &Path) -> String {
    reference_with(token, &token.module, pin_file)
}

#[test]
fn pin_file_open_to_group_or_others_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("err-pin-mode");
    support::client(&token.reference("key", ""))
        .create_key("ecdsa-p256-sha256", &options())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pin_file = dir.path().join("pin");
    support::write_private(&pin_file, format!("{}\n", support::USER_PIN).as_bytes());
    let client = support::client(&with_pin_file(&token, &pin_file));
    for mode in [0o644, 0o640, 0o604, 0o620, 0o602] {
        std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(mode)).unwrap();
        let message = plugin_error(client.public_key(&options()));
        assert_contains(&message, "pin-source");
        assert_contains(&message, &format!("mode {mode:o}"));
        assert_contains(&message, &format!("chmod 600 {}", pin_file.display()));
    }
    for mode in [0o600, 0o400] {
        std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(mode)).unwrap();
        client
            .public_key(&options())
            .unwrap_or_else(|err| panic!("mode {mode:o}: {err}"));
    }
}

#[test]
fn oversized_pin_file_is_refused_unread() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("err-pin-size");
    let dir = tempfile::tempdir().unwrap();
    let pin_file = dir.path().join("pin");
    support::write_private(&pin_file, b"");
    // Sparse: 200 MB that take no disk space.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&pin_file)
        .unwrap()
        .set_len(200_000_000)
        .unwrap();
    let message =
        plugin_error(support::client(&with_pin_file(&token, &pin_file)).public_key(&options()));
    assert_contains(&message, "pin-source");
    assert_contains(&message, "larger than");
    assert_contains(&message, &pin_file.display().to_string());
}

#[test]
fn module_outside_the_allowlist_is_refused_before_loading() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("err-allowlist");
    let reference = token.reference("key", "");
    let dir = tempfile::tempdir().unwrap();
    // A file that is no library: loading it would fail with "cannot use".
    let stranger = dir.path().join("stranger.so");
    std::fs::write(&stranger, b"not a library").unwrap();
    let stranger_ref = reference_with(&token, &stranger, &token.pin_file);
    // The module reached through a link: the list holds canonical paths.
    let link = dir.path().join("softhsm-link.so");
    std::os::unix::fs::symlink(&token.module, &link).unwrap();
    let via_link = reference_with(&token, &link, &token.pin_file);
    let create = || serde_json::json!({"algorithm": "ecdsa-p256-sha256"});
    let allowlist = std::env::join_paths([
        dir.path().join("elsewhere.so"),
        token.module.canonicalize().unwrap(),
    ])
    .unwrap();
    let env = [("SIGSTORE_KMS_HSM_MODULE_ALLOWLIST", allowlist.as_os_str())];

    let refused = support::run_plugin(&stranger_ref, "createKey", create(), &env);
    let message = refused["errorMessage"].as_str().unwrap_or_default();
    assert_contains(message, "not in SIGSTORE_KMS_HSM_MODULE_ALLOWLIST");
    assert_contains(message, &stranger.display().to_string());
    assert!(
        !message.contains("cannot use"),
        "the module was loaded: {message}"
    );

    for allowed in [&reference, &via_link] {
        let created = support::run_plugin(allowed, "createKey", create(), &env);
        assert!(
            created["createKey"]["publicKeyPEM"].is_string(),
            "{allowed}: {created}"
        );
    }
    // Through the environment variable too.
    let module_env = [
        ("SIGSTORE_KMS_HSM_MODULE_ALLOWLIST", allowlist.as_os_str()),
        ("SIGSTORE_KMS_HSM_MODULE", stranger.as_os_str()),
    ];
    let bare = format!(
        "hsm://token={};object=key?pin-source=file:{}",
        token.label,
        token.pin_file.display()
    );
    let refused = support::run_plugin(
        &bare,
        "publicKey",
        serde_json::json!({"publicKeyOptions": {"rpcOptions": {}}}),
        &module_env,
    );
    let message = refused["errorMessage"].as_str().unwrap_or_default();
    assert_contains(message, "not in SIGSTORE_KMS_HSM_MODULE_ALLOWLIST");
}
