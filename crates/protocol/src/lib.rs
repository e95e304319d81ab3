//! Wire types of the Sigstore KMS plugin protocol, version `v1`.
//!
//! cosign and the Go `sigstore` library sign with keys held by *plugins*:
//! programs named `sigstore-kms-NAME` that serve key references
//! `NAME://KEYREF`. The host runs the plugin once per call as
//! `sigstore-kms-NAME v1 '<PluginArgs JSON>'`, streams the message on stdin,
//! and reads one [`PluginResp`] JSON object from stdout.
//!
//! This crate holds every type and field name of that exchange. It encodes
//! byte for byte what the Go reference (`pkg/signature/kms/cliplugin`)
//! writes, and decodes whatever it may send. Both the plugin SDK
//! (`sigstore-kms-handler`) and the host library (`sigstore-kms-client`)
//! build on it.
//!
//! ```
//! use sigstore_kms_protocol::{
//!     HashFunc, InitOptions, MessageOptions, MethodArgs, MethodName, MethodResp,
//!     PluginArgs, PluginResp, RpcOptions, SignMessageArgs, SignMessageResp,
//! };
//!
//! // The host side: what goes into argv[2].
//! let args = PluginArgs::new(
//!     InitOptions::new("/var/keys/release.pem", HashFunc::SHA256),
//!     MethodArgs::SignMessage(SignMessageArgs::new(
//!         RpcOptions::go_defaults(),
//!         MessageOptions::default(),
//!     )),
//! );
//! let argv2 = args.to_json()?;
//! assert!(argv2.starts_with(r#"{"initOptions":{"protocolVersion":"v1","#));
//!
//! // The plugin side: read it back, answer.
//! let received = PluginArgs::from_json(&argv2)?;
//! assert_eq!(received.method.method(), Some(MethodName::SignMessage));
//! let reply = PluginResp::from(MethodResp::SignMessage(SignMessageResp::new(vec![0x30, 0x06])));
//! let stdout = reply.to_json()?;
//! assert_eq!(stdout, r#"{"signMessage":{"signature":"MAY="}}"#);
//!
//! // The host again: parse stdout as the answer to the call it made.
//! let parsed = PluginResp::parse(stdout.as_bytes(), MethodName::SignMessage)?;
//! assert_eq!(parsed, reply);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod algorithm;
mod args;
mod encoding;
mod hash;
pub mod method;
mod options;
mod resp;

pub use algorithm::Algorithm;
pub use args::{
    CreateKeyArgs, DefaultAlgorithmArgs, MethodArgs, PluginArgs, PublicKeyArgs, SignMessageArgs,
    SupportedAlgorithmsArgs, VerifySignatureArgs,
};
pub use encoding::{to_string, to_vec, to_writer};
pub use hash::HashFunc;
pub use method::{MethodName, UnknownMethod};
pub use options::{
    InitOptions, MessageOptions, PublicKeyOptions, RpcOptions, SignOptions, VerifyOptions,
};
pub use resp::{
    CreateKeyResp, DefaultAlgorithmResp, MethodResp, PluginResp, PublicKeyResp, ResponseError,
    SignMessageResp, SupportedAlgorithmsResp, VerifySignatureResp, ERROR_MESSAGE,
};
pub use time::OffsetDateTime;

/// The protocol version this crate speaks, passed as `argv[1]`.
pub const PROTOCOL_VERSION: &str = "v1";

/// Every plugin executable is named this prefix followed by the name in
/// `NAME://KEYREF`.
pub const PLUGIN_BINARY_PREFIX: &str = "sigstore-kms-";

/// What separates the plugin name from the plugin's own key reference.
pub const KEY_REFERENCE_SEPARATOR: &str = "://";
