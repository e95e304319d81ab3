//! The plugin: the six methods, each on a fresh module and session that
//! are closed before the reply is written, or on a session of the agent's
//! module.

use std::io::Read;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sigstore_kms_handler::{CallOptions, Error, Plugin};
use sigstore_kms_protocol::InitOptions;

use crate::algorithm::{Algorithm, HASH_FUNCS};
use crate::create_lock::CreateLock;
use crate::error::HsmError;
use crate::keys::KeyPair;
use crate::pair::CheckedKeys;
use crate::public_key::VerifyError;
use crate::settings::Settings;
use crate::token::{Module, TokenSession};
use crate::uri::KeyUri;

/// How long a token that fails for a moment is opened again at most.
/// Long enough for 32 processes logging in to one SoftHSM2 token at once;
/// short enough that a token that is really missing (a typo in `token=`)
/// is reported soon.
const RETRY_WINDOW: Duration = Duration::from_secs(5);

/// What is left of the deadline for the call itself after the last
/// attempt to open the token.
const WORK_MARGIN: Duration = Duration::from_millis(250);

/// The pause before attempt `attempt + 1`: doubling from 20 ms up to
/// 320 ms, plus up to as much again of jitter, so that processes that
/// collided do not collide again.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(10 << attempt.clamp(1, 5));
    let jitter = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |now| now.subsec_nanos());
    base + base.mul_f64(f64::from(jitter % 1000) / 1000.0)
}

/// Until when a transient failure to open the token is retried: for
/// [`RETRY_WINDOW`] from `start`, and never later than [`WORK_MARGIN`]
/// before the call's deadline.
fn retry_until(start: SystemTime, deadline: Option<SystemTime>) -> SystemTime {
    let window = start + RETRY_WINDOW;
    match deadline.and_then(|deadline| deadline.checked_sub(WORK_MARGIN)) {
        Some(before_deadline) if before_deadline < window => before_deadline.max(start),
        _ => window,
    }
}

/// Where the methods get a logged-in session on the token: a fresh module
/// per call ([`Direct`]), or the agent's module, kept logged in.
pub trait Sessions {
    /// Runs `work` on a logged-in session of the token `uri` selects, on
    /// the module of `settings`. `work` may run a second time when the
    /// first session was lost.
    fn with_session<T>(
        &self,
        uri: &KeyUri,
        settings: &Settings,
        write: bool,
        work: impl FnMut(&TokenSession<'_>) -> Result<T, Error>,
    ) -> Result<T, Error>;

    /// The public keys already checked on these sessions, if they are kept.
    fn checked_keys(&self) -> Option<&CheckedKeys> {
        None
    }
}

/// Each call loads the module, opens a session and logs in, and closes
/// the session and finalizes the module before the reply is written.
/// Opening a token that is busy for a moment (SoftHSM2 rewrites its token
/// file at every login, and a process reading it then sees no token or
/// `CKR_GENERAL_ERROR`) is retried with backoff (see [`retry_until`]).
pub struct Direct;

impl Sessions for Direct {
    fn with_session<T>(
        &self,
        uri: &KeyUri,
        settings: &Settings,
        write: bool,
        mut work: impl FnMut(&TokenSession<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let until = retry_until(SystemTime::now(), settings.deadline);
        let mut attempt = 1;
        loop {
            let module = Module::load(&settings.module)?;
            let session = module
                .find_token(&uri.token)
                .and_then(|token| module.open_session(token, write, settings.pin.as_ref()));
            match session {
                Ok(session) => return work(&session),
                Err(err) if err.is_transient() => {
                    let pause = backoff(attempt);
                    if SystemTime::now() + pause > until {
                        return Err(err.into());
                    }
                    // Finalize first: the next attempt starts from a fresh
                    // C_Initialize, which reads the token again.
                    drop(module);
                    thread::sleep(pause);
                    attempt += 1;
                }
                Err(err) => return Err(err.into()),
            }
        }
    }
}

/// The key an `hsm://` reference names, and where its sessions come from.
pub struct Hsm<S = Direct> {
    uri: KeyUri,
    sessions: S,
}

impl Hsm {
    /// Parses the key reference; the module is loaded only by the methods
    /// that need the token.
    pub fn open(init: &InitOptions) -> Result<Self, Error> {
        Hsm::with_sessions(init, Direct)
    }
}

impl<S: Sessions> Hsm<S> {
    /// Like [`Hsm::open`], with sessions from `sessions`.
    pub fn with_sessions(init: &InitOptions, sessions: S) -> Result<Self, Error> {
        let uri = KeyUri::parse(&init.key_resource_id)
            .map_err(|err| format!("invalid key reference hsm://...: {err}"))?;
        Ok(Hsm { uri, sessions })
    }

