//! `sigstore-kms-hsm agent`: calls forwarded to it answer as direct calls
//! do, and each fault has a clear outcome: no agent or a stale socket, an
//! agent killed or stopped in the middle of a call, a lost token, callers
//! of another module, token or user. Unix only, as the agent is.
#![cfg(unix)]

mod support;

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sigstore_kms_client::{CallOptions, Error, HashFunc, PublicKey};
use support::agent::{plugin, skip_without_python, Agent, ForeignListener};

fn options() -> CallOptions {
    CallOptions::new().timeout(Duration::from_secs(60))
}

/// A token `label`, an agent for it started with `extra` arguments, and a
/// P-256 key `key` created through the agent. `None` without SoftHSM2.
/// Dropped in reverse order, the agent stops before the test's turn on
/// the token directory ends.
fn agent_with_key(
    label: &str,
    extra: &[&str],
) -> Option<(support::Token, String, Agent, PublicKey)> {
    let token = support::softhsm()?.token(label);
    let reference = token.reference("key", "");
    let agent = Agent::start(&token, extra);
    let public = agent
        .client(&reference)
        .create_key("ecdsa-p256-sha256", &options())
        .expect("the key is created through the agent");
    Some((token, reference, agent, public))
}

/// The plugin's own error message, or a panic naming what happened instead.
fn plugin_error<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result {
        Err(Error::Plugin { message, .. }) => message,
        other => panic!("expected the plugin's error, got {other:?}"),
    }
}

fn assert_contains(text: &str, expected: &str) {
    assert!(text.contains(expected), "{expected:?} is not in: {text}");
}

/// The plugin's arguments for `method` (`publicKey` or `createKey` of a
/// P-256 key) on `reference`, with a deadline `deadline` from now.
fn plugin_args(reference: &str, method: &str, deadline: Option<Duration>) -> String {
    let keyref = reference.strip_prefix("hsm://").unwrap_or(reference);
    let deadline = deadline
        .map(|after| {
            format!(
                "\"ctxDeadline\":\"{}\",",
                rfc3339(SystemTime::now() + after)
            )
        })
        .unwrap_or_default();
    let arguments = match method {
        "createKey" => "{\"algorithm\":\"ecdsa-p256-sha256\"}",
        _ => "{\"publicKeyOptions\":{}}",
    };
    format!(
        "{{\"initOptions\":{{{deadline}\"protocolVersion\":\"v1\",\"keyResourceID\":\"{keyref}\",\
         \"hashFunc\":5}},\"methodName\":\"{method}\",\"{method}\":{arguments}}}"
    )
}

/// Runs the plugin as a host would, without a host's supervision: a
/// `publicKey` call for `reference`, with the agent variable set to
/// `socket` and a deadline `deadline` from now.
fn public_key_call(reference: &str, socket: &Path, deadline: Option<Duration>) -> Output {
    plugin_call(socket, &[], &plugin_args(reference, "publicKey", deadline))
}

/// Runs the plugin with `args` (the `PluginArgs` JSON), the agent variable
/// set to `socket`, and `env` added; a plugin that hangs fails the test
/// instead of hanging it.
fn plugin_call(socket: &Path, env: &[(&str, &OsStr)], args: &str) -> Output {
    let mut child = Command::new(plugin())
        .args(["v1", args])
        .env("SIGSTORE_KMS_HSM_AGENT", socket)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the plugin runs");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the plugin still runs after 30 s");
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Fails when `log` shows the PIN.
fn assert_no_pin(log: &str) {
    assert!(
        !log.contains(support::USER_PIN),
        "the log shows the PIN: {log}"
    );
}

/// `time` as RFC 3339 in UTC, to the second.
fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).unwrap().as_secs() + 1;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn error_reply(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "the call succeeded: {stdout}");
    assert!(stdout.starts_with("{\"errorMessage\":"), "{stdout}");
    stdout
}

