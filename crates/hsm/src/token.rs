//! The PKCS#11 module, the token the reference selects, and a logged-in
//! session on it. Each is closed by `Drop` on every path: sessions before
//! the module, the module finalized last.

use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::mechanism::{MechanismInfo, MechanismType};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;

use crate::error::{describe, pkcs11 as pkcs11_err, HsmError};
use crate::settings::Pin;
use crate::token_info::{self, unpadded, TokenInfo};
use crate::uri::TokenFilter;

/// What tpm2-pkcs11 puts in `CK_INFO.manufacturerID`.
const TPM2_PKCS11_MANUFACTURER: &str = "tpm2-software.github.io";

/// A loaded and initialised PKCS#11 module, finalized when dropped.
pub struct Module {
    pkcs11: Pkcs11,
    path: PathBuf,
    /// `manufacturerID` of its `CK_INFO`, which names the implementation.
    manufacturer: String,
    /// Whether this value initialised the module, and so finalizes it.
    initialized_here: bool,
}

/// A token the module reported.
#[derive(Clone, Debug)]
pub struct Token {
    /// Its slot.
    pub slot: Slot,
    /// Its label.
    pub label: String,
    info: TokenInfo,
}

/// An open session on a token, logged in when the token needs it. It
/// cannot outlive its module.
pub struct TokenSession<'module> {
    /// The session, closed when dropped.
    pub session: Session,
    /// The token it is on.
    pub token: Token,
    mechanisms: Vec<MechanismType>,
    module: &'module Module,
}

/// A session kept open between calls (by the agent). Only a session whose
/// last use ended well is kept: no operation is left active in it. (The
/// agent, and so this, is Unix only.)
#[cfg(unix)]
pub struct IdleSession {
    session: Session,
    /// The token as it was when the session was opened.
    token: Token,
    write: bool,
    mechanisms: Vec<MechanismType>,
}

#[cfg(unix)]
impl IdleSession {
    /// Whether it is a session on `token` (the same slot, and the token
    /// there the same by its identity), read-write when `write`.
    pub fn fits(&self, token: &Token, write: bool) -> bool {
        self.write == write
            && self.token.slot == token.slot
            && self.token.identity() == token.identity()
    }
}

impl Token {
    /// What tells this token from every other: manufacturer, model, serial
    /// number and label.
    pub fn identity(&self) -> [&str; 4] {
        [
            self.info.manufacturer.as_str(),
            &self.info.model,
            &self.info.serial,
            &self.info.label,
        ]
    }
}

impl Module {
    /// Loads and initialises the module at `path`.
    pub fn load(path: &Path) -> Result<Module, HsmError> {
        let unusable = |err: Pkcs11Error| HsmError::ModuleUnusable {
            path: path.to_owned(),
            detail: match &err {
                Pkcs11Error::LibraryLoading(err) => err.to_string(),
                Pkcs11Error::MissingSymbol(symbol) => {
                    format!("it lacks {symbol}, so it is not a PKCS#11 module")
                }
                other => describe(other),
            },
        };
        let pkcs11 = Pkcs11::new(path).map_err(unusable)?;
        let initialized_here =
            match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
                Ok(()) => true,
                // Initialised elsewhere in this process: usable, and not ours
                // to finalize.
                Err(Pkcs11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => false,
                Err(err) => return Err(unusable(err)),
            };
        let manufacturer = pkcs11
            .get_library_info()
            .map(|info| unpadded(info.manufacturer_id().as_bytes()))
            .unwrap_or_default();
        Ok(Module {
            pkcs11,
            path: path.to_owned(),
            manufacturer,
            initialized_here,
        })
    }

    /// Whether the module is tpm2-pkcs11, going by the manufacturer its
    /// `C_GetInfo` names.
    pub fn is_tpm2_pkcs11(&self) -> bool {
        self.manufacturer == TPM2_PKCS11_MANUFACTURER
    }

    fn pkcs11(&self) -> &Pkcs11 {
        &self.pkcs11
    }

