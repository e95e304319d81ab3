//! The plugin side of agent mode: with `SIGSTORE_KMS_HSM_AGENT` set, a call
//! goes to the agent over its socket, the message streamed, and the
//! agent's reply is written to stdout as it came. Nothing falls back to
//! loading the module here: a call that cannot reach the agent fails and
//! says so.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process;
use std::time::Duration;

use sigstore_kms_handler::{check_call, error_message, parse_args, write_error_response};
use sigstore_kms_protocol::{MethodArgs, OffsetDateTime};

use super::wire::{self, Kind, Request, CHUNK_SIZE};
use super::{unix, AgentError, AGENT_VARIABLE};
use crate::settings::{MODULE_ALLOWLIST_VARIABLE, MODULE_VARIABLE};

/// How long a call without a deadline waits for the agent to go on: the
/// agent's own limit on a silent caller.
pub const NO_DEADLINE_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a call did not get the agent's answer.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// Nothing listens on the socket.
    #[error(
        "cannot reach the sigstore-kms-hsm agent at {socket} ({AGENT_VARIABLE}): {reason}: start \
         one with `eval \"$(sigstore-kms-hsm agent)\"`, or unset {AGENT_VARIABLE} to use the \
         token directly"
    )]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// What the system said, in words.
        reason: String,
    },
    /// The agent closed the connection without a reply.
    #[error(
        "the sigstore-kms-hsm agent at {0} ({AGENT_VARIABLE}) closed the connection without \
         answering: it stopped or was killed during the call"
    )]
    Closed(PathBuf),
    /// The deadline of the call passed.
    #[error(
        "the sigstore-kms-hsm agent at {0} ({AGENT_VARIABLE}) did not answer before the call's \
         deadline"
    )]
    Deadline(PathBuf),
    /// A call without a deadline heard nothing for [`NO_DEADLINE_TIMEOUT`].
    #[error(
        "the sigstore-kms-hsm agent at {0} ({AGENT_VARIABLE}) was silent for \
         {NO_DEADLINE_TIMEOUT:?}: stop it (sigstore-kms-hsm agent --stop) and start it again"
    )]
    Silent(PathBuf),
    /// Reading or writing the socket failed.
    #[error(
        "talking to the sigstore-kms-hsm agent at {socket} ({AGENT_VARIABLE}) failed: {source}"
    )]
    Io {
        /// The socket.
        socket: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// Another user's process listens on the socket.
    #[error(
        "the process listening on {socket} ({AGENT_VARIABLE}) runs as uid {uid}, not as you \
         (uid {own}): it is not your sigstore-kms-hsm agent, and the call was not sent"
    )]
    Foreign {
        /// The socket.
        socket: PathBuf,
        /// The listener's uid.
        uid: u32,
        /// This process's uid.
        own: u32,
    },
    /// stdin could not be read.
    #[error("reading the message from stdin failed: {0}")]
    Stdin(#[source] io::Error),
}

/// Forwards the call of this process to the agent at `socket`, writes its
/// reply to stdout and exits: 0 on success, 1 on error, as a plugin does.
pub fn forward(socket: PathBuf) -> ! {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let (ok, report, reply) = match call(&socket, argv) {
        Ok((ok, reply)) => (ok, !ok, reply),
        Err(Answered { reply, report }) => (false, report, reply),
    };
    if report {
        // On stderr too, as a direct call reports the errors of its key
        // reference and methods (see `report`): some hosts show only the
        // plugin's stderr.
        if let Some(message) = error_message_of(&reply) {
            eprintln!("sigstore-kms-hsm: error: {message}");
        }
    }
    let mut stdout = io::stdout().lock();
    let written = stdout.write_all(&reply).and_then(|()| stdout.flush());
    if let Err(err) = written {
        eprintln!("writing the reply to stdout failed: {err}");
        process::exit(1)
    }
    process::exit(if ok { 0 } else { 1 })
}

/// The `errorMessage` of an error reply.
fn error_message_of(reply: &[u8]) -> Option<String> {
    let reply: serde_json::Value = serde_json::from_slice(reply).ok()?;
    Some(reply.get("errorMessage")?.as_str()?.to_owned())
}

