//! The key objects a reference names: finding them, reading what the objects tell of the key, and signing and
//! verifying with the token's raw mechanisms.

use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};

use crate::algorithm::{Algorithm, Family};
use crate::error::{pkcs11, HsmError};
use crate::public_key::{KeyError, PublicKey, P256_PARAMS, P384_PARAMS};
use crate::token::TokenSession;
use crate::uri::KeyUri;

/// RSA public exponent 65537, big-endian.
pub const RSA_EXPONENT: [u8; 3] = [0x01, 0x00, 0x01];

/// A key pair in the token, its public half checked against its private
/// half (see `pair.rs`).
pub struct KeyPair {
    /// The public-key object that holds `public`, if the token has one.
    pub public_handle: Option<ObjectHandle>,
    /// The public key.
    pub public: PublicKey,
}

impl TokenSession<'_> {
    /// Signs `input` (see [`Algorithm::token_input`]) with the raw
    /// mechanism of `algorithm`, returning the token's raw signature.
    pub fn sign(
        &self,
        private: ObjectHandle,
        algorithm: Algorithm,
        input: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        let mechanism = signing_mechanism(algorithm);
        self.require(mechanism.mechanism_type(), "signing")?;
        self.session
            .sign(&mechanism, private, input)
            .map_err(|err| self.mechanism_error(err, mechanism.mechanism_type(), "signing"))
    }

    /// Verifies inside the token; `Ok(false)` when the signature does not
    /// match.
    pub fn verify(
        &self,
        public: ObjectHandle,
        algorithm: Algorithm,
        input: &[u8],
        signature: &[u8],
    ) -> Result<bool, HsmError> {
        let mechanism = signing_mechanism(algorithm);
        self.require(mechanism.mechanism_type(), "verifying")?;
        match self.session.verify(&mechanism, public, input, signature) {
            Ok(()) => Ok(true),
            Err(Pkcs11Error::Pkcs11(RvError::SignatureInvalid | RvError::SignatureLenRange, _)) => {
                Ok(false)
            }
            Err(err) => Err(self.mechanism_error(err, mechanism.mechanism_type(), "verifying")),
        }
    }

    /// The objects of `class` with the label and id of `uri`, of `origin`.
    pub fn find_all(
        &self,
        uri: &KeyUri,
        class: ObjectClass,
        origin: Origin,
    ) -> Result<Vec<ObjectHandle>, HsmError> {
        let mut template = vec![Attribute::Class(class)];
        if let Some(label) = &uri.object {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        if let Some(id) = &uri.id {
            template.push(Attribute::Id(id.clone()));
        }
        if origin == Origin::PinHolder {
            template.push(Attribute::Private(true));
        }
        self.session.find_objects(&template).map_err(pkcs11)
    }

    /// The one object of `class` with the label and id of `uri`, of
    /// `origin`, if any.
    pub fn find_one(
        &self,
        uri: &KeyUri,
        class: ObjectClass,
        origin: Origin,
    ) -> Result<Option<ObjectHandle>, HsmError> {
        let mut found = self.find_all(uri, class, origin)?;
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            count => Err(HsmError::ObjectAmbiguous {
                token: self.token.label.clone(),
                class: class_name(class),
                key: uri.to_string(),
                count,
            }),
        }
    }

    /// The public key a public-key object holds.
    pub fn read_public_key(
        &self,
        uri: &KeyUri,
        handle: ObjectHandle,
    ) -> Result<PublicKey, HsmError> {
        match self.read_key(uri, handle)? {
            KeyMaterial::Public(key) => Ok(key),
            KeyMaterial::Algorithm(_) => Err(HsmError::Key {
                key: uri.to_string(),
                token: self.token.label.clone(),
                source: KeyError::Point,
            }),
        }
    }

    /// What the key object `handle` (public or private) tells of its key.
    pub fn read_key(&self, uri: &KeyUri, handle: ObjectHandle) -> Result<KeyMaterial, HsmError> {
        let unusable = |source| HsmError::Key {
            key: uri.to_string(),
            token: self.token.label.clone(),
            source,
        };
        let attributes = self
            .session
            .get_attributes(
                handle,
                &[
                    AttributeType::KeyType,
                    AttributeType::EcParams,
                    AttributeType::EcPoint,
                    AttributeType::Modulus,
                    AttributeType::PublicExponent,
                ],
            )
            .map_err(pkcs11)?;
        let mut key_type = None;
        let (mut params, mut point, mut modulus, mut exponent) = (None, None, None, None);
        for attribute in attributes {
            match attribute {
                Attribute::KeyType(value) => key_type = Some(value),
                Attribute::EcParams(value) => params = Some(value),
                Attribute::EcPoint(value) if !value.is_empty() => point = Some(value),
                Attribute::Modulus(value) => modulus = Some(value),
                Attribute::PublicExponent(value) => exponent = Some(value),
                _ => {}
            }
        }
        match (key_type, params, point, modulus, exponent) {
            (Some(KeyType::EC), Some(params), Some(point), _, _) => {
                PublicKey::from_ec(&params, &point)
                    .map(KeyMaterial::Public)
                    .map_err(unusable)
            }
            // An EC private key: PKCS#11 does not require its point.
            (Some(KeyType::EC), Some(params), None, _, _) => ec_algorithm(&params)
                .map(KeyMaterial::Algorithm)
                .map_err(unusable),
            (Some(KeyType::RSA), _, _, Some(modulus), Some(exponent)) => {
                PublicKey::from_rsa(&modulus, &exponent)
                    .map(KeyMaterial::Public)
                    .map_err(unusable)
            }
            // An RSA private key without its public exponent, which some
            // tokens omit: the modulus still gives the key's size.
            (Some(KeyType::RSA), _, _, Some(modulus), None) => {
                PublicKey::from_rsa(&modulus, &RSA_EXPONENT)
                    .map(|key| KeyMaterial::Algorithm(key.algorithm()))
                    .map_err(unusable)
            }
            (key_type, ..) => Err(HsmError::UnsupportedKeyType {
                key: uri.to_string(),
                token: self.token.label.clone(),
                key_type: key_type.map_or_else(|| "unknown".to_owned(), |t| t.to_string()),
            }),
        }
    }

    /// The error for a missing `class` object of `uri`.
    pub fn not_found(&self, uri: &KeyUri, class: &'static str) -> HsmError {
        HsmError::ObjectNotFound {
            token: self.token.label.clone(),
            class,
            key: uri.to_string(),
        }
    }

    fn mechanism_error(
        &self,
        err: Pkcs11Error,
        mechanism: MechanismType,
        purpose: &'static str,
    ) -> HsmError {
        match err {
            Pkcs11Error::Pkcs11(RvError::MechanismInvalid | RvError::MechanismParamInvalid, _) => {
                HsmError::MechanismNotSupported {
                    token: self.token.label.clone(),
                    mechanism: mechanism.to_string(),
                    purpose,
                }
            }
            other => pkcs11(other),
        }
    }
}

