//! The algorithms this plugin creates keys for, and what each signs: the
//! bytes handed to the token's raw mechanism, and the signature format on
//! each side of the token.

use sha2::{Sha256, Sha384, Sha512};
use sigstore_kms_protocol::algorithm::{self as shared, KeyType};
use sigstore_kms_protocol::HashFunc;

/// Digests this plugin signs and verifies.
pub const HASH_FUNCS: [HashFunc; 3] = [HashFunc::SHA256, HashFunc::SHA384, HashFunc::SHA512];

/// A key algorithm this plugin creates keys for: the subset of the
/// protocol crate's [`shared::Algorithm`] that PKCS#11 tokens sign with
/// raw ECDSA and PKCS#1 v1.5 mechanisms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// RSA 2048 bits, PKCS#1 v1.5 signatures.
    Rsa2048,
    /// RSA 3072 bits, PKCS#1 v1.5 signatures.
    Rsa3072,
    /// RSA 4096 bits, PKCS#1 v1.5 signatures.
    Rsa4096,
}

/// The two families, which differ in mechanisms and signature formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// ECDSA over a curve whose scalars are this many bytes long.
    Ecdsa {
        /// The size of the curve order in bytes.
        scalar_bytes: usize,
    },
    /// RSA with a modulus of this many bits.
    Rsa {
        /// The modulus size.
        bits: usize,
    },
}

/// An algorithm name this plugin does not know.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "unsupported algorithm {0:?}; supported: {supported}",
    supported = Algorithm::names().join(", ")
)]
pub struct UnknownAlgorithm(pub String);

/// A signature that cannot be what the key makes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// Not a DER ECDSA signature of the key's curve.
    #[error("the signature is not a DER-encoded {0} signature")]
    NotDer(&'static str),
    /// The token returned a signature of the wrong size.
    #[error(
        "the token returned a {actual}-byte signature; a {algorithm} signature is {expected} bytes"
    )]
    TokenLength {
        /// The key's algorithm.
        algorithm: &'static str,
        /// The size expected.
        expected: usize,
        /// The size returned.
        actual: usize,
    },
    /// A hash function this plugin does not sign with.
    #[error(
        "unsupported hash function {0}: this plugin signs SHA-256, SHA-384 or SHA-512 digests"
    )]
    HashFunc(HashFunc),
}

