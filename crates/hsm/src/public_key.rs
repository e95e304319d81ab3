//! A token's public key, rebuilt from its PKCS#11 attributes
//! (`CKA_EC_PARAMS` and `CKA_EC_POINT`, or `CKA_MODULUS` and
//! `CKA_PUBLIC_EXPONENT`), as PEM and for local verification.

use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use rsa::traits::PublicKeyParts as _;
use rsa::BoxedUint;
use sigstore_kms_handler::{public_key_pem, HandlerError};
use sigstore_kms_protocol::HashFunc;
use spki::der::asn1::OctetStringRef;
use spki::der::Decode as _;

use crate::algorithm::{pkcs1v15, Algorithm, SignatureError};

/// `CKA_EC_PARAMS` of P-256: the DER of OID 1.2.840.10045.3.1.7.
pub const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// `CKA_EC_PARAMS` of P-384: the DER of OID 1.3.132.0.34.
pub const P384_PARAMS: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// A public key of one of the plugin's algorithms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// A P-256 key.
    P256(p256::PublicKey),
    /// A P-384 key.
    P384(p384::PublicKey),
    /// An RSA key of 2048, 3072 or 4096 bits.
    Rsa(rsa::PublicKey),
}

/// Why a public-key object cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// An EC key on a curve other than P-256 and P-384.
    #[error("the key is on an unsupported curve (CKA_EC_PARAMS {0}); this plugin serves P-256 and P-384 keys")]
    Curve(String),
    /// `CKA_EC_POINT` is not a point of the curve.
    #[error("CKA_EC_POINT is not an uncompressed point of the key's curve")]
    Point,
    /// An RSA key whose size this plugin has no algorithm for.
    #[error("the RSA key has {0} bits; this plugin serves 2048, 3072 and 4096-bit keys")]
    RsaSize(usize),
    /// `CKA_MODULUS` and `CKA_PUBLIC_EXPONENT` are not an RSA key.
    #[error("CKA_MODULUS and CKA_PUBLIC_EXPONENT are not a valid RSA public key: {0}")]
    Rsa(String),
}

/// Why a signature does not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// It is not a signature of this key's kind.
    #[error(transparent)]
    Malformed(#[from] SignatureError),
    /// It is well formed, but not a signature of this digest by this key.
    #[error("the signature does not verify with the key")]
    Mismatch,
}

impl PublicKey {
    /// The EC key of `CKA_EC_PARAMS` and `CKA_EC_POINT`. The point is
    /// accepted as the DER OCTET STRING the standard asks for, and as the
    /// raw point some tokens return.
    pub fn from_ec(params: &[u8], point: &[u8]) -> Result<PublicKey, KeyError> {
        let raw = <&OctetStringRef>::from_der(point)
            .map(|octets| octets.as_bytes())
            .unwrap_or(point);
        let raw_or_point = |parse: &dyn Fn(&[u8]) -> bool| {
            if parse(raw) {
                raw
            } else {
                point
            }
        };
        match params {
            P256_PARAMS => {
                let bytes = raw_or_point(&|b| p256::PublicKey::from_sec1_bytes(b).is_ok());
                p256::PublicKey::from_sec1_bytes(bytes)
                    .map(PublicKey::P256)
                    .map_err(|_| KeyError::Point)
            }
            P384_PARAMS => {
                let bytes = raw_or_point(&|b| p384::PublicKey::from_sec1_bytes(b).is_ok());
                p384::PublicKey::from_sec1_bytes(bytes)
                    .map(PublicKey::P384)
                    .map_err(|_| KeyError::Point)
            }
            other => Err(KeyError::Curve(hex(other))),
        }
    }

    /// The RSA key of `CKA_MODULUS` and `CKA_PUBLIC_EXPONENT`.
    pub fn from_rsa(modulus: &[u8], exponent: &[u8]) -> Result<PublicKey, KeyError> {
        let key = rsa::PublicKey::new(
            BoxedUint::from_be_slice_vartime(modulus),
            BoxedUint::from_be_slice_vartime(exponent),
        )
        .map_err(|err| KeyError::Rsa(err.to_string()))?;
        let bits = key.n().bit_width() as usize;
        Algorithm::rsa(bits).ok_or(KeyError::RsaSize(bits))?;
        Ok(PublicKey::Rsa(key))
    }

