//! Plugins on Unix: each runs in its own process group, which is what a
//! deadline kills; while it runs, that group holds the terminal's
//! foreground (when the host's group held it), so that the plugin can
//! prompt on `/dev/tty` and gets the terminal's Ctrl-C.
//!
//! The caller's thread watches the plugin with one `poll` over its stdout,
//! its stderr when captured, a pidfd that becomes readable when it exits
//! (Linux 5.3 and later; elsewhere a non-reaping `waitid` at short
//! intervals), and a pipe from the stdin helper. Every descriptor belongs to
//! the call, so none outlives it, even when a process the plugin left
//! behind holds the other end of a pipe.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::{CallLink, Collected, Outcome, Running, STDOUT_CHUNK};

/// The process group of each plugin not yet reaped (its pid, which cannot
/// be reused while it is listed), for [`end_plugins`].
static RUNNING: Mutex<Running<libc::pid_t>> = Mutex::new(Running::new());

fn running() -> MutexGuard<'static, Running<libc::pid_t>> {
    super::lock(&RUNNING)
}

/// Whether [`end_plugins`] was called, and with which signal.
pub(super) fn ending() -> Option<i32> {
    running().ending
}

/// Ends every plugin this process is running, with everything each
/// started, and keeps new calls from starting one: for a host that is
/// itself ending, after a Ctrl-C or a `SIGTERM`, so that it leaves no
/// plugin running without it.
///
/// Each plugin's process group gets `signal` (the one the host received,
/// such as `libc::SIGINT`, so that a plugin can clean up as it would under
/// a host that shares its group); whatever is left after `grace` gets
/// `SIGKILL`. Returns when every call has reaped its plugin and given the
/// terminal back, or after twice `grace`. The calls fail with
/// [`crate::Error::Interrupted`], and so do calls made afterwards, without
/// starting their plugin.
///
/// It takes a lock, so it is not for a signal handler: call it from a
/// thread that waits for signals (`sigwait`, or a crate such as
/// `signal-hook`), then end the process.
pub fn end_plugins(signal: i32, grace: Duration) {
    {
        let mut running = running();
        running.ending.get_or_insert(signal);
        for group in running.all() {
            signal_group(group, signal);
            // A plugin stopped (by Ctrl-Z, or reading a terminal it did
            // not hold) acts on the signal only once it runs again.
            signal_group(group, libc::SIGCONT);
        }
    }
    if wait_for_no_plugin(grace) {
        return;
    }
    for group in running().all() {
        signal_group(group, libc::SIGKILL);
    }
    wait_for_no_plugin(grace);
}

