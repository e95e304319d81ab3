//! Running the built plugin as a host does, and checking what it answers
//! with implementations other than its own.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use sigstore_kms_protocol::{
    CreateKeyArgs, HashFunc, InitOptions, MessageOptions, MethodArgs, MethodName, MethodResp,
    PluginArgs, PluginResp, PublicKeyArgs, RpcOptions, SignMessageArgs, VerifySignatureArgs,
};

pub const PLUGIN: &str = env!("CARGO_BIN_EXE_sigstore-kms-localkms");
pub const ALGORITHM: &str = "ecdsa-p256-sha256";

/// The end of the boundary line of every PEM private key block
/// (`PRIVATE KEY`, `EC PRIVATE KEY`, `RSA PRIVATE KEY`, `ENCRYPTED ...`).
/// Error messages may name a label (`"PRIVATE KEY"`), never a boundary.
pub const PRIVATE_KEY_MARKER: &str = "PRIVATE KEY-----";

/// Writes a new key file as its owner keeps it: readable by no one else,
/// or the plugin refuses it.
pub fn write_private(path: &Path, contents: impl AsRef<[u8]>) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::write(path, contents).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // Elsewhere as the SDK creates key files, whose own tests check the
    // access control list it gives them: a file std creates is readable by
    // Everyone under Wine, and takes its directory's entries on Windows.
    #[cfg(not(unix))]
    {
        use sigstore_kms_handler::keyfile::{self, Created};
        assert_eq!(
            keyfile::create_new(path, contents.as_ref()).unwrap(),
            Created::Written
        );
    }
}

/// What a host sees of one call.
pub struct Call {
    pub output: Output,
}

