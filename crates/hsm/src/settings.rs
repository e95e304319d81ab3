//! Where the module and the PIN come from: the key reference first, then
//! the environment. The PIN never comes from argv.

use std::env;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use cryptoki::types::AuthPin;

use crate::error::HsmError;
use crate::sys;
use crate::uri::KeyUri;

/// The environment variable naming the PKCS#11 module when the reference
/// has no `module-path`.
pub const MODULE_VARIABLE: &str = "SIGSTORE_KMS_HSM_MODULE";

/// The environment variable holding the user PIN when the reference has no
/// `pin-source`.
pub const PIN_VARIABLE: &str = "SIGSTORE_KMS_HSM_PIN";

/// The environment variable that, when set, lists the only PKCS#11
/// modules the plugin loads: canonical paths, separated as in `PATH`.
pub const MODULE_ALLOWLIST_VARIABLE: &str = "SIGSTORE_KMS_HSM_MODULE_ALLOWLIST";

/// The most a PIN file may hold. PKCS#11 tokens take PINs of a few dozen
/// bytes; a larger file is the wrong file.
pub const PIN_FILE_LIMIT: u64 = 4096;

/// The module to load and the PIN to log in with.
pub struct Settings {
    /// The PKCS#11 module.
    pub module: PathBuf,
    /// The user PIN, if one was given.
    pub pin: Option<Pin>,
    /// The call's deadline, if the host sent one: a token that is busy
    /// for a moment is opened again until shortly before it.
    pub deadline: Option<SystemTime>,
}

/// A user PIN and where it came from (for messages; the PIN itself is
/// never shown).
pub struct Pin {
    /// The secret, wiped when dropped.
    pub secret: AuthPin,
    /// `the SIGSTORE_KMS_HSM_PIN environment variable` or `the pin-source
    /// file /path`.
    pub origin: String,
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pin")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Resolves the module and the PIN for `uri`, checking that the module
    /// exists (and is allowed, when [`MODULE_ALLOWLIST_VARIABLE`] is set)
    /// and reading the PIN file.
    pub fn resolve(uri: &KeyUri) -> Result<Settings, HsmError> {
        let (module, origin) = match (&uri.module_path, non_empty_var(MODULE_VARIABLE)) {
            (Some(path), _) => (path.clone(), "module-path in the key reference"),
            (None, Some(path)) => (PathBuf::from(path), "the SIGSTORE_KMS_HSM_MODULE variable"),
            (None, None) => return Err(HsmError::NoModule),
        };
        if !module.exists() {
            return Err(HsmError::ModuleNotFound {
                path: module,
                origin,
            });
        }
        let module = match non_empty_var(MODULE_ALLOWLIST_VARIABLE) {
            Some(allowlist) => allowed_module(module, origin, &allowlist)?,
            None => module,
        };
        Ok(Settings {
            module,
            pin: read_pin(uri)?,
            deadline: None,
        })
    }
}

/// The canonical path of `module` when `allowlist` holds it. That path is
/// what gets loaded, so a link changed after this check loads nothing else.
fn allowed_module(
    module: PathBuf,
    origin: &'static str,
    allowlist: &OsStr,
) -> Result<PathBuf, HsmError> {
    let canonical = module
        .canonicalize()
        .map_err(|_| HsmError::ModuleNotFound {
            path: module.clone(),
            origin,
        })?;
    if env::split_paths(allowlist).any(|entry| entry == canonical) {
        Ok(canonical)
    } else {
        Err(HsmError::ModuleNotAllowed {
            path: module,
            origin,
            canonical,
        })
    }
}

fn read_pin(uri: &KeyUri) -> Result<Option<Pin>, HsmError> {
    if let Some(path) = &uri.pin_source {
        let text = read_pin_file(path)?;
        // A file written by `echo` ends with a newline that is not part of
        // the PIN.
        let pin = text
            .strip_suffix('\n')
            .map(|pin| pin.strip_suffix('\r').unwrap_or(pin))
            .unwrap_or(&text);
        if pin.is_empty() {
            return Err(HsmError::EmptyPinFile(path.clone()));
        }
        return Ok(Some(Pin {
            secret: AuthPin::from(pin.to_owned()),
            origin: format!("the pin-source file {}", path.display()),
        }));
    }
    Ok(non_empty_var(PIN_VARIABLE).map(|pin| Pin {
        secret: AuthPin::from(pin.to_string_lossy().into_owned()),
        origin: format!("the {PIN_VARIABLE} environment variable"),
    }))
}

/// The text of the PIN file, which must be private to its owner and at
/// most [`PIN_FILE_LIMIT`] bytes long. The checks look at the file that
/// was opened, so it cannot be swapped in between.
fn read_pin_file(path: &Path) -> Result<String, HsmError> {
    let unreadable = |source| HsmError::PinFile {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(unreadable)?;
    let metadata = file.metadata().map_err(unreadable)?;
    if metadata.is_dir() {
        return Err(unreadable(io::Error::new(
            io::ErrorKind::IsADirectory,
            "it is a directory",
        )));
    }
    if let Some(mode) = sys::exposed_mode(&metadata) {
        return Err(HsmError::PinFileExposed {
            path: path.to_owned(),
            mode,
        });
    }
    let too_large = || HsmError::PinFileTooLarge {
        path: path.to_owned(),
        limit: PIN_FILE_LIMIT,
    };
    if metadata.len() > PIN_FILE_LIMIT {
        return Err(too_large());
    }
    // A pipe or a device reports no length: read one byte past the limit
    // to tell.
    let mut bytes = Vec::new();
    file.take(PIN_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > PIN_FILE_LIMIT {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|_| {
        unreadable(io::Error::new(
            io::ErrorKind::InvalidData,
            "the file is not UTF-8 text",
        ))
    })
}

fn non_empty_var(name: &str) -> Option<OsString> {
    env::var_os(name).filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowlist_holds_canonical_paths() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("module.so");
        std::fs::write(&module, b"").unwrap();
        let canonical = module.canonicalize().unwrap();
        let listed = env::join_paths([Path::new("/elsewhere/lib.so"), &canonical]).unwrap();
        assert_eq!(
            allowed_module(module.clone(), "test", &listed).unwrap(),
            canonical
        );
        // Spelled another way, the same file is found by its canonical path.
        let detour = dir.path().join(".").join("module.so");
        assert_eq!(allowed_module(detour, "test", &listed).unwrap(), canonical);
        let err = allowed_module(module, "test", OsStr::new("/elsewhere/lib.so")).unwrap_err();
        assert!(matches!(err, HsmError::ModuleNotAllowed { .. }), "{err}");
        assert!(
            err.to_string().contains(&canonical.display().to_string()),
            "{err}"
        );
    }
}
