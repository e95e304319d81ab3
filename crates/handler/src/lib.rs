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
//! others can read, and makes racing creators agree on one key, which the
//! suite of `sigstore-kms-conformance` checks (its `filekey` example is a
//! complete plugin that creates keys race-free).
//! Algorithm names shared with cosign and sigstore's KMS providers, and the
//! key type and hash each names, are in
//! [`sigstore_kms_protocol::algorithm`].
//!
//! # cosign 3 and P-384 keys
//!
//! For a P-384 key, cosign 3 (`sign-blob` in both formats, and `sign`)
//! sends the message on stdin *and* a digest, `messageOptions.digest`, that
//! is SHA-384 of the message (48 bytes), while `initOptions.hashFunc` says
//! SHA-256 and no `messageOptions.hashFunc` is sent. cosign 2 sends the
//! message alone, with SHA-256. Their verifiers check a P-384 signature over
//! SHA-256 of the message (`verify-blob` of cosign 2 and 3; `verify` of
//! images in cosign 3 too, unless `--signature-digest-algorithm sha384`).
//! Measured with cosign 3.1.3 and 2.6.5, the three things a plugin can do:
//!
//! 1. Refuse the request, as [`CallOptions::digest`] does: a digest must
//!    be as long as the call's hash function says ("the digest is 48 bytes
//!    long, but a SHA-256 digest is 32 bytes"). Every cosign 3 P-384
//!    signature fails.
//! 2. Sign the 48-byte digest as SHA-384, as Go plugins that ignore the
//!    hash function do. Signing succeeds and the signature verifies under
//!    SHA-384 (OpenSSL), but `cosign verify-blob` (2 and 3) refuses it, and
//!    images verify only with `--signature-digest-algorithm sha384`.
//! 3. Honour the declared hash function over the message on stdin: ignore
//!    the digest and hash stdin with [`hash_message`] and
//!    [`CallOptions::hash_func`]. `verify-blob` of cosign 2 and 3, and
//!    `verify` of images with default flags, accept the signature. But a
//!    cosign 3 bundle then records `messageDigest` as SHA-384 while the
//!    signature is over SHA-256 of the message, which a verifier that
//!    follows the recorded algorithm refuses; and a host that sends only a
//!    digest sends no message to hash, so this must not apply to it (an
//!    empty stdin and an empty message look the same).
//!
//! This crate does the first; a plugin that must serve cosign 3 with P-384
//! keys chooses between the other two in its `sign_message`.
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

pub use digest::{
    check_digest_length, choose_hash_func, digest_reads_message, hash_message, message_digest,
    HASHABLE,
};
pub use error::{error_message, HandlerError};
pub use pem::{public_key_pem, public_key_pem_from_der};
pub use plugin::{CallOptions, Error, Plugin};
pub use process::run;
pub use reply_stdout::take_stdout;
pub use serve::{check_call, dispatch, handle, parse_args, write_error_response, write_response};
