//! The checks, in the order they run.

use std::io::{self, Read};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use sigstore_kms_client::{
    CallOptions, Client, Error, HashFunc, KeyAlgorithm, KeyError, PublicKey, StderrMode,
};
use sigstore_kms_protocol::algorithm::{Algorithm, Curve, KeyType};
use sigstore_kms_protocol::{
    DefaultAlgorithmArgs, MethodArgs, MethodName, OffsetDateTime, PluginResp,
};

use crate::concurrency::CallerSignature;
use crate::message::{digest_of, GeneratedMessage};
use crate::report::{CheckResult, Outcome, Report};
use crate::{raw, Config};

/// How many checks the suite runs.
const CHECK_COUNT: usize = 26;

/// Every check, in the order they run: later checks use the key and the
/// signatures earlier ones made.
const SUITE: [(&str, CheckFn); CHECK_COUNT] = [
    ("default-algorithm", Suite::default_algorithm),
    ("supported-algorithms", Suite::supported_algorithms),
    ("create-key-concurrent", Suite::create_key_concurrent),
    ("create-key", Suite::create_key),
    ("key-matches-algorithm", Suite::key_matches_algorithm),
    (
        "create-key-unsupported-algorithm",
        Suite::create_key_unsupported,
    ),
    ("create-key-idempotent", Suite::create_key_idempotent),
    (
        "create-key-existing-unchanged",
        Suite::create_key_existing_unchanged,
    ),
    (
        "concurrent-signatures-verify",
        Suite::concurrent_signatures_verify,
    ),
    ("public-key", Suite::public_key),
    ("sign-verify-message", Suite::sign_verify_message),
    ("sign-verify-digest", Suite::sign_verify_digest),
    (
        "sign-verify-message-and-digest",
        Suite::sign_verify_message_and_digest,
    ),
    ("sign-verify-sha512", Suite::sign_verify_sha512),
    ("wrong-digest-length-refused", Suite::wrong_digest_length),
    (
        "verify-rejects-fake-signature",
        Suite::rejects_fake_signature,
    ),
    (
        "verify-rejects-tampered-message",
        Suite::rejects_tampered_message,
    ),
    (
        "verify-rejects-other-message-signature",
        Suite::rejects_other_message_signature,
    ),
    (
        "signatures-verify-locally",
        Suite::signatures_verify_locally,
    ),
    ("expired-deadline-fails", Suite::expired_deadline),
    (
        "short-deadline-leaves-no-process",
        Suite::short_deadline_leaves_no_process,
    ),
    ("unknown-method-answered", Suite::unknown_method),
    (
        "wrong-protocol-version-answered",
        Suite::wrong_protocol_version,
    ),
    ("stdout-single-json-object", Suite::single_json_object),
    ("large-message-streams", Suite::large_message),
    ("concurrent-calls", Suite::concurrent_calls),
];

/// The name of every check, in the order they run.
pub const CHECKS: [&str; CHECK_COUNT] = {
    let mut names = [""; CHECK_COUNT];
    let mut index = 0;
    while index < CHECK_COUNT {
        names[index] = SUITE[index].0;
        index += 1;
    }
    names
};

/// The algorithm name no plugin supports, as in the Go suite.
const UNSUPPORTED_ALGORITHM: &str = "any-algorithm";
const MESSAGE_LEN: u64 = 4096;

/// How long `publicKey` with a deadline long past may take: it must fail
/// without waiting for the plugin, which any bound far below the timeout of
/// a call shows, however loaded the machine.
const EXPIRED_DEADLINE_BOUND: Duration = Duration::from_secs(10);

/// The deadline of the call that must leave no process behind: long enough
/// for any plugin to start and read the first chunk of its message.
const SHORT_DEADLINE: Duration = Duration::from_secs(2);

/// How long the message of that call keeps coming after its deadline, so
/// that only the deadline can end the call, even when the host is slow to
/// enforce it.
const STALL_PAST_DEADLINE: Duration = Duration::from_secs(10);

/// How long the processes of a killed plugin may take to disappear: a
/// killed process lingers until the kernel has run its exit.
const LEFTOVER_GRACE: Duration = Duration::from_secs(10);

