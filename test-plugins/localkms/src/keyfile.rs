//! ECDSA P-256 private keys in PEM files: reading any common encoding, and
//! creating one atomically. Opening, checking and creating the file is the
//! SDK's [`sigstore_kms_handler::keyfile`]; this module is about the key.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use p256::elliptic_curve::sec1::{Sec1Point, ToSec1Point};
use p256::elliptic_curve::zeroize::Zeroizing;
use p256::elliptic_curve::Generate as _;
use p256::pkcs8::{EncodePrivateKey, LineEnding, ObjectIdentifier};
use p256::{NistP256, PublicKey, SecretKey};
use pkcs8::{PrivateKeyInfoRef, SecretDocument};
use sec1::EcPrivateKey;
use sigstore_kms_handler::keyfile::{self, Created};

/// A key file is a few hundred bytes; anything far larger is not a key.
const MAX_KEY_FILE_SIZE: u64 = 64 * 1024;

const PKCS8_LABEL: &str = "PRIVATE KEY";
const SEC1_LABEL: &str = "EC PRIVATE KEY";
const EC_PARAMETERS_LABEL: &str = "EC PARAMETERS";

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// Why a key file cannot be used. No variant carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The key reference is empty.
    #[error("empty key reference: use localkms:///absolute/path/key.pem (on Windows localkms:///C:/path/key.pem) or localkms://relative/path/key.pem")]
    EmptyReference,
    /// No file at the path.
    #[error("key file {0} does not exist (createKey creates it, e.g. `cosign generate-key-pair --kms localkms://PATH`)")]
    NotFound(PathBuf),
    /// The file cannot be opened, read or created, or is not private to
    /// the user: a planted or exposed key is refused, never used.
    #[error(transparent)]
    File(keyfile::KeyFileError),
    /// Too large to be a key.
    #[error("key file {0} is larger than {MAX_KEY_FILE_SIZE} bytes; it is not a PEM private key")]
    TooLarge(PathBuf),
    /// No PEM private key block in the file.
    #[error("key file {0} is not a PEM file with a private key")]
    NotPem(PathBuf),
    /// A PEM block that holds no usable private key.
    #[error("key file {path} holds a {label:?} PEM block; expected an ECDSA P-256 key as \"PRIVATE KEY\" (PKCS#8) or \"EC PRIVATE KEY\" (SEC1)")]
    UnsupportedBlock {
        /// The key file.
        path: PathBuf,
        /// The label of its PEM block.
        label: String,
    },
    /// A well-formed key of another kind.
    #[error("key file {path} holds {kind}; localkms only uses ECDSA P-256 keys")]
    WrongKeyType {
        /// The key file.
        path: PathBuf,
        /// What it holds, in words.
        kind: String,
    },
    /// The PEM block does not decode as a key.
    #[error("key file {path} holds a malformed {label:?} block: {reason}")]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// The label of its PEM block.
        label: &'static str,
        /// The decoder's description of the problem (never the bytes).
        reason: String,
    },
    /// Encoding the new key failed.
    #[error("cannot encode the new key: {0}")]
    Encode(String),
}

impl From<keyfile::KeyFileError> for KeyFileError {
    /// A missing file gets the hint of how to create it.
    fn from(err: keyfile::KeyFileError) -> Self {
        match err {
            keyfile::KeyFileError::NotFound { path } => KeyFileError::NotFound(path),
            other => KeyFileError::File(other),
        }
    }
}

/// Where a key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The file was already there.
    Existing,
    /// This process wrote it.
    Created,
    /// Another process wrote it while this one was creating it.
    CreatedConcurrently,
}

/// How a system spells file paths, for reading key references.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PathRules {
    Unix,
    /// Drive letters, and `\` as well as `/` between names.
    Windows,
}

impl PathRules {
    const HOST: PathRules = if cfg!(windows) {
        PathRules::Windows
    } else {
        PathRules::Unix
    };
}

/// The key file a key reference names (a path, relative to the working
/// directory unless absolute).
pub fn key_path(key_resource_id: &str) -> Result<PathBuf, KeyFileError> {
    path_text(PathRules::HOST, key_resource_id).map(PathBuf::from)
}

/// The path a key reference names under `rules`. On Windows,
/// `localkms:///C:/keys/k.pem`, the documented `///absolute` form, passes
/// `/C:/keys/k.pem`: the slash before the drive letter is the URL's, as in
/// `file:///C:/`, and is dropped (`C:/keys/k.pem` and `C:\keys\k.pem` are
/// taken as they are). On Unix every reference is a path as it stands.
fn path_text(rules: PathRules, key_resource_id: &str) -> Result<&str, KeyFileError> {
    if key_resource_id.is_empty() {
        return Err(KeyFileError::EmptyReference);
    }
    if rules == PathRules::Windows {
        if let Some(drive_path) = key_resource_id.strip_prefix('/') {
            if starts_with_drive(drive_path) {
                return Ok(drive_path);
            }
        }
    }
    Ok(key_resource_id)
}

