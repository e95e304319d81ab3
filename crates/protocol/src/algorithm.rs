//! The signing algorithm names the ecosystem uses in `defaultAlgorithm`,
//! `supportedAlgorithms` and `createKey`, and what each means: a key type
//! and a hash function.
//!
//! On the wire an algorithm is a free-form string, and stays one: a plugin
//! may serve algorithms of its own, and a host passes any name through.
//! These are the names cosign, sigstore's KMS providers and the plugins of
//! this project agree on, so a plugin that serves one of them should spell
//! it this way.
//!
//! ```
//! use sigstore_kms_protocol::algorithm::{self, Algorithm, Curve, KeyType};
//! use sigstore_kms_protocol::HashFunc;
//!
//! let algorithm: Algorithm = algorithm::ECDSA_P384_SHA384.parse()?;
//! assert_eq!(algorithm.key_type(), KeyType::Ecdsa(Curve::P384));
//! assert_eq!(algorithm.hash_func(), HashFunc::SHA384);
//! assert_eq!(algorithm.to_string(), "ecdsa-p384-sha384");
//!
//! // A name of the plugin's own is not an error on the wire, only unknown here.
//! assert!(Algorithm::from_name("my-vendor-dilithium3").is_none());
//! # Ok::<(), sigstore_kms_protocol::algorithm::UnknownAlgorithm>(())
//! ```

use std::fmt;
use std::str::FromStr;

use crate::HashFunc;

/// ECDSA on NIST P-256 over SHA-256 digests.
pub const ECDSA_P256_SHA256: &str = "ecdsa-p256-sha256";
/// ECDSA on NIST P-384 over SHA-384 digests.
pub const ECDSA_P384_SHA384: &str = "ecdsa-p384-sha384";
/// ECDSA on NIST P-521 over SHA-512 digests.
pub const ECDSA_P521_SHA512: &str = "ecdsa-p521-sha512";
/// RSA 2048 bits, PKCS#1 v1.5 signatures over SHA-256 digests.
pub const RSA_PKCS1V15_2048_SHA256: &str = "rsa-pkcs1v15-2048-sha256";
/// RSA 3072 bits, PKCS#1 v1.5 signatures over SHA-256 digests.
pub const RSA_PKCS1V15_3072_SHA256: &str = "rsa-pkcs1v15-3072-sha256";
/// RSA 4096 bits, PKCS#1 v1.5 signatures over SHA-256 digests.
pub const RSA_PKCS1V15_4096_SHA256: &str = "rsa-pkcs1v15-4096-sha256";
/// RSA 4096 bits, PKCS#1 v1.5 signatures over SHA-512 digests.
pub const RSA_PKCS1V15_4096_SHA512: &str = "rsa-pkcs1v15-4096-sha512";
/// RSA 2048 bits, PSS signatures over SHA-256 digests.
pub const RSA_PSS_2048_SHA256: &str = "rsa-pss-2048-sha256";
/// RSA 3072 bits, PSS signatures over SHA-256 digests.
pub const RSA_PSS_3072_SHA256: &str = "rsa-pss-3072-sha256";
/// RSA 4096 bits, PSS signatures over SHA-256 digests.
pub const RSA_PSS_4096_SHA256: &str = "rsa-pss-4096-sha256";
/// RSA 4096 bits, PSS signatures over SHA-512 digests.
pub const RSA_PSS_4096_SHA512: &str = "rsa-pss-4096-sha512";

/// A signing algorithm with a name the ecosystem agrees on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// [`ECDSA_P256_SHA256`].
    EcdsaP256Sha256,
    /// [`ECDSA_P384_SHA384`].
    EcdsaP384Sha384,
    /// [`ECDSA_P521_SHA512`].
    EcdsaP521Sha512,
    /// [`RSA_PKCS1V15_2048_SHA256`].
    RsaPkcs1v15_2048Sha256,
    /// [`RSA_PKCS1V15_3072_SHA256`].
    RsaPkcs1v15_3072Sha256,
    /// [`RSA_PKCS1V15_4096_SHA256`].
    RsaPkcs1v15_4096Sha256,
    /// [`RSA_PKCS1V15_4096_SHA512`].
    RsaPkcs1v15_4096Sha512,
    /// [`RSA_PSS_2048_SHA256`].
    RsaPss2048Sha256,
    /// [`RSA_PSS_3072_SHA256`].
    RsaPss3072Sha256,
    /// [`RSA_PSS_4096_SHA256`].
    RsaPss4096Sha256,
    /// [`RSA_PSS_4096_SHA512`].
    RsaPss4096Sha512,
}