    /// The one initialised token that `filter` selects. With no token
    /// attributes in the reference, the module must have exactly one.
    pub fn find_token(&self, filter: &TokenFilter) -> Result<Token, HsmError> {
        let pkcs11 = self.pkcs11();
        let mut seen = Vec::new();
        for slot in pkcs11.get_slots_with_token().map_err(pkcs11_err)? {
            let info = self.token_info(slot)?;
            if info.initialized() {
                seen.push(Token {
                    slot,
                    label: info.label.clone(),
                    info,
                });
            }
        }
        let mut matching = Vec::new();
        for token in &seen {
            if self.matches(filter, token)? {
                matching.push(token.clone());
            }
        }
        match matching.len() {
            1 => Ok(matching.remove(0)),
            0 => Err(HsmError::TokenNotFound {
                wanted: describe_filter(filter),
                seen: if seen.is_empty() {
                    "the module reports no initialised token (initialise one, e.g. with \
                     `softhsm2-util --init-token` for SoftHSM2)"
                        .to_owned()
                } else {
                    format!("tokens seen: {}", list(&seen))
                },
            }),
            count => Err(HsmError::TokenAmbiguous {
                wanted: describe_filter(filter),
                count,
                seen: list(&matching),
            }),
        }
    }

    /// What the token in `slot` says of itself. cryptoki parses the whole
    /// `CK_TOKEN_INFO`; when it cannot (a malformed field this plugin does
    /// not use), the fields it does use are read directly.
    fn token_info(&self, slot: Slot) -> Result<TokenInfo, HsmError> {
        match self.pkcs11().get_token_info(slot) {
            Ok(info) => Ok(TokenInfo::from_parsed(&info)),
            Err(err @ Pkcs11Error::Pkcs11(..)) => Err(pkcs11_err(err)),
            Err(_unparsable) => token_info::read_raw(&self.path, slot.into()),
        }
    }

    fn matches(&self, filter: &TokenFilter, token: &Token) -> Result<bool, HsmError> {
        let same = |wanted: &Option<String>, actual: &str| {
            wanted
                .as_deref()
                .is_none_or(|wanted| wanted == unpadded(actual.as_bytes()))
        };
        let info = &token.info;
        if !(same(&filter.label, &info.label)
            && same(&filter.manufacturer, &info.manufacturer)
            && same(&filter.model, &info.model)
            && same(&filter.serial, &info.serial)
            && filter.slot_id.is_none_or(|id| id == token.slot.id()))
        {
            return Ok(false);
        }
        if filter.slot_description.is_none() && filter.slot_manufacturer.is_none() {
            return Ok(true);
        }
        let slot = self
            .pkcs11()
            .get_slot_info(token.slot)
            .map_err(pkcs11_err)?;
        Ok(same(&filter.slot_description, slot.slot_description())
            && same(&filter.slot_manufacturer, slot.manufacturer_id()))
    }

