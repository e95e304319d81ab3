//! Which bytes get signed: the hash function of a call, the digest sent or
//! the message hashed as it streams.

use std::io::{self, Read};

use sha2::digest::DynDigest;
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
/// else `message` hashed with [`hash_message`]. When a digest of the right
/// length is given the message is not read.
///
/// A digest whose length contradicts `hash_func` is what cosign 3 sends
/// for P-384 keys (cosign issue 5018): the declared hash is SHA-256, the
/// digest is the message's SHA-384, and the message itself comes on stdin
/// too. cosign then verifies the signature over SHA-256 of the message, so
/// that is what is signed: the message is read and hashed with
/// `hash_func`, after checking that the digest sent is the message's
/// digest under the hash its length names (nothing but the message the
/// request identifies is ever signed). Without a message whose digest it
/// is, the request is refused with [`HandlerError::DigestWithoutMessage`]
/// or [`HandlerError::DigestNotOfMessage`]; a length no hash function here
/// has is [`HandlerError::DigestLength`].
pub fn message_digest(
    hash_func: HashFunc,
    digest: Option<&[u8]>,
    message: &mut dyn Read,
) -> Result<Vec<u8>, HandlerError> {
    let digest = match digest {
        Some(digest) if !digest.is_empty() => digest,
        _ => return hash_message(hash_func, message),
    };
    let length_error = match check_digest_length(hash_func, digest) {
        Ok(()) => return Ok(digest.to_vec()),
        Err(err @ HandlerError::DigestLength { .. }) => err,
        Err(other) => return Err(other),
    };
    let Some(digest_hash) = HASHABLE
        .into_iter()
        .find(|hash| hash.digest_size() == Some(digest.len()))
    else {
        return Err(length_error);
    };
    let (declared, of_message, length) = hash_twice(hash_func, digest_hash, message)?;
    if of_message == digest {
        return Ok(declared);
    }
    Err(if length == 0 {
        HandlerError::DigestWithoutMessage {
            hash_func,
            digest_hash,
        }
    } else {
        HandlerError::DigestNotOfMessage {
            hash_func,
            digest_hash,
        }
    })
}

/// Whether [`message_digest`] reads `message` for this `digest`: when
/// none was sent, and when it has the length of another hash than
/// `hash_func` (cosign 3 with P-384 keys sends the message as well); never
/// for a `hash_func` it cannot compute. A plugin that passes a call on to
/// another process sends the message exactly then, so that the answer is
/// the one it would give itself.
pub fn digest_reads_message(hash_func: HashFunc, digest: Option<&[u8]>) -> bool {
    if !HASHABLE.contains(&hash_func) {
        return false;
    }
    let Some(digest) = digest.filter(|digest| !digest.is_empty()) else {
        return true;
    };
    matches!(
        check_digest_length(hash_func, digest),
        Err(HandlerError::DigestLength { .. })
    ) && HASHABLE
        .into_iter()
        .any(|hash| hash.digest_size() == Some(digest.len()))
}

/// Hashes `message` with `first` and `second` (each one of [`HASHABLE`])
/// in one pass, in constant memory; also returns how many bytes it held.
fn hash_twice(
    first: HashFunc,
    second: HashFunc,
    message: &mut dyn Read,
) -> Result<(Vec<u8>, Vec<u8>, u64), HandlerError> {
    let mut first_hasher = boxed_hasher(first)?;
    let mut second_hasher = boxed_hasher(second)?;
    let mut length = 0u64;
    let mut buffer = vec![0; READ_BUFFER_SIZE];
    loop {
        match message.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => {
                first_hasher.update(&buffer[..read]);
                second_hasher.update(&buffer[..read]);
                length += read as u64;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(HandlerError::ReadMessage(err)),
        }
    }
    Ok((
        first_hasher.finalize().into_vec(),
        second_hasher.finalize().into_vec(),
        length,
    ))
}

