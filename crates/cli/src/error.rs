//! Everything a command can fail with, and the exit code each one means.

use std::io;
use std::path::PathBuf;

use sigstore_kms_client::KeyError;

use crate::bundle::BundleError;
use crate::digest::SignatureDigest;

/// Exit code of a usage error (bad flags, a malformed key reference), as
/// clap uses for its own.
pub const EXIT_USAGE: u8 = 2;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A plugin call failed, or the plugin could not be found or run.
    #[error(transparent)]
    Client(#[from] sigstore_kms_client::Error),
    /// A local key or signature problem.
    #[error("{context}: {source}")]
    Key {
        /// What was being done.
        context: String,
        /// The key error.
        #[source]
        source: KeyError,
    },
    /// An input file could not be read.
    #[error("cannot read {what} {}: {source}", path.display())]
    Input {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// An output file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The output file exists and `--force` was not given.
    #[error("{} already exists; pass --force to overwrite it", path.display())]
    WouldOverwrite {
        /// The file.
        path: PathBuf,
    },
    /// The signature given is unusable.
    #[error("invalid signature: {reason}")]
    Signature {
        /// What is wrong.
        reason: String,
    },
    /// The plugin's signature does not verify under the public key it
    /// gave for the key.
    #[error(
        "the plugin's signature does not verify under the key's public key, so nothing was \
         written: {source}"
    )]
    SignatureNotByKey {
        /// Why it does not verify.
        #[source]
        source: KeyError,
    },
    /// The signature does not verify.
    #[error("signature verification failed: {0}")]
    VerificationFailed(String),
    /// The signature fails over the digest it was checked with, and
    /// verifies over the blob's digest under another hash.
    #[error(
        "signature verification failed: the signature does not verify over the blob's {tried} \
         digest, but it does over its {works} digest; pass --signature-digest-algorithm {} \
         to accept it (stock cosign verify-blob checks SHA-256 only)",
        works.flag_value()
    )]
    WrongDigest {
        /// The hash the signature was checked with.
        tried: SignatureDigest,
        /// The hash it verifies with.
        works: SignatureDigest,
    },
    /// The plugin refused the signature, checked over the digest of `tried`.
    #[error(
        "{source} (checked over the blob's {tried} digest; a signature made over another \
         digest verifies with --signature-digest-algorithm {}, naming its hash)",
        tried.others()
    )]
    PluginVerification {
        /// The hash the signature was checked with.
        tried: SignatureDigest,
        /// The plugin's answer.
        #[source]
        source: sigstore_kms_client::Error,
    },
    /// A bundle file is unusable.
    #[error("{}: {source}", path.display())]
    Bundle {
        /// The bundle file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: BundleError,
    },
    /// Some checks of the conformance suite failed.
    #[error("{failed} conformance check(s) failed")]
    ChecksFailed {
        /// How many.
        failed: usize,
    },
    /// `plugin list` found nothing.
    #[error("no sigstore-kms-* plugins found on PATH")]
    NoPlugins,
    /// Writing to stdout failed.
    #[error("cannot write to stdout: {0}")]
    Stdout(#[source] io::Error),
}

impl CliError {
    /// 2 for a usage error, 1 for every other failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Client(
                sigstore_kms_client::Error::InvalidKeyReference { .. }
                | sigstore_kms_client::Error::InvalidPluginName { .. },
            ) => EXIT_USAGE,
            _ => 1,
        }
    }
}
