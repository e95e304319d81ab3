//! The conformance suite, the checks cosign and the Go `sigstore` library
//! rely on, passes against the plugin and a SoftHSM2 token for each
//! algorithm. The reference's `algorithm` makes it the default, which is
//! what the suite creates its key with. Each algorithm runs twice: with a
//! fresh module per call, and through `sigstore-kms-hsm agent`.
#![cfg(unix)]

mod support;

use std::time::{Duration, Instant};

use sigstore_kms_conformance::{run, Config};

/// How the plugin reaches the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Direct,
    Agent,
}

fn conformance(algorithm: &str, mode: Mode) {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let label = match mode {
        Mode::Direct => algorithm.to_owned(),
        Mode::Agent => format!("agent-{algorithm}"),
    };
    let token = softhsm.token(&label);
    let reference = token.reference("suite-key", &format!("&algorithm={algorithm}"));
    let mut config = Config::new(reference.clone());
    let agent = (mode == Mode::Agent).then(|| support::agent::Agent::start(&token, &[]));
    config.search_path = Some(match &agent {
        Some(agent) => agent.bin_dir().as_os_str().to_owned(),
        None => support::bin_dir().into_os_string(),
    });
    config.large_message_bytes = 4 << 20;
    config.concurrent_calls = 4;
    config.timeout = Duration::from_secs(120);
    let started = Instant::now();
    let report = run(&config, |result| {
        eprintln!("{algorithm} {mode:?}: {result}")
    })
    .unwrap_or_else(|err| panic!("the suite cannot load {reference}: {err}"));
    eprintln!(
        "{algorithm}: the suite took {:?} ({})",
        started.elapsed(),
        report.summary()
    );
    assert!(report.is_success(), "{algorithm} {mode:?}: {report}");
    if let Some(agent) = agent {
        let log = agent.log();
        assert!(
            log.contains("signMessage") && log.contains("object=\"suite-key\""),
            "the calls did not go through the agent: {log}"
        );
    }
}

#[test]
fn ecdsa_p256_sha256() {
    conformance("ecdsa-p256-sha256", Mode::Direct);
}

#[test]
fn ecdsa_p256_sha256_through_the_agent() {
    conformance("ecdsa-p256-sha256", Mode::Agent);
}

#[test]
fn ecdsa_p384_sha384() {
    conformance("ecdsa-p384-sha384", Mode::Direct);
}

#[test]
fn ecdsa_p384_sha384_through_the_agent() {
    conformance("ecdsa-p384-sha384", Mode::Agent);
}

#[test]
fn rsa_pkcs1v15_2048_sha256() {
    conformance("rsa-pkcs1v15-2048-sha256", Mode::Direct);
}

#[test]
fn rsa_pkcs1v15_2048_sha256_through_the_agent() {
    conformance("rsa-pkcs1v15-2048-sha256", Mode::Agent);
}

#[test]
fn rsa_pkcs1v15_3072_sha256() {
    conformance("rsa-pkcs1v15-3072-sha256", Mode::Direct);
}

#[test]
fn rsa_pkcs1v15_3072_sha256_through_the_agent() {
    conformance("rsa-pkcs1v15-3072-sha256", Mode::Agent);
}

#[test]
fn rsa_pkcs1v15_4096_sha256() {
    conformance("rsa-pkcs1v15-4096-sha256", Mode::Direct);
}

#[test]
fn rsa_pkcs1v15_4096_sha256_through_the_agent() {
    conformance("rsa-pkcs1v15-4096-sha256", Mode::Agent);
}
