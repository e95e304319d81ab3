//! Black-box tests of the `sigstore-kms` binary with the localkms plugin.
#![cfg(unix)]

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

const BLOB: &[u8] = b"release artifact contents\n";

fn cli() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sigstore-kms"))
}

/// `sigstore-kms-localkms`, built next to this binary by `cargo build` (or
/// by `cargo test --workspace`).
fn plugin_dir() -> PathBuf {
    let dir = cli().parent().unwrap().to_owned();
    assert!(
        dir.join("sigstore-kms-localkms").is_file(),
        "{} lacks sigstore-kms-localkms: run `cargo build -p sigstore-kms-localkms` first",
        dir.display()
    );
    dir
}

fn search_path() -> OsString {
    let mut dirs = vec![plugin_dir()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("blob.txt"), BLOB).unwrap();
        Workspace { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn key_ref(&self) -> String {
        format!("localkms://{}", self.path("key.pem").display())
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, b"")
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new(cli())
            .args(args)
            .current_dir(self.dir.path())
            .env("PATH", search_path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        // Whatever happens, no command ever shows a private key.
        for stream in [&out.stdout, &out.stderr] {
            assert!(
                !String::from_utf8_lossy(stream).contains("PRIVATE KEY"),
                "{args:?} printed a private key"
            );
        }
        out
    }

    fn generate(&self) {
        let out = self.run(&["generate-key-pair", "--kms", &self.key_ref()]);
        assert_success(&out);
    }

    fn sign(&self) -> String {
        let out = self.run(&["sign-blob", "--key", &self.key_ref(), "blob.txt"]);
        assert_success(&out);
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_success(out: &Output) {
    assert!(out.status.success(), "failed: {}", stderr(out));
}

fn assert_exit(out: &Output, code: i32, stderr_contains: &str) {
    assert_eq!(out.status.code(), Some(code), "stderr: {}", stderr(out));
    assert!(
        stderr(out).contains(stderr_contains),
        "stderr lacks {stderr_contains:?}: {}",
        stderr(out)
    );
}

fn openssl() -> Option<PathBuf> {
    let found = Command::new("openssl").arg("version").output().ok()?;
    found.status.success().then(|| PathBuf::from("openssl"))
}

#[test]
fn generate_key_pair_writes_cosign_pub_and_refuses_to_overwrite() {
    let ws = Workspace::new();
    let out = ws.run(&["generate-key-pair", "--kms", &ws.key_ref()]);
    assert_success(&out);
    assert!(stderr(&out).contains("Public key written to cosign.pub"));
    let pem = std::fs::read_to_string(ws.path("cosign.pub")).unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));

    std::fs::write(ws.path("cosign.pub"), "keep me").unwrap();
    let again = ws.run(&["generate-key-pair", "--kms", &ws.key_ref()]);
    assert_exit(&again, 1, "--force");
    assert_eq!(
        std::fs::read_to_string(ws.path("cosign.pub")).unwrap(),
        "keep me"
    );

    let forced = ws.run(&["generate-key-pair", "--kms", &ws.key_ref(), "--force"]);
    assert_success(&forced);
    // The same key: createKey is idempotent.
    assert_eq!(std::fs::read_to_string(ws.path("cosign.pub")).unwrap(), pem);
}

#[test]
fn generate_key_pair_with_prefix_and_algorithm() {
    let ws = Workspace::new();
    let out = ws.run(&[
        "generate-key-pair",
        "--kms",
        &ws.key_ref(),
        "--algorithm",
        "ecdsa-p256-sha256",
        "--output-key-prefix",
        "release",
    ]);
    assert_success(&out);
    assert!(ws.path("release.pub").is_file());
    let bad = ws.run(&[
        "generate-key-pair",
        "--kms",
        &format!("localkms://{}", ws.path("other.pem").display()),
        "--algorithm",
        "rsa-4096",
        "--output-key-prefix",
        "other",
    ]);
    assert_exit(&bad, 1, "rsa-4096");
    assert!(!ws.path("other.pub").exists());
}

#[test]
fn public_key_to_stdout_and_file() {
    let ws = Workspace::new();
    ws.generate();
    let out = ws.run(&["public-key", "--key", &ws.key_ref()]);
    assert_success(&out);
    let pem = std::fs::read(ws.path("cosign.pub")).unwrap();
    assert_eq!(out.stdout, pem);
    let to_file = ws.run(&["public-key", "--key", &ws.key_ref(), "--outfile", "out.pem"]);
    assert_success(&to_file);
    assert_eq!(std::fs::read(ws.path("out.pem")).unwrap(), pem);
}

#[test]
fn sign_blob_then_verify_through_the_plugin_and_with_the_pem() {
    let ws = Workspace::new();
    ws.generate();
    let signature = ws.sign();
    let der = STANDARD
        .decode(&signature)
        .expect("the signature is base64");
    p256::ecdsa::DerSignature::try_from(der.as_slice()).expect("an ASN.1 DER ECDSA signature");
    std::fs::write(ws.path("blob.sig"), &signature).unwrap();

    for key in [ws.key_ref(), "cosign.pub".to_owned()] {
        let out = ws.run(&[
            "verify-blob",
            "--key",
            &key,
            "--signature",
            "blob.sig",
            "blob.txt",
        ]);
        assert_success(&out);
        assert!(stderr(&out).contains("Verified OK"), "{}", stderr(&out));
        // The base64 text itself is accepted too.
        let inline = ws.run(&[
            "verify-blob",
            "--key",
            &key,
            "--signature",
            &signature,
            "blob.txt",
        ]);
        assert_success(&inline);
    }
}

#[test]
fn tampered_blob_fails_both_ways() {
    let ws = Workspace::new();
    ws.generate();
    std::fs::write(ws.path("blob.sig"), ws.sign()).unwrap();
    std::fs::write(
        ws.path("blob.txt"),
        b"release artifact contents, tampered\n",
    )
    .unwrap();
    for key in [ws.key_ref(), "cosign.pub".to_owned()] {
        let out = ws.run(&[
            "verify-blob",
            "--key",
            &key,
            "--signature",
            "blob.sig",
            "blob.txt",
        ]);
        assert_eq!(out.status.code(), Some(1), "{key}: {}", stderr(&out));
        assert!(!stderr(&out).contains("Verified OK"));
    }
}

#[test]
fn sign_from_stdin_and_to_a_signature_file() {
    let ws = Workspace::new();
    ws.generate();
    let out = ws.run_with_stdin(
        &[
            "sign-blob",
            "--key",
            &ws.key_ref(),
            "--output-signature",
            "stdin.sig",
            "-",
        ],
        BLOB,
    );
    assert_success(&out);
    assert!(out.stdout.is_empty());
    let verify = ws.run_with_stdin(
        &[
            "verify-blob",
            "--key",
            "cosign.pub",
            "--signature",
            "stdin.sig",
            "-",
        ],
        BLOB,
    );
    assert_success(&verify);
}

#[test]
fn openssl_and_the_cli_verify_each_others_signatures() {
    let Some(openssl) = openssl() else {
        eprintln!("openssl not found: skipping the cross-check with OpenSSL");
        return;
    };
    let ws = Workspace::new();
    ws.generate();
    std::fs::write(ws.path("cli.der"), STANDARD.decode(ws.sign()).unwrap()).unwrap();
    let verified = Command::new(&openssl)
        .args([
            "dgst",
            "-sha256",
            "-verify",
            "cosign.pub",
            "-signature",
            "cli.der",
            "blob.txt",
        ])
        .current_dir(ws.dir.path())
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );

    let signed = Command::new(&openssl)
        .args([
            "dgst",
            "-sha256",
            "-sign",
            "key.pem",
            "-out",
            "openssl.der",
            "blob.txt",
        ])
        .current_dir(ws.dir.path())
        .output()
        .unwrap();
    assert!(signed.status.success());
    for key in [ws.key_ref(), "cosign.pub".to_owned()] {
        let out = ws.run(&[
            "verify-blob",
            "--key",
            &key,
            "--signature",
            "openssl.der",
            "blob.txt",
        ]);
        assert_success(&out);
    }
}

