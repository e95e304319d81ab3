//! How a call supervises its plugin, case by case, against both APIs that
//! make calls: the blocking `Client` and `AsyncClient` (feature `tokio`).
//! Each case is written once, as a function of the [`Caller`] that makes
//! its calls; the table at the end runs every case as one test per API.
//! Cases that change the whole process (`end_plugins`, the disposition of
//! SIGPIPE) run in a process of their own: the test starts this test
//! binary again for that one case.
//!
//! The plugins are the fake of `test-plugins/fakes` (scripts where a case
//! needs what only Unix has), so the cases run on every OS but those that
//! say otherwise.

mod common;

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use common::{Plugins, Steps, SIGN_OK};
use sigstore_kms_client::{end_plugins, AsyncClient, CallOptions, Client, Error, ExecutionFailure};
use sigstore_kms_client::{HashFunc, StderrMode};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

/// The API a case makes its calls through.
#[derive(Clone, Copy, Debug)]
enum Api {
    Blocking,
    Async,
}

/// What a call streams to the plugin.
#[derive(Clone, Copy, Debug)]
enum Message {
    /// Nothing: the call signs a digest.
    Digest,
    /// These bytes.
    Bytes(&'static [u8]),
    /// This many bytes, never held in memory whole.
    Large(u64),
    /// This many bytes, then a read error.
    FailingAfter(usize),
}

/// Both kinds of call: a digest (on Linux, supervised by one thread alone)
/// and a streamed message (with a helper thread).
const BOTH: [Message; 2] = [Message::Digest, Message::Bytes(b"m")];

/// A message source that yields `left` bytes, then fails.
struct Failing {
    left: usize,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.left);
        buf[..n].fill(1);
        self.left -= n;
        Ok(n)
    }
}

impl AsyncRead for Failing {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = Read::read(&mut *self, buf.initialize_unfilled())?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// Makes a case's calls through one API.
struct Caller {
    api: Api,
    runtime: tokio::runtime::Runtime,
}

impl Caller {
    fn new(api: Api) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Caller { api, runtime }
    }

    /// Signs `message` (or, for [`Message::Digest`], a digest).
    fn sign(
        &self,
        client: &Client,
        message: Message,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        match self.api {
            Api::Blocking => sign_blocking(client, message, options),
            Api::Async => self.runtime.block_on(sign_async(
                AsyncClient::new(client.clone()),
                message,
                options,
            )),
        }
    }

    /// Starts signing `message` in another thread or task; the returned
    /// function waits for its result and how long it took.
    fn sign_in_background(
        &self,
        client: Client,
        message: Message,
    ) -> impl FnOnce() -> (Result<Vec<u8>, Error>, Duration) {
        let options = CallOptions::new();
        let start = Instant::now();
        let finish: Box<dyn FnOnce() -> Result<Vec<u8>, Error>> = match self.api {
            Api::Blocking => {
                let call = thread::spawn(move || sign_blocking(&client, message, &options));
                Box::new(move || call.join().unwrap())
            }
            Api::Async => {
                let client = AsyncClient::new(client);
                let call = self
                    .runtime
                    .spawn(async move { sign_async(client, message, &options).await });
                let runtime = self.runtime.handle().clone();
                Box::new(move || runtime.block_on(call).unwrap())
            }
        };
        move || {
            let result = finish();
            (result, start.elapsed())
        }
    }

    /// Signs with a deadline one second away, which the call is to miss:
    /// its error, and how long it took.
    fn sign_past_a_deadline(&self, client: &Client, message: Message) -> (Error, Duration) {
        let start = Instant::now();
        let options = CallOptions::new().timeout(Duration::from_secs(1));
        let err = self.sign(client, message, &options).unwrap_err();
        (err, start.elapsed())
    }

