//! A sigstore-rs signing constraint whose private key stays in a plugin.

use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use signature::{SignatureEncoding, Signer};
use sigstore::cosign::{Constraint, SignatureLayer};
use sigstore::errors::SigstoreError;
use sigstore_kms_client::{KeyType, PluginSigner};

/// Signs a cosign [`SignatureLayer`] through a Sigstore KMS plugin, as
/// sigstore-rs's own `PrivateKeySigner` does with a key in memory: the
/// payload is the layer's simple-signing JSON, and the signature `S` (for
/// ECDSA the ASN.1 DER form cosign uses) goes into the layer in base64.
///
/// The signature crosses into sigstore-rs as bytes, so the two crates need
/// not share RustCrypto types. Like `PrivateKeySigner`, it must be the last
/// constraint applied: it fixes the payload.
pub struct PluginConstraint<K: KeyType, S> {
    signer: PluginSigner<K>,
    signature: PhantomData<fn() -> S>,
}

impl<K: KeyType, S> PluginConstraint<K, S> {
    /// A constraint signing with `signer`'s plugin key.
    pub fn new(signer: PluginSigner<K>) -> Self {
        PluginConstraint {
            signer,
            signature: PhantomData,
        }
    }
}

impl<K: KeyType, S> fmt::Debug for PluginConstraint<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginConstraint")
            .field("signer", &self.signer)
            .finish()
    }
}

impl<K: KeyType, S: SignatureEncoding> Constraint for PluginConstraint<K, S>
where
    PluginSigner<K>: Signer<S>,
{
    fn add_constraint(&self, layer: &mut SignatureLayer) -> sigstore::errors::Result<bool> {
        // A layer signed already keeps its signature, as with
        // `PrivateKeySigner`; apply_constraints reports it as not applied.
        if layer.signature.is_some() {
            return Ok(false);
        }
        let payload = serde_json::to_vec(&layer.simple_signing)?;
        let signature = self.signer.try_sign(&payload).map_err(|error| {
            SigstoreError::ApplyConstraintError(format!(
                "the plugin did not sign the signature layer: {}",
                with_sources(&error)
            ))
        })?;
        layer.raw_data = payload;
        layer.signature =
            Some(base64::engine::general_purpose::STANDARD.encode(signature.to_vec()));
        Ok(true)
    }
}

/// `error` and its chain of sources, on one line: `signature::Error` says
/// only "signature error", and the plugin's reason is in its source.
pub fn with_sources(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
