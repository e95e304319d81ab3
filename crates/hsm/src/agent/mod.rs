//! The agent: `sigstore-kms-hsm agent` keeps the PKCS#11 module loaded and
//! the token logged in, and serves the plugin calls of the same user over
//! a Unix socket. With `SIGSTORE_KMS_HSM_AGENT` set to that socket, the
//! plugin forwards each call there instead of loading the module and
//! logging in itself, which a network HSM makes slow.
//!
//! Unix only: the agent relies on a socket in a private directory and on
//! the kernel's word about the peer's uid.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::settings::PIN_VARIABLE;

#[cfg(unix)]
mod backend;
#[cfg(unix)]
mod client;
#[cfg(unix)]
mod server;
#[cfg(unix)]
mod unix;
#[cfg(not(unix))]
mod unsupported;
#[cfg(unix)]
mod wire;

#[cfg(unix)]
use client::forward;
#[cfg(unix)]
use server::command;
#[cfg(not(unix))]
use unsupported::{command, forward};

/// The environment variable that sends the plugin's calls to an agent.
pub const AGENT_VARIABLE: &str = "SIGSTORE_KMS_HSM_AGENT";

/// `sigstore-kms-hsm agent --help`.
#[cfg_attr(not(unix), allow(dead_code))]
const USAGE: &str = "\
Usage: sigstore-kms-hsm agent [OPTIONS]
       sigstore-kms-hsm agent --stop [--socket PATH]

Keeps the PKCS#11 module loaded and the token logged in, and serves the
sigstore-kms-hsm calls of this user that find SIGSTORE_KMS_HSM_AGENT set to
its socket. Prints the shell line that sets it:

    eval \"$(sigstore-kms-hsm agent)\"

Options:
  --token LABEL          serve only this token (default: every token of the module)
  --module PATH          the PKCS#11 module (default: $SIGSTORE_KMS_HSM_MODULE)
  --pin-source file:PATH the file holding the user PIN (default: $SIGSTORE_KMS_HSM_PIN)
  --socket PATH          listen here, in a directory only you can enter
                         (default: a new directory in $XDG_RUNTIME_DIR or the temp dir)
  --log FILE             append the log of calls to FILE (default: stderr in the
                         foreground, nothing in the background)
  --foreground           stay in the foreground (systemd, CI); stop with a signal
  --stop                 stop the agent at $SIGSTORE_KMS_HSM_AGENT (or --socket)
  --help                 this text
";

/// What `sigstore-kms-hsm agent` was asked to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(not(unix), allow(dead_code))]
struct Options {
    token: Option<String>,
    module: Option<PathBuf>,
    pin_source: Option<PathBuf>,
    socket: Option<PathBuf>,
    log: Option<PathBuf>,
    foreground: bool,
    /// Set by the agent for the process it starts in the background.
    detached: bool,
    /// Set by the agent when it starts itself again without the PIN in its
    /// environment: the descriptor of the pipe that holds the PIN.
    pin_fd: Option<i32>,
    stop: bool,
    help: bool,
}

