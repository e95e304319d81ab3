//! The key and blob commands.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sigstore_kms_client::{CallOptions, Client, HashFunc, KeyAlgorithm, KeyError, PublicKey};
use sigstore_kms_protocol::KEY_REFERENCE_SEPARATOR;

use crate::blob::open_blob;
use crate::error::CliError;
use crate::files::{read_signature, write_atomically};

/// Loads the plugin the way cosign does: with SHA-256, the per-call hash
/// following the key.
fn load(key_reference: &str, timeout: Duration) -> Result<Client, CliError> {
    Ok(Client::builder()
        .hash_func(HashFunc::SHA256)
        .default_timeout(timeout)
        .load(key_reference)?)
}

/// The options of a call streaming a blob, and the deadline they set: the
/// blob's reader must know it too, so that the input cannot hold the call.
fn streaming_call(
    algorithm: &KeyAlgorithm,
    timeout: Duration,
) -> (CallOptions, Option<SystemTime>) {
    let options = CallOptions::new().hash_func(hash_for(algorithm));
    match SystemTime::now().checked_add(timeout) {
        Some(deadline) => (options.deadline(deadline), Some(deadline)),
        None => (options, None),
    }
}

/// The hash cosign 3 uses with a key of this algorithm.
fn hash_for(algorithm: &KeyAlgorithm) -> HashFunc {
    match algorithm {
        KeyAlgorithm::EcdsaP384 => HashFunc::SHA384,
        KeyAlgorithm::EcdsaP521 => HashFunc::SHA512,
        _ => HashFunc::SHA256,
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

pub fn sign_blob(
    key_reference: &str,
    blob: &Path,
    output_signature: Option<&Path>,
    timeout: Duration,
) -> Result<(), CliError> {
    let client = load(key_reference, timeout)?;
    let blob = open_blob(blob)?;
    let key = client.public_key(&CallOptions::new())?;
    let (options, deadline) = streaming_call(key.algorithm(), timeout);
    let message = blob.into_message(deadline)?;
    let signature = STANDARD.encode(client.sign_message(message, &options)?);
    match output_signature {
        Some(path) => {
            write_atomically(path, signature.as_bytes(), true)?;
            eprintln!("Signature written to {}", path.display());
            Ok(())
        }
        None => write_stdout(format!("{signature}\n").as_bytes()),
    }
}

pub fn verify_blob(
    key: &str,
    signature: &str,
    blob: &Path,
    timeout: Duration,
) -> Result<(), CliError> {
    let signature = read_signature(signature)?;
    let blob = open_blob(blob)?;
    if key.contains(KEY_REFERENCE_SEPARATOR) {
        let client = load(key, timeout)?;
        let public = client.public_key(&CallOptions::new())?;
        let (options, deadline) = streaming_call(public.algorithm(), timeout);
        client.verify_signature(&signature, blob.into_message(deadline)?, &options)?;
    } else {
        verify_locally(Path::new(key), &signature, blob.into_reader())?;
    }
    eprintln!("Verified OK");
    Ok(())
}

fn verify_locally(
    key_path: &Path,
    signature: &[u8],
    message: impl std::io::Read,
) -> Result<(), CliError> {
    let pem = std::fs::read(key_path).map_err(|source| CliError::Input {
        what: "public key",
        path: key_path.to_owned(),
        source,
    })?;
    let key = PublicKey::from_pem(&pem).map_err(|source| CliError::Key {
        context: format!("{} is not a usable public key", key_path.display()),
        source,
    })?;
    match key.verify(message, signature, hash_for(key.algorithm())) {
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