/// Who may have made the objects a search returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Anyone: a session without the PIN can make, see and destroy objects
    /// with `CKA_PRIVATE=false`.
    Anyone,
    /// Only someone with the PIN: the object is private (`CKA_PRIVATE=true`).
    PinHolder,
}

/// What a key object tells of its key.
pub enum KeyMaterial {
    /// The public key: from every public-key object, from an RSA private
    /// key, and from an EC private key on tokens that give its point.
    Public(PublicKey),
    /// Only the algorithm: an EC private key without its point, an RSA
    /// private key without its public exponent.
    Algorithm(Algorithm),
}

impl KeyMaterial {
    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            KeyMaterial::Public(key) => key.algorithm(),
            KeyMaterial::Algorithm(algorithm) => *algorithm,
        }
    }
}

/// The algorithm of an EC key on the curve of `CKA_EC_PARAMS` `params`.
fn ec_algorithm(params: &[u8]) -> Result<Algorithm, KeyError> {
    match params {
        P256_PARAMS => Ok(Algorithm::EcdsaP256),
        P384_PARAMS => Ok(Algorithm::EcdsaP384),
        other => Err(KeyError::Curve(
            other.iter().map(|b| format!("{b:02x}")).collect(),
        )),
    }
}

/// The raw mechanism that signs with a key of `algorithm`: the token sees
/// only a digest (ECDSA) or a `DigestInfo` (RSA), so tokens without
/// combined hash-and-sign mechanisms work too.
pub fn signing_mechanism(algorithm: Algorithm) -> Mechanism<'static> {
    match algorithm.family() {
        Family::Ecdsa { .. } => Mechanism::Ecdsa,
        Family::Rsa { .. } => Mechanism::RsaPkcs,
    }
}

fn class_name(class: ObjectClass) -> &'static str {
    if class == ObjectClass::PRIVATE_KEY {
        "private key"
    } else {
        "public key"
    }
}
