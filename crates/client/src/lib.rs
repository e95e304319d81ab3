//! Host library for Sigstore KMS plugins: use any `sigstore-kms-NAME`
//! plugin (the ones cosign uses) from Rust.
//!
//! ```no_run
//! use std::time::Duration;
//! use sigstore_kms_client::{CallOptions, Client, HashFunc, PluginSigner, StderrMode};
//! use signature::Signer;
//!
//! // `localkms://...` runs `sigstore-kms-localkms` from PATH.
//! let client = Client::builder()
//!     .hash_func(HashFunc::SHA256)
//!     .stderr(StderrMode::CAPTURE_TAIL)
//!     .default_timeout(Duration::from_secs(60))
//!     .load("localkms:///var/keys/release.pem")?;
//!
//! let options = CallOptions::new();
//! let algorithm = client.default_algorithm(&options)?;
//! let key = client.create_key(&algorithm, &options)?;
//! println!("{} key:\n{}", key.algorithm(), key.to_pem());
//!
//! // Sign a file of any size: it is streamed to the plugin.
//! let signature = client.sign_message(std::fs::File::open("release.tar.gz")?, &options)?;
//! key.verify(std::fs::File::open("release.tar.gz")?, &signature, HashFunc::SHA256)?;
//! client.verify_signature(&signature, std::fs::File::open("release.tar.gz")?, &options)?;
//!
//! // Or use the key through RustCrypto's traits.
//! let signer = PluginSigner::<p256::NistP256>::new(client)?;
//! let signature: p256::ecdsa::Signature = signer.try_sign(b"hello")?;
//! # let _ = signature;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Each call runs the plugin once, as `sigstore-kms-NAME v1 '<json>'`,
//! speaking protocol v1 exactly as the Go host
//! (`sigstore/pkg/signature/kms/cliplugin`) does. Unlike the Go host, no
//! call ever ends the process or panics on a bad answer: everything is an
//! [`Error`].
//!
//! What a call guarantees:
//! - the plugin name is checked before anything is looked up;
//! - the message is streamed into stdin from a helper thread while stdout is
//!   read, in constant memory; a plugin that answers without reading it all
//!   is fine;
//! - stdout is read up to a limit, and a plugin flooding it is killed;
//! - on Unix, the plugin runs in its own process group: at the deadline the
//!   group is killed and the plugin reaped, and a process it leaves behind
//!   holding stdout delays the call by at most a short grace period;
//! - on Windows, the plugin runs in a Job Object of its own, assigned before
//!   it runs: at the deadline, and when the call ends, the job is
//!   terminated with every process in it;
//! - when the host's process group holds the terminal, the plugin's group
//!   holds it while the plugin runs, so that the plugin can prompt on
//!   `/dev/tty` and gets the terminal's Ctrl-C, which fails the call with
//!   [`Error::Interrupted`] (the host should stop as it would on the
//!   signal); the host gets the terminal back before the call returns;
//! - a host that is itself interrupted calls [`end_plugins`] (from a thread,
//!   not a signal handler) so that no plugin outlives it;
//! - no zombie, no helper thread and no descriptor outlives a call, even
//!   when a process the plugin left in another session holds its pipes.
//!
//! With the `tokio` feature, `AsyncClient` makes the same calls as
//! futures, through the same supervision, so that all of the above holds
//! for them too; dropping one ends its plugin with everything it started.
//!
//! A call without a deadline (per call or [`ClientBuilder::default_timeout`])
//! waits as long as the plugin runs. The message reader passed to sign and
//! verify must not block forever: the call waits for it, even past the
//! deadline (the `sigstore-kms` CLI reads a pipe in a thread of its own,
//! giving up at the deadline, for this reason).
//!
//! Printing an [`Error`] is safe: its `Display` shows the text that came
//! from the plugin with control characters escaped, so a hostile plugin
//! cannot send escape sequences to the terminal or log it lands in. Show
//! other text from a plugin (an algorithm name, say) through [`Escaped`].
#![deny(missing_docs)]

#[cfg(feature = "tokio")]
mod asynchronous;
mod client;
mod discovery;
mod error;
mod escape;
mod methods;
mod options;
mod process;
mod public_key;
mod signer;

#[cfg(feature = "tokio")]
pub use asynchronous::AsyncClient;
pub use client::{Client, ClientBuilder, RawReply, DEFAULT_EXIT_GRACE, DEFAULT_STDOUT_LIMIT};
pub use discovery::{
    find_plugin, is_executable_file, parse_key_reference, plugin_file_name, plugin_name_of,
    validate_plugin_name,
};
pub use error::{Error, ExecutionFailure, ResponseProblem};
pub use escape::Escaped;
pub use options::{CallOptions, StderrMode};
pub use process::end_plugins;
pub use public_key::{KeyAlgorithm, KeyError, PublicKey};
pub use signer::{
    KeyType, MalformedSignatureError, PluginSigner, PrehashLengthError, RsaPkcs1v15,
    SignatureMismatchError,
};

pub use sigstore_kms_protocol::{HashFunc, MethodName};

/// This crate's README examples, compiled so they cannot drift from the
/// API (the README is part of the package).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
