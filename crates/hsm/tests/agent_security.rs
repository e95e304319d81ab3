//! The shell lines of `sigstore-kms-hsm agent` and what the agent keeps to
//! itself: `--stop` talks only to this user's agent and prints nothing it
//! hears; nothing a PKCS#11 module prints reaches the line users `eval`;
//! the PIN leaves the agent's environment and the agent cannot be dumped;
//! a socket path the shell line cannot name is refused. Unix only, as the
//! agent is.
#![cfg(unix)]

mod support;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;

use support::agent::{plugin, ForeignListener};

fn assert_contains(text: &str, expected: &str) {
    assert!(text.contains(expected), "{expected:?} is not in: {text}");
}

/// A new directory only this user can enter.
fn private_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// Runs `eval "$(sigstore-kms-hsm agent ARGS)"` in `sh`, in `dir`, with
/// `env`, as the README tells users to (failing when the command fails);
/// returns what the shell printed.
fn eval_agent(dir: &Path, args: &[&OsStr], env: &[(&str, &OsStr)]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(
            "line=\"$(\"$0\" agent \"$@\")\" || exit; eval \"$line\" && \
             echo \"agent=$SIGSTORE_KMS_HSM_AGENT\"",
        )
        .arg(plugin())
        .args(args)
        .current_dir(dir)
        .env_remove("SIGSTORE_KMS_HSM_AGENT")
        .env_remove("SIGSTORE_KMS_HSM_PIN")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("sh runs")
}

/// Reads one frame of the agent protocol: kind, then payload.
fn read_frame(stream: &mut impl Read) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 5];
    stream.read_exact(&mut header).ok()?;
    let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let mut payload = vec![0; length];
    stream.read_exact(&mut payload).ok()?;
    Some((header[0], payload))
}

/// The answer of a listener that is not an agent but answers a stop
/// request with a shell command where the pid belongs.
const LYING_ANSWER: &[u8] = b"\x004242; touch pwned; #";

#[test]
fn stop_prints_nothing_the_listener_says() {
    let dir = private_dir();
    let socket = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let liar = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let request = read_frame(&mut stream);
        let mut frame = vec![4u8];
        frame.extend_from_slice(&(LYING_ANSWER.len() as u32).to_be_bytes());
        frame.extend_from_slice(LYING_ANSWER);
        stream.write_all(&frame).unwrap();
        request
    });
    let out = eval_agent(
        dir.path(),
        &["--stop".as_ref(), "--socket".as_ref(), socket.as_os_str()],
        &[],
    );
    let request = liar.join().unwrap();
    assert_eq!(request.map(|(kind, _)| kind), Some(1), "a stop request");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the stop was believed: {stderr}");
    assert!(
        !dir.path().join("pwned").exists(),
        "the listener's answer ran in the shell"
    );
    assert_contains(&stderr, "did not answer as a sigstore-kms-hsm agent does");
}

