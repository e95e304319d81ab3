//! [`AsyncClient`]: the calls of a [`Client`] as futures, on tokio.
//!
//! There is one supervision of a plugin, the blocking [`Client`]'s: an
//! asynchronous call makes that very call on tokio's blocking pool (see
//! `pool`), with the six methods described once (`crate::methods`).

use tokio::io::AsyncRead;

use crate::methods::{self, Request};
use crate::{CallOptions, Client, Error, HashFunc, PublicKey};

mod handover;
mod pool;

/// A [`Client`] whose calls are futures (the `tokio` feature). Each method
/// is the [`Client`] method of the same name, with everything the crate
/// docs promise of a call, on every OS; messages are any [`AsyncRead`],
/// streamed to the plugin as they are read, and one that stalls holds the
/// call no longer than its plugin runs. Dropping a call's future
/// (`tokio::time::timeout`, the losing branch of a `select!`, an aborted
/// task) ends its plugin at once, with every process it started.
///
/// The cost: each call in flight holds one thread of tokio's blocking pool
/// while its plugin runs, next to the process the call starts anyway (and,
/// as any call with a message, the thread that streams it to the plugin).
/// Calls beyond the pool's limit (`max_blocking_threads` of the runtime's
/// builder, 512 by default) wait in its queue for a thread; their deadline
/// runs while they wait, and one that passes fails the call without
/// starting the plugin.
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

/// The message of calls that stream none.
const NO_MESSAGE: Option<tokio::io::Empty> = None;

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
        let request = methods::default_algorithm(&self.client, options);
        self.call(request, NO_MESSAGE).await
    }

    /// See [`Client::supported_algorithms`].
    pub async fn supported_algorithms(&self, options: &CallOptions) -> Result<Vec<String>, Error> {
        let request = methods::supported_algorithms(&self.client, options);
        self.call(request, NO_MESSAGE).await
    }

    /// See [`Client::create_key`].
    pub async fn create_key(
        &self,
        algorithm: &str,
        options: &CallOptions,
    ) -> Result<PublicKey, Error> {
        let request = methods::create_key(&self.client, algorithm, options);
        self.call(request, NO_MESSAGE).await
    }

    /// See [`Client::public_key`].
    pub async fn public_key(&self, options: &CallOptions) -> Result<PublicKey, Error> {
        let request = methods::public_key(&self.client, options);
        self.call(request, NO_MESSAGE).await
    }

    /// See [`Client::sign_message`]: the message is streamed from `message`.
    pub async fn sign_message<R: AsyncRead + Unpin>(
        &self,
        message: R,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        let request = methods::sign_message(&self.client, options);
        self.call(request, Some(message)).await
    }

    /// See [`Client::sign_digest`].
    pub async fn sign_digest(
        &self,
        digest: &[u8],
        hash_func: HashFunc,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        let request = methods::sign_digest(&self.client, digest, hash_func, options);
        self.call(request, NO_MESSAGE).await
    }

    /// See [`Client::verify_signature`]: the message is streamed from
    /// `message`.
    pub async fn verify_signature<R: AsyncRead + Unpin>(
        &self,
        signature: &[u8],
        message: R,
        options: &CallOptions,
    ) -> Result<(), Error> {
        let request = methods::verify_signature(&self.client, signature, options);
        self.call(request, Some(message)).await
    }

    async fn call<T: Send + 'static, R: AsyncRead + Unpin>(
        &self,
        request: Request<T>,
        message: Option<R>,
    ) -> Result<T, Error> {
        pool::call(&self.client, request, message).await
    }
}