#[test]
fn local_verification_of_p384_and_rsa_keys_and_a_clear_error_for_ed25519() {
    let Some(openssl) = openssl() else {
        eprintln!("openssl not found: skipping P-384, RSA and Ed25519 keys");
        return;
    };
    let ws = Workspace::new();
    let sh = |script: &str| {
        let out = Command::new("sh")
            .args(["-ec", script])
            .env("OPENSSL", &openssl)
            .current_dir(ws.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for (name, genpkey, digest) in [
        (
            "p384",
            "-algorithm EC -pkeyopt ec_paramgen_curve:P-384",
            "-sha384",
        ),
        (
            "rsa",
            "-algorithm RSA -pkeyopt rsa_keygen_bits:2048",
            "-sha256",
        ),
    ] {
        sh(&format!(
            "$OPENSSL genpkey {genpkey} -out {name}.key
             $OPENSSL pkey -in {name}.key -pubout -out {name}.pub
             $OPENSSL dgst {digest} -sign {name}.key -out {name}.sig blob.txt"
        ));
        let pubkey = format!("{name}.pub");
        let sig = format!("{name}.sig");
        let out = ws.run(&[
            "verify-blob",
            "--key",
            &pubkey,
            "--signature",
            &sig,
            "blob.txt",
        ]);
        assert_success(&out);
        std::fs::write(ws.path("other.txt"), b"something else").unwrap();
        let bad = ws.run(&[
            "verify-blob",
            "--key",
            &pubkey,
            "--signature",
            &sig,
            "other.txt",
        ]);
        assert_exit(&bad, 1, "verification failed");
    }
    sh("$OPENSSL genpkey -algorithm ed25519 -out ed.key
        $OPENSSL pkey -in ed.key -pubout -out ed.pub");
    std::fs::write(ws.path("ed.sig"), STANDARD.encode([1u8; 64])).unwrap();
    let out = ws.run(&[
        "verify-blob",
        "--key",
        "ed.pub",
        "--signature",
        "ed.sig",
        "blob.txt",
    ]);
    assert_exit(&out, 1, "Ed25519");
}

#[test]
fn bad_input_gets_clear_errors_and_exit_codes() {
    let ws = Workspace::new();
    ws.generate();
    let key = ws.key_ref();
    std::fs::write(ws.path("junk.sig"), b"\x01\x02\x03 not a signature").unwrap();
    std::fs::write(ws.path("empty.sig"), b"").unwrap();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["sign-blob", "--key", &key, "missing.txt"],
            1,
            "missing.txt",
        ),
        (
            vec![
                "verify-blob",
                "--key",
                "cosign.pub",
                "--signature",
                "junk.sig",
                "blob.txt",
            ],
            1,
            "verification failed",
        ),
        (
            vec![
                "verify-blob",
                "--key",
                "cosign.pub",
                "--signature",
                "empty.sig",
                "blob.txt",
            ],
            1,
            "empty.sig is empty",
        ),
        (
            vec![
                "verify-blob",
                "--key",
                "cosign.pub",
                "--signature",
                ".",
                "blob.txt",
            ],
            1,
            "cannot read signature",
        ),
        (
            vec!["public-key", "--key", "no-separator"],
            2,
            "NAME://KEYREF",
        ),
        (
            vec!["public-key", "--key", "../evil://x"],
            2,
            "invalid plugin name",
        ),
        (
            vec!["public-key", "--key", "nosuchplugin://x"],
            1,
            "sigstore-kms-nosuchplugin",
        ),
        (
            vec!["public-key", "--key", &key, "--timeout", "soon"],
            2,
            "soon",
        ),
        (
            vec!["public-key", "--key", &key, "--timeout", "0s"],
            2,
            "longer than zero",
        ),
        (vec!["sign-blob", "--key", &key], 2, "BLOB"),
        (vec!["frobnicate"], 2, "frobnicate"),
    ];
    for (args, code, message) in cases {
        let out = ws.run(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
    }
    let missing_pub = ws.run(&[
        "verify-blob",
        "--key",
        "missing.pub",
        "--signature",
        &ws.sign(),
        "blob.txt",
    ]);
    assert_exit(&missing_pub, 1, "missing.pub");
}

#[test]
fn timeout_is_the_deadline_of_each_call() {
    let ws = Workspace::new();
    ws.generate();
    let out = ws.run(&["public-key", "--key", &ws.key_ref(), "--timeout", "1.5s"]);
    assert_success(&out);
}

/// A deadline past the year 9999 cannot be written in `ctxDeadline`: it is
/// sent as the last second of 9999 instead of crashing the command.
#[test]
fn a_timeout_of_thousands_of_years_works() {
    let ws = Workspace::new();
    ws.generate();
    for timeout in ["8000y", "584000000y"] {
        let out = ws.run(&["public-key", "--key", &ws.key_ref(), "--timeout", timeout]);
        assert_success(&out);
        let out = ws.run(&[
            "sign-blob",
            "--key",
            &ws.key_ref(),
            "--timeout",
            timeout,
            "blob.txt",
        ]);
        assert_success(&out);
    }
}

#[test]
fn plugin_list_shows_localkms_with_its_path() {
    let ws = Workspace::new();
    let out = ws.run(&["plugin", "list"]);
    assert_success(&out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let expected = plugin_dir().join("sigstore-kms-localkms");
    assert!(stdout.contains(&expected.display().to_string()), "{stdout}");
}

#[test]
fn plugin_check_runs_the_conformance_suite() {
    let ws = Workspace::new();
    let out = ws.run(&["plugin", "check", &ws.key_ref()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_success(&out);
    assert!(stdout.contains("PASS create-key-idempotent"), "{stdout}");
    assert!(
        stdout.lines().last().unwrap().ends_with(" 0 failed"),
        "{stdout}"
    );
}

#[test]
fn help_shows_examples() {
    let ws = Workspace::new();
    for command in [
        "sign-blob",
        "verify-blob",
        "generate-key-pair",
        "public-key",
    ] {
        let out = ws.run(&[command, "--help"]);
        assert_success(&out);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("Examples:") && text.contains("--timeout"),
            "{command}: {text}"
        );
    }
}