/// The kind of key an algorithm signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// ECDSA on a NIST curve.
    Ecdsa(Curve),
    /// RSA with a modulus of `bits` bits.
    Rsa {
        /// The modulus size in bits.
        bits: u32,
        /// How signatures are padded.
        padding: RsaPadding,
    },
}

/// A NIST curve of ECDSA keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Curve {
    /// P-256 (secp256r1).
    P256,
    /// P-384 (secp384r1).
    P384,
    /// P-521 (secp521r1).
    P521,
}

/// The padding of RSA signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RsaPadding {
    /// PKCS#1 v1.5 (`RSASSA-PKCS1-v1_5`).
    Pkcs1v15,
    /// PSS (`RSASSA-PSS`).
    Pss,
}

/// A name that is not one of [`Algorithm::ALL`]: a plugin's own algorithm,
/// or a misspelling.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown algorithm {0:?}; the known names are {known}", known = Algorithm::names().join(", "))]
pub struct UnknownAlgorithm(pub String);

impl Algorithm {
    /// Every algorithm this module names, ECDSA first.
    pub const ALL: [Algorithm; 11] = [
        Algorithm::EcdsaP256Sha256,
        Algorithm::EcdsaP384Sha384,
        Algorithm::EcdsaP521Sha512,
        Algorithm::RsaPkcs1v15_2048Sha256,
        Algorithm::RsaPkcs1v15_3072Sha256,
        Algorithm::RsaPkcs1v15_4096Sha256,
        Algorithm::RsaPkcs1v15_4096Sha512,
        Algorithm::RsaPss2048Sha256,
        Algorithm::RsaPss3072Sha256,
        Algorithm::RsaPss4096Sha256,
        Algorithm::RsaPss4096Sha512,
    ];

    /// The name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256Sha256 => ECDSA_P256_SHA256,
            Algorithm::EcdsaP384Sha384 => ECDSA_P384_SHA384,
            Algorithm::EcdsaP521Sha512 => ECDSA_P521_SHA512,
            Algorithm::RsaPkcs1v15_2048Sha256 => RSA_PKCS1V15_2048_SHA256,
            Algorithm::RsaPkcs1v15_3072Sha256 => RSA_PKCS1V15_3072_SHA256,
            Algorithm::RsaPkcs1v15_4096Sha256 => RSA_PKCS1V15_4096_SHA256,
            Algorithm::RsaPkcs1v15_4096Sha512 => RSA_PKCS1V15_4096_SHA512,
            Algorithm::RsaPss2048Sha256 => RSA_PSS_2048_SHA256,
            Algorithm::RsaPss3072Sha256 => RSA_PSS_3072_SHA256,
            Algorithm::RsaPss4096Sha256 => RSA_PSS_4096_SHA256,
            Algorithm::RsaPss4096Sha512 => RSA_PSS_4096_SHA512,
        }
    }

    /// Every name of [`Algorithm::ALL`], in that order.
    pub fn names() -> Vec<&'static str> {
        Algorithm::ALL
            .iter()
            .map(|algorithm| algorithm.name())
            .collect()
    }

    /// The algorithm named `name` (exactly, as on the wire), or `None` for
    /// a name this module does not know.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.name() == name)
    }

    /// The key it signs with.
    pub fn key_type(self) -> KeyType {
        let rsa = |bits, padding| KeyType::Rsa { bits, padding };
        match self {
            Algorithm::EcdsaP256Sha256 => KeyType::Ecdsa(Curve::P256),
            Algorithm::EcdsaP384Sha384 => KeyType::Ecdsa(Curve::P384),
            Algorithm::EcdsaP521Sha512 => KeyType::Ecdsa(Curve::P521),
            Algorithm::RsaPkcs1v15_2048Sha256 => rsa(2048, RsaPadding::Pkcs1v15),
            Algorithm::RsaPkcs1v15_3072Sha256 => rsa(3072, RsaPadding::Pkcs1v15),
            Algorithm::RsaPkcs1v15_4096Sha256 | Algorithm::RsaPkcs1v15_4096Sha512 => {
                rsa(4096, RsaPadding::Pkcs1v15)
            }
            Algorithm::RsaPss2048Sha256 => rsa(2048, RsaPadding::Pss),
            Algorithm::RsaPss3072Sha256 => rsa(3072, RsaPadding::Pss),
            Algorithm::RsaPss4096Sha256 | Algorithm::RsaPss4096Sha512 => rsa(4096, RsaPadding::Pss),
        }
    }

    /// The hash function its name pairs with the key: the digest a host
    /// that knows the algorithm computes.
    pub const fn hash_func(self) -> HashFunc {
        match self {
            Algorithm::EcdsaP384Sha384 => HashFunc::SHA384,
            Algorithm::EcdsaP521Sha512
            | Algorithm::RsaPkcs1v15_4096Sha512
            | Algorithm::RsaPss4096Sha512 => HashFunc::SHA512,
            Algorithm::EcdsaP256Sha256
            | Algorithm::RsaPkcs1v15_2048Sha256
            | Algorithm::RsaPkcs1v15_3072Sha256
            | Algorithm::RsaPkcs1v15_4096Sha256
            | Algorithm::RsaPss2048Sha256
            | Algorithm::RsaPss3072Sha256
            | Algorithm::RsaPss4096Sha256 => HashFunc::SHA256,
        }
    }
}

