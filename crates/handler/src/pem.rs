//! Public keys as the protocol carries them: PKIX `PUBLIC KEY` PEM.

use spki::der::pem::LineEnding;
use spki::{EncodePublicKey, SubjectPublicKeyInfoRef};

use crate::HandlerError;

/// The PEM label of a PKIX `SubjectPublicKeyInfo`.
const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";

/// `key` as a `PUBLIC KEY` PEM block with `\n` line endings, as Go's
/// `cryptoutils.MarshalPublicKeyToPEM` writes it.
pub fn public_key_pem(key: &impl EncodePublicKey) -> Result<String, HandlerError> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|err| HandlerError::PublicKeyEncoding(err.to_string()))
}

/// A DER `SubjectPublicKeyInfo` (what most KMS APIs return) as a
/// `PUBLIC KEY` PEM block. The DER is checked to be a
/// `SubjectPublicKeyInfo` first.
pub fn public_key_pem_from_der(spki_der: &[u8]) -> Result<String, HandlerError> {
    SubjectPublicKeyInfoRef::try_from(spki_der)
        .map_err(|err| HandlerError::PublicKeyEncoding(err.to_string()))?;
    spki::der::pem::encode_string(PUBLIC_KEY_LABEL, LineEnding::LF, spki_der)
        .map_err(|err| HandlerError::PublicKeyEncoding(err.to_string()))
}
