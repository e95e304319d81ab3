//! Go's `crypto.Hash` numbers, as they travel in `hashFunc`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A hash function identified by its Go `crypto.Hash` number.
///
/// The number is kept as sent, so an unknown one survives decoding and can be
/// reported by the receiver ("unsupported hash function 42") instead of
/// failing the whole message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HashFunc(pub u32);

/// Name and output size of each number Go's `crypto` package defines.
const KNOWN: [(&str, usize); 20] = [
    ("unspecified", 0),
    ("MD4", 16),
    ("MD5", 16),
    ("SHA-1", 20),
    ("SHA-224", 28),
    ("SHA-256", 32),
    ("SHA-384", 48),
    ("SHA-512", 64),
    ("MD5+SHA1", 36),
    ("RIPEMD-160", 20),
    ("SHA3-224", 28),
    ("SHA3-256", 32),
    ("SHA3-384", 48),
    ("SHA3-512", 64),
    ("SHA-512/224", 28),
    ("SHA-512/256", 32),
    ("BLAKE2s-256", 32),
    ("BLAKE2b-256", 32),
    ("BLAKE2b-384", 48),
    ("BLAKE2b-512", 64),
];

impl HashFunc {
    /// No hash function given (Go's zero value).
    pub const UNSPECIFIED: Self = Self(0);
    /// MD4.
    pub const MD4: Self = Self(1);
    /// MD5.
    pub const MD5: Self = Self(2);
    /// SHA-1.
    pub const SHA1: Self = Self(3);
    /// SHA-224.
    pub const SHA224: Self = Self(4);
    /// SHA-256, what cosign always loads a plugin with.
    pub const SHA256: Self = Self(5);
    /// SHA-384.
    pub const SHA384: Self = Self(6);
    /// SHA-512.
    pub const SHA512: Self = Self(7);
    /// MD5 and SHA-1 concatenated (TLS 1.0 RSA signatures).
    pub const MD5SHA1: Self = Self(8);
    /// RIPEMD-160.
    pub const RIPEMD160: Self = Self(9);
    /// SHA3-224.
    pub const SHA3_224: Self = Self(10);
    /// SHA3-256.
    pub const SHA3_256: Self = Self(11);
    /// SHA3-384.
    pub const SHA3_384: Self = Self(12);
    /// SHA3-512.
    pub const SHA3_512: Self = Self(13);
    /// SHA-512/224.
    pub const SHA512_224: Self = Self(14);
    /// SHA-512/256.
    pub const SHA512_256: Self = Self(15);
    /// BLAKE2s-256.
    pub const BLAKE2S_256: Self = Self(16);
    /// BLAKE2b-256.
    pub const BLAKE2B_256: Self = Self(17);
    /// BLAKE2b-384.
    pub const BLAKE2B_384: Self = Self(18);
    /// BLAKE2b-512.
    pub const BLAKE2B_512: Self = Self(19);

    /// Every number Go defines, in order.
    pub fn all_known() -> impl Iterator<Item = HashFunc> {
        (0..KNOWN.len() as u32).map(HashFunc)
    }

    /// Go's `crypto.Hash` number.
    pub fn number(self) -> u32 {
        self.0
    }

    /// Whether Go defines this number.
    pub fn is_known(self) -> bool {
        (self.0 as usize) < KNOWN.len()
    }

    /// Human name (`"SHA-256"`), or `None` for a number Go does not define.
    pub fn name(self) -> Option<&'static str> {
        KNOWN.get(self.0 as usize).map(|(name, _)| *name)
    }

    /// Output size in bytes, or `None` when unknown or unspecified.
    pub fn digest_size(self) -> Option<usize> {
        match KNOWN.get(self.0 as usize) {
            Some((_, 0)) | None => None,
            Some((_, size)) => Some(*size),
        }
    }

    /// The function with this name as [`HashFunc::name`] spells it.
    pub fn from_name(name: &str) -> Option<Self> {
        KNOWN
            .iter()
            .position(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|index| HashFunc(index as u32))
    }
}

impl fmt::Display for HashFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown hash function {}", self.0),
        }
    }
}

impl From<u32> for HashFunc {
    fn from(number: u32) -> Self {
        HashFunc(number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sizes_follow_go_numbering() {
        assert_eq!(HashFunc::SHA256.name(), Some("SHA-256"));
        assert_eq!(HashFunc::SHA256.digest_size(), Some(32));
        assert_eq!(HashFunc::SHA384.digest_size(), Some(48));
        assert_eq!(HashFunc::SHA512.digest_size(), Some(64));
        assert_eq!(HashFunc::BLAKE2B_512.name(), Some("BLAKE2b-512"));
        assert_eq!(HashFunc::UNSPECIFIED.digest_size(), None);
        assert_eq!(HashFunc::all_known().count(), 20);
    }

    #[test]
    fn unknown_number_is_kept_and_named_in_display() {
        let unknown = HashFunc(42);
        assert!(!unknown.is_known());
        assert_eq!(unknown.name(), None);
        assert_eq!(unknown.to_string(), "unknown hash function 42");
        let decoded: HashFunc = serde_json::from_str("42").unwrap();
        assert_eq!(decoded, unknown);
        assert_eq!(serde_json::to_string(&decoded).unwrap(), "42");
    }

    #[test]
    fn from_name_inverts_name() {
        for hash in HashFunc::all_known() {
            assert_eq!(HashFunc::from_name(hash.name().unwrap()), Some(hash));
        }
        assert_eq!(HashFunc::from_name("sha-256"), Some(HashFunc::SHA256));
        assert_eq!(HashFunc::from_name("whirlpool"), None);
    }

    #[test]
    fn negative_number_is_a_decode_error() {
        assert!(serde_json::from_str::<HashFunc>("-1").is_err());
    }
}