    fn public_key(&self, client: &Client) -> Result<sigstore_kms_client::PublicKey, Error> {
        let options = CallOptions::new();
        match self.api {
            Api::Blocking => client.public_key(&options),
            Api::Async => self
                .runtime
                .block_on(AsyncClient::new(client.clone()).public_key(&options)),
        }
    }
}

fn sign_blocking(
    client: &Client,
    message: Message,
    options: &CallOptions,
) -> Result<Vec<u8>, Error> {
    match message {
        Message::Digest => client.sign_digest(&[0x5a; 32], HashFunc::SHA256, options),
        Message::Bytes(bytes) => client.sign_message(bytes, options),
        Message::Large(len) => client.sign_message(io::repeat(0x5a).take(len), options),
        Message::FailingAfter(left) => client.sign_message(Failing { left }, options),
    }
}

async fn sign_async(
    client: AsyncClient,
    message: Message,
    options: &CallOptions,
) -> Result<Vec<u8>, Error> {
    match message {
        Message::Digest => {
            client
                .sign_digest(&[0x5a; 32], HashFunc::SHA256, options)
                .await
        }
        Message::Bytes(bytes) => client.sign_message(bytes, options).await,
        Message::Large(len) => {
            let message = tokio::io::repeat(0x5a).take(len);
            client.sign_message(message, options).await
        }
        Message::FailingAfter(left) => client.sign_message(Failing { left }, options).await,
    }
}

/// Asserts that every pid in `file` (at least `count`) is gone soon.
fn assert_all_gone(file: &std::path::Path, count: usize, what: &str) {
    for pid in common::read_pids(file, count) {
        assert!(common::wait_gone(pid), "{what}: process {pid} survived");
    }
}

fn deadline_exceeded(err: &Error) -> bool {
    matches!(err, Error::DeadlineExceeded { .. })
}

// Unix only: death by a signal has no Windows equivalent (a killed process
// there just has an exit code).
#[cfg(unix)]
fn death_by_signal_is_reported_as_such_even_after_a_valid_answer(caller: &Caller) {
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().reply(SIGN_OK).kill_self());
    for message in BOTH {
        match caller.sign(&client, message, &CallOptions::new()) {
            Err(Error::Execution {
                failure: ExecutionFailure::KilledBySignal { signal },
                ..
            }) => assert_eq!(signal, 9, "{message:?}"),
            other => panic!("{message:?}: {other:?}"),
        }
    }
}

fn hang_past_the_deadline_is_killed_and_returns_promptly(caller: &Caller) {
    let plugins = Plugins::new();
    let pid_file = plugins.path("plugin.pid");
    let client = plugins.client(Steps::new().pid(&pid_file).sleep(60));
    for message in BOTH {
        let (err, elapsed) = caller.sign_past_a_deadline(&client, message);
        assert!(deadline_exceeded(&err), "{err:?}");
        assert!(
            elapsed < Duration::from_secs(10),
            "{message:?}: {elapsed:?}"
        );
        assert!(
            elapsed >= Duration::from_millis(900),
            "{message:?}: {elapsed:?}"
        );
        assert_all_gone(&pid_file, 1, &format!("{message:?}: the plugin"));
    }
}

fn default_timeout_applies_to_calls_without_a_deadline(caller: &Caller) {
    let client = Client::builder()
        .default_timeout(Duration::from_millis(500))
        .with_executable(common::fake_exe(), Steps::new().sleep(60).key_ref());
    let start = Instant::now();
    let err = caller.public_key(&client).unwrap_err();
    assert!(deadline_exceeded(&err), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(10));
}

/// The plugin's child holds stdin, stdout and stderr and sleeps; the
/// plugin waits for it. At the deadline both are killed, on Windows through
/// the call's Job Object.
fn deadline_kills_every_process_the_plugin_started(caller: &Caller) {
    let plugins = Plugins::new();
    let pid_file = plugins.path("grandchild.pid");
    let client = plugins.client(Steps::new().spawn(&pid_file).sleep(60));
    let options = CallOptions::new().timeout(Duration::from_secs(1));
    for (i, message) in [Message::Digest, Message::Large(1 << 20)]
        .into_iter()
        .enumerate()
    {
        let start = Instant::now();
        let err = caller.sign(&client, message, &options).unwrap_err();
        assert!(deadline_exceeded(&err), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(10), "{message:?}");
        assert_all_gone(&pid_file, i + 1, &format!("{message:?}: grandchild"));
    }
}

