//! The fake plugin's other half: what tests use to drive it. [`Steps`]
//! builds the key reference that tells `sigstore-kms-fake` what to do,
//! [`fake_exe`] finds (and where cargo can, builds) the program, and
//! [`wait_gone`] checks that a process it started is gone, on every OS.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The fake plugin, built next to the test binaries: `cargo build` of its
/// crate is run once per test binary where cargo can run (under Wine it
/// cannot: `.ci/windows.sh` builds every binary before the tests).
pub fn fake_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let test_exe = std::env::current_exe().unwrap();
        // target/<profile>/deps/<test> -> target/<profile>
        let profile_dir = test_exe.parent().unwrap().parent().unwrap();
        let exe = profile_dir.join(format!("sigstore-kms-fake{}", std::env::consts::EXE_SUFFIX));
        build_fakes(profile_dir);
        assert!(
            exe.is_file(),
            "{} is missing: run `cargo build -p sigstore-kms-test-fakes` first",
            exe.display()
        );
        exe
    })
}

fn build_fakes(profile_dir: &Path) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // A test cross-built for Windows and run under Wine sees the cargo of
    // the Linux host, which Wine would start but which cannot build for it.
    #[cfg(windows)]
    if Path::new(&cargo).extension().is_none_or(|e| e != "exe") {
        return;
    }
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "-p", "sigstore-kms-test-fakes"])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"));
    // target/<profile> or target/<triple>/<profile>: the binary lands in
    // `profile_dir` either way.
    if let Some(target_dir) = profile_dir.parent() {
        build.arg("--target-dir").arg(target_dir);
    }
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    // No cargo (a cross-built test run by an emulator): the binary must be
    // there already, which the caller checks.
    if let Ok(status) = build.status() {
        assert!(
            status.success(),
            "cargo build -p sigstore-kms-test-fakes failed"
        );
    }
}

/// Puts the fake into `dir` as `name` (plus `.exe` on Windows), for a test
/// that needs a plugin of that name on a search path.
pub fn install_fake(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    // A hard link where it can be: a fresh copy that another thread's fork
    // still holds open for writing cannot be executed (ETXTBSY).
    if std::fs::hard_link(fake_exe(), &path).is_err() {
        std::fs::copy(fake_exe(), &path).unwrap();
    }
    path
}

/// What the fake plugin does, in order: its key reference.
#[derive(Clone, Debug, Default)]
pub struct Steps(Vec<Value>);

impl Steps {
    /// No step yet: the plugin exits 0 without a word.
    pub fn new() -> Self {
        Steps::default()
    }

    fn step(mut self, step: Value) -> Self {
        self.0.push(step);
        self
    }

    /// Writes `text` to stdout as it is.
    pub fn out(self, text: &str) -> Self {
        self.step(json!(["out", text]))
    }

    /// Writes `text` to stderr.
    pub fn err(self, text: &str) -> Self {
        self.step(json!(["err", text]))
    }

    /// Writes `ch` `count` times to stdout.
    pub fn out_fill(self, count: usize, ch: char) -> Self {
        self.step(json!(["out_fill", count, ch.to_string()]))
    }

    /// Writes `ch` `count` times to stderr.
    pub fn err_fill(self, count: usize, ch: char) -> Self {
        self.step(json!(["err_fill", count, ch.to_string()]))
    }

    /// Writes to stdout until that fails.
    pub fn flood(self) -> Self {
        self.step(json!(["flood"]))
    }

    /// Answers any method with `json`.
    pub fn reply(self, json: &str) -> Self {
        self.reply_by_method(&[("*", json)])
    }

    /// Answers each method named with its JSON (`"*"`: any other).
    pub fn reply_by_method(self, answers: &[(&str, &str)]) -> Self {
        let answers: serde_json::Map<String, Value> = answers
            .iter()
            .map(|(method, answer)| (method.to_string(), serde_json::from_str(answer).unwrap()))
            .collect();
        self.step(json!(["reply", answers]))
    }

    /// Writes `argc`, `argv1` and `argv2` into `dir`.
    pub fn record(self, dir: &Path) -> Self {
        self.step(json!(["record", dir]))
    }

    /// Reads stdin to its end, into `file` if any.
    pub fn read_stdin(self, file: Option<&Path>) -> Self {
        self.step(json!(["read_stdin", file.unwrap_or(Path::new(""))]))
    }

    /// Creates `file`.
    pub fn touch(self, file: &Path) -> Self {
        self.step(json!(["touch", file]))
    }

    /// Starts a child that sleeps 60 s holding the plugin's stdin, stdout
    /// and stderr; appends its pid to `pid_file`.
    pub fn spawn(self, pid_file: &Path) -> Self {
        self.step(json!(["spawn", pid_file]))
    }

    /// Writes the plugin's own pid to `file`.
    pub fn pid(self, file: &Path) -> Self {
        self.step(json!(["pid", file]))
    }

    /// Closes stdout and stderr.
    pub fn close_stdio(self) -> Self {
        self.step(json!(["close_stdio"]))
    }

    /// Sleeps `seconds`.
    pub fn sleep(self, seconds: u64) -> Self {
        self.step(json!(["sleep", seconds]))
    }

    /// Exits with `code`, skipping the steps after.
    pub fn exit(self, code: u8) -> Self {
        self.step(json!(["exit", code]))
    }

    /// Dies by SIGKILL.
    #[cfg(unix)]
    pub fn kill_self(self) -> Self {
        self.step(json!(["kill_self"]))
    }

    /// Takes `steps` only when the method called is `method`.
    pub fn when(self, method: &str, steps: Steps) -> Self {
        self.step(json!(["when", method, steps.0]))
    }

    /// The key reference that makes the fake take these steps.
    pub fn key_ref(&self) -> String {
        Value::Array(self.0.clone()).to_string()
    }
}

/// Whether process `pid` is gone (or a zombie about to be reaped by init).
#[cfg(target_os = "linux")]
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Whether process `pid` is gone (a zombie counts as running here: macOS
/// has no /proc to tell them apart).
#[cfg(all(unix, not(target_os = "linux")))]
pub fn process_gone(pid: u32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) != 0 }
}

/// Whether process `pid` has ended (or no longer exists).
#[cfg(windows)]
pub fn process_gone(pid: u32) -> bool {
    use windows_sys::Win32::Foundation::{CloseHandle, STILL_ACTIVE};
    use windows_sys::Win32::System::Threading::{
        GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
    };
    // SAFETY: OpenProcess takes no pointers; a null handle is checked.
    let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if process.is_null() {
        return true;
    }
    let mut code = 0u32;
    // SAFETY: `process` is a valid handle, `code` a valid out pointer; the
    // handle is closed once, here.
    let known = unsafe { GetExitCodeProcess(process, &mut code) } != 0;
    unsafe { CloseHandle(process) };
    !known || code != STILL_ACTIVE as u32
}

/// Waits up to 10 s for `pid` to be gone.
pub fn wait_gone(pid: u32) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if process_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The pids a plugin wrote to `file`, one a line, waiting for at least
/// `count` to appear.
pub fn read_pids(file: &Path, count: usize) -> Vec<u32> {
    for _ in 0..500 {
        if let Ok(text) = std::fs::read_to_string(file) {
            let pids: Vec<u32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
            if pids.len() >= count {
                return pids;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("fewer than {count} pids in {}", file.display());
}

/// The one pid a plugin wrote to `file`.
pub fn read_pid(file: &Path) -> u32 {
    read_pids(file, 1)[0]
}
