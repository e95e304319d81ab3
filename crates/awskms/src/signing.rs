//! How a key signs: the first of its `SigningAlgorithms`, as sigstore's AWS
//! provider chooses, the hash that algorithm takes, and checking its
//! signatures here with the public key.

use aws_sdk_kms::types::SigningAlgorithmSpec;
use p256::pkcs8::DecodePublicKey;
use rsa::pkcs1v15::Pkcs1v15Sign;
use rsa::pss::Pss;
use rsa::PublicKey;
use sha2::{Sha256, Sha384, Sha512};
use sigstore_kms_protocol::HashFunc;

use crate::error::AwsKmsError;

/// The padding or curve arithmetic of a signing algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Ecdsa,
    RsaPss,
    RsaPkcs1v15,
}

/// The signing algorithm a key signs with, and what it means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningAlgorithm {
    pub spec: SigningAlgorithmSpec,
    pub scheme: Scheme,
    pub hash: HashFunc,
}

impl SigningAlgorithm {
    /// The algorithm sigstore's provider signs with: the first the key
    /// lists (AWS lists PSS before PKCS #1 v1.5 for RSA keys).
    pub fn of_key(algorithms: &[SigningAlgorithmSpec]) -> Result<Self, AwsKmsError> {
        let spec = algorithms.first().ok_or(AwsKmsError::NotASigningKey)?;
        Self::from_spec(spec)
    }

    fn from_spec(spec: &SigningAlgorithmSpec) -> Result<Self, AwsKmsError> {
        use SigningAlgorithmSpec as S;
        let (scheme, hash) = match spec {
            S::EcdsaSha256 => (Scheme::Ecdsa, HashFunc::SHA256),
            S::EcdsaSha384 => (Scheme::Ecdsa, HashFunc::SHA384),
            S::EcdsaSha512 => (Scheme::Ecdsa, HashFunc::SHA512),
            S::RsassaPssSha256 => (Scheme::RsaPss, HashFunc::SHA256),
            S::RsassaPssSha384 => (Scheme::RsaPss, HashFunc::SHA384),
            S::RsassaPssSha512 => (Scheme::RsaPss, HashFunc::SHA512),
            S::RsassaPkcs1V15Sha256 => (Scheme::RsaPkcs1v15, HashFunc::SHA256),
            S::RsassaPkcs1V15Sha384 => (Scheme::RsaPkcs1v15, HashFunc::SHA384),
            S::RsassaPkcs1V15Sha512 => (Scheme::RsaPkcs1v15, HashFunc::SHA512),
            other => {
                return Err(AwsKmsError::UnsupportedSigningAlgorithm(
                    other.as_str().to_owned(),
                ))
            }
        };
        Ok(SigningAlgorithm {
            spec: spec.clone(),
            scheme,
            hash,
        })
    }

    /// Refuses a call whose hash is not the one this algorithm signs:
    /// AWS binds each key to its algorithms, and signing another hash's
    /// digest under this one would make a signature no verifier accepts.
    pub fn check_hash(&self, requested: HashFunc) -> Result<(), AwsKmsError> {
        if requested == self.hash {
            Ok(())
        } else {
            Err(AwsKmsError::HashNotOfKey {
                requested,
                algorithm: self.spec.as_str().to_owned(),
                hash: self.hash,
            })
        }
    }