#[test]
fn no_agent_or_a_stale_socket_is_an_error_naming_the_variable() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("agent-gone");
    let reference = token.reference("key", "");
    // The key is there, and the reference names module and PIN: a direct
    // call would succeed. With the variable set, nothing falls back to it.
    support::client(&reference)
        .create_key("ecdsa-p256-sha256", &options())
        .unwrap();
    let missing = token.dir.join("no-agent.sock");
    let reply = error_reply(&public_key_call(&reference, &missing, None));
    assert_contains(&reply, "SIGSTORE_KMS_HSM_AGENT");
    assert_contains(&reply, "no such socket");

    let mut agent = Agent::start(&token, &[]);
    agent.client(&reference).public_key(&options()).unwrap();
    agent.signal("KILL");
    agent.wait();
    assert!(agent.socket.exists(), "a killed agent leaves its socket");
    let message = plugin_error(agent.client(&reference).public_key(&options()));
    assert_contains(&message, "SIGSTORE_KMS_HSM_AGENT");
    assert_contains(&message, "stale socket");
}

/// The stderr of `agent --socket socket`, which must fail. No token is
/// needed: the path is checked before the module (an empty file in `dir`,
/// so that only loading it could fail) is loaded.
fn refused_start(dir: &Path, socket: &Path) -> String {
    let module = dir.join("module.so");
    std::fs::write(&module, "").unwrap();
    let out = Command::new(plugin())
        .args(["agent", "--token", "none", "--socket"])
        .arg(socket)
        .env("SIGSTORE_KMS_HSM_MODULE", &module)
        .env("SIGSTORE_KMS_HSM_PIN", support::USER_PIN)
        .env_remove("SIGSTORE_KMS_HSM_AGENT")
        .stdin(Stdio::null())
        .output()
        .expect("the agent command runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the agent started: {stderr}");
    stderr
}

#[test]
fn a_file_at_the_socket_path_is_kept_and_the_agent_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let path = dir.path().join("agent.sock");
    std::fs::write(&path, "the user's notes\n").unwrap();
    assert_contains(
        &refused_start(dir.path(), &path),
        "exists and is not a socket",
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("the file is still there"),
        "the user's notes\n"
    );
}

#[test]
fn a_socket_directory_reached_through_a_link_is_refused() {
    // A link can be turned to another directory after the check.
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert_contains(
        &refused_start(dir.path(), &link.join("agent.sock")),
        "must belong to you and be closed to others",
    );
}

/// A message that never ends: 64 KiB every 20 ms until `stop`.
struct EndlessMessage(Arc<AtomicBool>);

impl Read for EndlessMessage {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0.load(Ordering::Relaxed) {
            return Ok(0);
        }
        thread::sleep(Duration::from_millis(20));
        let n = buf.len().min(64 * 1024);
        buf[..n].fill(b'x');
        Ok(n)
    }
}

#[test]
fn an_agent_killed_during_a_call_fails_the_call() {
    let Some((_token, reference, mut agent, _)) = agent_with_key("agent-killed", &[]) else {
        return;
    };
    let client = agent.client(&reference);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let result = thread::scope(|scope| {
        let call =
            scope.spawn(|| client.sign_message(EndlessMessage(Arc::clone(&stop)), &options()));
        thread::sleep(Duration::from_millis(500));
        agent.signal("KILL");
        let result = call.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        result
    });
    let message = plugin_error(result);
    assert_contains(&message, "SIGSTORE_KMS_HSM_AGENT");
    assert_contains(&message, "killed during the call");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the call took {:?}",
        started.elapsed()
    );
    agent.wait();
}

#[test]
fn an_agent_that_does_not_answer_fails_the_call_at_its_deadline() {
    let Some((_token, reference, agent, _)) = agent_with_key("agent-stopped", &[]) else {
        return;
    };
    agent.signal("STOP");
    let started = Instant::now();
    let out = public_key_call(&reference, &agent.socket, Some(Duration::from_secs(1)));
    let waited = started.elapsed();
    agent.signal("CONT");
    let reply = error_reply(&out);
    assert_contains(&reply, "did not answer before the call's deadline");
    assert_contains(&reply, "SIGSTORE_KMS_HSM_AGENT");
    // The plugin gave up on its own, at the deadline (a host that does not
    // enforce it waits no longer).
    assert!(waited < Duration::from_secs(20), "the call took {waited:?}");
}