    /// Opens a session on `token` (read-write when `write`) and logs in
    /// with `pin` when the token requires a login.
    pub fn open_session(
        &self,
        token: Token,
        write: bool,
        pin: Option<&Pin>,
    ) -> Result<TokenSession<'_>, HsmError> {
        let pkcs11 = self.pkcs11();
        let session = if write {
            pkcs11.open_rw_session(token.slot)
        } else {
            pkcs11.open_ro_session(token.slot)
        }
        .map_err(pkcs11_err)?;
        if token.info.login_required() && !logged_in(&session) {
            let login = match pin {
                Some(pin) => session.login(UserType::User, Some(&pin.secret)),
                None if token.info.protected_authentication_path() => {
                    session.login(UserType::User, None)
                }
                None => {
                    return Err(HsmError::NoPin {
                        token: token.label.clone(),
                    })
                }
            };
            match login {
                Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
                Err(Pkcs11Error::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _)) => {
                    return Err(HsmError::WrongPin {
                        token: token.label.clone(),
                        origin: pin
                            .map(|pin| pin.origin.clone())
                            .unwrap_or_else(|| "the token's PIN pad".to_owned()),
                    })
                }
                Err(Pkcs11Error::Pkcs11(RvError::PinLocked, _)) => {
                    return Err(HsmError::PinLocked {
                        token: token.label.clone(),
                    })
                }
                Err(err) => return Err(pkcs11_err(err)),
            }
        }
        let mechanisms = pkcs11.get_mechanism_list(token.slot).map_err(pkcs11_err)?;
        Ok(TokenSession {
            session,
            token,
            mechanisms,
            module: self,
        })
    }

    /// Takes up a session kept by [`TokenSession::into_idle`] again, on
    /// `token` as this call found it (one the session
    /// [fits](IdleSession::fits)). A session the token has since closed
    /// fails at its first use, as a lost session does.
    #[cfg(unix)]
    pub fn resume_session(&self, idle: IdleSession, token: Token) -> TokenSession<'_> {
        TokenSession {
            session: idle.session,
            token,
            mechanisms: idle.mechanisms,
            module: self,
        }
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        if self.initialized_here {
            // Nothing useful can be done when finalizing fails at exit.
            let _ = self.pkcs11.clone().finalize();
        }
    }
}

impl TokenSession<'_> {
    /// Fails with [`HsmError::MechanismNotSupported`] unless the token
    /// offers `mechanism`.
    pub fn require(&self, mechanism: MechanismType, purpose: &'static str) -> Result<(), HsmError> {
        if self.offers(mechanism) {
            Ok(())
        } else {
            Err(HsmError::MechanismNotSupported {
                token: self.token.label.clone(),
                mechanism: mechanism.to_string(),
                purpose,
            })
        }
    }
}

impl<'module> TokenSession<'module> {
    /// Keeps the session open for a later call; `write` says how it was
    /// opened.
    #[cfg(unix)]
    pub fn into_idle(self, write: bool) -> IdleSession {
        IdleSession {
            session: self.session,
            token: self.token,
            write,
            mechanisms: self.mechanisms,
        }
    }

    /// Whether the token offers `mechanism`.
    pub fn offers(&self, mechanism: MechanismType) -> bool {
        self.mechanisms.contains(&mechanism)
    }

    /// What the token says of `mechanism`: its key sizes and uses.
    pub fn mechanism_info(&self, mechanism: MechanismType) -> Result<MechanismInfo, HsmError> {
        self.module
            .pkcs11()
            .get_mechanism_info(self.token.slot, mechanism)
            .map_err(pkcs11_err)
    }

    /// The module the session is on.
    pub fn module(&self) -> &'module Module {
        self.module
    }
}

/// Whether the application is logged in to the session's token already
/// (another of its sessions logged in): some tokens check the PIN again,
/// slowly, on a second `C_Login`.
fn logged_in(session: &Session) -> bool {
    session.get_session_info().is_ok_and(|info| {
        matches!(
            info.session_state(),
            SessionState::RoUser | SessionState::RwUser
        )
    })
}

fn describe_filter(filter: &TokenFilter) -> String {
    let mut parts = Vec::new();
    let mut text = |name: &str, value: &Option<String>| {
        if let Some(value) = value {
            parts.push(format!("{name}={value:?}"));
        }
    };
    text("token", &filter.label);
    text("manufacturer", &filter.manufacturer);
    text("model", &filter.model);
    text("serial", &filter.serial);
    text("slot-description", &filter.slot_description);
    text("slot-manufacturer", &filter.slot_manufacturer);
    if let Some(id) = filter.slot_id {
        parts.push(format!("slot-id={id}"));
    }
    if parts.is_empty() {
        "the key reference (it names no token)".to_owned()
    } else {
        parts.join(" ")
    }
}

fn list(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(|token| {
            format!(
                "{:?} (slot-id {}, serial {:?}, model {:?})",
                token.label,
                token.slot.id(),
                token.info.serial,
                token.info.model
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