type CheckFn = fn(&mut Suite) -> Outcome;

/// A signature the plugin made, kept for the local verification check.
struct Signed {
    check: &'static str,
    digest: Vec<u8>,
    hash: HashFunc,
    signature: Vec<u8>,
}

pub(crate) struct Suite {
    pub(crate) config: Config,
    /// Loaded with SHA-256, as cosign loads every plugin.
    pub(crate) client: Client,
    /// Loaded with SHA-512, as the Go suite does.
    sha512_client: Client,
    pub(crate) default_algorithm: Option<String>,
    pub(crate) key: Option<PublicKey>,
    /// The key publicKey answered before the suite created one, when it
    /// existed already.
    pub(crate) existing_key: Option<PublicKey>,
    signed: Vec<Signed>,
    /// What the callers of the concurrent key checks signed.
    pub(crate) caller_signatures: Vec<CallerSignature>,
}

impl Suite {
    pub(crate) fn load(config: &Config) -> Result<Suite, Error> {
        let builder = || {
            let builder = Client::builder()
                .stderr(StderrMode::CAPTURE_TAIL)
                .default_timeout(config.timeout);
            match &config.search_path {
                Some(path) => builder.search_path(path.clone()),
                None => builder,
            }
        };
        Ok(Suite {
            config: config.clone(),
            client: builder()
                .hash_func(HashFunc::SHA256)
                .load(&config.key_reference)?,
            sha512_client: builder()
                .hash_func(HashFunc::SHA512)
                .load(&config.key_reference)?,
            default_algorithm: None,
            key: None,
            existing_key: None,
            signed: Vec::new(),
            caller_signatures: Vec::new(),
        })
    }

    pub(crate) fn run(mut self, mut on_result: impl FnMut(&CheckResult)) -> Report {
        let mut report = Report::default();
        for (name, check) in SUITE {
            let result = CheckResult {
                name,
                outcome: check(&mut self),
            };
            on_result(&result);
            report.results.push(result);
        }
        report
    }

    pub(crate) fn options(&self) -> CallOptions {
        CallOptions::new().timeout(self.config.timeout)
    }

    fn default_algorithm(&mut self) -> Outcome {
        match self.client.default_algorithm(&self.options()) {
            Ok(algorithm) if algorithm.is_empty() => fail("the default algorithm is empty"),
            Ok(algorithm) => {
                self.default_algorithm = Some(algorithm);
                Outcome::Passed
            }
            Err(err) => fail(err),
        }
    }

    fn supported_algorithms(&mut self) -> Outcome {
        let algorithms = match self.client.supported_algorithms(&self.options()) {
            Ok(algorithms) => algorithms,
            Err(err) => return fail(err),
        };
        if algorithms.is_empty() {
            return fail("the list of supported algorithms is empty");
        }
        match &self.default_algorithm {
            Some(default) if !algorithms.contains(default) => fail(format!(
                "the default algorithm {default:?} is not among the supported ones {algorithms:?}"
            )),
            _ => Outcome::Passed,
        }
    }

    fn create_key(&mut self) -> Outcome {
        let Some(algorithm) = self.default_algorithm.clone() else {
            return fail("no default algorithm to create a key with");
        };
        let key = match self.client.create_key(&algorithm, &self.options()) {
            Ok(key) => key,
            Err(err) => return fail(err),
        };
        let earlier = self.existing_key.as_ref().or(self.key.as_ref());
        let outcome = match earlier {
            Some(earlier) if *earlier != key => fail(if self.existing_key.is_some() {
                "createKey of the key that existed before returned a different key"
            } else {
                "createKey returned a different key than the concurrent createKey calls"
            }),
            _ => Outcome::Passed,
        };
        self.key = Some(key);
        outcome
    }

