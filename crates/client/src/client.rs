//! The client: a loaded plugin and its six methods.

use std::ffi::OsString;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sigstore_kms_protocol::{
    HashFunc, InitOptions, MethodArgs, MethodName, MethodResp, PluginArgs, PROTOCOL_VERSION,
};

use crate::discovery::{self, find_plugin, parse_key_reference};
use crate::error::ResponseProblem;
use crate::methods::{self, Request};
use crate::process::{self, CallLink, Invocation, ProcessSettings};
use crate::{CallOptions, Error, PublicKey, StderrMode};

/// Default limit on what a plugin may write to stdout.
pub const DEFAULT_STDOUT_LIMIT: usize = 4 * 1024 * 1024;

/// Default time a call still waits for the plugin's stdout and stderr to
/// close after the plugin itself exited.
pub const DEFAULT_EXIT_GRACE: Duration = Duration::from_millis(250);

/// The message of calls that stream none.
const NO_MESSAGE: Option<io::Empty> = None;

/// What a plugin run by [`Client::call_raw`] wrote, as it wrote it.
#[derive(Debug)]
#[non_exhaustive]
pub struct RawReply {
    /// How the plugin exited.
    pub status: ExitStatus,
    /// Its stdout (within the client's stdout limit).
    pub stdout: Vec<u8>,
    /// The tail of its stderr, when captured ([`StderrMode::Capture`]).
    pub stderr: Option<String>,
}

/// A loaded plugin: the executable and the options every call carries.
///
/// Cheap to clone (one reference count) and safe to use from many threads at
/// once: each call is its own process.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    executable: PathBuf,
    init_options: InitOptions,
    settings: ProcessSettings,
    default_timeout: Option<Duration>,
}

/// Configures and loads a [`Client`].
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    hash_func: HashFunc,
    key_version: Option<String>,
    remote_verification: Option<bool>,
    settings: ProcessSettings,
    default_timeout: Option<Duration>,
    search_path: Option<OsString>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            hash_func: HashFunc::SHA256,
            key_version: None,
            remote_verification: None,
            settings: ProcessSettings {
                stderr: StderrMode::Inherit,
                stdout_limit: DEFAULT_STDOUT_LIMIT,
                exit_grace: DEFAULT_EXIT_GRACE,
            },
            default_timeout: None,
            search_path: None,
        }
    }
}

impl ClientBuilder {
    /// SHA-256 (what cosign uses), stderr inherited, a 4 MiB stdout limit, no
    /// default timeout, `PATH` as search path.
    pub fn new() -> Self {
        Self::default()
    }

    /// The hash function the key is loaded with (`initOptions.hashFunc`).
    pub fn hash_func(mut self, hash_func: HashFunc) -> Self {
        self.hash_func = hash_func;
        self
    }

    /// The key version the key is loaded with (`initOptions.rpcOptions`).
    pub fn key_version(mut self, key_version: impl Into<String>) -> Self {
        self.key_version = Some(key_version.into());
        self
    }

    /// Remote verification as loaded (`initOptions.rpcOptions`).
    pub fn remote_verification(mut self, remote: bool) -> Self {
        self.remote_verification = Some(remote);
        self
    }

    /// What happens to the plugin's stderr.
    pub fn stderr(mut self, mode: StderrMode) -> Self {
        self.settings.stderr = mode;
        self
    }

    /// The most a plugin may write to stdout; beyond it the call fails and
    /// the plugin is killed.
    pub fn stdout_limit(mut self, bytes: usize) -> Self {
        self.settings.stdout_limit = bytes;
        self
    }

    /// How long a call still waits for stdout and stderr to close once the
    /// plugin exited (a process it left behind may hold them open).
    pub fn exit_grace(mut self, grace: Duration) -> Self {
        self.settings.exit_grace = grace;
        self
    }

