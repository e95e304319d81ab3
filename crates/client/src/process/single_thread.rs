//! Supervision of a call without a message in the caller's thread alone
//! (Linux): one `poll` over the plugin's stdout, its stderr when captured,
//! and a pidfd that becomes readable when the plugin exits. Starting the
//! three helper threads of the portable way costs about as much as a
//! plugin's whole computation (see BENCHMARKS.md), and a call without a
//! message has nothing that could block outside that `poll`.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Child;
use std::time::Instant;

use super::{
    append_within, keep_tail, kill_process_group, reap, terminate, Outcome, ProcessSettings,
    Supervised, STDOUT_CHUNK,
};
use crate::StderrMode;

/// A descriptor for the unreaped `child`, or `None` where the kernel has no
/// `pidfd_open` (before Linux 5.3) or a sandbox forbids it.
pub(super) fn pidfd_open(child: &Child) -> Option<OwnedFd> {
    let pid = libc::pid_t::try_from(child.id()).ok()?;
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new
    // descriptor or -1. The child is not reaped yet, so its pid is its own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = RawFd::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Waits for the plugin to exit and its pipes to close, within the deadline,
/// reading them as they fill. Always reaps the child, and closes the pipes,
/// before returning.
pub(super) fn supervise(
    child: &mut Child,
    pidfd: &OwnedFd,
    settings: &ProcessSettings,
    deadline: Option<Instant>,
) -> Supervised {
    let mut stdout = child.stdout.take();
    let stderr_limit = match settings.stderr {
        StderrMode::Capture(limit) => Some(limit),
        _ => None,
    };
    let mut stderr = child.stderr.take().filter(|_| stderr_limit.is_some());
    let mut output = Vec::new();
    let mut tail = Vec::new();
    let mut chunk = vec![0u8; STDOUT_CHUNK];
    let mut exited_at: Option<Instant> = None;

    let outcome = loop {
        if exited_at.is_some() && stdout.is_none() && stderr.is_none() {
            break reap(child);
        }
        // A grace too long to add up is no grace deadline at all.
        let grace_end = exited_at.and_then(|at| at.checked_add(settings.exit_grace));
        let wake_at = [deadline, grace_end].into_iter().flatten().min();

        // `poll` skips the entries with a negative descriptor.
        let mut fds = [
            exited_at.is_none().then(|| pidfd.as_raw_fd()),
            stdout.as_ref().map(AsRawFd::as_raw_fd),
            stderr.as_ref().map(AsRawFd::as_raw_fd),
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
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break terminate(child, Outcome::WaitFailed(error));
        }
        let [exit, out, err] = fds.map(|polled| polled.revents);

        if exit != 0 {
            exited_at = Some(Instant::now());
        }
        if let Some(pipe) = stdout.as_mut().filter(|_| out != 0) {
            let limit = settings.stdout_limit;
            match read_ready(pipe, out, &mut chunk, |bytes| {
                append_within(&mut output, bytes, limit)
            }) {
                Pipe::Open => {}
                // Dropping the pipe closes it.
                Pipe::Closed => stdout = None,
                Pipe::Full => break terminate(child, Outcome::StdoutOverflow),
                Pipe::Failed(error) => break terminate(child, Outcome::StdoutFailed(error)),
            }
        }
        if let Some(pipe) = stderr.as_mut().filter(|_| err != 0) {
            let limit = stderr_limit.unwrap_or(0);
            match read_ready(pipe, err, &mut chunk, |bytes| {
                keep_tail(&mut tail, bytes, limit);
                true
            }) {
                Pipe::Open => {}
                // Diagnostics only: a stderr that cannot be read is dropped.
                Pipe::Closed | Pipe::Full | Pipe::Failed(_) => stderr = None,
            }
        }

        // Time limits are checked after what has arrived is read, so that
        // an answer complete before the deadline is never lost to it.
        let now = Instant::now();
        if exited_at.is_some() && stdout.is_none() && stderr.is_none() {
            continue;
        }
        if deadline.is_some_and(|deadline| now >= deadline) {
            break terminate(child, Outcome::DeadlineExceeded);
        }
        if grace_end.is_some_and(|end| now >= end) {
            // The plugin is gone but something it started still holds its
            // stdout or stderr: that must not hold the call.
            kill_process_group(child);
            break reap(child);
        }
    };
    drop((stdout, stderr));
    Supervised {
        outcome,
        stdout: output,
        stderr: stderr_limit.map(|_| tail),
    }
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
