//! The public key a plugin returns, and local verification with it.

use std::fmt;
use std::io::{self, Read};

use pkcs8::DecodePublicKey;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use signature::hazmat::PrehashVerifier;
use spki::der::{Decode, Encode};
use spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

use sigstore_kms_protocol::HashFunc;

const PEM_LABEL: &str = "PUBLIC KEY";
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The algorithm of a public key, from its SubjectPublicKeyInfo.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA over NIST P-256 (secp256r1).
    EcdsaP256,
    /// ECDSA over NIST P-384 (secp384r1).
    EcdsaP384,
    /// ECDSA over NIST P-521 (secp521r1).
    EcdsaP521,
    /// RSA, with the modulus size in bits.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// Ed25519.
    Ed25519,
    /// Anything else: the algorithm OID, or for an elliptic-curve key on
    /// another curve, the curve's OID.
    Unknown {
        /// Dotted-decimal OID.
        oid: String,
    },
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::EcdsaP256 => f.write_str("ECDSA P-256"),
            KeyAlgorithm::EcdsaP384 => f.write_str("ECDSA P-384"),
            KeyAlgorithm::EcdsaP521 => f.write_str("ECDSA P-521"),
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
            KeyAlgorithm::Unknown { oid } => write!(f, "unknown algorithm (OID {oid})"),
        }
    }
}

