//! [`AsyncClient`]: the calls of a [`Client`] as futures, on tokio.
//!
//! Each call is one plugin process, as with [`Client`], but tokio's reactor
//! drives its pipes and waits for its exit: no thread is blocked per call.
//! Dropping a call's future (`tokio::time::timeout`, the losing branch of a
//! `select!`, an aborted task) kills the plugin at once, and on Unix every
//! process it started, since the plugin leads its own process group.

use std::io;
use std::pin::pin;
use std::time::{Instant, SystemTime};

use sigstore_kms_protocol::{
    CreateKeyArgs, DefaultAlgorithmArgs, HashFunc, MethodArgs, MethodName, MethodResp,
    OffsetDateTime, PublicKeyArgs, SignMessageArgs, SupportedAlgorithmsArgs, VerifySignatureArgs,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::client::{log_call, message_options, rpc_options};
use crate::process::{self, Outcome, ProcessSettings, Supervised};
use crate::{CallOptions, Client, Error, PublicKey, StderrMode};

const CHUNK: usize = 64 * 1024;

/// A [`Client`] whose calls are futures (the `tokio` feature). Each method
/// behaves as the [`Client`] method of the same name; messages are any
/// [`AsyncRead`], streamed to the plugin as they are read.
///
/// Unlike a [`Client`] call, an asynchronous call:
/// - is not among the plugins [`end_plugins`](crate::end_plugins) ends: a
///   host that is interrupted drops its pending calls (or lets the runtime
///   drop them) instead, which kills their plugins;
/// - is not lent the terminal: on Unix the plugin runs in a background
///   process group, so a plugin that prompts on `/dev/tty` is stopped until
///   the call's deadline, and the terminal's Ctrl-C reaches the host, not
///   the plugin. Make calls to plugins that prompt with the blocking
///   [`Client`];
/// - on Windows, does not run the plugin in a Job Object: dropping the call
///   or its deadline kills the plugin, but not the processes it started.
///
/// ```no_run
/// # async fn sign() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use sigstore_kms_client::{AsyncClient, CallOptions, Client};
///
/// let client = AsyncClient::new(Client::builder().load("localkms:///var/keys/release.pem")?);
/// let file = tokio::fs::File::open("release.tar.gz").await?;
/// // Past 30 s the future is dropped, and the plugin with it.
/// let signature = tokio::time::timeout(
///     Duration::from_secs(30),
///     client.sign_message(file, &CallOptions::new()),
/// )
/// .await??;
/// # let _ = signature;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncClient {
    client: Client,
}

impl AsyncClient {
    /// The asynchronous face of `client` (sharing its configuration).
    pub fn new(client: Client) -> Self {
        AsyncClient { client }
    }

