//! The key pair a reference names, each half made by someone with the PIN.
//!
//! A session without the PIN can make, see and destroy every object with
//! `CKA_PRIVATE=false`, so such an object proves nothing by its label. A
//! private key counts only if it is private. A public key is taken from
//! the private key where the token gives it (RSA's modulus and exponent,
//! an EC point); otherwise a public-key object counts only if it verifies a
//! signature the private key makes for the purpose. Public-key objects made
//! by older versions of this plugin were not private, and are checked the
//! same way.

use std::process;
use std::time::{SystemTime, UNIX_EPOCH};

use cryptoki::object::{ObjectClass, ObjectHandle};
use sha2::{Digest as _, Sha256};
use sigstore_kms_protocol::HashFunc;

use crate::algorithm::Algorithm;
use crate::error::HsmError;
use crate::keys::{KeyMaterial, KeyPair, Origin};
use crate::token::TokenSession;
use crate::uri::KeyUri;

/// A private key and its algorithm, as its own attributes state it.
pub struct SigningKey {
    /// The private key object.
    pub handle: ObjectHandle,
    /// Its algorithm.
    pub algorithm: Algorithm,
}

impl TokenSession<'_> {
    /// The private key `uri` names, which must exist.
    pub fn signing_key(&self, uri: &KeyUri) -> Result<SigningKey, HsmError> {
        let handle = self
            .find_one(uri, ObjectClass::PRIVATE_KEY, Origin::PinHolder)?
            .ok_or_else(|| self.not_found(uri, "private key"))?;
        let algorithm = self.read_key(uri, handle)?.algorithm();
        Ok(SigningKey { handle, algorithm })
    }

    /// The key pair `uri` names, or `None` when the token holds neither
    /// half. A public key made with the PIN without its private key is an
    /// error.
    pub fn find_key_pair(&self, uri: &KeyUri) -> Result<Option<KeyPair>, HsmError> {
        match self.find_one(uri, ObjectClass::PRIVATE_KEY, Origin::PinHolder)? {
            Some(private) => self.pair_of(uri, private).map(Some),
            None if self
                .find_all(uri, ObjectClass::PUBLIC_KEY, Origin::PinHolder)?
                .is_empty() =>
            {
                Ok(None)
            }
            None => Err(HsmError::OrphanPublicKey {
                token: self.token.label.clone(),
                key: uri.to_string(),
            }),
        }
    }

    /// The public key to verify with: that of the key pair `uri` names, or,
    /// in a token that holds only the public half, the one private
    /// public-key object with its label and id.
    pub fn verifying_key(&self, uri: &KeyUri) -> Result<KeyPair, HsmError> {
        if let Some(private) = self.find_one(uri, ObjectClass::PRIVATE_KEY, Origin::PinHolder)? {
            return self.pair_of(uri, private);
        }
        let Some(handle) = self.find_one(uri, ObjectClass::PUBLIC_KEY, Origin::PinHolder)? else {
            let anyones = self.find_all(uri, ObjectClass::PUBLIC_KEY, Origin::Anyone)?;
            return Err(if anyones.is_empty() {
                self.not_found(uri, "private key")
            } else {
                HsmError::UntrustedPublicKey {
                    token: self.token.label.clone(),
                    key: uri.to_string(),
                }
            });
        };
        Ok(KeyPair {
            public_handle: Some(handle),
            public: self.read_public_key(uri, handle)?,
        })
    }

    /// The key pair of the private key `private`.
    fn pair_of(&self, uri: &KeyUri, private: ObjectHandle) -> Result<KeyPair, HsmError> {
        let material = self.read_key(uri, private)?;
        let algorithm = material.algorithm();
        // Objects that cannot be read, or hold a key of another algorithm,
        // are not this key's public half, whoever put them there.
        let candidates: Vec<_> = self
            .find_all(uri, ObjectClass::PUBLIC_KEY, Origin::Anyone)?
            .into_iter()
            .filter_map(|handle| {
                let key = self.read_public_key(uri, handle).ok()?;
                (key.algorithm() == algorithm).then_some((handle, key))
            })
            .collect();
        if let KeyMaterial::Public(public) = material {
            let public_handle = candidates
                .into_iter()
                .find_map(|(handle, key)| (key == public).then_some(handle));
            return Ok(KeyPair {
                public_handle,
                public,
            });
        }
        if !candidates.is_empty() {
            let digest = probe_digest();
            let input = algorithm.token_input(HashFunc::SHA256, &digest)?;
            let signature =
                algorithm.signature_from_token(self.sign(private, algorithm, &input)?)?;
            for (handle, key) in candidates {
                if key.verify(HashFunc::SHA256, &digest, &signature).is_ok() {
                    return Ok(KeyPair {
                        public_handle: Some(handle),
                        public: key,
                    });
                }
            }
        }
        Err(HsmError::PublicKeyMismatch {
            token: self.token.label.clone(),
            key: uri.to_string(),
        })
    }
}

/// A digest no one can know in advance, for the private key to sign once.
fn probe_digest() -> [u8; 32] {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    Sha256::new()
        .chain_update(b"sigstore-kms-hsm: does this public key belong to the private key?")
        .chain_update(now.to_be_bytes())
        .chain_update(process::id().to_be_bytes())
        .finalize()
        .into()
}
