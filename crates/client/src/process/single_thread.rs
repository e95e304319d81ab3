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
/// reading them as they fill. Always reaps the child before returning, and
/// closes the pipes first.
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
        let now = Instant::now();
        if deadline.is_some_and(|deadline| now >= deadline) {
            break terminate(child, Outcome::DeadlineExceeded);
        }
        let grace_end = exited_at.map(|at| at + settings.exit_grace);
        if grace_end.is_some_and(|end| now >= end) {
            // The plugin is gone but something it started still holds its
            // stdout or stderr: that must not hold the call.
            kill_process_group(child);
            break reap(child);
        }
        let wake_at = [deadline, grace_end].into_iter().flatten().min();

        let mut fds = Vec::with_capacity(3);
        let watch = |fd: RawFd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        if exited_at.is_none() {
            fds.push(watch(pidfd.as_raw_fd()));
        }
        if let Some(pipe) = &stdout {
            fds.push(watch(pipe.as_raw_fd()));
        }
        if let Some(pipe) = &stderr {
            fds.push(watch(pipe.as_raw_fd()));
        }
        // `fds` holds at most three entries.
        let count = fds.len() as libc::nfds_t;
        // SAFETY: `fds` is a valid array of `count` pollfd structures.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), count, timeout_ms(wake_at, now)) };
        if rc < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break terminate(child, Outcome::WaitFailed(error));
        }

        let ready = |fd: RawFd| {
            fds.iter()
                .any(|polled| polled.fd == fd && polled.revents != 0)
        };
        if exited_at.is_none() && ready(pidfd.as_raw_fd()) {
            exited_at = Some(Instant::now());
        }
        if let Some(pipe) = stdout.as_mut().filter(|pipe| ready(pipe.as_raw_fd())) {
            match pipe.read(&mut chunk) {
                // Dropping the pipe closes it.
                Ok(0) => stdout = None,
                Ok(n) => {
                    if !append_within(&mut output, &chunk[..n], settings.stdout_limit) {
                        break terminate(child, Outcome::StdoutOverflow);
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => break terminate(child, Outcome::StdoutFailed(error)),
            }
        }
        if let Some(pipe) = stderr.as_mut().filter(|pipe| ready(pipe.as_raw_fd())) {
            match pipe.read(&mut chunk) {
                Ok(0) => stderr = None,
                Ok(n) => keep_tail(&mut tail, &chunk[..n], stderr_limit.unwrap_or(0)),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // Diagnostics only: a stderr that cannot be read is dropped.
                Err(_) => stderr = None,
            }
        }
    };
    drop((stdout, stderr));
    Supervised {
        outcome,
        stdout: output,
        stderr: stderr_limit.map(|_| tail),
    }
}

/// Milliseconds until `wake_at`, rounded up so that the loop never spins
/// just before it; -1 (no timeout) without one.
fn timeout_ms(wake_at: Option<Instant>, now: Instant) -> libc::c_int {
    match wake_at {
        None => -1,
        Some(at) => {
            let micros = at.saturating_duration_since(now).as_micros();
            libc::c_int::try_from(micros.div_ceil(1000)).unwrap_or(libc::c_int::MAX)
        }
    }
}
