//! Options shared by several methods: `initOptions`, `rpcOptions`,
//! `messageOptions` and the per-method option groups.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::encoding::optional_digest;
use crate::{HashFunc, PROTOCOL_VERSION};

/// `initOptions`: what the host was loaded with, sent with every call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InitOptions {
    /// When the host gives up on the call, if it set a deadline.
    #[serde(
        rename = "ctxDeadline",
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub ctx_deadline: Option<OffsetDateTime>,
    /// The protocol version the host speaks (`"v1"`).
    #[serde(rename = "protocolVersion")]
    pub protocol_version: String,
    /// The part of `NAME://KEYREF` after `://`, unchanged.
    #[serde(rename = "keyResourceID")]
    pub key_resource_id: String,
    /// The hash function the host was loaded with.
    #[serde(rename = "hashFunc")]
    pub hash_func: HashFunc,
    /// The RPC options the host was loaded with. A Go host always sends
    /// them; `null` or absent reads as the defaults.
    #[serde(rename = "rpcOptions", default, deserialize_with = "null_as_default")]
    pub rpc_options: RpcOptions,
}

impl InitOptions {
    /// The options a Go host sends for a key loaded without options:
    /// protocol `v1`, no deadline, `keyVersion` `""`, `remoteVerification`
    /// `false`.
    pub fn new(key_resource_id: impl Into<String>, hash_func: HashFunc) -> Self {
        InitOptions {
            ctx_deadline: None,
            protocol_version: PROTOCOL_VERSION.to_owned(),
            key_resource_id: key_resource_id.into(),
            hash_func,
            rpc_options: RpcOptions::go_defaults(),
        }
    }
}

/// `rpcOptions`: options of one remote call.
///
/// Go keeps each field as a pointer, so "absent" and "empty" differ on the
/// wire; both are kept here so that what was read is written back the same.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RpcOptions {
    /// The call's deadline, if any.
    #[serde(
        rename = "ctxDeadline",
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub ctx_deadline: Option<OffsetDateTime>,
    /// The key version to use; a Go host sends `""` when unset.
    #[serde(
        rename = "keyVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub key_version: Option<String>,
    /// Whether verification should happen in the KMS; a Go host sends
    /// `false` when unset.
    #[serde(
        rename = "remoteVerification",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub remote_verification: Option<bool>,
}

impl RpcOptions {
    /// What a Go host sends when no option was given: `keyVersion` `""` and
    /// `remoteVerification` `false`, no deadline.
    pub fn go_defaults() -> Self {
        RpcOptions {
            ctx_deadline: None,
            key_version: Some(String::new()),
            remote_verification: Some(false),
        }
    }

    /// The key version, with "not sent" read as `""`.
    pub fn key_version(&self) -> &str {
        self.key_version.as_deref().unwrap_or_default()
    }

    /// Remote verification, with "not sent" read as `false`.
    pub fn remote_verification(&self) -> bool {
        self.remote_verification.unwrap_or_default()
    }
}

/// `messageOptions`: how the bytes to sign or verify are given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageOptions {
    /// The digest to sign or verify. `None` (sent as `null`, or absent, or
    /// `""`) means "hash the message from stdin".
    #[serde(default, with = "optional_digest")]
    pub digest: Option<Vec<u8>>,
    /// The hash function for this call, overriding `initOptions.hashFunc`.
    #[serde(rename = "hashFunc", default, skip_serializing_if = "Option::is_none")]
    pub hash_func: Option<HashFunc>,
}

impl MessageOptions {
    /// Options with a precomputed `digest` (or none: the plugin hashes the
    /// message) and a hash function (or none: `initOptions.hashFunc`).
    pub fn new(digest: Option<Vec<u8>>, hash_func: Option<HashFunc>) -> Self {
        MessageOptions { digest, hash_func }
    }

    /// The hash function that applies to this call: this call's own, else
    /// the one the host was loaded with.
    pub fn effective_hash_func(&self, init: &InitOptions) -> HashFunc {
        self.hash_func.unwrap_or(init.hash_func)
    }
}

/// `publicKeyOptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PublicKeyOptions {
    /// Options of the call.
    #[serde(rename = "rpcOptions", default, deserialize_with = "null_as_default")]
    pub rpc_options: RpcOptions,
}

/// `signOptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SignOptions {
    /// Options of the call.
    #[serde(rename = "rpcOptions", default, deserialize_with = "null_as_default")]
    pub rpc_options: RpcOptions,
    /// How the bytes to sign are given.
    #[serde(
        rename = "messageOptions",
        default,
        deserialize_with = "null_as_default"
    )]
    pub message_options: MessageOptions,
}

/// `verifyOptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Options of the call.
    #[serde(rename = "rpcOptions", default, deserialize_with = "null_as_default")]
    pub rpc_options: RpcOptions,
    /// How the signed bytes are given.
    #[serde(
        rename = "messageOptions",
        default,
        deserialize_with = "null_as_default"
    )]
    pub message_options: MessageOptions,
}

/// A Go struct pointer encodes as `null` when nil; read it as the defaults.
impl PublicKeyOptions {
    /// The options of a `publicKey` call.
    pub fn new(rpc_options: RpcOptions) -> Self {
        PublicKeyOptions { rpc_options }
    }
}

impl SignOptions {
    /// The options of a `signMessage` call.
    pub fn new(rpc_options: RpcOptions, message_options: MessageOptions) -> Self {
        SignOptions {
            rpc_options,
            message_options,
        }
    }
}

impl VerifyOptions {
    /// The options of a `verifySignature` call.
    pub fn new(rpc_options: RpcOptions, message_options: MessageOptions) -> Self {
        VerifyOptions {
            rpc_options,
            message_options,
        }
    }
}

pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