    /// The blocking client, for the calls made from a thread.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// See [`Client::default_algorithm`].
    pub async fn default_algorithm(&self, options: &CallOptions) -> Result<String, Error> {
        let args = MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs::new());
        match self
            .run(MethodName::DefaultAlgorithm, args, options, NO_MESSAGE)
            .await?
        {
            MethodResp::DefaultAlgorithm(resp) => Ok(resp.default_algorithm),
            other => Err(self.client.mismatched(MethodName::DefaultAlgorithm, other)),
        }
    }

    /// See [`Client::supported_algorithms`].
    pub async fn supported_algorithms(&self, options: &CallOptions) -> Result<Vec<String>, Error> {
        let args = MethodArgs::SupportedAlgorithms(SupportedAlgorithmsArgs::new());
        match self
            .run(MethodName::SupportedAlgorithms, args, options, NO_MESSAGE)
            .await?
        {
            MethodResp::SupportedAlgorithms(resp) => Ok(resp.supported_algorithms),
            other => Err(self
                .client
                .mismatched(MethodName::SupportedAlgorithms, other)),
        }
    }

    /// See [`Client::create_key`].
    pub async fn create_key(
        &self,
        algorithm: &str,
        options: &CallOptions,
    ) -> Result<PublicKey, Error> {
        let deadline = self.client.deadline(options).map(OffsetDateTime::from);
        let args = MethodArgs::CreateKey(CreateKeyArgs::new(algorithm, deadline));
        match self
            .run(MethodName::CreateKey, args, options, NO_MESSAGE)
            .await?
        {
            MethodResp::CreateKey(resp) => self
                .client
                .public_key_from(MethodName::CreateKey, &resp.public_key_pem),
            other => Err(self.client.mismatched(MethodName::CreateKey, other)),
        }
    }

    /// See [`Client::public_key`].
    pub async fn public_key(&self, options: &CallOptions) -> Result<PublicKey, Error> {
        let rpc = rpc_options(options, self.client.deadline(options));
        let args = MethodArgs::PublicKey(PublicKeyArgs::new(rpc));
        match self
            .run(MethodName::PublicKey, args, options, NO_MESSAGE)
            .await?
        {
            MethodResp::PublicKey(resp) => self
                .client
                .public_key_from(MethodName::PublicKey, &resp.public_key_pem),
            other => Err(self.client.mismatched(MethodName::PublicKey, other)),
        }
    }

    /// See [`Client::sign_message`]: the message is streamed from `message`.
    pub async fn sign_message<R: AsyncRead + Unpin>(
        &self,
        message: R,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        self.sign(Some(message), options).await
    }

    /// See [`Client::sign_digest`].
    pub async fn sign_digest(
        &self,
        digest: &[u8],
        hash_func: HashFunc,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        let options = options.clone().digest(digest).hash_func(hash_func);
        self.sign(NO_MESSAGE, &options).await
    }

    async fn sign<R: AsyncRead + Unpin>(
        &self,
        message: Option<R>,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        let rpc = rpc_options(options, self.client.deadline(options));
        let args = MethodArgs::SignMessage(SignMessageArgs::new(rpc, message_options(options)));
        match self
            .run(MethodName::SignMessage, args, options, message)
            .await?
        {
            MethodResp::SignMessage(resp) => Ok(resp.signature),
            other => Err(self.client.mismatched(MethodName::SignMessage, other)),
        }
    }

    /// See [`Client::verify_signature`]: the message is streamed from
    /// `message`.
    pub async fn verify_signature<R: AsyncRead + Unpin>(
        &self,
        signature: &[u8],
        message: R,
        options: &CallOptions,
    ) -> Result<(), Error> {
        let rpc = rpc_options(options, self.client.deadline(options));
        let args = MethodArgs::VerifySignature(VerifySignatureArgs::new(
            signature.to_vec(),
            rpc,
            message_options(options),
        ));
        match self
            .run(MethodName::VerifySignature, args, options, Some(message))
            .await?
        {
            MethodResp::VerifySignature(_) => Ok(()),
            other => Err(self.client.mismatched(MethodName::VerifySignature, other)),
        }
    }

    async fn run<R: AsyncRead + Unpin>(
        &self,
        method: MethodName,
        args: MethodArgs,
        options: &CallOptions,
        message: Option<R>,
    ) -> Result<MethodResp, Error> {
        let deadline: Option<SystemTime> = self.client.deadline(options);
        let (json, deadline) = self.client.prepare(args, deadline)?;
        let started = Instant::now();
        let result = self.call(method, &json, deadline, message).await;
        log_call(self.client.executable(), method, started.elapsed(), &result);
        result
    }

    async fn call<R: AsyncRead + Unpin>(
        &self,
        method: MethodName,
        json: &str,
        deadline: Option<Instant>,
        message: Option<R>,
    ) -> Result<MethodResp, Error> {
        let settings = self.client.settings();
        let executable = self.client.executable();
        if deadline.is_some_and(|deadline| deadline <= Instant::now()) {
            return Err(Error::DeadlineExceeded {
                method,
                executable: executable.display().to_string(),
            });
        }
        let mut command = Command::from(process::command(
            settings,
            executable,
            json,
            message.is_some(),
        ));
        command.kill_on_drop(true);
        // Its own process group, so that dropping the call kills whatever
        // it started.
        #[cfg(unix)]
        command.process_group(0);
        let child = spawn(&mut command).await.map_err(|source| Error::Io {
            action: format!("cannot start plugin `{}`", executable.display()),
            source,
        })?;
        let mut running = Running::new(child);
        let supervised = match deadline {
            None => running.supervise(settings, message).await,
            Some(deadline) => {
                let supervise = running.supervise(settings, message);
                match tokio::time::timeout_at(deadline.into(), supervise).await {
                    Ok(supervised) => supervised,
                    Err(_) => running.stop(Outcome::DeadlineExceeded).await,
                }
            }
        };
        process::answer(settings, executable, method, supervised)
    }
}

