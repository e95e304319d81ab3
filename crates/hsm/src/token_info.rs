//! What the plugin needs of a token's `CK_TOKEN_INFO`: the four strings
//! that tell tokens apart and the flags that say how to log in. A module
//! that fills another field of that structure badly still has its tokens
//! found.
//!
//! cryptoki parses the whole structure and rejects it over one malformed
//! optional field: openCryptoki 3.8 writes `utcTime` as `"16:56:18        "`
//! instead of `YYYYMMDDhhmmss00`. When cryptoki cannot parse it, the one
//! documented step is to read the structure from the module directly and
//! keep only label, manufacturer, model, serial number and flags.

use std::path::Path;
use std::ptr;

use cryptoki::context::Function;
use cryptoki::error::{Error as Pkcs11Error, Rv, RvError};
use cryptoki_sys::{
    CKF_LOGIN_REQUIRED, CKF_OS_LOCKING_OK, CKF_PROTECTED_AUTHENTICATION_PATH,
    CKF_TOKEN_INITIALIZED, CK_C_INITIALIZE_ARGS, CK_FLAGS, CK_FUNCTION_LIST, CK_SLOT_ID,
    CK_TOKEN_INFO,
};

use crate::error::{describe, HsmError};

/// The parts of `CK_TOKEN_INFO` that select a token and log in to it,
/// with their padding removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    /// `label`.
    pub label: String,
    /// `manufacturerID`.
    pub manufacturer: String,
    /// `model`.
    pub model: String,
    /// `serialNumber`.
    pub serial: String,
    flags: CK_FLAGS,
}

impl TokenInfo {
    /// From cryptoki's parsed structure.
    pub fn from_parsed(info: &cryptoki::slot::TokenInfo) -> TokenInfo {
        let flag = |set: bool, flag: CK_FLAGS| if set { flag } else { 0 };
        TokenInfo {
            label: unpadded(info.label().as_bytes()),
            manufacturer: unpadded(info.manufacturer_id().as_bytes()),
            model: unpadded(info.model().as_bytes()),
            serial: unpadded(info.serial_number().as_bytes()),
            flags: flag(info.token_initialized(), CKF_TOKEN_INITIALIZED)
                | flag(info.login_required(), CKF_LOGIN_REQUIRED)
                | flag(
                    info.protected_authentication_path(),
                    CKF_PROTECTED_AUTHENTICATION_PATH,
                ),
        }
    }

    /// From the structure as the module wrote it; every other field is
    /// ignored, so this never fails.
    pub fn from_raw(info: &CK_TOKEN_INFO) -> TokenInfo {
        TokenInfo {
            label: unpadded(&info.label),
            manufacturer: unpadded(&info.manufacturerID),
            model: unpadded(&info.model),
            serial: unpadded(&info.serialNumber),
            flags: info.flags,
        }
    }

    /// `CKF_TOKEN_INITIALIZED`.
    pub fn initialized(&self) -> bool {
        self.flags & CKF_TOKEN_INITIALIZED != 0
    }

    /// `CKF_LOGIN_REQUIRED`.
    pub fn login_required(&self) -> bool {
        self.flags & CKF_LOGIN_REQUIRED != 0
    }

    /// `CKF_PROTECTED_AUTHENTICATION_PATH`: the token has a PIN pad.
    pub fn protected_authentication_path(&self) -> bool {
        self.flags & CKF_PROTECTED_AUTHENTICATION_PATH != 0
    }
}

/// A fixed-size `CK_TOKEN_INFO` string without its padding. PKCS#11 pads
/// with spaces; some modules (tpm2-pkcs11's `model`) end the text with a
/// NUL as C strings do, and pad with NULs.
pub fn unpadded(field: &[u8]) -> String {
    let text = field.split(|&byte| byte == 0).next().unwrap_or_default();
    String::from_utf8_lossy(text).trim_end().to_owned()
}

