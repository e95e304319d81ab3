//! The key commands and `sign-blob`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sigstore_kms_client::{CallOptions, Client, HashFunc, PublicKey};

use crate::blob::open_blob;
use crate::bundle::Bundle;
use crate::digest::{HashingReader, SignatureDigest};
use crate::error::CliError;
use crate::files::write_atomically;

/// Loads the plugin the way cosign does: with SHA-256; each signing or
/// verifying call names its own hash.
pub fn load(key_reference: &str, timeout: Duration) -> Result<Client, CliError> {
    Ok(Client::builder()
        .hash_func(HashFunc::SHA256)
        .default_timeout(timeout)
        .load(key_reference)?)
}

/// The options of a call streaming a blob, and the deadline they set: the
/// blob's reader must know it too, so that the input cannot hold the call.
pub fn streaming_call(
    algorithm: SignatureDigest,
    timeout: Duration,
) -> (CallOptions, Option<SystemTime>) {
    let options = CallOptions::new().hash_func(algorithm.hash_func());
    match SystemTime::now().checked_add(timeout) {
        Some(deadline) => (options.deadline(deadline), Some(deadline)),
        None => (options, None),
    }
}

fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(CliError::Stdout)
}

pub fn generate_key_pair(
    kms: &str,
    algorithm: Option<&str>,
    prefix: &Path,
    force: bool,
    timeout: Duration,
) -> Result<(), CliError> {
    let mut file_name = prefix.as_os_str().to_owned();
    file_name.push(".pub");
    let path = Path::new(&file_name);
    // Refuse before the KMS is touched, not after a key was made.
    if !force && path.exists() {
        return Err(CliError::WouldOverwrite {
            path: path.to_owned(),
        });
    }
    let client = load(kms, timeout)?;
    let options = CallOptions::new();
    let algorithm = match algorithm {
        Some(algorithm) => algorithm.to_owned(),
        None => client.default_algorithm(&options)?,
    };
    let key = client.create_key(&algorithm, &options)?;
    write_atomically(path, key.to_pem().as_bytes(), force)?;
    eprintln!("Public key written to {}", path.display());
    Ok(())
}

pub fn public_key(
    key_reference: &str,
    outfile: Option<&Path>,
    timeout: Duration,
) -> Result<(), CliError> {
    let key = load(key_reference, timeout)?.public_key(&CallOptions::new())?;
    match outfile {
        Some(path) => {
            write_atomically(path, key.to_pem().as_bytes(), true)?;
            eprintln!("Public key written to {}", path.display());
            Ok(())
        }
        None => write_stdout(key.to_pem().as_bytes()),
    }
}

/// What `sign-blob` writes besides the signature.
pub struct SignOutputs<'a> {
    /// The base64 signature goes here instead of stdout.
    pub signature: Option<&'a Path>,
    /// A Sigstore bundle of the signature goes here.
    pub bundle: Option<&'a Path>,
}

pub fn sign_blob(
    key_reference: &str,
    blob: &Path,
    algorithm: SignatureDigest,
    outputs: SignOutputs<'_>,
    timeout: Duration,
) -> Result<(), CliError> {
    let client = load(key_reference, timeout)?;
    // Every signature is checked under the key's public key before it is
    // written: a plugin that answers with anything else fails the command.
    let public = client.public_key(&CallOptions::new())?;
    let message = open_blob(blob)?;
    let (options, deadline) = streaming_call(algorithm, timeout);
    let signature = match outputs.bundle {
        // The bundle records the digest, so the digest computed here is
        // the one signed: the bundle cannot describe other bytes.
        Some(bundle_path) => {
            // Hashing a piped blob waits for its writer: the call's
            // deadline covers that wait, as it covers streaming.
            let digest = algorithm
                .hash(message.into_message(deadline)?)
                .map_err(|source| CliError::Input {
                    what: "blob",
                    path: blob.to_owned(),
                    source,
                })?;
            let signature = client.sign_digest(&digest, algorithm.hash_func(), &options)?;
            check_signature(&public, &digest, &signature, algorithm)?;
            let bundle = Bundle::new(algorithm, digest, signature.clone(), public.to_der());
            write_atomically(bundle_path, &bundle.to_json(), true)?;
            eprintln!("Bundle written to {}", bundle_path.display());
            signature
        }
        None => {
            let mut message = HashingReader::new(message.into_message(deadline)?, algorithm);
            let signature = client.sign_message(&mut message, &options)?;
            check_signature(&public, &message.finish(), &signature, algorithm)?;
            signature
        }
    };
    let signature = STANDARD.encode(signature);
    match outputs.signature {
        Some(path) => {
            write_atomically(path, signature.as_bytes(), true)?;
            eprintln!("Signature written to {}", path.display());
            Ok(())
        }
        None => write_stdout(format!("{signature}\n").as_bytes()),
    }
}

/// Checks the plugin's `signature` over `digest` under its `public` key.
fn check_signature(
    public: &PublicKey,
    digest: &[u8],
    signature: &[u8],
    algorithm: SignatureDigest,
) -> Result<(), CliError> {
    public
        .verify_digest(digest, signature, algorithm.hash_func())
        .map_err(|source| CliError::SignatureNotByKey { source })
}
