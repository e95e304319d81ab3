//! `verify-blob`: a bare signature or a bundle, checked through the plugin
//! or with a PEM public key, and which hash a failed signature was made
//! over.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sigstore_kms_client::{CallOptions, Client, Error as ClientError, KeyError, PublicKey};
use sigstore_kms_protocol::KEY_REFERENCE_SEPARATOR;

use crate::blob::open_blob;
use crate::bundle::Bundle;
use crate::commands::{load, streaming_call};
use crate::digest::{BlobDigests, SignatureDigest};
use crate::error::CliError;
use crate::files::read_signature;

/// What `verify-blob` checks: a bare signature, or a bundle.
pub enum Evidence<'a> {
    /// `--signature`: a file or the base64 text.
    Signature(&'a str),
    /// `--bundle`: a Sigstore bundle file.
    Bundle(&'a Path),
}

pub fn verify_blob(
    key: &str,
    evidence: Evidence<'_>,
    blob: &Path,
    algorithm: Option<SignatureDigest>,
    timeout: Duration,
) -> Result<(), CliError> {
    let verifier = Verifier::open(key, timeout)?;
    match evidence {
        Evidence::Signature(signature) => {
            let signature = read_signature(signature)?;
            let algorithm = algorithm.unwrap_or_default();
            verify_signature(&verifier, &signature, blob, algorithm, timeout)?;
        }
        Evidence::Bundle(path) => verify_bundle(&verifier, path, blob, algorithm)?,
    }
    eprintln!("Verified OK");
    Ok(())
}

/// The key a signature is checked with.
enum Verifier {
    /// A plugin key: the plugin verifies, as cosign has it do.
    Plugin(Client),
    /// A PEM public key file, verified here.
    Pem { path: PathBuf, key: PublicKey },
}

impl Verifier {
    fn open(key: &str, timeout: Duration) -> Result<Self, CliError> {
        if key.contains(KEY_REFERENCE_SEPARATOR) {
            return Ok(Verifier::Plugin(load(key, timeout)?));
        }
        let path = PathBuf::from(key);
        let pem = std::fs::read(&path).map_err(|source| CliError::Input {
            what: "public key",
            path: path.clone(),
            source,
        })?;
        let key = PublicKey::from_pem(&pem).map_err(|source| CliError::Key {
            context: format!("{} is not a usable public key", path.display()),
            source,
        })?;
        Ok(Verifier::Pem { path, key })
    }

    /// Checks `signature` over `digest`, made with `algorithm`.
    fn verify_digest(
        &self,
        digest: &[u8],
        signature: &[u8],
        algorithm: SignatureDigest,
    ) -> Result<(), CliError> {
        match self {
            Verifier::Plugin(client) => {
                let options = CallOptions::new()
                    .digest(digest)
                    .hash_func(algorithm.hash_func());
                Ok(client.verify_signature(signature, std::io::empty(), &options)?)
            }
            Verifier::Pem { path, key } => verify_locally(path, key, digest, signature, algorithm),
        }
    }

    /// The public key, to find out locally which hash a failed signature
    /// was made with; `None` when the plugin cannot give it or the key is
    /// not one this tool verifies.
    fn local_key(&self) -> Option<PublicKey> {
        match self {
            Verifier::Plugin(client) => client.public_key(&CallOptions::new()).ok(),
            Verifier::Pem { key, .. } => Some(key.clone()),
        }
    }
}

fn verify_signature(
    verifier: &Verifier,
    signature: &[u8],
    blob: &Path,
    algorithm: SignatureDigest,
    timeout: Duration,
) -> Result<(), CliError> {
    let read_error = |source| CliError::Input {
        what: "blob",
        path: blob.to_owned(),
        source,
    };
    match verifier {
        Verifier::Plugin(client) => {
            // The blob is streamed to the plugin, as cosign does; only when
            // that fails is a file read again to name the hash that works.
            let (options, deadline) = streaming_call(algorithm, timeout);
            let message = open_blob(blob)?.into_message(deadline)?;
            let failure = match client.verify_signature(signature, message, &options) {
                Ok(()) => return Ok(()),
                Err(failure) => failure,
            };
            // Only the plugin's own refusal may be about the hash; a
            // deadline or a missing plugin is reported as it is.
            if !matches!(failure, ClientError::Plugin { .. }) {
                return Err(failure.into());
            }
            if blob == Path::new("-") {
                return Err(CliError::PluginVerification {
                    tried: algorithm,
                    source: failure,
                });
            }
            let digests = BlobDigests::read(open_blob(blob)?.into_reader(), &SignatureDigest::ALL)
                .map_err(read_error)?;
            Err(
                match other_digest_that_verifies(verifier, &digests, signature, algorithm) {
                    Some(works) => CliError::WrongDigest {
                        tried: algorithm,
                        works,
                    },
                    None => CliError::PluginVerification {
                        tried: algorithm,
                        source: failure,
                    },
                },
            )
        }
        Verifier::Pem { .. } => {
            // One pass computes every digest: stdin cannot be read again to
            // try another hash when the chosen one fails.
            let digests = BlobDigests::read(open_blob(blob)?.into_reader(), &SignatureDigest::ALL)
                .map_err(read_error)?;
            check_with_hint(verifier, &digests, signature, algorithm)
        }
    }
}

fn verify_bundle(
    verifier: &Verifier,
    path: &Path,
    blob: &Path,
    algorithm: Option<SignatureDigest>,
) -> Result<(), CliError> {
    let json = read_bundle_file(path)?;
    let bundle_error = |source| CliError::Bundle {
        path: path.to_owned(),
        source,
    };
    let signed = Bundle::from_json(&json)
        .and_then(|bundle| bundle.signed_digest())
        .map_err(bundle_error)?;
    let digests = BlobDigests::read(open_blob(blob)?.into_reader(), &SignatureDigest::ALL)
        .map_err(|source| CliError::Input {
            what: "blob",
            path: blob.to_owned(),
            source,
        })?;
    if digests.get(signed.algorithm) != signed.digest {
        return Err(CliError::VerificationFailed(format!(
            "the blob's {} digest is not the one {} records: it is not the blob that was signed",
            signed.algorithm,
            path.display()
        )));
    }
    check_with_hint(
        verifier,
        &digests,
        &signed.signature,
        algorithm.unwrap_or(signed.algorithm),
    )
}

/// Reads a bundle file, refusing one too large to be a bundle of one
/// signature before reading it all.
fn read_bundle_file(path: &Path) -> Result<Vec<u8>, CliError> {
    const BUNDLE_LIMIT: u64 = 1024 * 1024;
    let input_error = |source| CliError::Input {
        what: "bundle",
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(input_error)?;
    let mut json = Vec::new();
    file.take(BUNDLE_LIMIT + 1)
        .read_to_end(&mut json)
        .map_err(input_error)?;
    if json.len() as u64 > BUNDLE_LIMIT {
        return Err(input_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {BUNDLE_LIMIT} bytes, too large for a bundle of one signature"),
        )));
    }
    Ok(json)
}

