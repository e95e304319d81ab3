//! What goes wrong between the plugin and the token, in words an operator
//! can act on. No message ever holds a PIN.

use std::io;
use std::path::PathBuf;

use cryptoki::error::{Error as Pkcs11Error, RvError};

use crate::algorithm::{Algorithm, SignatureError};
use crate::public_key::KeyError;
use crate::settings::{MODULE_ALLOWLIST_VARIABLE, MODULE_VARIABLE, PIN_VARIABLE};

/// A failure of a call that uses the token.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    /// Neither the reference nor the environment names a module.
    #[error(
        "no PKCS#11 module given: add ?module-path=/path/to/pkcs11-module.so to the key \
         reference or set {MODULE_VARIABLE}"
    )]
    NoModule,
    /// The module file does not exist.
    #[error(
        "PKCS#11 module not found: {path} (from {origin}) does not exist; install the token's \
         PKCS#11 library or correct the path"
    )]
    ModuleNotFound {
        /// The path given.
        path: PathBuf,
        /// Where it was given.
        origin: &'static str,
    },
    /// An allow-list of modules is set and does not hold this one.
    #[error(
        "PKCS#11 module {path} (from {origin}, canonical path {canonical}) is not in \
         {MODULE_ALLOWLIST_VARIABLE}, so it was not loaded; if you trust this library, add \
         {canonical} to that list",
        path = .path.display(),
        canonical = .canonical.display()
    )]
    ModuleNotAllowed {
        /// The path given.
        path: PathBuf,
        /// Where it was given.
        origin: &'static str,
        /// The path with every link resolved, which the list must hold.
        canonical: PathBuf,
    },
    /// The lock that serialises the creation of one key cannot be taken.
    #[error(
        "cannot take the lock that keeps processes from creating the key {key} twice \
         ({path}): {source}",
        path = .path.display()
    )]
    CreateLock {
        /// The key's `object` and `id`.
        key: String,
        /// The lock file, or its directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// No public-key object matches the private key.
    #[error(
        "no public key in token {token:?} with {key} belongs to its private key: the public \
         object was removed or replaced (public objects of keys made by older versions of this \
         plugin can be changed without the PIN); do not trust what it holds now, and create a \
         new key under another label, or put the public key you exported earlier back into \
         the token"
    )]
    PublicKeyMismatch {
        /// The token label.
        token: String,
        /// The key's `object` and `id`.
        key: String,
    },
    /// The token's signature is not one the key makes.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Only a public key that anyone could have made is there.
    #[error(
        "token {token:?} holds no private key with {key}, and its public key with {key} is not \
         private (CKA_PRIVATE=false): a session without the PIN could have put it there, so it \
         is not used; store the public key as a private object, or verify with the public key \
         file you exported"
    )]
    UntrustedPublicKey {
        /// The token label.
        token: String,
        /// The key's `object` and `id`.
        key: String,
    },
    /// The module exists but cannot be loaded or initialised.
    #[error("cannot use {path} as a PKCS#11 module: {detail}")]
    ModuleUnusable {
        /// The module.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// No token matches the reference.
    #[error("token not found: no token matches {wanted}; {seen}")]
    TokenNotFound {
        /// The token attributes of the reference.
        wanted: String,
        /// The tokens the module reported.
        seen: String,
    },
    /// Several tokens match the reference.
    #[error("{wanted} matches {count} tokens: {seen}; add token=LABEL or serial=... to the key reference")]
    TokenAmbiguous {
        /// The token attributes of the reference.
        wanted: String,
        /// How many match.
        count: usize,
        /// The matching tokens.
        seen: String,
    },
    /// The token wants a PIN and none was given.
    #[error(
        "token {token:?} requires a PIN: set {PIN_VARIABLE} or add \
         ?pin-source=file:/path/to/pin-file to the key reference"
    )]
    NoPin {
        /// The token label.
        token: String,
    },
    /// The PIN file cannot be read.
    #[error("cannot read the PIN from {path} (pin-source): {source}")]
    PinFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The PIN file can be read (or written) by other users.
    #[error(
        "the PIN file {path} (pin-source) is open to group or others (mode {mode:o}); restrict \
         it with `chmod 600 {path}`, or give the PIN in {PIN_VARIABLE}",
        path = .path.display()
    )]
    PinFileExposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The PIN file is far longer than any PIN.
    #[error(
        "the PIN file {path} (pin-source) is larger than {limit} bytes, which no PIN is; name \
         the file that holds only the PIN",
        path = .path.display()
    )]
    PinFileTooLarge {
        /// The file.
        path: PathBuf,
        /// The most this plugin reads.
        limit: u64,
    },
    /// The PIN file holds nothing.
    #[error("the PIN file {0} (pin-source) is empty")]
    EmptyPinFile(PathBuf),
    /// The token refused the PIN.
    #[error("wrong PIN: token {token:?} refused the PIN from {origin}")]
    WrongPin {
        /// The token label.
        token: String,
        /// Where the PIN came from.
        origin: String,
    },
    /// The token's user PIN is locked.
    #[error("the user PIN of token {token:?} is locked; unlock it with the token's SO PIN")]
    PinLocked {
        /// The token label.
        token: String,
    },
    /// The reference names no key.
    #[error("the key reference names no key: add object=LABEL (and/or id=...) to it")]
    NoKeyName,
    /// No key object matches.
    #[error(
        "object not found: token {token:?} holds no {class} with {key}; create the key with \
         `cosign generate-key-pair --kms hsm://...` or `sigstore-kms generate-key-pair --kms hsm://...`"
    )]
    ObjectNotFound {
        /// The token label.
        token: String,
        /// `private key` or `public key`.
        class: &'static str,
        /// The key's `object` and `id`.
        key: String,
    },
    /// Several key objects match.
    #[error(
        "{count} {class}s in token {token:?} match {key}; add id=... to the key reference to \
         choose one"
    )]
    ObjectAmbiguous {
        /// The token label.
        token: String,
        /// `private key` or `public key`.
        class: &'static str,
        /// The key's `object` and `id`.
        key: String,
        /// How many match.
        count: usize,
    },
    /// A public key exists without its private key: generating would
    /// leave two public keys of one name.
    #[error(
        "token {token:?} holds a public key with {key} but no private key; remove it or \
         choose another object label"
    )]
    OrphanPublicKey {
        /// The token label.
        token: String,
        /// The key's `object` and `id`.
        key: String,
    },
    /// The token lacks a mechanism the call needs.
    #[error("mechanism not supported: token {token:?} does not offer {mechanism} for {purpose}")]
    MechanismNotSupported {
        /// The token label.
        token: String,
        /// `CKM_...`.
        mechanism: String,
        /// What it was needed for.
        purpose: &'static str,
    },
    /// The token cannot make keys of the algorithm asked for.
    #[error("token {token:?} cannot make {algorithm} keys: {reason}; it can make: {offered}")]
    AlgorithmNotOffered {
        /// The token label.
        token: String,
        /// The algorithm asked for.
        algorithm: &'static str,
        /// Which mechanism or key size it lacks.
        reason: String,
        /// The algorithms it can make.
        offered: String,
    },
    /// The token refused every key template, down to the most relaxed.
    #[error(
        "token {token:?} refused every key template, the most relaxed one too (see \
         sigstore-kms-hsm's README, \"Algorithms\"): {detail}"
    )]
    TemplateRefused {
        /// The token label.
        token: String,
        /// What it answered to the last template.
        detail: String,
    },
    /// The key exists with another algorithm.
    #[error(
        "the key {key} exists as {existing}, not {requested}; use another object label, or \
         ?algorithm={existing} in the key reference"
    )]
    AlgorithmMismatch {
        /// The key's `object` and `id`.
        key: String,
        /// What the token holds.
        existing: &'static str,
        /// What the call asked for.
        requested: &'static str,
    },
    /// The token's key is not one this plugin can use.
    #[error("the key {key} in token {token:?} cannot be used: {source}")]
    Key {
        /// The key's `object` and `id`.
        key: String,
        /// The token label.
        token: String,
        /// Why.
        #[source]
        source: KeyError,
    },
    /// A key of a type this plugin does not serve.
    #[error(
        "the public key {key} in token {token:?} is of key type {key_type}; this plugin serves \
         EC (P-256, P-384) and RSA keys"
    )]
    UnsupportedKeyType {
        /// The key's `object` and `id`.
        key: String,
        /// The token label.
        token: String,
        /// `CKK_...`.
        key_type: String,
    },
    /// Any other PKCS#11 failure.
    #[error("{message}")]
    Pkcs11 {
        /// `C_Function returned CKR_CODE`.
        message: String,
        /// Whether trying again may succeed: the token was busy or
        /// unreachable for a moment.
        transient: bool,
    },
}

