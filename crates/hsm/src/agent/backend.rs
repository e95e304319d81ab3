//! The agent's hold on the token: one loaded module, logged in once, and a
//! fresh session for each call, so that calls run in parallel wherever the
//! module allows. When the token or the login is lost, the module is
//! finalized and loaded again once, and the call is tried again.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use cryptoki::session::Session;
use cryptoki::slot::Slot;
use sigstore_kms_handler::Error;

use crate::error::HsmError;
use crate::kms::Sessions;
use crate::pair::CheckedKeys;
use crate::settings::{Pin, Settings};
use crate::token::{IdleSession, Module, Token, TokenSession};
use crate::uri::{KeyUri, TokenFilter};

/// Return codes after which the module's state cannot be trusted: the
/// token was removed, the sessions or the login are gone. SoftHSM2
/// answers `CKR_GENERAL_ERROR` ("unrecoverable" in PKCS#11) from then on
/// once its token directory went away, even after it is back.
const LOST: [&str; 10] = [
    "CKR_GENERAL_ERROR",
    "CKR_SESSION_HANDLE_INVALID",
    "CKR_SESSION_CLOSED",
    "CKR_DEVICE_REMOVED",
    "CKR_DEVICE_ERROR",
    "CKR_TOKEN_NOT_PRESENT",
    "CKR_TOKEN_NOT_RECOGNIZED",
    "CKR_USER_NOT_LOGGED_IN",
    "CKR_CRYPTOKI_NOT_INITIALIZED",
    "CKR_SLOT_ID_INVALID",
];

/// How long a call waits for a session when the token has as many open as
/// it allows.
const SESSION_WAIT: Duration = Duration::from_secs(30);

/// How many sessions the agent keeps open between calls, for the next
/// calls to use instead of opening their own: opening a session, with what
/// comes with it (the token's mechanism list), costs a call more than the
/// rest of a `publicKey` answered from checked keys.
const IDLE_SESSIONS: usize = 8;

/// What the agent serves, and its current hold on the module.
pub struct Backend {
    module: PathBuf,
    pin: Option<Pin>,
    token: Option<TokenFilter>,
    current: RwLock<Current>,
    /// Signalled whenever a call closes its session, for the calls that
    /// wait for one (see [`SESSION_WAIT`]).
    session_closed: (Mutex<()>, Condvar),
    /// Set by [`Backend::close`]: no call loads the module again after it.
    closed: AtomicBool,
    /// The public keys checked on this load of the module.
    checked: CheckedKeys,
}

struct Current {
    /// Counts the times the module was loaded.
    number: u64,
    /// `None` after a re-initialisation failed; the next call tries again.
    generation: Option<Generation>,
}

/// One load of the module. The fields drop in order: sessions close before
/// the module is finalized.
struct Generation {
    /// A session per token, open as long as the module is loaded: an
    /// application is logged out of a token when its last session there
    /// closes.
    logins: Mutex<HashMap<u64, Session>>,
    /// Sessions whose last call went well, for the next calls; closed
    /// before the module is finalized (fields drop in order).
    idle: Mutex<Vec<IdleSession>>,
    /// The slot of the token the agent was started for, if it named one.
    served: Option<Slot>,
    module: Module,
}

/// Why a call cannot use the agent's module or token.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The call names another module.
    #[error(
        "the sigstore-kms-hsm agent (SIGSTORE_KMS_HSM_AGENT) serves the PKCS#11 module {served}, \
         but the call asks for {asked}: unset SIGSTORE_KMS_HSM_AGENT to use that module directly, \
         or start an agent for it"
    )]
    OtherModule {
        /// The agent's module.
        served: String,
        /// The call's module.
        asked: String,
    },
    /// The call selects another token than the one the agent serves.
    #[error(
        "the sigstore-kms-hsm agent (SIGSTORE_KMS_HSM_AGENT) serves only token {served:?}, but \
         the key reference selects token {asked:?}: unset SIGSTORE_KMS_HSM_AGENT to use it \
         directly, or start an agent without --token"
    )]
    OtherToken {
        /// The agent's token.
        served: String,
        /// The call's token.
        asked: String,
    },
    /// The agent is stopping: the module is finalized, or is about to be.
    #[error("the agent is stopping: start it again, or unset SIGSTORE_KMS_HSM_AGENT")]
    Stopping,
    /// The token has had as many sessions open as it allows for too long.
    #[error("no session of token {0:?} became free within {SESSION_WAIT:?}")]
    NoSession(String),
    /// The module could not be loaded again after the token was lost.
    #[error(
        "the agent re-initialised the PKCS#11 module after {cause}, and that failed: {source}"
    )]
    Reinitialise {
        /// What was lost.
        cause: String,
        /// Why loading failed.
        #[source]
        source: HsmError,
    },
    /// The module was loaded again, and the call failed again.
    #[error("{0} (again after the agent re-initialised the PKCS#11 module)")]
    Again(String),
}

