//! The checks of callers sharing one key at once, as parallel cosign runs
//! (CI jobs, a release matrix) do: the first `createKey` of a key,
//! `createKey` of an existing key while others sign with it, and the
//! signatures all of them make. A plugin that checks whether the key exists
//! and then writes it fails them: its callers get different keys.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;
use std::thread;

use sigstore_kms_client::{HashFunc, PublicKey};

use crate::checks::{fail, message, verify_locally, Suite};
use crate::message::digest_of;
use crate::report::Outcome;

/// The most signatures one signing caller makes while `createKey` calls
/// run, so that a plugin whose `createKey` hangs cannot make it loop on.
const MAX_SIGNING_ROUNDS: usize = 50;

/// First message seed of the concurrent callers, apart from those of the
/// other checks.
const SEED: u64 = 300;

/// A signature one concurrent caller made, with the key its `createKey`
/// returned (`None` for a caller that only signed).
pub(crate) struct CallerSignature {
    caller: usize,
    key: Option<PublicKey>,
    digest: Vec<u8>,
    signature: Vec<u8>,
}

/// What one caller did: the key its `createKey` answered, the signatures
/// it made, and the first call that failed, after which it stopped.
#[derive(Default)]
struct Caller {
    key: Option<PublicKey>,
    signatures: Vec<CallerSignature>,
    failure: Option<String>,
}

impl Caller {
    fn failed(mut self, failure: String) -> Self {
        self.failure = Some(failure);
        self
    }
}

impl Suite {
    fn callers(&self) -> usize {
        self.config.concurrent_calls.max(2)
    }

    /// Signs a message of its own and keeps the signature for
    /// `concurrent-signatures-verify`.
    fn sign_as_caller(
        &self,
        caller: usize,
        round: usize,
        key: Option<PublicKey>,
    ) -> Result<CallerSignature, String> {
        let seed = SEED + (caller * MAX_SIGNING_ROUNDS + round) as u64;
        let signature = self
            .client
            .sign_message(message(seed), &self.options())
            .map_err(|err| format!("caller {caller}: signMessage: {err}"))?;
        let digest = digest_of(HashFunc::SHA256, message(seed)).map_err(|err| err.to_string())?;
        Ok(CallerSignature {
            caller,
            key,
            digest,
            signature,
        })
    }

