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

use std::collections::HashMap;
use std::process;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use cryptoki::object::{ObjectClass, ObjectHandle};
use sha2::{Digest as _, Sha256};
use sigstore_kms_protocol::HashFunc;

use crate::algorithm::Algorithm;
use crate::error::HsmError;
use crate::keys::{KeyMaterial, KeyPair, Origin};
use crate::public_key::PublicKey;
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

    /// Like [`TokenSession::verifying_key`], answered from `checked` when
    /// the key's objects are those it was checked with: the same private
    /// key, the same public-key objects holding the same public key. A
    /// key made, removed or replaced under the key's label and id is
    /// checked again.
    pub fn verifying_key_checked(
        &self,
        uri: &KeyUri,
        checked: &CheckedKeys,
    ) -> Result<KeyPair, HsmError> {
        let Some(private) = self.find_one(uri, ObjectClass::PRIVATE_KEY, Origin::PinHolder)? else {
            return self.verifying_key(uri);
        };
        let mut publics = self.find_all(uri, ObjectClass::PUBLIC_KEY, Origin::Anyone)?;
        publics.sort_by_key(|handle| handle.handle());
        let key = CheckedKey {
            slot: self.token.slot.id(),
            object: uri.object.clone(),
            id: uri.id.clone(),
        };
        let hit = checked
            .lock()
            .get(&key)
            .filter(|known| known.private == private && known.publics == publics)
            .map(|known| (known.public_handle, known.public.clone()));
        if let Some((public_handle, public)) = hit {
            // The object behind a handle is read again: what the handle
            // names must still hold the key that was checked.
            let same = match public_handle {
                Some(handle) => self.read_public_key(uri, handle).ok().as_ref() == Some(&public),
                None => {
                    matches!(self.read_key(uri, private)?, KeyMaterial::Public(key) if key == public)
                }
            };
            if same {
                return Ok(KeyPair {
                    public_handle,
                    public,
                });
            }
        }
        let pair = self.pair_of(uri, private)?;
        checked.lock().insert(
            key,
            Checked {
                private,
                publics,
                public_handle: pair.public_handle,
                public: pair.public.clone(),
            },
        );
        Ok(pair)
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

/// The public keys a process has checked against their private keys
/// (for EC keys, with a signature), by token and key: the agent keeps them
/// for as long as its module stays loaded, so that a `publicKey` call costs
/// a search for the key's objects instead of a signature.
#[derive(Default)]
pub struct CheckedKeys(Mutex<HashMap<CheckedKey, Checked>>);

impl CheckedKeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CheckedKey, Checked>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets every key: the module was loaded again, and its handles
    /// name other objects.
    #[cfg_attr(not(unix), allow(dead_code))] // the agent is Unix only
    pub fn clear(&self) {
        self.lock().clear();
    }
}

/// A key as a reference selects it in a token.
#[derive(PartialEq, Eq, Hash)]
struct CheckedKey {
    slot: u64,
    object: Option<String>,
    id: Option<Vec<u8>>,
}

/// The objects a key was checked with, and the result.
struct Checked {
    private: ObjectHandle,
    /// Every public-key object with the key's label and id, whoever made
    /// it, by handle.
    publics: Vec<ObjectHandle>,
    public_handle: Option<ObjectHandle>,
    public: PublicKey,
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
