//! The plugin: one ECDSA P-256 key in a PEM file.

use std::io::Read;
use std::path::PathBuf;

use ecdsa::hazmat::sign_prehashed_rfc6979;
use ecdsa::DigestAlgorithm;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::NistP256;
use sigstore_kms_handler::{public_key_pem, CallOptions, Error, Plugin};
use sigstore_kms_protocol::{algorithm, HashFunc, InitOptions, MethodName};

use crate::diagnostics::debug;
use crate::fault::Fault;
use crate::keyfile::{self, KeyPair, Origin};

/// The one algorithm this plugin serves.
pub const ALGORITHM: &str = algorithm::ECDSA_P256_SHA256;

/// Digests this plugin signs and verifies.
const HASH_FUNCS: [HashFunc; 3] = [HashFunc::SHA256, HashFunc::SHA384, HashFunc::SHA512];

/// The key file named by the key reference.
pub struct LocalKms {
    path: PathBuf,
    fault: Fault,
}

impl LocalKms {
    /// Builds the plugin for the key reference in `init`. The file is only
    /// read by the call that needs it, so `createKey` can make it.
    pub fn open(init: &InitOptions, fault: Fault) -> Result<Self, Error> {
        let path = keyfile::key_path(&init.key_resource_id)?;
        debug(format_args!("key file {}", path.display()));
        Ok(LocalKms { path, fault })
    }

    fn load(&self) -> Result<KeyPair, Error> {
        let key = keyfile::load(&self.path)?;
        debug(format_args!("loaded the key in {}", self.path.display()));
        Ok(key)
    }

    /// The digest to sign or verify, after checking the call's options.
    fn digest(&self, message: &mut dyn Read, options: &CallOptions) -> Result<Vec<u8>, Error> {
        let digest = options.digest(message)?;
        debug(format_args!(
            "{} {} digest",
            if options.digest.is_some() {
                "using the given"
            } else {
                "hashed the message into a"
            },
            options.hash_func
        ));
        Ok(digest)
    }
}

/// Local keys have one version and no remote service.
fn check_options(options: &CallOptions) -> Result<(), Error> {
    if !options.key_version.is_empty() {
        return Err(format!(
            "key version {:?} requested, but local key files have no versions; leave keyVersion empty",
            options.key_version
        )
        .into());
    }
    Ok(())
}

fn check_message_options(options: &CallOptions) -> Result<(), Error> {
    check_options(options)?;
    if !HASH_FUNCS.contains(&options.hash_func) {
        return Err(format!(
            "unsupported hash function {}: {ALGORITHM} keys sign SHA-256, SHA-384 or SHA-512 digests",
            options.hash_func
        )
        .into());
    }
    Ok(())
}

impl Plugin for LocalKms {
    fn default_algorithm(&self) -> Result<String, Error> {
        self.fault.in_method(MethodName::DefaultAlgorithm)?;
        Ok(ALGORITHM.to_owned())
    }

    fn supported_algorithms(&self) -> Result<Vec<String>, Error> {
        self.fault.in_method(MethodName::SupportedAlgorithms)?;
        Ok(vec![ALGORITHM.to_owned()])
    }

    fn create_key(&self, algorithm: &str, _options: &CallOptions) -> Result<String, Error> {
        self.fault.in_method(MethodName::CreateKey)?;
        if algorithm != ALGORITHM {
            return Err(format!(
                "unsupported algorithm {algorithm:?}: localkms creates {ALGORITHM} keys only"
            )
            .into());
        }
        let (pair, origin) = keyfile::load_or_create(&self.path)?;
        debug(format_args!(
            "{} {}",
            match origin {
                Origin::Existing => "key exists:",
                Origin::Created => "created",
                Origin::CreatedConcurrently => "another process created",
            },
            self.path.display()
        ));
        Ok(public_key_pem(&pair.public)?)
    }

    fn public_key(&self, options: &CallOptions) -> Result<String, Error> {
        self.fault.in_method(MethodName::PublicKey)?;
        check_options(options)?;
        Ok(public_key_pem(&self.load()?.public)?)
    }

    fn sign_message(
        &self,
        message: &mut dyn Read,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        self.fault.in_method(MethodName::SignMessage)?;
        check_message_options(options)?;
        let pair = self.load()?;
        let digest = self.digest(message, options)?;
        Ok(sign_prehash(&pair, &digest).to_der().as_bytes().to_vec())
    }

    fn verify_signature(
        &self,
        signature: &[u8],
        message: &mut dyn Read,
        options: &CallOptions,
    ) -> Result<(), Error> {
        self.fault.in_method(MethodName::VerifySignature)?;
        check_message_options(options)?;
        let signature = Signature::from_der(signature)
            .map_err(|_| "the signature is not an ASN.1 DER encoded ECDSA P-256 signature")?;
        let key = VerifyingKey::from(self.load()?.public);
        let digest = self.digest(message, options)?;
        key.verify_prehash(&digest, &signature).map_err(|_| {
            format!(
                "the signature does not verify with the key in {}",
                self.path.display()
            )
        })?;
        Ok(())
    }
}

/// What `SigningKey::sign_prehash` computes (ECDSA with RFC 6979 nonces),
/// without building a `SigningKey`: that derives the public key again, a
/// second scalar multiplication next to the one of the signature itself.
fn sign_prehash(pair: &KeyPair, digest: &[u8]) -> Signature {
    let (signature, _) = sign_prehashed_rfc6979::<NistP256, <NistP256 as DigestAlgorithm>::Digest>(
        &pair.secret.to_nonzero_scalar(),
        digest,
        &[],
    );
    signature
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::signature::hazmat::PrehashSigner as _;
    use p256::ecdsa::SigningKey;
    use p256::SecretKey;

    use super::*;

    #[test]
    fn signatures_are_those_of_a_signing_key() {
        let secret = SecretKey::from_slice(&[0x42; 32]).unwrap();
        let pair = KeyPair {
            public: secret.public_key(),
            secret: secret.clone(),
        };
        for digest in [&[7u8; 32][..], &[9u8; 48], &[1u8; 64]] {
            let expected: Signature = SigningKey::from(&secret).sign_prehash(digest).unwrap();
            assert_eq!(sign_prehash(&pair, digest), expected);
        }
    }
}
