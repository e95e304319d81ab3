//! `sigstore-kms` generate-key-pair, public-key, sign-blob and verify-blob
//! with keys in a SoftHSM2 token, the module and PIN taken from the
//! environment as an operator would set them, and the signatures checked
//! by OpenSSL against the exported public key.
#![cfg(unix)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

const BLOB: &[u8] = b"release artifact contents\n";

/// `sigstore-kms`, built beside the plugin by `cargo build --workspace`.
fn cli() -> PathBuf {
    let path = support::bin_dir().join("sigstore-kms");
    assert!(
        path.is_file(),
        "{} does not exist: run `cargo build --workspace` first",
        path.display()
    );
    path
}

struct Workspace {
    dir: tempfile::TempDir,
    token: support::Token,
}

impl Workspace {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(cli())
            .args(args)
            .current_dir(self.dir.path())
            .env("PATH", support::search_path())
            .env("SIGSTORE_KMS_HSM_MODULE", &self.token.module)
            .env("SIGSTORE_KMS_HSM_PIN", support::USER_PIN)
            .output()
            .expect("sigstore-kms runs")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_success(out: &Output) {
    assert!(out.status.success(), "failed: {}", stderr(out));
}

/// generate-key-pair (with `--algorithm` unless it is the default),
/// public-key, sign-blob, verify-blob through the plugin and with the PEM,
/// a tampered blob refused, and OpenSSL's verdict on the signature.
fn sign_and_verify(label: &str, algorithm: Option<&str>, openssl_digest: &str) {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let ws = Workspace {
        dir: tempfile::tempdir().unwrap(),
        token: softhsm.token(label),
    };
    std::fs::write(ws.path("blob.txt"), BLOB).unwrap();
    std::fs::write(ws.path("tampered.txt"), b"release artifact contents!\n").unwrap();
    let key = ws.token.bare_reference("release-key");

    let mut generate = vec!["generate-key-pair", "--kms", &key];
    if let Some(algorithm) = algorithm {
        generate.extend(["--algorithm", algorithm]);
    }
    assert_success(&ws.run(&generate));
    let pem = std::fs::read_to_string(ws.path("cosign.pub")).unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");

    let public = ws.run(&["public-key", "--key", &key]);
    assert_success(&public);
    assert_eq!(String::from_utf8_lossy(&public.stdout), pem);

    let signed = ws.run(&["sign-blob", "--key", &key, "blob.txt"]);
    assert_success(&signed);
    let signature = String::from_utf8(signed.stdout).unwrap().trim().to_owned();
    std::fs::write(ws.path("blob.sig"), &signature).unwrap();

    for verify_key in [key.as_str(), "cosign.pub"] {
        let ok = ws.run(&[
            "verify-blob",
            "--key",
            verify_key,
            "--signature",
            "blob.sig",
            "blob.txt",
        ]);
        assert_success(&ok);
        let tampered = ws.run(&[
            "verify-blob",
            "--key",
            verify_key,
            "--signature",
            "blob.sig",
            "tampered.txt",
        ]);
        assert!(
            !tampered.status.success(),
            "a tampered blob verified with {verify_key}"
        );
    }

    let Some(openssl) = support::openssl() else {
        eprintln!("SKIPPED the OpenSSL check: openssl is not installed");
        return;
    };
    let der = STANDARD
        .decode(&signature)
        .expect("the signature is base64");
    std::fs::write(ws.path("blob.sig.der"), der).unwrap();
    for (blob, expected) in [("blob.txt", true), ("tampered.txt", false)] {
        let verdict = openssl_verify(&openssl, ws.dir.path(), openssl_digest, blob);
        assert_eq!(
            verdict.status.success(),
            expected,
            "openssl dgst -verify on {blob}: {}{}",
            String::from_utf8_lossy(&verdict.stdout),
            stderr(&verdict)
        );
    }
}

fn openssl_verify(openssl: &Path, dir: &Path, digest: &str, blob: &str) -> Output {
    Command::new(openssl)
        .args(["dgst", digest, "-verify", "cosign.pub"])
        .args(["-signature", "blob.sig.der", blob])
        .current_dir(dir)
        .output()
        .expect("openssl runs")
}

#[test]
fn ecdsa_p256_by_default() {
    sign_and_verify("cli-p256", None, "-sha256");
}

#[test]
fn ecdsa_p384() {
    // SHA-256, as stock cosign signs and verifies P-384 signatures.
    sign_and_verify("cli-p384", Some("ecdsa-p384-sha384"), "-sha256");
}

#[test]
fn rsa_2048() {
    sign_and_verify("cli-rsa2048", Some("rsa-pkcs1v15-2048-sha256"), "-sha256");
}
