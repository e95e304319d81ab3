//! What goes wrong before, around or inside a plugin method.

use std::io;

use sigstore_kms_protocol::{HashFunc, MethodName, OffsetDateTime, PROTOCOL_VERSION};

/// A failure the handler detects itself. Each becomes the `errorMessage`
/// of the reply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// Fewer than two arguments after the program name.
    #[error(
        "expected to be run as `PLUGIN {PROTOCOL_VERSION} '<PluginArgs JSON>'`, \
         but got {0} argument(s); this program is run by a Sigstore KMS host such as cosign"
    )]
    MissingArgv(usize),
    /// `argv[1]` is not the protocol version this handler speaks.
    #[error("unsupported protocol version {0:?}: this plugin speaks {PROTOCOL_VERSION:?}")]
    ProtocolVersion(String),
    /// `argv[2]` is not valid UTF-8.
    #[error("the plugin arguments (argv[2]) are not valid UTF-8")]
    ArgsNotUtf8,
    /// `argv[2]` is not JSON.
    #[error("the plugin arguments (argv[2]) are not valid JSON: {0}")]
    InvalidJson(#[source] serde_json::Error),
    /// `argv[2]` is JSON, but not an object.
    #[error("the plugin arguments (argv[2]) must be a JSON object, not {0}")]
    ArgsNotObject(&'static str),
    /// `argv[2]` is an object that does not decode as `PluginArgs` (a
    /// missing `initOptions`, a bad base64 field, a malformed time, ...).
    #[error("invalid plugin arguments: {0}")]
    InvalidArgs(#[source] serde_json::Error),
    /// `methodName` is absent or empty.
    #[error("no method given: `methodName` is missing or empty")]
    MissingMethodName,
    /// `methodName` is not one of the six methods.
    #[error("unsupported method {0:?}")]
    UnsupportedMethod(String),
    /// A known method whose arguments object is absent or `null`.
    #[error("method {0} was called without its `{0}` arguments object")]
    MissingMethodArguments(MethodName),
    /// The host's deadline has already passed.
    #[error("deadline exceeded: the host's deadline {0} has passed")]
    DeadlineExceeded(OffsetDateTime),
    /// A hash function the call cannot use.
    #[error("unsupported hash function: {0}")]
    UnsupportedHashFunc(HashFunc),
    /// A digest whose length is not the hash function's output size.
    #[error("the digest is {actual} bytes long, but a {hash_func} digest is {expected} bytes")]
    DigestLength {
        /// The call's hash function.
        hash_func: HashFunc,
        /// Its output size.
        expected: usize,
        /// The length of the digest sent.
        actual: usize,
    },
    /// A digest whose length is another hash function's than the call's,
    /// and no message on stdin: what would be signed is not what the host
    /// will verify (see [`message_digest`](crate::message_digest)).
    #[error(
        "inconsistent request: the host declared {hash_func} but sent a {digest_hash} digest \
         ({} bytes) and no message; a signature over that digest would not verify as \
         {hash_func}, and the {hash_func} digest cannot be computed without the message. \
         cosign 3 sends such requests for P-384 keys (sigstore/cosign issue 5018): \
         use a P-256 or RSA key, or cosign 2, or send the message on stdin",
        digest_hash.digest_size().unwrap_or_default()
    )]
    DigestWithoutMessage {
        /// The call's hash function.
        hash_func: HashFunc,
        /// The hash function the digest's length names.
        digest_hash: HashFunc,
    },
    /// A digest whose length is another hash function's than the call's,
    /// which is not that hash of the message on stdin.
    #[error(
        "inconsistent request: the host declared {hash_func} and sent a {digest_hash} \
         digest, but that digest is not the {digest_hash} digest of the message on stdin, so \
         the request does not say which message it means"
    )]
    DigestNotOfMessage {
        /// The call's hash function.
        hash_func: HashFunc,
        /// The hash function the digest's length names.
        digest_hash: HashFunc,
    },
    /// Reading the message from stdin failed.
    #[error("reading the message from stdin failed: {0}")]
    ReadMessage(#[source] io::Error),
    /// A public key could not be encoded as PEM.
    #[error("encoding the public key as PEM failed: {0}")]
    PublicKeyEncoding(String),
    /// The plugin implementation panicked.
    #[error("the plugin panicked: {0}")]
    Panicked(String),
}

/// The text of `error` and of each of its sources, joined by `": "`, as it
/// goes into `errorMessage`. A source whose text the message already ends
/// with is not repeated.
pub fn error_message(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    if message.is_empty() {
        message.push_str("the plugin failed without a message");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("loading the key failed")]
    struct Outer(#[source] io::Error);

    #[test]
    fn message_keeps_the_cause_chain() {
        let err = Outer(io::Error::new(io::ErrorKind::NotFound, "no such file"));
        assert_eq!(error_message(&err), "loading the key failed: no such file");
    }

    #[test]
    fn message_does_not_repeat_a_source_already_in_the_text() {
        let err = HandlerError::ReadMessage(io::Error::other("broken pipe"));
        assert_eq!(
            error_message(&err),
            "reading the message from stdin failed: broken pipe"
        );
    }

    #[test]
    fn empty_message_is_never_sent() {
        let err = io::Error::other("");
        assert_eq!(error_message(&err), "the plugin failed without a message");
    }
}
