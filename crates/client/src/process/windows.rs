//! Plugins on Windows: helper threads read the plugin's pipes (anonymous
//! pipes cannot be polled) and send what they read to the caller's thread,
//! which looks for the plugin's exit at short intervals.
//!
//! Only the plugin itself is killed at the deadline: processes it started
//! are not, and one that holds its stdout keeps that reader thread alive.

use std::io::{self, Read, Write};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::{Collected, Outcome, STDOUT_CHUNK};

/// How often the plugin's exit is looked for.
const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(5);

/// The plugins running now, for [`end_plugins`].
struct Running {
    plugins: Vec<u32>,
    ending: Option<i32>,
}

static RUNNING: Mutex<Running> = Mutex::new(Running {
    plugins: Vec::new(),
    ending: None,
});

fn running() -> std::sync::MutexGuard<'static, Running> {
    RUNNING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether [`end_plugins`] was called, and with which signal.
pub(super) fn ending() -> Option<i32> {
    running().ending
}

/// Ends every plugin this process is running and keeps new calls from
/// starting one: for a host that is itself ending (Ctrl-C), so that it
/// leaves no plugin running without it.
///
/// On Windows `signal` is only recorded: the calls running fail with
/// [`crate::Error::Interrupted`] carrying it once their plugin is killed,
/// after `grace` at the latest. Returns when every call has reaped its
/// plugin, or after twice `grace`.
pub fn end_plugins(signal: i32, grace: Duration) {
    running().ending.get_or_insert(signal);
    let until = Instant::now() + grace.saturating_mul(2).min(Duration::from_secs(3600));
    while !running().plugins.is_empty() && Instant::now() < until {
        thread::sleep(Duration::from_millis(5));
    }
}

/// A running plugin.
pub(super) struct Plugin {
    child: Child,
    ended_by: Option<i32>,
}

impl Plugin {
    pub(super) fn spawn(command: &mut Command) -> io::Result<Plugin> {
        let mut child = command.spawn()?;
        {
            let mut running = running();
            running.plugins.push(child.id());
            if running.ending.is_some() {
                let _ = child.kill();
            }
        }
        Ok(Plugin {
            child,
            ended_by: None,
        })
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
        let _ = self.child.kill();
    }

    pub(super) fn reap(&mut self) -> io::Result<ExitStatus> {
        {
            let mut running = running();
            let id = self.child.id();
            running.plugins.retain(|&plugin| plugin != id);
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
