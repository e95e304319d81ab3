//! `sigstore-kms-filekey`: a complete Sigstore KMS plugin serving ECDSA
//! P-384 keys kept in PEM files, `filekey:///path/to/key.pem`. The
//! conformance suite passes it (this crate's `tests/examples.rs`); its
//! racy twin, `sigstore-kms-racyfilekey`, fails.
//!
//! The one thing it does with care is the key file, through
//! `sigstore_kms_handler::keyfile`: a new key is written to a private
//! temporary file beside the key file, which is then linked into place only
//! if no key file exists by then, so callers that race to create the key
//! all answer the one that won and no caller reads a half-written file; and
//! a key file that is not private to the user is refused.

mod plugin;

use std::path::Path;

use p384::ecdsa::SigningKey;
use p384::elliptic_curve::Generate as _;
use p384::pkcs8::{EncodePrivateKey, LineEnding};
use sigstore_kms_handler::keyfile::{self, Created};
use sigstore_kms_handler::Error;

fn create_once(path: &Path) -> Result<SigningKey, Error> {
    let key = SigningKey::from(p384::SecretKey::try_generate()?);
    let pem = key.to_pkcs8_pem(LineEnding::LF)?;
    match keyfile::create_new(path, pem.as_bytes())? {
        Created::Written => Ok(key),
        // Another caller's key won: answer that one.
        Created::AlreadyExists => plugin::read_key(path),
    }
}

fn main() {
    sigstore_kms_handler::run(|init| plugin::FileKey::open(init, create_once))
}
