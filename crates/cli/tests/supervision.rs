//! How `sigstore-kms` runs a plugin under the things a user does at a
//! terminal: input that never ends, Ctrl-C, `kill`, a plugin that prompts.
//! Terminal cases run the command in a pseudo-terminal, as the session
//! leader whose foreground it is, as a shell would run it.
// Process groups, signals, FIFOs and pseudo-terminals are Unix things; on
// Windows a console's Ctrl-C reaches the plugin by itself. What applies to
// every OS (input that never ends, a plugin whose child never reads its
// stdin) is tested in cli.rs.
#![cfg(unix)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use p256::pkcs8::{EncodePublicKey, LineEnding};

fn cli() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sigstore-kms"))
}

/// A directory with a throwaway plugin `sigstore-kms-test`, first on PATH.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    /// The plugin runs `body` (shell), with `$DIR` the directory.
    fn new(body: &str) -> Setup {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join("sigstore-kms-test");
        std::fs::write(
            &plugin,
            format!("#!/bin/sh\nDIR='{}'\n{body}\n", dir.path().display()),
        )
        .unwrap();
        std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
        Setup { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut path = self.dir.path().as_os_str().to_owned();
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        let mut command = Command::new(cli());
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("PATH", path);
        command
    }
}

/// Shell that answers publicKey with a P-256 key.
fn public_key_answer() -> String {
    let pem = p256::ecdsa::SigningKey::from_slice(&[7u8; 32])
        .unwrap()
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    format!(
        r#"printf '%s' '{{"publicKey":{{"publicKeyPEM":"{}"}}}}'"#,
        STANDARD.encode(pem)
    )
}

/// A plugin that records its pid and its child's, says READY on the
/// terminal when it has one, and waits. The child holds none of the
/// plugin's pipes, and ignores SIGINT (as a shell's background commands
/// do): only killing the plugin's process group ends it.
const WAITING_PLUGIN: &str =
    "sleep 60 > /dev/null 2>&1 & echo $! > \"$DIR/child.pid\"; echo $$ > \"$DIR/plugin.pid\"; \
     { printf READY > /dev/tty; } 2>/dev/null; wait";

fn read_pid(file: &Path) -> i32 {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if let Ok(pid) = std::fs::read_to_string(file)
            .unwrap_or_default()
            .trim()
            .parse()
        {
            return pid;
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("no pid in {}", file.display());
}

/// Whether `pid` is gone (or a zombie about to be reaped by init), within
/// 10 s.
fn gone(pid: i32) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat)
                if stat
                    .rsplit_once(')')
                    .unwrap()
                    .1
                    .trim_start()
                    .starts_with('Z') =>
            {
                return true
            }
            Ok(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
    false
}

