//! Plugin keys as RustCrypto signers: one type, generic over the key type.

use std::fmt;
use std::marker::PhantomData;

use signature::hazmat::PrehashVerifier;
use sigstore_kms_protocol::HashFunc;

use crate::{CallOptions, Client, Error, KeyError, PublicKey};

mod ecdsa;
mod rsa;

/// A key held by a plugin, usable wherever RustCrypto's `signature` traits
/// are: [`Keypair`](signature::Keypair),
/// [`PrehashSigner`](signature::hazmat::PrehashSigner),
/// [`DigestSigner`](signature::DigestSigner), [`Signer`](signature::Signer),
/// and [`SignatureAlgorithmIdentifier`](spki::SignatureAlgorithmIdentifier),
/// so that x509-cert's `CertificateBuilder` and `RequestBuilder` sign with
/// it directly.
///
/// `K` is the key type:
///
/// | `K` | signatures | [`Signer`](signature::Signer) hashes with |
/// |---|---|---|
/// | [`p256::NistP256`] | [`p256::ecdsa::Signature`], [`p256::ecdsa::DerSignature`] | SHA-256 |
/// | [`p384::NistP384`] | [`p384::ecdsa::Signature`], [`p384::ecdsa::DerSignature`] | SHA-384 |
/// | [`p521::NistP521`] | [`p521::ecdsa::Signature`], [`p521::ecdsa::DerSignature`] | SHA-512 |
/// | [`RsaPkcs1v15<D>`] | [`rsa::pkcs1v15::Signature`](::rsa::pkcs1v15::Signature) (PKCS #1 v1.5) | `D`: SHA-256, SHA-384 or SHA-512 |
///
/// The public key is fetched once, when the signer is built, so a missing
/// key, or a key of another type than `K`, fails there. Messages are hashed
/// locally; only the digest goes to the plugin. Call failures surface as
/// [`signature::Error`] whose source is the [`Error`].
///
/// ```no_run
/// use signature::{Keypair, Signer};
/// use sigstore_kms_client::{Client, PluginSigner};
///
/// let client = Client::builder().load("hsm://token=ci;object=release")?;
/// let signer = PluginSigner::<p384::NistP384>::new(client)?;
/// let signature: p384::ecdsa::DerSignature = signer.try_sign(b"hello")?;
/// # let _ = (signature, signer.verifying_key());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PluginSigner<K: KeyType> {
    client: Client,
    options: CallOptions,
    public_key: PublicKey,
    verifying_key: K::VerifyingKey,
}

impl<K: KeyType> PluginSigner<K> {
    /// Fetches the key's public half and checks that it is of type `K`.
    pub fn new(client: Client) -> Result<Self, Error> {
        Self::with_options(client, CallOptions::new())
    }

    /// Like [`PluginSigner::new`], with options (deadline, key version)
    /// used for the `publicKey` call and every signature. A digest or hash
    /// function set in `options` is ignored: each signature sets its own.
    pub fn with_options(client: Client, options: CallOptions) -> Result<Self, Error> {
        let public_key = client.public_key(&options)?;
        let verifying_key = K::verifying_key(&public_key)?;
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

    /// The plugin's signature over `digest`, computed with `hash_func`, as
    /// `decode` reads it; one it cannot read is a [`MalformedSignatureError`],
    /// one that does not verify under the key fetched at construction a
    /// [`SignatureMismatchError`]: a signer never hands out a signature its
    /// own verifying key rejects.
    fn sign_digest<S>(
        &self,
        digest: &[u8],
        hash_func: HashFunc,
        decode: impl FnOnce(&[u8]) -> Result<S, signature::Error>,
    ) -> Result<S, signature::Error>
    where
        K::VerifyingKey: PrehashVerifier<S>,
    {
        let answer = self
            .client
            .sign_digest(digest, hash_func, &self.options)
            .map_err(signature::Error::from_source)?;
        let signature = decode(&answer).map_err(|_| {
            signature::Error::from_source(MalformedSignatureError {
                expected: K::SIGNATURE,
                length: answer.len(),
            })
        })?;
        self.verifying_key
            .verify_prehash(digest, &signature)
            .map_err(|cause| signature::Error::from_source(SignatureMismatchError { cause }))?;
        Ok(signature)
    }
}

impl<K: KeyType> Clone for PluginSigner<K> {
    fn clone(&self) -> Self {
        PluginSigner {
            client: self.client.clone(),
            options: self.options.clone(),
            public_key: self.public_key.clone(),
            verifying_key: self.verifying_key.clone(),
        }
    }
}

impl<K: KeyType> fmt::Debug for PluginSigner<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginSigner")
            .field("key_type", &K::NAME)
            .field("client", &self.client)
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

impl<K: KeyType> signature::Keypair for PluginSigner<K> {
    type VerifyingKey = K::VerifyingKey;