    /// A key of the type its algorithm names, when the name is one the
    /// ecosystem shares; a plugin's own names mean what the plugin says.
    fn key_matches_algorithm(&mut self) -> Outcome {
        let (Some(name), Some(key)) = (&self.default_algorithm, &self.key) else {
            return fail("no key was created");
        };
        let Some(algorithm) = Algorithm::from_name(name) else {
            return Outcome::Skipped(format!(
                "{name:?} is not a shared algorithm name; its key type is the plugin's own"
            ));
        };
        let expected = match algorithm.key_type() {
            KeyType::Ecdsa(Curve::P256) => KeyAlgorithm::EcdsaP256,
            KeyType::Ecdsa(Curve::P384) => KeyAlgorithm::EcdsaP384,
            KeyType::Ecdsa(Curve::P521) => KeyAlgorithm::EcdsaP521,
            KeyType::Rsa { bits, .. } => KeyAlgorithm::Rsa {
                bits: bits as usize,
            },
            other => {
                return Outcome::Skipped(format!("{other:?} keys are not checked by this suite"))
            }
        };
        if *key.algorithm() == expected {
            Outcome::Passed
        } else {
            fail(format!(
                "the default algorithm {name} makes {expected} keys, but createKey returned a {} key",
                key.algorithm()
            ))
        }
    }

    fn create_key_unsupported(&mut self) -> Outcome {
        expect_plugin_error(
            self.client
                .create_key(UNSUPPORTED_ALGORITHM, &self.options()),
            &format!("createKey with algorithm {UNSUPPORTED_ALGORITHM:?}"),
        )
    }

    fn create_key_idempotent(&mut self) -> Outcome {
        let (Some(algorithm), Some(key)) = (&self.default_algorithm, &self.key) else {
            return fail("no key was created");
        };
        match self.client.create_key(algorithm, &self.options()) {
            Ok(again) if &again == key => Outcome::Passed,
            Ok(_) => fail("a second createKey returned a different key"),
            Err(err) => fail(err),
        }
    }

    fn public_key(&mut self) -> Outcome {
        let Some(key) = &self.key else {
            return fail("no key was created");
        };
        match self.client.public_key(&self.options()) {
            Ok(public) if &public == key => Outcome::Passed,
            Ok(_) => fail("publicKey returned a different key than createKey"),
            Err(err) => fail(err),
        }
    }

    /// Signs with `sign_options`, then verifies through the plugin with
    /// `verify_options`, keeping the signature for the local check.
    fn sign_and_verify(
        &mut self,
        check: &'static str,
        seed: u64,
        hash: HashFunc,
        how: Given,
    ) -> Outcome {
        let client = if hash == HashFunc::SHA512 {
            &self.sha512_client
        } else {
            &self.client
        };
        let digest = match digest_of(hash, message(seed)) {
            Ok(digest) => digest,
            Err(err) => return fail(err),
        };
        let options = match how {
            Given::Message => self.options(),
            Given::Digest | Given::MessageAndDigest => self.options().digest(digest.clone()),
        };
        let body = || -> Box<dyn Read + Send> {
            match how {
                Given::Digest => Box::new(io::empty()),
                Given::Message | Given::MessageAndDigest => Box::new(message(seed)),
            }
        };
        let signature = match client.sign_message(body(), &options) {
            Ok(signature) => signature,
            Err(Error::Plugin { message, .. })
                if hash != HashFunc::SHA256 && names_hash(&message, hash) =>
            {
                return Outcome::Skipped(format!(
                    "the key does not sign {hash} digests, and the plugin says so: {message}"
                ));
            }
            Err(err) => return fail(format!("signMessage: {err}")),
        };
        if let Err(err) = client.verify_signature(&signature, body(), &options) {
            return fail(format!("verifySignature of its own signature: {err}"));
        }
        self.signed.push(Signed {
            check,
            digest,
            hash,
            signature,
        });
        Outcome::Passed
    }

    fn sign_verify_message(&mut self) -> Outcome {
        self.sign_and_verify("sign-verify-message", 1, HashFunc::SHA256, Given::Message)
    }

    fn sign_verify_digest(&mut self) -> Outcome {
        let outcome =
            self.sign_and_verify("sign-verify-digest", 2, HashFunc::SHA256, Given::Digest);
        if outcome != Outcome::Passed {
            return outcome;
        }
        // A signature over a digest is a signature over the message.
        let signature = self
            .signed
            .last()
            .map(|s| s.signature.clone())
            .unwrap_or_default();
        match self
            .client
            .verify_signature(&signature, message(2), &self.options())
        {
            Ok(()) => Outcome::Passed,
            Err(err) => fail(format!(
                "a signature made over a digest does not verify over the message: {err}"
            )),
        }
    }

