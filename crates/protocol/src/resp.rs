//! `PluginResp`: the one JSON object a plugin writes to stdout.

use serde::{Deserialize, Serialize};

use crate::encoding::{base64_bytes, null_as_empty};
use crate::MethodName;

/// The wire name of the error field.
pub const ERROR_MESSAGE: &str = "errorMessage";

/// Result of `defaultAlgorithm`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DefaultAlgorithmResp {
    /// The algorithm `createKey` uses when the caller has no preference.
    #[serde(rename = "defaultAlgorithm")]
    pub default_algorithm: String,
}

/// Result of `supportedAlgorithms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SupportedAlgorithmsResp {
    /// Every algorithm `createKey` accepts (a Go `nil` slice reads as empty).
    #[serde(rename = "supportedAlgorithms", deserialize_with = "null_as_empty")]
    pub supported_algorithms: Vec<String>,
}

/// Result of `createKey`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateKeyResp {
    /// The PEM text of the public key (base64 of the PEM on the wire).
    #[serde(rename = "publicKeyPEM", with = "base64_bytes")]
    pub public_key_pem: Vec<u8>,
}

/// Result of `publicKey`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PublicKeyResp {
    /// The PEM text of the public key (base64 of the PEM on the wire).
    #[serde(rename = "publicKeyPEM", with = "base64_bytes")]
    pub public_key_pem: Vec<u8>,
}

/// Result of `signMessage`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SignMessageResp {
    /// The signature bytes (ASN.1 DER for ECDSA).
    #[serde(with = "base64_bytes")]
    pub signature: Vec<u8>,
}

/// Result of `verifySignature`: success is the empty object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VerifySignatureResp {}

/// A successful result of one method.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MethodResp {
    /// `defaultAlgorithm`.
    DefaultAlgorithm(DefaultAlgorithmResp),
    /// `supportedAlgorithms`.
    SupportedAlgorithms(SupportedAlgorithmsResp),
    /// `createKey`.
    CreateKey(CreateKeyResp),
    /// `publicKey`.
    PublicKey(PublicKeyResp),
    /// `signMessage`.
    SignMessage(SignMessageResp),
    /// `verifySignature`.
    VerifySignature(VerifySignatureResp),
}

impl DefaultAlgorithmResp {
    /// The answer naming `default_algorithm`.
    pub fn new(default_algorithm: impl Into<String>) -> Self {
        DefaultAlgorithmResp {
            default_algorithm: default_algorithm.into(),
        }
    }
}

impl SupportedAlgorithmsResp {
    /// The answer listing `supported_algorithms`.
    pub fn new(supported_algorithms: Vec<String>) -> Self {
        SupportedAlgorithmsResp {
            supported_algorithms,
        }
    }
}

impl CreateKeyResp {
    /// The answer carrying the created key's PEM `PUBLIC KEY` block.
    pub fn new(public_key_pem: Vec<u8>) -> Self {
        CreateKeyResp { public_key_pem }
    }
}

impl PublicKeyResp {
    /// The answer carrying the key's PEM `PUBLIC KEY` block.
    pub fn new(public_key_pem: Vec<u8>) -> Self {
        PublicKeyResp { public_key_pem }
    }
}

impl SignMessageResp {
    /// The answer carrying the signature's bytes.
    pub fn new(signature: Vec<u8>) -> Self {
        SignMessageResp { signature }
    }
}

impl VerifySignatureResp {
    /// The (empty) answer of a signature that verifies.
    pub fn new() -> Self {
        VerifySignatureResp {}
    }
}

impl MethodResp {
    /// The method this result answers.
    pub fn method(&self) -> MethodName {
        match self {
            MethodResp::DefaultAlgorithm(_) => MethodName::DefaultAlgorithm,
            MethodResp::SupportedAlgorithms(_) => MethodName::SupportedAlgorithms,
            MethodResp::CreateKey(_) => MethodName::CreateKey,
            MethodResp::PublicKey(_) => MethodName::PublicKey,
            MethodResp::SignMessage(_) => MethodName::SignMessage,
            MethodResp::VerifySignature(_) => MethodName::VerifySignature,
        }
    }
}

/// What a plugin writes to stdout: an error message, or one method's result.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PluginResp {
    /// The call succeeded.
    Success(MethodResp),
    /// The call failed; the text is the plugin's own words.
    Error(String),
}

impl PluginResp {
    /// A failure reply carrying `message`.
    pub fn error(message: impl Into<String>) -> Self {
        PluginResp::Error(message.into())
    }

    /// The method's result, or the plugin's error message.
    pub fn into_result(self) -> Result<MethodResp, String> {
        match self {
            PluginResp::Success(result) => Ok(result),
            PluginResp::Error(message) => Err(message),
        }
    }

    /// Encodes as a Go plugin would.
    pub fn to_json(&self) -> serde_json::Result<String> {
        crate::to_string(self)
    }

