//! The plugin's errors, written to stderr as well as into the reply.
//!
//! The reply's `error` field is where the protocol puts them, and cosign
//! shows it. Some hosts do not: a Sigstore timestamp authority whose HSM
//! key cannot be used logs only what its signer concluded (`ecdsa public
//! keys are not equal`), and the plugin's own explanation is lost. Every
//! host passes the plugin's stderr through, so the error goes there too,
//! one line, prefixed with the plugin's name. The price is that cosign
//! and `sigstore-kms` show the message twice, once from stderr and once in
//! their own report of the failure; a message shown twice is better than
//! one shown nowhere. Errors carry no secret (see `error.rs`), so stderr
//! may hold them as the reply does.

use std::io::Read;

use sigstore_kms_handler::{CallOptions, Error, Plugin};

/// `plugin`, its errors also written to stderr.
pub struct ReportErrors<P>(pub P);

/// Writes the error of `result`, if any, to stderr.
pub fn report<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, E> {
    if let Err(err) = &result {
        eprintln!("sigstore-kms-hsm: error: {err}");
    }
    result
}

impl<P: Plugin> Plugin for ReportErrors<P> {
    fn default_algorithm(&self) -> Result<String, Error> {
        report(self.0.default_algorithm())
    }

    fn supported_algorithms(&self) -> Result<Vec<String>, Error> {
        report(self.0.supported_algorithms())
    }

    fn create_key(&self, algorithm: &str, options: &CallOptions) -> Result<String, Error> {
        report(self.0.create_key(algorithm, options))
    }

    fn public_key(&self, options: &CallOptions) -> Result<String, Error> {
        report(self.0.public_key(options))
    }

    fn sign_message(
        &self,
        message: &mut dyn Read,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        report(self.0.sign_message(message, options))
    }

    fn verify_signature(
        &self,
        signature: &[u8],
        message: &mut dyn Read,
        options: &CallOptions,
    ) -> Result<(), Error> {
        report(self.0.verify_signature(signature, message, options))
    }
}
