//! The six method names of protocol v1.

use std::fmt;
use std::str::FromStr;

/// `defaultAlgorithm`.
pub const DEFAULT_ALGORITHM: &str = "defaultAlgorithm";
/// `supportedAlgorithms`.
pub const SUPPORTED_ALGORITHMS: &str = "supportedAlgorithms";
/// `createKey`.
pub const CREATE_KEY: &str = "createKey";
/// `publicKey`.
pub const PUBLIC_KEY: &str = "publicKey";
/// `signMessage`.
pub const SIGN_MESSAGE: &str = "signMessage";
/// `verifySignature`.
pub const VERIFY_SIGNATURE: &str = "verifySignature";

/// One of the six methods a plugin serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MethodName {
    /// The algorithm `createKey` uses when the caller has no preference.
    DefaultAlgorithm,
    /// Every algorithm `createKey` accepts.
    SupportedAlgorithms,
    /// Create the key, or return it when it exists.
    CreateKey,
    /// The key's public half.
    PublicKey,
    /// Sign a message or digest.
    SignMessage,
    /// Verify a signature over a message or digest.
    VerifySignature,
}

impl MethodName {
    /// All six, in the order the specification lists them.
    pub const ALL: [MethodName; 6] = [
        MethodName::DefaultAlgorithm,
        MethodName::SupportedAlgorithms,
        MethodName::CreateKey,
        MethodName::PublicKey,
        MethodName::SignMessage,
        MethodName::VerifySignature,
    ];

    /// The name as it appears on the wire (`methodName` and the key of the
    /// method's object).
    pub fn as_str(self) -> &'static str {
        match self {
            MethodName::DefaultAlgorithm => DEFAULT_ALGORITHM,
            MethodName::SupportedAlgorithms => SUPPORTED_ALGORITHMS,
            MethodName::CreateKey => CREATE_KEY,
            MethodName::PublicKey => PUBLIC_KEY,
            MethodName::SignMessage => SIGN_MESSAGE,
            MethodName::VerifySignature => VERIFY_SIGNATURE,
        }
    }

    /// Whether the host streams a message on stdin for this method.
    pub fn takes_message(self) -> bool {
        matches!(self, MethodName::SignMessage | MethodName::VerifySignature)
    }
}

impl fmt::Display for MethodName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A method name this protocol version does not define.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsupported method: {0:?}")]
pub struct UnknownMethod(pub String);

impl FromStr for MethodName {
    type Err = UnknownMethod;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        MethodName::ALL
            .into_iter()
            .find(|method| method.as_str() == name)
            .ok_or_else(|| UnknownMethod(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_refused() {
        for method in MethodName::ALL {
            assert_eq!(method.as_str().parse::<MethodName>(), Ok(method));
        }
        assert_eq!(
            "rotateKey".parse::<MethodName>(),
            Err(UnknownMethod("rotateKey".into()))
        );
        assert!("".parse::<MethodName>().is_err());
        assert!("SignMessage".parse::<MethodName>().is_err());
    }
}