    /// The algorithm of this key.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::P256(_) => Algorithm::EcdsaP256,
            PublicKey::P384(_) => Algorithm::EcdsaP384,
            // `from_rsa` admits only sizes that have an algorithm.
            PublicKey::Rsa(key) => {
                Algorithm::rsa(key.n().bit_width() as usize).unwrap_or(Algorithm::Rsa4096)
            }
        }
    }

    /// The key as a PKIX `PUBLIC KEY` PEM.
    pub fn to_pem(&self) -> Result<String, HandlerError> {
        match self {
            PublicKey::P256(key) => public_key_pem(key),
            PublicKey::P384(key) => public_key_pem(key),
            PublicKey::Rsa(key) => public_key_pem(key),
        }
    }

    /// Checks `signature` (DER for ECDSA) over `digest` of `hash`.
    pub fn verify(
        &self,
        hash: HashFunc,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        let algorithm = self.algorithm();
        // The same checks as signing, so both refuse the same hashes.
        algorithm.token_input(hash, digest)?;
        let verified = match self {
            PublicKey::P256(key) => {
                let signature = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| SignatureError::NotDer(algorithm.name()))?;
                p256::ecdsa::VerifyingKey::from(key)
                    .verify_prehash(digest, &signature)
                    .is_ok()
            }
            PublicKey::P384(key) => {
                let signature = p384::ecdsa::Signature::from_der(signature)
                    .map_err(|_| SignatureError::NotDer(algorithm.name()))?;
                p384::ecdsa::VerifyingKey::from(key)
                    .verify_prehash(digest, &signature)
                    .is_ok()
            }
            PublicKey::Rsa(key) => key.verify(pkcs1v15(hash)?, digest, signature).is_ok(),
        };
        if verified {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::signature::hazmat::PrehashSigner as _;
    use sha2::{Digest as _, Sha256, Sha512};

    use super::*;

    fn p256_key() -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap()
    }

    #[test]
    fn ec_point_is_read_as_der_or_raw() {
        let key = p256_key();
        let point = key.verifying_key().to_sec1_point(false);
        let raw = point.as_bytes();
        let mut der = vec![0x04, raw.len() as u8];
        der.extend_from_slice(raw);
        let from_der = PublicKey::from_ec(P256_PARAMS, &der).unwrap();
        let from_raw = PublicKey::from_ec(P256_PARAMS, raw).unwrap();
        assert_eq!(from_der, from_raw);
        assert_eq!(from_der.algorithm(), Algorithm::EcdsaP256);
        let pem = from_der.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        assert_eq!(
            PublicKey::from_ec(P384_PARAMS, &der),
            Err(KeyError::Point),
            "a P-256 point is no P-384 point"
        );
        assert_eq!(
            PublicKey::from_ec(&[0x06, 0x03, 0x2b, 0x65, 0x70], &der),
            Err(KeyError::Curve("06032b6570".into()))
        );
    }

    #[test]
    fn ecdsa_verifies_its_own_and_refuses_others() {
        let key = p256_key();
        let public = PublicKey::P256(p256::PublicKey::from(key.verifying_key()));
        let digest = Sha256::digest(b"message");
        let signature: p256::ecdsa::Signature = key.sign_prehash(&digest).unwrap();
        let der = signature.to_der();
        assert_eq!(
            public.verify(HashFunc::SHA256, &digest, der.as_bytes()),
            Ok(())
        );
        let other = Sha256::digest(b"other");
        assert_eq!(
            public.verify(HashFunc::SHA256, &other, der.as_bytes()),
            Err(VerifyError::Mismatch)
        );
        assert!(matches!(
            public.verify(HashFunc::SHA256, &digest, b"junk"),
            Err(VerifyError::Malformed(_))
        ));
        // Signed as the token does for SHA-512: the digest cut to 32 bytes.
        let long = Sha512::digest(b"message");
        let cut: p256::ecdsa::Signature = key.sign_prehash(&long[..32]).unwrap();
        assert_eq!(
            public.verify(HashFunc::SHA512, &long, cut.to_der().as_bytes()),
            Ok(())
        );
    }

    #[test]
    fn rsa_keys_of_other_sizes_are_refused() {
        let mut modulus = vec![0xff; 128];
        modulus[127] = 0xfb;
        assert_eq!(
            PublicKey::from_rsa(&modulus, &[1, 0, 1]),
            Err(KeyError::RsaSize(1024))
        );
        assert!(matches!(
            PublicKey::from_rsa(&[0xff; 256], &[1]),
            Err(KeyError::Rsa(_))
        ));
    }
}
