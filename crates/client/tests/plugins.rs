//! The host against misbehaving plugins, one per error path, plus what a
//! well-behaved plugin sees (argv, stdin). The plugins are the fake of
//! `test-plugins/fakes`, so every test here runs on Linux, macOS and Windows
//! but those that say otherwise.

mod common;

use std::io::{self, Read};
use std::time::{Duration, Instant, SystemTime};

use common::{b64, p256_pem, Plugins, Steps, SIGN_OK};
use sigstore_kms_client::{
    CallOptions, Client, Error, ExecutionFailure, HashFunc, KeyAlgorithm, MethodName,
    ResponseProblem,
};
use sigstore_kms_protocol::{
    InitOptions, MessageOptions, MethodArgs, PluginArgs, ResponseError, RpcOptions, SignMessageArgs,
};

fn none() -> CallOptions {
    CallOptions::new()
}

/// The two ways a call is supervised: a call without a message (on Linux,
/// by the caller's thread alone) and a call streaming one (with helper
/// threads). Process handling is tested both ways.
#[derive(Clone, Copy, Debug)]
enum Call {
    Digest,
    Message,
}

const CALLS: [Call; 2] = [Call::Digest, Call::Message];

/// Signs the digest of "m", or streams "m" itself.
fn sign(client: &Client, call: Call, options: &CallOptions) -> Result<Vec<u8>, Error> {
    match call {
        Call::Digest => client.sign_digest(&[0x5a; 32], HashFunc::SHA256, options),
        Call::Message => client.sign_message(&b"m"[..], options),
    }
}

/// Signs with a deadline one second away, which the call is to miss: its
/// error, and how long it took.
fn sign_past_a_deadline(client: &Client, call: Call) -> (Error, Duration) {
    let start = Instant::now();
    let options = CallOptions::new().timeout(Duration::from_secs(1));
    let err = sign(client, call, &options).unwrap_err();
    (err, start.elapsed())
}

/// A message of `len` bytes that is never held in memory whole.
fn big_message(len: u64) -> impl Read + Send {
    io::repeat(0x5a).take(len)
}

/// Asserts that every pid in `file` (at least `count`) is gone soon.
fn assert_all_gone(file: &std::path::Path, count: usize, what: &str) {
    for pid in common::read_pids(file, count) {
        assert!(common::wait_gone(pid), "{what}: process {pid} survived");
    }
}

