//! A real PKCS#11 token for the tests: SoftHSM2, set up in a directory of
//! its own. Every test of a test binary shares one SoftHSM2 configuration
//! (set as `SOFTHSM2_CONF` for this process, and so for every plugin it
//! runs) and initialises its own token in it. The tests of a binary take
//! turns: SoftHSM2 aborts a process whose `C_Initialize` reads the token
//! directory while another process rewrites a token in it
//! (`SlotManager.cpp:82: ... Assertion 'result.second' failed`), and it
//! rewrites a token at every login.
//!
//! Without SoftHSM2 a test prints why it is skipped and returns, unless
//! `SIGSTORE_KMS_REQUIRE_SOFTHSM=1`, which makes it fail (CI sets it).
#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};

use sigstore_kms_client::{Client, HashFunc};

pub mod agent;

/// Not a number, so that no pid or timing in a log can look like it.
pub const USER_PIN: &str = "pin-Kq7-wZ";
const SO_PIN: &str = "13579111";

/// Where distributions install the SoftHSM2 module.
const MODULE_PATHS: [&str; 7] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/lib64/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
];

/// The SoftHSM2 installation and this binary's token directory.
pub struct SoftHsm {
    pub module: PathBuf,
    util: PathBuf,
    dir: PathBuf,
    /// Held by the test whose token is in use.
    turn: Mutex<()>,
}

/// A token initialised for one test, with the PIN in a file. The test has
/// the token directory to itself until the token is dropped.
pub struct Token {
    pub label: String,
    pub module: PathBuf,
    pub pin_file: PathBuf,
    /// The SoftHSM2 directory: `softhsm2.conf`, `tokens/`.
    pub dir: PathBuf,
    softhsm: &'static SoftHsm,
    _turn: MutexGuard<'static, ()>,
}

/// SoftHSM2, ready; `None` (after a note on stderr) when it is not
/// installed and not required.
pub fn softhsm() -> Option<&'static SoftHsm> {
    softhsm_with("")
}

/// Like [`softhsm`], with `extra_conf` lines in `softhsm2.conf`. The first
/// call of a test binary sets the configuration for all of its tests.
pub fn softhsm_with(extra_conf: &str) -> Option<&'static SoftHsm> {
    static SOFTHSM: OnceLock<Option<SoftHsm>> = OnceLock::new();
    let found = SOFTHSM.get_or_init(|| SoftHsm::set_up(extra_conf)).as_ref();
    if found.is_none() {
        let required = std::env::var("SIGSTORE_KMS_REQUIRE_SOFTHSM").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "SIGSTORE_KMS_REQUIRE_SOFTHSM=1, but SoftHSM2 is not installed: install the \
             softhsm2 package (softhsm2-util and libsofthsm2.so)"
        );
        eprintln!(
            "SKIPPED: SoftHSM2 is not installed (softhsm2-util on PATH and libsofthsm2.so); \
             install the softhsm2 package to run the PKCS#11 tests"
        );
    }
    found
}

impl SoftHsm {
    fn set_up(extra_conf: &str) -> Option<SoftHsm> {
        let util = find_on_path("softhsm2-util")?;
        let module = MODULE_PATHS
            .iter()
            .map(PathBuf::from)
            .find(|path| path.is_file())?;
        remove_stale_token_dirs();
        // Kept for the life of this process: the plugins it runs read it.
        let dir = tempfile::Builder::new()
            .prefix("softhsm-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("a directory for the tokens")
            .keep();
        let tokens = dir.join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n{extra_conf}",
                tokens.display()
            ),
        )
        .unwrap();
        // Set once, before this process starts any plugin, so every
        // plugin inherits it.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        Some(SoftHsm {
            module,
            util,
            dir,
            turn: Mutex::new(()),
        })
    }

    /// Initialises a token labelled `label` with [`USER_PIN`].
    pub fn token(&'static self, label: &str) -> Token {
        let turn = self.turn.lock().unwrap_or_else(|e| e.into_inner());
        let pin_file = self.init_token(label);
        Token {
            label: label.to_owned(),
            module: self.module.clone(),
            pin_file,
            dir: self.dir.clone(),
            softhsm: self,
            _turn: turn,
        }
    }

    /// Runs `softhsm2-util --init-token` for `label`; the caller has the
    /// turn. Returns the PIN file.
    fn init_token(&self, label: &str) -> PathBuf {
        let out = Command::new(&self.util)
            .args(["--init-token", "--free", "--label", label])
            .args(["--pin", USER_PIN, "--so-pin", SO_PIN])
            .output()
            .expect("softhsm2-util runs");
        assert!(
            out.status.success(),
            "softhsm2-util --init-token failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pin_file = self.dir.join(format!("{label}.pin"));
        write_private(&pin_file, format!("{USER_PIN}\n").as_bytes());
        pin_file
    }
}

