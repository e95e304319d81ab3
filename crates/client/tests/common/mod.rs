//! Throwaway plugins: the `sigstore-kms-fake` program of
//! `test-plugins/fakes`, told what to do by its key reference, so that the
//! same tests run on every OS.

#![allow(dead_code)]

use std::path::PathBuf;

use base64::Engine;
use p256::pkcs8::{EncodePublicKey, LineEnding};
use sigstore_kms_client::{Client, StderrMode};
#[allow(unused_imports)]
pub use sigstore_kms_test_fakes::{fake_exe, read_pid, read_pids, wait_gone, Steps};

pub const KEY_REF: &str = "key-ref";

pub const SIGN_OK: &str = r#"{"signMessage":{"signature":"MAY="}}"#;

/// A directory for what the plugins write, which lives as long as the test.
pub struct Plugins {
    pub dir: tempfile::TempDir,
}

impl Plugins {
    pub fn new() -> Self {
        Plugins {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A client of the fake taking `steps`, with stderr captured.
    pub fn client(&self, steps: Steps) -> Client {
        Client::builder()
            .stderr(StderrMode::CAPTURE_TAIL)
            .with_executable(fake_exe(), steps.key_ref())
    }

    /// A copy of the fake named `name` (plus `.exe` on Windows) in the
    /// directory.
    pub fn install(&self, name: &str) -> PathBuf {
        sigstore_kms_test_fakes::install_fake(self.dir.path(), name)
    }

    /// Writes an executable `#!/bin/sh` script named `name` with `body`,
    /// for the tests of what only Unix has (signals, sessions, process
    /// groups).
    #[cfg(unix)]
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A client of a `#!/bin/sh` script plugin with `body`, stderr
    /// captured: for plugins that run other Unix tools (openssl, base64).
    #[cfg(unix)]
    pub fn script_client(&self, body: &str) -> Client {
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

/// Runs `case` in a process of its own: this test binary again, told to
/// run only the test `name` (its path within the binary), for a case that
/// changes the whole process (a signal's disposition, `end_plugins`) or
/// looks at all of it (its children). In that process, runs `case`.
pub fn in_own_process(name: &str, case: impl FnOnce()) {
    const CASE: &str = "SIGSTORE_KMS_TEST_OWN_PROCESS";
    if std::env::var_os(CASE).is_some_and(|running| running == name) {
        case();
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CASE, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{name}, in a process of its own: {}\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Processes whose parent is this one, zombies included (read from /proc).
#[cfg(target_os = "linux")]
pub fn children() -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let stat = std::fs::read_to_string(entry.ok()?.path().join("stat")).ok()?;
            let (_, rest) = stat.rsplit_once(')')?;
            let ppid = rest.split_whitespace().nth(1)?;
            (ppid == me).then_some(stat)
        })
        .collect()
}