    /// Checks `signature` over `digest` with the key's public half (PKIX
    /// DER), as sigstore's provider verifies unless asked to verify in the
    /// KMS.
    pub fn verify_locally(
        &self,
        public_key_der: &[u8],
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), AwsKmsError> {
        let verified = match self.scheme {
            Scheme::Ecdsa => verify_ecdsa(public_key_der, digest, signature)?,
            Scheme::RsaPss | Scheme::RsaPkcs1v15 => {
                let key = PublicKey::from_public_key_der(public_key_der)
                    .map_err(|err| AwsKmsError::PublicKey(err.to_string()))?;
                let result = match (self.scheme, self.hash) {
                    (Scheme::RsaPss, HashFunc::SHA256) => {
                        key.verify(pss::<Sha256>(), digest, signature)
                    }
                    (Scheme::RsaPss, HashFunc::SHA384) => {
                        key.verify(pss::<Sha384>(), digest, signature)
                    }
                    (Scheme::RsaPss, _) => key.verify(pss::<Sha512>(), digest, signature),
                    (_, HashFunc::SHA256) => {
                        key.verify(Pkcs1v15Sign::new::<Sha256>(), digest, signature)
                    }
                    (_, HashFunc::SHA384) => {
                        key.verify(Pkcs1v15Sign::new::<Sha384>(), digest, signature)
                    }
                    (_, _) => key.verify(Pkcs1v15Sign::new::<Sha512>(), digest, signature),
                };
                result.is_ok()
            }
        };
        if verified {
            Ok(())
        } else {
            Err(AwsKmsError::InvalidSignature(self.spec.as_str().to_owned()))
        }
    }
}

/// RSASSA-PSS with any salt length, found from the signature, as sigstore's
/// verifier (Go's `rsa.VerifyPSS` without options) accepts: AWS KMS salts
/// with the digest's length, local-kms with the most that fits.
fn pss<D: sha2::Digest + sha2::digest::FixedOutputReset>() -> Pss<D> {
    let mut pss = Pss::new();
    pss.salt_len = None;
    pss
}

/// Whether the DER ECDSA `signature` verifies over `digest`, for a key on
/// any of the curves AWS offers.
fn verify_ecdsa(
    public_key_der: &[u8],
    digest: &[u8],
    signature: &[u8],
) -> Result<bool, AwsKmsError> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    macro_rules! verify_on {
        ($curve:ident) => {
            if let Ok(key) = $curve::ecdsa::VerifyingKey::from_public_key_der(public_key_der) {
                return Ok($curve::ecdsa::Signature::from_der(signature)
                    .is_ok_and(|signature| key.verify_prehash(digest, &signature).is_ok()));
            }
        };
    }
    verify_on!(p256);
    verify_on!(p384);
    verify_on!(p521);
    Err(AwsKmsError::PublicKey(
        "not an ECDSA P-256, P-384 or P-521 public key".to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_listed_algorithm_is_the_one() {
        let rsa = SigningAlgorithm::of_key(&[
            SigningAlgorithmSpec::RsassaPssSha256,
            SigningAlgorithmSpec::RsassaPssSha384,
            SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
        ])
        .unwrap();
        assert_eq!((rsa.scheme, rsa.hash), (Scheme::RsaPss, HashFunc::SHA256));
        let p384 = SigningAlgorithm::of_key(&[SigningAlgorithmSpec::EcdsaSha384]).unwrap();
        assert_eq!((p384.scheme, p384.hash), (Scheme::Ecdsa, HashFunc::SHA384));
    }

    #[test]
    fn another_hash_is_refused_naming_the_keys_hash_and_the_flag() {
        let p384 = SigningAlgorithm::of_key(&[SigningAlgorithmSpec::EcdsaSha384]).unwrap();
        assert!(p384.check_hash(HashFunc::SHA384).is_ok());
        let message = p384.check_hash(HashFunc::SHA256).unwrap_err().to_string();
        assert!(message.contains("SHA-384"), "{message}");
        assert!(message.contains("SHA-256"), "{message}");
        assert!(
            message.contains("--signature-digest-algorithm sha384"),
            "{message}"
        );
    }

    #[test]
    fn keys_that_do_not_sign_or_sign_otherwise_are_refused() {
        assert!(matches!(
            SigningAlgorithm::of_key(&[]),
            Err(AwsKmsError::NotASigningKey)
        ));
        let err = SigningAlgorithm::of_key(&[SigningAlgorithmSpec::Sm2Dsa]).unwrap_err();
        assert!(err.to_string().contains("SM2DSA"), "{err}");
    }
}
