//! `sigstore-kms-filekey`: a complete Sigstore KMS plugin serving ECDSA
//! P-384 keys kept in PEM files, `filekey:///path/to/key.pem`. The
//! conformance suite passes it (this crate's `tests/examples.rs`); its
//! racy twin, `sigstore-kms-racyfilekey`, fails.
//!
//! The one thing it does with care is creating a key: the new key is
//! written to a temporary file (mode 0600) beside the key file, which is
//! then linked into place only if no key file exists by then. Callers that
//! race to create the key all answer the one that won, and no caller ever
//! reads a half-written file.

mod plugin;

use std::io::{self, Write};
use std::path::Path;

use p384::ecdsa::SigningKey;
use p384::elliptic_curve::Generate as _;
use p384::pkcs8::{EncodePrivateKey, LineEnding};
use sigstore_kms_handler::Error;

fn create_once(path: &Path) -> Result<SigningKey, Error> {
    let key = SigningKey::from(p384::SecretKey::try_generate()?);
    let pem = key.to_pkcs8_pem(LineEnding::LF)?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // tempfile creates the file with mode 0600.
    let mut temp = tempfile::Builder::new()
        .prefix(".filekey-")
        .tempfile_in(dir)?;
    temp.write_all(pem.as_bytes())?;
    temp.as_file().sync_all()?;
    match temp.persist_noclobber(path) {
        Ok(_) => Ok(key),
        // Another caller's key won: answer that one.
        Err(err) if err.error.kind() == io::ErrorKind::AlreadyExists => {
            let pem = std::fs::read_to_string(path)?;
            Ok(p384::pkcs8::DecodePrivateKey::from_pkcs8_pem(&pem)?)
        }
        Err(err) => Err(format!("writing the key file {}: {}", path.display(), err.error).into()),
    }
}

fn main() {
    sigstore_kms_handler::run(|init| plugin::FileKey::open(init, create_once))
}
