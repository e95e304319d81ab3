//! Ctrl-C and termination on Unix. The plugin runs in a process group of
//! its own, so a signal that ends this command (`kill`, or a Ctrl-C typed
//! while the command, not the plugin, holds the terminal) must be passed on
//! to it, or it would run on without the command.
//!
//! (On Windows a console's Ctrl-C reaches every process attached to it,
//! the plugin included.)

use std::io::Read;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::thread;
use std::time::Duration;

/// The signals that end the command, each passed on to the plugin.
const SIGNALS: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// How long a plugin may take to end on the signal before it is killed.
const GRACE: Duration = Duration::from_secs(1);

static RECEIVED: AtomicBool = AtomicBool::new(false);

/// The write end of the pipe the signal handler writes to.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    let byte = u8::try_from(signal).unwrap_or(0);
    // SAFETY: write(2) is async-signal-safe; the buffer is one valid byte.
    unsafe {
        libc::write(
            SIGNAL_PIPE.load(Ordering::Relaxed),
            (&raw const byte).cast(),
            1,
        )
    };
}

/// Catches the signals with a handler that only writes their number into
/// a pipe, and waits for them in a thread of its own, which ends the
/// plugins, then this process by the same signal. Caught signals, unlike
/// blocked or ignored ones, are back to their default in a plugin.
pub fn pass_signals_to_plugins() {
    let Ok((mut reader, writer)) = std::io::pipe() else {
        return;
    };
    SIGNAL_PIPE.store(OwnedFd::from(writer).into_raw_fd(), Ordering::Relaxed);
    for signal in SIGNALS {
        // SAFETY: the handler only calls write(2); `action` is fully
        // initialised before use.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
    thread::spawn(move || {
        let mut byte = [0u8];
        if reader.read_exact(&mut byte).is_err() {
            return;
        }
        let signal = libc::c_int::from(byte[0]);
        RECEIVED.store(true, Ordering::SeqCst);
        sigstore_kms_client::end_plugins(signal, GRACE);
        die_of(signal)
    });
}

/// Whether a signal arrived: the command is ending by it.
pub fn received() -> bool {
    RECEIVED.load(Ordering::SeqCst)
}

/// Ends this process by `signal`, as if it had not been caught, so that
/// the shell (or a script) sees the command was interrupted.
pub fn die_of(signal: libc::c_int) -> ! {
    // SAFETY: plain calls, no pointers.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::kill(libc::getpid(), signal);
    }
    // Each signal handled here ends a process by default; this exit only
    // guards against a signal that stays pending for a moment.
    thread::sleep(Duration::from_secs(1));
    std::process::exit(128 + signal)
}

/// Sends `signal`, which the terminal sent the plugin while it held the
/// terminal, to this process's group, as the terminal would have without
/// the plugin: that ends this command by it, and a script that ran the
/// command in its group (without job control) too.
pub fn pass_on_to_group(signal: libc::c_int) -> ! {
    // SAFETY: plain calls, no pointers.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::kill(0, signal);
    }
    die_of(signal)
}

/// Waits for the thread that received a signal to end the process.
pub fn wait_for_the_end() -> ! {
    loop {
        thread::park();
    }
}
