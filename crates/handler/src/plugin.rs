//! The trait a plugin implements, and the options each call carries.

use std::io::Read;

use sigstore_kms_protocol::{
    HashFunc, InitOptions, MessageOptions, MethodArgs, OffsetDateTime, PluginArgs, RpcOptions,
};

use crate::digest::message_digest;
use crate::HandlerError;

/// The error a plugin method returns. Anything that implements
/// [`std::error::Error`] converts into it with `?`, and so does a `&str` or
/// `String` through `.into()`. The host sees its message followed by its
/// sources, separated by `": "`.
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The six methods of a Sigstore KMS plugin.
///
/// The implementation is built once per process from the call's
/// [`InitOptions`] (key reference, hash function, RPC options) by the
/// constructor given to [`run`](crate::run), and then serves exactly one
/// call.
pub trait Plugin {
    /// The algorithm `createKey` uses when the caller has no preference,
    /// for example `ecdsa-p256-sha256`.
    fn default_algorithm(&self) -> Result<String, Error>;

    /// Every algorithm `createKey` accepts.
    fn supported_algorithms(&self) -> Result<Vec<String>, Error>;

    /// Creates the key with `algorithm`, or returns the existing key when
    /// there already is one, and answers its public key as PEM (see
    /// [`public_key_pem`](crate::public_key_pem)).
    fn create_key(&self, algorithm: &str, options: &CallOptions) -> Result<String, Error>;

    /// The key's public half as a PKIX `PUBLIC KEY` PEM (see
    /// [`public_key_pem`](crate::public_key_pem)).
    fn public_key(&self, options: &CallOptions) -> Result<String, Error>;

    /// Signs the message (or the digest in `options`) and returns the
    /// signature bytes.
    ///
    /// `message` streams stdin, which may be many GiB: hash it as it comes,
    /// for example with [`CallOptions::digest`], never read it into memory.
    fn sign_message(&self, message: &mut dyn Read, options: &CallOptions)
        -> Result<Vec<u8>, Error>;

    /// Checks `signature` over the message (or the digest in `options`);
    /// `Ok(())` means it verifies.
    ///
    /// `message` streams stdin, as for [`Plugin::sign_message`].
    fn verify_signature(
        &self,
        signature: &[u8],
        message: &mut dyn Read,
        options: &CallOptions,
    ) -> Result<(), Error>;
}

/// Options of one call, gathered from `initOptions`, the method's
/// `rpcOptions` and, for `signMessage` and `verifySignature`, its
/// `messageOptions`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions {
    /// The earliest deadline the host sent, if any. The host kills the
    /// plugin at that time; a plugin that makes network calls may use it
    /// as their timeout.
    pub deadline: Option<OffsetDateTime>,
    /// The key version requested (`""` when none).
    pub key_version: String,
    /// Whether the host asked for verification inside the KMS.
    pub remote_verification: bool,
    /// The hash function of the call: `messageOptions.hashFunc` when sent,
    /// else `initOptions.hashFunc` (see [`choose_hash_func`](crate::choose_hash_func)).
    pub hash_func: HashFunc,
    /// The digest to sign or verify instead of the message, when the host
    /// sent one. Only `signMessage` and `verifySignature` carry it.
    pub digest: Option<Vec<u8>>,
}

impl CallOptions {
    /// Options with only a hash function: no deadline, no key version, no
    /// remote verification, no digest.
    pub fn new(hash_func: HashFunc) -> Self {
        CallOptions {
            deadline: None,
            key_version: String::new(),
            remote_verification: false,
            hash_func,
            digest: None,
        }
    }

    /// Gathers the options of the call `args` describes.
    pub fn from_args(args: &PluginArgs) -> Self {
        let init = &args.init_options;
        let (rpc, message, method_deadline) = match &args.method {
            MethodArgs::CreateKey(call) => (&init.rpc_options, None, call.ctx_deadline),
            MethodArgs::PublicKey(call) => (&call.public_key_options.rpc_options, None, None),
            MethodArgs::SignMessage(call) => (
                &call.sign_options.rpc_options,
                Some(&call.sign_options.message_options),
                None,
            ),
            MethodArgs::VerifySignature(call) => (
                &call.verify_options.rpc_options,
                Some(&call.verify_options.message_options),
                None,
            ),
            // Methods without options of their own, and those this
            // version does not know.
            _ => (&init.rpc_options, None, None),
        };
        Self::gather(init, rpc, message, method_deadline)
    }

    fn gather(
        init: &InitOptions,
        rpc: &RpcOptions,
        message: Option<&MessageOptions>,
        method_deadline: Option<OffsetDateTime>,
    ) -> Self {
        let deadline = [
            init.ctx_deadline,
            init.rpc_options.ctx_deadline,
            rpc.ctx_deadline,
            method_deadline,
        ]
        .into_iter()
        .flatten()
        .min();
        CallOptions {
            deadline,
            key_version: rpc.key_version().to_owned(),
            remote_verification: rpc.remote_verification(),
            hash_func: message.map_or(init.hash_func, |message| {
                crate::choose_hash_func(message, init)
            }),
            digest: message.and_then(|message| message.digest.clone()),
        }
    }

    /// The digest to sign or verify, under [`CallOptions::hash_func`]:
    /// the one the host sent (its length checked), else `message` hashed
    /// as it streams, in constant memory. A digest of another hash's
    /// length with its message on stdin (cosign 3 with P-384 keys) gives
    /// the message's digest under `hash_func`. See
    /// [`message_digest`](crate::message_digest).
    pub fn digest(&self, message: &mut dyn Read) -> Result<Vec<u8>, HandlerError> {
        message_digest(self.hash_func, self.digest.as_deref(), message)
    }

    /// Whether [`CallOptions::digest`] reads the message (see
    /// [`digest_reads_message`](crate::digest_reads_message)).
    pub fn reads_message(&self) -> bool {
        crate::digest_reads_message(self.hash_func, self.digest.as_deref())
    }

    /// Fails with [`HandlerError::DeadlineExceeded`] when the deadline has
    /// passed.
    pub fn check_deadline(&self) -> Result<(), HandlerError> {
        match self.deadline {
            Some(deadline) if deadline <= OffsetDateTime::now_utc() => {
                Err(HandlerError::DeadlineExceeded(deadline))
            }
            _ => Ok(()),
        }
    }
}