impl Curve {
    /// The size of the curve's scalars (and of `r` and `s`) in bytes.
    pub const fn scalar_bytes(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Algorithm::from_name(name).ok_or_else(|| UnknownAlgorithm(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_and_is_unique() {
        for algorithm in Algorithm::ALL {
            assert_eq!(algorithm.name().parse::<Algorithm>(), Ok(algorithm));
        }
        let mut names = Algorithm::names();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Algorithm::ALL.len());
    }

    #[test]
    fn names_spell_out_key_and_hash() {
        // The name is the key type, its size and the hash: check the
        // table against the name rather than restating it.
        for algorithm in Algorithm::ALL {
            let name = algorithm.name();
            let hash = algorithm.hash_func().name().unwrap().replace('-', "");
            assert!(name.ends_with(&hash.to_lowercase()), "{name}");
            match algorithm.key_type() {
                KeyType::Ecdsa(curve) => {
                    let bits = match curve {
                        Curve::P256 => 256,
                        Curve::P384 => 384,
                        Curve::P521 => 521,
                    };
                    assert!(name.starts_with(&format!("ecdsa-p{bits}-")), "{name}");
                    assert_eq!(curve.scalar_bytes(), (bits as usize).div_ceil(8));
                }
                KeyType::Rsa { bits, padding } => {
                    let scheme = match padding {
                        RsaPadding::Pkcs1v15 => "pkcs1v15",
                        RsaPadding::Pss => "pss",
                    };
                    assert!(name.starts_with(&format!("rsa-{scheme}-{bits}-")), "{name}");
                }
            }
        }
    }

    #[test]
    fn cosign_names_map_to_key_and_hash() {
        assert_eq!(
            Algorithm::from_name("ecdsa-p256-sha256").map(|a| (a.key_type(), a.hash_func())),
            Some((KeyType::Ecdsa(Curve::P256), HashFunc::SHA256))
        );
        assert_eq!(
            Algorithm::from_name("rsa-pkcs1v15-3072-sha256").map(|a| a.key_type()),
            Some(KeyType::Rsa {
                bits: 3072,
                padding: RsaPadding::Pkcs1v15
            })
        );
        assert_eq!(
            Algorithm::from_name("ecdsa-p521-sha512").map(|a| a.hash_func()),
            Some(HashFunc::SHA512)
        );
    }

    #[test]
    fn unknown_names_are_refused_by_name_only() {
        // Exact spelling: the wire is case-sensitive, as Go compares.
        for name in ["ECDSA-P256-SHA256", "ecdsa-p256", "", "rsa-2048"] {
            assert_eq!(Algorithm::from_name(name), None, "{name}");
        }
        let err = "my-vendor-algorithm".parse::<Algorithm>().unwrap_err();
        assert_eq!(err, UnknownAlgorithm("my-vendor-algorithm".into()));
        assert!(err.to_string().contains("\"my-vendor-algorithm\""), "{err}");
        assert!(err.to_string().contains(ECDSA_P384_SHA384), "{err}");
    }
}
