//! `PluginArgs`: what the host passes as `argv[2]`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::encoding::base64_bytes;
use crate::options::null_as_default;
use crate::{
    InitOptions, MessageOptions, MethodName, PublicKeyOptions, RpcOptions, SignOptions,
    VerifyOptions,
};

/// Arguments of `defaultAlgorithm` (none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DefaultAlgorithmArgs {}

/// Arguments of `supportedAlgorithms` (none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SupportedAlgorithmsArgs {}

/// Arguments of `createKey`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateKeyArgs {
    /// The call's deadline, if any.
    #[serde(
        rename = "ctxDeadline",
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub ctx_deadline: Option<OffsetDateTime>,
    /// The algorithm of the key to create, one the plugin supports.
    pub algorithm: String,
}

/// Arguments of `publicKey`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PublicKeyArgs {
    /// Options of the call.
    #[serde(
        rename = "publicKeyOptions",
        default,
        deserialize_with = "null_as_default"
    )]
    pub public_key_options: PublicKeyOptions,
}

/// Arguments of `signMessage`; the message itself comes on stdin.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SignMessageArgs {
    /// Options of the call.
    #[serde(rename = "signOptions", default, deserialize_with = "null_as_default")]
    pub sign_options: SignOptions,
}

/// Arguments of `verifySignature`; the message itself comes on stdin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VerifySignatureArgs {
    /// The signature to check.
    #[serde(with = "base64_bytes")]
    pub signature: Vec<u8>,
    /// Options of the call.
    #[serde(
        rename = "verifyOptions",
        default,
        deserialize_with = "null_as_default"
    )]
    pub verify_options: VerifyOptions,
}

impl DefaultAlgorithmArgs {
    /// The (empty) arguments of `defaultAlgorithm`.
    pub fn new() -> Self {
        DefaultAlgorithmArgs {}
    }
}

impl SupportedAlgorithmsArgs {
    /// The (empty) arguments of `supportedAlgorithms`.
    pub fn new() -> Self {
        SupportedAlgorithmsArgs {}
    }
}

impl CreateKeyArgs {
    /// The arguments a Go host sends: the algorithm and the deadline.
    pub fn new(algorithm: impl Into<String>, ctx_deadline: Option<OffsetDateTime>) -> Self {
        CreateKeyArgs {
            ctx_deadline,
            algorithm: algorithm.into(),
        }
    }
}

impl PublicKeyArgs {
    /// The arguments a Go host sends.
    pub fn new(rpc_options: RpcOptions) -> Self {
        PublicKeyArgs {
            public_key_options: PublicKeyOptions::new(rpc_options),
        }
    }
}

impl SignMessageArgs {
    /// The arguments a Go host sends.
    pub fn new(rpc_options: RpcOptions, message_options: MessageOptions) -> Self {
        SignMessageArgs {
            sign_options: SignOptions::new(rpc_options, message_options),
        }
    }
}

impl VerifySignatureArgs {
    /// The arguments a Go host sends.
    pub fn new(
        signature: Vec<u8>,
        rpc_options: RpcOptions,
        message_options: MessageOptions,
    ) -> Self {
        VerifySignatureArgs {
            signature,
            verify_options: VerifyOptions::new(rpc_options, message_options),
        }
    }
}

/// The method called and its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MethodArgs {
    /// `defaultAlgorithm`.
    DefaultAlgorithm(DefaultAlgorithmArgs),
    /// `supportedAlgorithms`.
    SupportedAlgorithms(SupportedAlgorithmsArgs),
    /// `createKey`.
    CreateKey(CreateKeyArgs),
    /// `publicKey`.
    PublicKey(PublicKeyArgs),
    /// `signMessage`.
    SignMessage(SignMessageArgs),
    /// `verifySignature`.
    VerifySignature(VerifySignatureArgs),
    /// A `methodName` this version does not know (possibly empty). A plugin
    /// answers "unsupported method".
    Unknown(String),
    /// A known `methodName` that takes arguments sent without its arguments
    /// object (or with `null`). `defaultAlgorithm` and `supportedAlgorithms`
    /// take none, so their object may be left out.
    MissingArguments(MethodName),
}

impl MethodArgs {
    /// The `methodName` on the wire.
    pub fn method_name(&self) -> &str {
        match self.method() {
            Some(method) => method.as_str(),
            None => match self {
                MethodArgs::Unknown(name) => name,
                _ => "",
            },
        }
    }

    /// The method, when it is one of the six.
    pub fn method(&self) -> Option<MethodName> {
        Some(match self {
            MethodArgs::DefaultAlgorithm(_) => MethodName::DefaultAlgorithm,
            MethodArgs::SupportedAlgorithms(_) => MethodName::SupportedAlgorithms,
            MethodArgs::CreateKey(_) => MethodName::CreateKey,
            MethodArgs::PublicKey(_) => MethodName::PublicKey,
            MethodArgs::SignMessage(_) => MethodName::SignMessage,
            MethodArgs::VerifySignature(_) => MethodName::VerifySignature,
            MethodArgs::MissingArguments(method) => *method,
            MethodArgs::Unknown(_) => return None,
        })
    }
}