impl Call {
    /// The reply, which must be the whole of stdout.
    pub fn reply(&self, method: MethodName) -> PluginResp {
        PluginResp::parse(&self.output.stdout, method).unwrap_or_else(|err| {
            panic!(
                "stdout is not one reply ({err}): {:?}; stderr: {}",
                String::from_utf8_lossy(&self.output.stdout),
                self.stderr()
            )
        })
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// No reply and no diagnostic, on any path, holds a PEM private key.
    /// Every call of every test goes through this check.
    pub fn assert_no_private_key(&self) {
        for (stream, text) in [("stdout", self.stdout()), ("stderr", self.stderr())] {
            assert!(
                !text.contains(PRIVATE_KEY_MARKER),
                "a PEM private key on the plugin's {stream}: {text}"
            );
        }
    }

    /// The error message; checks the exit status too.
    pub fn error(&self, method: MethodName) -> String {
        match self.reply(method) {
            PluginResp::Error(message) => {
                assert_eq!(self.output.status.code(), Some(1), "an error exits 1");
                message
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// The successful result; checks the exit status too.
    pub fn success(&self, method: MethodName) -> MethodResp {
        match self.reply(method) {
            PluginResp::Success(resp) => {
                assert_eq!(self.output.status.code(), Some(0), "success exits 0");
                resp
            }
            other => panic!("expected success, got {other:?}; stderr: {}", self.stderr()),
        }
    }
}

/// Runs the plugin with `argv[2] = args_json` in `dir`, `stdin` on stdin and
/// `env` added to a clean plugin environment.
pub fn run_json(dir: &Path, args_json: &str, stdin: &[u8], env: &[(&str, &str)]) -> Call {
    run_argv(dir, &["v1", args_json], stdin, env)
}

pub fn run_argv(dir: &Path, argv: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Call {
    let mut command = Command::new(PLUGIN);
    command
        .args(argv)
        .current_dir(dir)
        .env_remove("SIGSTORE_KMS_LOCALKMS_DEBUG")
        .env_remove("SIGSTORE_KMS_LOCALKMS_FAIL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("start the plugin");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    // The plugin may answer without reading stdin; a broken pipe is fine.
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let output = child.wait_with_output().expect("wait for the plugin");
    feeder.join().unwrap();
    let call = Call { output };
    call.assert_no_private_key();
    call
}

pub fn run(dir: &Path, key_ref: &str, method: MethodArgs, stdin: &[u8]) -> Call {
    run_with_hash(dir, key_ref, HashFunc::SHA256, method, stdin)
}

pub fn run_with_hash(
    dir: &Path,
    key_ref: &str,
    hash: HashFunc,
    method: MethodArgs,
    stdin: &[u8],
) -> Call {
    let json = PluginArgs::new(InitOptions::new(key_ref, hash), method)
        .to_json()
        .unwrap();
    run_json(dir, &json, stdin, &[])
}

pub fn create_key(dir: &Path, key_ref: &str) -> String {
    let call = run(
        dir,
        key_ref,
        MethodArgs::CreateKey(sigstore_kms_protocol::CreateKeyArgs::new(ALGORITHM, None)),
        b"",
    );
    match call.success(MethodName::CreateKey) {
        MethodResp::CreateKey(created) => String::from_utf8(created.public_key_pem).unwrap(),
        other => panic!("{other:?}"),
    }
}

/// Every entry under `dir`, recursively, links not followed: what must stay
/// the same when a call fails.
pub fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        out.push(path.clone());
        if metadata.is_dir() {
            out.extend(tree(&path));
        }
    }
    out.sort();
    out
}

/// Every method that uses the key refuses each of `key_refs` with
/// `cannot read key file KEY_REF: DETAIL...`, and nothing under `dir`
/// changes.
pub fn every_key_method_refuses(dir: &Path, key_refs: &[&str], detail: &str) {
    let before = tree(dir);
    for key_ref in key_refs {
        let expected = format!("cannot read key file {key_ref}: {detail}");
        for message in errors_of_every_key_method(dir, key_ref) {
            assert!(message.starts_with(&expected), "{key_ref}: {message}");
        }
    }
    assert_eq!(tree(dir), before, "nothing written in or beside it");
}

/// The message the key-method helpers sign and verify.
pub const MESSAGE: &[u8] = b"robust message";

pub fn create(dir: &Path, key_ref: &str) -> Call {
    run(
        dir,
        key_ref,
        MethodArgs::CreateKey(CreateKeyArgs::new(ALGORITHM, None)),
        b"",
    )
}

pub fn public(dir: &Path, key_ref: &str) -> Call {
    run(
        dir,
        key_ref,
        MethodArgs::PublicKey(PublicKeyArgs::new(RpcOptions::go_defaults())),
        b"",
    )
}

pub fn sign(dir: &Path, key_ref: &str) -> Call {
    run(dir, key_ref, sign_args(None, None), MESSAGE)
}

pub fn public_pem_of(call: &Call, method: MethodName) -> String {
    let pem = match call.success(method) {
        MethodResp::CreateKey(key) => key.public_key_pem,
        MethodResp::PublicKey(key) => key.public_key_pem,
        other => panic!("{other:?}"),
    };
    String::from_utf8(pem).unwrap()
}

pub fn verify(dir: &Path, key_ref: &str) -> Call {
    run(
        dir,
        key_ref,
        verify_args(vec![0x30, 0x06, 2, 1, 1, 2, 1, 1], None, None),
        MESSAGE,
    )
}

/// The error of every method that uses the key, createKey included.
pub fn errors_of_every_key_method(dir: &Path, key_ref: &str) -> Vec<String> {
    vec![
        create(dir, key_ref).error(MethodName::CreateKey),
        public(dir, key_ref).error(MethodName::PublicKey),
        sign(dir, key_ref).error(MethodName::SignMessage),
        verify(dir, key_ref).error(MethodName::VerifySignature),
    ]
}

pub fn sign_args(digest: Option<Vec<u8>>, hash: Option<HashFunc>) -> MethodArgs {
    MethodArgs::SignMessage(SignMessageArgs::new(
        RpcOptions::go_defaults(),
        MessageOptions {
            digest,
            hash_func: hash,
        },
    ))
}

pub fn verify_args(
    signature: Vec<u8>,
    digest: Option<Vec<u8>>,
    hash: Option<HashFunc>,
) -> MethodArgs {
    MethodArgs::VerifySignature(VerifySignatureArgs::new(
        signature,
        RpcOptions::go_defaults(),
        MessageOptions {
            digest,
            hash_func: hash,
        },
    ))
}

pub fn signature_of(call: &Call) -> Vec<u8> {
    match call.success(MethodName::SignMessage) {
        MethodResp::SignMessage(signed) => signed.signature,
        other => panic!("{other:?}"),
    }
}

pub fn digest(hash: HashFunc, message: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    match hash {
        HashFunc::SHA256 => sha2::Sha256::digest(message).to_vec(),
        HashFunc::SHA384 => sha2::Sha384::digest(message).to_vec(),
        HashFunc::SHA512 => sha2::Sha512::digest(message).to_vec(),
        other => panic!("no {other} here"),
    }
}

/// Checks a DER signature over `digest` with the `p256` verifier and the
/// public key PEM, independently of the plugin.
pub fn p256_verifies(public_pem: &str, digest: &[u8], signature: &[u8]) -> bool {
    let key = VerifyingKey::from_public_key_pem(public_pem).expect("a P-256 public key PEM");
    let Ok(signature) = Signature::from_der(signature) else {
        return false;
    };
    key.verify_prehash(digest, &signature).is_ok()
}

pub fn openssl_present() -> bool {
    let present = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !present {
        eprintln!("note: `openssl` not found; skipping the OpenSSL part of this test");
    }
    present
}

/// Checks a DER signature over `message` with `openssl dgst -verify`.
pub fn openssl_verifies(
    dir: &Path,
    public_pem: &str,
    hash: HashFunc,
    message: &[u8],
    signature: &[u8],
) -> bool {
    std::fs::write(dir.join("openssl-pub.pem"), public_pem).unwrap();
    std::fs::write(dir.join("openssl-msg"), message).unwrap();
    std::fs::write(dir.join("openssl-sig.der"), signature).unwrap();
    let digest_flag = match hash {
        HashFunc::SHA256 => "-sha256",
        HashFunc::SHA384 => "-sha384",
        HashFunc::SHA512 => "-sha512",
        other => panic!("no {other} here"),
    };
    let output = Command::new("openssl")
        .args([
            "dgst",
            digest_flag,
            "-verify",
            "openssl-pub.pem",
            "-signature",
            "openssl-sig.der",
            "openssl-msg",
        ])
        .current_dir(dir)
        .output()
        .expect("run openssl");
    output.status.success() && String::from_utf8_lossy(&output.stdout).contains("Verified OK")
}

/// Runs `openssl` with `args` in `dir`, panicking when it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The base64 body lines of a PEM file: key material that must never
/// appear in any reply or diagnostic.
pub fn secret_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|line| !line.starts_with("-----") && line.len() >= 16)
        .map(str::to_owned)
        .collect()
}

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}
