//! Black-box tests of the `sigstore-kms` binary with the localkms plugin,
//! and the fake plugin of `test-plugins/fakes` for hostile ones. They run on
//! every OS; the cross-checks with OpenSSL skip (and say so) where it is not
//! on PATH.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use p256::pkcs8::EncodePublicKey as _;
use sigstore_kms_test_fakes::Steps;

const BLOB: &[u8] = b"release artifact contents\n";

fn cli() -> PathBuf {
    // Absolute for the OS the test runs on: a test cross-built for Windows
    // and run under Wine gets a Unix path from cargo, which Windows reads
    // as relative to the current drive (the one of the temporary
    // directories, not of the build) once a command runs elsewhere.
    std::path::absolute(env!("CARGO_BIN_EXE_sigstore-kms")).unwrap()
}

fn localkms_file_name() -> String {
    format!("sigstore-kms-localkms{}", std::env::consts::EXE_SUFFIX)
}

/// `sigstore-kms-localkms`, built next to this binary by `cargo build` (or
/// by `cargo test --workspace`).
fn plugin_dir() -> PathBuf {
    let dir = cli().parent().unwrap().to_owned();
    assert!(
        dir.join(localkms_file_name()).is_file(),
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
        self.run_with_path(args, stdin, search_path())
    }

    fn run_with_path(&self, args: &[&str], stdin: &[u8], path: OsString) -> Output {
        let mut child = Command::new(cli())
            .args(args)
            .current_dir(self.dir.path())
            .env("PATH", path)
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

    /// `verify-blob` of blob.txt with `key` (a key reference or a PEM file).
    fn verify(&self, key: &str, signature: &str) -> Output {
        self.run(&[
            "verify-blob",
            "--key",
            key,
            "--signature",
            signature,
            "blob.txt",
        ])
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
        let out = ws.verify(&key, "blob.sig");
        assert_success(&out);
        assert!(stderr(&out).contains("Verified OK"), "{}", stderr(&out));
        // The base64 text itself is accepted too.
        let inline = ws.verify(&key, &signature);
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
        let out = ws.verify(&key, "blob.sig");
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
        let out = ws.verify(&key, "openssl.der");
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
    // SHA-256 for every key type, as stock cosign signs and verifies.
    for (name, genpkey, digest) in [
        (
            "p384",
            "-algorithm EC -pkeyopt ec_paramgen_curve:P-384",
            "-sha256",
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
        let out = ws.verify(&pubkey, &sig);
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
    // A P-384 signature over SHA-384 (as sigstore-kms made them before):
    // refused by default, with the flag that accepts it named.
    sh("$OPENSSL dgst -sha384 -sign p384.key -out p384-sha384.sig blob.txt");
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify-blob",
            "--key",
            "p384.pub",
            "--signature",
            "p384-sha384.sig",
        ];
        args.extend(extra);
        args.push("blob.txt");
        ws.run(&args)
    };
    assert_exit(
        &verify(&[]),
        1,
        "does not verify over the blob's SHA-256 digest, but it does over its SHA-384 digest; \
         pass --signature-digest-algorithm sha384",
    );
    assert_success(&verify(&["--signature-digest-algorithm", "sha384"]));
    assert_exit(
        &verify(&["--signature-digest-algorithm", "sha512"]),
        1,
        "pass --signature-digest-algorithm sha384",
    );
    sh("$OPENSSL genpkey -algorithm ed25519 -out ed.key
        $OPENSSL pkey -in ed.key -pubout -out ed.pub");
    std::fs::write(ws.path("ed.sig"), STANDARD.encode([1u8; 64])).unwrap();
    let out = ws.verify("ed.pub", "ed.sig");
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
    let missing_pub = ws.verify("missing.pub", &ws.sign());
    assert_exit(&missing_pub, 1, "missing.pub");
}

#[test]
fn timeout_is_the_deadline_of_each_call() {
    let ws = Workspace::new();
    ws.generate();
    let out = ws.run(&["public-key", "--key", &ws.key_ref(), "--timeout", "1.5s"]);
    assert_success(&out);
}

/// `sign-blob --timeout 2s` of an 8 MB blob to a plugin whose child
/// inherits its stdin and never reads it, while the plugin waits: the
/// command fails at the deadline (plus the exit grace), not when the child
/// would have ended, and leaves neither running.
#[test]
fn sign_blob_to_a_plugin_that_never_reads_stdin_ends_at_its_timeout() {
    let ws = Workspace::new();
    std::fs::write(ws.path("big.bin"), vec![0x5a; 8 << 20]).unwrap();
    let plugins = tempfile::tempdir().unwrap();
    sigstore_kms_test_fakes::install_fake(plugins.path(), "sigstore-kms-stuck");
    let (plugin_pid, child_pid) = (ws.path("plugin.pid"), ws.path("child.pid"));
    let steps = Steps::new().pid(&plugin_pid).spawn(&child_pid).sleep(60);
    let key = format!("stuck://{}", steps.key_ref());
    let path = std::env::join_paths([plugins.path().to_owned(), plugin_dir()]).unwrap();
    let start = Instant::now();
    let out = ws.run_with_path(
        &["sign-blob", "--key", &key, "--timeout", "2s", "big.bin"],
        b"",
        path,
    );
    let elapsed = start.elapsed();
    assert_exit(&out, 1, "deadline");
    // 2 s, the exit grace, and slack for a busy machine: far less than the
    // 60 s the plugin and its child would run.
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    for pid_file in [plugin_pid, child_pid] {
        let pid = sigstore_kms_test_fakes::read_pid(&pid_file);
        assert!(
            sigstore_kms_test_fakes::wait_gone(pid),
            "{} {pid} survived",
            pid_file.display()
        );
    }
}

/// The blob is the command's stdin, held open and never written to: the
/// command fails at its deadline, whatever the plugin does meanwhile (here
/// it reads its own stdin to the end, which never comes).
#[test]
fn stdin_that_never_ends_does_not_hold_sign_blob_past_its_timeout() {
    let ws = Workspace::new();
    let plugins = tempfile::tempdir().unwrap();
    sigstore_kms_test_fakes::install_fake(plugins.path(), "sigstore-kms-test");
    let steps = Steps::new()
        .when("signMessage", Steps::new().read_stdin(None))
        .when("verifySignature", Steps::new().read_stdin(None))
        .reply(&public_key_answer());
    let key = format!("test://{}", steps.key_ref());
    let path = std::env::join_paths([plugins.path().to_owned(), plugin_dir()]).unwrap();
    // A bundle records the digest, so `--bundle` hashes the blob before it
    // calls the plugin: that wait is bounded by the deadline too.
    let cases = [
        ("sign-blob", &[][..], "deadline exceeded"),
        (
            "verify-blob",
            &["--signature", "MAY="][..],
            "deadline exceeded",
        ),
        (
            "sign-blob",
            &["--bundle", "b.json"][..],
            "the input did not end before the deadline",
        ),
    ];
    for (command, extra, expected) in cases {
        let mut args = vec![command, "--key", &key];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--timeout", "2s", "-"]);
        let mut child = Command::new(cli())
            .args(&args)
            .current_dir(ws.dir.path())
            .env("PATH", &path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Open, and never written to nor closed (until 30 s from now, so
        // that a command that waits for it ends at last).
        let stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(30));
            drop(stdin);
        });
        let start = Instant::now();
        let out = child.wait_with_output().unwrap();
        let elapsed = start.elapsed();
        assert!(elapsed < Duration::from_secs(10), "{args:?}: {elapsed:?}");
        assert_exit(&out, 1, expected);
    }
    assert!(!ws.dir.path().join("b.json").exists());
}

/// The answer to publicKey of a plugin holding a P-256 key.
fn public_key_answer() -> String {
    let pem = p256::ecdsa::SigningKey::from_slice(&[7u8; 32])
        .unwrap()
        .verifying_key()
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .unwrap();
    format!(
        r#"{{"publicKey":{{"publicKeyPEM":"{}"}}}}"#,
        STANDARD.encode(pem)
    )
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
    let expected = plugin_dir().join(localkms_file_name());
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
        // Off Linux, checks that need /proc are counted as skipped after.
        stdout.lines().last().unwrap().contains(" passed, 0 failed"),
        "{stdout}"
    );
}

#[test]
fn a_signature_file_of_200_mb_is_refused_with_a_clear_error() {
    let ws = Workspace::new();
    ws.generate();
    // Sparse: 200 MB on paper, nothing on disk.
    std::fs::File::create(ws.path("huge.sig"))
        .unwrap()
        .set_len(200_000_000)
        .unwrap();
    for key in [ws.key_ref(), "cosign.pub".to_owned()] {
        let out = ws.verify(&key, "huge.sig");
        assert_exit(
            &out,
            1,
            "Error: invalid signature: huge.sig is larger than 65536 bytes, far more than any signature",
        );
    }
}

/// Escape sequences a hostile plugin would send to the user's terminal:
/// retitle the window, clear the screen, move home, rewrite the line, a
/// C1 CSI, a right-to-left override.
const HOSTILE_JSON: &str = r"\u001b]0;pwned\u0007\u001b[2J\u001b[H\rVerified OK\u009b31m\u202e";
const HOSTILE_SHOWN: &str = r"\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[H\rVerified OK\u{9b}31m\u{202e}";

/// `sigstore-kms-evil` in a directory of its own: it offers algorithms
/// named with escape sequences, writes more on stderr (which `plugin check`
/// captures) and crashes in createKey, and answers every other method with
/// an `errorMessage` full of them. Its key reference is what tells the fake
/// plugin to do so.
fn evil_plugin_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    sigstore_kms_test_fakes::install_fake(dir.path(), "sigstore-kms-evil");
    let hostile = |json: &str| json.replace("HOSTILE", HOSTILE_JSON);
    let refuse = || {
        Steps::new()
            .reply(&hostile(r#"{"errorMessage":"HOSTILE"}"#))
            .exit(1)
    };
    let steps = Steps::new()
        .err("\u{1b}]0;stderr title\u{7}\u{1b}[2J\rfake line\n")
        .when(
            "defaultAlgorithm",
            Steps::new().reply(&hostile(
                r#"{"defaultAlgorithm":{"defaultAlgorithm":"ecdsaHOSTILE"}}"#,
            )),
        )
        .when(
            "supportedAlgorithms",
            Steps::new().reply(&hostile(
                r#"{"supportedAlgorithms":{"supportedAlgorithms":["rsaHOSTILE"]}}"#,
            )),
        )
        .when("createKey", Steps::new().exit(3))
        .when("publicKey", refuse())
        .when("signMessage", refuse())
        .when("verifySignature", refuse());
    (dir, format!("evil://{}", steps.key_ref()))
}

/// What the CLI prints holds no control character but line feeds: the
/// plugin's escape sequences show as text.
fn assert_no_control_characters(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{what} holds a control character: {text:?}"
    );
}

#[test]
fn a_plugins_escape_sequences_never_reach_the_terminal() {
    let ws = Workspace::new();
    let (evil, key) = evil_plugin_dir();
    let path = std::env::join_paths([evil.path().to_owned(), plugin_dir()]).unwrap();
    let signature = STANDARD.encode([0x30, 0x06, 2, 1, 1, 2, 1, 1]);
    for args in [
        &["sign-blob", "--key", &key, "blob.txt"][..],
        &[
            "verify-blob",
            "--key",
            &key,
            "--signature",
            &signature,
            "blob.txt",
        ],
        &["public-key", "--key", &key],
    ] {
        // The plugin's own stderr is passed through, as cosign does; only
        // what the CLI prints is checked here.
        let out = Command::new(cli())
            .args(args)
            .current_dir(ws.dir.path())
            .env("PATH", &path)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let text = stderr(&out);
        let error = text
            .lines()
            .find(|line| line.starts_with("Error: "))
            .unwrap_or_else(|| panic!("{args:?}: no error line in {text:?}"));
        assert_no_control_characters("the error", error.as_bytes());
        assert!(error.contains(HOSTILE_SHOWN), "{args:?}: {error}");
        assert!(!text.contains("\nVerified OK"), "{args:?}: {text:?}");
        assert_no_control_characters("stdout", &out.stdout);
    }
}

#[test]
fn plugin_check_escapes_what_the_plugin_says() {
    let ws = Workspace::new();
    let (evil, key) = evil_plugin_dir();
    let path = std::env::join_paths([evil.path().to_owned(), plugin_dir()]).unwrap();
    let out = ws.run_with_path(&["plugin", "check", &key], b"", path);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_no_control_characters("plugin check's report", &out.stdout);
    assert_no_control_characters("plugin check's errors", &out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines() {
        assert!(
            ["PASS ", "FAIL ", "SKIP "]
                .iter()
                .any(|start| line.starts_with(start))
                || line.contains(" passed, "),
            "a line the plugin made: {line:?} in {stdout}"
        );
    }
    assert!(stdout.contains(HOSTILE_SHOWN), "{stdout}");
    assert!(
        stdout.contains(r"\u{1b}]0;stderr title"),
        "the stderr tail: {stdout}"
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

/// `verify-blob ARGS... blob` in `ws`.
fn verify_blob(ws: &Workspace, args: &[&str], blob: &str) -> Output {
    let mut all = vec!["verify-blob"];
    all.extend(args);
    all.push(blob);
    ws.run(&all)
}

/// `sign-blob --key KEY ARGS... blob.txt` in `ws`, which must succeed.
fn sign_blob(ws: &Workspace, args: &[&str]) {
    let key = ws.key_ref();
    let mut all = vec!["sign-blob", "--key", &key];
    all.extend(args);
    all.push("blob.txt");
    assert_success(&ws.run(&all));
}

#[test]
fn sign_blob_hash_is_sha256_unless_chosen_and_verify_names_the_hash_that_works() {
    let ws = Workspace::new();
    ws.generate();
    let key = ws.key_ref();
    sign_blob(
        &ws,
        &[
            "--signature-digest-algorithm",
            "sha384",
            "--output-signature",
            "sha384.sig",
        ],
    );
    if let Some(openssl) = openssl() {
        let der = STANDARD
            .decode(std::fs::read(ws.path("sha384.sig")).unwrap())
            .unwrap();
        std::fs::write(ws.path("sha384.der"), der).unwrap();
        let verified = Command::new(openssl)
            .args(["dgst", "-sha384", "-verify", "cosign.pub"])
            .args(["-signature", "sha384.der", "blob.txt"])
            .current_dir(ws.dir.path())
            .output()
            .unwrap();
        assert!(
            verified.status.success(),
            "OpenSSL refused the SHA-384 signature"
        );
    }
    for verifier in [key.as_str(), "cosign.pub"] {
        let out = verify_blob(
            &ws,
            &["--key", verifier, "--signature", "sha384.sig"],
            "blob.txt",
        );
        assert_exit(
            &out,
            1,
            "pass --signature-digest-algorithm sha384 to accept it",
        );
        let out = verify_blob(
            &ws,
            &[
                "--key",
                verifier,
                "--signature",
                "sha384.sig",
                "--signature-digest-algorithm",
                "sha384",
            ],
            "blob.txt",
        );
        assert_success(&out);
    }
    // From stdin the plugin's refusal cannot be checked again: the error
    // says which hash was tried and how to try another.
    let out = ws.run_with_stdin(
        &[
            "verify-blob",
            "--key",
            &key,
            "--signature",
            "sha384.sig",
            "-",
        ],
        BLOB,
    );
    assert_exit(
        &out,
        1,
        "checked over the blob's SHA-256 digest; a signature made over another digest \
         verifies with --signature-digest-algorithm sha224, sha384 or sha512",
    );
}

#[test]
fn sign_blob_bundle_is_a_sigstore_bundle_that_verify_blob_checks() {
    use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
    use sha2::Digest as _;
    let ws = Workspace::new();
    ws.generate();
    let key = ws.key_ref();
    sign_blob(
        &ws,
        &["--bundle", "blob.bundle", "--output-signature", "blob.sig"],
    );
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path("blob.bundle")).unwrap()).unwrap();
    let pem = std::fs::read_to_string(ws.path("cosign.pub")).unwrap();
    let der = p256::PublicKey::from_public_key_pem(&pem)
        .unwrap()
        .to_public_key_der()
        .unwrap();
    let signature = std::fs::read_to_string(ws.path("blob.sig")).unwrap();
    assert_eq!(
        bundle,
        serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "publicKey": {"hint": STANDARD.encode(sha2::Sha256::digest(der.as_bytes()))}
            },
            "messageSignature": {
                "messageDigest": {
                    "algorithm": "SHA2_256",
                    "digest": STANDARD.encode(sha2::Sha256::digest(BLOB))
                },
                "signature": signature
            }
        })
    );
    std::fs::write(ws.path("tampered.txt"), b"not the blob\n").unwrap();
    for verifier in [key.as_str(), "cosign.pub"] {
        let args = ["--key", verifier, "--bundle", "blob.bundle"];
        assert_success(&verify_blob(&ws, &args, "blob.txt"));
        assert_exit(
            &verify_blob(&ws, &args, "tampered.txt"),
            1,
            "it is not the blob that was signed",
        );
    }

    // A bundle made over SHA-512 records it, and verifies as recorded.
    sign_blob(
        &ws,
        &[
            "--bundle",
            "sha512.bundle",
            "--signature-digest-algorithm",
            "sha512",
        ],
    );
    let sha512: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path("sha512.bundle")).unwrap()).unwrap();
    assert_eq!(
        sha512["messageSignature"]["messageDigest"]["algorithm"],
        "SHA2_512"
    );
    for verifier in [key.as_str(), "cosign.pub"] {
        let args = ["--key", verifier, "--bundle", "sha512.bundle"];
        assert_success(&verify_blob(&ws, &args, "blob.txt"));
    }

    // A bundle whose signature is over another digest than it records is
    // refused, and the error names the hash the signature is over.
    let mut forged = bundle.clone();
    forged["messageSignature"]["signature"] = sha512["messageSignature"]["signature"].clone();
    std::fs::write(ws.path("forged.bundle"), forged.to_string()).unwrap();
    for verifier in [key.as_str(), "cosign.pub"] {
        let args = ["--key", verifier, "--bundle", "forged.bundle"];
        assert_exit(
            &verify_blob(&ws, &args, "blob.txt"),
            1,
            "pass --signature-digest-algorithm sha512",
        );
    }
    std::fs::write(ws.path("not.bundle"), b"{}").unwrap();
    let args = ["--key", "cosign.pub", "--bundle", "not.bundle"];
    assert_exit(
        &verify_blob(&ws, &args, "blob.txt"),
        1,
        "not a Sigstore bundle",
    );
}

