//! What can go wrong when calling a plugin.

use std::ffi::OsString;
use std::io;
use std::process::ExitStatus;

use sigstore_kms_protocol::{MethodName, ResponseError};

use crate::escape::Escaped;
use crate::public_key::KeyError;

/// Why a call to a plugin (or loading one) failed.
///
/// Each variant tells the caller what to do next: fix the key reference,
/// install the plugin, read the plugin's own message, allow more time, or
/// report a broken plugin.
///
/// `Display` shows the text that came from the plugin (its error message,
/// its stderr, what is wrong with its response) through [`Escaped`], so an
/// error is safe to print to a terminal or a log; the fields keep that text
/// verbatim.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key reference is not of the form `NAME://KEYREF`.
    #[error("invalid key reference {reference:?}: expected format NAME://KEYREF")]
    InvalidKeyReference {
        /// The reference as given.
        reference: String,
    },

    /// The plugin name is empty, `.` or `..`, or holds a path separator
    /// (`/`, `\\`) or NUL. Nothing was looked up.
    #[error(
        "invalid plugin name {name:?}: a plugin name must not be empty, `.` or `..`, \
         nor hold `/`, `\\` or NUL"
    )]
    InvalidPluginName {
        /// The name as given.
        name: String,
    },

    /// No executable file of that name is in any directory of the search
    /// path.
    #[error(
        "plugin executable `{executable}` was not found in the search path {search_path:?}; \
         install it or add its directory to PATH"
    )]
    PluginNotFound {
        /// The file name that was searched for, e.g. `sigstore-kms-foo`.
        executable: String,
        /// The search path that was used (`PATH`, unless configured).
        search_path: OsString,
    },

    /// The plugin answered with an error message: its own words, verbatim
    /// (displayed escaped).
    #[error("plugin error in {method}: {}", Escaped::new(message))]
    Plugin {
        /// The method called.
        method: MethodName,
        /// The plugin's `errorMessage`, unchanged.
        message: String,
    },

    /// The call's deadline passed: either before the plugin was started (it
    /// was not started), or while it ran (it and every process it started
    /// were killed).
    #[error("deadline exceeded calling {method} on plugin `{executable}`")]
    DeadlineExceeded {
        /// The method called.
        method: MethodName,
        /// The plugin executable.
        executable: String,
    },

    /// The call was interrupted: the host called [`crate::end_plugins`]
    /// (then the plugin, if it was started, was ended with everything it
    /// started), or the user pressed Ctrl-C (or Ctrl-\\) while the plugin
    /// held the terminal, which killed it. A host that shared the plugin's
    /// process group would have received that signal too: stop as you
    /// would on it.
    #[error("calling {method} on plugin `{executable}` was interrupted (signal {signal})")]
    Interrupted {
        /// The method called.
        method: MethodName,
        /// The plugin executable.
        executable: String,
        /// The signal: the one given to [`crate::end_plugins`], or the
        /// terminal's `SIGINT` or `SIGQUIT`.
        signal: i32,
    },

    /// The plugin ran but gave no usable answer: it was killed by a signal,
    /// or left stdout empty, unparseable or too large.
    #[error(
        "plugin `{executable}` failed in {method}: {}{}",
        Escaped::new(failure),
        stderr_suffix(.stderr)
    )]
    Execution {
        /// The method called.
        method: MethodName,
        /// The plugin executable.
        executable: String,
        /// What went wrong.
        failure: ExecutionFailure,
        /// The last bytes the plugin wrote to stderr, when stderr is
        /// captured ([`crate::StderrMode::Capture`]).
        stderr: Option<String>,
    },

    /// The plugin's stdout is a JSON object, but not a valid answer to the
    /// method: its object is missing or ill-typed, or the public key it sent
    /// does not parse.
    #[error(
        "plugin `{executable}` sent a malformed {method} response: {}",
        Escaped::new(problem)
    )]
    Response {
        /// The method called.
        method: MethodName,
        /// The plugin executable.
        executable: String,
        /// What is wrong with it.
        #[source]
        problem: ResponseProblem,
    },

    /// Reading the caller's message (to stream it to the plugin) failed.
    /// The plugin was killed, so it could not act on a truncated message.
    #[error("reading the message to send to the plugin failed: {0}")]
    Message(#[source] io::Error),

    /// An operating-system error: starting the plugin, or waiting for it.
    #[error("{action}: {source}")]
    Io {
        /// What was being done, naming the executable.
        action: String,
        /// The error.
        #[source]
        source: io::Error,
    },

    /// Encoding the arguments as JSON failed.
    #[error("encoding the plugin arguments failed: {0}")]
    Encoding(#[source] serde_json::Error),

    /// The key cannot be used the way it was asked to (for example a
    /// [`crate::PluginSigner`] over a key that is not ECDSA P-256).
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The captured stderr, which may span lines: every other control
/// character is escaped.
fn stderr_suffix(stderr: &Option<String>) -> String {
    match stderr.as_deref().map(str::trim_end) {
        Some(text) if !text.is_empty() => {
            format!("; plugin stderr ends with:\n{}", Escaped::multiline(text))
        }
        _ => String::new(),
    }
}

/// How a plugin run failed to produce an answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecutionFailure {
    /// The plugin was killed by this signal.
    #[error("killed by signal {signal}")]
    KilledBySignal {
        /// The signal number.
        signal: i32,
    },
    /// The plugin wrote nothing (or only whitespace) to stdout.
    #[error("empty stdout ({status})")]
    EmptyOutput {
        /// How the plugin exited.
        status: ExitStatus,
    },
    /// What the plugin wrote to stdout is not one JSON object.
    #[error("unparseable stdout ({status}): {source}")]
    UnparseableOutput {
        /// How the plugin exited.
        status: ExitStatus,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The plugin wrote more than the configured limit to stdout; it was
    /// killed.
    #[error("stdout larger than the {limit}-byte limit")]
    OutputTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Reading the plugin's stdout failed.
    #[error("reading stdout failed: {0}")]
    ReadingOutput(io::Error),
}

/// What is wrong with a response that parsed as JSON.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseProblem {
    /// The response does not follow the protocol.
    #[error(transparent)]
    Protocol(ResponseError),
    /// The public key in the response does not parse.
    #[error("its public key does not parse: {0}")]
    PublicKey(#[source] KeyError),
    /// The response answers another method than the one called.
    #[error("it answers {0} instead")]
    Mismatched(MethodName),
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}[H\rVerified OK\u{9b}0m";
    const SHOWN: &str = r"\u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}[H\rVerified OK\u{9b}0m";

    fn assert_printable(text: &str) {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "a control character reaches the output: {text:?}"
        );
    }

    #[test]
    fn a_plugin_error_message_is_displayed_escaped_and_kept_verbatim() {
        let err = Error::Plugin {
            method: MethodName::SignMessage,
            message: format!("{HOSTILE}\nsecond line"),
        };
        let shown = err.to_string();
        assert_printable(&shown);
        assert_eq!(
            shown,
            format!("plugin error in signMessage: {SHOWN}\\nsecond line")
        );
        match err {
            Error::Plugin { message, .. } => assert!(message.starts_with(HOSTILE)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stderr_tail_keeps_its_lines_and_loses_its_escapes() {
        let err = Error::Execution {
            method: MethodName::PublicKey,
            executable: "sigstore-kms-evil".to_owned(),
            failure: ExecutionFailure::OutputTooLarge { limit: 10 },
            stderr: Some(format!("first line\n{HOSTILE}\n")),
        };
        let shown = err.to_string();
        assert_printable(&shown);
        assert!(
            shown.ends_with(&format!("plugin stderr ends with:\nfirst line\n{SHOWN}")),
            "{shown}"
        );
    }

    /// Whatever a failure or a response problem quotes from the plugin.
    #[test]
    fn failures_and_response_problems_are_displayed_escaped() {
        let errors = [
            Error::Execution {
                method: MethodName::DefaultAlgorithm,
                executable: "sigstore-kms-evil".to_owned(),
                failure: ExecutionFailure::ReadingOutput(io::Error::other(HOSTILE)),
                stderr: None,
            },
            Error::Response {
                method: MethodName::PublicKey,
                executable: "sigstore-kms-evil".to_owned(),
                problem: ResponseProblem::PublicKey(KeyError::Pem(HOSTILE.to_owned())),
            },
        ];
        for err in errors {
            let shown = err.to_string();
            assert_printable(&shown);
            assert!(shown.ends_with(SHOWN), "{shown}");
        }
    }
}