fn boxed_hasher(hash_func: HashFunc) -> Result<Box<dyn DynDigest>, HandlerError> {
    Ok(match hash_func {
        HashFunc::SHA256 => Box::new(Sha256::new()),
        HashFunc::SHA384 => Box::new(Sha384::new()),
        HashFunc::SHA512 => Box::new(Sha512::new()),
        other => return Err(HandlerError::UnsupportedHashFunc(other)),
    })
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
    fn digest_reads_message_tells_when_the_message_is_read() {
        /// A message that records whether it was read.
        struct Watched(bool);
        impl Read for Watched {
            fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
                self.0 = true;
                Ok(0)
            }
        }
        let digests: [Option<&[u8]>; 6] = [
            None,
            Some(&[]),
            Some(&[1; 32]),
            Some(&[1; 48]),
            Some(&[1; 64]),
            Some(&[1; 20]),
        ];
        for hash in [
            HashFunc::SHA256,
            HashFunc::SHA384,
            HashFunc::SHA512,
            HashFunc(42),
        ] {
            for digest in digests {
                let mut message = Watched(false);
                let _ = message_digest(hash, digest, &mut message);
                assert_eq!(
                    digest_reads_message(hash, digest),
                    message.0,
                    "{hash:?} with a digest of {:?} bytes",
                    digest.map(<[u8]>::len)
                );
            }
        }
    }

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

    struct Unreadable;
    impl Read for Unreadable {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("must not be read"))
        }
    }

    #[test]
    fn given_digest_is_checked_and_the_message_left_unread() {
        let digest = [1u8; 48];
        let got = message_digest(HashFunc::SHA384, Some(&digest), &mut Unreadable).unwrap();
        assert_eq!(got, digest);
        let err = message_digest(HashFunc::SHA256, Some(&[1u8; 20]), &mut Unreadable).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the digest is 20 bytes long, but a SHA-256 digest is 32 bytes"
        );
        let err = message_digest(HashFunc::SHA256, None, &mut Unreadable).unwrap_err();
        assert!(err.to_string().contains("must not be read"), "{err}");
    }

    #[test]
    fn digest_of_another_hash_means_the_declared_hash_of_the_message_it_digests() {
        let message = vec![5u8; READ_BUFFER_SIZE * 2 + 3];
        for (declared, sent) in [
            (HashFunc::SHA256, Sha384::digest(&message).to_vec()),
            (HashFunc::SHA256, Sha512::digest(&message).to_vec()),
            (HashFunc::SHA384, Sha256::digest(&message).to_vec()),
        ] {
            let got = message_digest(declared, Some(&sent), &mut &message[..]).unwrap();
            assert_eq!(got, hash_message(declared, &mut &message[..]).unwrap());
        }
        // The empty message is a message: its digest identifies it.
        let got = message_digest(HashFunc::SHA256, Some(&Sha384::digest(b"")), &mut &b""[..]);
        assert_eq!(got.unwrap(), Sha256::digest(b"").to_vec());
    }

    #[test]
    fn digest_of_another_hash_without_its_message_is_refused() {
        let sent = Sha384::digest(b"the message").to_vec();
        let err = message_digest(HashFunc::SHA256, Some(&sent), &mut &b""[..]).unwrap_err();
        assert!(
            matches!(
                err,
                HandlerError::DigestWithoutMessage {
                    hash_func: HashFunc::SHA256,
                    digest_hash: HashFunc::SHA384
                }
            ),
            "{err:?}"
        );
        let err = message_digest(HashFunc::SHA256, Some(&sent), &mut &b"another"[..]).unwrap_err();
        assert!(
            matches!(err, HandlerError::DigestNotOfMessage { .. }),
            "{err:?}"
        );
        let err = message_digest(HashFunc::SHA256, Some(&sent), &mut Unreadable).unwrap_err();
        assert!(matches!(err, HandlerError::ReadMessage(_)), "{err:?}");
    }

    #[test]
    fn digest_of_a_hash_function_without_size_is_unsupported() {
        let err = check_digest_length(HashFunc(0), &[1; 32]).unwrap_err();
        assert!(matches!(err, HandlerError::UnsupportedHashFunc(_)));
    }
}