#[test]
fn started_in_the_background_private_and_stop_removes_the_socket() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("agent-background");
    let reference = token.bare_reference("key");
    let runtime = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        runtime.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let log = runtime.path().join("agent.log");
    let agent = |args: &[&str], socket: Option<&str>| {
        let mut command = Command::new(plugin());
        command
            .arg("agent")
            .args(args)
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env("SIGSTORE_KMS_HSM_MODULE", &token.module)
            .env("SIGSTORE_KMS_HSM_PIN", support::USER_PIN)
            .env_remove("SIGSTORE_KMS_HSM_AGENT");
        if let Some(socket) = socket {
            command.env("SIGSTORE_KMS_HSM_AGENT", socket);
        }
        command.output().expect("the agent command runs")
    };
    let started = agent(&["--log", log.to_str().unwrap()], None);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let shell = String::from_utf8(started.stdout).unwrap();
    let socket = shell
        .strip_prefix("SIGSTORE_KMS_HSM_AGENT=")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no shell line: {shell}"))
        .to_owned();
    assert_contains(&shell, "export SIGSTORE_KMS_HSM_AGENT;");
    let socket_meta = std::fs::metadata(&socket).unwrap();
    assert!(socket_meta.file_type().is_socket());
    assert_eq!(socket_meta.mode() & 0o777, 0o600, "socket mode");
    let dir = Path::new(&socket).parent().unwrap().to_owned();
    assert!(
        dir.starts_with(runtime.path()),
        "{socket} is not in XDG_RUNTIME_DIR"
    );
    assert_eq!(
        std::fs::metadata(&dir).unwrap().mode() & 0o777,
        0o700,
        "directory mode"
    );

    let created = Command::new(plugin())
        .env("SIGSTORE_KMS_HSM_AGENT", &socket)
        .env_remove("SIGSTORE_KMS_HSM_MODULE")
        .env_remove("SIGSTORE_KMS_HSM_PIN")
        .args(["v1", &plugin_args(&reference, "createKey", None)])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "the agent supplies module and PIN: {}",
        String::from_utf8_lossy(&created.stdout)
    );

    let stopped = agent(&["--stop"], Some(&socket));
    assert!(
        stopped.status.success(),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );
    assert_contains(
        &String::from_utf8_lossy(&stopped.stdout),
        "unset SIGSTORE_KMS_HSM_AGENT;",
    );
    assert!(!Path::new(&socket).exists(), "the socket is left behind");
    assert!(!dir.exists(), "the socket's directory is left behind");
    let log = std::fs::read_to_string(&log).unwrap();
    assert_contains(&log, "createKey token=agent-background object=\"key\": ok");
    assert_contains(&log, "stopped");
    assert_no_pin(&log);
}

#[test]
fn a_signal_stops_the_agent_cleanly() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("agent-signal");
    let mut agent = Agent::start(&token, &[]);
    agent.signal("TERM");
    assert!(agent.wait(), "the agent did not exit cleanly on SIGTERM");
    assert!(!agent.socket.exists(), "the socket is left behind");
    assert_contains(&agent.log(), "stopping: SIGTERM received");
}

#[test]
fn the_agent_serves_only_its_module_and_token() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("agent-served");
    token.another("agent-other");
    let agent = Agent::start(&token, &["--token", "agent-served"]);
    let served = token.reference("key", "");
    agent
        .client(&served)
        .create_key("ecdsa-p256-sha256", &options())
        .unwrap();

    let other_token = served.replace("token=agent-served", "token=agent-other");
    let message = plugin_error(agent.client(&other_token).public_key(&options()));
    assert_contains(&message, "serves only token \"agent-served\"");
    assert_contains(&message, "\"agent-other\"");

    let copy = token.dir.join("copy-of-libsofthsm2.so");
    std::fs::copy(&token.module, &copy).unwrap();
    let other_module = format!(
        "hsm://token=agent-served;object=key?module-path={}",
        copy.display()
    );
    let message = plugin_error(agent.client(&other_module).public_key(&options()));
    assert_contains(&message, "serves the PKCS#11 module");
    assert_contains(&message, "copy-of-libsofthsm2.so");

    // The module the caller's environment names counts too.
    let public_key = plugin_args("token=agent-served;object=key", "publicKey", None);
    let out = plugin_call(
        &agent.socket,
        &[("SIGSTORE_KMS_HSM_MODULE", copy.as_os_str())],
        &public_key,
    );
    assert_contains(&error_reply(&out), "copy-of-libsofthsm2.so");

    // So does the caller's allow-list of modules.
    let out = plugin_call(
        &agent.socket,
        &[("SIGSTORE_KMS_HSM_MODULE_ALLOWLIST", copy.as_os_str())],
        &public_key,
    );
    assert_contains(
        &error_reply(&out),
        "is not in SIGSTORE_KMS_HSM_MODULE_ALLOWLIST",
    );
    let canonical = std::fs::canonicalize(&token.module).unwrap();
    let allowed = plugin_call(
        &agent.socket,
        &[("SIGSTORE_KMS_HSM_MODULE_ALLOWLIST", canonical.as_os_str())],
        &public_key,
    );
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stdout)
    );
}

