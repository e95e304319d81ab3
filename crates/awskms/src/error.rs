//! What can go wrong, each saying what to do about it.

use sigstore_kms_protocol::HashFunc;

use crate::reference::InvalidReference;

/// The errors of this plugin; the host shows their message.
#[derive(Debug, thiserror::Error)]
pub enum AwsKmsError {
    #[error(transparent)]
    InvalidReference(#[from] InvalidReference),

    #[error("createKey needs an alias reference (awskms://[ENDPOINT]/alias/NAME or an alias ARN) to name the key it creates; {0:?} names an existing key by its id or ARN")]
    CreateNeedsAlias(String),

    #[error("unsupported algorithm {algorithm:?}: AWS KMS key specs served here are {supported}")]
    UnsupportedAlgorithm {
        algorithm: String,
        supported: String,
    },

    #[error("the key has no signing algorithms: it is not a SIGN_VERIFY key")]
    NotASigningKey,

    #[error("the key signs with {0}, which this plugin does not support (ECDSA and RSASSA only)")]
    UnsupportedSigningAlgorithm(String),

    #[error("the key signs with {algorithm}, which takes a {hash} digest, not {requested}: AWS KMS binds each key to its hash; ask for {hash} (sigstore-kms and cosign: --signature-digest-algorithm {flag})", flag = flag_value(*.hash))]
    HashNotOfKey {
        requested: HashFunc,
        algorithm: String,
        hash: HashFunc,
    },

    #[error("invalid signature: it does not verify with the key's public key under {0}")]
    InvalidSignature(String),

    #[error("invalid signature: AWS KMS says it does not verify under {0}")]
    InvalidSignatureRemotely(String),

    #[error("the key's public key cannot be used: {0}")]
    PublicKey(String),

    #[error("key version {0:?} requested, but awskms:// references name a key, not a version; leave keyVersion empty")]
    KeyVersion(String),

    #[error("no AWS region is configured: set AWS_REGION, or region in the AWS_PROFILE's section of ~/.aws/config")]
    NoRegion,

    #[error("AWS_TLS_INSECURE_SKIP_VERIFY=1 is set, but this plugin always verifies the endpoint's certificate; trust a private CA with AWS_CA_BUNDLE=FILE instead, and unset AWS_TLS_INSECURE_SKIP_VERIFY")]
    InsecureSkipVerify,

    #[error("AWS_CA_BUNDLE={path}: {reason}")]
    CaBundle { path: String, reason: String },

    #[error("{operation}: {message}")]
    Api {
        operation: &'static str,
        message: String,
    },

    #[error("the call's deadline passed while waiting for AWS KMS")]
    DeadlineExceeded,

    #[error("starting the asynchronous runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// How `--signature-digest-algorithm` names a hash: `sha384` for SHA-384.
fn flag_value(hash: HashFunc) -> String {
    hash.to_string().replace('-', "").to_lowercase()
}
