//! One method call = one plugin process: start it, feed stdin, collect
//! stdout, enforce the deadline, reap it. Every call of the crate, blocking
//! or asynchronous (which runs this on tokio's blocking pool), and every
//! raw run ([`crate::Client::call_raw`]) goes through [`run`].
//!
//! The supervision is the same on every OS: the caller's thread waits for
//! what the plugin does (it exits, writes to or closes a pipe, or the
//! message cannot be read), with the deadline or the end of the exit grace
//! as timeout, and decides. A helper thread streams the message into stdin,
//! so that no order of reads and writes by the plugin can deadlock the call;
//! it is joined before the call returns. Each OS module (`unix`, `windows`)
//! provides the rest behind the same names: `Plugin` (a plugin started so
//! that it can be killed with everything it started, and reaped), `Watch`
//! (waiting on its exit and pipes), `PluginStdin` (a stdin whose writes
//! never hold the call past its end), `MessageReport` (how the stdin
//! helper reports a message it could not read), `end_plugins` and
//! `end_aborted` (ending listed plugins from another thread).

use std::io::{self, Read};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use sigstore_kms_protocol::{MethodName, MethodResp, PluginResp, ResponseError};

use crate::error::{ExecutionFailure, ResponseProblem};
use crate::{Error, StderrMode};

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as sys;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as sys;

pub use sys::end_plugins;

/// The plugins this process is running, for [`end_plugins`] and for
/// [`CallLink::abort`]: each OS lists what it ends a plugin's tree by (a
/// process group, a job).
struct Running<T> {
    /// One entry per plugin not yet reaped, with its call's [`CallLink`].
    plugins: Vec<(T, CallLink)>,
    /// The signal given to [`end_plugins`], once it was called.
    ending: Option<i32>,
}

impl<T: Copy + PartialEq> Running<T> {
    const fn new() -> Self {
        Running {
            plugins: Vec::new(),
            ending: None,
        }
    }

    /// Lists a plugin just started; true when it must be ended at once,
    /// because `end_plugins` was called or its call aborted while it
    /// started.
    fn list(&mut self, plugin: T, link: &CallLink) -> bool {
        self.plugins.push((plugin, link.clone()));
        self.ending.is_some() || link.is_aborted()
    }

    fn unlist(&mut self, plugin: T) {
        self.plugins.retain(|(listed, _)| *listed != plugin);
    }

    /// Every plugin listed.
    fn all(&self) -> impl Iterator<Item = T> + '_ {
        self.plugins.iter().map(|(plugin, _)| *plugin)
    }

    /// The plugin of the call `link` belongs to, if it is listed.
    fn of_call(&self, link: &CallLink) -> Option<T> {
        self.plugins
            .iter()
            .find(|(_, listed)| listed.same_call(link))
            .map(|(plugin, _)| *plugin)
    }
}