#[test]
fn stop_asks_no_listener_of_another_user() {
    // A listener of uid 65534 that answers any request as the liar above.
    let Some(listener) = ForeignListener::start(
        "h=c.recv(5,socket.MSG_WAITALL)\na=b'\\x004242; touch pwned; #'\n\
         c.sendall(bytes([4])+struct.pack('>I',len(a))+a)\nc.recv(1)\n",
    ) else {
        return;
    };
    let out = eval_agent(
        listener.dir.path(),
        &["--stop".as_ref()],
        &[("SIGSTORE_KMS_HSM_AGENT", listener.socket.as_os_str())],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the stop was believed: {stderr}");
    assert!(
        !listener.dir.path().join("pwned").exists(),
        "another user's answer ran in the shell"
    );
    assert_contains(&stderr, "runs as uid 65534, not as you");
}

/// What a PKCS#11 module prints while it loads, meant for the shell.
const MODULE_SAYS: &str = "echo module-was-here; touch pwned; #";

/// Builds, in `dir`, a PKCS#11 module that prints [`MODULE_SAYS`] on
/// stdout when it is loaded and when asked for its functions, and is
/// otherwise `real` (SoftHSM2). `None` without a C compiler.
fn printing_module(dir: &Path, real: &Path) -> Option<PathBuf> {
    let source = dir.join("printing.c");
    std::fs::write(
        &source,
        format!(
            "#include <dlfcn.h>\n#include <string.h>\n#include <unistd.h>\n\
             static void say(void) {{ const char *s = \"{MODULE_SAYS}\\n\"; \
             (void)!write(1, s, strlen(s)); }}\n\
             __attribute__((constructor)) static void loaded(void) {{ say(); }}\n\
             typedef unsigned long (*get_list)(void **);\n\
             unsigned long C_GetFunctionList(void **list) {{\n  say();\n\
             \x20 void *real = dlopen(\"{}\", RTLD_NOW | RTLD_LOCAL);\n\
             \x20 if (!real) return 5;\n\
             \x20 get_list get = (get_list)dlsym(real, \"C_GetFunctionList\");\n\
             \x20 return get ? get(list) : 5;\n}}\n",
            real.display()
        ),
    )
    .unwrap();
    let module = dir.join("libprinting-pkcs11.so");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&module)
        .arg(&source)
        .arg("-ldl")
        .output();
    match built {
        Ok(out) if out.status.success() => Some(module),
        Ok(out) => panic!(
            "cc failed to build the test module: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(err) => {
            assert!(
                std::env::var("SIGSTORE_KMS_REQUIRE_SOFTHSM").map_or(true, |v| v != "1"),
                "SIGSTORE_KMS_REQUIRE_SOFTHSM=1, but no C compiler (cc) runs: {err}"
            );
            eprintln!("SKIPPED: no C compiler (cc) to build a module that prints: {err}");
            None
        }
    }
}

/// The pid in the agent's shell line, or in what it echoes.
fn agent_pid(line: &str) -> u32 {
    line.split("sigstore-kms-hsm agent pid ")
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"))
}

/// An agent in the background, killed when the test ends, passed or not.
struct Killed(u32);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.to_string()).status();
    }
}