/// The message of calls that stream none.
const NO_MESSAGE: Option<tokio::io::Empty> = None;

/// Spawns, retrying briefly on `ETXTBSY`, as the blocking client does.
async fn spawn(command: &mut Command) -> io::Result<Child> {
    #[cfg(unix)]
    for attempt in 1..=10 {
        match command.spawn() {
            Err(error) if error.raw_os_error() == Some(libc::ETXTBSY) => {
                tokio::time::sleep(std::time::Duration::from_millis(10 * attempt)).await;
            }
            result => return result,
        }
    }
    command.spawn()
}

/// A plugin process of one call. Dropped before the call ends, it kills the
/// plugin's process group; tokio kills and reaps the plugin itself
/// (`kill_on_drop`).
struct Running {
    child: Child,
    /// The plugin's pid, which names its process group until it is reaped.
    group: Option<u32>,
    stdout: Vec<u8>,
    stderr: Option<Vec<u8>>,
}

/// What the plugin left behind when it exited.
enum GroupLeft {
    /// Nothing holding its pipes.
    Empty,
    /// Processes that kept stdout or stderr open past the exit grace.
    HoldingPipes,
}

/// How supervision stopped before the plugin was reaped.
enum Stop {
    Overflow,
    StdoutFailed(io::Error),
    /// The message could not be read; the plugin's stdin is kept open
    /// until the plugin is killed.
    MessageFailed(io::Error, Option<tokio::process::ChildStdin>),
}

impl Running {
    fn new(child: Child) -> Self {
        let group = child.id();
        Running {
            child,
            group,
            stdout: Vec::new(),
            stderr: None,
        }
    }

    /// Streams the message, collects stdout (and the stderr tail), and waits
    /// for the exit; after it, stdout and stderr get the exit grace to close.
    async fn supervise<R: AsyncRead + Unpin>(
        &mut self,
        settings: &ProcessSettings,
        message: Option<R>,
    ) -> Supervised {
        let stdin = self.child.stdin.take();
        let stdout = self.child.stdout.take();
        let stderr = self.child.stderr.take();
        let tail_limit = match settings.stderr {
            StderrMode::Capture(limit) => Some(limit),
            _ => None,
        };
        let mut tail = tail_limit.map(|_| Vec::new());
        let mut output = Vec::new();
        let ended = {
            let mut feed = pin!(feed(stdin, message));
            let mut read_out = pin!(read_stdout(stdout, &mut output, settings.stdout_limit));
            let mut read_err = pin!(read_tail(stderr, tail.as_mut(), tail_limit.unwrap_or(0)));
            let mut exit = pin!(self.child.wait());
            let (mut fed, mut out_closed, mut err_closed) = (false, false, false);
            // The plugin's exit status, and when its exit grace ends.
            let mut exited = None;
            loop {
                if out_closed && err_closed {
                    if let Some((status, _)) = exited.take() {
                        break Ok((GroupLeft::Empty, status));
                    }
                }
                tokio::select! {
                    result = &mut feed, if !fed => {
                        fed = true;
                        if let Err((error, stdin)) = result {
                            break Err(Stop::MessageFailed(error, stdin));
                        }
                    }
                    result = &mut read_out, if !out_closed => {
                        out_closed = true;
                        match result {
                            Ok(true) => {}
                            Ok(false) => break Err(Stop::Overflow),
                            Err(error) => break Err(Stop::StdoutFailed(error)),
                        }
                    }
                    () = &mut read_err, if !err_closed => err_closed = true,
                    result = &mut exit, if exited.is_none() => {
                        exited = Some((result, tokio::time::Instant::now() + settings.exit_grace));
                    }
                    () = sleep_until(exited.as_ref().map(|(_, grace)| *grace)), if exited.is_some() => {
                        if let Some((status, _)) = exited.take() {
                            break Ok((GroupLeft::HoldingPipes, status));
                        }
                    }
                }
            }
        };
        self.stdout = output;
        self.stderr = tail;
        match ended {
            Ok((left, status)) => {
                // The plugin is reaped: its pid names a group only while
                // something it started still runs, holding its pipes.
                let group = self.group.take();
                if let GroupLeft::HoldingPipes = left {
                    kill_group(group);
                }
                let outcome = match status {
                    Ok(status) => Outcome::Finished(status),
                    Err(error) => Outcome::WaitFailed(error),
                };
                self.supervised(outcome)
            }
            Err(Stop::Overflow) => self.stop(Outcome::StdoutOverflow).await,
            Err(Stop::StdoutFailed(error)) => self.stop(Outcome::StdoutFailed(error)).await,
            Err(Stop::MessageFailed(error, stdin)) => {
                // Closing stdin first would show the plugin an end of
                // message, and it could sign what it read so far.
                let supervised = self.stop(Outcome::MessageFailed(error)).await;
                drop(stdin);
                supervised
            }
        }
    }

