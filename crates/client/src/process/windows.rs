//! Plugins on Windows: each runs in a Job Object of its own that kills
//! every process in it when it is terminated or closed
//! (`JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`). The plugin starts suspended and
//! is assigned to its job before it runs, so nothing it starts escapes.
//!
//! Anonymous pipes cannot be polled: helper threads read stdout and stderr
//! and send what they read to the caller's thread, which looks for the
//! plugin's exit at short intervals. When the call ends its job is
//! terminated, so every process that could hold a pipe is gone: the
//! readers see the end of their pipe, and a stdin write blocked on a
//! process that never reads fails, whatever the plugin left behind.

use std::ffi::c_void;
use std::io::{self, Read, Write};
use std::os::windows::io::AsRawHandle;
use std::os::windows::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Thread32First, Thread32Next, TH32CS_SNAPTHREAD, THREADENTRY32,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
    SetInformationJobObject, TerminateJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
};
use windows_sys::Win32::System::Threading::{
    OpenThread, ResumeThread, CREATE_SUSPENDED, THREAD_SUSPEND_RESUME,
};

use super::{CallLink, Collected, Outcome, Running, STDOUT_CHUNK};

/// How often the plugin's exit is looked for.
const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(5);

/// The exit code of the processes a terminated job kills.
const KILLED: u32 = 1;

/// The job of each plugin not yet reaped, as a raw handle value (a handle
/// is not `Send`; it stays open while listed), for [`end_plugins`].
static RUNNING: Mutex<Running<isize>> = Mutex::new(Running::new());

fn running() -> MutexGuard<'static, Running<isize>> {
    super::lock(&RUNNING)
}

/// Whether [`end_plugins`] was called, and with which signal.
pub(super) fn ending() -> Option<i32> {
    running().ending
}

/// Ends every plugin this process is running, with everything each
/// started, and keeps new calls from starting one: for a host that is
/// itself ending (Ctrl-C), so that it leaves no plugin running without it.
///
/// Windows has no signal to pass on: each plugin's job is terminated at
/// once, and `signal` and `grace` only say what the calls report
/// ([`crate::Error::Interrupted`]) and how long to wait for them to reap
/// their plugin before returning.
pub fn end_plugins(signal: i32, grace: Duration) {
    {
        let mut running = running();
        running.ending.get_or_insert(signal);
        for job in running.all() {
            // SAFETY: a listed job's handle is open.
            unsafe { TerminateJobObject(job as HANDLE, KILLED) };
        }
    }
    let until = Instant::now() + grace.min(Duration::from_secs(3600));
    while !running().plugins.is_empty() && Instant::now() < until {
        thread::sleep(Duration::from_millis(5));
    }
}

/// Terminates the job of an aborted call, if it is listed (else it is
/// terminated when listed).
pub(super) fn end_aborted(link: &CallLink) {
    if let Some(job) = running().of_call(link) {
        // SAFETY: a listed job's handle is open.
        unsafe { TerminateJobObject(job as HANDLE, KILLED) };
    }
}

/// A Job Object that kills its processes when it is closed.
struct Job(HANDLE);

impl Job {
    fn new() -> io::Result<Job> {
        // SAFETY: null attributes and name are allowed.
        let handle = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
        if handle.is_null() {
            return Err(io::Error::last_os_error());
        }
        let job = Job(handle);
        // SAFETY: plain data for which all zeroes is valid.
        let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
        limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        // SAFETY: the pointer and size describe `limits`, of the class
        // named.
        let set = unsafe {
            SetInformationJobObject(
                job.0,
                JobObjectExtendedLimitInformation,
                (&raw const limits).cast::<c_void>(),
                std::mem::size_of_val(&limits) as u32,
            )
        };
        if set == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(job)
    }

    fn assign(&self, child: &Child) -> io::Result<()> {
        // SAFETY: both handles are open.
        if unsafe { AssignProcessToJobObject(self.0, child.as_raw_handle()) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn terminate(&self) {
        // SAFETY: the handle is open.
        unsafe { TerminateJobObject(self.0, KILLED) };
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // SAFETY: the handle is open and owned; closing it kills whatever
        // is still in the job.
        unsafe { CloseHandle(self.0) };
    }
}

/// An open handle, closed when dropped.
struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle is open and owned.
        unsafe { CloseHandle(self.0) };
    }
}