/// Locks the list, whether or not a thread panicked while holding it.
fn lock<T>(running: &'static Mutex<Running<T>>) -> MutexGuard<'static, Running<T>> {
    running.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A call's link to the code that made it, from another thread: what an
/// asynchronous call's future uses to abort the call when it is dropped,
/// and to learn when the supervision ended (from then on, the call only
/// waits for its stdin helper, which may wait for the message).
///
/// The abort flag is set before the list is looked at, and the list looks
/// at it when a plugin is listed, both under the list's lock: a plugin
/// started before, during or after the abort is ended with everything it
/// started, and its call reaps it as usual.
#[derive(Clone, Debug, Default)]
pub(crate) struct CallLink(Arc<LinkState>);

#[derive(Debug, Default)]
struct LinkState {
    aborted: AtomicBool,
    supervised: AtomicBool,
    /// Woken when the supervision ends.
    waker: Mutex<Option<Waker>>,
}

impl CallLink {
    // Only `AsyncClient` (the `tokio` feature) aborts calls and waits for
    // the end of the supervision.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn abort(&self) {
        self.0.aborted.store(true, Ordering::SeqCst);
        sys::end_aborted(self);
    }

    fn is_aborted(&self) -> bool {
        self.0.aborted.load(Ordering::SeqCst)
    }

    fn same_call(&self, other: &CallLink) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    fn supervision_ended(&self) {
        self.0.supervised.store(true, Ordering::SeqCst);
        let waker = self
            .0
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Ready once the plugin is reaped and its pipes closed.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn poll_supervision_ended(&self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.0.supervised.load(Ordering::SeqCst) {
            *self.0.waker.lock().unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
            // Ended between the look and the waker's registration?
            if !self.0.supervised.load(Ordering::SeqCst) {
                return Poll::Pending;
            }
        }
        Poll::Ready(())
    }
}

/// Large enough that a multi-GiB message costs few system calls, and small
/// enough to stay in the CPU's cache between the read and the write into
/// the pipe: 256 KiB chunks made each copy miss the cache and cost half
/// again as much system time (see BENCHMARKS.md).
const STDIN_CHUNK: usize = 64 * 1024;
const STDOUT_CHUNK: usize = 64 * 1024;

/// How the process of each call is run.
#[derive(Clone, Debug)]
pub(crate) struct ProcessSettings {
    pub stderr: StderrMode,
    pub stdout_limit: usize,
    pub exit_grace: Duration,
}

pub(crate) enum Outcome {
    Finished(ExitStatus),
    DeadlineExceeded,
    StdoutOverflow,
    StdoutFailed(io::Error),
    MessageFailed(io::Error),
    WaitFailed(io::Error),
}

/// One run of a plugin: `executable version args_json`, with `message`
/// streamed to stdin when there is one.
pub(crate) struct Invocation<'a> {
    pub settings: &'a ProcessSettings,
    pub executable: &'a Path,
    /// What errors name the call by.
    pub method: MethodName,
    pub version: &'a str,
    pub args_json: &'a str,
    pub deadline: Option<Instant>,
    pub link: &'a CallLink,
}

/// Runs the plugin once and returns its answer to the method.
pub(crate) fn call<R: Read + Send>(
    invocation: &Invocation<'_>,
    message: Option<R>,
) -> Result<MethodResp, Error> {
    let supervised = run(invocation, message)?;
    answer(invocation, supervised)
}

/// Runs the plugin once, and returns how it ended and what it wrote,
/// whatever that is.
pub(crate) fn run<R: Read + Send>(
    invocation: &Invocation<'_>,
    message: Option<R>,
) -> Result<Supervised, Error> {
    let &Invocation {
        settings,
        executable,
        method,
        deadline,
        link,
        ..
    } = invocation;
    let exe_name = || executable.display().to_string();
    if deadline.is_some_and(|deadline| deadline <= Instant::now()) {
        return Err(Error::DeadlineExceeded {
            method,
            executable: exe_name(),
        });
    }
    if let Some(signal) = sys::ending() {
        return Err(Error::Interrupted {
            method,
            executable: exe_name(),
            signal,
        });
    }

    let mut command = command(invocation, message.is_some());
    let mut plugin = sys::Plugin::spawn(&mut command, link).map_err(|source| Error::Io {
        action: format!("cannot start plugin `{}`", exe_name()),
        source,
    })?;
    let supervised = supervise(&mut plugin, settings, deadline, message, link);
    if let Some(signal) = plugin.interruption(&supervised.outcome) {
        return Err(Error::Interrupted {
            method,
            executable: exe_name(),
            signal,
        });
    }
    Ok(supervised)
}

/// The command of one run: `executable version args_json`, stdin piped
/// when a message is streamed, stdout piped, stderr as the settings say.
fn command(invocation: &Invocation<'_>, streams_message: bool) -> Command {
    let mut command = Command::new(invocation.executable);
    command
        .arg(invocation.version)
        .arg(invocation.args_json)
        .stdin(if streams_message {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(match invocation.settings.stderr {
            StderrMode::Inherit => Stdio::inherit(),
            StderrMode::Discard => Stdio::null(),
            StderrMode::Capture(_) => Stdio::piped(),
        });
    command
}

/// How a call's process ended, with what it wrote.
pub(crate) struct Supervised {
    pub(crate) outcome: Outcome,
    pub(crate) stdout: Vec<u8>,
    /// The tail of stderr, when captured.
    pub(crate) stderr: Option<Vec<u8>>,
}

/// Supervises the call from the caller's thread, with one helper thread
/// streaming the message when there is one. Returns with the plugin reaped,
/// every pipe closed and the helper joined.
fn supervise<R: Read + Send>(
    plugin: &mut sys::Plugin,
    settings: &ProcessSettings,
    deadline: Option<Instant>,
    message: Option<R>,
    link: &CallLink,
) -> Supervised {
    let stderr_limit = match settings.stderr {
        StderrMode::Capture(limit) => Some(limit),
        _ => None,
    };
    let (stdin, stdout, stderr) = plugin.take_pipes();
    let stderr = stderr.filter(|_| stderr_limit.is_some());
    let mut collected = Collected::new(settings.stdout_limit, stderr_limit, stderr.is_some());
    let cancel = AtomicBool::new(false);
    let outcome = thread::scope(|scope| {
        let mut watch = sys::Watch::new(plugin, stdout, stderr);
        if let (Some(message), Some(stdin)) = (message, stdin) {
            let report = match watch.message_report() {
                Ok(report) => report,
                Err(error) => return terminate(plugin, Outcome::WaitFailed(error)),
            };
            let cancel = &cancel;
            scope.spawn(move || feed_stdin(message, sys::PluginStdin::new(stdin), cancel, report));
        }
        let outcome = watch_until_done(plugin, &mut watch, &mut collected, settings, deadline);
        cancel.store(true, Ordering::Relaxed);
        // The helper may wait for the message: whoever provides it can
        // stop now (a future that reads an `AsyncRead`; a blocking `Read`
        // is waited for).
        link.supervision_ended();
        outcome
    });
    Supervised {
        outcome,
        stdout: collected.stdout,
        stderr: stderr_limit.map(|_| collected.stderr),
    }
}

/// The supervision itself: waits for the plugin to exit and its pipes to
/// close, within the deadline. Always reaps the plugin before returning.
fn watch_until_done(
    plugin: &mut sys::Plugin,
    watch: &mut sys::Watch,
    collected: &mut Collected,
    settings: &ProcessSettings,
    deadline: Option<Instant>,
) -> Outcome {
    loop {
        if collected.finished() {
            return reap(plugin);
        }
        // A grace too long to add up is no grace deadline at all.
        let grace_end = collected
            .exited_at
            .and_then(|at| at.checked_add(settings.exit_grace));
        let wake_at = [deadline, grace_end].into_iter().flatten().min();
        if let Err(error) = watch.wait(plugin, wake_at, collected) {
            return terminate(plugin, Outcome::WaitFailed(error));
        }
        if let Some(failure) = collected.failure.take() {
            return terminate(plugin, failure);
        }
        // Time limits are checked after what has arrived is read, so that
        // an answer complete before the deadline is never lost to it.
        if collected.finished() {
            continue;
        }
        let now = Instant::now();
        if deadline.is_some_and(|deadline| now >= deadline) {
            return terminate(plugin, Outcome::DeadlineExceeded);
        }
        if grace_end.is_some_and(|end| now >= end) {
            // The plugin is gone but something it started still holds its
            // stdout or stderr: that must not hold the call.
            plugin.kill_tree();
            return reap(plugin);
        }
    }
}

fn reap(plugin: &mut sys::Plugin) -> Outcome {
    match plugin.reap() {
        Ok(status) => Outcome::Finished(status),
        Err(error) => Outcome::WaitFailed(error),
    }
}

fn terminate(plugin: &mut sys::Plugin, outcome: Outcome) -> Outcome {
    plugin.kill_tree();
    match reap(plugin) {
        Outcome::Finished(_) => outcome,
        failed => failed,
    }
}

/// What the plugin did so far, as the OS's `Watch` reports it.
pub(crate) struct Collected {
    exited_at: Option<Instant>,
    stdout: Vec<u8>,
    stdout_open: bool,
    stdout_limit: usize,
    stderr: Vec<u8>,
    stderr_open: bool,
    stderr_limit: usize,
    /// Why the plugin must be killed now, if it must.
    failure: Option<Outcome>,
}

impl Collected {
    fn new(stdout_limit: usize, stderr_limit: Option<usize>, stderr_open: bool) -> Self {
        Collected {
            exited_at: None,
            stdout: Vec::new(),
            stdout_open: true,
            stdout_limit,
            stderr: Vec::new(),
            stderr_open,
            stderr_limit: stderr_limit.unwrap_or(0),
            failure: None,
        }
    }

    /// Whether the plugin exited and closed the pipes that are read.
    fn finished(&self) -> bool {
        self.exited_at.is_some() && !self.stdout_open && !self.stderr_open
    }

    fn has_exited(&self) -> bool {
        self.exited_at.is_some()
    }

    fn exited(&mut self) {
        self.exited_at.get_or_insert_with(Instant::now);
    }

    /// Keeps bytes of stdout; false (and the call fails) past the limit.
    fn stdout(&mut self, bytes: &[u8]) -> bool {
        if self.stdout.len() + bytes.len() > self.stdout_limit {
            self.failure.get_or_insert(Outcome::StdoutOverflow);
            return false;
        }
        self.stdout.extend_from_slice(bytes);
        true
    }

    fn stdout_closed(&mut self) {
        self.stdout_open = false;
    }

    fn stdout_failed(&mut self, error: io::Error) {
        self.stdout_open = false;
        self.failure.get_or_insert(Outcome::StdoutFailed(error));
    }

    /// Keeps the last bytes of stderr, up to its limit.
    fn stderr(&mut self, bytes: &[u8]) {
        self.stderr.extend_from_slice(bytes);
        let excess = self.stderr.len().saturating_sub(self.stderr_limit);
        self.stderr.drain(..excess);
    }

    /// Also when stderr cannot be read: it is diagnostics only.
    fn stderr_closed(&mut self) {
        self.stderr_open = false;
    }

    fn message_failed(&mut self, error: io::Error) {
        self.failure.get_or_insert(Outcome::MessageFailed(error));
    }
}

/// Streams the message into the plugin's stdin, then closes it. A plugin
/// that stops reading (it answered already, or died) ends the stream
/// quietly: that is its right, and its answer decides the call. A message
/// that cannot be read is reported, with stdin kept open, so that the
/// plugin is killed before it could take a truncated message for the whole.
fn feed_stdin<R: Read>(
    mut message: R,
    stdin: sys::PluginStdin,
    cancel: &AtomicBool,
    report: sys::MessageReport,
) {
    let mut chunk = vec![0u8; STDIN_CHUNK];
    while !cancel.load(Ordering::Relaxed) {
        let n = match message.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return report.failed(error, stdin),
        };
        if !stdin.write_all(&chunk[..n], cancel) {
            return;
        }
    }
}

/// What a plugin that exited wrote, or the error of a run that did not
/// end with its exit.
pub(crate) fn exited(invocation: &Invocation<'_>, supervised: Supervised) -> Result<Exited, Error> {
    let Invocation {
        settings,
        executable,
        method,
        ..
    } = *invocation;
    let exe_name = || executable.display().to_string();
    let Supervised {
        outcome,
        stdout,
        stderr,
    } = supervised;
    let stderr = stderr.map(|tail| String::from_utf8_lossy(&tail).into_owned());
    let failed = |failure| Error::Execution {
        method,
        executable: exe_name(),
        failure,
        stderr: stderr.clone(),
    };
    match outcome {
        Outcome::Finished(status) => Ok(Exited {
            status,
            stdout,
            stderr,
        }),
        Outcome::DeadlineExceeded => Err(Error::DeadlineExceeded {
            method,
            executable: exe_name(),
        }),
        Outcome::StdoutOverflow => Err(failed(ExecutionFailure::OutputTooLarge {
            limit: settings.stdout_limit,
        })),
        Outcome::StdoutFailed(error) => Err(failed(ExecutionFailure::ReadingOutput(error))),
        Outcome::MessageFailed(error) => Err(Error::Message(error)),
        Outcome::WaitFailed(source) => Err(Error::Io {
            action: format!("waiting for plugin `{}`", exe_name()),
            source,
        }),
    }
}

/// A plugin that exited, and what it wrote.
pub(crate) struct Exited {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// The tail of stderr, when captured.
    pub stderr: Option<String>,
}

/// The call's result, from how its process ended and what it wrote.
fn answer(invocation: &Invocation<'_>, supervised: Supervised) -> Result<MethodResp, Error> {
    let Exited {
        status,
        stdout: output,
        stderr,
    } = exited(invocation, supervised)?;
    let Invocation {
        executable, method, ..
    } = *invocation;
    let exe_name = || executable.display().to_string();
    let failed = |failure| Error::Execution {
        method,
        executable: exe_name(),
        failure,
        stderr: stderr.clone(),
    };
    if let Some(signal) = sys::killed_by(status) {
        return Err(failed(ExecutionFailure::KilledBySignal { signal }));
    }

    if output.iter().all(u8::is_ascii_whitespace) {
        return Err(failed(ExecutionFailure::EmptyOutput { status }));
    }
    match PluginResp::parse(&output, method).map(PluginResp::into_result) {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(message)) => Err(Error::Plugin { method, message }),
        Err(ResponseError::NotJsonObject(source)) => {
            Err(failed(ExecutionFailure::UnparseableOutput {
                status,
                source,
            }))
        }
        Err(problem) => Err(Error::Response {
            method,
            executable: exe_name(),
            problem: ResponseProblem::Protocol(problem),
        }),
    }
}
