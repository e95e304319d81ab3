//! The hash a signature is made over, by cosign's names, and the digests of
//! a blob under each of them.

use std::fmt;
use std::io::{self, Read};

use sha2::digest::DynDigest;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use sigstore_kms_client::HashFunc;

/// The hash of a signature, as cosign's `--signature-digest-algorithm`
/// names it.
///
/// Stock cosign's `verify-blob` checks bare signatures over SHA-256 for
/// every key type and has no flag to change it, so SHA-256 is the default
/// of both `sign-blob` and `verify-blob`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SignatureDigest {
    /// SHA-224.
    Sha224,
    /// SHA-256: what stock cosign verifies.
    #[default]
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl SignatureDigest {
    /// Every algorithm, in the order the others are tried when a signature
    /// fails.
    pub const ALL: [SignatureDigest; 4] = [
        SignatureDigest::Sha256,
        SignatureDigest::Sha384,
        SignatureDigest::Sha512,
        SignatureDigest::Sha224,
    ];

    /// The protocol's hash function.
    pub fn hash_func(self) -> HashFunc {
        match self {
            SignatureDigest::Sha224 => HashFunc::SHA224,
            SignatureDigest::Sha256 => HashFunc::SHA256,
            SignatureDigest::Sha384 => HashFunc::SHA384,
            SignatureDigest::Sha512 => HashFunc::SHA512,
        }
    }

    /// The flag value, as cosign spells it.
    pub fn flag_value(self) -> &'static str {
        match self {
            SignatureDigest::Sha224 => "sha224",
            SignatureDigest::Sha256 => "sha256",
            SignatureDigest::Sha384 => "sha384",
            SignatureDigest::Sha512 => "sha512",
        }
    }

    /// The flag values of the other algorithms, as "a, b or c".
    pub fn others(self) -> String {
        let others: Vec<&str> = [Self::Sha224, Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .filter(|other| *other != self)
            .map(Self::flag_value)
            .collect();
        match others.split_last() {
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }

    /// The name of the algorithm in a Sigstore bundle's `messageDigest`
    /// (protobuf-specs `HashAlgorithm`).
    pub fn bundle_name(self) -> &'static str {
        match self {
            SignatureDigest::Sha224 => "SHA2_224",
            SignatureDigest::Sha256 => "SHA2_256",
            SignatureDigest::Sha384 => "SHA2_384",
            SignatureDigest::Sha512 => "SHA2_512",
        }
    }

    /// The algorithm a bundle names, if it is one of these.
    pub fn from_bundle_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|algorithm| algorithm.bundle_name() == name)
    }

    fn hasher(self) -> Box<dyn DynDigest + Send> {
        match self {
            SignatureDigest::Sha224 => Box::new(Sha224::new()),
            SignatureDigest::Sha256 => Box::new(Sha256::new()),
            SignatureDigest::Sha384 => Box::new(Sha384::new()),
            SignatureDigest::Sha512 => Box::new(Sha512::new()),
        }
    }

    /// Hashes everything `reader` yields.
    pub fn hash(self, reader: impl Read) -> io::Result<Vec<u8>> {
        Ok(BlobDigests::read(reader, &[self])?.get(self).to_vec())
    }
}

impl fmt::Display for SignatureDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.hash_func(), f)
    }
}

/// The digests of one blob under several algorithms, computed in a single
/// pass over it (stdin cannot be read twice).
pub struct BlobDigests {
    digests: Vec<(SignatureDigest, Vec<u8>)>,
}

impl BlobDigests {
    /// Reads `reader` to its end in fixed-size steps, hashing with each of
    /// `algorithms`.
    pub fn read(mut reader: impl Read, algorithms: &[SignatureDigest]) -> io::Result<Self> {
        let mut hashers: Vec<_> = algorithms
            .iter()
            .map(|&algorithm| (algorithm, algorithm.hasher()))
            .collect();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => hashers
                    .iter_mut()
                    .for_each(|(_, hasher)| hasher.update(&chunk[..n])),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(BlobDigests {
            digests: hashers
                .into_iter()
                .map(|(algorithm, hasher)| (algorithm, hasher.finalize().into_vec()))
                .collect(),
        })
    }

    /// The digest under `algorithm`; empty when it was not computed.
    pub fn get(&self, algorithm: SignatureDigest) -> &[u8] {
        self.digests
            .iter()
            .find(|(computed, _)| *computed == algorithm)
            .map_or(&[][..], |(_, digest)| digest)
    }

    /// Every algorithm computed, with its digest.
    pub fn iter(&self) -> impl Iterator<Item = (SignatureDigest, &[u8])> {
        self.digests
            .iter()
            .map(|(algorithm, digest)| (*algorithm, digest.as_slice()))
    }
}

/// A reader that hashes the bytes read through it: the digest of a blob
/// streamed to a plugin, which cannot be read a second time.
pub struct HashingReader<R> {
    inner: R,
    hasher: Box<dyn DynDigest + Send>,
}

impl<R: Read> HashingReader<R> {
    /// Reads `inner`, hashing with `algorithm`.
    pub fn new(inner: R, algorithm: SignatureDigest) -> Self {
        HashingReader {
            inner,
            hasher: algorithm.hasher(),
        }
    }

    /// The digest of what was read.
    pub fn finish(self) -> Vec<u8> {
        self.hasher.finalize().into_vec()
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_gives_each_algorithms_known_digest() {
        let digests = BlobDigests::read(&b"abc"[..], &SignatureDigest::ALL).unwrap();
        let prefix = |algorithm| digests.get(algorithm)[..4].to_vec();
        assert_eq!(prefix(SignatureDigest::Sha224), [0x23, 0x09, 0x7d, 0x22]);
        assert_eq!(prefix(SignatureDigest::Sha256), [0xba, 0x78, 0x16, 0xbf]);
        assert_eq!(prefix(SignatureDigest::Sha384), [0xcb, 0x00, 0x75, 0x3f]);
        assert_eq!(prefix(SignatureDigest::Sha512), [0xdd, 0xaf, 0x35, 0xa1]);
    }

    #[test]
    fn the_hashing_reader_hashes_what_passes() {
        let mut reader = HashingReader::new(&b"abc"[..], SignatureDigest::Sha256);
        let mut read = Vec::new();
        reader.read_to_end(&mut read).unwrap();
        assert_eq!(read, b"abc");
        assert_eq!(reader.finish()[..4], [0xba, 0x78, 0x16, 0xbf]);
    }

    #[test]
    fn bundle_names_round_trip() {
        for algorithm in SignatureDigest::ALL {
            assert_eq!(
                SignatureDigest::from_bundle_name(algorithm.bundle_name()),
                Some(algorithm)
            );
        }
        assert_eq!(SignatureDigest::from_bundle_name("SHA3_256"), None);
    }

    #[test]
    fn others_lists_every_other_flag_value() {
        assert_eq!(SignatureDigest::Sha256.others(), "sha224, sha384 or sha512");
        assert_eq!(SignatureDigest::Sha512.others(), "sha224, sha256 or sha384");
    }
}