/// The plugin's child inherits stdin and never reads it, the plugin waits:
/// an 8 MB message cannot be written, and the call still ends at its
/// deadline (plus the exit grace), leaving nothing running.
fn stdin_never_read_by_a_child_holding_it_ends_at_the_deadline(caller: &Caller) {
    let plugins = Plugins::new();
    let pid_file = plugins.path("child.pid");
    let plugin_pid = plugins.path("plugin.pid");
    let client = plugins.client(Steps::new().pid(&plugin_pid).spawn(&pid_file).sleep(60));
    let start = Instant::now();
    let options = CallOptions::new().timeout(Duration::from_secs(2));
    let err = caller
        .sign(&client, Message::Large(8 << 20), &options)
        .unwrap_err();
    let elapsed = start.elapsed();
    assert!(deadline_exceeded(&err), "{err:?}");
    // 2 s of deadline, the default exit grace, and slack for a busy machine.
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
    assert_all_gone(&plugin_pid, 1, "the plugin");
    assert_all_gone(&pid_file, 1, "its child");
}

fn closing_the_pipes_and_running_on_is_stopped_at_the_deadline(caller: &Caller) {
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().close_stdio().sleep(60));
    for message in BOTH {
        let (err, elapsed) = caller.sign_past_a_deadline(&client, message);
        assert!(deadline_exceeded(&err), "{message:?}: {err:?}");
        assert!(
            elapsed < Duration::from_secs(10),
            "{message:?}: {elapsed:?}"
        );
    }
}

/// `exit_grace(Duration::MAX)` is no grace deadline at all: a call whose
/// plugin exits cleanly answers, and one whose plugin leaves a process
/// holding stdout waits for the deadline; neither panics on the sum.
fn a_grace_too_long_to_add_up_is_no_grace_deadline_and_no_panic(caller: &Caller) {
    let plugins = Plugins::new();
    let endless_grace = |steps: Steps| {
        Client::builder()
            .exit_grace(Duration::MAX)
            .with_executable(common::fake_exe(), steps.key_ref())
    };
    let answering = endless_grace(Steps::new().reply(SIGN_OK).exit(0));
    for message in BOTH {
        let signature = caller.sign(&answering, message, &CallOptions::new());
        assert_eq!(signature.unwrap(), [0x30, 0x06], "{message:?}");
    }

    let pid_file = plugins.path("lingering.pid");
    let lingering = endless_grace(Steps::new().spawn(&pid_file).reply(SIGN_OK).exit(0));
    for (i, message) in BOTH.into_iter().enumerate() {
        let (err, elapsed) = caller.sign_past_a_deadline(&lingering, message);
        assert!(deadline_exceeded(&err), "{message:?}: {err:?}");
        assert!(
            elapsed < Duration::from_secs(10),
            "{message:?}: {elapsed:?}"
        );
        assert_all_gone(&pid_file, i + 1, &format!("{message:?}: lingering child"));
    }
}

/// The plugin moves into the process group of a process it started, away
/// from its own group, where it leaves another.
// Linux only: process groups are a POSIX notion (Windows has Job Objects,
// which a process cannot leave), and the case drives them with perl.
#[cfg(target_os = "linux")]
fn a_plugin_that_leaves_its_process_group_is_still_killed_at_the_deadline(caller: &Caller) {
    let Some(perl) = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("perl"))
        .find(|path| path.is_file())
    else {
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
    for message in BOTH {
        let (err, elapsed) = caller.sign_past_a_deadline(&client, message);
        // What the plugin started in the other group is out of reach.
        let elsewhere = common::read_pid(&pid_file);
        // SAFETY: kill(2) takes no pointers.
        unsafe { libc::kill(elsewhere as i32, libc::SIGKILL) };
        let _ = std::fs::remove_file(&pid_file);
        assert!(deadline_exceeded(&err), "{message:?}: {err:?}");
        assert!(elapsed < Duration::from_secs(3), "{message:?}: {elapsed:?}");
    }
}

