//! The process around one call: real argv, stdin, stdout and exit status.

use std::env;
#[cfg(unix)]
use std::fs::File;
use std::io::{self, Write};
use std::process;

use sigstore_kms_protocol::{InitOptions, PluginResp};

use crate::{handle, write_response, Error, Plugin};

/// Serves the one call this process was started for and exits: the whole
/// `main` of a plugin.
///
/// Reads `argv` (`v1 '<PluginArgs JSON>'`), builds the plugin with
/// `make_plugin` from the init options, dispatches the call with stdin as
/// the message, writes exactly one JSON reply to stdout, and exits with
/// status 0 on success or 1 on error (hosts read the reply, not the
/// status).
///
/// While the constructor and the plugin run, on Unix, file descriptor 1
/// points at stderr: a stray `println!` in plugin code, or a child process
/// it starts, writes diagnostics to stderr instead of corrupting the reply.
/// A panic in plugin code becomes an `errorMessage` reply (unless the
/// plugin is built with `panic = "abort"`).
pub fn run<P, F, E>(make_plugin: F) -> !
where
    P: Plugin,
    F: FnOnce(&InitOptions) -> Result<P, E>,
    E: Into<Error>,
{
    let mut reply_out = match ReplyStdout::take() {
        Ok(out) => out,
        Err(err) => {
            // Without a stdout there is nowhere to answer; say why where a
            // person may read it.
            let _ = writeln!(io::stderr(), "cannot set up stdout for the reply: {err}");
            process::exit(1)
        }
    };
    let resp = handle(env::args_os(), &mut io::stdin().lock(), make_plugin);
    // Anything plugin code left in the stdout buffer belongs to stderr now.
    let _ = io::stdout().flush();
    let written = write_response(&mut reply_out, &resp);
    if let Err(err) = written {
        let _ = writeln!(io::stderr(), "writing the reply to stdout failed: {err}");
        process::exit(1)
    }
    process::exit(match resp {
        PluginResp::Success(_) => 0,
        _ => 1,
    })
}

/// Where the reply goes: the real stdout, held apart from file descriptor
/// 1 while plugin code runs.
enum ReplyStdout {
    #[cfg(unix)]
    Saved(File),
    #[cfg(not(unix))]
    Std(io::Stdout),
}

impl ReplyStdout {
    /// On Unix: duplicates the real stdout and points descriptor 1 at
    /// stderr.
    #[cfg(unix)]
    fn take() -> io::Result<Self> {
        use std::os::fd::FromRawFd as _;

        io::stdout().flush()?;
        // SAFETY: plain descriptor calls on the process's own standard
        // descriptors; the duplicate is owned by the `File` alone, and
        // close-on-exec keeps it from child processes.
        unsafe {
            let saved = libc::fcntl(libc::STDOUT_FILENO, libc::F_DUPFD_CLOEXEC, 3);
            if saved < 0 {
                return Err(io::Error::last_os_error());
            }
            let saved = File::from_raw_fd(saved);
            if libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(ReplyStdout::Saved(saved))
        }
    }

    /// Elsewhere: stdout itself.
    #[cfg(not(unix))]
    fn take() -> io::Result<Self> {
        Ok(ReplyStdout::Std(io::stdout()))
    }
}

impl Write for ReplyStdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            #[cfg(unix)]
            ReplyStdout::Saved(file) => file.write(buf),
            #[cfg(not(unix))]
            ReplyStdout::Std(out) => out.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            #[cfg(unix)]
            ReplyStdout::Saved(file) => file.flush(),
            #[cfg(not(unix))]
            ReplyStdout::Std(out) => out.flush(),
        }
    }
}