    /// Runs `work` on a logged-in session of the token.
    fn with_session<T>(
        &self,
        settings: &Settings,
        write: bool,
        work: impl FnMut(&TokenSession<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.sessions.with_session(&self.uri, settings, write, work)
    }

    /// Checks what every key method needs before touching the token.
    fn settings(&self, options: &CallOptions) -> Result<Settings, Error> {
        if !options.key_version.is_empty() {
            return Err(format!(
                "key version {:?} requested, but PKCS#11 keys have no versions; leave keyVersion empty",
                options.key_version
            )
            .into());
        }
        if !self.uri.names_a_key() {
            return Err(HsmError::NoKeyName.into());
        }
        let mut settings = Settings::resolve(&self.uri)?;
        settings.deadline = options.deadline.and_then(|deadline| {
            let nanos = u64::try_from(deadline.unix_timestamp_nanos()).ok()?;
            Some(UNIX_EPOCH + Duration::from_nanos(nanos))
        });
        Ok(settings)
    }

    /// Like [`Hsm::settings`], for the calls that sign or verify.
    fn message_settings(&self, options: &CallOptions) -> Result<Settings, Error> {
        let settings = self.settings(options)?;
        if !HASH_FUNCS.contains(&options.hash_func) {
            return Err(format!(
                "unsupported hash function {}: this plugin signs SHA-256, SHA-384 or SHA-512 digests",
                options.hash_func
            )
            .into());
        }
        Ok(settings)
    }

    /// The key pair to verify with, checked or already checked.
    fn verifying_key(&self, session: &TokenSession<'_>) -> Result<KeyPair, HsmError> {
        match self.sessions.checked_keys() {
            Some(checked) => session.verifying_key_checked(&self.uri, checked),
            None => session.verifying_key(&self.uri),
        }
    }

    /// Fails when the reference asks for another algorithm than the key's.
    fn check_algorithm(&self, actual: Algorithm) -> Result<(), HsmError> {
        match self.uri.algorithm {
            Some(wanted) if wanted != actual => {
                Err(HsmError::mismatch(self.uri.to_string(), actual, wanted))
            }
            _ => Ok(()),
        }
    }
}

impl<S: Sessions> Plugin for Hsm<S> {
    fn default_algorithm(&self) -> Result<String, Error> {
        Ok(self
            .uri
            .algorithm
            .unwrap_or(Algorithm::DEFAULT)
            .name()
            .to_owned())
    }

    fn supported_algorithms(&self) -> Result<Vec<String>, Error> {
        Ok(Algorithm::names().into_iter().map(str::to_owned).collect())
    }