fn deadline_already_past_fails_without_starting_the_plugin(caller: &Caller) {
    let plugins = Plugins::new();
    let marker = plugins.path("started");
    let client = plugins.client(Steps::new().touch(&marker).reply(SIGN_OK));
    let past = SystemTime::now() - Duration::from_secs(1);
    for message in BOTH {
        let err = caller
            .sign(&client, message, &CallOptions::new().deadline(past))
            .unwrap_err();
        assert!(deadline_exceeded(&err), "{message:?}: {err:?}");
        assert!(!marker.exists(), "{message:?}: the plugin was started");
    }
}

/// The plugin answers and exits, leaving a child that holds its stdout:
/// the answer is used after the exit grace, and the child is killed.
fn a_lingering_child_holding_stdout_does_not_hold_the_call(caller: &Caller) {
    let plugins = Plugins::new();
    let pid_file = plugins.path("lingering.pid");
    let client = plugins.client(Steps::new().spawn(&pid_file).reply(SIGN_OK).exit(0));
    for (i, message) in BOTH.into_iter().enumerate() {
        let start = Instant::now();
        let signature = caller.sign(&client, message, &CallOptions::new());
        assert_eq!(signature.unwrap(), [0x30, 0x06], "{message:?}");
        let elapsed = start.elapsed();
        assert!(
            elapsed < Duration::from_secs(10),
            "{message:?}: {elapsed:?}"
        );
        assert_all_gone(&pid_file, i + 1, &format!("{message:?}: lingering child"));
    }
}

fn a_stdout_flood_fails_at_the_limit(caller: &Caller) {
    let plugins = Plugins::new();
    let pid_file = plugins.path("flood.pid");
    let client = Client::builder().stdout_limit(256 * 1024).with_executable(
        common::fake_exe(),
        Steps::new().pid(&pid_file).flood().key_ref(),
    );
    for message in BOTH {
        let start = Instant::now();
        let err = caller
            .sign(&client, message, &CallOptions::new())
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Execution {
                    failure: ExecutionFailure::OutputTooLarge { limit: 262144 },
                    ..
                }
            ),
            "{message:?}: {err:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(10), "{message:?}");
        assert_all_gone(&pid_file, 1, &format!("{message:?}: flooding plugin"));
    }
}

fn an_answer_without_reading_a_large_stdin_is_used(caller: &Caller) {
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().reply(SIGN_OK));
    let signature = caller.sign(&client, Message::Large(64 << 20), &CallOptions::new());
    assert_eq!(signature.unwrap(), [0x30, 0x06]);
}

fn a_plugin_writing_much_before_reading_stdin_does_not_deadlock(caller: &Caller) {
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
    caller
        .sign(&client, Message::Large(8 << 20), &CallOptions::new())
        .unwrap();
    assert_eq!(std::fs::metadata(&stdin).unwrap().len(), 8 << 20);
}

fn a_message_that_fails_to_read_fails_the_call(caller: &Caller) {
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().read_stdin(None).reply(SIGN_OK));
    let options = CallOptions::new();
    match caller.sign(&client, Message::FailingAfter(100_000), &options) {
        Err(Error::Message(error)) => assert_eq!(error.to_string(), "disk on fire"),
        other => panic!("{other:?}"),
    }
}