/// Checks the signature over the digest of `algorithm`; when it fails and
/// another digest verifies, says so.
fn check_with_hint(
    verifier: &Verifier,
    digests: &BlobDigests,
    signature: &[u8],
    algorithm: SignatureDigest,
) -> Result<(), CliError> {
    let failure = match verifier.verify_digest(digests.get(algorithm), signature, algorithm) {
        Ok(()) => return Ok(()),
        Err(failure) => failure,
    };
    let only_the_signature_failed = matches!(
        failure,
        CliError::VerificationFailed(_) | CliError::Client(ClientError::Plugin { .. })
    );
    if !only_the_signature_failed {
        return Err(failure);
    }
    Err(
        match other_digest_that_verifies(verifier, digests, signature, algorithm) {
            Some(works) => CliError::WrongDigest {
                tried: algorithm,
                works,
            },
            None => match failure {
                CliError::Client(source) => CliError::PluginVerification {
                    tried: algorithm,
                    source,
                },
                other => other,
            },
        },
    )
}

/// The hash other than `tried` under which `signature` verifies, checked
/// locally with the public key.
fn other_digest_that_verifies(
    verifier: &Verifier,
    digests: &BlobDigests,
    signature: &[u8],
    tried: SignatureDigest,
) -> Option<SignatureDigest> {
    let key = verifier.local_key()?;
    digests
        .iter()
        .filter(|(algorithm, _)| *algorithm != tried)
        .find(|(algorithm, digest)| {
            key.verify_digest(digest, signature, algorithm.hash_func())
                .is_ok()
        })
        .map(|(algorithm, _)| algorithm)
}

fn verify_locally(
    key_path: &Path,
    key: &PublicKey,
    digest: &[u8],
    signature: &[u8],
    algorithm: SignatureDigest,
) -> Result<(), CliError> {
    match key.verify_digest(digest, signature, algorithm.hash_func()) {
        Ok(()) => Ok(()),
        Err(KeyError::BadSignature) => Err(CliError::VerificationFailed(format!(
            "the signature does not match the blob and {}",
            key_path.display()
        ))),
        Err(source @ KeyError::UnsupportedAlgorithm(_)) => Err(CliError::Key {
            context: format!(
                "cannot verify with {} here; pass the plugin key reference NAME://REF as --key",
                key_path.display()
            ),
            source,
        }),
        Err(source) => Err(CliError::Key {
            context: "verification failed".to_owned(),
            source,
        }),
    }
}
