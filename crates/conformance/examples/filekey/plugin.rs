//! The plugin both examples share: ECDSA P-384 keys in PEM files, the key
//! reference being the file's path. Only the way a new key is written
//! differs, and that is the part plugins get wrong.

use std::io::Read;
use std::path::{Path, PathBuf};

use p384::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p384::ecdsa::{Signature, SigningKey};
use p384::pkcs8::DecodePrivateKey;
use sigstore_kms_handler::{keyfile, public_key_pem, CallOptions, Error, Plugin};
use sigstore_kms_protocol::algorithm::ECDSA_P384_SHA384;
use sigstore_kms_protocol::{HashFunc, InitOptions};

/// Creates the key file at a path where none was found, and returns the
/// key the caller must answer.
pub type CreateKey = fn(&Path) -> Result<SigningKey, Error>;

/// The key in the file at `path`, which must be private to the user: a
/// key another user planted there, or one others can read, is refused.
pub fn read_key(path: &Path) -> Result<SigningKey, Error> {
    let mut pem = String::new();
    keyfile::open(path)?
        .read_to_string(&mut pem)
        .map_err(|err| format!("reading the key file {}: {err}", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|err| {
        format!(
            "{} is not a PKCS#8 P-384 private key: {err}",
            path.display()
        )
        .into()
    })
}

/// One key file, named by the key reference.
pub struct FileKey {
    path: PathBuf,
    create: CreateKey,
}

impl FileKey {
    /// The key of `init`'s reference; nothing is read until a call needs it.
    pub fn open(init: &InitOptions, create: CreateKey) -> Result<Self, Error> {
        if init.key_resource_id.is_empty() {
            return Err("the key reference names no file: use filekey:///path/to/key.pem".into());
        }
        Ok(FileKey {
            path: PathBuf::from(&init.key_resource_id),
            create,
        })
    }

    fn load(&self) -> Result<SigningKey, Error> {
        read_key(&self.path)
    }

    fn digest(&self, message: &mut dyn Read, options: &CallOptions) -> Result<Vec<u8>, Error> {
        if !options.key_version.is_empty() {
            return Err("key files have no versions; leave keyVersion empty".into());
        }
        if ![HashFunc::SHA256, HashFunc::SHA384, HashFunc::SHA512].contains(&options.hash_func) {
            return Err(format!("unsupported hash function {}", options.hash_func).into());
        }
        // The digest the host sent (its length checked), or stdin hashed.
        Ok(options.digest(message)?)
    }
}

impl Plugin for FileKey {
    fn default_algorithm(&self) -> Result<String, Error> {
        Ok(ECDSA_P384_SHA384.to_owned())
    }

    fn supported_algorithms(&self) -> Result<Vec<String>, Error> {
        Ok(vec![ECDSA_P384_SHA384.to_owned()])
    }

    fn create_key(&self, algorithm: &str, _options: &CallOptions) -> Result<String, Error> {
        if algorithm != ECDSA_P384_SHA384 {
            return Err(
                format!("unsupported algorithm {algorithm:?}: use {ECDSA_P384_SHA384}").into(),
            );
        }
        let key = match self.load() {
            Ok(key) => key,
            Err(_) if !self.path.exists() => (self.create)(&self.path)?,
            Err(err) => return Err(err),
        };
        Ok(public_key_pem(key.verifying_key())?)
    }

    fn public_key(&self, _options: &CallOptions) -> Result<String, Error> {
        Ok(public_key_pem(self.load()?.verifying_key())?)
    }

    fn sign_message(
        &self,
        message: &mut dyn Read,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        let key = self.load()?;
        let signature: Signature = key.sign_prehash(&self.digest(message, options)?)?;
        Ok(signature.to_der().as_bytes().to_vec())
    }

    fn verify_signature(
        &self,
        signature: &[u8],
        message: &mut dyn Read,
        options: &CallOptions,
    ) -> Result<(), Error> {
        let signature = Signature::from_der(signature)
            .map_err(|_| "the signature is not a DER-encoded ECDSA P-384 signature")?;
        let key = self.load()?;
        let digest = self.digest(message, options)?;
        key.verifying_key()
            .verify_prehash(&digest, &signature)
            .map_err(|_| format!("the signature does not verify with {}", self.path.display()))?;
        Ok(())
    }
}