#[test]
fn garbage_stdout_is_an_unparseable_execution_error() {
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().out("this is not json\n").err("oops\n"));
    match client.default_algorithm(&none()).unwrap_err() {
        Error::Execution {
            method: MethodName::DefaultAlgorithm,
            failure: ExecutionFailure::UnparseableOutput { .. },
            stderr,
            ..
        } => assert_eq!(stderr.as_deref(), Some("oops\n")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_stdout_is_an_execution_error_that_says_so() {
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().exit(0));
    let err = client.supported_algorithms(&none()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Execution {
                failure: ExecutionFailure::EmptyOutput { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("empty stdout"), "{err}");
}

#[test]
fn error_message_is_carried_verbatim_whatever_the_exit_status() {
    let plugins = Plugins::new();
    let client = plugins.client(
        Steps::new()
            .out(r#"{"errorMessage":"key \"k\" not found: <permission denied> & more","publicKey":{}}"#)
            .exit(1),
    );
    match client.public_key(&none()).unwrap_err() {
        Error::Plugin { method, message } => {
            assert_eq!(method, MethodName::PublicKey);
            assert_eq!(message, r#"key "k" not found: <permission denied> & more"#);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn valid_answer_with_nonzero_exit_is_used() {
    let plugins = Plugins::new();
    let client = plugins.client(
        Steps::new()
            .reply(r#"{"defaultAlgorithm":{"defaultAlgorithm":"ecdsa-p256-sha256"}}"#)
            .exit(3),
    );
    assert_eq!(
        client.default_algorithm(&none()).unwrap(),
        "ecdsa-p256-sha256"
    );
}

// Unix only: death by a signal has no Windows equivalent (a killed process
// there just has an exit code).
#[cfg(unix)]
#[test]
fn death_by_signal_is_reported_as_such_even_after_a_valid_answer() {
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().reply(SIGN_OK).kill_self());
    for call in CALLS {
        match sign(&client, call, &none()).unwrap_err() {
            Error::Execution {
                failure: ExecutionFailure::KilledBySignal { signal },
                ..
            } => assert_eq!(signal, 9, "{call:?}"),
            other => panic!("{call:?}: {other:?}"),
        }
    }
}

#[test]
fn hang_past_the_deadline_is_killed_and_returns_promptly() {
    let plugins = Plugins::new();
    let pid_file = plugins.path("plugin.pid");
    let client = plugins.client(Steps::new().pid(&pid_file).sleep(60));
    for call in CALLS {
        let (err, elapsed) = sign_past_a_deadline(&client, call);
        assert!(matches!(err, Error::DeadlineExceeded { .. }), "{err:?}");
        assert!(elapsed < Duration::from_secs(10), "{call:?}: {elapsed:?}");
        assert!(
            elapsed >= Duration::from_millis(900),
            "{call:?}: {elapsed:?}"
        );
        assert_all_gone(&pid_file, 1, &format!("{call:?}: the plugin"));
    }
}

#[test]
fn default_timeout_applies_to_calls_without_a_deadline() {
    let plugins = Plugins::new();
    let client = Client::builder()
        .default_timeout(Duration::from_millis(500))
        .with_executable(common::fake_exe(), Steps::new().sleep(60).key_ref());
    let start = Instant::now();
    let err = client.public_key(&none()).unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded { .. }), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(10));
    drop(plugins);
}

/// The plugin's child holds stdin, stdout and stderr and sleeps; the
/// plugin waits for it. At the deadline both are killed, on Windows through
/// the call's Job Object.
#[test]
fn deadline_kills_every_process_the_plugin_started() {
    let plugins = Plugins::new();
    let pid_file = plugins.path("grandchild.pid");
    let client = plugins.client(Steps::new().spawn(&pid_file).sleep(60));
    let options = CallOptions::new().timeout(Duration::from_secs(1));
    for (i, call) in CALLS.into_iter().enumerate() {
        let start = Instant::now();
        let err = match call {
            Call::Digest => sign(&client, call, &options),
            Call::Message => client.sign_message(big_message(1 << 20), &options),
        }
        .unwrap_err();
        assert!(matches!(err, Error::DeadlineExceeded { .. }), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(10), "{call:?}");
        assert_all_gone(&pid_file, i + 1, &format!("{call:?}: grandchild"));
    }
}

/// The plugin's child inherits stdin and never reads it, the plugin waits:
/// an 8 MB message cannot be written, and the call still ends at its
/// deadline (plus the exit grace), leaving nothing running.
#[test]
fn stdin_never_read_by_a_child_holding_it_ends_at_the_deadline() {
    let plugins = Plugins::new();
    let pid_file = plugins.path("child.pid");
    let plugin_pid = plugins.path("plugin.pid");
    let client = plugins.client(Steps::new().pid(&plugin_pid).spawn(&pid_file).sleep(60));
    let start = Instant::now();
    let err = client
        .sign_message(
            big_message(8 << 20),
            &CallOptions::new().timeout(Duration::from_secs(2)),
        )
        .unwrap_err();
    let elapsed = start.elapsed();
    assert!(matches!(err, Error::DeadlineExceeded { .. }), "{err:?}");
    // 2 s of deadline, the default exit grace, and slack for a busy machine.
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
    assert_all_gone(&plugin_pid, 1, "the plugin");
    assert_all_gone(&pid_file, 1, "its child");
}

#[test]
fn closing_the_pipes_and_running_on_is_stopped_at_the_deadline() {
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().close_stdio().sleep(60));
    for call in CALLS {
        let (err, elapsed) = sign_past_a_deadline(&client, call);
        assert!(
            matches!(err, Error::DeadlineExceeded { .. }),
            "{call:?}: {err:?}"
        );
        assert!(elapsed < Duration::from_secs(10), "{call:?}: {elapsed:?}");
    }
}

#[test]
fn a_grace_too_long_to_add_up_waits_for_the_deadline_without_panicking() {
    let plugins = Plugins::new();
    let pid_file = plugins.path("lingering.pid");
    let steps = Steps::new().spawn(&pid_file).reply(SIGN_OK).exit(0);
    let client = Client::builder()
        .exit_grace(Duration::MAX)
        .with_executable(common::fake_exe(), steps.key_ref());
    for (i, call) in CALLS.into_iter().enumerate() {
        let (err, elapsed) = sign_past_a_deadline(&client, call);
        assert!(
            matches!(err, Error::DeadlineExceeded { .. }),
            "{call:?}: {err:?}"
        );
        assert!(elapsed < Duration::from_secs(10), "{call:?}: {elapsed:?}");
        assert_all_gone(&pid_file, i + 1, &format!("{call:?}: lingering child"));
    }
}

/// The plugin moves into the process group of a process it started, away
/// from its own group, where it leaves another.
// Linux only: process groups are a POSIX notion (Windows has Job Objects,
// which a process cannot leave), and the test drives them with perl.
#[cfg(target_os = "linux")]
#[test]
fn a_plugin_that_leaves_its_process_group_is_still_killed_at_the_deadline() {
    let Ok(perl) = which_perl() else {
        eprintln!("SKIPPED: perl is not on PATH");
        return;
    };
    let plugins = Plugins::new();
    let pid_file = plugins.path("elsewhere.pid");
    let script = plugins.script(
        "sigstore-kms-elsewhere",
        &format!(
            "exec {} -MPOSIX -e '\
             if (fork() == 0) {{ exec \"sleep\", \"60\" }}\
             my $leader = fork(); if ($leader == 0) {{ setpgid(0, 0); sleep 60; exit }}\
             open(my $f, \">\", \"{}\"); print $f $leader; close($f);\
             select(undef, undef, undef, 0.2); setpgid(0, $leader) or die \"setpgid: $!\"; sleep 60'",
            perl.display(),
            pid_file.display()
        ),
    );
    let client = Client::builder().with_executable(script, common::KEY_REF);
    for call in CALLS {
        let (err, elapsed) = sign_past_a_deadline(&client, call);
        // What the plugin started in the other group is out of reach.
        let elsewhere = common::read_pid(&pid_file);
        // SAFETY: kill(2) takes no pointers.
        unsafe { libc::kill(elsewhere as i32, libc::SIGKILL) };
        assert!(
            matches!(err, Error::DeadlineExceeded { .. }),
            "{call:?}: {err:?}"
        );
        assert!(elapsed < Duration::from_secs(3), "{call:?}: {elapsed:?}");
    }
}

#[cfg(target_os = "linux")]
fn which_perl() -> Result<std::path::PathBuf, ()> {
    std::env::split_paths(&std::env::var_os("PATH").ok_or(())?)
        .map(|dir| dir.join("perl"))
        .find(|path| path.is_file())
        .ok_or(())
}

#[test]
fn deadline_already_past_fails_without_starting_the_plugin() {
    let plugins = Plugins::new();
    let marker = plugins.path("started");
    let client = plugins.client(Steps::new().touch(&marker).reply(SIGN_OK));
    let past = SystemTime::now() - Duration::from_secs(1);
    let err = client
        .sign_message(&b"m"[..], &CallOptions::new().deadline(past))
        .unwrap_err();
    assert!(matches!(err, Error::DeadlineExceeded { .. }), "{err:?}");
    assert!(!marker.exists(), "the plugin was started");
}

/// The plugin answers and exits, leaving a child that holds its stdout:
/// the answer is used after the exit grace, and the child is killed.
#[test]
fn lingering_child_holding_stdout_does_not_hold_the_call() {
    let plugins = Plugins::new();
    let pid_file = plugins.path("lingering.pid");
    let client = plugins.client(Steps::new().spawn(&pid_file).reply(SIGN_OK).exit(0));
    for (i, call) in CALLS.into_iter().enumerate() {
        let start = Instant::now();
        let signature = sign(&client, call, &none()).unwrap();
        assert_eq!(signature, [0x30, 0x06]);
        let elapsed = start.elapsed();
        assert!(elapsed < Duration::from_secs(10), "{call:?}: {elapsed:?}");
        assert_all_gone(&pid_file, i + 1, &format!("{call:?}: lingering child"));
    }
}

#[test]
fn stdout_flood_fails_at_the_limit() {
    let plugins = Plugins::new();
    let pid_file = plugins.path("flood.pid");
    let client = Client::builder().stdout_limit(256 * 1024).with_executable(
        common::fake_exe(),
        Steps::new().pid(&pid_file).flood().key_ref(),
    );
    for call in CALLS {
        let start = Instant::now();
        let err = sign(&client, call, &none()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Execution {
                    failure: ExecutionFailure::OutputTooLarge { limit: 262144 },
                    ..
                }
            ),
            "{call:?}: {err:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(10), "{call:?}");
        assert_all_gone(&pid_file, 1, &format!("{call:?}: flooding plugin"));
    }
}

#[test]
fn answer_without_reading_a_large_stdin_is_used() {
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().reply(SIGN_OK));
    let signature = client.sign_message(big_message(64 << 20), &none()).unwrap();
    assert_eq!(signature, [0x30, 0x06]);
    client
        .verify_signature(&[1, 2], big_message(64 << 20), &none())
        .unwrap_err();
}

#[test]
fn plugin_writing_much_before_reading_stdin_does_not_deadlock() {
    let plugins = Plugins::new();
    // 1 MiB of padding to stdout (JSON allows whitespace) before reading
    // anything, then the whole message, then the answer.
    let stdin = plugins.path("stdin");
    let client = plugins.client(
        Steps::new()
            .out_fill(1 << 20, ' ')
            .read_stdin(Some(&stdin))
            .reply(SIGN_OK),
    );
    client.sign_message(big_message(8 << 20), &none()).unwrap();
    assert_eq!(std::fs::metadata(&stdin).unwrap().len(), 8 << 20);
}

#[test]
fn missing_or_ill_typed_method_object_is_a_response_error() {
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().reply(SIGN_OK));
    match client.public_key(&none()).unwrap_err() {
        Error::Response {
            method: MethodName::PublicKey,
            problem: ResponseProblem::Protocol(ResponseError::MissingResult(_)),
            ..
        } => {}
        other => panic!("{other:?}"),
    }

    let plugins = Plugins::new();
    let client =
        plugins.client(Steps::new().reply(r#"{"defaultAlgorithm":{"defaultAlgorithm":5}}"#));
    match client.default_algorithm(&none()).unwrap_err() {
        Error::Response {
            problem: ResponseProblem::Protocol(ResponseError::InvalidResult { .. }),
            ..
        } => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_pem_is_a_response_error() {
    let plugins = Plugins::new();
    let not_pem = b64(b"-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n");
    let client = plugins.client(Steps::new().reply(&format!(
        r#"{{"createKey":{{"publicKeyPEM":"{not_pem}"}}}}"#
    )));
    match client.create_key("ecdsa-p256-sha256", &none()).unwrap_err() {
        Error::Response {
            method: MethodName::CreateKey,
            problem: ResponseProblem::PublicKey(_),
            ..
        } => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn public_key_is_parsed() {
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().reply(&format!(
        r#"{{"publicKey":{{"publicKeyPEM":"{}"}}}}"#,
        b64(p256_pem().as_bytes())
    )));
    let key = client.public_key(&none()).unwrap();
    assert_eq!(key.algorithm(), &KeyAlgorithm::EcdsaP256);
    assert_eq!(key.to_pem(), p256_pem());
}

#[test]
fn invalid_name_is_refused_before_lookup() {
    let err = Client::builder()
        .search_path("/usr/bin:/bin")
        .load("foobar/../../usr/bin/echo://key")
        .unwrap_err();
    assert!(matches!(err, Error::InvalidPluginName { .. }), "{err:?}");
    let err = Client::load("no-separator", HashFunc::SHA256).unwrap_err();
    assert!(matches!(err, Error::InvalidKeyReference { .. }), "{err:?}");
}

#[test]
fn missing_plugin_names_the_executable_searched_for() {
    let plugins = Plugins::new();
    let err = Client::builder()
        .search_path(plugins.dir.path())
        .load("nosuch://key")
        .unwrap_err();
    match &err {
        Error::PluginNotFound {
            executable,
            search_path,
        } => {
            // Windows names every PATHEXT extension tried.
            #[cfg(windows)]
            assert!(
                executable.starts_with("sigstore-kms-nosuch[") && executable.contains("|.exe|"),
                "{executable}"
            );
            #[cfg(not(windows))]
            assert_eq!(executable, "sigstore-kms-nosuch");
            assert_eq!(search_path, plugins.dir.path().as_os_str());
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("sigstore-kms-nosuch"));
}

#[test]
fn plugin_on_the_search_path_is_found_and_given_the_key_resource_id() {
    let plugins = Plugins::new();
    let exe = plugins.install("sigstore-kms-found");
    let steps = Steps::new().record(plugins.dir.path()).reply(SIGN_OK);
    let client = Client::builder()
        .search_path(plugins.dir.path())
        .hash_func(HashFunc::SHA512)
        .load(&format!("found://{}", steps.key_ref()))
        .unwrap();
    assert_eq!(client.executable(), exe);
    client.sign_message(&b"m"[..], &none()).unwrap();
    let args = std::fs::read_to_string(plugins.path("argv2")).unwrap();
    let args = PluginArgs::from_json(&args).unwrap();
    assert_eq!(args.init_options.key_resource_id, steps.key_ref());
    assert_eq!(args.init_options.hash_func, HashFunc::SHA512);
}

/// What a plugin that records its arguments and stdin and answers `reply`
/// takes as its key reference.
fn recording_steps(plugins: &Plugins, reply: &str) -> Steps {
    Steps::new()
        .record(plugins.dir.path())
        .read_stdin(Some(&plugins.path("stdin")))
        .reply(reply)
}

fn recording_plugin(plugins: &Plugins, reply: &str) -> Client {
    plugins.client(recording_steps(plugins, reply))
}

#[test]
fn argv_is_version_and_go_encoded_args_and_stdin_is_the_message() {
    let plugins = Plugins::new();
    let client = recording_plugin(&plugins, SIGN_OK);
    let message: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    client.sign_message(&message[..], &none()).unwrap();

    let read = |name: &str| std::fs::read(plugins.path(name)).unwrap();
    assert_eq!(read("argc"), b"2\n");
    assert_eq!(read("argv1"), b"v1");
    let expected = PluginArgs::new(
        InitOptions::new(
            recording_steps(&plugins, SIGN_OK).key_ref(),
            HashFunc::SHA256,
        ),
        MethodArgs::SignMessage(SignMessageArgs::new(
            RpcOptions::go_defaults(),
            MessageOptions::default(),
        )),
    )
    .to_json()
    .unwrap();
    assert_eq!(String::from_utf8(read("argv2")).unwrap(), expected);
    assert!(read("stdin") == message, "stdin differs from the message");
}

#[test]
fn call_options_reach_the_plugin_and_stdin_is_empty_without_a_message() {
    let plugins = Plugins::new();
    let client = recording_plugin(&plugins, SIGN_OK);
    let deadline = SystemTime::now() + Duration::from_secs(120);
    client
        .sign_digest(
            &[0xab; 48],
            HashFunc::SHA384,
            &CallOptions::new()
                .deadline(deadline)
                .key_version("7")
                .remote_verification(true),
        )
        .unwrap();
    assert_eq!(std::fs::read(plugins.path("stdin")).unwrap(), b"");
    let args = std::fs::read_to_string(plugins.path("argv2")).unwrap();
    let MethodArgs::SignMessage(sign) = PluginArgs::from_json(&args).unwrap().method else {
        panic!("{args}");
    };
    let options = sign.sign_options;
    assert_eq!(options.message_options.digest, Some(vec![0xab; 48]));
    assert_eq!(options.message_options.hash_func, Some(HashFunc::SHA384));
    assert_eq!(options.rpc_options.key_version(), "7");
    assert!(options.rpc_options.remote_verification());
    let sent = options.rpc_options.ctx_deadline.unwrap();
    let expected = sigstore_kms_protocol::OffsetDateTime::from(deadline);
    assert!(
        (sent - expected).abs() < time_tolerance(),
        "{sent} vs {expected}"
    );

    let plugins = Plugins::new();
    let client = recording_plugin(
        &plugins,
        r#"{"supportedAlgorithms":{"supportedAlgorithms":["a","b"]}}"#,
    );
    assert_eq!(client.supported_algorithms(&none()).unwrap(), ["a", "b"]);
    assert_eq!(std::fs::read(plugins.path("stdin")).unwrap(), b"");
}

fn time_tolerance() -> std::time::Duration {
    Duration::from_millis(1)
}

#[test]
fn message_read_failure_fails_the_call_and_kills_the_plugin() {
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(1);
            self.0 -= n;
            Ok(n)
        }
    }
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().read_stdin(None).reply(SIGN_OK));
    match client.sign_message(Failing(100_000), &none()).unwrap_err() {
        Error::Message(error) => assert_eq!(error.to_string(), "disk on fire"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn captured_stderr_keeps_only_the_tail() {
    let plugins = Plugins::new();
    let client = plugins.client(
        Steps::new()
            .err_fill(20000, 'x')
            .err(" the-end\n")
            .out("garbage\n"),
    );
    for call in CALLS {
        match sign(&client, call, &none()).unwrap_err() {
            Error::Execution {
                stderr: Some(stderr),
                ..
            } => {
                assert!(stderr.len() <= 4096, "{call:?}: {}", stderr.len());
                assert!(stderr.ends_with("x the-end\n"), "{call:?}: {stderr:?}");
            }
            other => panic!("{call:?}: {other:?}"),
        }
    }
}

#[test]
fn clones_are_usable_from_many_threads_at_once() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Client>();
    assert_send_sync::<sigstore_kms_client::PluginSigner<p256::NistP256>>();
    assert_send_sync::<
        sigstore_kms_client::PluginSigner<sigstore_kms_client::RsaPkcs1v15<sha2::Sha256>>,
    >();

    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().read_stdin(None).reply(SIGN_OK));
    std::thread::scope(|scope| {
        for _ in 0..8 {
            let client = client.clone();
            scope.spawn(move || {
                for _ in 0..10 {
                    assert_eq!(
                        client.sign_message(big_message(100_000), &none()).unwrap(),
                        [0x30, 0x06]
                    );
                }
            });
        }
    });
}

mod signer {
    use super::*;
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use p256::ecdsa::signature::{DigestSigner, Keypair, Signer, Verifier};
    use p256::ecdsa::{DerSignature, Signature};
    use sha2::{Digest, Sha256};
    use sigstore_kms_client::{KeyError, PrehashLengthError};

    type PluginSigner = sigstore_kms_client::PluginSigner<p256::NistP256>;

    const MESSAGE: &[u8] = b"sign me";

    /// A plugin that serves the test key and answers signMessage with a
    /// signature over MESSAGE it was given in advance.
    fn signing_plugin(plugins: &Plugins, signature: &[u8]) -> Client {
        plugins.client(Steps::new().record(plugins.dir.path()).reply_by_method(&[
            ("publicKey", &public_key_answer()),
            (
                "signMessage",
                &format!(r#"{{"signMessage":{{"signature":"{}"}}}}"#, b64(signature)),
            ),
            ("*", r#"{"errorMessage":"unexpected method"}"#),
        ]))
    }

    fn public_key_answer() -> String {
        format!(
            r#"{{"publicKey":{{"publicKeyPEM":"{}"}}}}"#,
            b64(p256_pem().as_bytes())
        )
    }

    #[test]
    fn signer_implements_the_rustcrypto_traits_over_the_plugin() {
        let key = common::signing_key();
        let expected: DerSignature = key.sign(MESSAGE);
        let plugins = Plugins::new();
        let signer = PluginSigner::new(signing_plugin(&plugins, expected.as_bytes())).unwrap();
        assert_eq!(&signer.verifying_key(), key.verifying_key());

        let fixed: Signature = signer.try_sign(MESSAGE).unwrap();
        key.verifying_key().verify(MESSAGE, &fixed).unwrap();
        let der: DerSignature = signer.try_sign(MESSAGE).unwrap();
        assert_eq!(der.as_bytes(), expected.as_bytes());
        let digested: Signature = signer
            .try_sign_digest(|digest: &mut Sha256| {
                digest.update(MESSAGE);
                Ok(())
            })
            .unwrap();
        assert_eq!(digested, fixed);
        let prehashed: DerSignature = signer.sign_prehash(&Sha256::digest(MESSAGE)).unwrap();
        assert_eq!(prehashed.as_bytes(), expected.as_bytes());

        // Only the digest went to the plugin, with its hash function.
        let args = std::fs::read_to_string(plugins.path("argv2")).unwrap();
        let MethodArgs::SignMessage(sign) = PluginArgs::from_json(&args).unwrap().method else {
            panic!("{args}");
        };
        let message = sign.sign_options.message_options;
        assert_eq!(
            message.digest.as_deref(),
            Some(&Sha256::digest(MESSAGE)[..])
        );
        assert_eq!(message.hash_func, Some(HashFunc::SHA256));
    }

    #[test]
    fn signer_failures_carry_the_client_error() {
        let plugins = Plugins::new();
        let signer = PluginSigner::new(signing_plugin(&plugins, b"not a signature")).unwrap();
        let err = Signer::<Signature>::try_sign(&signer, MESSAGE).unwrap_err();
        let source = std::error::Error::source(&err).expect("a source");
        assert_eq!(
            source.to_string(),
            "the plugin's 15-byte answer is not an ASN.1 DER ECDSA P-256 signature"
        );
        let err = PrehashSigner::<Signature>::sign_prehash(&signer, &[0; 20]).unwrap_err();
        let source = std::error::Error::source(&err).expect("a source");
        assert_eq!(
            source
                .downcast_ref::<PrehashLengthError>()
                .map(|e| e.length),
            Some(20),
            "{source}"
        );
        assert!(source.to_string().contains("20-byte prehash"), "{source}");

        let plugins = Plugins::new();
        let client = plugins.client(Steps::new().reply_by_method(&[
            ("publicKey", &public_key_answer()),
            ("*", r#"{"errorMessage":"HSM unplugged"}"#),
        ]));
        let signer = PluginSigner::new(client).unwrap();
        let err = Signer::<Signature>::try_sign(&signer, MESSAGE).unwrap_err();
        let source = std::error::Error::source(&err).expect("a source");
        match source.downcast_ref::<Error>() {
            Some(Error::Plugin { message, .. }) => assert_eq!(message, "HSM unplugged"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn signer_refuses_a_key_that_is_not_p256_when_built() {
        let rsa = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rsa2048.pub.pem"),
        )
        .unwrap();
        let plugins = Plugins::new();
        let client = plugins.client(Steps::new().reply(&format!(
            r#"{{"publicKey":{{"publicKeyPEM":"{}"}}}}"#,
            b64(&rsa)
        )));
        let err = PluginSigner::new(client).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Key(KeyError::WrongKeyType {
                    found: KeyAlgorithm::Rsa { bits: 2048 },
                    expected: "ECDSA P-256",
                })
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("the key is RSA 2048, not the ECDSA P-256 key asked for"),
            "{err}"
        );

        let plugins = Plugins::new();
        let client = plugins.client(Steps::new().reply(r#"{"errorMessage":"no such key"}"#));
        assert!(matches!(
            PluginSigner::new(client),
            Err(Error::Plugin { .. })
        ));
    }
}

/// `ctxDeadline` is RFC 3339, whose years end at 9999: a deadline beyond
/// that (a timeout of thousands of years, or `Duration::MAX`) is sent as the
/// last second of 9999, never as a panic.
#[test]
fn a_deadline_past_the_year_9999_is_sent_as_the_last_second_of_9999() {
    let eight_thousand_years = Duration::from_secs(8000 * 366 * 24 * 3600);
    // The year 19392: past 9999, and within Windows' SystemTime (which
    // ends in the year 30828).
    let far = SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 39);
    let timeouts = [
        CallOptions::new().timeout(eight_thousand_years),
        CallOptions::new().timeout(Duration::MAX),
        CallOptions::new().deadline(far),
    ];
    for options in timeouts {
        let plugins = Plugins::new();
        let client = recording_plugin(&plugins, SIGN_OK);
        client.sign_message(&b"m"[..], &options).unwrap();
        let args = std::fs::read_to_string(plugins.path("argv2")).unwrap();
        assert!(
            args.contains(r#""ctxDeadline":"9999-12-31T23:59:59Z""#),
            "{options:?}: {args}"
        );

        let client = recording_plugin(
            &plugins,
            &format!(
                r#"{{"createKey":{{"publicKeyPEM":"{}"}}}}"#,
                b64(p256_pem().as_bytes())
            ),
        );
        client.create_key("ecdsa-p256-sha256", &options).unwrap();
        let args = std::fs::read_to_string(plugins.path("argv2")).unwrap();
        assert!(
            args.contains(r#""ctxDeadline":"9999-12-31T23:59:59Z""#),
            "{options:?}: {args}"
        );
    }
    let client = Client::builder()
        .default_timeout(Duration::MAX)
        .with_executable(common::fake_exe(), Steps::new().reply(SIGN_OK).key_ref());
    client.sign_message(&b"m"[..], &none()).unwrap();
}
