//! A complete plugin: serves one ECDSA P-256 key handed over in an
//! environment variable (secrets never travel in argv). Built as
//! `sigstore-kms-envkey`, cosign uses it as `envkey://release`, with the
//! PKCS #8 PEM of the key in `ENVKEY_RELEASE`:
//!
//! ```sh
//! cargo build --example envkey
//! cp target/debug/examples/envkey ~/bin/sigstore-kms-envkey
//! ENVKEY_RELEASE="$(cat key.pem)" cosign sign-blob --key envkey://release FILE
//! ```

use std::io::Read;

use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use sigstore_kms_handler::{public_key_pem, run, CallOptions, Error, Plugin};
use sigstore_kms_protocol::{HashFunc, InitOptions};

const ALGORITHM: &str = sigstore_kms_protocol::algorithm::ECDSA_P256_SHA256;

struct EnvKey(SigningKey);

impl EnvKey {
    fn load(init: &InitOptions) -> Result<Self, Error> {
        let variable = format!("ENVKEY_{}", init.key_resource_id.to_uppercase());
        let pem = std::env::var(&variable).map_err(|_| format!("{variable} is not set"))?;
        Ok(EnvKey(SigningKey::from_pkcs8_pem(&pem)?))
    }

    /// The digest to sign: the one the host sent, or stdin hashed.
    fn digest(&self, message: &mut dyn Read, options: &CallOptions) -> Result<Vec<u8>, Error> {
        if ![HashFunc::SHA256, HashFunc::SHA384, HashFunc::SHA512].contains(&options.hash_func) {
            return Err(format!("unsupported hash function {}", options.hash_func).into());
        }
        Ok(options.digest(message)?)
    }
}

impl Plugin for EnvKey {
    fn default_algorithm(&self) -> Result<String, Error> {
        Ok(ALGORITHM.to_owned())
    }

    fn supported_algorithms(&self) -> Result<Vec<String>, Error> {
        Ok(vec![ALGORITHM.to_owned()])
    }

    fn create_key(&self, algorithm: &str, options: &CallOptions) -> Result<String, Error> {
        if algorithm != ALGORITHM {
            return Err(format!("unsupported algorithm {algorithm:?}").into());
        }
        // The key already exists: creating it again answers it.
        self.public_key(options)
    }

    fn public_key(&self, _options: &CallOptions) -> Result<String, Error> {
        Ok(public_key_pem(self.0.verifying_key())?)
    }

    fn sign_message(
        &self,
        message: &mut dyn Read,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        let digest = self.digest(message, options)?;
        let signature: Signature = self.0.sign_prehash(&digest)?;
        Ok(signature.to_der().as_bytes().to_vec())
    }

    fn verify_signature(
        &self,
        signature: &[u8],
        message: &mut dyn Read,
        options: &CallOptions,
    ) -> Result<(), Error> {
        let digest = self.digest(message, options)?;
        let signature = Signature::from_der(signature)?;
        Ok(self.0.verifying_key().verify_prehash(&digest, &signature)?)
    }
}

fn main() {
    run(EnvKey::load)
}