    fn create_key(&self, algorithm: &str, options: &CallOptions) -> Result<String, Error> {
        let algorithm = Algorithm::from_name(algorithm)?;
        if let Some(wanted) = self.uri.algorithm.filter(|wanted| *wanted != algorithm) {
            return Err(format!(
                "createKey asks for {}, but the key reference says algorithm={}",
                algorithm.name(),
                wanted.name()
            )
            .into());
        }
        let settings = self.settings(options)?;
        options.check_deadline()?;
        // The lock names the token as the token describes itself, so the
        // token is opened once to read that.
        let token = self.with_session(&settings, false, |session| Ok(session.token.clone()))?;
        // Held until the key exists, so that a process that created the
        // same key at the same moment finds it. The token is opened again
        // under the lock: a module may read its objects only when it is
        // loaded (tpm2-pkcs11 does), and a key another process made while
        // this one waited must be seen.
        let _lock = CreateLock::acquire(&settings.module, &token, &self.uri)?;
        let key = self.with_session(&settings, true, |session| {
            let key = match session.find_key_pair(&self.uri)? {
                Some(existing) => existing,
                None => session.generate(&self.uri, algorithm)?,
            };
            Ok(key.public)
        })?;
        let existing = key.algorithm();
        if existing != algorithm {
            return Err(HsmError::mismatch(self.uri.to_string(), existing, algorithm).into());
        }
        Ok(key.to_pem()?)
    }

    fn public_key(&self, options: &CallOptions) -> Result<String, Error> {
        let settings = self.settings(options)?;
        options.check_deadline()?;
        let key = self.with_session(&settings, false, |session| {
            Ok(self.verifying_key(session)?.public)
        })?;
        self.check_algorithm(key.algorithm())?;
        Ok(key.to_pem()?)
    }

    fn sign_message(
        &self,
        message: &mut dyn Read,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        let settings = self.message_settings(options)?;
        // Hashed before the token is opened, so no session waits on stdin.
        let digest = options.digest(message)?;
        options.check_deadline()?;
        self.with_session(&settings, false, |session| {
            let key = session.signing_key(&self.uri)?;
            let algorithm = key.algorithm;
            self.check_algorithm(algorithm)?;
            let input = algorithm.token_input(options.hash_func, &digest)?;
            let raw = session.sign(key.handle, algorithm, &input)?;
            Ok(algorithm.signature_from_token(raw)?)
        })
    }

    fn verify_signature(
        &self,
        signature: &[u8],
        message: &mut dyn Read,
        options: &CallOptions,
    ) -> Result<(), Error> {
        let settings = self.message_settings(options)?;
        let digest = options.digest(message)?;
        options.check_deadline()?;
        let remote = options.remote_verification;
        let verified = self.with_session(&settings, false, |session| {
            let pair = self.verifying_key(session)?;
            let (key, algorithm) = (&pair.public, pair.public.algorithm());
            self.check_algorithm(algorithm)?;
            // Without a public-key object of this key in the token (its
            // public key came from the private key), verifying locally
            // gives the token's verdict.
            let Some(handle) = pair.public_handle.filter(|_| remote) else {
                return Ok(key.verify(options.hash_func, &digest, signature));
            };
            let input = algorithm.token_input(options.hash_func, &digest)?;
            let for_token = match algorithm.signature_for_token(signature) {
                Ok(for_token) => for_token,
                Err(err) => return Ok(Err(VerifyError::Malformed(err))),
            };
            Ok(if session.verify(handle, algorithm, &input, &for_token)? {
                Ok(())
            } else {
                Err(VerifyError::Mismatch)
            })
        })?;
        Ok(verified.map_err(|err| format!("invalid signature: {err}"))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_end_after_the_window_or_shortly_before_the_deadline() {
        let start = UNIX_EPOCH + Duration::from_secs(1_000);
        let far = start + Duration::from_secs(180);
        assert_eq!(retry_until(start, Some(far)), start + RETRY_WINDOW);
        assert_eq!(retry_until(start, None), start + RETRY_WINDOW);
        let near = start + Duration::from_secs(2);
        assert_eq!(retry_until(start, Some(near)), near - WORK_MARGIN);
        // A deadline closer than the margin leaves no retry at all.
        assert_eq!(retry_until(start, Some(start + WORK_MARGIN / 2)), start);
    }

    #[test]
    fn backoff_doubles_up_to_a_bound_with_jitter() {
        for attempt in 1..20 {
            let base = Duration::from_millis(10 << attempt.min(5));
            let pause = backoff(attempt);
            assert!(pause >= base && pause <= base * 2, "{attempt}: {pause:?}");
        }
    }
}