#[test]
fn concurrent_callers_are_all_served_and_logged() {
    let Some((_token, reference, agent, public)) = agent_with_key("agent-parallel", &[]) else {
        return;
    };
    thread::scope(|scope| {
        for signer in 0..8 {
            let (agent, reference, public) = (&agent, &reference, &public);
            scope.spawn(move || {
                let client = agent.client(reference);
                for call in 0..10 {
                    let message = format!("signer {signer} call {call}");
                    let signature = client
                        .sign_message(message.as_bytes(), &options())
                        .unwrap_or_else(|err| panic!("signer {signer} call {call}: {err}"));
                    public
                        .verify(message.as_bytes(), &signature, HashFunc::SHA256)
                        .unwrap_or_else(|err| panic!("signer {signer} call {call}: {err}"));
                }
            });
        }
    });
    let log = agent.log();
    let signed = log
        .lines()
        .filter(|line| line.contains("signMessage token=agent-parallel object=\"key\": ok"))
        .count();
    assert_eq!(signed, 80, "{log}");
    assert!(log.lines().any(|line| line.contains(": pid ")), "{log}");
    assert_no_pin(&log);
}

#[test]
fn a_lost_token_reinitialises_the_module_once_then_reports() {
    let Some((token, reference, agent, public)) =
        agent_with_key("agent-lost", &["--token", "agent-lost"])
    else {
        return;
    };
    let client = agent.client(&reference);

    // The token goes away, as a removed smart card or an HSM that lost
    // its state does.
    let tokens = token.dir.join("tokens");
    let away = token.dir.join("tokens-away");
    std::fs::rename(&tokens, &away).unwrap();
    std::fs::create_dir(&tokens).unwrap();
    let message = plugin_error(client.sign_message(&b"while away"[..], &options()));
    assert_contains(&message, "re-initialised the PKCS#11 module");
    assert_contains(&message, "token not found");
    assert_eq!(
        agent.log().matches("re-initialising").count(),
        1,
        "{}",
        agent.log()
    );

    // It comes back: the next call loads the module again and signs.
    std::fs::remove_dir(&tokens).unwrap();
    std::fs::rename(&away, &tokens).unwrap();
    let signature = client.sign_message(&b"back"[..], &options()).unwrap();
    public
        .verify(&b"back"[..], &signature, HashFunc::SHA256)
        .unwrap();
    assert_eq!(
        agent.log().matches("re-initialising").count(),
        2,
        "{}",
        agent.log()
    );
}

#[test]
fn a_token_made_again_under_its_label_is_served_with_its_own_key() {
    // The agent keeps sessions open between calls; one kept on the old
    // token must not stand for the new one.
    let Some((token, reference, agent, old)) =
        agent_with_key("agent-again", &["--token", "agent-again"])
    else {
        return;
    };
    let client = agent.client(&reference);
    let signature = client.sign_message(&b"old"[..], &options()).unwrap();
    old.verify(&b"old"[..], &signature, HashFunc::SHA256)
        .unwrap();

    token.make_again();
    let new = support::client(&reference)
        .create_key("ecdsa-p256-sha256", &options())
        .expect("a key made directly in the new token");
    assert_ne!(new, old);
    assert_eq!(client.public_key(&options()).unwrap(), new);
    let signature = client.sign_message(&b"new"[..], &options()).unwrap();
    new.verify(&b"new"[..], &signature, HashFunc::SHA256)
        .unwrap();
}