    fn sign_verify_message_and_digest(&mut self) -> Outcome {
        self.sign_and_verify(
            "sign-verify-message-and-digest",
            3,
            HashFunc::SHA256,
            Given::MessageAndDigest,
        )
    }

    /// A key bound to other hashes (a cloud KMS key: AWS signs only
    /// SHA-256 digests with a P-256 key) may refuse SHA-512, when the
    /// refusal names it; whatever it signs must still verify locally as
    /// SHA-512 (signatures-verify-locally), so a plugin that signs other
    /// bytes still fails.
    fn sign_verify_sha512(&mut self) -> Outcome {
        match self.sign_and_verify("sign-verify-sha512", 4, HashFunc::SHA512, Given::Message) {
            Outcome::Passed => {
                match self.sign_and_verify("sign-verify-sha512", 5, HashFunc::SHA512, Given::Digest) {
                    Outcome::Skipped(reason) => fail(format!(
                        "signMessage signed a message with SHA-512, but refused its SHA-512 digest: {reason}"
                    )),
                    other => other,
                }
            }
            other => other,
        }
    }

    fn wrong_digest_length(&mut self) -> Outcome {
        let options = self.options().digest(vec![0x5a; 31]);
        expect_plugin_error(
            self.client.sign_message(io::empty(), &options),
            "signMessage with a 31-byte SHA-256 digest",
        )
    }

    fn first_signature(&self) -> Option<Vec<u8>> {
        self.signed.first().map(|signed| signed.signature.clone())
    }

    fn rejects_fake_signature(&mut self) -> Outcome {
        // A well-formed DER ECDSA signature (r = s = 1) and plain junk.
        let fakes: [&[u8]; 2] = [
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
            b"not a signature at all",
        ];
        for fake in fakes {
            let outcome = expect_plugin_error(
                self.client
                    .verify_signature(fake, message(1), &self.options()),
                "verifySignature of a fake signature",
            );
            if outcome != Outcome::Passed {
                return outcome;
            }
        }
        Outcome::Passed
    }

    fn rejects_tampered_message(&mut self) -> Outcome {
        let Some(signature) = self.first_signature() else {
            return fail("no signature was made");
        };
        let mut tampered = Vec::new();
        if let Err(err) = message(1).read_to_end(&mut tampered) {
            return fail(err);
        }
        tampered[100] ^= 0x01;
        expect_plugin_error(
            self.client
                .verify_signature(&signature, tampered.as_slice(), &self.options()),
            "verifySignature over a message with one bit flipped",
        )
    }

    fn rejects_other_message_signature(&mut self) -> Outcome {
        let Some(signature) = self.first_signature() else {
            return fail("no signature was made");
        };
        expect_plugin_error(
            self.client
                .verify_signature(&signature, message(99), &self.options()),
            "verifySignature of a signature made over another message",
        )
    }

    fn signatures_verify_locally(&mut self) -> Outcome {
        let Some(key) = &self.key else {
            return fail("no key was created");
        };
        if self.signed.is_empty() {
            return fail("no signature was made");
        }
        for signed in &self.signed {
            if let Err(outcome) =
                verify_locally(key, &signed.digest, &signed.signature, signed.hash, || {
                    format!("the signature of {}", signed.check)
                })
            {
                return outcome;
            }
        }
        Outcome::Passed
    }

    fn expired_deadline(&mut self) -> Outcome {
        let past = SystemTime::now() - Duration::from_secs(180);
        let started = Instant::now();
        match self.client.public_key(&CallOptions::new().deadline(past)) {
            Err(Error::DeadlineExceeded { .. }) if started.elapsed() < EXPIRED_DEADLINE_BOUND => {
                Outcome::Passed
            }
            Err(Error::DeadlineExceeded { .. }) => fail("the call failed, but only after waiting"),
            Ok(_) => fail("publicKey with a deadline 3 minutes past succeeded"),
            Err(err) => fail(format!("expected a deadline error, got: {err}")),
        }
    }