    /// The timeout of calls made without a deadline of their own.
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = Some(timeout);
        self
    }

    /// Where [`ClientBuilder::load`] searches for the plugin, in the format
    /// of `PATH`, instead of `PATH` itself.
    pub fn search_path(mut self, search_path: impl Into<OsString>) -> Self {
        self.search_path = Some(search_path.into());
        self
    }

    /// Loads the plugin for `NAME://KEYREF`: checks `NAME`, finds
    /// `sigstore-kms-NAME` on the search path as [`find_plugin`] does.
    /// Starts nothing.
    ///
    /// [`find_plugin`]: crate::find_plugin
    pub fn load(self, key_reference: &str) -> Result<Client, Error> {
        let (name, key_resource_id) = parse_key_reference(key_reference)?;
        let search_path = match &self.search_path {
            Some(path) => path.clone(),
            None => std::env::var_os("PATH").unwrap_or_default(),
        };
        let executable = find_plugin(name, &search_path)?;
        Ok(self.with_executable(executable, key_resource_id))
    }

    /// Uses this executable as the plugin for `key_resource_id` (the part of
    /// a key reference after `://`).
    pub fn with_executable(
        self,
        executable: impl Into<PathBuf>,
        key_resource_id: impl Into<String>,
    ) -> Client {
        let mut init_options = InitOptions::new(key_resource_id, self.hash_func);
        if let Some(key_version) = self.key_version {
            init_options.rpc_options.key_version = Some(key_version);
        }
        if let Some(remote) = self.remote_verification {
            init_options.rpc_options.remote_verification = Some(remote);
        }
        Client {
            inner: Arc::new(Inner {
                executable: executable.into(),
                init_options,
                settings: self.settings,
                default_timeout: self.default_timeout,
            }),
        }
    }
}

impl Client {
    /// Loads the plugin for `NAME://KEYREF` with default settings, like Go's
    /// `LoadSignerVerifier`.
    pub fn load(key_reference: &str, hash_func: HashFunc) -> Result<Client, Error> {
        ClientBuilder::new()
            .hash_func(hash_func)
            .load(key_reference)
    }

    /// A builder, for anything beyond the defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The plugin executable.
    pub fn executable(&self) -> &Path {
        &self.inner.executable
    }

    /// What every call sends as `initOptions`.
    pub fn init_options(&self) -> &InitOptions {
        &self.inner.init_options
    }

    /// The hash function the key was loaded with.
    pub fn hash_func(&self) -> HashFunc {
        self.inner.init_options.hash_func
    }

    /// The algorithm `create_key` uses when the caller has no preference.
    pub fn default_algorithm(&self, options: &CallOptions) -> Result<String, Error> {
        self.call(methods::default_algorithm(self, options), NO_MESSAGE)
    }

    /// Every algorithm `create_key` accepts.
    pub fn supported_algorithms(&self, options: &CallOptions) -> Result<Vec<String>, Error> {
        self.call(methods::supported_algorithms(self, options), NO_MESSAGE)
    }

    /// Creates the key with `algorithm` (or returns it when it exists).
    pub fn create_key(&self, algorithm: &str, options: &CallOptions) -> Result<PublicKey, Error> {
        self.call(methods::create_key(self, algorithm, options), NO_MESSAGE)
    }

    /// The key's public half.
    pub fn public_key(&self, options: &CallOptions) -> Result<PublicKey, Error> {
        self.call(methods::public_key(self, options), NO_MESSAGE)
    }

    /// Signs the message read from `message`, streamed to the plugin (or the
    /// digest in `options`, when given; the message is still streamed then,
    /// as cosign does, and the plugin may ignore it).
    pub fn sign_message<R: Read + Send>(
        &self,
        message: R,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        self.call(methods::sign_message(self, options), Some(message))
    }

    /// Signs a digest computed with `hash_func`; nothing is sent on stdin.
    pub fn sign_digest(
        &self,
        digest: &[u8],
        hash_func: HashFunc,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        let request = methods::sign_digest(self, digest, hash_func, options);
        self.call(request, NO_MESSAGE)
    }

    /// Asks the plugin to verify `signature` over the message read from
    /// `message` (or over the digest in `options`). `Ok(())` means valid; a
    /// signature the plugin rejects is [`Error::Plugin`] with its words.
    pub fn verify_signature<R: Read + Send>(
        &self,
        signature: &[u8],
        message: R,
        options: &CallOptions,
    ) -> Result<(), Error> {
        let request = methods::verify_signature(self, signature, options);
        self.call(request, Some(message))
    }