/// `C:`, alone or followed by a separator.
fn starts_with_drive(path: &str) -> bool {
    match path.as_bytes() {
        [letter, b':', rest @ ..] => {
            letter.is_ascii_alphabetic() && matches!(rest.first(), None | Some(b'/' | b'\\'))
        }
        _ => false,
    }
}

/// A private key with its public half. Deriving the public key is a scalar
/// multiplication, the most expensive step of a call, so it is done once:
/// checking the public key stored in the file yields it.
pub struct KeyPair {
    /// The private scalar.
    pub secret: SecretKey,
    /// Its public key.
    pub public: PublicKey,
}

impl KeyPair {
    fn new(secret: SecretKey) -> KeyPair {
        let public = secret.public_key();
        KeyPair { secret, public }
    }
}

/// Reads the P-256 private key in `path`, refusing a file another user owns
/// or group and others can reach.
pub fn load(path: &Path) -> Result<KeyPair, KeyFileError> {
    let text = read_text(path)?;
    let (label, block) = private_key_block(path, &text)?;
    decode(path, label, block)
}

/// Loads the key in `path`, or creates one there when there is none.
///
/// The new key is written by [`keyfile::create_new`]: mode 0600, never seen
/// half-written, never replacing a file. When processes race, one key wins
/// and every one of them returns it, after the same checks as [`load`], so
/// a file planted at the path is never adopted.
pub fn load_or_create(path: &Path) -> Result<(KeyPair, Origin), KeyFileError> {
    match load(path) {
        Ok(key) => return Ok((key, Origin::Existing)),
        Err(KeyFileError::NotFound(_)) => {}
        Err(err) => return Err(err),
    }
    let key = SecretKey::try_generate().map_err(|err| keyfile::KeyFileError::Create {
        path: path.to_owned(),
        source: io::Error::other(format!(
            "the system's random number generator failed: {err}"
        )),
    })?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|err| KeyFileError::Encode(err.to_string()))?;
    match keyfile::create_new(path, pem.as_bytes())? {
        Created::Written => Ok((KeyPair::new(key), Origin::Created)),
        Created::AlreadyExists => Ok((load(path)?, Origin::CreatedConcurrently)),
    }
}

fn read_text(path: &Path) -> Result<Zeroizing<String>, KeyFileError> {
    let file = keyfile::open(path)?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|source: io::Error| keyfile::KeyFileError::Read {
            path: path.to_owned(),
            source,
        })?;
    if bytes.len() as u64 > MAX_KEY_FILE_SIZE {
        return Err(KeyFileError::TooLarge(path.to_owned()));
    }
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(Zeroizing::new(text.to_owned())),
        Err(_) => Err(KeyFileError::NotPem(path.to_owned())),
    }
}

/// The label and text of the first PEM block that is not `EC PARAMETERS`
/// (which `openssl ecparam -genkey` writes before the key).
fn private_key_block<'a>(path: &Path, text: &'a str) -> Result<(&'a str, &'a str), KeyFileError> {
    const BEGIN: &str = "-----BEGIN ";
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let block = &rest[start..];
        let label_end = block[BEGIN.len()..]
            .find("-----")
            .ok_or_else(|| KeyFileError::NotPem(path.to_owned()))?;
        let label = &block[BEGIN.len()..BEGIN.len() + label_end];
        let end_marker = format!("-----END {label}-----");
        let end = block
            .find(&end_marker)
            .ok_or_else(|| KeyFileError::NotPem(path.to_owned()))?
            + end_marker.len();
        if label != EC_PARAMETERS_LABEL {
            return Ok((label, &block[..end]));
        }
        rest = &block[end..];
    }
    Err(KeyFileError::NotPem(path.to_owned()))
}