    /// Runs `call` in `callers` threads released at the same moment.
    fn at_once(&self, callers: usize, call: impl Fn(usize) -> Caller + Sync) -> Vec<Caller> {
        let start = Barrier::new(callers);
        thread::scope(|scope| {
            let handles: Vec<_> = (0..callers)
                .map(|caller| {
                    let (start, call) = (&start, &call);
                    scope.spawn(move || {
                        start.wait();
                        call(caller)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle.join().unwrap_or_else(|_| {
                        Caller::default().failed("a calling thread panicked".to_owned())
                    })
                })
                .collect()
        })
    }

    /// Keeps the signatures, and returns the keys and the failures.
    fn gather(&mut self, callers: Vec<Caller>) -> (Vec<PublicKey>, Vec<String>) {
        let (mut keys, mut failures) = (Vec::new(), Vec::new());
        for caller in callers {
            keys.extend(caller.key);
            failures.extend(caller.failure);
            self.caller_signatures.extend(caller.signatures);
        }
        (keys, failures)
    }

    /// `create-key-concurrent`: callers that all find no key create it at
    /// once, then sign; every `createKey` must answer the same key.
    pub(crate) fn create_key_concurrent(&mut self) -> Outcome {
        let Some(algorithm) = self.default_algorithm.clone() else {
            return fail("no default algorithm to create a key with");
        };
        if let Ok(existing) = self.client.public_key(&self.options()) {
            self.existing_key = Some(existing);
            return Outcome::Skipped(
                "the key existed before the suite ran; name a key that does not exist yet to \
                 check that concurrent first createKey calls agree"
                    .into(),
            );
        }
        let callers = self.callers();
        let results = self.at_once(callers, |caller| {
            let key = match self.client.create_key(&algorithm, &self.options()) {
                Ok(key) => key,
                Err(err) => {
                    return Caller::default().failed(format!("caller {caller}: createKey: {err}"))
                }
            };
            let done = Caller {
                key: Some(key.clone()),
                ..Caller::default()
            };
            match self.sign_as_caller(caller, 0, Some(key)) {
                Ok(signed) => Caller {
                    signatures: vec![signed],
                    ..done
                },
                Err(err) => done.failed(err),
            }
        });
        let (keys, failures) = self.gather(results);
        let distinct: HashSet<&[u8]> = keys.iter().map(PublicKey::to_der).collect();
        if distinct.len() > 1 {
            return fail(format!(
                "{} concurrent createKey calls on a new key returned {} different public \
                 keys: the key must be created once (for example written to a temporary \
                 file and linked into place only if none exists) and every caller \
                 answered that key",
                keys.len(),
                distinct.len()
            ));
        }
        if let Some(first) = failures.first() {
            return fail(format!(
                "{} of {callers} callers creating the key at once, then signing, failed; \
                 first: {first}",
                failures.len()
            ));
        }
        self.key = keys.into_iter().next();
        Outcome::Passed
    }

    /// `create-key-existing-unchanged`: `createKey` of the existing key,
    /// from several callers at once while others sign with it, answers that
    /// key, and the key stays the same.
    pub(crate) fn create_key_existing_unchanged(&mut self) -> Outcome {
        let (Some(algorithm), Some(key)) = (self.default_algorithm.clone(), self.key.clone())
        else {
            return fail("no key was created");
        };
        let callers = self.callers();
        let creators = callers / 2;
        let creating = AtomicUsize::new(creators);
        let results = self.at_once(callers, |caller| {
            if caller < creators {
                let created = self.client.create_key(&algorithm, &self.options());
                creating.fetch_sub(1, Ordering::SeqCst);
                return match created {
                    Ok(key) => Caller {
                        key: Some(key),
                        ..Caller::default()
                    },
                    Err(err) => {
                        Caller::default().failed(format!("caller {caller}: createKey: {err}"))
                    }
                };
            }
            // Sign for as long as createKey calls run: a plugin that
            // rewrites the key meanwhile must be caught in the act.
            let mut signer = Caller::default();
            for round in 0..MAX_SIGNING_ROUNDS {
                match self.sign_as_caller(caller, round, None) {
                    Ok(signed) => signer.signatures.push(signed),
                    Err(err) => return signer.failed(err),
                }
                if creating.load(Ordering::SeqCst) == 0 {
                    break;
                }
            }
            signer
        });
        let (keys, failures) = self.gather(results);
        if let Some(first) = failures.first() {
            return fail(format!(
                "{} of {callers} callers failed while createKey of the existing key ran; \
                 first: {first}",
                failures.len()
            ));
        }
        if keys.iter().any(|created| *created != key) {
            return fail("createKey of an existing key returned a different key");
        }
        match self.client.public_key(&self.options()) {
            Ok(now) if now == key => Outcome::Passed,
            Ok(_) => fail("after createKey of the existing key, publicKey returns another key"),
            Err(err) => fail(format!(
                "publicKey after createKey of the existing key: {err}"
            )),
        }
    }

    /// `concurrent-signatures-verify`: every signature of the callers
    /// above verifies with the key, and with the key that caller's own
    /// `createKey` answered.
    pub(crate) fn concurrent_signatures_verify(&mut self) -> Outcome {
        let Some(key) = &self.key else {
            return fail("no key was created");
        };
        if self.caller_signatures.is_empty() {
            return fail("no concurrent caller made a signature");
        }
        for signed in &self.caller_signatures {
            let keys = [
                (Some(key), "the key"),
                (signed.key.as_ref(), "the key its createKey returned"),
            ];
            for (with, which) in keys {
                let Some(with) = with else { continue };
                let whose = || {
                    format!(
                        "the signature of concurrent caller {}, checked with {which},",
                        signed.caller
                    )
                };
                if let Err(outcome) = verify_locally(
                    with,
                    &signed.digest,
                    &signed.signature,
                    HashFunc::SHA256,
                    whose,
                ) {
                    return outcome;
                }
            }
        }
        Outcome::Passed
    }
}