/// Resumes the only thread of a process created suspended.
fn resume(process_id: u32) -> io::Result<()> {
    // SAFETY: plain call; the snapshot handle is checked, then owned.
    let snapshot = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0) };
    if snapshot == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    let snapshot = Handle(snapshot);
    // SAFETY: plain data for which all zeroes is valid.
    let mut entry: THREADENTRY32 = unsafe { std::mem::zeroed() };
    entry.dwSize = std::mem::size_of::<THREADENTRY32>() as u32;
    // SAFETY: `entry` is valid and its size set, as the API requires.
    let mut found = unsafe { Thread32First(snapshot.0, &mut entry) } != 0;
    while found {
        if entry.th32OwnerProcessID == process_id {
            // SAFETY: plain call; the handle is checked, then owned.
            let thread = unsafe { OpenThread(THREAD_SUSPEND_RESUME, 0, entry.th32ThreadID) };
            if thread.is_null() {
                return Err(io::Error::last_os_error());
            }
            let thread = Handle(thread);
            // SAFETY: the handle is open with THREAD_SUSPEND_RESUME.
            if unsafe { ResumeThread(thread.0) } == u32::MAX {
                return Err(io::Error::last_os_error());
            }
            return Ok(());
        }
        // SAFETY: as for Thread32First.
        found = unsafe { Thread32Next(snapshot.0, &mut entry) } != 0;
    }
    Err(io::Error::other(
        "the plugin's thread was not found to resume it",
    ))
}

/// A running plugin, alone in its job with what it starts.
pub(super) struct Plugin {
    child: Child,
    job: Job,
    ended_by: Option<i32>,
}

impl Plugin {
    /// Starts the plugin suspended, puts it in a new job, lists the job
    /// for `end_plugins`, and lets the plugin run.
    pub(super) fn spawn(command: &mut Command, link: &CallLink) -> io::Result<Plugin> {
        let job = Job::new()?;
        command.creation_flags(CREATE_SUSPENDED);
        let mut child = command.spawn()?;
        if let Err(error) = job.assign(&child) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(error);
        }
        // `end_plugins` or an abort came while it started: it must not
        // run on.
        if running().list(job.0 as isize, link) {
            job.terminate();
        }
        let plugin = Plugin {
            child,
            job,
            ended_by: None,
        };
        if let Err(error) = resume(plugin.child.id()) {
            let mut plugin = plugin;
            plugin.kill_tree();
            let _ = plugin.reap();
            return Err(error);
        }
        Ok(plugin)
    }

    pub(super) fn take_pipes(
        &mut self,
    ) -> (Option<ChildStdin>, Option<ChildStdout>, Option<ChildStderr>) {
        (
            self.child.stdin.take(),
            self.child.stdout.take(),
            self.child.stderr.take(),
        )
    }

    pub(super) fn kill_tree(&mut self) {
        self.job.terminate();
    }

    /// Ends whatever the plugin left in its job (so that nothing holds
    /// its pipes), unlists it, and waits for it.
    pub(super) fn reap(&mut self) -> io::Result<ExitStatus> {
        self.job.terminate();
        {
            let mut running = running();
            running.unlist(self.job.0 as isize);
            self.ended_by = running.ending;
        }
        self.child.wait()
    }

    /// The signal given to `end_plugins`, if it was called while the
    /// plugin ran.
    pub(super) fn interruption(&self, _outcome: &Outcome) -> Option<i32> {
        self.ended_by
    }
}

/// Windows has no signals.
pub(super) fn killed_by(_status: ExitStatus) -> Option<i32> {
    None
}

enum Event {
    Stdout(Vec<u8>),
    StdoutClosed,
    StdoutFailed(io::Error),
    Stderr(Vec<u8>),
    StderrClosed,
    MessageFailed(io::Error, PluginStdin),
}

