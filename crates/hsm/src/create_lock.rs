//! The lock that makes creating a key race-safe between processes: a
//! process that creates a key holds an exclusive lock, keyed by module,
//! token and key, while it looks for the key and generates it if it is
//! missing. A process that waited finds the key the first one made.
//!
//! The lock files live in a directory private to the user, so another user
//! cannot hold them. The lock therefore orders the processes of one user
//! on one machine; PKCS#11 itself offers no lock across machines.

use std::fs::File;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::error::HsmError;
use crate::sys;
use crate::token::Token;
use crate::uri::KeyUri;

/// The name of the private directory that holds the lock files.
const DIR_NAME: &str = "sigstore-kms-hsm";

/// An exclusive lock on the creation of one key, released when dropped
/// (or when the process ends, however it ends).
pub struct CreateLock {
    _file: File,
}

impl CreateLock {
    /// Waits for the lock on creating the key `uri` names, in `token` of
    /// `module`.
    pub fn acquire(module: &Path, token: &Token, uri: &KeyUri) -> Result<CreateLock, HsmError> {
        let failed = |path: &Path, source| HsmError::CreateLock {
            key: uri.to_string(),
            path: path.to_owned(),
            source,
        };
        let dir = sys::private_dir(DIR_NAME).map_err(|err| failed(Path::new(DIR_NAME), err))?;
        let path = dir.join(lock_name(module, token, uri));
        let file = sys::lock_exclusive(&path).map_err(|err| failed(&path, err))?;
        Ok(CreateLock { _file: file })
    }
}

/// `create-HEX.lock`, HEX a hash of the module's canonical path, the
/// token's identity and the key's label and id: the same for every process
/// that can create this key, whatever spelling of the reference it got.
fn lock_name(module: &Path, token: &Token, uri: &KeyUri) -> String {
    let module = module.canonicalize().unwrap_or_else(|_| module.to_owned());
    let mut hash = Sha256::new();
    let mut field = |bytes: &[u8]| {
        // Length-prefixed, so that no two keys hash the same fields.
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(bytes);
    };
    field(module.as_os_str().as_encoded_bytes());
    for part in token.identity() {
        field(part.as_bytes());
    }
    for (present, value) in [
        (
            uri.object.is_some(),
            uri.object.as_deref().unwrap_or("").as_bytes(),
        ),
        (uri.id.is_some(), uri.id.as_deref().unwrap_or(&[])),
    ] {
        field(&[u8::from(present)]);
        field(value);
    }
    let digest = hash.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("create-{hex}.lock")
}
