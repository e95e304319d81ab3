//! The conformance suite, the checks cosign and the Go `sigstore` library
//! rely on, passes against the plugin and a SoftHSM2 token for each
//! algorithm. The reference's `algorithm` makes it the default, which is
//! what the suite creates its key with.
#![cfg(unix)]

mod support;

use std::time::{Duration, Instant};

use sigstore_kms_conformance::{run, Config};

fn conformance(algorithm: &str) {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token(algorithm);
    let reference = token.reference("suite-key", &format!("&algorithm={algorithm}"));
    // Concurrent first createKey calls each make a key in this plugin (the
    // suite's create-key-concurrent shows it), so the key is made once
    // before the suite, which then checks it as an existing key.
    support::client(&reference)
        .create_key(algorithm, &sigstore_kms_client::CallOptions::new())
        .unwrap_or_else(|err| panic!("creating {reference}: {err}"));
    let mut config = Config::new(reference.clone());
    config.search_path = Some(support::bin_dir().into_os_string());
    config.large_message_bytes = 4 << 20;
    config.concurrent_calls = 4;
    config.timeout = Duration::from_secs(120);
    let started = Instant::now();
    let report = run(&config, |result| eprintln!("{algorithm}: {result}"))
        .unwrap_or_else(|err| panic!("the suite cannot load {reference}: {err}"));
    eprintln!(
        "{algorithm}: the suite took {:?} ({})",
        started.elapsed(),
        report.summary()
    );
    assert!(report.is_success(), "{algorithm}: {report}");
}

#[test]
fn ecdsa_p256_sha256() {
    conformance("ecdsa-p256-sha256");
}

#[test]
fn ecdsa_p384_sha384() {
    conformance("ecdsa-p384-sha384");
}

#[test]
fn rsa_pkcs1v15_2048_sha256() {
    conformance("rsa-pkcs1v15-2048-sha256");
}

#[test]
fn rsa_pkcs1v15_3072_sha256() {
    conformance("rsa-pkcs1v15-3072-sha256");
}

#[test]
fn rsa_pkcs1v15_4096_sha256() {
    conformance("rsa-pkcs1v15-4096-sha256");
}