#[test]
fn other_users_are_refused() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "SKIPPED: only root can run a caller under another uid; the socket's modes \
             (checked in started_in_the_background_private_and_stop_removes_the_socket) keep \
             other users out before the uid check"
        );
        return;
    }
    let Some((_token, reference, agent, _)) = agent_with_key("agent-uid", &[]) else {
        return;
    };
    // Opened up on purpose, so that the uid check is what stands in the
    // way.
    for (path, mode) in [(agent.dir.path(), 0o755), (agent.socket.as_path(), 0o777)] {
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
    // The plugin itself would refuse this agent (it runs as another uid),
    // so a raw client asks it to stop, as uid 65534.
    let script = format!(
        "import socket,struct,sys\nc=socket.socket(socket.AF_UNIX)\nc.connect({:?})\n\
         p=b'{{\"request\":\"stop\"}}'\nc.sendall(bytes([1])+struct.pack('>I',len(p))+p)\n\
         h=c.recv(5,socket.MSG_WAITALL)\nsys.stdout.write(c.recv(4096,socket.MSG_WAITALL)[1:].decode())\n",
        agent.socket.to_str().unwrap()
    );
    let Ok(out) = std::os::unix::process::CommandExt::uid(
        Command::new("python3").args(["-c", &script]),
        65534,
    )
    .output() else {
        skip_without_python();
        return;
    };
    let refusal = String::from_utf8_lossy(&out.stdout);
    assert_contains(&refusal, "serves only uid 0, not uid 65534");
    // Still serving.
    agent.client(&reference).public_key(&options()).unwrap();
    assert!(agent.socket.exists(), "another user stopped the agent");
    assert_contains(&agent.log(), "refused");
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

#[test]
fn the_plugin_sends_no_pin_and_writes_the_agents_reply_as_it_came() {
    use std::io::Write as _;
    use std::os::unix::net::UnixListener;

    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let reply = br#"{"signMessage":{"signature":"c2lnbmF0dXJl"}}"#;
    // This test plays the agent: it records what the plugin sends.
    let agent = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut kinds = Vec::new();
        let mut received = Vec::new();
        while let Some((kind, payload)) = read_frame(&mut stream) {
            kinds.push(kind);
            received.extend_from_slice(&payload);
            if kind == 3 {
                break;
            }
        }
        let mut frame = vec![4u8];
        frame.extend_from_slice(&(reply.len() as u32 + 1).to_be_bytes());
        frame.push(0);
        frame.extend_from_slice(reply);
        stream.write_all(&frame).unwrap();
        (kinds, received)
    });
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, "13572468\n").unwrap();
    let args = format!(
        "{{\"initOptions\":{{\"protocolVersion\":\"v1\",\"keyResourceID\":\"token=t;object=k?pin-source=file:{}\",\
         \"hashFunc\":5}},\"methodName\":\"signMessage\",\"signMessage\":{{\"signOptions\":{{\"messageOptions\":{{}}}}}}}}",
        pin_file.display()
    );
    let mut child = Command::new(plugin())
        .args(["v1", &args])
        .env("SIGSTORE_KMS_HSM_AGENT", &socket)
        .env("SIGSTORE_KMS_HSM_PIN", "24681357")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"the message to sign")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (kinds, received) = agent.join().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, reply, "the reply was not passed on as it came");
    assert_eq!(kinds, [1, 2, 3], "request, the message, its end");
    let received = String::from_utf8_lossy(&received);
    assert_contains(&received, "the message to sign");
    assert!(
        !received.contains("24681357") && !received.contains("13572468"),
        "a PIN went over the socket: {received}"
    );
}

#[test]
fn a_socket_of_another_user_gets_no_call() {
    // A listener of uid 65534 that would answer anything.
    let Some(listener) = ForeignListener::start("time.sleep(5)\n") else {
        return;
    };
    let out = public_key_call("hsm://token=t;object=k", &listener.socket, None);
    let reply = error_reply(&out);
    assert_contains(&reply, "runs as uid 65534, not as you");
    assert_contains(&reply, "SIGSTORE_KMS_HSM_AGENT");
}