/// Reads `CK_TOKEN_INFO` of `slot` through the function list of the
/// module at `path`, which this process has loaded and initialised
/// already: loading it again gives the same library. A module that gives
/// every `C_GetFunctionList` an instance of its own (p11-kit's proxy) is
/// initialised for this one read, and finalized after it.
pub fn read_raw(path: &Path, slot: CK_SLOT_ID) -> Result<TokenInfo, HsmError> {
    let failed = |detail: String| HsmError::Pkcs11 {
        message: format!(
            "cannot read the token information of {}: {detail}",
            path.display()
        ),
        transient: false,
    };
    // SAFETY: the module is loaded already (by `Module::load`), so loading
    // it again runs no initialisation code of its own.
    let library =
        unsafe { cryptoki_sys::Pkcs11::new(path) }.map_err(|err| failed(err.to_string()))?;
    let get_function_list = *library
        .C_GetFunctionList
        .as_ref()
        .map_err(|err| failed(err.to_string()))?;
    let mut list: *mut CK_FUNCTION_LIST = ptr::null_mut();
    // SAFETY: C_GetFunctionList writes a pointer to the module's table.
    let rv = unsafe { get_function_list(&mut list) };
    check(rv, Function::GetFunctionList).map_err(|err| failed(describe(&err)))?;
    if list.is_null() {
        return Err(failed(
            "C_GetFunctionList returned no function list".to_owned(),
        ));
    }
    // SAFETY: a non-null table from C_GetFunctionList, valid while the
    // library is loaded, which `library` keeps it.
    let functions = unsafe { &*list };
    let missing = |name: &str| failed(format!("its function list has no {name}"));
    let get_token_info = functions
        .C_GetTokenInfo
        .ok_or_else(|| missing("C_GetTokenInfo"))?;
    let read = || {
        let mut info = CK_TOKEN_INFO::default();
        // SAFETY: `info` is a CK_TOKEN_INFO the module fills.
        let rv = unsafe { get_token_info(slot, &mut info) };
        check(rv, Function::GetTokenInfo).map(|()| TokenInfo::from_raw(&info))
    };
    match read() {
        Err(Pkcs11Error::Pkcs11(RvError::CryptokiNotInitialized, _)) => {
            let initialize = functions
                .C_Initialize
                .ok_or_else(|| missing("C_Initialize"))?;
            let finalize = functions.C_Finalize.ok_or_else(|| missing("C_Finalize"))?;
            let mut args = CK_C_INITIALIZE_ARGS {
                flags: CKF_OS_LOCKING_OK,
                ..CK_C_INITIALIZE_ARGS::default()
            };
            // SAFETY: C_Initialize with OS locking and no callbacks.
            let rv = unsafe { initialize(ptr::addr_of_mut!(args).cast()) };
            check(rv, Function::Initialize).map_err(crate::error::pkcs11)?;
            let info = read();
            // SAFETY: this instance was initialised just above, here.
            unsafe { finalize(ptr::null_mut()) };
            info.map_err(crate::error::pkcs11)
        }
        other => other.map_err(crate::error::pkcs11),
    }
}

fn check(rv: cryptoki_sys::CK_RV, function: Function) -> Result<(), Pkcs11Error> {
    Rv::from(rv).into_result(function)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn padded<const N: usize>(text: &[u8], pad: u8) -> [u8; N] {
        let mut field = [pad; N];
        field[..text.len()].copy_from_slice(text);
        field
    }

    /// openCryptoki 3.8's soft token, as its C_GetTokenInfo fills it.
    fn open_cryptoki() -> CK_TOKEN_INFO {
        CK_TOKEN_INFO {
            label: padded(b"release", b' '),
            manufacturerID: padded(b"IBM Corp.", b' '),
            model: padded(b"IBM SoftTok", b' '),
            serialNumber: padded(b"123", b' '),
            flags: CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED | 0x1,
            utcTime: *b"16:56:18        ",
            ..CK_TOKEN_INFO::default()
        }
    }

    #[test]
    fn a_malformed_utc_time_leaves_what_matching_needs() {
        let info = TokenInfo::from_raw(&open_cryptoki());
        assert_eq!(info.label, "release");
        assert_eq!(info.manufacturer, "IBM Corp.");
        assert_eq!(info.model, "IBM SoftTok");
        assert_eq!(info.serial, "123");
        assert!(info.initialized() && info.login_required());
        assert!(!info.protected_authentication_path());
    }

    #[test]
    fn nul_padding_is_removed_like_space_padding() {
        // tpm2-pkcs11 1.9 pads `model` with NULs after the text.
        let mut raw = open_cryptoki();
        raw.model = padded(b"SW   TPM", 0);
        raw.manufacturerID = padded(b"IBM\0", b' ');
        let info = TokenInfo::from_raw(&raw);
        assert_eq!(info.model, "SW   TPM");
        assert_eq!(info.manufacturer, "IBM");
        assert_eq!(unpadded(b"label   \0\0"), "label");
        assert_eq!(unpadded(&[0; 16]), "");
    }
}