impl HsmError {
    /// Whether opening the token again may succeed. SoftHSM2, for one,
    /// rewrites its token file at each login, and a process reading it at
    /// that moment sees a failure or no token at all.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            HsmError::Pkcs11 {
                transient: true,
                ..
            } | HsmError::TokenNotFound { .. }
        )
    }

    /// The algorithm-mismatch error for `key`.
    pub fn mismatch(key: String, existing: Algorithm, requested: Algorithm) -> HsmError {
        HsmError::AlgorithmMismatch {
            key,
            existing: existing.name(),
            requested: requested.name(),
        }
    }
}

/// A PKCS#11 failure as `C_Function returned CKR_CODE`, which is what a
/// token's documentation and logs use.
pub fn describe(err: &Pkcs11Error) -> String {
    match err {
        Pkcs11Error::Pkcs11(rv, function) => {
            format!("C_{function:?} returned {}", return_code(*rv))
        }
        other => other.to_string(),
    }
}

/// `CKR_PIN_INCORRECT` for `RvError::PinIncorrect`.
pub fn return_code(rv: RvError) -> String {
    let name = format!("{rv:?}");
    let mut code = String::from("CKR");
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            code.push('_');
        }
        code.push(c.to_ascii_uppercase());
    }
    code
}

/// The error of a PKCS#11 call that has no more specific meaning. Among
/// the transient ones, `CKR_USER_PIN_NOT_INITIALIZED` is what SoftHSM2
/// answers a login when it read its token file while another process
/// rewrote it.
pub fn pkcs11(err: Pkcs11Error) -> HsmError {
    let transient = matches!(
        err,
        Pkcs11Error::Pkcs11(
            RvError::GeneralError
                | RvError::DeviceError
                | RvError::FunctionFailed
                | RvError::TokenNotPresent
                | RvError::UserPinNotInitialized,
            _
        )
    );
    HsmError::Pkcs11 {
        message: describe(&err),
        transient,
    }
}

#[cfg(test)]
mod tests {
    use cryptoki::context::Function;

    use super::*;

    #[test]
    fn return_codes_read_as_in_the_standard() {
        assert_eq!(return_code(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(return_code(RvError::SlotIdInvalid), "CKR_SLOT_ID_INVALID");
        assert_eq!(
            describe(&Pkcs11Error::Pkcs11(
                RvError::MechanismInvalid,
                Function::Sign
            )),
            "C_Sign returned CKR_MECHANISM_INVALID"
        );
    }
}
