//! The real stdout, held apart for the reply while plugin code runs with
//! its standard output pointed at stderr: a stray `println!`, or a child
//! process the plugin starts, then writes diagnostics to stderr instead of
//! corrupting the reply. One module per OS.

#[cfg(unix)]
#[path = "reply_stdout/unix.rs"]
mod sys;
#[cfg(windows)]
#[path = "reply_stdout/windows.rs"]
mod sys;

use std::fs::File;
use std::io::{self, Write as _};

/// Flushes stdout, takes the real stdout apart (kept from child processes)
/// and points the process's standard output at stderr: from then on only
/// what is written to the returned `File` reaches the real stdout, whatever
/// a library or a loaded module prints. [`run`](crate::run) does this for
/// the reply; a plugin's own long-running helper (a daemon that prints one
/// line for its starter, say) can do the same.
pub fn take_stdout() -> io::Result<File> {
    io::stdout().flush()?;
    sys::take()
}