    fn short_deadline_leaves_no_process(&mut self) -> Outcome {
        if !cfg!(target_os = "linux") {
            return Outcome::Skipped("needs /proc to look for leftover processes".into());
        }
        // The deadline, written into argv as ctxDeadline, marks this call's
        // processes among all others.
        let deadline = SystemTime::now() + SHORT_DEADLINE;
        let marker = match OffsetDateTime::from(deadline)
            .format(&time::format_description::well_known::Rfc3339)
        {
            Ok(text) => text,
            Err(err) => return fail(err),
        };
        let stalling = StallingMessage::new(Instant::now() + SHORT_DEADLINE + STALL_PAST_DEADLINE);
        let result = self
            .client
            .sign_message(stalling, &CallOptions::new().deadline(deadline));
        match result {
            Err(Error::DeadlineExceeded { .. }) => {}
            Ok(_) => return fail("signMessage finished before it had read its whole message"),
            Err(err) => return fail(format!("expected a deadline error, got: {err}")),
        }
        let leftover = crate::procs::lingering_with_argument_containing(&marker, LEFTOVER_GRACE);
        if leftover.is_empty() {
            Outcome::Passed
        } else {
            crate::procs::kill(&leftover);
            fail(format!(
                "processes of the plugin still ran after the deadline: pids {leftover:?}"
            ))
        }
    }

    fn raw_call(&self, version: &str, method: MethodArgs) -> Result<Vec<u8>, String> {
        raw::run(&self.client, version, method, self.config.timeout)
    }

    fn expect_error_reply(&self, version: &str, method: MethodArgs, what: &str) -> Outcome {
        let stdout = match self.raw_call(version, method) {
            Ok(stdout) => stdout,
            Err(err) => return fail(format!("{what}: {err}")),
        };
        match PluginResp::parse(&stdout, MethodName::DefaultAlgorithm).map(PluginResp::into_result)
        {
            Ok(Err(_)) => Outcome::Passed,
            Ok(Ok(_)) => fail(format!("{what} was answered as a success")),
            Err(err) => fail(format!(
                "{what} got no errorMessage reply ({err}); stdout: {}",
                raw::excerpt(&stdout)
            )),
        }
    }

    fn unknown_method(&mut self) -> Outcome {
        self.expect_error_reply(
            sigstore_kms_protocol::PROTOCOL_VERSION,
            MethodArgs::Unknown("rotateKey".into()),
            "a call of the unknown method \"rotateKey\"",
        )
    }

    fn wrong_protocol_version(&mut self) -> Outcome {
        self.expect_error_reply(
            "v0",
            MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs::new()),
            "a call with protocol version \"v0\"",
        )
    }

    fn single_json_object(&mut self) -> Outcome {
        let stdout = match self.raw_call(
            sigstore_kms_protocol::PROTOCOL_VERSION,
            MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs::new()),
        ) {
            Ok(stdout) => stdout,
            Err(err) => return fail(err),
        };
        match PluginResp::parse(&stdout, MethodName::DefaultAlgorithm).map(PluginResp::into_result)
        {
            Ok(Ok(_)) => Outcome::Passed,
            Ok(Err(message)) => fail(format!("defaultAlgorithm failed: {message}")),
            Err(err) => fail(format!(
                "stdout is not exactly one JSON response ({err}): {}",
                raw::excerpt(&stdout)
            )),
        }
    }

    fn large_message(&mut self) -> Outcome {
        let len = self.config.large_message_bytes;
        let large = || GeneratedMessage::new(1000, len);
        let signature = match self.client.sign_message(large(), &self.options()) {
            Ok(signature) => signature,
            Err(err) => return fail(format!("signMessage of {len} bytes: {err}")),
        };
        if let Err(err) = self
            .client
            .verify_signature(&signature, large(), &self.options())
        {
            return fail(format!("verifySignature of {len} bytes: {err}"));
        }
        match digest_of(HashFunc::SHA256, large()) {
            Ok(digest) => {
                self.signed.push(Signed {
                    check: "large-message-streams",
                    digest,
                    hash: HashFunc::SHA256,
                    signature,
                });
                Outcome::Passed
            }
            Err(err) => fail(err),
        }
    }

    fn concurrent_calls(&mut self) -> Outcome {
        let calls = self.config.concurrent_calls.max(2);
        let failures: Vec<String> = thread::scope(|scope| {
            let handles: Vec<_> = (0..calls)
                .map(|index| {
                    let client = self.client.clone();
                    let options = self.options();
                    scope.spawn(move || {
                        let seed = 200 + index as u64;
                        let signature = client
                            .sign_message(message(seed), &options)
                            .map_err(|err| format!("call {index}: signMessage: {err}"))?;
                        client
                            .verify_signature(&signature, message(seed), &options)
                            .map_err(|err| format!("call {index}: verifySignature: {err}"))
                    })
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|handle| match handle.join() {
                    Ok(Ok(())) => None,
                    Ok(Err(err)) => Some(err),
                    Err(_) => Some("a calling thread panicked".to_owned()),
                })
                .collect()
        });
        if failures.is_empty() {
            Outcome::Passed
        } else {
            fail(format!(
                "{} of {calls} concurrent calls failed; first: {}",
                failures.len(),
                failures[0]
            ))
        }
    }
}

