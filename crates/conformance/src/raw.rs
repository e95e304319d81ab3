//! Running the plugin by hand, for the checks the client cannot express
//! (another protocol version, an unknown method, a look at raw stdout).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// More than any plugin needs for one response.
const STDOUT_LIMIT: u64 = 1 << 20;

/// How long stdout may stay open after the plugin exited: the thread
/// reading it may be scheduled late on a loaded machine; a pipe held open
/// by a leftover process stays open however long one waits.
const STDOUT_GRACE: Duration = Duration::from_secs(10);

/// Runs `executable VERSION ARGS` with empty stdin and returns its stdout.
pub(crate) fn run(
    executable: &Path,
    version: &str,
    args_json: &str,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let mut child = Command::new(executable)
        .arg(version)
        .arg(args_json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("could not start {}: {err}", executable.display()))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut output = Vec::new();
        let result = (&mut stdout)
            .take(STDOUT_LIMIT)
            .read_to_end(&mut output)
            .map(|_| output);
        // The receiver may have given up already; nothing to do then.
        let _ = sender.send(result);
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < timeout => thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {timeout:?}; killed"));
            }
            Err(err) => return Err(format!("waiting for the plugin failed: {err}")),
        }
    };
    match receiver.recv_timeout(STDOUT_GRACE) {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(err)) => Err(format!("reading stdout failed: {err}")),
        Err(_) => Err(format!(
            "the plugin exited ({status}) but its stdout stayed open (a child of it holds it)"
        )),
    }
}

/// The first bytes of `output`, printable, for a failure message.
pub(crate) fn excerpt(output: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&output[..output.len().min(MAX)]).into_owned();
    if output.len() > MAX {
        format!("{text:?}...")
    } else {
        format!("{text:?}")
    }
}
