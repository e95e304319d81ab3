//! Which bytes get signed: the hash function of a call, the digest sent or
//! the message hashed as it streams.

use std::io::{self, Read};

use sha2::{Digest, Sha256, Sha384, Sha512};
use sigstore_kms_protocol::{HashFunc, InitOptions, MessageOptions};

use crate::HandlerError;

/// Bytes read from the message per step: large enough that hashing a
/// multi-GiB stream is not dominated by system calls, small enough to stay
/// in the CPU's cache from the kernel's copy to the hash (256 KiB doubled
/// the system time of reading a pipe; see BENCHMARKS.md).
const READ_BUFFER_SIZE: usize = 64 * 1024;

/// The hash functions [`hash_message`] computes.
pub const HASHABLE: [HashFunc; 3] = [HashFunc::SHA256, HashFunc::SHA384, HashFunc::SHA512];

/// The hash function of a `signMessage` or `verifySignature` call:
/// `messageOptions.hashFunc` when the host sent one, else
/// `initOptions.hashFunc`.
pub fn choose_hash_func(message: &MessageOptions, init: &InitOptions) -> HashFunc {
    message.effective_hash_func(init)
}

/// Checks that `digest` is as long as `hash_func`'s output.
///
/// A hash function without a known output size (unspecified, or a number
/// Go does not define) is [`HandlerError::UnsupportedHashFunc`].
pub fn check_digest_length(hash_func: HashFunc, digest: &[u8]) -> Result<(), HandlerError> {
    let expected = hash_func
        .digest_size()
        .ok_or(HandlerError::UnsupportedHashFunc(hash_func))?;
    if digest.len() == expected {
        Ok(())
    } else {
        Err(HandlerError::DigestLength {
            hash_func,
            expected,
            actual: digest.len(),
        })
    }
}

/// Hashes everything `message` yields with `hash_func` (SHA-256, SHA-384
/// or SHA-512), reading in fixed-size steps so that memory use does not
/// depend on the message size.
pub fn hash_message(hash_func: HashFunc, message: &mut dyn Read) -> Result<Vec<u8>, HandlerError> {
    let digest = match hash_func {
        HashFunc::SHA256 => hash_stream::<Sha256>(message),
        HashFunc::SHA384 => hash_stream::<Sha384>(message),
        HashFunc::SHA512 => hash_stream::<Sha512>(message),
        other => return Err(HandlerError::UnsupportedHashFunc(other)),
    };
    digest.map_err(HandlerError::ReadMessage)
}

/// The digest to sign or verify: `digest` when given (its length checked),
/// else `message` hashed with [`hash_message`]. When a digest is given the
/// message is not read.
pub fn message_digest(
    hash_func: HashFunc,
    digest: Option<&[u8]>,
    message: &mut dyn Read,
) -> Result<Vec<u8>, HandlerError> {
    match digest {
        Some(digest) if !digest.is_empty() => {
            check_digest_length(hash_func, digest)?;
            Ok(digest.to_vec())
        }
        _ => hash_message(hash_func, message),
    }
}

fn hash_stream<D: Digest>(message: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut hasher = D::new();
    let mut buffer = vec![0; READ_BUFFER_SIZE];
    loop {
        match message.read(&mut buffer) {
            Ok(0) => return Ok(hasher.finalize().to_vec()),
            Ok(read) => hasher.update(&buffer[..read]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_known_vectors() {
        let abc = |hash| hash_message(hash, &mut &b"abc"[..]).unwrap();
        assert_eq!(
            abc(HashFunc::SHA256)[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "SHA-256(abc)"
        );
        assert_eq!(abc(HashFunc::SHA384)[..4], [0xcb, 0x00, 0x75, 0x3f]);
        assert_eq!(abc(HashFunc::SHA512)[..4], [0xdd, 0xaf, 0x35, 0xa1]);
    }

    #[test]
    fn hashing_spans_many_reads() {
        let big = vec![7u8; READ_BUFFER_SIZE * 3 + 11];
        let streamed = hash_message(HashFunc::SHA256, &mut &big[..]).unwrap();
        assert_eq!(streamed, Sha256::digest(&big).to_vec());
    }

    #[test]
    fn other_hash_functions_are_refused_when_hashing() {
        for hash in [
            HashFunc::SHA1,
            HashFunc::SHA3_256,
            HashFunc(0),
            HashFunc(42),
        ] {
            let err = hash_message(hash, &mut &b""[..]).unwrap_err();
            assert!(matches!(err, HandlerError::UnsupportedHashFunc(h) if h == hash));
        }
    }

    #[test]
    fn given_digest_is_checked_and_the_message_left_unread() {
        struct Unreadable;
        impl Read for Unreadable {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("must not be read"))
            }
        }
        let digest = [1u8; 48];
        let got = message_digest(HashFunc::SHA384, Some(&digest), &mut Unreadable).unwrap();
        assert_eq!(got, digest);
        let err = message_digest(HashFunc::SHA256, Some(&digest), &mut Unreadable).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the digest is 48 bytes long, but a SHA-256 digest is 32 bytes"
        );
        let err = message_digest(HashFunc::SHA256, None, &mut Unreadable).unwrap_err();
        assert!(err.to_string().contains("must not be read"), "{err}");
    }

    #[test]
    fn digest_of_a_hash_function_without_size_is_unsupported() {
        let err = check_digest_length(HashFunc(0), &[1; 32]).unwrap_err();
        assert!(matches!(err, HandlerError::UnsupportedHashFunc(_)));
    }
}
