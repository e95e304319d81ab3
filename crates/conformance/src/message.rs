//! Messages to sign: made on the fly, so a large one never sits in memory.

use std::io::{self, Read};

use sha2::{Digest, Sha256, Sha512};
use sigstore_kms_protocol::HashFunc;

/// `len` bytes of a deterministic pseudo-random stream, seeded by `seed`.
#[derive(Clone, Debug)]
pub(crate) struct GeneratedMessage {
    state: u64,
    remaining: u64,
}

impl GeneratedMessage {
    pub(crate) fn new(seed: u64, len: u64) -> Self {
        GeneratedMessage {
            // xorshift must not start at zero.
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            remaining: len,
        }
    }
}

impl Read for GeneratedMessage {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        for chunk in buf[..len].chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            chunk.copy_from_slice(&self.state.to_le_bytes()[..chunk.len()]);
        }
        self.remaining -= len as u64;
        Ok(len)
    }
}

/// The digest of everything `reader` yields, computed as it is read.
pub(crate) fn digest_of(hash: HashFunc, mut reader: impl Read) -> io::Result<Vec<u8>> {
    fn run<D: Digest>(mut reader: impl Read) -> io::Result<Vec<u8>> {
        let mut hasher = D::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) => return Ok(hasher.finalize().to_vec()),
                Ok(n) => hasher.update(&chunk[..n]),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
    match hash {
        HashFunc::SHA512 => run::<Sha512>(&mut reader),
        _ => run::<Sha256>(&mut reader),
    }
}
