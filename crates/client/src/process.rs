//! One method call = one plugin process: start it, feed stdin, collect
//! stdout, enforce the deadline, reap it.
//!
//! Helpers run beside the caller's thread, so that no order of reads and
//! writes by the plugin can deadlock the call: one streams the message into
//! stdin, one drains stdout (and one stderr, when captured), and on Unix one
//! waits for the plugin's exit without reaping it. The caller's thread only
//! waits for their events, with the deadline as timeout, so it can kill the
//! plugin's whole process group while its pid still names that group.
//!
//! On Linux a call without a message needs no helper: the caller's thread
//! polls the pipes and a pidfd itself (`single_thread`).

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use sigstore_kms_protocol::{MethodName, MethodResp, PluginResp, ResponseError, PROTOCOL_VERSION};

use crate::error::{ExecutionFailure, ResponseProblem};
use crate::{Error, StderrMode};

#[cfg(target_os = "linux")]
mod single_thread;

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

enum Event {
    Exited,
    StdoutClosed,
    StdoutOverflow,
    StdoutFailed(io::Error),
    StderrClosed,
    MessageFailed(io::Error),
}

pub(crate) enum Outcome {
    Finished(ExitStatus),
    DeadlineExceeded,
    StdoutOverflow,
    StdoutFailed(io::Error),
    MessageFailed(io::Error),
    WaitFailed(io::Error),
}

/// Runs `executable v1 args_json` once and returns its answer to `method`.
pub(crate) fn call<R: Read + Send>(
    settings: &ProcessSettings,
    executable: &Path,
    method: MethodName,
    args_json: &str,
    deadline: Option<Instant>,
    message: Option<R>,
) -> Result<MethodResp, Error> {
    let exe_name = || executable.display().to_string();
    if deadline.is_some_and(|deadline| deadline <= Instant::now()) {
        return Err(Error::DeadlineExceeded {
            method,
            executable: exe_name(),
        });
    }

    let mut command = command(settings, executable, args_json, message.is_some());
    let mut child = spawn(&mut command).map_err(|source| Error::Io {
        action: format!("cannot start plugin `{}`", exe_name()),
        source,
    })?;

    #[cfg(target_os = "linux")]
    if message.is_none() {
        if let Some(pidfd) = single_thread::pidfd_open(&child) {
            let supervised = single_thread::supervise(&mut child, &pidfd, settings, deadline);
            return answer(settings, executable, method, supervised);
        }
    }
    let supervised = supervise_with_threads(&mut child, settings, deadline, message);
    answer(settings, executable, method, supervised)
}