/// What the caller's thread waits on.
pub(super) struct Watch {
    events: Sender<Event>,
    inbox: Receiver<Event>,
    /// The plugin's stdin after a failed message, kept open until the
    /// plugin is killed.
    kept_stdin: Option<PluginStdin>,
}

impl Watch {
    pub(super) fn new(
        _plugin: &Plugin,
        stdout: Option<ChildStdout>,
        stderr: Option<ChildStderr>,
    ) -> Watch {
        let (events, inbox) = mpsc::channel();
        if let Some(pipe) = stdout {
            let events = events.clone();
            thread::spawn(move || {
                read_pipe(
                    pipe,
                    &events,
                    Event::Stdout,
                    Event::StdoutClosed,
                    Event::StdoutFailed,
                )
            });
        }
        if let Some(pipe) = stderr {
            let events = events.clone();
            thread::spawn(move || {
                read_pipe(pipe, &events, Event::Stderr, Event::StderrClosed, |_| {
                    Event::StderrClosed
                })
            });
        }
        Watch {
            events,
            inbox,
            kept_stdin: None,
        }
    }

    pub(super) fn message_report(&mut self) -> io::Result<MessageReport> {
        Ok(MessageReport {
            events: self.events.clone(),
        })
    }

    pub(super) fn wait(
        &mut self,
        plugin: &mut Plugin,
        wake_at: Option<Instant>,
        collected: &mut Collected,
    ) -> io::Result<()> {
        let tick = Instant::now() + EXIT_POLL_INTERVAL;
        let wake_at = match collected.has_exited() {
            true => wake_at,
            false => Some(wake_at.map_or(tick, |at| at.min(tick))),
        };
        let event = match wake_at {
            Some(at) => self
                .inbox
                .recv_timeout(at.saturating_duration_since(Instant::now())),
            None => self
                .inbox
                .recv()
                .map_err(|_| RecvTimeoutError::Disconnected),
        };
        // The handle stays open until `reap`, so the process cannot be
        // confused with another.
        if !collected.has_exited() && matches!(plugin.child.try_wait(), Ok(Some(_))) {
            collected.exited();
        }
        match event {
            Ok(Event::Stdout(bytes)) => {
                collected.stdout(&bytes);
            }
            Ok(Event::StdoutClosed) => collected.stdout_closed(),
            Ok(Event::StdoutFailed(error)) => collected.stdout_failed(error),
            Ok(Event::Stderr(bytes)) => collected.stderr(&bytes),
            Ok(Event::StderrClosed) => collected.stderr_closed(),
            Ok(Event::MessageFailed(error, stdin)) => {
                self.kept_stdin = Some(stdin);
                collected.message_failed(error);
            }
            Err(_) => {}
        }
        Ok(())
    }
}

fn read_pipe<P: Read>(
    mut pipe: P,
    events: &Sender<Event>,
    data: fn(Vec<u8>) -> Event,
    closed: Event,
    failed: fn(io::Error) -> Event,
) {
    let mut chunk = vec![0u8; STDOUT_CHUNK];
    let last = loop {
        match pipe.read(&mut chunk) {
            Ok(0) => break closed,
            Ok(n) => {
                if events.send(data(chunk[..n].to_vec())).is_err() {
                    return;
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => break failed(error),
        }
    };
    drop(pipe);
    let _ = events.send(last);
}

/// How the stdin helper reports a message it could not read.
pub(super) struct MessageReport {
    events: Sender<Event>,
}

impl MessageReport {
    pub(super) fn failed(self, error: io::Error, stdin: PluginStdin) {
        let _ = self.events.send(Event::MessageFailed(error, stdin));
    }
}

/// The write end of the plugin's stdin.
pub(super) struct PluginStdin(ChildStdin);

impl PluginStdin {
    pub(super) fn new(stdin: ChildStdin) -> Self {
        PluginStdin(stdin)
    }

    pub(super) fn write_all(&self, bytes: &[u8], cancel: &AtomicBool) -> bool {
        !cancel.load(Ordering::Relaxed) && (&self.0).write_all(bytes).is_ok()
    }
}
