//! A `sigstore-kms-hsm agent` for one test, and the plugin pointed at it:
//! a directory holding a `sigstore-kms-hsm` script that sets
//! `SIGSTORE_KMS_HSM_AGENT` and runs the plugin just built, so that the
//! variable reaches only the plugins of this test.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use sigstore_kms_client::{Client, HashFunc};

use super::Token;

/// The plugin just built.
pub fn plugin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sigstore-kms-hsm"))
}

/// A running agent, stopped with SIGTERM when dropped.
pub struct Agent {
    child: Child,
    /// The socket it listens on.
    pub socket: PathBuf,
    /// Its log.
    pub log: PathBuf,
    /// Holds the socket, the log and the plugin script.
    pub dir: tempfile::TempDir,
}

impl Agent {
    /// Starts `sigstore-kms-hsm agent --foreground` for `token`'s module
    /// and PIN, with `extra` arguments (e.g. `--token LABEL`), and waits
    /// until it is ready.
    pub fn start(token: &Token, extra: &[&str]) -> Agent {
        let dir = tempfile::tempdir().expect("a directory for the agent");
        // The agent refuses a socket in a directory that others can enter.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let socket = dir.path().join("agent.sock");
        let log = dir.path().join("agent.log");
        let mut child = Command::new(plugin())
            .args(["agent", "--foreground"])
            .arg("--module")
            .arg(&token.module)
            .arg("--pin-source")
            .arg(format!("file:{}", token.pin_file.display()))
            .arg("--socket")
            .arg(&socket)
            .arg("--log")
            .arg(&log)
            .args(extra)
            .env_remove("SIGSTORE_KMS_HSM_AGENT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the agent starts");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(
            first.starts_with(&format!("SIGSTORE_KMS_HSM_AGENT={};", socket.display())),
            "the agent did not start: {first:?} ({:?})",
            child.try_wait()
        );
        let script = dir.path().join("sigstore-kms-hsm");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nSIGSTORE_KMS_HSM_AGENT='{}' exec '{}' \"$@\"\n",
                socket.display(),
                plugin().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        Agent {
            child,
            socket,
            log,
            dir,
        }
    }

    /// The directory to search for the plugin in agent mode.
    pub fn bin_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A host for `reference` whose plugin calls go to this agent.
    pub fn client(&self, reference: &str) -> Client {
        Client::builder()
            .search_path(self.bin_dir().as_os_str())
            .hash_func(HashFunc::SHA256)
            .load(reference)
            .expect("the plugin script is found")
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The agent's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the agent.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the agent to exit and returns whether it exited cleanly.
    pub fn wait(&mut self) -> bool {
        self.child
            .wait()
            .expect("the agent is waited for")
            .success()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-CONT", &self.pid().to_string()])
                .status();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A listener that runs as another user (uid 65534) on a socket in a
/// directory anyone can write to, as an agent's stale path in /tmp can
/// become: a Python program that accepts one connection and runs `serve` on
/// it (Python statements with the connection in `c`). Killed when dropped.
pub struct ForeignListener {
    child: Child,
    /// Its socket.
    pub socket: PathBuf,
    /// The directory of the socket, mode 0777.
    pub dir: tempfile::TempDir,
}

impl ForeignListener {
    /// Listens once python3 has started as uid 65534; `None`, saying that
    /// the test is skipped, when not root (only root starts a process as
    /// another user) or without python3 (see [`skip_without_python`]).
    pub fn start(serve: &str) -> Option<ForeignListener> {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: only root can start a listener under another uid");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let socket = dir.path().join("agent.sock");
        let script = format!(
            "import socket,struct,time\ns=socket.socket(socket.AF_UNIX)\ns.bind({:?})\n\
             s.listen(4)\nprint('ready',flush=True)\nc,_=s.accept()\n{serve}",
            socket.to_str().unwrap()
        );
        let Ok(mut child) = Command::new("python3")
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .uid(65534)
            .spawn()
        else {
            skip_without_python();
            return None;
        };
        let mut ready = [0u8; 6];
        child.stdout.take().unwrap().read_exact(&mut ready).unwrap();
        Some(ForeignListener { child, socket, dir })
    }
}

impl Drop for ForeignListener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Says that a test is skipped for want of python3, unless the run
/// requires every test (`SIGSTORE_KMS_REQUIRE_SOFTHSM=1`).
pub fn skip_without_python() {
    assert!(
        std::env::var("SIGSTORE_KMS_REQUIRE_SOFTHSM").map_or(true, |v| v != "1"),
        "SIGSTORE_KMS_REQUIRE_SOFTHSM=1, but python3 is not installed: install it"
    );
    eprintln!("SKIPPED: python3 is not installed");
}
