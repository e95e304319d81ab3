//! The process around one call: real argv, stdin, stdout and exit status.

use std::env;
use std::io::{self, Write};
use std::process;

use sigstore_kms_protocol::{InitOptions, PluginResp};

use crate::{handle, reply_stdout, write_response, Error, Plugin};

/// Serves the one call this process was started for and exits: the whole
/// `main` of a plugin.
///
/// Reads `argv` (`v1 '<PluginArgs JSON>'`), builds the plugin with
/// `make_plugin` from the init options, dispatches the call with stdin as
/// the message, writes exactly one JSON reply to stdout, and exits with
/// status 0 on success or 1 on error (hosts read the reply, not the
/// status).
///
/// While the constructor and the plugin run, standard output (file
/// descriptor 1 on Unix, the standard output handle on Windows) is stderr:
/// a stray `println!` in plugin code, or a child process it starts, writes
/// diagnostics to stderr instead of corrupting the reply.
/// A panic in plugin code becomes an `errorMessage` reply (unless the
/// plugin is built with `panic = "abort"`).
pub fn run<P, F, E>(make_plugin: F) -> !
where
    P: Plugin,
    F: FnOnce(&InitOptions) -> Result<P, E>,
    E: Into<Error>,
{
    let mut reply_out = match reply_stdout::take_stdout() {
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