    /// Runs the plugin once as `sigstore-kms-NAME VERSION '<json>'`, the
    /// JSON holding `args` and what every call sends as `initOptions`, with
    /// nothing on stdin, supervised as every call is (deadline, stdout
    /// limit, stderr, [`end_plugins`](crate::end_plugins)), and returns
    /// what it wrote without reading it as an answer. For test suites that
    /// check how a plugin answers what a host never sends: another protocol
    /// version, a method it does not know. Errors name the method of
    /// `args`, or `defaultAlgorithm` for a method this crate does not know.
    pub fn call_raw(
        &self,
        version: &str,
        args: MethodArgs,
        options: &CallOptions,
    ) -> Result<RawReply, Error> {
        let method = args.method().unwrap_or(MethodName::DefaultAlgorithm);
        let (json, deadline) = self.prepare(args, self.deadline(options))?;
        let link = CallLink::default();
        let invocation = self.invocation(method, version, &json, deadline, &link);
        let supervised = process::run(&invocation, NO_MESSAGE)?;
        let exited = process::exited(&invocation, supervised)?;
        Ok(RawReply {
            status: exited.status,
            stdout: exited.stdout,
            stderr: exited.stderr,
        })
    }

    pub(crate) fn deadline(&self, options: &CallOptions) -> Option<SystemTime> {
        options.resolve_deadline(self.inner.default_timeout)
    }

    fn call<T, R: Read + Send>(&self, request: Request<T>, message: Option<R>) -> Result<T, Error> {
        self.call_abortable(request, message, &CallLink::default())
    }

    /// Makes the call `request` describes, which `link` can abort from
    /// another thread.
    pub(crate) fn call_abortable<T, R: Read + Send>(
        &self,
        request: Request<T>,
        message: Option<R>,
        link: &CallLink,
    ) -> Result<T, Error> {
        let Request {
            method,
            args,
            deadline,
            reply,
        } = request;
        let (json, deadline) = self.prepare(args, deadline)?;
        let invocation = self.invocation(method, PROTOCOL_VERSION, &json, deadline, link);
        let started = Instant::now();
        let result = process::call(&invocation, message);
        log_call(&self.inner.executable, method, started.elapsed(), &result);
        reply(self, result?)
    }

    fn invocation<'a>(
        &'a self,
        method: MethodName,
        version: &'a str,
        args_json: &'a str,
        deadline: Option<Instant>,
        link: &'a CallLink,
    ) -> Invocation<'a> {
        Invocation {
            settings: &self.inner.settings,
            executable: &self.inner.executable,
            method,
            version,
            args_json,
            deadline,
            link,
        }
    }

    /// `argv[2]` of a call, and its deadline on the monotonic clock.
    fn prepare(
        &self,
        args: MethodArgs,
        deadline: Option<SystemTime>,
    ) -> Result<(String, Option<Instant>), Error> {
        let json = PluginArgs::new(self.inner.init_options.clone(), args)
            .to_json()
            .map_err(Error::Encoding)?;
        let json = discovery::plugin_argument(&self.inner.executable, json);
        // A deadline already past becomes "now", which a call refuses.
        let deadline = deadline.map(|deadline| {
            let now = Instant::now();
            match deadline.duration_since(SystemTime::now()) {
                Ok(left) => now
                    .checked_add(left)
                    .unwrap_or(now + Duration::from_secs(1 << 30)),
                Err(_) => now,
            }
        });
        Ok((json, deadline))
    }

    pub(crate) fn public_key_from(
        &self,
        method: MethodName,
        pem: &[u8],
    ) -> Result<PublicKey, Error> {
        PublicKey::from_pem(pem).map_err(|problem| Error::Response {
            method,
            executable: self.inner.executable.display().to_string(),
            problem: ResponseProblem::PublicKey(problem),
        })
    }

    /// `PluginResp::parse` answers with the method asked for, so this only
    /// guards against a change there.
    pub(crate) fn mismatched(&self, method: MethodName, response: MethodResp) -> Error {
        Error::Response {
            method,
            executable: self.inner.executable.display().to_string(),
            problem: ResponseProblem::Mismatched(response.method()),
        }
    }
}

/// The debug event of one call: which plugin, which method, how long, and
/// how it ended. Never the arguments, the message, the plugin's answer, its
/// error text or its stderr: any of them may hold what a log must not.
fn log_call(
    executable: &Path,
    method: MethodName,
    elapsed: Duration,
    result: &Result<MethodResp, Error>,
) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(error) => error.kind(),
    };
    log::debug!(
        "plugin {} {method}: {outcome} after {:.1} ms",
        executable.display(),
        elapsed.as_secs_f64() * 1000.0
    );
}