#[cfg_attr(not(unix), allow(dead_code))]
impl Options {
    fn parse(args: Vec<OsString>) -> Result<Options, String> {
        let mut options = Options::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let name = arg.to_string_lossy().into_owned();
            let mut value = || args.next().ok_or_else(|| format!("{name} needs a value"));
            match name.as_str() {
                "--token" => options.token = Some(value()?.to_string_lossy().into_owned()),
                "--module" => options.module = Some(value()?.into()),
                "--pin-source" => {
                    let source = value()?.to_string_lossy().into_owned();
                    let path = source
                        .strip_prefix("file://")
                        .or_else(|| source.strip_prefix("file:"))
                        .filter(|path| !path.is_empty())
                        .ok_or_else(|| {
                            format!("--pin-source {source:?}: expected file:/path/to/pin-file")
                        })?;
                    options.pin_source = Some(path.into());
                }
                "--socket" => options.socket = Some(value()?.into()),
                "--log" => options.log = Some(value()?.into()),
                "--foreground" => options.foreground = true,
                "--detached" => options.detached = true,
                "--pin-fd" => {
                    let fd = value()?;
                    options.pin_fd = Some(
                        fd.to_str()
                            .and_then(|fd| fd.parse().ok())
                            .ok_or_else(|| format!("--pin-fd {fd:?}: expected a descriptor"))?,
                    );
                }
                "--stop" => options.stop = true,
                "--help" | "-h" => options.help = true,
                _ => return Err(format!("unknown argument {name:?}")),
            }
        }
        Ok(options)
    }

    /// The options again as arguments, for the process started in the
    /// background.
    fn to_args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        let mut pair = |name: &str, value: Option<OsString>| {
            if let Some(value) = value {
                args.push(name.into());
                args.push(value);
            }
        };
        pair("--token", self.token.clone().map(Into::into));
        pair("--module", self.module.clone().map(Into::into));
        pair(
            "--pin-source",
            self.pin_source.as_ref().map(|path| {
                let mut source = OsString::from("file:");
                source.push(path);
                source
            }),
        );
        pair("--socket", self.socket.clone().map(Into::into));
        pair("--log", self.log.clone().map(Into::into));
        args
    }
}

