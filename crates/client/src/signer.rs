//! A plugin key as a RustCrypto ECDSA P-256 signer.

use p256::ecdsa::{DerSignature, Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use signature::hazmat::PrehashSigner;
use signature::{DigestSigner, Keypair, Signer};

use sigstore_kms_protocol::HashFunc;

use crate::{CallOptions, Client, Error, PublicKey};

/// An ECDSA P-256 key held by a plugin, usable wherever RustCrypto's
/// `signature` traits are: [`Keypair`], [`PrehashSigner`], [`DigestSigner`]
/// (SHA-256) and [`Signer`], for both fixed-size [`Signature`] and
/// [`DerSignature`].
///
/// The public key is fetched once, when the signer is built, so a missing or
/// unsuitable key fails there. Messages are hashed locally with SHA-256;
/// only the digest goes to the plugin. Call failures surface as
/// [`signature::Error`] whose source is the [`Error`].
#[derive(Clone, Debug)]
pub struct PluginSigner {
    client: Client,
    options: CallOptions,
    public_key: PublicKey,
    verifying_key: VerifyingKey,
}

impl PluginSigner {
    /// Fetches the key's public half and checks that it is ECDSA P-256.
    pub fn new(client: Client) -> Result<Self, Error> {
        Self::with_options(client, CallOptions::new())
    }

    /// Like [`PluginSigner::new`], with options (deadline, key version)
    /// used for the `publicKey` call and every signature. A digest or hash
    /// function set in `options` is ignored: each signature sets its own.
    pub fn with_options(client: Client, options: CallOptions) -> Result<Self, Error> {
        let public_key = client.public_key(&options)?;
        let verifying_key = public_key.p256_verifying_key()?;
        Ok(PluginSigner {
            client,
            options,
            public_key,
            verifying_key,
        })
    }

    /// The key's public half, as the plugin sent it.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The client the signer calls.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn sign_prehash(&self, prehash: &[u8]) -> Result<Signature, signature::Error> {
        let hash_func = match prehash.len() {
            32 => HashFunc::SHA256,
            48 => HashFunc::SHA384,
            64 => HashFunc::SHA512,
            _ => return Err(signature::Error::new()),
        };
        let der = self
            .client
            .sign_digest(prehash, hash_func, &self.options)
            .map_err(signature::Error::from_source)?;
        Signature::from_der(&der)
    }
}

impl Keypair for PluginSigner {
    type VerifyingKey = VerifyingKey;

    fn verifying_key(&self) -> VerifyingKey {
        self.verifying_key
    }
}

impl PrehashSigner<Signature> for PluginSigner {
    fn sign_prehash(&self, prehash: &[u8]) -> Result<Signature, signature::Error> {
        PluginSigner::sign_prehash(self, prehash)
    }
}

impl PrehashSigner<DerSignature> for PluginSigner {
    fn sign_prehash(&self, prehash: &[u8]) -> Result<DerSignature, signature::Error> {
        PluginSigner::sign_prehash(self, prehash).map(|signature| signature.to_der())
    }
}

impl DigestSigner<Sha256, Signature> for PluginSigner {
    fn try_sign_digest<F: Fn(&mut Sha256) -> Result<(), signature::Error>>(
        &self,
        update: F,
    ) -> Result<Signature, signature::Error> {
        let mut digest = Sha256::new();
        update(&mut digest)?;
        PluginSigner::sign_prehash(self, &digest.finalize())
    }
}

impl DigestSigner<Sha256, DerSignature> for PluginSigner {
    fn try_sign_digest<F: Fn(&mut Sha256) -> Result<(), signature::Error>>(
        &self,
        update: F,
    ) -> Result<DerSignature, signature::Error> {
        let mut digest = Sha256::new();
        update(&mut digest)?;
        PrehashSigner::<DerSignature>::sign_prehash(self, &digest.finalize())
    }
}

impl Signer<Signature> for PluginSigner {
    fn try_sign(&self, message: &[u8]) -> Result<Signature, signature::Error> {
        PluginSigner::sign_prehash(self, &Sha256::digest(message))
    }
}

impl Signer<DerSignature> for PluginSigner {
    fn try_sign(&self, message: &[u8]) -> Result<DerSignature, signature::Error> {
        PrehashSigner::<DerSignature>::sign_prehash(self, &Sha256::digest(message))
    }
}
