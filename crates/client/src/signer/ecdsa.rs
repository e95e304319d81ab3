//! ECDSA key types: P-256, P-384 and P-521, one macro for the three.

use signature::digest::Digest;
use signature::hazmat::PrehashSigner;
use signature::{DigestSigner, Signer};
use spki::der::AnyRef;
use spki::{AlgorithmIdentifier, AssociatedAlgorithmIdentifier, SignatureAlgorithmIdentifier};

use super::{ecdsa_hash_func, sealed, KeyType, PluginSigner};
use crate::{KeyAlgorithm, KeyError, PublicKey};

/// Implements the signer traits for the curve `$curve` of crate `$krate`,
/// whose messages are hashed with `$digest` (the curve's own, as RustCrypto
/// and X.509 pair them).
macro_rules! ecdsa_key_type {
    ($krate:ident, $curve:ident, $name:literal, $algorithm:ident, $digest:ty, $hash_func:ident) => {
        impl sealed::Sealed for $krate::$curve {}

        impl KeyType for $krate::$curve {
            const NAME: &'static str = $name;
            const SIGNATURE: &'static str = concat!("an ASN.1 DER ", $name, " signature");
            type VerifyingKey = $krate::ecdsa::VerifyingKey;

            fn verifying_key(public_key: &PublicKey) -> Result<Self::VerifyingKey, KeyError> {
                public_key.expect_key_type(KeyAlgorithm::$algorithm, $name)?;
                public_key.ecdsa_verifying_key::<$krate::ecdsa::VerifyingKey>()
            }
        }

        impl PrehashSigner<$krate::ecdsa::Signature> for PluginSigner<$krate::$curve> {
            fn sign_prehash(
                &self,
                prehash: &[u8],
            ) -> Result<$krate::ecdsa::Signature, signature::Error> {
                self.sign_digest(
                    prehash,
                    ecdsa_hash_func(prehash)?,
                    $krate::ecdsa::Signature::from_der,
                )
            }
        }

        impl PrehashSigner<$krate::ecdsa::DerSignature> for PluginSigner<$krate::$curve> {
            fn sign_prehash(
                &self,
                prehash: &[u8],
            ) -> Result<$krate::ecdsa::DerSignature, signature::Error> {
                PrehashSigner::<$krate::ecdsa::Signature>::sign_prehash(self, prehash)
                    .map(|signature| signature.to_der())
            }
        }

        impl<D: Digest + signature::digest::Update> DigestSigner<D, $krate::ecdsa::Signature>
            for PluginSigner<$krate::$curve>
        {
            fn try_sign_digest<F: Fn(&mut D) -> Result<(), signature::Error>>(
                &self,
                update: F,
            ) -> Result<$krate::ecdsa::Signature, signature::Error> {
                let mut digest = D::new();
                update(&mut digest)?;
                self.sign_prehash(&digest.finalize())
            }
        }

        impl<D: Digest + signature::digest::Update> DigestSigner<D, $krate::ecdsa::DerSignature>
            for PluginSigner<$krate::$curve>
        {
            fn try_sign_digest<F: Fn(&mut D) -> Result<(), signature::Error>>(
                &self,
                update: F,
            ) -> Result<$krate::ecdsa::DerSignature, signature::Error> {
                let mut digest = D::new();
                update(&mut digest)?;
                self.sign_prehash(&digest.finalize())
            }
        }

        impl Signer<$krate::ecdsa::Signature> for PluginSigner<$krate::$curve> {
            fn try_sign(
                &self,
                message: &[u8],
            ) -> Result<$krate::ecdsa::Signature, signature::Error> {
                self.sign_digest(
                    &<$digest>::digest(message),
                    sigstore_kms_protocol::HashFunc::$hash_func,
                    $krate::ecdsa::Signature::from_der,
                )
            }
        }

        impl Signer<$krate::ecdsa::DerSignature> for PluginSigner<$krate::$curve> {
            fn try_sign(
                &self,
                message: &[u8],
            ) -> Result<$krate::ecdsa::DerSignature, signature::Error> {
                Signer::<$krate::ecdsa::Signature>::try_sign(self, message)
                    .map(|signature| signature.to_der())
            }
        }

        /// `ecdsa-with-SHA256`, `-SHA384` or `-SHA512`: the curve's own
        /// digest, which [`Signer`] hashes with.
        impl SignatureAlgorithmIdentifier for PluginSigner<$krate::$curve> {
            type Params = AnyRef<'static>;

            const SIGNATURE_ALGORITHM_IDENTIFIER: AlgorithmIdentifier<AnyRef<'static>> =
                $krate::ecdsa::Signature::ALGORITHM_IDENTIFIER;
        }
    };
}

ecdsa_key_type!(
    p256,
    NistP256,
    "ECDSA P-256",
    EcdsaP256,
    sha2::Sha256,
    SHA256
);
ecdsa_key_type!(
    p384,
    NistP384,
    "ECDSA P-384",
    EcdsaP384,
    sha2::Sha384,
    SHA384
);
ecdsa_key_type!(
    p521,
    NistP521,
    "ECDSA P-521",
    EcdsaP521,
    sha2::Sha512,
    SHA512
);