/// Everything `argv[2]` carries: `initOptions` and one method's arguments,
/// side by side at the top level.
///
/// Decoding never fails on an unknown or empty `methodName`, nor on a known
/// one whose object is missing: those become [`MethodArgs::Unknown`] and
/// [`MethodArgs::MissingArguments`], so a plugin can answer them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginArgs {
    /// What the host was loaded with.
    pub init_options: InitOptions,
    /// The method and its arguments.
    pub method: MethodArgs,
}

impl PluginArgs {
    /// Pairs options and a method call.
    pub fn new(init_options: InitOptions, method: MethodArgs) -> Self {
        PluginArgs {
            init_options,
            method,
        }
    }

    /// Decodes `argv[2]`.
    pub fn from_json(json: &str) -> serde_json::Result<Self> {
        serde_json::from_str(json)
    }

    /// Encodes as a Go host would, ready to pass as `argv[2]`.
    pub fn to_json(&self) -> serde_json::Result<String> {
        crate::to_string(self)
    }
}

/// The wire layout: Go's `PluginArgs` embeds `MethodArgs`, which holds one
/// optional field per method.
#[derive(Serialize, Deserialize)]
struct WireArgs<I, A, B, C, D, E, F> {
    #[serde(rename = "initOptions")]
    init_options: I,
    #[serde(rename = "methodName", default)]
    method_name: String,
    #[serde(rename = "defaultAlgorithm", skip_serializing_if = "Option::is_none")]
    default_algorithm: Option<A>,
    #[serde(
        rename = "supportedAlgorithms",
        skip_serializing_if = "Option::is_none"
    )]
    supported_algorithms: Option<B>,
    #[serde(rename = "createKey", skip_serializing_if = "Option::is_none")]
    create_key: Option<C>,
    #[serde(rename = "publicKey", skip_serializing_if = "Option::is_none")]
    public_key: Option<D>,
    #[serde(rename = "signMessage", skip_serializing_if = "Option::is_none")]
    sign_message: Option<E>,
    #[serde(rename = "verifySignature", skip_serializing_if = "Option::is_none")]
    verify_signature: Option<F>,
}

type OwnedWireArgs = WireArgs<
    InitOptions,
    DefaultAlgorithmArgs,
    SupportedAlgorithmsArgs,
    CreateKeyArgs,
    PublicKeyArgs,
    SignMessageArgs,
    VerifySignatureArgs,
>;

impl Serialize for PluginArgs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut wire: WireArgs<
            &InitOptions,
            &DefaultAlgorithmArgs,
            &SupportedAlgorithmsArgs,
            &CreateKeyArgs,
            &PublicKeyArgs,
            &SignMessageArgs,
            &VerifySignatureArgs,
        > = WireArgs {
            init_options: &self.init_options,
            method_name: self.method.method_name().to_owned(),
            default_algorithm: None,
            supported_algorithms: None,
            create_key: None,
            public_key: None,
            sign_message: None,
            verify_signature: None,
        };
        match &self.method {
            MethodArgs::DefaultAlgorithm(args) => wire.default_algorithm = Some(args),
            MethodArgs::SupportedAlgorithms(args) => wire.supported_algorithms = Some(args),
            MethodArgs::CreateKey(args) => wire.create_key = Some(args),
            MethodArgs::PublicKey(args) => wire.public_key = Some(args),
            MethodArgs::SignMessage(args) => wire.sign_message = Some(args),
            MethodArgs::VerifySignature(args) => wire.verify_signature = Some(args),
            MethodArgs::Unknown(_) | MethodArgs::MissingArguments(_) => {}
        }
        wire.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PluginArgs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = OwnedWireArgs::deserialize(deserializer)?;
        let method = match wire.method_name.parse::<MethodName>() {
            Err(_) => MethodArgs::Unknown(wire.method_name),
            Ok(name) => {
                // The two methods without arguments need no object: a Go
                // host may leave it out (the reference's own tests do), and
                // its absence loses nothing.
                let args = match name {
                    MethodName::DefaultAlgorithm => Some(MethodArgs::DefaultAlgorithm(
                        wire.default_algorithm.unwrap_or_default(),
                    )),
                    MethodName::SupportedAlgorithms => Some(MethodArgs::SupportedAlgorithms(
                        wire.supported_algorithms.unwrap_or_default(),
                    )),
                    MethodName::CreateKey => wire.create_key.map(MethodArgs::CreateKey),
                    MethodName::PublicKey => wire.public_key.map(MethodArgs::PublicKey),
                    MethodName::SignMessage => wire.sign_message.map(MethodArgs::SignMessage),
                    MethodName::VerifySignature => {
                        wire.verify_signature.map(MethodArgs::VerifySignature)
                    }
                };
                args.unwrap_or(MethodArgs::MissingArguments(name))
            }
        };
        Ok(PluginArgs {
            init_options: wire.init_options,
            method,
        })
    }
}