/// Stops the agent whose shell line `shell` printed.
fn stop(shell: &str, runtime: &Path) {
    let socket = shell
        .lines()
        .find_map(|line| line.strip_prefix("agent="))
        .unwrap_or_else(|| panic!("no socket in {shell:?}"));
    let out = eval_agent(
        runtime,
        &["--stop".as_ref()],
        &[("SIGSTORE_KMS_HSM_AGENT", socket.as_ref())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn nothing_a_module_prints_reaches_the_shell() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("agent-printing");
    let runtime = private_dir();
    let Some(module) = printing_module(runtime.path(), &token.module) else {
        return;
    };
    let pin_source = format!("file:{}", token.pin_file.display());
    // In the background, as the README starts it.
    let out = eval_agent(
        runtime.path(),
        &[
            "--module".as_ref(),
            module.as_os_str(),
            "--pin-source".as_ref(),
            pin_source.as_ref(),
        ],
        &[("XDG_RUNTIME_DIR", runtime.path().as_os_str())],
    );
    let shell = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _agent = shell
        .contains("sigstore-kms-hsm agent pid ")
        .then(|| Killed(agent_pid(&shell)));
    assert!(out.status.success(), "{shell}{stderr}");
    assert!(
        !runtime.path().join("pwned").exists(),
        "the module's words ran in the shell"
    );
    assert!(!shell.contains("module-was-here"), "{shell}");
    assert!(shell.starts_with("sigstore-kms-hsm agent pid "), "{shell}");
    stop(&shell, runtime.path());

    // In the foreground, the first line on stdout is the agent's.
    let mut agent = Command::new(plugin())
        .args(["agent", "--foreground", "--module"])
        .arg(&module)
        .args(["--pin-source", &pin_source, "--socket"])
        .arg(runtime.path().join("fg.sock"))
        .env_remove("SIGSTORE_KMS_HSM_AGENT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 23];
    let read = agent.stdout.take().unwrap().read_exact(&mut first);
    let _ = agent.kill();
    let out = agent.wait_with_output().unwrap();
    read.unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(&first, b"SIGSTORE_KMS_HSM_AGENT=");
    assert_contains(&String::from_utf8_lossy(&out.stderr), "module-was-here");
}

#[cfg(target_os = "linux")]
#[test]
fn the_pin_leaves_the_agents_environment_and_its_memory_is_closed() {
    use std::os::unix::fs::MetadataExt as _;
    use std::os::unix::process::CommandExt as _;

    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("agent-environ");
    let runtime = private_dir();
    // As the README has it: the PIN exported, the agent evaluated.
    let mut command = Command::new(plugin());
    command
        .arg("agent")
        .env_remove("SIGSTORE_KMS_HSM_AGENT")
        .env("SIGSTORE_KMS_HSM_MODULE", &token.module)
        .env("SIGSTORE_KMS_HSM_PIN", support::USER_PIN)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .stdin(Stdio::null());
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        // The files in /proc of a process that cannot be dumped belong to
        // root's group; a group of its own tells the two apart.
        command.gid(65534);
    }
    let out = command.output().expect("the agent starts");
    let shell = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{shell}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = agent_pid(&shell);
    let _agent = Killed(pid);
    let environ = PathBuf::from(format!("/proc/{pid}/environ"));
    let meta = std::fs::metadata(&environ).unwrap();
    let readable = std::fs::read(&environ);
    match readable {
        Ok(environ) => {
            let environ = String::from_utf8_lossy(&environ);
            assert!(
                !environ.contains("SIGSTORE_KMS_HSM_PIN") && !environ.contains(support::USER_PIN),
                "the agent's environment holds the PIN"
            );
            assert_contains(&environ, "SIGSTORE_KMS_HSM_MODULE=");
        }
        // Only root reads the environment of a process that cannot be
        // dumped.
        Err(err) => assert!(!root, "{err}"),
    }
    if root {
        assert_eq!(
            meta.gid(),
            0,
            "the agent can be dumped (its /proc files are its own)"
        );
    } else {
        assert_eq!(
            meta.uid(),
            0,
            "the agent can be dumped (its /proc files are its own)"
        );
    }
}

/// The stderr of `agent` with `args` and `env`, which must fail before it
/// loads a module (an empty file, so that only loading it could fail).
fn refused_start(dir: &Path, args: &[&OsStr], env: &[(&str, &OsStr)]) -> String {
    let module = dir.join("module.so");
    std::fs::write(&module, "").unwrap();
    let out = Command::new(plugin())
        .arg("agent")
        .args(args)
        .env("SIGSTORE_KMS_HSM_MODULE", &module)
        .env("SIGSTORE_KMS_HSM_PIN", support::USER_PIN)
        .env_remove("SIGSTORE_KMS_HSM_AGENT")
        .env_remove("XDG_RUNTIME_DIR")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the agent command runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the agent started: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

#[test]
fn socket_paths_the_shell_line_cannot_name_are_refused() {
    let dir = private_dir();
    let socket = dir.path().join(OsStr::from_bytes(b"agent-\xff.sock"));
    let stderr = refused_start(dir.path(), &["--socket".as_ref(), socket.as_os_str()], &[]);
    assert_contains(&stderr, "is not valid UTF-8");
    assert!(!socket.exists(), "the agent listens on {socket:?}");

    let tmp = dir.path().join(OsStr::from_bytes(b"tmp-\xfe"));
    std::fs::create_dir(&tmp).unwrap();
    let stderr = refused_start(dir.path(), &[], &[("TMPDIR", tmp.as_os_str())]);
    assert_contains(&stderr, "is not valid UTF-8");
    assert_contains(&stderr, "TMPDIR");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "the socket's directory is left behind"
    );
}