impl Backend {
    /// Loads `settings.module` and logs in to the token `token` selects
    /// (with no token named, to the module's only token, if it has one).
    /// Fails as a direct call would: wrong PIN, token not found, ...
    pub fn start(settings: Settings, token: Option<TokenFilter>) -> Result<Backend, HsmError> {
        let backend = Backend {
            module: settings.module,
            pin: settings.pin,
            token,
            current: RwLock::new(Current {
                number: 0,
                generation: None,
            }),
            session_closed: (Mutex::new(()), Condvar::new()),
            closed: AtomicBool::new(false),
            checked: CheckedKeys::default(),
        };
        let generation = backend.load()?;
        backend.write_current().generation = Some(generation);
        Ok(backend)
    }

    /// The module the agent serves.
    pub fn module(&self) -> &Path {
        &self.module
    }

    /// Checks that `asked` (a module path a call would load) is the
    /// agent's module.
    pub fn check_module(&self, asked: &Path) -> Result<(), ServeError> {
        let canonical = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_owned());
        // The same path names the same file: most calls ask for the
        // agent's own path (its SIGSTORE_KMS_HSM_MODULE), and resolving two
        // paths costs a system call per component.
        if asked == self.module || canonical(asked) == canonical(&self.module) {
            Ok(())
        } else {
            Err(ServeError::OtherModule {
                served: self.module.display().to_string(),
                asked: asked.display().to_string(),
            })
        }
    }

    /// Checks that the agent's module is on `allowlist` (paths separated
    /// as in `PATH`), as the caller's `SIGSTORE_KMS_HSM_MODULE_ALLOWLIST`
    /// requires of a module it loads itself.
    pub fn check_allowlist(&self, allowlist: &OsStr) -> Result<(), HsmError> {
        let canonical = self
            .module
            .canonicalize()
            .unwrap_or_else(|_| self.module.clone());
        if std::env::split_paths(allowlist).any(|entry| entry == canonical) {
            Ok(())
        } else {
            Err(HsmError::ModuleNotAllowed {
                path: self.module.clone(),
                origin: "the sigstore-kms-hsm agent (SIGSTORE_KMS_HSM_AGENT)",
                canonical,
            })
        }
    }

    /// Logs out and finalizes the module, waiting at most `grace` for the
    /// calls in progress.
    pub fn close(&self, grace: Duration) {
        self.closed.store(true, Ordering::SeqCst);
        let started = Instant::now();
        loop {
            if let Ok(mut current) = self.current.try_write() {
                current.generation = None;
                return;
            }
            if started.elapsed() > grace {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn load(&self) -> Result<Generation, HsmError> {
        let module = Module::load(&self.module)?;
        let mut generation = Generation {
            logins: Mutex::new(HashMap::new()),
            idle: Mutex::new(Vec::new()),
            served: None,
            module,
        };
        let token = match generation
            .module
            .find_token(self.token.as_ref().unwrap_or(&TokenFilter::default()))
        {
            Ok(token) => token,
            // Without a token named, a module with several tokens logs in
            // to each when a call first needs it.
            Err(HsmError::TokenAmbiguous { .. }) if self.token.is_none() => return Ok(generation),
            Err(err) => return Err(err),
        };
        if self.token.is_some() {
            generation.served = Some(token.slot);
        }
        generation.log_in(&token, self.pin.as_ref())?;
        Ok(generation)
    }

    fn read_current(&self) -> RwLockReadGuard<'_, Current> {
        self.current.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_current(&self) -> std::sync::RwLockWriteGuard<'_, Current> {
        self.current.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Loads the module again, unless another call did since load
    /// `failed` was current.
    fn reinitialise(&self, failed: u64, cause: &str) -> Result<(), ServeError> {
        let mut current = self.write_current();
        if self.closed.load(Ordering::SeqCst) {
            return Err(ServeError::Stopping);
        }
        if current.number != failed && current.generation.is_some() {
            return Ok(());
        }
        eprintln!("sigstore-kms-hsm agent: re-initialising the PKCS#11 module after {cause}");
        // Finalize before loading: a fresh C_Initialize reads the slots
        // and tokens again.
        current.generation = None;
        current.number += 1;
        self.checked.clear();
        let generation = self.load().map_err(|source| ServeError::Reinitialise {
            cause: cause.to_owned(),
            source,
        })?;
        current.generation = Some(generation);
        Ok(())
    }

    /// One attempt of a call on the current load of the module.
    fn attempt<T>(
        &self,
        current: &Current,
        uri: &KeyUri,
        write: bool,
        work: &mut impl FnMut(&TokenSession<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(ServeError::Stopping.into());
        }
        let Some(generation) = &current.generation else {
            return Err(Lost("the PKCS#11 module is not loaded".to_owned()).into());
        };
        let module = &generation.module;
        // The token is looked up for every call, kept session or not: a
        // token that went away is noticed here, as it would be directly.
        let token = match module.find_token(&uri.token) {
            Err(err @ HsmError::TokenNotFound { .. }) if generation.served.is_some() => {
                return Err(Lost(err.to_string()).into())
            }
            other => other?,
        };
        if let Some(served) = generation.served {
            if token.slot != served {
                let served = generation.token_label(served);
                return Err(ServeError::OtherToken {
                    served,
                    asked: token.label,
                }
                .into());
            }
        }
        generation.ensure_logged_in(&token, self.pin.as_ref())?;
        let session = match generation.take_idle(&token, write) {
            Some(idle) => module.resume_session(idle, token),
            None => self.open_session(generation, token, write)?,
        };
        let result = work(&session);
        if result.is_ok() {
            generation.keep_idle(session.into_idle(write));
        } else {
            // Closed: whatever failed may have left the session unusable.
            drop(session);
        }
        // A call waiting for a session may now take or close this one.
        self.session_closed.1.notify_all();
        result
    }

    /// A new session on `token`, waiting while the token has as many open
    /// as it allows (after closing those kept idle): calls are then served
    /// one after another.
    fn open_session<'g>(
        &self,
        generation: &'g Generation,
        token: Token,
        write: bool,
    ) -> Result<TokenSession<'g>, Error> {
        let started = Instant::now();
        loop {
            match generation
                .module
                .open_session(token.clone(), write, self.pin.as_ref())
            {
                Err(HsmError::Pkcs11 { message, .. }) if message.contains("CKR_SESSION_COUNT") => {
                    // The sessions kept for later calls go first.
                    if generation.close_idle() {
                        continue;
                    }
                    if started.elapsed() > SESSION_WAIT {
                        return Err(ServeError::NoSession(token.label).into());
                    }
                    let (lock, closed) = &self.session_closed;
                    let guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    let _ = closed.wait_timeout(guard, Duration::from_millis(50));
                }
                other => return Ok(other?),
            }
        }
    }
}