fn captured_stderr_keeps_only_the_tail(caller: &Caller) {
    let plugins = Plugins::new();
    let client = plugins.client(
        Steps::new()
            .err_fill(20000, 'x')
            .err(" the-end\n")
            .out("garbage\n"),
    );
    for message in BOTH {
        match caller.sign(&client, message, &CallOptions::new()) {
            Err(Error::Execution {
                stderr: Some(stderr),
                ..
            }) => {
                assert!(stderr.len() <= 4096, "{message:?}: {}", stderr.len());
                assert!(stderr.ends_with("x the-end\n"), "{message:?}: {stderr:?}");
            }
            other => panic!("{message:?}: {other:?}"),
        }
    }
}

/// A host that leaves SIGPIPE at its default (as command-line tools that
/// want `| head` to work do) survives a plugin that answers without
/// reading an 8 MiB message. Its own process: the disposition is global.
#[cfg(unix)]
fn sigpipe_at_its_default_does_not_kill_the_host(caller: &Caller) {
    // SAFETY: signal(2) with a valid signal number and disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().reply(SIGN_OK));
    for _ in 0..3 {
        let signature = caller.sign(&client, Message::Large(8 << 20), &CallOptions::new());
        assert_eq!(signature.unwrap(), [0x30, 0x06]);
    }
}

/// What the calls report as the signal that ended them.
#[cfg(unix)]
const SIGTERM: i32 = libc::SIGTERM;
/// What the calls report as the signal that ended them (on Windows, only a
/// number that `end_plugins` passes on).
#[cfg(windows)]
const SIGTERM: i32 = 15;

/// Two plugins that wait, the first with a child of its own; each writes
/// its pid (and the first its child's) to `NAME.pid` in `dir`.
///
/// On Unix they are scripts that put the signal to the test: the first ends
/// on SIGTERM, leaving a child that ignores it and holds no pipe; the second
/// ignores SIGTERM, so only the kill after the grace ends it.
#[cfg(unix)]
fn waiting_plugins(plugins: &Plugins) -> [Client; 2] {
    let dir = plugins.dir.path().display();
    let plugin = |name: &str, body: String| {
        Client::builder()
            .stderr(StderrMode::CAPTURE_TAIL)
            .with_executable(
                plugins.script(&format!("sigstore-kms-{name}"), &body),
                common::KEY_REF,
            )
    };
    [
        plugin(
            "quitter",
            format!(
                "(trap '' TERM; exec sleep 60) > /dev/null 2>&1 & echo $! > '{dir}/child.pid'; \
                 echo $$ > '{dir}/quitter.pid'; wait"
            ),
        ),
        plugin(
            "stubborn",
            format!("trap '' TERM; echo $$ > '{dir}/stubborn.pid'; sleep 60"),
        ),
    ]
}

/// Windows has no signal to ignore: `end_plugins` terminates each
/// plugin's Job Object, which holds the child too.
#[cfg(windows)]
fn waiting_plugins(plugins: &Plugins) -> [Client; 2] {
    let _ = StderrMode::CAPTURE_TAIL;
    [
        plugins.client(
            Steps::new()
                .spawn(&plugins.path("child.pid"))
                .pid(&plugins.path("quitter.pid"))
                .sleep(60),
        ),
        plugins.client(Steps::new().pid(&plugins.path("stubborn.pid")).sleep(60)),
    ]
}

/// Kills what a failed case left running.
fn kill(pid: u32) {
    #[cfg(unix)]
    // SAFETY: kill(2) takes no pointers.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    #[cfg(windows)]
    let _ = std::process::Command::new("taskkill")
        .args(["/F", "/PID", &pid.to_string()])
        .output();
}