impl Algorithm {
    /// Every algorithm, the default first.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::EcdsaP256,
        Algorithm::EcdsaP384,
        Algorithm::Rsa2048,
        Algorithm::Rsa3072,
        Algorithm::Rsa4096,
    ];

    /// The algorithm of `createKey` when the reference names none.
    pub const DEFAULT: Algorithm = Algorithm::EcdsaP256;

    /// The same algorithm in the protocol crate's table, which holds its
    /// name and what it means.
    pub fn shared(self) -> shared::Algorithm {
        match self {
            Algorithm::EcdsaP256 => shared::Algorithm::EcdsaP256Sha256,
            Algorithm::EcdsaP384 => shared::Algorithm::EcdsaP384Sha384,
            Algorithm::Rsa2048 => shared::Algorithm::RsaPkcs1v15_2048Sha256,
            Algorithm::Rsa3072 => shared::Algorithm::RsaPkcs1v15_3072Sha256,
            Algorithm::Rsa4096 => shared::Algorithm::RsaPkcs1v15_4096Sha256,
        }
    }

    /// The name on the wire.
    pub fn name(self) -> &'static str {
        self.shared().name()
    }

    /// Every name on the wire, the default first.
    pub fn names() -> Vec<&'static str> {
        Algorithm::ALL.iter().map(|a| a.name()).collect()
    }

    /// The algorithm named `name`.
    pub fn from_name(name: &str) -> Result<Algorithm, UnknownAlgorithm> {
        let shared = shared::Algorithm::from_name(name);
        Algorithm::ALL
            .into_iter()
            .find(|algorithm| Some(algorithm.shared()) == shared)
            .ok_or_else(|| UnknownAlgorithm(name.to_owned()))
    }

    /// Its family and size.
    pub fn family(self) -> Family {
        match self.shared().key_type() {
            KeyType::Ecdsa(curve) => Family::Ecdsa {
                scalar_bytes: curve.scalar_bytes(),
            },
            KeyType::Rsa { bits, .. } => Family::Rsa {
                bits: bits as usize,
            },
            // `shared` maps every algorithm of this plugin to an ECDSA or
            // an RSA one; the tests go through all of them.
            other => unreachable!("{self:?} has the key type {other:?}"),
        }
    }

    /// The RSA algorithm of a `bits`-bit modulus, if this plugin has one.
    pub fn rsa(bits: usize) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.family() == Family::Rsa { bits })
    }

    /// The bytes the token's raw mechanism signs for `digest`: for ECDSA
    /// the digest cut to the curve's size (as ECDSA defines it; some tokens
    /// refuse longer input), for RSA the PKCS#1 v1.5 `DigestInfo` of the
    /// digest (CKM_RSA_PKCS adds only the padding).
    pub fn token_input(self, hash: HashFunc, digest: &[u8]) -> Result<Vec<u8>, SignatureError> {
        if !HASH_FUNCS.contains(&hash) {
            return Err(SignatureError::HashFunc(hash));
        }
        Ok(match self.family() {
            Family::Ecdsa { scalar_bytes } => digest[..digest.len().min(scalar_bytes)].to_vec(),
            Family::Rsa { .. } => {
                let mut input = digest_info_prefix(hash)?.to_vec();
                input.extend_from_slice(digest);
                input
            }
        })
    }

    /// The signature on the wire for the token's output: ECDSA's `r || s`
    /// becomes ASN.1 DER, which cosign and Go expect; RSA is unchanged.
    pub fn signature_from_token(self, raw: Vec<u8>) -> Result<Vec<u8>, SignatureError> {
        let expected = self.token_signature_len();
        if raw.len() != expected {
            return Err(SignatureError::TokenLength {
                algorithm: self.name(),
                expected,
                actual: raw.len(),
            });
        }
        match self {
            Algorithm::EcdsaP256 => p256::ecdsa::Signature::from_slice(&raw)
                .map(|signature| signature.to_der().as_bytes().to_vec())
                .map_err(|_| SignatureError::NotDer(self.name())),
            Algorithm::EcdsaP384 => p384::ecdsa::Signature::from_slice(&raw)
                .map(|signature| signature.to_der().as_bytes().to_vec())
                .map_err(|_| SignatureError::NotDer(self.name())),
            Algorithm::Rsa2048 | Algorithm::Rsa3072 | Algorithm::Rsa4096 => Ok(raw),
        }
    }

    /// The signature the token's verify mechanism takes for a signature
    /// on the wire: DER ECDSA becomes `r || s`; RSA is unchanged.
    pub fn signature_for_token(self, signature: &[u8]) -> Result<Vec<u8>, SignatureError> {
        let not_der = || SignatureError::NotDer(self.name());
        match self {
            Algorithm::EcdsaP256 => p256::ecdsa::Signature::from_der(signature)
                .map(|signature| signature.to_bytes().to_vec())
                .map_err(|_| not_der()),
            Algorithm::EcdsaP384 => p384::ecdsa::Signature::from_der(signature)
                .map(|signature| signature.to_bytes().to_vec())
                .map_err(|_| not_der()),
            Algorithm::Rsa2048 | Algorithm::Rsa3072 | Algorithm::Rsa4096 => Ok(signature.to_vec()),
        }
    }

    fn token_signature_len(self) -> usize {
        match self.family() {
            Family::Ecdsa { scalar_bytes } => 2 * scalar_bytes,
            Family::Rsa { bits } => bits / 8,
        }
    }
}

/// The DER `DigestInfo` header that precedes a digest of `hash` in a
/// PKCS#1 v1.5 signature.
pub fn digest_info_prefix(hash: HashFunc) -> Result<Box<[u8]>, SignatureError> {
    Ok(pkcs1v15(hash)?.prefix)
}