    fn verifying_key(&self) -> K::VerifyingKey {
        self.verifying_key.clone()
    }
}

/// A key type a [`PluginSigner`] signs with: [`p256::NistP256`],
/// [`p384::NistP384`], [`p521::NistP521`] or [`RsaPkcs1v15`]. Sealed.
pub trait KeyType: sealed::Sealed {
    /// The key type's name in messages, e.g. `ECDSA P-384`.
    const NAME: &'static str;

    /// What its plugin signatures are, in messages.
    const SIGNATURE: &'static str;

    /// The RustCrypto verifying key of this key type.
    type VerifyingKey: Clone + fmt::Debug;

    /// The plugin's public key as this type's verifying key, or
    /// [`KeyError::WrongKeyType`].
    fn verifying_key(public_key: &PublicKey) -> Result<Self::VerifyingKey, KeyError>;
}

/// RSA PKCS #1 v1.5 signatures over digests computed with `D`
/// ([`sha2::Sha256`], [`sha2::Sha384`] or [`sha2::Sha512`]), as a
/// [`PluginSigner`] key type. Never constructed: it only names the type.
pub struct RsaPkcs1v15<D>(PhantomData<fn() -> D>);

/// The prehash given to a [`PluginSigner`] has a length no hash function
/// the signer can name to the plugin has: the source of the
/// [`signature::Error`] in that case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a {length}-byte prehash is not {expected}: sign the digest of a hash function the key takes"
)]
pub struct PrehashLengthError {
    /// The prehash's length in bytes.
    pub length: usize,
    /// What the key takes, e.g. `a SHA-256 digest (32 bytes)`.
    pub expected: &'static str,
}

/// The plugin answered with bytes that are no signature of the key's type:
/// the source of the [`signature::Error`] in that case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the plugin's {length}-byte answer is not {expected}")]
pub struct MalformedSignatureError {
    /// What a signature of the key's type is, e.g. `an ASN.1 DER ECDSA
    /// P-256 signature`.
    pub expected: &'static str,
    /// The length of what the plugin sent.
    pub length: usize,
}

/// The plugin answered with a signature that does not verify under the
/// public key it published (a key that changed, or a plugin that signed with
/// another key): the source of the [`signature::Error`] in that case.
#[derive(Debug, thiserror::Error)]
#[error(
    "the plugin's signature does not verify under the public key it published: \
     check that the key reference names the key the plugin signs with"
)]
pub struct SignatureMismatchError {
    /// Why verification failed.
    #[source]
    pub cause: signature::Error,
}

mod sealed {
    pub trait Sealed {}
}

/// The hash function of an ECDSA prehash, from its length.
fn ecdsa_hash_func(prehash: &[u8]) -> Result<HashFunc, signature::Error> {
    match prehash.len() {
        32 => Ok(HashFunc::SHA256),
        48 => Ok(HashFunc::SHA384),
        64 => Ok(HashFunc::SHA512),
        length => Err(signature::Error::from_source(PrehashLengthError {
            length,
            expected: "a SHA-256, SHA-384 or SHA-512 digest (32, 48 or 64 bytes)",
        })),
    }
}