/// A reply written here, without the agent: the call was malformed or the
/// agent could not be reached; whether it goes to stderr too.
struct Answered {
    reply: Vec<u8>,
    report: bool,
}

impl Answered {
    /// A malformed call: answered as a direct call answers it, on stdout
    /// only.
    fn malformed(err: impl std::error::Error + 'static) -> Self {
        Answered {
            report: false,
            ..Answered::from(err)
        }
    }
}

impl<E: std::error::Error + 'static> From<E> for Answered {
    fn from(err: E) -> Self {
        let mut reply = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = write_error_response(&mut reply, &err);
        Answered {
            reply,
            report: true,
        }
    }
}

fn call(socket: &Path, argv: Vec<OsString>) -> Result<(bool, Vec<u8>), Answered> {
    // A malformed call gets the same answer as without the agent.
    let args = parse_args(argv.clone()).map_err(Answered::malformed)?;
    let options = check_call(&args).map_err(Answered::malformed)?;
    // The message goes to the agent whenever the plugin would read it
    // itself: the agent's answer is then the direct answer.
    let needs_message = matches!(
        args.method,
        MethodArgs::SignMessage(_) | MethodArgs::VerifySignature(_)
    ) && options.reads_message();
    let argv = argv
        .into_iter()
        .skip(1)
        .take(2)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let setting = |name| std::env::var(name).ok().filter(|value| !value.is_empty());
    let module = setting(MODULE_VARIABLE);
    let allowlist = setting(MODULE_ALLOWLIST_VARIABLE);
    let stream = UnixStream::connect(socket).map_err(|err| ForwardError::Connect {
        socket: socket.to_owned(),
        reason: match err.kind() {
            io::ErrorKind::NotFound => "no such socket".to_owned(),
            io::ErrorKind::ConnectionRefused => {
                "no agent listens on the socket (a stale socket, left by an agent that was killed)"
                    .to_owned()
            }
            _ => error_message(&err),
        },
    })?;
    // The answers decide what gets signed and which public key a caller
    // trusts: they must come from this user's agent.
    let own = unix::own_uid();
    match unix::peer(&stream) {
        Ok(peer) if peer.uid == own => {}
        Ok(peer) => {
            return Err(ForwardError::Foreign {
                socket: socket.to_owned(),
                uid: peer.uid,
                own,
            }
            .into())
        }
        Err(source) => {
            return Err(ForwardError::Io {
                socket: socket.to_owned(),
                source,
            }
            .into())
        }
    }
    // Without a deadline, a wedged agent would hold the call forever: it
    // may stay silent as long as it lets a caller stay silent.
    let left = options.deadline.map_or(NO_DEADLINE_TIMEOUT, |deadline| {
        (deadline - OffsetDateTime::now_utc())
            .try_into()
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_millis(1))
    });
    let io = |source| ForwardError::Io {
        socket: socket.to_owned(),
        source,
    };
    stream.set_read_timeout(Some(left)).map_err(io)?;
    stream.set_write_timeout(Some(left)).map_err(io)?;
    let has_deadline = options.deadline.is_some();
    let failed = |source: io::Error| match source.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut if has_deadline => {
            ForwardError::Deadline(socket.to_owned())
        }
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            ForwardError::Silent(socket.to_owned())
        }
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionReset => ForwardError::Closed(socket.to_owned()),
        _ => ForwardError::Io {
            socket: socket.to_owned(),
            source,
        },
    };
    let request = serde_json::to_vec(&Request::Call {
        argv,
        module,
        allowlist,
    })
    .map_err(io::Error::from)?;
    wire::write_frame(&mut &stream, Kind::Request, &request).map_err(failed)?;
    // When sending fails, the agent may have answered early (a bad key
    // reference, say) and closed: its reply is still there to read.
    let mut broken = None;
    if needs_message {
        match send_message(&stream) {
            Ok(()) => {}
            Err(Sending::Stdin(err)) => return Err(ForwardError::Stdin(err).into()),
            Err(Sending::Socket(err)) => broken = Some(err),
        }
    }
    if broken.is_none() {
        broken = wire::write_frame(&mut &stream, Kind::End, &[]).err();
    }
    match wire::read_frame(&mut &stream) {
        Ok(Some((Kind::Reply, payload))) if !payload.is_empty() => {
            Ok((payload[0] == 0, payload[1..].to_vec()))
        }
        Ok(_) => Err(broken
            .map_or_else(|| ForwardError::Closed(socket.to_owned()), failed)
            .into()),
        Err(err) => Err(failed(err).into()),
    }
}