/// Why the agent did not start or stop.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(not(unix), allow(dead_code))]
pub enum AgentError {
    /// The module, the token or the login failed.
    #[error(transparent)]
    Token(#[from] crate::error::HsmError),
    /// No private directory for the socket.
    #[error("cannot create a private directory for the socket: {0}")]
    Dir(#[source] std::io::Error),
    /// The socket's path is not UTF-8: the shell line could not name it
    /// faithfully.
    #[error(
        "the socket path {0:?} is not valid UTF-8, so the shell line cannot name it faithfully: \
         choose a --socket path (or a TMPDIR or XDG_RUNTIME_DIR) that is"
    )]
    UnprintableSocket(PathBuf),
    /// The PIN could not be handed to the agent's fresh process.
    #[error("cannot hand the PIN from {PIN_VARIABLE} to the agent's own process: {0}")]
    PinHandover(#[source] std::io::Error),
    /// `--socket` in a directory others can enter.
    #[error(
        "the socket's directory {0} must belong to you and be closed to others (chmod 700): \
         anyone who can enter it could use your token"
    )]
    SharedDir(PathBuf),
    /// An agent already listens on `--socket`.
    #[error("an agent already listens on {0}")]
    Running(PathBuf),
    /// Something other than a socket is at `--socket`.
    #[error("{0} exists and is not a socket: remove it, or choose another --socket path")]
    NotASocket(PathBuf),
    /// The socket cannot be bound.
    #[error("cannot listen on {socket}: {source}")]
    Bind {
        /// The socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The log file cannot be opened.
    #[error("cannot open the log file {path}: {source}")]
    Log {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Signals cannot be set up.
    #[error("cannot set up signal handling: {0}")]
    Signals(#[source] std::io::Error),
    /// Starting the background process failed.
    #[error("cannot start the agent in the background: {0}")]
    Spawn(#[source] std::io::Error),
    /// The background process exited before it was ready.
    #[error("the agent did not start ({0})")]
    NotStarted(String),
    /// `--stop` without a socket.
    #[error("{AGENT_VARIABLE} is not set and no --socket given: there is no agent to stop")]
    NothingToStop,
    /// `--stop` could not reach the agent.
    #[error("cannot stop the agent at {socket}: {source}")]
    Stop {
        /// The socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another user's process listens on the socket `--stop` was given.
    #[error(
        "the process listening on {socket} runs as uid {uid}, not as you (uid {own}): it is not \
         your sigstore-kms-hsm agent, and it was not asked to stop"
    )]
    Foreign {
        /// The socket.
        socket: PathBuf,
        /// The listener's uid.
        uid: u32,
        /// This process's uid.
        own: u32,
    },
    /// The agent's answer to `--stop` is not a process id.
    #[error("the listener on {0} did not answer as a sigstore-kms-hsm agent does")]
    Garbled(PathBuf),
    /// The agent refused to stop; its words, escaped.
    #[error("the agent refused to stop: {0}")]
    Refused(String),
}

/// Writes `text` to stdout: the shell lines of the agent command, which
/// is not a plugin call and so owns its stdout.
#[cfg_attr(not(unix), allow(dead_code))]
fn say(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// The shell lines that point `SIGSTORE_KMS_HSM_AGENT` at `socket`, for
/// the agent of process `pid`: composed here alone, from a path that the
/// shell reads back byte for byte.
#[cfg_attr(not(unix), allow(dead_code))]
fn shell_lines(socket: &Path, pid: u32) -> Result<String, AgentError> {
    let text = socket
        .to_str()
        .ok_or_else(|| AgentError::UnprintableSocket(socket.to_owned()))?;
    let plain = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%=,".contains(&b));
    let word = if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    };
    Ok(format!(
        "{AGENT_VARIABLE}={word}; export {AGENT_VARIABLE};\necho sigstore-kms-hsm agent pid {pid};\n"
    ))
}

/// `sigstore-kms-hsm agent ...`.
#[cfg(not(all(unix, target_feature = "crt-static")))]
use command as agent_command;

/// `sigstore-kms-hsm agent ...` in a static build, which cannot load the
/// module: its companion runs the agent.
#[cfg(all(unix, target_feature = "crt-static"))]
fn agent_command(_args: Vec<OsString>) -> ! {
    crate::companion::exec()
}

/// Takes over the process when it runs as `sigstore-kms-hsm agent ...`, or
/// as a plugin call with [`AGENT_VARIABLE`] set; returns otherwise, for a
/// call served here.
pub fn intercept() {
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|first| first == "agent") {
        agent_command(args.collect())
    }
    if let Some(socket) = std::env::var_os(AGENT_VARIABLE).filter(|value| !value.is_empty()) {
        forward(PathBuf::from(socket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_survive_the_trip_to_the_background_process() {
        let args: Vec<OsString> = [
            "--token",
            "release",
            "--module",
            "/usr/lib/m.so",
            "--pin-source",
            "file:///run/pin",
            "--socket",
            "/run/a.sock",
            "--log",
            "a.log",
        ]
        .into_iter()
        .map(Into::into)
        .collect();
        let options = Options::parse(args).unwrap();
        assert_eq!(options.pin_source, Some(PathBuf::from("/run/pin")));
        assert_eq!(Options::parse(options.to_args()).unwrap(), options);
        assert!(Options::parse(vec!["--pin-source".into(), "/run/pin".into()]).is_err());
        assert!(Options::parse(vec!["--token".into()]).is_err());
        assert!(Options::parse(vec!["--bogus".into()]).is_err());
        assert!(Options::parse(vec!["--pin-fd".into(), "three".into()]).is_err());
    }

    #[test]
    fn the_socket_path_is_one_shell_word() {
        let line = |path: &str| shell_lines(Path::new(path), 42).unwrap();
        assert_eq!(
            line("/run/user/1000/sigstore-kms-hsm-Ab1/agent.sock"),
            "SIGSTORE_KMS_HSM_AGENT=/run/user/1000/sigstore-kms-hsm-Ab1/agent.sock; \
             export SIGSTORE_KMS_HSM_AGENT;\necho sigstore-kms-hsm agent pid 42;\n"
        );
        assert!(line("/tmp/it's here;rm -rf ~")
            .starts_with(r"SIGSTORE_KMS_HSM_AGENT='/tmp/it'\''s here;rm -rf ~'; export"));
    }

    #[cfg(unix)]
    #[test]
    fn a_path_that_is_not_utf8_is_refused() {
        use std::os::unix::ffi::OsStrExt as _;
        let path = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/\xff/agent.sock"));
        assert!(matches!(
            shell_lines(path, 1),
            Err(AgentError::UnprintableSocket(_))
        ));
    }
}