#[derive(Clone, Copy)]
enum Given {
    Message,
    Digest,
    MessageAndDigest,
}

pub(crate) fn message(seed: u64) -> GeneratedMessage {
    GeneratedMessage::new(seed, MESSAGE_LEN)
}

pub(crate) fn fail(reason: impl std::fmt::Display) -> Outcome {
    Outcome::Failed(reason.to_string())
}

/// Verifies `signature` over `digest` with `key`, here rather than through
/// the plugin. `Err` is what to report: skipped for a key type this suite
/// cannot verify, else a failure naming `whose` signature it was.
pub(crate) fn verify_locally(
    key: &PublicKey,
    digest: &[u8],
    signature: &[u8],
    hash: HashFunc,
    whose: impl FnOnce() -> String,
) -> Result<(), Outcome> {
    match key.verify_digest(digest, signature, hash) {
        Ok(()) => Ok(()),
        Err(KeyError::UnsupportedAlgorithm(algorithm)) => Err(Outcome::Skipped(format!(
            "{algorithm} signatures cannot be verified locally"
        ))),
        Err(err) => Err(fail(format!("{} does not verify: {err}", whose()))),
    }
}

/// Whether a plugin's error message names `hash` (`SHA-512`, `sha512`,
/// `SHA_512`, in any case): a refusal that tells the user which hash it
/// will not take.
fn names_hash(message: &str, hash: HashFunc) -> bool {
    let Some(name) = hash.name() else {
        return false;
    };
    let plain: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let message = message.to_ascii_lowercase();
    let plain = plain.to_ascii_lowercase();
    [
        name.to_ascii_lowercase(),
        plain.clone(),
        name.to_ascii_lowercase().replace('-', "_"),
    ]
    .iter()
    .any(|spelling| message.contains(spelling.as_str()))
}

/// The plugin must answer with its own error: not succeed, not crash.
fn expect_plugin_error<T>(result: Result<T, Error>, what: &str) -> Outcome {
    match result {
        Err(Error::Plugin { .. }) => Outcome::Passed,
        Ok(_) => fail(format!("{what} succeeded; it must fail")),
        Err(err) => fail(format!(
            "{what} must fail with the plugin's errorMessage, but: {err}"
        )),
    }
}

/// A message whose first chunk comes at once and whose rest trickles in,
/// a byte every [`StallingMessage::TRICKLE`], until `end`: a plugin reading
/// it is still running at a deadline before `end`. Trickling (rather than
/// one long pause) lets the host stop feeding it as soon as it gave up.
struct StallingMessage {
    end: Instant,
    sent: bool,
}

impl StallingMessage {
    const TRICKLE: Duration = Duration::from_millis(50);

    fn new(end: Instant) -> Self {
        StallingMessage { end, sent: false }
    }
}

impl Read for StallingMessage {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let len = if self.sent {
            let left = self.end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(0);
            }
            thread::sleep(left.min(Self::TRICKLE));
            1
        } else {
            self.sent = true;
            buf.len().min(1024)
        };
        buf[..len].fill(b'x');
        Ok(len)
    }
}
