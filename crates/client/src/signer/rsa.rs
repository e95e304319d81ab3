//! RSA PKCS #1 v1.5 key types, one per digest.

use rsa::pkcs1v15::{Signature, VerifyingKey};
use signature::digest::Digest;
use signature::hazmat::PrehashSigner;
use signature::{DigestSigner, Signer};
use spki::der::AnyRef;
use spki::{AlgorithmIdentifier, SignatureAlgorithmIdentifier};

use sigstore_kms_protocol::HashFunc;

use super::{sealed, KeyType, PluginSigner, PrehashLengthError, RsaPkcs1v15};
use crate::{KeyAlgorithm, KeyError, PublicKey};

/// Implements the signer traits for RSA PKCS #1 v1.5 over `$digest`, which
/// the plugin knows as `$hash_func`.
macro_rules! rsa_key_type {
    ($digest:ty, $name:literal, $hash_func:ident, $expected:literal) => {
        impl sealed::Sealed for RsaPkcs1v15<$digest> {}

        impl KeyType for RsaPkcs1v15<$digest> {
            const NAME: &'static str = $name;
            const SIGNATURE: &'static str = "an RSA PKCS #1 v1.5 signature";
            type VerifyingKey = VerifyingKey<$digest>;

            fn verifying_key(public_key: &PublicKey) -> Result<Self::VerifyingKey, KeyError> {
                if !matches!(public_key.algorithm(), KeyAlgorithm::Rsa { .. }) {
                    return Err(KeyError::WrongKeyType {
                        found: public_key.algorithm().clone(),
                        expected: $name,
                    });
                }
                Ok(VerifyingKey::new(public_key.rsa_public_key()?))
            }
        }

        impl PrehashSigner<Signature> for PluginSigner<RsaPkcs1v15<$digest>> {
            fn sign_prehash(&self, prehash: &[u8]) -> Result<Signature, signature::Error> {
                if prehash.len() != <$digest>::output_size() {
                    return Err(signature::Error::from_source(PrehashLengthError {
                        length: prehash.len(),
                        expected: $expected,
                    }));
                }
                self.sign_digest(prehash, HashFunc::$hash_func, |bytes: &[u8]| {
                    Signature::try_from(bytes)
                })
            }
        }

        impl DigestSigner<$digest, Signature> for PluginSigner<RsaPkcs1v15<$digest>> {
            fn try_sign_digest<F: Fn(&mut $digest) -> Result<(), signature::Error>>(
                &self,
                update: F,
            ) -> Result<Signature, signature::Error> {
                let mut digest = <$digest>::new();
                update(&mut digest)?;
                self.sign_prehash(&digest.finalize())
            }
        }

        impl Signer<Signature> for PluginSigner<RsaPkcs1v15<$digest>> {
            fn try_sign(&self, message: &[u8]) -> Result<Signature, signature::Error> {
                self.sign_prehash(&<$digest>::digest(message))
            }
        }

        /// `sha256WithRSAEncryption` and its SHA-384 and SHA-512 siblings.
        impl SignatureAlgorithmIdentifier for PluginSigner<RsaPkcs1v15<$digest>> {
            type Params = AnyRef<'static>;

            const SIGNATURE_ALGORITHM_IDENTIFIER: AlgorithmIdentifier<AnyRef<'static>> =
                VerifyingKey::<$digest>::SIGNATURE_ALGORITHM_IDENTIFIER;
        }
    };
}

rsa_key_type!(
    sha2::Sha256,
    "RSA PKCS #1 v1.5 with SHA-256",
    SHA256,
    "a SHA-256 digest (32 bytes)"
);
rsa_key_type!(
    sha2::Sha384,
    "RSA PKCS #1 v1.5 with SHA-384",
    SHA384,
    "a SHA-384 digest (48 bytes)"
);
rsa_key_type!(
    sha2::Sha512,
    "RSA PKCS #1 v1.5 with SHA-512",
    SHA512,
    "a SHA-512 digest (64 bytes)"
);
