//! A plugin that does what its key reference tells it to, step by step:
//! answer, sleep past a deadline, leave children holding its pipes, never
//! read stdin, flood stdout. The host's supervision tests drive it the same
//! way on every OS, where a shell script would only run on Unix.
//!
//! The key reference (`initOptions.keyResourceID` in the second argument)
//! is a JSON array of steps, each `[name, argument...]`:
//!
//! - `["out", text]`, `["err", text]`: write `text` to stdout or stderr
//! - `["out_fill", count, char]`, `["err_fill", count, char]`: write
//!   `char` `count` times to stdout or stderr
//! - `["flood"]`: write to stdout until it fails
//! - `["reply", {method: json, "*": json}]`: write the answer for the
//!   method called (or the `"*"` one)
//! - `["record", dir]`: write `argc`, `argv1`, `argv2` files into `dir`
//! - `["read_stdin", file]`: read stdin to its end, into `file` if not empty
//! - `["touch", file]`: create `file`
//! - `["spawn", pid_file]`: start a copy of this program that sleeps 60 s
//!   holding this one's stdin, stdout and stderr, and append its pid to
//!   `pid_file`
//! - `["pid", file]`: write this process's pid to `file`
//! - `["close_stdio"]`: close stdout and stderr
//! - `["sleep", seconds]`
//! - `["exit", code]`
//! - `["kill_self"]` (Unix): die by SIGKILL
//! - `["when", method, [step...]]`: take the steps only when the method
//!   called is `method`
//!
//! Run as `sigstore-kms-fake linger SECONDS`, it only sleeps: the child the
//! `spawn` step starts.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use serde_json::Value;
use sigstore_kms_protocol::PluginArgs;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("linger") {
        let seconds = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(60);
        std::thread::sleep(Duration::from_secs(seconds));
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("sigstore-kms-fake: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let request = args.get(2).ok_or("expected `v1 ARGS_JSON`")?;
    let request =
        PluginArgs::from_json(request).map_err(|e| format!("ARGS_JSON is not plugin args: {e}"))?;
    let steps: Vec<Vec<Value>> = serde_json::from_str(&request.init_options.key_resource_id)
        .map_err(|e| format!("the key reference is no step list: {e}"))?;
    let method = request.method.method_name();
    for step in &steps {
        if let Some(code) = perform(step, args, method).map_err(|e| format!("{step:?}: {e}"))? {
            return Ok(code);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Performs one step; `Some` when the step ends the program.
fn perform(step: &[Value], args: &[String], method: &str) -> io::Result<Option<ExitCode>> {
    let text = |i: usize| step.get(i).and_then(Value::as_str).unwrap_or_default();
    let number = |i: usize| step.get(i).and_then(Value::as_u64).unwrap_or_default();
    match text(0) {
        "out" => write_flushed(&mut io::stdout(), text(1).as_bytes())?,
        "err" => write_flushed(&mut io::stderr(), text(1).as_bytes())?,
        "out_fill" | "err_fill" => {
            let fill = text(2).repeat(usize::try_from(number(1)).unwrap_or_default());
            let mut stream: Box<dyn Write> = match text(0) {
                "out_fill" => Box::new(io::stdout()),
                _ => Box::new(io::stderr()),
            };
            write_flushed(&mut stream, fill.as_bytes())?;
        }
        "flood" => {
            let line = [b'a'; 4096];
            let mut stdout = io::stdout().lock();
            while stdout.write_all(&line).is_ok() {}
        }
        "reply" => {
            let answers = step.get(1).cloned().unwrap_or_default();
            let answer = answers.get(method).or_else(|| answers.get("*"));
            let answer = answer.map(Value::to_string).unwrap_or_default();
            write_flushed(&mut io::stdout(), answer.as_bytes())?;
        }
        "record" => {
            let dir = Path::new(text(1));
            std::fs::write(dir.join("argc"), format!("{}\n", args.len() - 1))?;
            std::fs::write(dir.join("argv1"), &args[1])?;
            std::fs::write(dir.join("argv2"), &args[2])?;
        }
        "read_stdin" => {
            let mut stdin = Vec::new();
            io::stdin().read_to_end(&mut stdin)?;
            if !text(1).is_empty() {
                std::fs::write(text(1), stdin)?;
            }
        }
        "touch" => drop(File::create(text(1))?),
        "spawn" => {
            let child = Command::new(std::env::current_exe()?)
                .args(["linger", "60"])
                .spawn()?;
            let mut pids = OpenOptions::new().create(true).append(true).open(text(1))?;
            writeln!(pids, "{}", child.id())?;
        }
        "pid" => std::fs::write(text(1), std::process::id().to_string())?,
        "close_stdio" => close_stdout_and_stderr(),
        "sleep" => std::thread::sleep(Duration::from_secs(number(1))),
        "exit" => return Ok(Some(ExitCode::from(u8::try_from(number(1)).unwrap_or(1)))),
        "kill_self" => kill_self(),
        "when" => {
            if text(1) == method {
                let steps: Vec<Vec<Value>> = step
                    .get(2)
                    .cloned()
                    .map(serde_json::from_value)
                    .transpose()?
                    .unwrap_or_default();
                for step in &steps {
                    if let Some(code) = perform(step, args, method)? {
                        return Ok(Some(code));
                    }
                }
            }
        }
        other => return Err(io::Error::other(format!("unknown step {other:?}"))),
    }
    Ok(None)
}

fn write_flushed(stream: &mut dyn Write, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(bytes)?;
    stream.flush()
}

#[cfg(unix)]
fn close_stdout_and_stderr() {
    use std::os::fd::{FromRawFd, OwnedFd};
    for fd in [1, 2] {
        // SAFETY: nothing in this program uses the descriptor afterwards;
        // a later write fails with EBADF, which is what the step is for.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}

#[cfg(windows)]
fn close_stdout_and_stderr() {
    use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
    for handle in [io::stdout().as_raw_handle(), io::stderr().as_raw_handle()] {
        if !handle.is_null() {
            // SAFETY: as on Unix, the handle is not used after this.
            drop(unsafe { OwnedHandle::from_raw_handle(handle) });
        }
    }
}

#[cfg(unix)]
fn kill_self() {
    // SAFETY: raise(3) takes no pointers.
    unsafe { libc::raise(libc::SIGKILL) };
}

/// Death by signal is a Unix notion: elsewhere the step ends the program
/// with an unusual exit code.
#[cfg(not(unix))]
fn kill_self() {
    std::process::exit(137);
}