impl Token {
    /// Initialises one more token, `label`, in this test's turn.
    pub fn another(&self, label: &str) {
        self.softhsm.init_token(label);
    }

    /// Deletes this token and initialises a new one under its label: a
    /// token made again, with a serial number of its own and no keys.
    pub fn make_again(&self) {
        let out = Command::new(&self.softhsm.util)
            .args(["--delete-token", "--token", &self.label])
            .output()
            .expect("softhsm2-util runs");
        assert!(
            out.status.success(),
            "softhsm2-util --delete-token failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(&self.pin_file).unwrap();
        self.softhsm.init_token(&self.label);
    }

    /// `hsm://token=LABEL;object=OBJECT?module-path=...&pin-source=file:...`
    /// plus `extra_query` (e.g. `&algorithm=...`).
    pub fn reference(&self, object: &str, extra_query: &str) -> String {
        format!(
            "hsm://token={};object={object}?module-path={}&pin-source=file:{}{extra_query}",
            self.label,
            self.module.display(),
            self.pin_file.display()
        )
    }

    /// A reference with module and PIN left to the environment.
    pub fn bare_reference(&self, object: &str) -> String {
        format!("hsm://token={};object={object}", self.label)
    }
}

/// The directory holding the plugin, and, after `cargo build
/// --workspace`, the `sigstore-kms` command.
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_sigstore-kms-hsm"))
        .parent()
        .unwrap()
        .to_owned()
}

/// `bin_dir()` first, then `PATH`.
pub fn search_path() -> OsString {
    let mut dirs = vec![bin_dir()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

/// A host for `reference`, finding the plugin just built.
pub fn client(reference: &str) -> Client {
    client_with(reference, HashFunc::SHA256, false)
}

/// A host for `reference` with the given hash function and verification
/// mode.
pub fn client_with(reference: &str, hash: HashFunc, remote_verification: bool) -> Client {
    Client::builder()
        .search_path(bin_dir().into_os_string())
        .hash_func(hash)
        .remote_verification(remote_verification)
        .load(reference)
        .expect("the plugin is found")
}

/// Token directories of earlier runs (a process cannot remove its own
/// at exit), once they are an hour old.
fn remove_stale_token_dirs() {
    let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(3600));
        if stale && entry.file_name().to_string_lossy().starts_with("softhsm-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// Writes `bytes` to a new file at `path` that only its owner can read,
/// as the plugin requires of a PIN file.
pub fn write_private(path: &Path, bytes: &[u8]) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|err| panic!("cannot create {}: {err}", path.display()));
    file.write_all(bytes).unwrap();
}

/// Runs the plugin just built once, as a host would for the `hsm://`
/// reference, with `method` and its arguments object and extra
/// environment variables, and returns its response.
pub fn run_plugin(
    reference: &str,
    method: &str,
    arguments: serde_json::Value,
    env: &[(&str, &std::ffi::OsStr)],
) -> serde_json::Value {
    let args = serde_json::json!({
        "initOptions": {
            "protocolVersion": "v1",
            "keyResourceID": reference.strip_prefix("hsm://").unwrap_or(reference),
            "hashFunc": 5,
            "rpcOptions": {},
        },
        "methodName": method,
        method: arguments,
    });
    let out = Command::new(env!("CARGO_BIN_EXE_sigstore-kms-hsm"))
        .args(["v1", &args.to_string()])
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the plugin runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
        panic!(
            "the plugin's stdout is no response ({err}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The module loaded and initialised in this process (PKCS#11 allows that
/// once per process), and the slot of `token`.
pub fn open_in_process(token: &Token) -> (cryptoki::context::Pkcs11, cryptoki::slot::Slot) {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    let pkcs11 = Pkcs11::new(&token.module).unwrap();
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = pkcs11
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|slot| pkcs11.get_token_info(*slot).unwrap().label() == token.label)
        .expect("the test's token");
    (pkcs11, slot)
}

/// `openssl`, when installed.
pub fn openssl() -> Option<PathBuf> {
    find_on_path("openssl")
}