/// `end_plugins` ends the running calls at once, with all their plugins
/// started. Its own process: afterwards no plugin starts in it.
fn end_plugins_interrupts_running_calls_and_ends_their_plugins(caller: &Caller) {
    let plugins = Plugins::new();
    let calls = waiting_plugins(&plugins)
        .map(|client| caller.sign_in_background(client, Message::Bytes(b"m")));
    let pids = ["quitter", "child", "stubborn"]
        .map(|name| common::read_pid(&plugins.path(&format!("{name}.pid"))));

    let start = Instant::now();
    end_plugins(SIGTERM, Duration::from_millis(500));
    let ending = start.elapsed();
    let gone = pids.map(common::wait_gone);
    for pid in pids {
        kill(pid);
    }
    assert_eq!(gone, [true; 3], "{pids:?} left running");
    assert!(ending < Duration::from_secs(5), "{ending:?}");
    for finish in calls {
        let (result, elapsed) = finish();
        match result {
            Err(Error::Interrupted { signal, .. }) => assert_eq!(signal, SIGTERM),
            other => panic!("{other:?}"),
        }
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    }
}

/// After `end_plugins`, a call fails without starting its plugin. Its own
/// process, as above.
fn a_call_after_end_plugins_starts_no_plugin(caller: &Caller) {
    end_plugins(SIGTERM, Duration::from_millis(100));
    let plugins = Plugins::new();
    let marker = plugins.path("started");
    let later = plugins.client(Steps::new().touch(&marker).reply(SIGN_OK));
    for message in BOTH {
        let err = caller
            .sign(&later, message, &CallOptions::new())
            .unwrap_err();
        assert!(matches!(err, Error::Interrupted { .. }), "{err:?}");
        assert!(!marker.exists(), "a plugin started after end_plugins");
    }
}

/// The table: every case, once per API. `own_process` cases run in a
/// process of their own.
macro_rules! cases {
    (
        shared { $($(#[$shared_attr:meta])* $shared:ident,)* }
        own_process { $($(#[$own_attr:meta])* $own:ident,)* }
    ) => {
        cases!(@api blocking, Api::Blocking, [$($(#[$shared_attr])* $shared,)*], [$($(#[$own_attr])* $own,)*]);
        cases!(@api asynchronous, Api::Async, [$($(#[$shared_attr])* $shared,)*], [$($(#[$own_attr])* $own,)*]);
    };
    (@api $module:ident, $api:expr, [$($(#[$shared_attr:meta])* $shared:ident,)*], [$($(#[$own_attr:meta])* $own:ident,)*]) => {
        mod $module {
            use super::*;
            $(
                $(#[$shared_attr])*
                #[test]
                fn $shared() {
                    super::$shared(&Caller::new($api));
                }
            )*
            $(
                $(#[$own_attr])*
                #[test]
                fn $own() {
                    let name = concat!(stringify!($module), "::", stringify!($own));
                    common::in_own_process(name, || super::$own(&Caller::new($api)));
                }
            )*
        }
    };
}

cases! {
    shared {
        #[cfg(unix)]
        death_by_signal_is_reported_as_such_even_after_a_valid_answer,
        hang_past_the_deadline_is_killed_and_returns_promptly,
        default_timeout_applies_to_calls_without_a_deadline,
        deadline_kills_every_process_the_plugin_started,
        stdin_never_read_by_a_child_holding_it_ends_at_the_deadline,
        closing_the_pipes_and_running_on_is_stopped_at_the_deadline,
        a_grace_too_long_to_add_up_is_no_grace_deadline_and_no_panic,
        #[cfg(target_os = "linux")]
        a_plugin_that_leaves_its_process_group_is_still_killed_at_the_deadline,
        deadline_already_past_fails_without_starting_the_plugin,
        a_lingering_child_holding_stdout_does_not_hold_the_call,
        a_stdout_flood_fails_at_the_limit,
        an_answer_without_reading_a_large_stdin_is_used,
        a_plugin_writing_much_before_reading_stdin_does_not_deadlock,
        a_message_that_fails_to_read_fails_the_call,
        captured_stderr_keeps_only_the_tail,
    }
    own_process {
        #[cfg(unix)]
        sigpipe_at_its_default_does_not_kill_the_host,
        end_plugins_interrupts_running_calls_and_ends_their_plugins,
        a_call_after_end_plugins_starts_no_plugin,
    }
}
