//! Sigstore bundles (protobuf-specs JSON, media type v0.3) for key-based
//! signing without a transparency log: a message signature, the digest it
//! covers, and a hint naming the public key.
//!
//! The few fields such a bundle holds are modelled here with serde rather
//! than through `sigstore_protobuf_specs`, whose prost and prost-reflect
//! runtime (and prost-build at build time) would more than double this
//! tool's dependency tree for five fields.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::digest::SignatureDigest;

/// The media type of the bundles written.
pub const MEDIA_TYPE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Media types of the bundle versions read.
const MEDIA_TYPES: [&str; 4] = [
    MEDIA_TYPE_V03,
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
];

/// A bundle, as far as key-based message signatures need it. Fields this
/// model does not know (transparency log entries, timestamps) are ignored
/// when read.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    media_type: String,
    verification_material: VerificationMaterial,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_signature: Option<MessageSignature>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerificationMaterial {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key: Option<PublicKeyIdentifier>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PublicKeyIdentifier {
    #[serde(default)]
    hint: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageSignature {
    message_digest: MessageDigest,
    #[serde(with = "base64_bytes")]
    signature: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
struct MessageDigest {
    algorithm: String,
    #[serde(with = "base64_bytes")]
    digest: Vec<u8>,
}

/// What a bundle says was signed, and the signature.
#[derive(Debug, PartialEq, Eq)]
pub struct SignedDigest {
    /// The algorithm the bundle records for the digest.
    pub algorithm: SignatureDigest,
    /// The digest of the blob.
    pub digest: Vec<u8>,
    /// The signature (DER ECDSA, or RSA).
    pub signature: Vec<u8>,
}

/// Why a bundle cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Not JSON, or not a bundle.
    #[error("not a Sigstore bundle: {0}")]
    Json(#[from] serde_json::Error),
    /// A media type this tool does not read.
    #[error("unsupported bundle media type {0:?}")]
    MediaType(String),
    /// A DSSE envelope or another content: only message signatures verify.
    #[error("the bundle holds no messageSignature (a DSSE attestation is not a blob signature)")]
    NoMessageSignature,
    /// A digest algorithm outside SHA-2.
    #[error("unsupported messageDigest algorithm {0:?}: expected SHA2_224, SHA2_256, SHA2_384 or SHA2_512")]
    Algorithm(String),
}

impl Bundle {
    /// The bundle of a signature over `digest`, made with the key whose DER
    /// SubjectPublicKeyInfo is `public_key_der`.
    pub fn new(
        algorithm: SignatureDigest,
        digest: Vec<u8>,
        signature: Vec<u8>,
        public_key_der: &[u8],
    ) -> Self {
        Bundle {
            media_type: MEDIA_TYPE_V03.to_owned(),
            verification_material: VerificationMaterial {
                public_key: Some(PublicKeyIdentifier {
                    hint: public_key_hint(public_key_der),
                }),
            },
            message_signature: Some(MessageSignature {
                message_digest: MessageDigest {
                    algorithm: algorithm.bundle_name().to_owned(),
                    digest,
                },
                signature,
            }),
        }
    }

    /// Parses the JSON of a bundle file.
    pub fn from_json(json: &[u8]) -> Result<Self, BundleError> {
        let bundle: Bundle = serde_json::from_slice(json)?;
        if !MEDIA_TYPES.contains(&bundle.media_type.as_str()) {
            return Err(BundleError::MediaType(bundle.media_type));
        }
        Ok(bundle)
    }

    /// The bundle as JSON, as cosign writes it (one line).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The message signature and the digest it is recorded over.
    pub fn signed_digest(&self) -> Result<SignedDigest, BundleError> {
        let message = self
            .message_signature
            .as_ref()
            .ok_or(BundleError::NoMessageSignature)?;
        let name = &message.message_digest.algorithm;
        let algorithm = SignatureDigest::from_bundle_name(name)
            .ok_or_else(|| BundleError::Algorithm(name.clone()))?;
        Ok(SignedDigest {
            algorithm,
            digest: message.message_digest.digest.clone(),
            signature: message.signature.clone(),
        })
    }
}

/// The public key hint cosign writes: the base64 SHA-256 of the DER
/// SubjectPublicKeyInfo.
pub fn public_key_hint(public_key_der: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(public_key_der))
}

/// protobuf `bytes` fields: standard base64 in JSON.
mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_protobuf_specs_json_of_a_key_signed_message() {
        let bundle = Bundle::new(SignatureDigest::Sha256, vec![1; 32], vec![2; 3], b"key");
        let json: serde_json::Value = serde_json::from_slice(&bundle.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                "verificationMaterial": {"publicKey": {"hint": public_key_hint(b"key")}},
                "messageSignature": {
                    "messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode([1; 32])},
                    "signature": "AgIC"
                }
            })
        );
    }

    #[test]
    fn reads_back_what_it_writes_and_ignores_unknown_fields() {
        let bundle = Bundle::new(SignatureDigest::Sha384, vec![7; 48], vec![9; 70], b"key");
        let mut json: serde_json::Value = serde_json::from_slice(&bundle.to_json()).unwrap();
        json["verificationMaterial"]["tlogEntries"] = serde_json::json!([]);
        json["somethingNew"] = serde_json::json!(true);
        let read = Bundle::from_json(json.to_string().as_bytes()).unwrap();
        assert_eq!(
            read.signed_digest().unwrap(),
            SignedDigest {
                algorithm: SignatureDigest::Sha384,
                digest: vec![7; 48],
                signature: vec![9; 70],
            }
        );
    }

    #[test]
    fn refuses_other_media_types_contents_and_algorithms() {
        let bundle = |media: &str, content: &str| {
            format!(r#"{{"mediaType":"{media}","verificationMaterial":{{}}{content}}}"#)
        };
        let err = Bundle::from_json(bundle("text/plain", "").as_bytes()).unwrap_err();
        assert!(matches!(err, BundleError::MediaType(_)), "{err}");
        let dsse = bundle(MEDIA_TYPE_V03, r#","dsseEnvelope":{}"#);
        let err = Bundle::from_json(dsse.as_bytes())
            .unwrap()
            .signed_digest()
            .unwrap_err();
        assert!(matches!(err, BundleError::NoMessageSignature), "{err}");
        let sha3 = bundle(
            MEDIA_TYPE_V03,
            r#","messageSignature":{"messageDigest":{"algorithm":"SHA3_256","digest":""},"signature":""}"#,
        );
        let err = Bundle::from_json(sha3.as_bytes())
            .unwrap()
            .signed_digest()
            .unwrap_err();
        assert!(matches!(err, BundleError::Algorithm(_)), "{err}");
        assert!(Bundle::from_json(b"not json").is_err());
    }
}