/// The command of one call: `executable v1 args_json`, stdin piped when a
/// message is streamed, stdout piped, stderr as `settings` say.
pub(crate) fn command(
    settings: &ProcessSettings,
    executable: &Path,
    args_json: &str,
    streams_message: bool,
) -> Command {
    let mut command = Command::new(executable);
    command
        .arg(PROTOCOL_VERSION)
        .arg(args_json)
        .stdin(if streams_message {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(match settings.stderr {
            StderrMode::Inherit => Stdio::inherit(),
            StderrMode::Discard => Stdio::null(),
            StderrMode::Capture(_) => Stdio::piped(),
        });
    #[cfg(unix)]
    {
        // Its own process group, so that a deadline kills whatever it started.
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    command
}

/// How a call's process ended, with what it wrote.
pub(crate) struct Supervised {
    pub(crate) outcome: Outcome,
    pub(crate) stdout: Vec<u8>,
    /// The tail of stderr, when captured.
    pub(crate) stderr: Option<Vec<u8>>,
}

/// Supervises the call with helper threads: the portable way, and the one
/// for calls with a message, whose reads may block for any time.
fn supervise_with_threads<R: Read + Send>(
    child: &mut Child,
    settings: &ProcessSettings,
    deadline: Option<Instant>,
    message: Option<R>,
) -> Supervised {
    let (events, inbox) = mpsc::channel();
    let stdout = Arc::new(Mutex::new(Vec::new()));
    if let Some(pipe) = child.stdout.take() {
        let (buffer, events, limit) = (stdout.clone(), events.clone(), settings.stdout_limit);
        thread::spawn(move || read_stdout(pipe, &buffer, limit, &events));
    }
    let stderr_tail = match (settings.stderr, child.stderr.take()) {
        (StderrMode::Capture(limit), Some(pipe)) => {
            let tail = Arc::new(Mutex::new(Vec::new()));
            let (buffer, events) = (tail.clone(), events.clone());
            thread::spawn(move || read_stderr_tail(pipe, &buffer, limit, &events));
            Some(tail)
        }
        _ => None,
    };
    #[cfg(unix)]
    {
        let (pid, events) = (child.id(), events.clone());
        thread::spawn(move || wait_for_exit(pid, &events));
    }

    let stdin = child.stdin.take();
    let cancel = AtomicBool::new(false);
    let outcome = thread::scope(|scope| {
        if let (Some(message), Some(stdin)) = (message, stdin) {
            let (cancel, events) = (&cancel, events.clone());
            scope.spawn(move || feed_stdin(message, stdin, cancel, &events));
        }
        let outcome = supervise(
            child,
            &inbox,
            deadline,
            settings.exit_grace,
            stderr_tail.is_some(),
        );
        cancel.store(true, Ordering::Relaxed);
        outcome
    });
    let take = |buffer: &Mutex<Vec<u8>>| {
        std::mem::take(&mut *buffer.lock().unwrap_or_else(PoisonError::into_inner))
    };
    Supervised {
        outcome,
        stdout: take(&stdout),
        stderr: stderr_tail.map(|tail| take(&tail)),
    }
}

/// The call's result, from how its process ended and what it wrote.
pub(crate) fn answer(
    settings: &ProcessSettings,
    executable: &Path,
    method: MethodName,
    supervised: Supervised,
) -> Result<MethodResp, Error> {
    let exe_name = || executable.display().to_string();
    let Supervised {
        outcome,
        stdout: output,
        stderr,
    } = supervised;
    let stderr = stderr.map(|tail| String::from_utf8_lossy(&tail).into_owned());
    let failed = |failure| Error::Execution {
        method,
        executable: exe_name(),
        failure,
        stderr: stderr.clone(),
    };
    let status = match outcome {
        Outcome::Finished(status) => status,
        Outcome::DeadlineExceeded => {
            return Err(Error::DeadlineExceeded {
                method,
                executable: exe_name(),
            })
        }
        Outcome::StdoutOverflow => {
            return Err(failed(ExecutionFailure::OutputTooLarge {
                limit: settings.stdout_limit,
            }))
        }
        Outcome::StdoutFailed(error) => return Err(failed(ExecutionFailure::ReadingOutput(error))),
        Outcome::MessageFailed(error) => return Err(Error::Message(error)),
        Outcome::WaitFailed(source) => {
            return Err(Error::Io {
                action: format!("waiting for plugin `{}`", exe_name()),
                source,
            })
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return Err(failed(ExecutionFailure::KilledBySignal { signal }));
        }
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

/// Spawns, retrying briefly on `ETXTBSY`: an executable that was just
/// written can still be open for writing in a process forked concurrently
/// by another thread, until that process calls exec.
fn spawn(command: &mut Command) -> io::Result<Child> {
    #[cfg(unix)]
    for attempt in 1..=10 {
        match command.spawn() {
            Err(error) if error.raw_os_error() == Some(libc::ETXTBSY) => {
                thread::sleep(Duration::from_millis(10 * attempt));
            }
            result => return result,
        }
    }
    command.spawn()
}

/// Waits for the plugin to exit and its pipes to close, within the deadline.
/// Always reaps the child before returning.
fn supervise(
    child: &mut Child,
    inbox: &Receiver<Event>,
    deadline: Option<Instant>,
    exit_grace: Duration,
    stderr_captured: bool,
) -> Outcome {
    let mut exited_at: Option<Instant> = None;
    let mut stdout_closed = false;
    let mut stderr_closed = !stderr_captured;
    while exited_at.is_none() || !stdout_closed || !stderr_closed {
        // A grace too long to add up is no grace deadline at all.
        let grace_end = exited_at.and_then(|at| at.checked_add(exit_grace));
        let wake_at = [deadline, grace_end, poll_tick()]
            .into_iter()
            .flatten()
            .min();
        let event = match wake_at {
            Some(at) => inbox.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match event {
            Ok(Event::Exited) => {
                exited_at.get_or_insert_with(Instant::now);
            }
            Ok(Event::StdoutClosed) => stdout_closed = true,
            Ok(Event::StderrClosed) => stderr_closed = true,
            Ok(Event::StdoutOverflow) => return terminate(child, Outcome::StdoutOverflow),
            Ok(Event::StdoutFailed(error)) => {
                return terminate(child, Outcome::StdoutFailed(error))
            }
            Ok(Event::MessageFailed(error)) => {
                return terminate(child, Outcome::MessageFailed(error))
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                if deadline.is_some_and(|deadline| now >= deadline) {
                    return terminate(child, Outcome::DeadlineExceeded);
                }
                if grace_end.is_some_and(|end| now >= end) {
                    // The plugin is gone but something it started still
                    // holds its stdout or stderr: that must not hold the call.
                    kill_process_group(child);
                    break;
                }
                if exited_at.is_none() && has_exited(child) {
                    exited_at = Some(now);
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    reap(child)
}

fn reap(child: &mut Child) -> Outcome {
    match child.wait() {
        Ok(status) => Outcome::Finished(status),
        Err(error) => Outcome::WaitFailed(error),
    }
}

fn terminate(child: &mut Child, outcome: Outcome) -> Outcome {
    kill_process_group(child);
    match reap(child) {
        Outcome::Finished(_) => outcome,
        failed => failed,
    }
}

/// On Unix a helper thread reports the exit; elsewhere the caller's thread
/// looks now and then.
#[cfg(unix)]
fn poll_tick() -> Option<Instant> {
    None
}

#[cfg(not(unix))]
fn poll_tick() -> Option<Instant> {
    Some(Instant::now() + Duration::from_millis(10))
}

#[cfg(unix)]
fn has_exited(_child: &mut Child) -> bool {
    false
}

#[cfg(not(unix))]
fn has_exited(child: &mut Child) -> bool {
    matches!(child.try_wait(), Ok(Some(_)))
}

/// Kills the plugin and everything in its process group. Only called before
/// the plugin is reaped, so its pid still names its group.
#[cfg(unix)]
fn kill_process_group(child: &mut Child) {
    let Ok(pgid) = libc::pid_t::try_from(child.id()) else {
        let _ = child.kill();
        return;
    };
    // SAFETY: kill(2) takes no pointers. The group id is the unreaped
    // child's pid, which cannot have been reused.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    // The plugin itself too, should it have left its group.
    let _ = child.kill();
}

#[cfg(not(unix))]
fn kill_process_group(child: &mut Child) {
    let _ = child.kill();
}

/// Reports the plugin's exit without reaping it, so the caller's thread can
/// still kill its process group safely.
#[cfg(unix)]
fn wait_for_exit(pid: u32, events: &Sender<Event>) {
    let pid = libc::id_t::from(pid);
    {
        loop {
            // SAFETY: siginfo_t is plain data for which all zeroes is valid.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: `info` is a valid, writable siginfo_t; WNOWAIT leaves
            // the child to be reaped by `Child::wait`.
            let rc =
                unsafe { libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT) };
            if rc == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                break;
            }
        }
    }
    let _ = events.send(Event::Exited);
}

fn read_stdout(mut pipe: impl Read, buffer: &Mutex<Vec<u8>>, limit: usize, events: &Sender<Event>) {
    let mut chunk = vec![0u8; STDOUT_CHUNK];
    let event = loop {
        match pipe.read(&mut chunk) {
            Ok(0) => break Event::StdoutClosed,
            Ok(n) => {
                let mut buffer = buffer.lock().unwrap_or_else(PoisonError::into_inner);
                if !append_within(&mut buffer, &chunk[..n], limit) {
                    break Event::StdoutOverflow;
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => break Event::StdoutFailed(error),
        }
    };
    // Closed before reporting, so a call never returns with it still open.
    drop(pipe);
    let _ = events.send(event);
}

fn read_stderr_tail(
    mut pipe: impl Read,
    tail: &Mutex<Vec<u8>>,
    limit: usize,
    events: &Sender<Event>,
) {
    let mut chunk = vec![0u8; 8 * 1024];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => keep_tail(
                &mut tail.lock().unwrap_or_else(PoisonError::into_inner),
                &chunk[..n],
                limit,
            ),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    drop(pipe);
    let _ = events.send(Event::StderrClosed);
}

/// Appends `bytes` to the plugin's stdout unless that would pass `limit`.
pub(crate) fn append_within(buffer: &mut Vec<u8>, bytes: &[u8], limit: usize) -> bool {
    if buffer.len() + bytes.len() > limit {
        return false;
    }
    buffer.extend_from_slice(bytes);
    true
}

/// Appends `bytes` to the stderr tail and keeps its last `limit` bytes.
pub(crate) fn keep_tail(tail: &mut Vec<u8>, bytes: &[u8], limit: usize) {
    tail.extend_from_slice(bytes);
    let excess = tail.len().saturating_sub(limit);
    tail.drain(..excess);
}

/// Streams the message into the plugin's stdin, then closes it. A plugin
/// that stops reading (it answered already, or died) ends the stream
/// quietly: that is its right, and its answer decides the call.
fn feed_stdin<R: Read>(
    mut message: R,
    stdin: ChildStdin,
    cancel: &AtomicBool,
    events: &Sender<Event>,
) {
    let pipe = PluginStdin::new(stdin);
    let mut chunk = vec![0u8; STDIN_CHUNK];
    while !cancel.load(Ordering::Relaxed) {
        let n = match message.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                let _ = events.send(Event::MessageFailed(error));
                return;
            }
        };
        if !pipe.write_all(&chunk[..n], cancel) {
            return;
        }
    }
}

/// The write end of the plugin's stdin. On Unix it is non-blocking, so a
/// write never outlives the call (a process the plugin started could hold
/// the read end open without reading), and SIGPIPE is blocked in this
/// thread so that a closed pipe is an `EPIPE` error even in hosts that do
/// not ignore the signal.
struct PluginStdin(ChildStdin);

impl PluginStdin {
    #[cfg(unix)]
    fn new(stdin: ChildStdin) -> Self {
        use std::os::fd::AsRawFd;
        let fd = stdin.as_raw_fd();
        // SAFETY: plain calls on a descriptor this struct owns, and on a
        // signal set that lives on this stack frame.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
            let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
            libc::sigemptyset(set.as_mut_ptr());
            libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
            libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), std::ptr::null_mut());
        }
        PluginStdin(stdin)
    }

    #[cfg(not(unix))]
    fn new(stdin: ChildStdin) -> Self {
        PluginStdin(stdin)
    }

    /// Writes all of `bytes`; false when the plugin stopped reading or the
    /// call is over.
    fn write_all(&self, mut bytes: &[u8], cancel: &AtomicBool) -> bool {
        while !bytes.is_empty() {
            if cancel.load(Ordering::Relaxed) {
                return false;
            }
            match (&self.0).write(bytes) {
                Ok(0) => return false,
                Ok(n) => bytes = &bytes[n..],
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => self.wait_writable(),
                Err(_) => return false,
            }
        }
        true
    }

    #[cfg(unix)]
    fn wait_writable(&self) {
        use std::os::fd::AsRawFd;
        let mut poll = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd; the timeout bounds how long a
        // cancellation can go unnoticed.
        unsafe { libc::poll(&mut poll, 1, 50) };
    }

    #[cfg(not(unix))]
    fn wait_writable(&self) {
        thread::sleep(Duration::from_millis(1));
    }
}