/// A plugin whose signatures are well-formed P-256 signatures of the
/// blob, made by another key than the one its publicKey names: `sign-blob`
/// writes neither the signature nor the bundle, and fails.
#[test]
fn sign_blob_refuses_a_signature_that_does_not_verify_under_the_key() {
    use p256::ecdsa::signature::Signer as _;
    let ws = Workspace::new();
    let plugins = tempfile::tempdir().unwrap();
    sigstore_kms_test_fakes::install_fake(plugins.path(), "sigstore-kms-liar");
    let other_key = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
    let lie: p256::ecdsa::Signature = other_key.sign(BLOB);
    let lie = format!(
        r#"{{"signMessage":{{"signature":"{}"}}}}"#,
        STANDARD.encode(lie.to_der().as_bytes())
    );
    let steps = Steps::new()
        .when("signMessage", Steps::new().read_stdin(None).reply(&lie))
        .when("publicKey", Steps::new().reply(&public_key_answer()));
    let key = format!("liar://{}", steps.key_ref());
    let path = std::env::join_paths([plugins.path().to_owned(), plugin_dir()]).unwrap();
    for output in [
        &["--output-signature", "blob.sig"][..],
        &["--bundle", "blob.json"],
    ] {
        let mut args = vec!["sign-blob", "--key", &key];
        args.extend_from_slice(output);
        args.push("blob.txt");
        let out = ws.run_with_path(&args, b"", path.clone());
        assert_exit(&out, 1, "does not verify under the key's public key");
        assert!(
            out.stdout.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!ws.path(output[1]).exists(), "{args:?} wrote {}", output[1]);
    }
}
