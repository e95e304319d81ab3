//! Throwaway plugins: shell scripts in a temporary directory.

#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use base64::Engine;
use p256::pkcs8::{EncodePublicKey, LineEnding};
use sigstore_kms_client::{Client, StderrMode};

pub const KEY_REF: &str = "key-ref";

/// A directory of scripts that lives as long as the test.
pub struct Plugins {
    pub dir: tempfile::TempDir,
}

impl Plugins {
    pub fn new() -> Self {
        Plugins {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes an executable `#!/bin/sh` script named `name` with `body`.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A client for a script, with stderr captured.
    pub fn client(&self, body: &str) -> Client {
        let exe = self.script("sigstore-kms-test", body);
        Client::builder()
            .stderr(StderrMode::CAPTURE_TAIL)
            .with_executable(exe, KEY_REF)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn signing_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap()
}

pub fn p256_pem() -> String {
    signing_key()
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}

/// Shell that prints `json` to stdout with no trailing newline.
pub fn answer(json: &str) -> String {
    format!("printf '%s' '{json}'")
}

/// Whether process `pid` is gone (or a zombie about to be reaped by init).
pub fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Waits up to 10 s for `pid` to be gone.
pub fn wait_gone(pid: i32) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < until {
        if process_gone(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

/// Reads a pid a script wrote to `file`, waiting for it to appear.
pub fn read_pid(file: &std::path::Path) -> i32 {
    for _ in 0..500 {
        if let Ok(text) = std::fs::read_to_string(file) {
            if let Ok(pid) = text.trim().parse() {
                return pid;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("no pid in {}", file.display());
}