    /// Reads a plugin's stdout as the answer to `method`, as a host must:
    /// a non-empty `errorMessage` wins whatever else is present; otherwise
    /// the object named after the method must be there and well formed.
    /// Anything but exactly one JSON object is an error.
    pub fn parse(stdout: &[u8], method: MethodName) -> Result<PluginResp, ResponseError> {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(stdout).map_err(ResponseError::NotJsonObject)?;
        match object.get(ERROR_MESSAGE) {
            Some(serde_json::Value::String(message)) if !message.is_empty() => {
                return Ok(PluginResp::Error(message.clone()));
            }
            Some(serde_json::Value::String(_) | serde_json::Value::Null) | None => {}
            Some(_) => return Err(ResponseError::ErrorMessageNotString),
        }
        let value = match object.get(method.as_str()) {
            Some(value) if !value.is_null() => value,
            _ => return Err(ResponseError::MissingResult(method)),
        };
        let invalid = |source| ResponseError::InvalidResult { method, source };
        let result = match method {
            MethodName::DefaultAlgorithm => {
                MethodResp::DefaultAlgorithm(Deserialize::deserialize(value).map_err(invalid)?)
            }
            MethodName::SupportedAlgorithms => {
                MethodResp::SupportedAlgorithms(Deserialize::deserialize(value).map_err(invalid)?)
            }
            MethodName::CreateKey => {
                MethodResp::CreateKey(Deserialize::deserialize(value).map_err(invalid)?)
            }
            MethodName::PublicKey => {
                MethodResp::PublicKey(Deserialize::deserialize(value).map_err(invalid)?)
            }
            MethodName::SignMessage => {
                MethodResp::SignMessage(Deserialize::deserialize(value).map_err(invalid)?)
            }
            MethodName::VerifySignature => {
                MethodResp::VerifySignature(Deserialize::deserialize(value).map_err(invalid)?)
            }
        };
        Ok(PluginResp::Success(result))
    }
}

impl From<MethodResp> for PluginResp {
    fn from(result: MethodResp) -> Self {
        PluginResp::Success(result)
    }
}

/// Why a plugin's stdout is not a usable answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// Not exactly one JSON object (empty, garbage, logs around it, ...).
    #[error("plugin output is not a single JSON object: {0}")]
    NotJsonObject(#[source] serde_json::Error),
    /// `errorMessage` holds something other than a string.
    #[error("plugin response has an `errorMessage` that is not a string")]
    ErrorMessageNotString,
    /// No error and no result object for the method called.
    #[error("plugin response has neither an error message nor a `{0}` result")]
    MissingResult(MethodName),
    /// The result object is there but does not decode.
    #[error("plugin response has an invalid `{method}` result: {source}")]
    InvalidResult {
        /// The method called.
        method: MethodName,
        /// What is wrong with the object.
        #[source]
        source: serde_json::Error,
    },
}

/// Go's `PluginResp`: `errorMessage` and one optional object per method.
#[derive(Serialize)]
struct WireResp<'a> {
    #[serde(rename = "errorMessage", skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    #[serde(rename = "defaultAlgorithm", skip_serializing_if = "Option::is_none")]
    default_algorithm: Option<&'a DefaultAlgorithmResp>,
    #[serde(
        rename = "supportedAlgorithms",
        skip_serializing_if = "Option::is_none"
    )]
    supported_algorithms: Option<&'a SupportedAlgorithmsResp>,
    #[serde(rename = "createKey", skip_serializing_if = "Option::is_none")]
    create_key: Option<&'a CreateKeyResp>,
    #[serde(rename = "publicKey", skip_serializing_if = "Option::is_none")]
    public_key: Option<&'a PublicKeyResp>,
    #[serde(rename = "signMessage", skip_serializing_if = "Option::is_none")]
    sign_message: Option<&'a SignMessageResp>,
    #[serde(rename = "verifySignature", skip_serializing_if = "Option::is_none")]
    verify_signature: Option<&'a VerifySignatureResp>,
}

impl Serialize for PluginResp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut wire = WireResp {
            error_message: None,
            default_algorithm: None,
            supported_algorithms: None,
            create_key: None,
            public_key: None,
            sign_message: None,
            verify_signature: None,
        };
        match self {
            // Go omits an empty errorMessage, and so does this.
            PluginResp::Error(message) => {
                wire.error_message = Some(message).filter(|m| !m.is_empty()).map(String::as_str)
            }
            PluginResp::Success(MethodResp::DefaultAlgorithm(r)) => {
                wire.default_algorithm = Some(r)
            }
            PluginResp::Success(MethodResp::SupportedAlgorithms(r)) => {
                wire.supported_algorithms = Some(r)
            }
            PluginResp::Success(MethodResp::CreateKey(r)) => wire.create_key = Some(r),
            PluginResp::Success(MethodResp::PublicKey(r)) => wire.public_key = Some(r),
            PluginResp::Success(MethodResp::SignMessage(r)) => wire.sign_message = Some(r),
            PluginResp::Success(MethodResp::VerifySignature(r)) => wire.verify_signature = Some(r),
        }
        wire.serialize(serializer)
    }
}