fn decode(path: &Path, label: &str, block: &str) -> Result<KeyPair, KeyFileError> {
    let malformed = |label, reason: String| KeyFileError::Malformed {
        path: path.to_owned(),
        label,
        reason,
    };
    // The decoders' messages name positions and tags, never the bytes.
    let der = |label| {
        SecretDocument::from_pem(block)
            .map(|(_, der)| der)
            .map_err(|err| malformed(label, err.to_string()))
    };
    let wrong_type = |kind: String| KeyFileError::WrongKeyType {
        path: path.to_owned(),
        kind,
    };
    match label {
        PKCS8_LABEL => {
            let der = der(PKCS8_LABEL)?;
            let info = PrivateKeyInfoRef::try_from(der.as_bytes())
                .map_err(|err| malformed(PKCS8_LABEL, err.to_string()))?;
            let algorithm = info.algorithm.oid;
            if algorithm != EC_PUBLIC_KEY {
                return Err(wrong_type(algorithm_name(algorithm)));
            }
            match info.algorithm.parameters_oid() {
                Ok(curve) if curve == P256 => {}
                Ok(curve) => return Err(wrong_type(format!("an EC key on {}", curve_name(curve)))),
                Err(err) => return Err(malformed(PKCS8_LABEL, err.to_string())),
            }
            let key = EcPrivateKey::try_from(info.private_key.as_bytes())
                .map_err(|err| malformed(PKCS8_LABEL, err.to_string()))?;
            key_pair(&key).map_err(|reason| malformed(PKCS8_LABEL, reason))
        }
        SEC1_LABEL => {
            let der = der(SEC1_LABEL)?;
            let key = EcPrivateKey::try_from(der.as_bytes())
                .map_err(|err| malformed(SEC1_LABEL, err.to_string()))?;
            match key
                .parameters
                .and_then(|parameters| parameters.named_curve())
            {
                Some(curve) if curve == P256 => {}
                Some(curve) => {
                    return Err(wrong_type(format!("an EC key on {}", curve_name(curve))))
                }
                // Without parameters the curve is implied; the key size
                // check below still rejects other curves' keys.
                None => {}
            }
            key_pair(&key).map_err(|reason| malformed(SEC1_LABEL, reason))
        }
        "RSA PRIVATE KEY" => Err(wrong_type("an RSA key".to_owned())),
        "ENCRYPTED PRIVATE KEY" => Err(wrong_type(
            "an encrypted key (decrypt it first, e.g. `openssl pkey -in KEY -out PLAIN`)"
                .to_owned(),
        )),
        "PUBLIC KEY" => Err(wrong_type("a public key, not a private key".to_owned())),
        _ => Err(KeyFileError::UnsupportedBlock {
            path: path.to_owned(),
            label: label.to_owned(),
        }),
    }
}

/// The checks of `SecretKey::try_from(EcPrivateKey)` (a scalar in range,
/// and a stored public key that is this scalar's), keeping the public key
/// computed for the second.
fn key_pair(key: &EcPrivateKey<'_>) -> Result<KeyPair, String> {
    let secret = SecretKey::from_slice(key.private_key)
        .map_err(|_| "the private key is not a P-256 scalar".to_owned())?;
    let pair = KeyPair::new(secret);
    if let Some(stored) = key.public_key {
        let stored = Sec1Point::<NistP256>::from_bytes(stored)
            .map_err(|_| "the stored public key is not an encoded point".to_owned())?;
        if pair.public.to_sec1_point(stored.is_compressed()) != stored {
            return Err("the stored public key does not belong to the private key".to_owned());
        }
    }
    Ok(pair)
}

fn algorithm_name(oid: ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => "an RSA key".to_owned(),
        "1.3.101.112" => "an Ed25519 key".to_owned(),
        "1.3.101.113" => "an Ed448 key".to_owned(),
        "1.3.101.110" => "an X25519 key".to_owned(),
        other => format!("a key of algorithm {other}"),
    }
}

fn curve_name(oid: ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.3.132.0.34" => "P-384".to_owned(),
        "1.3.132.0.35" => "P-521".to_owned(),
        "1.3.132.0.10" => "secp256k1".to_owned(),
        other => format!("curve {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(reference: &str) -> &str {
        path_text(PathRules::Windows, reference).unwrap()
    }

    fn unix(reference: &str) -> &str {
        path_text(PathRules::Unix, reference).unwrap()
    }

    #[test]
    fn windows_references_with_a_drive_name_the_drive_path() {
        // localkms:///C:/keys/k.pem, localkms://C:/keys/k.pem,
        // localkms://C:\keys\k.pem.
        assert_eq!(windows("/C:/keys/k.pem"), "C:/keys/k.pem");
        assert_eq!(windows("C:/keys/k.pem"), "C:/keys/k.pem");
        assert_eq!(windows(r"C:\keys\k.pem"), r"C:\keys\k.pem");
        assert_eq!(windows(r"/d:\keys\k.pem"), r"d:\keys\k.pem");
        assert_eq!(windows("/C:"), "C:");
    }

    #[test]
    fn other_windows_references_are_taken_as_they_are() {
        for reference in [
            "keys/k.pem",
            r"keys\k.pem",
            "/keys/k.pem",
            // A file named "C:k.pem" cannot exist; Windows says so.
            "/C:k.pem",
            "/CD:/k.pem",
            "/1:/k.pem",
            "//server/share/k.pem",
            r"\\server\share\k.pem",
        ] {
            assert_eq!(windows(reference), reference);
        }
    }

    #[test]
    fn unix_references_are_paths_as_they_stand() {
        for reference in [
            "/C:/keys/k.pem",
            "C:/keys/k.pem",
            r"C:\keys\k.pem",
            "/abs/k.pem",
        ] {
            assert_eq!(unix(reference), reference);
        }
    }

    #[test]
    fn an_empty_reference_is_refused_on_every_system() {
        for rules in [PathRules::Unix, PathRules::Windows] {
            assert!(matches!(
                path_text(rules, ""),
                Err(KeyFileError::EmptyReference)
            ));
        }
    }
}