/// The `rsa` crate's PKCS#1 v1.5 scheme for `hash`.
pub fn pkcs1v15(hash: HashFunc) -> Result<rsa::Pkcs1v15Sign, SignatureError> {
    match hash {
        HashFunc::SHA256 => Ok(rsa::Pkcs1v15Sign::new::<Sha256>()),
        HashFunc::SHA384 => Ok(rsa::Pkcs1v15Sign::new::<Sha384>()),
        HashFunc::SHA512 => Ok(rsa::Pkcs1v15Sign::new::<Sha512>()),
        other => Err(SignatureError::HashFunc(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_the_default_comes_first() {
        for algorithm in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(algorithm.name()), Ok(algorithm));
        }
        assert_eq!(Algorithm::names()[0], Algorithm::DEFAULT.name());
        let err = Algorithm::from_name("rsa-2048").unwrap_err();
        assert!(err.to_string().contains("ecdsa-p384-sha384"), "{err}");
        assert_eq!(Algorithm::rsa(3072), Some(Algorithm::Rsa3072));
        assert_eq!(Algorithm::rsa(1024), None);
    }

    #[test]
    fn families_come_from_the_shared_table() {
        let families: Vec<Family> = Algorithm::ALL.into_iter().map(Algorithm::family).collect();
        assert_eq!(
            families,
            [
                Family::Ecdsa { scalar_bytes: 32 },
                Family::Ecdsa { scalar_bytes: 48 },
                Family::Rsa { bits: 2048 },
                Family::Rsa { bits: 3072 },
                Family::Rsa { bits: 4096 },
            ]
        );
        // Known to the protocol crate, but not created by this plugin.
        let err = Algorithm::from_name("ecdsa-p521-sha512").unwrap_err();
        assert_eq!(err, UnknownAlgorithm("ecdsa-p521-sha512".into()));
    }

    #[test]
    fn rsa_input_is_the_digest_info() {
        let digest = [0xab; 32];
        let input = Algorithm::Rsa2048
            .token_input(HashFunc::SHA256, &digest)
            .unwrap();
        let prefix = [
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ];
        assert_eq!(&input[..prefix.len()], prefix);
        assert_eq!(&input[prefix.len()..], digest);
        let sha512 = Algorithm::Rsa4096
            .token_input(HashFunc::SHA512, &[1; 64])
            .unwrap();
        assert_eq!(sha512.len(), 19 + 64);
        assert_eq!(sha512[14], 0x03, "the SHA-512 OID");
    }

    #[test]
    fn ecdsa_input_is_cut_to_the_curve() {
        let digest: Vec<u8> = (0..64).collect();
        let p256 = Algorithm::EcdsaP256.token_input(HashFunc::SHA512, &digest);
        assert_eq!(p256.unwrap(), digest[..32]);
        let p384 = Algorithm::EcdsaP384.token_input(HashFunc::SHA256, &digest[..32]);
        assert_eq!(p384.unwrap(), digest[..32]);
        let md5 = Algorithm::EcdsaP256.token_input(HashFunc::MD5, &digest[..16]);
        assert_eq!(md5, Err(SignatureError::HashFunc(HashFunc::MD5)));
    }

    #[test]
    fn ecdsa_signatures_convert_both_ways() {
        let mut raw = vec![0u8; 64];
        raw[31] = 1;
        raw[63] = 2;
        let der = Algorithm::EcdsaP256
            .signature_from_token(raw.clone())
            .unwrap();
        assert_eq!(der, [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02]);
        assert_eq!(Algorithm::EcdsaP256.signature_for_token(&der).unwrap(), raw);
        let err = Algorithm::EcdsaP384.signature_from_token(raw).unwrap_err();
        assert!(matches!(
            err,
            SignatureError::TokenLength { expected: 96, .. }
        ));
        assert_eq!(
            Algorithm::EcdsaP256.signature_for_token(b"junk"),
            Err(SignatureError::NotDer("ecdsa-p256-sha256"))
        );
        // r = 0 is not a signature, whatever the token says.
        assert!(Algorithm::EcdsaP256
            .signature_from_token(vec![0; 64])
            .is_err());
    }
}