    /// Kills the plugin and its group, reaps it, and reports `outcome`.
    async fn stop(&mut self, outcome: Outcome) -> Supervised {
        kill_group(self.group.take());
        let _ = self.child.kill().await;
        self.supervised(outcome)
    }

    fn supervised(&mut self, outcome: Outcome) -> Supervised {
        Supervised {
            outcome,
            stdout: std::mem::take(&mut self.stdout),
            stderr: self.stderr.take(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        kill_group(self.group.take());
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Streams `message` into stdin, then closes it. A plugin that stops
/// reading ends the stream quietly, as with the blocking client; a message
/// that cannot be read fails the call, and stdin comes back with the error,
/// still open, so that the plugin is killed before it could take a
/// truncated message for the whole.
async fn feed<R: AsyncRead + Unpin>(
    stdin: Option<tokio::process::ChildStdin>,
    message: Option<R>,
) -> Result<(), (io::Error, Option<tokio::process::ChildStdin>)> {
    let (Some(mut stdin), Some(mut message)) = (stdin, message) else {
        return Ok(());
    };
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let read = match message.read(&mut chunk).await {
            Ok(0) => return Ok(()),
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err((error, Some(stdin))),
        };
        if stdin.write_all(&chunk[..read]).await.is_err() {
            return Ok(());
        }
    }
}

/// Reads stdout into `output` until it closes (`Ok(true)`) or would pass
/// `limit` (`Ok(false)`).
async fn read_stdout(
    stdout: Option<tokio::process::ChildStdout>,
    output: &mut Vec<u8>,
    limit: usize,
) -> io::Result<bool> {
    let Some(mut stdout) = stdout else {
        return Ok(true);
    };
    let mut chunk = vec![0u8; CHUNK];
    loop {
        match stdout.read(&mut chunk).await {
            Ok(0) => return Ok(true),
            Ok(read) => {
                if output.len() + read > limit {
                    return Ok(false);
                }
                output.extend_from_slice(&chunk[..read]);
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// Keeps the last `limit` bytes of stderr in `tail`, until it closes.
async fn read_tail(
    stderr: Option<tokio::process::ChildStderr>,
    mut tail: Option<&mut Vec<u8>>,
    limit: usize,
) {
    let Some(mut stderr) = stderr else {
        return;
    };
    let mut chunk = vec![0u8; 4096];
    while let Ok(read @ 1..) = stderr.read(&mut chunk).await {
        if let Some(tail) = tail.as_deref_mut() {
            tail.extend_from_slice(&chunk[..read]);
            let excess = tail.len().saturating_sub(limit);
            tail.drain(..excess);
        }
    }
}

/// Kills the process group `group` leads (Unix; elsewhere the plugin alone
/// is killed, by tokio).
fn kill_group(group: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = group.and_then(|pid| libc::pid_t::try_from(pid).ok()) {
        // SAFETY: kill(2) on a process group takes no pointers; at worst the
        // group is gone already (ESRCH).
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = group;
}
