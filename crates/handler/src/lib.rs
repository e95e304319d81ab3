//! Write a Sigstore KMS plugin in Rust.
//!
//! cosign and the Go `sigstore` library sign with keys served by plugins:
//! programs named `sigstore-kms-NAME` that a host runs once per call as
//! `sigstore-kms-NAME v1 '<PluginArgs JSON>'`. A plugin author implements
//! [`Plugin`] and calls [`run`] from `main`; this crate handles the
//! protocol: arguments, checks, dispatch, the one JSON reply, panics, stray
//! output, exit status.
//!
//! A complete plugin, serving one P-256 key handed over in an environment
//! variable (secrets never travel in argv); it is also this crate's
//! `envkey` example:
//!
//! ```no_run
#![doc = include_str!("../examples/envkey.rs")]
//! ```
//!
//! For a plugin that also creates keys, see `sigstore-kms-localkms` in this
//! project's repository. A plugin that keeps keys in files should open and
//! create them with [`keyfile`]: it refuses a key another user planted or
//! others can read, and makes racing creators agree on one key.
//!
//! Authors who need to drive the steps themselves (to set up logging
//! between parsing and dispatch, say) have [`parse_args`], [`check_call`],
//! [`dispatch`], [`handle`], [`write_response`] and
//! [`write_error_response`].
#![deny(missing_docs)]

mod digest;
mod error;
pub mod keyfile;
mod pem;
mod plugin;
mod process;
mod reply_stdout;
mod serve;

pub use digest::{check_digest_length, choose_hash_func, hash_message, message_digest, HASHABLE};
pub use error::{error_message, HandlerError};
pub use pem::{public_key_pem, public_key_pem_from_der};
pub use plugin::{CallOptions, Error, Plugin};
pub use process::run;
pub use serve::{check_call, dispatch, handle, parse_args, write_error_response, write_response};