fn wait_for_no_plugin(limit: Duration) -> bool {
    let until = Instant::now() + limit.min(Duration::from_secs(3600));
    loop {
        if running().plugins.is_empty() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `signal` to a listed process group.
fn signal_group(group: libc::pid_t, signal: i32) {
    // SAFETY: kill(2) takes no pointers. The group is listed, so its leader
    // is not reaped and the id names that group.
    unsafe { libc::kill(-group, signal) };
}

/// Kills the plugin of an aborted call, with its process group, if it is
/// listed (else it is killed when listed). Listed, it is not reaped, so
/// its pid names it and its group.
pub(super) fn end_aborted(link: &CallLink) {
    if let Some(group) = running().of_call(link) {
        signal_group(group, libc::SIGKILL);
        // SAFETY: as in `signal_group`; the plugin itself too, should it
        // have left its group.
        unsafe { libc::kill(group, libc::SIGKILL) };
    }
}

/// A running plugin, its own process group's leader.
pub(super) struct Plugin {
    child: Child,
    group: libc::pid_t,
    /// The terminal, while the plugin's group holds its foreground.
    terminal: Option<Terminal>,
    /// Whether the plugin's group held the terminal's foreground.
    held_terminal: bool,
    /// The signal given to `end_plugins`, if it was called before the
    /// plugin was reaped.
    ended_by: Option<i32>,
    link: CallLink,
}

impl Plugin {
    /// Starts the plugin in a process group of its own, lists it for
    /// `end_plugins`, and hands it the terminal when the host holds it.
    pub(super) fn spawn(command: &mut Command, link: &CallLink) -> io::Result<Plugin> {
        command.process_group(0);
        let mut child = spawn_retrying(command)?;
        let Ok(group) = libc::pid_t::try_from(child.id()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("the plugin's process id is out of range"));
        };
        {
            // `end_plugins` or an abort came while it started: it must not
            // run on.
            if running().list(group, link) {
                signal_group(group, libc::SIGKILL);
            }
        }
        let terminal = Terminal::lend_to(group);
        Ok(Plugin {
            child,
            group,
            held_terminal: terminal.is_some(),
            terminal,
            ended_by: None,
            link: link.clone(),
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

    /// Kills the plugin and everything in its process group. Only called
    /// before the plugin is reaped, so its pid still names its group.
    pub(super) fn kill_tree(&mut self) {
        signal_group(self.group, libc::SIGKILL);
        // The plugin itself too, should it have left its group.
        let _ = self.child.kill();
    }

    /// Takes the terminal back, unlists the plugin, and reaps it. When the
    /// call was interrupted or aborted, what the plugin started goes with it, even
    /// what ignores the interrupting signal (as a shell's background
    /// commands do).
    pub(super) fn reap(&mut self) -> io::Result<ExitStatus> {
        if let Some(terminal) = self.terminal.take() {
            terminal.take_back();
        }
        let interrupted_at_terminal = self.held_terminal
            && exit_signal(self.child.id())
                .is_some_and(|signal| TERMINAL_INTERRUPTS.contains(&signal));
        {
            let mut running = running();
            running.unlist(self.group);
            self.ended_by = running.ending;
            if self.ended_by.is_some() || interrupted_at_terminal || self.link.is_aborted() {
                signal_group(self.group, libc::SIGKILL);
            }
        }
        self.child.wait()
    }

    /// Follows a Ctrl-Z (`SIGTSTP`; not a `SIGSTOP` sent to the plugin
    /// alone) of the plugin while it holds the terminal, as a host sharing
    /// its group would: takes the terminal back
    /// and stops the host's group, as the terminal would have; once
    /// continued in the foreground (`fg`), lends the terminal again and
    /// continues the plugin. Where the host's group cannot be stopped (an
    /// orphaned group, such as a session leader's, or SIGTSTP ignored) that
    /// happens at once.
    fn follow_stop(&mut self) {
        if self.terminal.is_none() || stopped_by(self.child.id()) != Some(libc::SIGTSTP) {
            return;
        }
        if let Some(terminal) = self.terminal.take() {
            terminal.take_back();
        }
        // SAFETY: kill(2) takes no pointers.
        unsafe { libc::kill(0, libc::SIGTSTP) };
        self.terminal = Terminal::lend_to(self.group);
        if self.terminal.is_none() {
            // Continued in the background: the plugin runs on there.
            signal_group(self.group, libc::SIGCONT);
        }
    }

    /// The signal that interrupted the call, if one did: `end_plugins`, or
    /// the terminal's Ctrl-C (`SIGINT`) or Ctrl-\ (`SIGQUIT`) while the
    /// plugin held the terminal, which a host sharing the plugin's group
    /// would have received as well.
    pub(super) fn interruption(&self, outcome: &Outcome) -> Option<i32> {
        if let Some(signal) = self.ended_by {
            return Some(signal);
        }
        let Outcome::Finished(status) = outcome else {
            return None;
        };
        status
            .signal()
            .filter(|&signal| self.held_terminal && TERMINAL_INTERRUPTS.contains(&signal))
    }
}

/// The signals a terminal sends its foreground group to interrupt it.
const TERMINAL_INTERRUPTS: [i32; 2] = [libc::SIGINT, libc::SIGQUIT];

/// The signal that killed a plugin, if one did.
pub(super) fn killed_by(status: ExitStatus) -> Option<i32> {
    status.signal()
}

/// Spawns, retrying briefly on `ETXTBSY`: an executable that was just
/// written can still be open for writing in a process forked concurrently
/// by another thread, until that process calls exec.
fn spawn_retrying(command: &mut Command) -> io::Result<Child> {
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

/// The controlling terminal, lent to a plugin's process group.
struct Terminal {
    tty: File,
    host_group: libc::pid_t,
}

/// Whether a plugin holds the terminal: one at a time, so that concurrent
/// calls never take it back from each other.
static TERMINAL_LENT: Mutex<bool> = Mutex::new(false);

impl Terminal {
    /// Makes `group` the terminal's foreground process group, when this
    /// process has a controlling terminal whose foreground is its group.
    fn lend_to(group: libc::pid_t) -> Option<Terminal> {
        let tty = File::options()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        let mut lent = TERMINAL_LENT.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: getpgrp(2) and tcgetpgrp(3) take no pointers; the
        // descriptor is open.
        let host_group = unsafe { libc::getpgrp() };
        if *lent || unsafe { libc::tcgetpgrp(tty.as_raw_fd()) } != host_group {
            return None;
        }
        // SAFETY: as above; `group` is the unreaped plugin's group.
        if unsafe { libc::tcsetpgrp(tty.as_raw_fd(), group) } != 0 {
            return None;
        }
        *lent = true;
        // A plugin that read the terminal before it held it was stopped by
        // SIGTTIN: it may go on now.
        signal_group(group, libc::SIGCONT);
        Some(Terminal { tty, host_group })
    }

    /// Makes the host's group the foreground again. The host is in the
    /// background now, where `tcsetpgrp` raises SIGTTOU unless the signal
    /// is blocked: it is, in this thread, for the call.
    fn take_back(self) {
        let mut lent = TERMINAL_LENT.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: the signal sets live on this stack frame; the descriptor
        // is open; the previous mask is restored before returning.
        unsafe {
            let mut ttou = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
            let mut previous = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
            libc::sigemptyset(ttou.as_mut_ptr());
            libc::sigaddset(ttou.as_mut_ptr(), libc::SIGTTOU);
            libc::pthread_sigmask(libc::SIG_BLOCK, ttou.as_ptr(), previous.as_mut_ptr());
            libc::tcsetpgrp(self.tty.as_raw_fd(), self.host_group);
            libc::pthread_sigmask(libc::SIG_SETMASK, previous.as_ptr(), std::ptr::null_mut());
        }
        *lent = false;
    }
}

/// How often a plugin's exit is looked for where no pidfd reports it.
const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(5);

/// How often a plugin holding the terminal is looked at for a stop.
const STOP_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// What the caller's thread waits on.
pub(super) struct Watch {
    pid: libc::id_t,
    /// Readable once the plugin exited, where the kernel has `pidfd_open`.
    pidfd: Option<OwnedFd>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    /// Readable when the stdin helper is done (its end closed) or reports
    /// a failed message (in `slot`).
    report: Option<io::PipeReader>,
    slot: Option<Arc<Mutex<ReportSlot>>>,
    chunk: Vec<u8>,
}

impl Watch {
    pub(super) fn new(
        plugin: &Plugin,
        stdout: Option<ChildStdout>,
        stderr: Option<ChildStderr>,
    ) -> Watch {
        Watch {
            pid: plugin.child.id(),
            pidfd: pidfd_open(&plugin.child),
            stdout,
            stderr,
            report: None,
            slot: None,
            chunk: vec![0u8; STDOUT_CHUNK],
        }
    }

    /// The stdin helper's way to report a message it could not read.
    pub(super) fn message_report(&mut self) -> io::Result<MessageReport> {
        let (reader, writer) = io::pipe()?;
        let slot = Arc::new(Mutex::new(ReportSlot::default()));
        self.report = Some(reader);
        self.slot = Some(slot.clone());
        Ok(MessageReport { writer, slot })
    }

    /// Waits until something happens or `wake_at`, and records it.
    pub(super) fn wait(
        &mut self,
        plugin: &mut Plugin,
        wake_at: Option<Instant>,
        collected: &mut Collected,
    ) -> io::Result<()> {
        let look_for_exit = self.pidfd.is_none() && !collected.has_exited();
        let tick = match (look_for_exit, plugin.terminal.is_some()) {
            (true, _) => Some(EXIT_POLL_INTERVAL),
            (false, true) => Some(STOP_POLL_INTERVAL),
            (false, false) => None,
        };
        let wake_at = [wake_at, tick.map(|tick| Instant::now() + tick)]
            .into_iter()
            .flatten()
            .min();
        // `poll` skips the entries with a negative descriptor.
        let mut fds = [
            self.pidfd
                .as_ref()
                .filter(|_| !collected.has_exited())
                .map(AsRawFd::as_raw_fd),
            self.stdout.as_ref().map(AsRawFd::as_raw_fd),
            self.stderr.as_ref().map(AsRawFd::as_raw_fd),
            self.report.as_ref().map(AsRawFd::as_raw_fd),
        ]
        .map(|fd| libc::pollfd {
            fd: fd.unwrap_or(-1),
            events: libc::POLLIN,
            revents: 0,
        });
        let timeout = timeout_ms(wake_at, Instant::now());
        // SAFETY: `fds` is a valid array of as many pollfd structures as
        // the count says.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if rc < 0 {
            let error = io::Error::last_os_error();
            return match error.kind() {
                io::ErrorKind::Interrupted => Ok(()),
                _ => Err(error),
            };
        }
        let [exit, out, err, report] = fds.map(|polled| polled.revents);
        plugin.follow_stop();

        if exit != 0 || (look_for_exit && has_exited(self.pid)) {
            collected.exited();
        }
        if let Some(pipe) = self.stdout.as_mut().filter(|_| out != 0) {
            match read_ready(pipe, out, &mut self.chunk, |bytes| collected.stdout(bytes)) {
                Pipe::Open | Pipe::Full => {}
                Pipe::Closed => {
                    // Dropping the pipe closes it.
                    self.stdout = None;
                    collected.stdout_closed();
                }
                Pipe::Failed(error) => {
                    self.stdout = None;
                    collected.stdout_failed(error);
                }
            }
        }
        if let Some(pipe) = self.stderr.as_mut().filter(|_| err != 0) {
            match read_ready(pipe, err, &mut self.chunk, |bytes| {
                collected.stderr(bytes);
                true
            }) {
                Pipe::Open => {}
                Pipe::Closed | Pipe::Full | Pipe::Failed(_) => {
                    self.stderr = None;
                    collected.stderr_closed();
                }
            }
        }
        if report != 0 {
            // Either the helper is done (its end closed), or it wrote that
            // the message failed; the slot, and the stdin it may hold, stay
            // until the call ends.
            self.report = None;
            let slot = self.slot.as_ref().map(|slot| {
                let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
                slot.error.take()
            });
            if let Some(error) = slot.flatten() {
                collected.message_failed(error);
            }
        }
        Ok(())
    }
}

/// What the stdin helper leaves for the caller's thread when the message
/// fails: the error, and the plugin's stdin, kept open until the call ends.
#[derive(Default)]
struct ReportSlot {
    error: Option<io::Error>,
    stdin: Option<PluginStdin>,
}

/// The stdin helper's end of the report pipe.
pub(super) struct MessageReport {
    writer: io::PipeWriter,
    slot: Arc<Mutex<ReportSlot>>,
}

impl MessageReport {
    /// Reports that the message failed, handing over the plugin's stdin.
    pub(super) fn failed(mut self, error: io::Error, stdin: PluginStdin) {
        {
            let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            slot.error = Some(error);
            slot.stdin = Some(stdin);
        }
        let _ = self.writer.write_all(&[1]);
    }
}

/// A descriptor for the unreaped `child`, or `None` off Linux, before Linux
/// 5.3, or where a sandbox forbids `pidfd_open`.
#[cfg(target_os = "linux")]
fn pidfd_open(child: &Child) -> Option<OwnedFd> {
    use std::os::fd::{FromRawFd, RawFd};
    let pid = libc::pid_t::try_from(child.id()).ok()?;
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new
    // descriptor or -1. The child is not reaped yet, so its pid is its own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = RawFd::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(not(target_os = "linux"))]
fn pidfd_open(_child: &Child) -> Option<OwnedFd> {
    None
}

/// What `waitid` reports about the plugin for `events` (`WEXITED`,
/// `WSTOPPED`) now, without waiting and without reaping it, so that its
/// pid still names its process group: `(si_code, si_status)`.
fn peek(pid: libc::id_t, events: libc::c_int) -> Option<(libc::c_int, libc::c_int)> {
    // SAFETY: siginfo_t is plain data for which all zeroes is valid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid, writable siginfo_t; WNOWAIT leaves the
    // child to be reaped by `Child::wait`.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            events | libc::WNOWAIT | libc::WNOHANG,
        )
    };
    // SAFETY: waitid filled `info`, or left it zeroed when nothing is to
    // report (then `si_pid` is 0).
    (rc == 0 && unsafe { info.si_pid() } != 0).then(|| (info.si_code, unsafe { info.si_status() }))
}

/// Whether the plugin exited.
fn has_exited(pid: libc::id_t) -> bool {
    peek(pid, libc::WEXITED).is_some()
}

/// The signal that stopped the plugin, if it is stopped now.
fn stopped_by(pid: libc::id_t) -> Option<i32> {
    peek(pid, libc::WSTOPPED)
        .filter(|&(code, _)| code == libc::CLD_STOPPED)
        .map(|(_, signal)| signal)
}

/// The signal that killed the plugin, if it exited so.
fn exit_signal(pid: libc::id_t) -> Option<i32> {
    peek(pid, libc::WEXITED)
        .filter(|&(code, _)| [libc::CLD_KILLED, libc::CLD_DUMPED].contains(&code))
        .map(|(_, signal)| signal)
}

/// What reading a pipe that `poll` found ready came to.
enum Pipe {
    Open,
    Closed,
    /// `keep` had no room for what was read.
    Full,
    Failed(io::Error),
}

/// Reads a pipe `poll` found ready, giving each chunk to `keep`: once, or,
/// when every writer has closed it (`POLLHUP`), through to its end, which
/// no read can block on.
fn read_ready(
    pipe: &mut impl Read,
    revents: libc::c_short,
    chunk: &mut [u8],
    mut keep: impl FnMut(&[u8]) -> bool,
) -> Pipe {
    loop {
        match pipe.read(chunk) {
            Ok(0) => return Pipe::Closed,
            Ok(n) => {
                if !keep(&chunk[..n]) {
                    return Pipe::Full;
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Pipe::Failed(error),
        }
        if revents & libc::POLLHUP == 0 {
            return Pipe::Open;
        }
    }
}

/// Milliseconds until `wake_at`, rounded up so that the loop never spins
/// just before it; -1 (no timeout) without one.
fn timeout_ms(wake_at: Option<Instant>, now: Instant) -> libc::c_int {
    match wake_at {
        None => -1,
        Some(at) => {
            let nanos = at.saturating_duration_since(now).as_nanos();
            libc::c_int::try_from(nanos.div_ceil(1_000_000)).unwrap_or(libc::c_int::MAX)
        }
    }
}

/// The write end of the plugin's stdin. It is non-blocking, so a write
/// never outlives the call (a process the plugin started could hold the
/// read end open without reading), and SIGPIPE is blocked in the helper
/// thread so that a closed pipe is an `EPIPE` error even in hosts that do
/// not ignore the signal.
pub(super) struct PluginStdin(ChildStdin);

impl PluginStdin {
    /// Called in the stdin helper's thread.
    pub(super) fn new(stdin: ChildStdin) -> Self {
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

    /// Writes all of `bytes`; false when the plugin stopped reading or the
    /// call is over.
    pub(super) fn write_all(&self, mut bytes: &[u8], cancel: &AtomicBool) -> bool {
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

    fn wait_writable(&self) {
        let mut poll = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd; the timeout bounds how long a
        // cancellation can go unnoticed.
        unsafe { libc::poll(&mut poll, 1, 50) };
    }
}

#[cfg(test)]
mod tests {
    use std::process::Stdio;

    use super::super::{watch_until_done, ProcessSettings};
    use super::*;
    use crate::StderrMode;

    /// Where no pidfd reports the exit (macOS, Linux before 5.3), the
    /// supervision looks for it with `waitid`: the answer, a deadline and
    /// a process left holding stdout are handled as with a pidfd.
    #[test]
    fn supervision_without_a_pidfd() {
        let settings = ProcessSettings {
            stderr: StderrMode::Discard,
            stdout_limit: 1024,
            exit_grace: Duration::from_millis(100),
        };
        let run = |script: &str, timeout: Duration| {
            let mut command = Command::new("sh");
            command
                .args(["-c", script])
                .stdin(Stdio::null())
                .stdout(Stdio::piped());
            let mut plugin = Plugin::spawn(&mut command, &CallLink::default()).unwrap();
            let (_, stdout, _) = plugin.take_pipes();
            let mut watch = Watch::new(&plugin, stdout, None);
            watch.pidfd = None;
            let mut collected = Collected::new(settings.stdout_limit, None, false);
            let start = Instant::now();
            let deadline = Some(start + timeout);
            let outcome =
                watch_until_done(&mut plugin, &mut watch, &mut collected, &settings, deadline);
            (outcome, collected.stdout, start.elapsed())
        };

        let (outcome, stdout, _) = run("sleep 0.1; printf answer", Duration::from_secs(20));
        assert!(matches!(outcome, Outcome::Finished(status) if status.success()));
        assert_eq!(stdout, b"answer");

        let (outcome, _, elapsed) = run("exec sleep 60", Duration::from_millis(300));
        assert!(matches!(outcome, Outcome::DeadlineExceeded));
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");

        let (outcome, stdout, elapsed) =
            run("sleep 60 & printf answer; exit 0", Duration::from_secs(20));
        assert!(matches!(outcome, Outcome::Finished(status) if status.success()));
        assert_eq!(stdout, b"answer");
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    }
}