/// Why a public key does not parse, or a signature does not verify with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not a PEM `PUBLIC KEY` block.
    #[error("not a PEM PUBLIC KEY block: {0}")]
    Pem(String),
    /// Not a DER SubjectPublicKeyInfo, or its key does not decode.
    #[error("invalid public key: {0}")]
    Invalid(String),
    /// Local verification is not available for this kind of key.
    #[error("local verification of {0} signatures is not supported")]
    UnsupportedAlgorithm(KeyAlgorithm),
    /// The key is not of the type asked for.
    #[error("the key is {found}, not the {expected} key asked for")]
    WrongKeyType {
        /// The key's algorithm.
        found: KeyAlgorithm,
        /// The key type asked for, e.g. `ECDSA P-384`.
        expected: &'static str,
    },
    /// This hash function cannot be used with this key.
    #[error("{hash} cannot be used with a {algorithm} key")]
    UnsupportedHash {
        /// The key's algorithm.
        algorithm: KeyAlgorithm,
        /// The hash function asked for.
        hash: HashFunc,
    },
    /// The digest's length is not the hash function's output size.
    #[error("a {hash} digest is {expected} bytes, got {actual}")]
    DigestLength {
        /// The hash function.
        hash: HashFunc,
        /// Its output size.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// The signature is malformed or does not match.
    #[error("signature verification failed")]
    BadSignature,
    /// Reading the message failed.
    #[error("reading the message failed: {0}")]
    Read(#[source] io::Error),
}

/// A public key in PKIX SubjectPublicKeyInfo form, as plugins return it.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    der: Vec<u8>,
    algorithm: KeyAlgorithm,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Parses the PEM text of a `PUBLIC KEY` block.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let text = std::str::from_utf8(pem).map_err(|e| KeyError::Pem(e.to_string()))?;
        let (label, der) = spki::der::pem::decode_vec(text.trim().as_bytes())
            .map_err(|e| KeyError::Pem(e.to_string()))?;
        if label != PEM_LABEL {
            return Err(KeyError::Pem(format!(
                "block is labelled {label:?}, expected {PEM_LABEL:?}"
            )));
        }
        Self::from_der(&der)
    }

    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let invalid = |e: spki::der::Error| KeyError::Invalid(e.to_string());
        let info = SubjectPublicKeyInfoRef::from_der(der).map_err(invalid)?;
        let oid = info.algorithm.oid;
        let algorithm = if oid == EC_PUBLIC_KEY {
            let curve: ObjectIdentifier = info
                .algorithm
                .parameters
                .ok_or_else(|| KeyError::Invalid("EC key without a named curve".into()))?
                .decode_as()
                .map_err(invalid)?;
            match curve {
                SECP256R1 => KeyAlgorithm::EcdsaP256,
                SECP384R1 => KeyAlgorithm::EcdsaP384,
                SECP521R1 => KeyAlgorithm::EcdsaP521,
                other => KeyAlgorithm::Unknown {
                    oid: other.to_string(),
                },
            }
        } else if oid == RSA_ENCRYPTION {
            use rsa::traits::PublicKeyParts;
            let key = rsa::PublicKey::from_public_key_der(der)
                .map_err(|e| KeyError::Invalid(e.to_string()))?;
            KeyAlgorithm::Rsa {
                bits: key.n().bit_width() as usize,
            }
        } else if oid == ED25519 {
            KeyAlgorithm::Ed25519
        } else {
            KeyAlgorithm::Unknown {
                oid: oid.to_string(),
            }
        };
        let key = PublicKey {
            der: info.to_der().map_err(invalid)?,
            algorithm,
        };
        // A curve point that does not decode fails here, not at first use.
        match key.algorithm {
            KeyAlgorithm::EcdsaP256 => drop(key.p256_verifying_key()?),
            KeyAlgorithm::EcdsaP384 => drop(key.p384_verifying_key()?),
            KeyAlgorithm::EcdsaP521 => drop(key.p521_verifying_key()?),
            _ => {}
        }
        Ok(key)
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> &KeyAlgorithm {
        &self.algorithm
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn to_der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM `PUBLIC KEY` block, with LF line endings.
    pub fn to_pem(&self) -> String {
        spki::der::pem::encode_string(PEM_LABEL, spki::der::pem::LineEnding::LF, &self.der)
            .unwrap_or_default()
    }

    /// The key as a `p256` ECDSA verifying key.
    pub fn p256_verifying_key(&self) -> Result<p256::ecdsa::VerifyingKey, KeyError> {
        self.expect_key_type(KeyAlgorithm::EcdsaP256, "ECDSA P-256")?;
        self.ecdsa_verifying_key()
    }

    /// The key as a `p384` ECDSA verifying key.
    pub fn p384_verifying_key(&self) -> Result<p384::ecdsa::VerifyingKey, KeyError> {
        self.expect_key_type(KeyAlgorithm::EcdsaP384, "ECDSA P-384")?;
        self.ecdsa_verifying_key()
    }

    /// The key as a `p521` ECDSA verifying key.
    pub fn p521_verifying_key(&self) -> Result<p521::ecdsa::VerifyingKey, KeyError> {
        self.expect_key_type(KeyAlgorithm::EcdsaP521, "ECDSA P-521")?;
        self.ecdsa_verifying_key()
    }

    /// The key as an `rsa` public key (any size).
    pub(crate) fn rsa_public_key(&self) -> Result<rsa::PublicKey, KeyError> {
        rsa::PublicKey::from_public_key_der(&self.der).map_err(|e| KeyError::Invalid(e.to_string()))
    }

    /// Decodes the DER once the caller has checked the algorithm.
    pub(crate) fn ecdsa_verifying_key<V: DecodePublicKey>(&self) -> Result<V, KeyError> {
        V::from_public_key_der(&self.der).map_err(|e| KeyError::Invalid(e.to_string()))
    }

    /// [`KeyError::WrongKeyType`] unless the key is `algorithm`, named
    /// `name` in the error.
    pub(crate) fn expect_key_type(
        &self,
        algorithm: KeyAlgorithm,
        name: &'static str,
    ) -> Result<(), KeyError> {
        if self.algorithm == algorithm {
            Ok(())
        } else {
            Err(KeyError::WrongKeyType {
                found: self.algorithm.clone(),
                expected: name,
            })
        }
    }

    /// Verifies `signature` over the message read from `message`, hashed
    /// with `hash` as it is read (constant memory, whatever its size).
    ///
    /// ECDSA P-256, P-384 and P-521 signatures are ASN.1 DER; RSA signatures are
    /// PKCS #1 v1.5. `hash` is one of SHA-224, SHA-256, SHA-384, SHA-512.
    pub fn verify(
        &self,
        message: impl Read,
        signature: &[u8],
        hash: HashFunc,
    ) -> Result<(), KeyError> {
        self.check_supported()?;
        let digest = match hash {
            HashFunc::SHA224 => hash_reader::<Sha224>(message),
            HashFunc::SHA256 => hash_reader::<Sha256>(message),
            HashFunc::SHA384 => hash_reader::<Sha384>(message),
            HashFunc::SHA512 => hash_reader::<Sha512>(message),
            _ => return Err(self.unsupported_hash(hash)),
        }
        .map_err(KeyError::Read)?;
        self.verify_digest(&digest, signature, hash)
    }

    /// Verifies `signature` over a digest computed with `hash`.
    pub fn verify_digest(
        &self,
        digest: &[u8],
        signature: &[u8],
        hash: HashFunc,
    ) -> Result<(), KeyError> {
        self.check_supported()?;
        if !matches!(
            hash,
            HashFunc::SHA224 | HashFunc::SHA256 | HashFunc::SHA384 | HashFunc::SHA512
        ) {
            return Err(self.unsupported_hash(hash));
        }
        let expected = hash.digest_size().unwrap_or_default();
        if digest.len() != expected {
            return Err(KeyError::DigestLength {
                hash,
                expected,
                actual: digest.len(),
            });
        }
        match self.algorithm {
            KeyAlgorithm::EcdsaP256 => {
                let signature = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| KeyError::BadSignature)?;
                self.p256_verifying_key()?
                    .verify_prehash(digest, &signature)
                    .map_err(|_| KeyError::BadSignature)
            }
            KeyAlgorithm::EcdsaP384 => {
                let signature = p384::ecdsa::Signature::from_der(signature)
                    .map_err(|_| KeyError::BadSignature)?;
                self.p384_verifying_key()?
                    .verify_prehash(digest, &signature)
                    .map_err(|_| KeyError::BadSignature)
            }
            KeyAlgorithm::EcdsaP521 => {
                let signature = p521::ecdsa::Signature::from_der(signature)
                    .map_err(|_| KeyError::BadSignature)?;
                self.p521_verifying_key()?
                    .verify_prehash(digest, &signature)
                    .map_err(|_| KeyError::BadSignature)
            }
            KeyAlgorithm::Rsa { .. } => {
                let key = self.rsa_public_key()?;
                let pkcs1v15 = match hash {
                    HashFunc::SHA224 => rsa::Pkcs1v15Sign::new::<Sha224>(),
                    HashFunc::SHA256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                    HashFunc::SHA384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                    _ => rsa::Pkcs1v15Sign::new::<Sha512>(),
                };
                // RSASSA-PSS too, with the salt length read from the
                // signature (as Go's rsa.VerifyPSS does by default): cloud
                // KMSs sign with PSS, and cosign with them.
                key.verify(pkcs1v15, digest, signature)
                    .or_else(|_| match hash {
                        HashFunc::SHA224 => verify_pss::<Sha224>(&key, digest, signature),
                        HashFunc::SHA256 => verify_pss::<Sha256>(&key, digest, signature),
                        HashFunc::SHA384 => verify_pss::<Sha384>(&key, digest, signature),
                        _ => verify_pss::<Sha512>(&key, digest, signature),
                    })
                    .map_err(|_| KeyError::BadSignature)
            }
            _ => Err(KeyError::UnsupportedAlgorithm(self.algorithm.clone())),
        }
    }

    fn check_supported(&self) -> Result<(), KeyError> {
        match self.algorithm {
            KeyAlgorithm::EcdsaP256
            | KeyAlgorithm::EcdsaP384
            | KeyAlgorithm::EcdsaP521
            | KeyAlgorithm::Rsa { .. } => Ok(()),
            _ => Err(KeyError::UnsupportedAlgorithm(self.algorithm.clone())),
        }
    }

    fn unsupported_hash(&self, hash: HashFunc) -> KeyError {
        KeyError::UnsupportedHash {
            algorithm: self.algorithm.clone(),
            hash,
        }
    }
}

/// Verifies an RSASSA-PSS signature with `D` and any salt length.
fn verify_pss<D>(key: &rsa::PublicKey, digest: &[u8], signature: &[u8]) -> rsa::Result<()>
where
    D: Digest + sha2::digest::FixedOutputReset,
{
    let mut pss = rsa::pss::Pss::<D>::new();
    pss.salt_len = None;
    key.verify(pss, digest, signature)
}

fn hash_reader<D: Digest>(mut reader: impl Read) -> io::Result<Vec<u8>> {
    let mut hasher = D::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => return Ok(hasher.finalize().to_vec()),
            Ok(n) => hasher.update(&chunk[..n]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}
