//! The client: a loaded plugin and its six methods.

use std::ffi::OsString;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sigstore_kms_protocol::{
    CreateKeyArgs, DefaultAlgorithmArgs, HashFunc, InitOptions, MessageOptions, MethodArgs,
    MethodName, MethodResp, OffsetDateTime, PluginArgs, PublicKeyArgs, RpcOptions, SignMessageArgs,
    SupportedAlgorithmsArgs, VerifySignatureArgs,
};

use crate::discovery::{self, find_plugin, parse_key_reference};
use crate::error::ResponseProblem;
use crate::process::{self, ProcessSettings};
use crate::{CallOptions, Error, PublicKey, StderrMode};

/// Default limit on what a plugin may write to stdout.
pub const DEFAULT_STDOUT_LIMIT: usize = 4 * 1024 * 1024;

/// Default time a call still waits for the plugin's stdout and stderr to
/// close after the plugin itself exited.
pub const DEFAULT_EXIT_GRACE: Duration = Duration::from_millis(250);

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
        let args = MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs {});
        let deadline = self.deadline(options);
        match self.run(
            MethodName::DefaultAlgorithm,
            args,
            deadline,
            None::<io::Empty>,
        )? {
            MethodResp::DefaultAlgorithm(resp) => Ok(resp.default_algorithm),
            other => Err(self.mismatched(MethodName::DefaultAlgorithm, other)),
        }
    }

    /// Every algorithm `create_key` accepts.
    pub fn supported_algorithms(&self, options: &CallOptions) -> Result<Vec<String>, Error> {
        let args = MethodArgs::SupportedAlgorithms(SupportedAlgorithmsArgs {});
        let deadline = self.deadline(options);
        match self.run(
            MethodName::SupportedAlgorithms,
            args,
            deadline,
            None::<io::Empty>,
        )? {
            MethodResp::SupportedAlgorithms(resp) => Ok(resp.supported_algorithms),
            other => Err(self.mismatched(MethodName::SupportedAlgorithms, other)),
        }
    }

    /// Creates the key with `algorithm` (or returns it when it exists).
    pub fn create_key(&self, algorithm: &str, options: &CallOptions) -> Result<PublicKey, Error> {
        let deadline = self.deadline(options);
        let args = MethodArgs::CreateKey(CreateKeyArgs::new(
            algorithm,
            deadline.map(OffsetDateTime::from),
        ));
        match self.run(MethodName::CreateKey, args, deadline, None::<io::Empty>)? {
            MethodResp::CreateKey(resp) => {
                self.public_key_from(MethodName::CreateKey, &resp.public_key_pem)
            }
            other => Err(self.mismatched(MethodName::CreateKey, other)),
        }
    }

    /// The key's public half.
    pub fn public_key(&self, options: &CallOptions) -> Result<PublicKey, Error> {
        let deadline = self.deadline(options);
        let args = MethodArgs::PublicKey(PublicKeyArgs::new(rpc_options(options, deadline)));
        match self.run(MethodName::PublicKey, args, deadline, None::<io::Empty>)? {
            MethodResp::PublicKey(resp) => {
                self.public_key_from(MethodName::PublicKey, &resp.public_key_pem)
            }
            other => Err(self.mismatched(MethodName::PublicKey, other)),
        }
    }

    /// Signs the message read from `message`, streamed to the plugin (or the
    /// digest in `options`, when given; the message is still streamed then,
    /// as cosign does, and the plugin may ignore it).
    pub fn sign_message<R: Read + Send>(
        &self,
        message: R,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        self.sign(Some(message), options)
    }

    /// Signs a digest computed with `hash_func`; nothing is sent on stdin.
    pub fn sign_digest(
        &self,
        digest: &[u8],
        hash_func: HashFunc,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        let options = options.clone().digest(digest).hash_func(hash_func);
        self.sign(None::<io::Empty>, &options)
    }

    fn sign<R: Read + Send>(
        &self,
        message: Option<R>,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        let deadline = self.deadline(options);
        let args = MethodArgs::SignMessage(SignMessageArgs::new(
            rpc_options(options, deadline),
            message_options(options),
        ));
        match self.run(MethodName::SignMessage, args, deadline, message)? {
            MethodResp::SignMessage(resp) => Ok(resp.signature),
            other => Err(self.mismatched(MethodName::SignMessage, other)),
        }
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
        let deadline = self.deadline(options);
        let args = MethodArgs::VerifySignature(VerifySignatureArgs::new(
            signature.to_vec(),
            rpc_options(options, deadline),
            message_options(options),
        ));
        match self.run(MethodName::VerifySignature, args, deadline, Some(message))? {
            MethodResp::VerifySignature(_) => Ok(()),
            other => Err(self.mismatched(MethodName::VerifySignature, other)),
        }
    }

    fn deadline(&self, options: &CallOptions) -> Option<SystemTime> {
        options.resolve_deadline(self.inner.default_timeout)
    }

    fn run<R: Read + Send>(
        &self,
        method: MethodName,
        args: MethodArgs,
        deadline: Option<SystemTime>,
        message: Option<R>,
    ) -> Result<MethodResp, Error> {
        let json = PluginArgs::new(self.inner.init_options.clone(), args)
            .to_json()
            .map_err(Error::Encoding)?;
        let json = discovery::plugin_argument(&self.inner.executable, json);
        // A deadline already past becomes "now", which `call` refuses.
        let deadline = deadline.map(|deadline| {
            let now = Instant::now();
            match deadline.duration_since(SystemTime::now()) {
                Ok(left) => now
                    .checked_add(left)
                    .unwrap_or(now + Duration::from_secs(1 << 30)),
                Err(_) => now,
            }
        });
        process::call(
            &self.inner.settings,
            &self.inner.executable,
            method,
            &json,
            deadline,
            message,
        )
    }

    fn public_key_from(&self, method: MethodName, pem: &[u8]) -> Result<PublicKey, Error> {
        PublicKey::from_pem(pem).map_err(|problem| Error::Response {
            method,
            executable: self.inner.executable.display().to_string(),
            problem: ResponseProblem::PublicKey(problem),
        })
    }

    /// `PluginResp::parse` answers with the method asked for, so this only
    /// guards against a change there.
    fn mismatched(&self, method: MethodName, response: MethodResp) -> Error {
        Error::Response {
            method,
            executable: self.inner.executable.display().to_string(),
            problem: ResponseProblem::Mismatched(response.method()),
        }
    }
}

/// `rpcOptions` of one call. As in the Go host, they come from the call's
/// own options only; what the client was loaded with travels in
/// `initOptions`.
fn rpc_options(options: &CallOptions, deadline: Option<SystemTime>) -> RpcOptions {
    let mut rpc = RpcOptions::go_defaults();
    rpc.ctx_deadline = deadline.map(OffsetDateTime::from);
    if let Some(key_version) = &options.key_version {
        rpc.key_version = Some(key_version.clone());
    }
    if let Some(remote) = options.remote_verification {
        rpc.remote_verification = Some(remote);
    }
    rpc
}

fn message_options(options: &CallOptions) -> MessageOptions {
    MessageOptions {
        digest: options.digest.clone().filter(|digest| !digest.is_empty()),
        hash_func: options.hash_func,
    }
}