enum Sending {
    Stdin(io::Error),
    Socket(io::Error),
}

/// Streams stdin to the agent in `Chunk` frames and ends the message.
fn send_message(stream: &UnixStream) -> Result<(), Sending> {
    let mut stdin = io::stdin().lock();
    let mut buffer = vec![0; 5 + CHUNK_SIZE];
    loop {
        let n = match stdin.read(&mut buffer[5..]) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Sending::Stdin(err)),
        };
        let header = wire::frame_header(Kind::Chunk, n).map_err(Sending::Socket)?;
        buffer[..5].copy_from_slice(&header);
        (&*stream)
            .write_all(&buffer[..5 + n])
            .map_err(Sending::Socket)?;
    }
}

/// `sigstore-kms-hsm agent --stop`: asks the agent at `socket` (else at
/// `$SIGSTORE_KMS_HSM_AGENT`) to stop, and prints the shell line that
/// unsets the variable. The line is composed here: of the answer, only a
/// process id is taken, and only from a listener of this user.
pub fn stop(socket: Option<&Path>) -> Result<(), AgentError> {
    let socket = match socket {
        Some(socket) => socket.to_owned(),
        None => std::env::var_os(AGENT_VARIABLE)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .ok_or(AgentError::NothingToStop)?,
    };
    let stream = UnixStream::connect(&socket).map_err(|source| AgentError::Stop {
        socket: socket.clone(),
        source,
    })?;
    let own = unix::own_uid();
    match unix::peer(&stream) {
        Ok(peer) if peer.uid == own => {}
        Ok(peer) => {
            return Err(AgentError::Foreign {
                socket,
                uid: peer.uid,
                own,
            })
        }
        Err(source) => return Err(AgentError::Stop { socket, source }),
    }
    let request = serde_json::to_vec(&Request::Stop).map_err(io::Error::from);
    let stopped = request
        .and_then(|request| wire::write_frame(&mut &stream, Kind::Request, &request))
        .and_then(|()| wire::read_frame(&mut &stream));
    let pid = match stopped {
        Ok(Some((Kind::Reply, payload))) if payload.first() == Some(&0) => {
            process_id(&payload[1..]).ok_or_else(|| AgentError::Garbled(socket.clone()))?
        }
        Ok(Some((Kind::Reply, payload))) => {
            let words = String::from_utf8_lossy(payload.get(1..).unwrap_or_default());
            return Err(AgentError::Refused(words.escape_debug().to_string()));
        }
        Ok(_) => {
            return Err(AgentError::Stop {
                socket,
                source: io::ErrorKind::UnexpectedEof.into(),
            })
        }
        Err(source) => return Err(AgentError::Stop { socket, source }),
    };
    super::say(&format!(
        "unset {AGENT_VARIABLE};\necho sigstore-kms-hsm agent pid {pid} stopped;\n"
    ))
    .map_err(|source| AgentError::Stop { socket, source })
}

/// The process id in the agent's answer to a stop request: decimal digits
/// and nothing else.
fn process_id(text: &[u8]) -> Option<u32> {
    if text.is_empty() || text.len() > 10 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_number_is_taken_from_the_stop_answer() {
        assert_eq!(process_id(b"4242"), Some(4242));
        for junk in [
            &b""[..],
            b"+42",
            b"42 ",
            b"4242; touch pwned; #",
            b"99999999999",
        ] {
            assert_eq!(process_id(junk), None, "{junk:?}");
        }
    }
}
