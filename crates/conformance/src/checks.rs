//! The checks, in the order they run.

use std::io::{self, Read};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use sigstore_kms_client::{CallOptions, Client, Error, HashFunc, KeyError, PublicKey, StderrMode};
use sigstore_kms_protocol::{
    DefaultAlgorithmArgs, InitOptions, MethodArgs, MethodName, OffsetDateTime, PluginArgs,
    PluginResp,
};

use crate::message::{digest_of, GeneratedMessage};
use crate::report::{CheckResult, Outcome, Report};
use crate::{raw, Config};

/// The name of every check, in the order they run.
pub const CHECKS: [&str; 22] = [
    "default-algorithm",
    "supported-algorithms",
    "create-key",
    "create-key-unsupported-algorithm",
    "create-key-idempotent",
    "public-key",
    "sign-verify-message",
    "sign-verify-digest",
    "sign-verify-message-and-digest",
    "sign-verify-sha512",
    "wrong-digest-length-refused",
    "verify-rejects-fake-signature",
    "verify-rejects-tampered-message",
    "verify-rejects-other-message-signature",
    "signatures-verify-locally",
    "expired-deadline-fails",
    "short-deadline-leaves-no-process",
    "unknown-method-answered",
    "wrong-protocol-version-answered",
    "stdout-single-json-object",
    "large-message-streams",
    "concurrent-calls",
];

/// The algorithm name no plugin supports, as in the Go suite.
const UNSUPPORTED_ALGORITHM: &str = "any-algorithm";
const MESSAGE_LEN: u64 = 4096;

type CheckFn = fn(&mut Suite) -> Outcome;

/// A signature the plugin made, kept for the local verification check.
struct Signed {
    check: &'static str,
    digest: Vec<u8>,
    hash: HashFunc,
    signature: Vec<u8>,
}

pub(crate) struct Suite {
    config: Config,
    /// Loaded with SHA-256, as cosign loads every plugin.
    client: Client,
    /// Loaded with SHA-512, as the Go suite does.
    sha512_client: Client,
    default_algorithm: Option<String>,
    key: Option<PublicKey>,
    signed: Vec<Signed>,
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
            signed: Vec::new(),
        })
    }

    pub(crate) fn run(mut self, mut on_result: impl FnMut(&CheckResult)) -> Report {
        let checks: [(&'static str, CheckFn); 22] = [
            (CHECKS[0], Suite::default_algorithm),
            (CHECKS[1], Suite::supported_algorithms),
            (CHECKS[2], Suite::create_key),
            (CHECKS[3], Suite::create_key_unsupported),
            (CHECKS[4], Suite::create_key_idempotent),
            (CHECKS[5], Suite::public_key),
            (CHECKS[6], Suite::sign_verify_message),
            (CHECKS[7], Suite::sign_verify_digest),
            (CHECKS[8], Suite::sign_verify_message_and_digest),
            (CHECKS[9], Suite::sign_verify_sha512),
            (CHECKS[10], Suite::wrong_digest_length),
            (CHECKS[11], Suite::rejects_fake_signature),
            (CHECKS[12], Suite::rejects_tampered_message),
            (CHECKS[13], Suite::rejects_other_message_signature),
            (CHECKS[14], Suite::signatures_verify_locally),
            (CHECKS[15], Suite::expired_deadline),
            (CHECKS[16], Suite::short_deadline_leaves_no_process),
            (CHECKS[17], Suite::unknown_method),
            (CHECKS[18], Suite::wrong_protocol_version),
            (CHECKS[19], Suite::single_json_object),
            (CHECKS[20], Suite::large_message),
            (CHECKS[21], Suite::concurrent_calls),
        ];
        let mut report = Report::default();
        for (name, check) in checks {
            let result = CheckResult {
                name,
                outcome: check(&mut self),
            };
            on_result(&result);
            report.results.push(result);
        }
        report
    }

    fn options(&self) -> CallOptions {
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
        match self.client.create_key(&algorithm, &self.options()) {
            Ok(key) => {
                self.key = Some(key);
                Outcome::Passed
            }
            Err(err) => fail(err),
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
        self.sign_and_verify(CHECKS[6], 1, HashFunc::SHA256, Given::Message)
    }

    fn sign_verify_digest(&mut self) -> Outcome {
        let outcome = self.sign_and_verify(CHECKS[7], 2, HashFunc::SHA256, Given::Digest);
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
        self.sign_and_verify(CHECKS[8], 3, HashFunc::SHA256, Given::MessageAndDigest)
    }

    fn sign_verify_sha512(&mut self) -> Outcome {
        match self.sign_and_verify(CHECKS[9], 4, HashFunc::SHA512, Given::Message) {
            Outcome::Passed => self.sign_and_verify(CHECKS[9], 5, HashFunc::SHA512, Given::Digest),
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
            match key.verify_digest(&signed.digest, &signed.signature, signed.hash) {
                Ok(()) => {}
                Err(KeyError::UnsupportedAlgorithm(algorithm)) => {
                    return Outcome::Skipped(format!(
                        "{algorithm} signatures cannot be verified locally"
                    ))
                }
                Err(err) => {
                    return fail(format!(
                        "the signature of {} does not verify with the public key: {err}",
                        signed.check
                    ))
                }
            }
        }
        Outcome::Passed
    }

    fn expired_deadline(&mut self) -> Outcome {
        let past = SystemTime::now() - Duration::from_secs(180);
        let started = Instant::now();
        match self.client.public_key(&CallOptions::new().deadline(past)) {
            Err(Error::DeadlineExceeded { .. }) if started.elapsed() < Duration::from_secs(5) => {
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
        let deadline = SystemTime::now() + Duration::from_millis(500);
        let marker = match OffsetDateTime::from(deadline)
            .format(&time::format_description::well_known::Rfc3339)
        {
            Ok(text) => text,
            Err(err) => return fail(err),
        };
        let stalling = StallingMessage {
            stall: Duration::from_millis(1500),
            sent: false,
        };
        let result = self
            .client
            .sign_message(stalling, &CallOptions::new().deadline(deadline));
        match result {
            Err(Error::DeadlineExceeded { .. }) => {}
            Ok(_) => return fail("signMessage finished before it had read its whole message"),
            Err(err) => return fail(format!("expected a deadline error, got: {err}")),
        }
        let leftover = crate::procs::with_argument_containing(&marker);
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
        let init = InitOptions::new(
            self.client.init_options().key_resource_id.clone(),
            HashFunc::SHA256,
        );
        let args = PluginArgs::new(init, method)
            .to_json()
            .map_err(|err| err.to_string())?;
        raw::run(
            self.client.executable(),
            version,
            &args,
            self.config.timeout,
        )
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
                    check: CHECKS[20],
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

fn message(seed: u64) -> GeneratedMessage {
    GeneratedMessage::new(seed, MESSAGE_LEN)
}

fn fail(reason: impl std::fmt::Display) -> Outcome {
    Outcome::Failed(reason.to_string())
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

/// A message whose first chunk comes at once and whose rest takes `stall`:
/// a plugin reading it is still running at a short deadline.
struct StallingMessage {
    stall: Duration,
    sent: bool,
}

impl Read for StallingMessage {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.sent {
            self.sent = true;
            let len = buf.len().min(1024);
            buf[..len].fill(b'x');
            return Ok(len);
        }
        thread::sleep(self.stall);
        Ok(0)
    }
}