/// Kills what a failed test left running.
fn kill(pid: i32) {
    // SAFETY: kill(2) takes no pointers.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// Waits for `child`, up to `limit`; kills it past that.
fn wait_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// The plugin and the process it started are both gone.
fn assert_plugin_and_child_gone(setup: &Setup) {
    let (plugin, child) = (
        read_pid(&setup.path("plugin.pid")),
        read_pid(&setup.path("child.pid")),
    );
    let (plugin_gone, child_gone) = (gone(plugin), gone(child));
    kill(plugin);
    kill(child);
    assert!(plugin_gone, "the plugin {plugin} was left running");
    assert!(child_gone, "the plugin's child {child} was left running");
}

/// A command running in a new pseudo-terminal, as its session leader and
/// in its foreground, as a shell runs a command.
struct InTerminal {
    child: Child,
    master: File,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl InTerminal {
    fn start(command: &mut Command) -> InTerminal {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: both out-pointers are valid; the name, termios and size
        // may be null.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: openpty returned these descriptors, owned by nobody else.
        let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        command
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave);
        // SAFETY: setsid(2) and ioctl(2) are async-signal-safe; stdin is
        // the terminal by then.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().unwrap();
        // Our copies of the terminal's end closed, so that reading the
        // master ends when the command and its plugins are gone.
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let screen = Arc::new(Mutex::new(Vec::new()));
        let (mut reader, seen) = (master.try_clone().unwrap(), screen.clone());
        thread::spawn(move || {
            let mut chunk = [0u8; 1024];
            while let Ok(n @ 1..) = reader.read(&mut chunk) {
                seen.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        InTerminal {
            child,
            master,
            screen,
        }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Waits (up to 20 s) for `text` to appear on the terminal.
    fn wait_for(&self, text: &str) {
        let until = Instant::now() + Duration::from_secs(20);
        while !self.screen().contains(text) {
            assert!(
                Instant::now() < until,
                "{text:?} never appeared; the terminal shows {:?}",
                self.screen()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn type_keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }
}

/// Waits for a command run with `--timeout 2s` whose input holds it for
/// 30 s: it fails with the deadline, long before.
fn assert_fails_at_the_deadline(child: Child, what: &str) {
    let start = Instant::now();
    let out = child.wait_with_output().unwrap();
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(elapsed < Duration::from_secs(10), "{what}: {elapsed:?}");
    assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
    assert!(stderr.contains("deadline exceeded"), "{what}: {stderr}");
}

/// A FIFO named as the blob, which nothing ever writes to: opening it
/// waits for a writer, which must not hold the call either.
#[test]
fn a_fifo_nobody_writes_does_not_hold_sign_blob_past_its_timeout() {
    let setup = Setup::new(&format!(
        "case \"$2\" in *signMessage*) exec cat > /dev/null;; esac; {}",
        public_key_answer()
    ));
    let fifo = setup.path("fifo");
    let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `name` is a valid C string.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    let child = setup
        .command(&["sign-blob", "--key", "test://k", "--timeout", "2s", "fifo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A writer after 30 s, so that a command that waits for one ends.
    thread::spawn(move || {
        thread::sleep(Duration::from_secs(30));
        drop(File::options().write(true).open(fifo));
    });
    assert_fails_at_the_deadline(child, "fifo");
}

#[test]
fn sigint_to_the_commands_process_group_ends_the_plugin_and_its_children() {
    let setup = Setup::new(WAITING_PLUGIN);
    let mut child = setup
        .command(&["public-key", "--key", "test://k"])
        .process_group(0)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    read_pid(&setup.path("plugin.pid"));
    let group = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) takes no pointers.
    unsafe { libc::kill(-group, libc::SIGINT) };
    let status = wait_within(&mut child, Duration::from_secs(10));
    assert_plugin_and_child_gone(&setup);
    assert_eq!(status.and_then(|s| s.signal()), Some(libc::SIGINT));
}

#[test]
fn sigterm_to_the_command_alone_ends_the_plugin_and_its_children() {
    let setup = Setup::new(WAITING_PLUGIN);
    let mut child = setup
        .command(&["public-key", "--key", "test://k"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    read_pid(&setup.path("plugin.pid"));
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) takes no pointers.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = wait_within(&mut child, Duration::from_secs(10));
    assert_plugin_and_child_gone(&setup);
    assert_eq!(status.and_then(|s| s.signal()), Some(libc::SIGTERM));
}

#[test]
fn ctrl_c_at_the_terminal_ends_the_command_the_plugin_and_its_children() {
    let setup = Setup::new(WAITING_PLUGIN);
    let mut terminal = InTerminal::start(&mut setup.command(&["public-key", "--key", "test://k"]));
    assert_ctrl_c_ends_all(&setup, &mut terminal);
}

/// Types Ctrl-C once the waiting plugin is ready: the plugin, its child
/// and what runs in the terminal all end, the latter by SIGINT.
fn assert_ctrl_c_ends_all(setup: &Setup, terminal: &mut InTerminal) {
    terminal.wait_for("READY");
    terminal.type_keys(b"\x03");
    let status = wait_within(&mut terminal.child, Duration::from_secs(10));
    assert_plugin_and_child_gone(setup);
    assert_eq!(
        status.and_then(|s| s.signal()),
        Some(libc::SIGINT),
        "{status:?}: {}",
        terminal.screen()
    );
}

#[test]
fn a_plugin_can_prompt_on_the_terminal() {
    let setup = Setup::new(&format!(
        "printf 'PIN: ' > /dev/tty; read pin < /dev/tty; echo \"$pin\" > \"$DIR/pin\"; {}",
        public_key_answer()
    ));
    let mut terminal = InTerminal::start(&mut setup.command(&[
        "public-key",
        "--key",
        "test://k",
        "--timeout",
        "10s",
    ]));
    terminal.wait_for("PIN: ");
    terminal.type_keys(b"4321\n");
    let status = wait_within(&mut terminal.child, Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}: {}",
        terminal.screen()
    );
    // The reader thread may still be copying the command's last output.
    terminal.wait_for("BEGIN PUBLIC KEY");
    assert_eq!(
        std::fs::read_to_string(setup.path("pin")).unwrap(),
        "4321\n"
    );
}

/// After the plugin ran, the command holds the terminal again: it reads a
/// blob typed there (a background process group could not).
#[test]
fn the_command_gets_the_terminal_back_after_the_plugin() {
    use p256::ecdsa::signature::Signer as _;
    // The signature of the blob typed below, which the command checks.
    let signature: p256::ecdsa::Signature = p256::ecdsa::SigningKey::from_slice(&[7u8; 32])
        .unwrap()
        .sign(b"typed blob\n");
    let setup = Setup::new(&format!(
        "case \"$2\" in *signMessage*) cat > \"$DIR/message\"; \
         printf '%s' '{{\"signMessage\":{{\"signature\":\"{}\"}}}}'; exit;; esac; {}",
        STANDARD.encode(signature.to_der().as_bytes()),
        public_key_answer()
    ));
    let mut terminal = InTerminal::start(&mut setup.command(&[
        "sign-blob",
        "--key",
        "test://k",
        "--timeout",
        "10s",
        "-",
    ]));
    thread::sleep(Duration::from_millis(500));
    terminal.type_keys(b"typed blob\n\x04");
    let status = wait_within(&mut terminal.child, Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}: {}",
        terminal.screen()
    );
    assert_eq!(
        std::fs::read_to_string(setup.path("message")).unwrap(),
        "typed blob\n"
    );
}

/// A script run at the terminal, without job control, shares its process
/// group with the command: a Ctrl-C typed while the plugin holds the
/// terminal stops the script too, as it would had nothing lent the
/// terminal to the plugin.
#[test]
fn ctrl_c_at_the_terminal_stops_the_script_that_ran_the_command() {
    let setup = Setup::new(WAITING_PLUGIN);
    let script = format!(
        "PATH=\"$DIR:$PATH\" '{}' public-key --key test://k; echo AFTER > \"$DIR/after\"",
        cli().display(),
    );
    let mut sh = Command::new("sh");
    sh.args(["-c", &script]).env("DIR", setup.dir.path());
    let mut terminal = InTerminal::start(&mut sh);
    assert_ctrl_c_ends_all(&setup, &mut terminal);
    assert!(!setup.path("after").exists(), "the script went on");
}

/// Ctrl-Z while the plugin prompts: the command stops with it, as a job of
/// a shell with job control; `fg` continues both, and the plugin reads
/// what is typed then.
#[test]
fn ctrl_z_at_the_terminal_stops_the_command_and_fg_continues_the_prompt() {
    let setup = Setup::new(&format!(
        "printf 'PIN: ' > /dev/tty; read pin < /dev/tty; echo \"$pin\" > \"$DIR/pin\"; {}",
        public_key_answer()
    ));
    let script = format!(
        "set -m; PATH=\"$DIR:$PATH\" '{}' public-key --key test://k --timeout 60s > \"$DIR/out\"; \
         echo STOPPED; fg > /dev/null; echo \"DONE $?\"",
        cli().display(),
    );
    let mut sh = Command::new("sh");
    sh.args(["-c", &script]).env("DIR", setup.dir.path());
    let mut terminal = InTerminal::start(&mut sh);
    terminal.wait_for("PIN: ");
    terminal.type_keys(b"\x1a");
    terminal.wait_for("STOPPED");
    terminal.type_keys(b"4321\n");
    let status = wait_within(&mut terminal.child, Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}: {}",
        terminal.screen()
    );
    // The shell's last line may still be on its way from the terminal when
    // the shell has exited.
    terminal.wait_for("DONE 0");
    assert_eq!(
        std::fs::read_to_string(setup.path("pin")).unwrap(),
        "4321\n"
    );
    let out = std::fs::read_to_string(setup.path("out")).unwrap();
    assert!(out.contains("BEGIN PUBLIC KEY"), "{out}");
}