impl Sessions for &Backend {
    fn with_session<T>(
        &self,
        uri: &KeyUri,
        settings: &Settings,
        write: bool,
        mut work: impl FnMut(&TokenSession<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.check_module(&settings.module)?;
        let current = self.read_current();
        let failed = current.number;
        let cause = match self.attempt(&current, uri, write, &mut work) {
            Err(err) if is_lost(&*err) => err.to_string(),
            other => return other,
        };
        drop(current);
        self.reinitialise(failed, &cause)?;
        let current = self.read_current();
        self.attempt(&current, uri, write, &mut work)
            .map_err(|err| ServeError::Again(err.to_string()).into())
    }

    fn checked_keys(&self) -> Option<&CheckedKeys> {
        Some(&self.checked)
    }
}

impl Generation {
    /// A kept session on `token`, read-write when `write`.
    fn take_idle(&self, token: &Token, write: bool) -> Option<IdleSession> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let at = idle.iter().rposition(|kept| kept.fits(token, write))?;
        Some(idle.swap_remove(at))
    }

    /// Keeps `session` for a later call, unless enough are kept.
    fn keep_idle(&self, session: IdleSession) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_SESSIONS {
            idle.push(session);
        }
    }

    /// Closes every kept session; whether there was any.
    fn close_idle(&self) -> bool {
        let closed = std::mem::take(&mut *self.idle.lock().unwrap_or_else(PoisonError::into_inner));
        !closed.is_empty()
    }

    /// Logs in to `token` unless this load of the module already did.
    fn ensure_logged_in(&self, token: &Token, pin: Option<&Pin>) -> Result<(), HsmError> {
        let logins = self.logins.lock().unwrap_or_else(PoisonError::into_inner);
        if logins.contains_key(&token.slot.id()) {
            return Ok(());
        }
        drop(logins);
        self.log_in(token, pin)
    }

    fn log_in(&self, token: &Token, pin: Option<&Pin>) -> Result<(), HsmError> {
        let session = self.module.open_session(token.clone(), false, pin)?.session;
        self.logins
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.slot.id(), session);
        Ok(())
    }

    fn token_label(&self, slot: Slot) -> String {
        self.module
            .find_token(&TokenFilter {
                slot_id: Some(slot.id()),
                ..TokenFilter::default()
            })
            .map_or_else(|_| format!("in slot {}", slot.id()), |token| token.label)
    }
}

/// The module's state is gone: see [`LOST`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Lost(String);

/// Whether `err` means the module must be loaded again.
fn is_lost(err: &(dyn std::error::Error + 'static)) -> bool {
    if err.is::<Lost>() {
        return true;
    }
    match err.downcast_ref::<HsmError>() {
        Some(HsmError::Pkcs11 { message, .. }) => LOST.iter().any(|code| message.contains(code)),
        _ => false,
    }
}
