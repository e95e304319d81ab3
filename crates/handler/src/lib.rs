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
//! variable (secrets never travel in argv):
//!
//! ```no_run
//! use std::io::Read;
//!
//! use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
//! use p256::ecdsa::{Signature, SigningKey};
//! use p256::pkcs8::DecodePrivateKey;
//! use sigstore_kms_handler::{public_key_pem, run, CallOptions, Error, Plugin};
//! use sigstore_kms_protocol::{HashFunc, InitOptions};
//!
//! const ALGORITHM: &str = "ecdsa-p256-sha256";
//!
//! struct EnvKey(SigningKey);
//!
//! impl EnvKey {
//!     fn load(init: &InitOptions) -> Result<Self, Error> {
//!         let variable = format!("ENVKEY_{}", init.key_resource_id.to_uppercase());
//!         let pem = std::env::var(&variable).map_err(|_| format!("{variable} is not set"))?;
//!         Ok(EnvKey(SigningKey::from_pkcs8_pem(&pem)?))
//!     }
//!
//!     fn digest(&self, message: &mut dyn Read, options: &CallOptions) -> Result<Vec<u8>, Error> {
//!         if !options.key_version.is_empty() {
//!             return Err("this key has no versions".into());
//!         }
//!         if ![HashFunc::SHA256, HashFunc::SHA384, HashFunc::SHA512].contains(&options.hash_func) {
//!             return Err(format!("unsupported hash function {}", options.hash_func).into());
//!         }
//!         Ok(options.digest(message)?)
//!     }
//! }
//!
//! impl Plugin for EnvKey {
//!     fn default_algorithm(&self) -> Result<String, Error> {
//!         Ok(ALGORITHM.to_owned())
//!     }
//!
//!     fn supported_algorithms(&self) -> Result<Vec<String>, Error> {
//!         Ok(vec![ALGORITHM.to_owned()])
//!     }
//!
//!     fn create_key(&self, _algorithm: &str, options: &CallOptions) -> Result<String, Error> {
//!         // The key already exists: creating it again answers it.
//!         self.public_key(options)
//!     }
//!
//!     fn public_key(&self, _options: &CallOptions) -> Result<String, Error> {
//!         Ok(public_key_pem(self.0.verifying_key())?)
//!     }
//!
//!     fn sign_message(&self, message: &mut dyn Read, options: &CallOptions) -> Result<Vec<u8>, Error> {
//!         let digest = self.digest(message, options)?;
//!         let signature: Signature = self.0.sign_prehash(&digest)?;
//!         Ok(signature.to_der().as_bytes().to_vec())
//!     }
//!
//!     fn verify_signature(
//!         &self,
//!         signature: &[u8],
//!         message: &mut dyn Read,
//!         options: &CallOptions,
//!     ) -> Result<(), Error> {
//!         let digest = self.digest(message, options)?;
//!         let signature = Signature::from_der(signature)?;
//!         Ok(self.0.verifying_key().verify_prehash(&digest, &signature)?)
//!     }
//! }
//!
//! fn main() {
//!     run(EnvKey::load)
//! }
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
