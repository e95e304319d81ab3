//! Where the module and the PIN come from: the key reference first, then
//! the environment. The PIN never comes from argv.

use std::env;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use cryptoki::types::AuthPin;

use crate::error::HsmError;
use crate::uri::KeyUri;

/// The environment variable naming the PKCS#11 module when the reference
/// has no `module-path`.
pub const MODULE_VARIABLE: &str = "SIGSTORE_KMS_HSM_MODULE";

/// The environment variable holding the user PIN when the reference has no
/// `pin-source`.
pub const PIN_VARIABLE: &str = "SIGSTORE_KMS_HSM_PIN";

/// The module to load and the PIN to log in with.
pub struct Settings {
    /// The PKCS#11 module.
    pub module: PathBuf,
    /// The user PIN, if one was given.
    pub pin: Option<Pin>,
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
    /// exists and reading the PIN file.
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
        Ok(Settings {
            module,
            pin: read_pin(uri)?,
        })
    }
}

fn read_pin(uri: &KeyUri) -> Result<Option<Pin>, HsmError> {
    if let Some(path) = &uri.pin_source {
        let text = std::fs::read_to_string(path).map_err(|source| HsmError::PinFile {
            path: path.clone(),
            source,
        })?;
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

fn non_empty_var(name: &str) -> Option<OsString> {
    env::var_os(name).filter(|value| !value.is_empty())
}
