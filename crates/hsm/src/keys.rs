//! The key pair a reference names: finding it, generating it, reading its
//! public half, and signing and verifying with the token's raw mechanisms.

use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};

use crate::algorithm::{Algorithm, Family};
use crate::error::{pkcs11, HsmError};
use crate::public_key::{PublicKey, P256_PARAMS, P384_PARAMS};
use crate::token::TokenSession;
use crate::uri::KeyUri;

/// RSA public exponent 65537, big-endian.
const RSA_EXPONENT: [u8; 3] = [0x01, 0x00, 0x01];

/// A key pair in the token.
pub struct KeyPair {
    /// The private key object.
    pub private: ObjectHandle,
    /// The public key, read from the public-key object.
    pub public: PublicKey,
}

impl TokenSession<'_> {
    /// The key pair `uri` names, or `None` when the token holds neither
    /// half. One half without the other is an error.
    pub fn find_key_pair(&self, uri: &KeyUri) -> Result<Option<KeyPair>, HsmError> {
        let private = self.find_one(uri, ObjectClass::PRIVATE_KEY)?;
        let public = self.find_one(uri, ObjectClass::PUBLIC_KEY)?;
        match (private, public) {
            (None, None) => Ok(None),
            (Some(private), Some(public_handle)) => Ok(Some(KeyPair {
                private,
                public: self.read_public_key(uri, public_handle)?,
            })),
            (Some(_), None) => Err(self.not_found(uri, "public key")),
            (None, Some(_)) => Err(HsmError::OrphanPublicKey {
                token: self.token.label.clone(),
                key: uri.to_string(),
            }),
        }
    }

    /// The key pair `uri` names, which must exist.
    pub fn key_pair(&self, uri: &KeyUri) -> Result<KeyPair, HsmError> {
        self.find_key_pair(uri)?
            .ok_or_else(|| self.not_found(uri, "private key"))
    }

    /// The public-key object `uri` names and its key (the private key
    /// need not be there).
    pub fn public_key(&self, uri: &KeyUri) -> Result<(ObjectHandle, PublicKey), HsmError> {
        let handle = self
            .find_one(uri, ObjectClass::PUBLIC_KEY)?
            .ok_or_else(|| self.not_found(uri, "public key"))?;
        Ok((handle, self.read_public_key(uri, handle)?))
    }

    /// Generates a key pair of `algorithm` with the label and id of `uri`:
    /// the private key sensitive, never extractable, only for signing.
    pub fn generate(&self, uri: &KeyUri, algorithm: Algorithm) -> Result<KeyPair, HsmError> {
        let mut public_template = vec![
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
        ];
        let mut private_template = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ];
        for template in [&mut public_template, &mut private_template] {
            if let Some(label) = &uri.object {
                template.push(Attribute::Label(label.as_bytes().to_vec()));
            }
            if let Some(id) = &uri.id {
                template.push(Attribute::Id(id.clone()));
            }
        }
        let mechanism = match algorithm.family() {
            Family::Ecdsa { .. } => {
                let params = match algorithm {
                    Algorithm::EcdsaP384 => P384_PARAMS,
                    _ => P256_PARAMS,
                };
                public_template.push(Attribute::EcParams(params.to_vec()));
                Mechanism::EccKeyPairGen
            }
            Family::Rsa { bits } => {
                // CK_ULONG is 32 bits on Windows and 64 elsewhere: a usize
                // converts on both, and a modulus size always fits.
                let modulus_bits = cryptoki::types::Ulong::try_from(bits).map_err(pkcs11)?;
                public_template.push(Attribute::ModulusBits(modulus_bits));
                public_template.push(Attribute::PublicExponent(RSA_EXPONENT.to_vec()));
                Mechanism::RsaPkcsKeyPairGen
            }
        };
        self.require(mechanism.mechanism_type(), "generating the key pair")?;
        self.require(signing_mechanism(algorithm).mechanism_type(), "signing")?;
        let (public_handle, private) = self
            .session
            .generate_key_pair(&mechanism, &public_template, &private_template)
            .map_err(|err| {
                self.mechanism_error(err, mechanism.mechanism_type(), "generating the key pair")
            })?;
        Ok(KeyPair {
            private,
            public: self.read_public_key(uri, public_handle)?,
        })
    }

    /// Signs `input` (see [`Algorithm::token_input`]) with the raw
    /// mechanism of `algorithm`, returning the token's raw signature.
    pub fn sign(
        &self,
        key: &KeyPair,
        algorithm: Algorithm,
        input: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        let mechanism = signing_mechanism(algorithm);
        self.require(mechanism.mechanism_type(), "signing")?;
        self.session
            .sign(&mechanism, key.private, input)
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

    /// The one object of `class` with the label and id of `uri`, if any.
    fn find_one(&self, uri: &KeyUri, class: ObjectClass) -> Result<Option<ObjectHandle>, HsmError> {
        let mut template = vec![Attribute::Class(class)];
        if let Some(label) = &uri.object {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        if let Some(id) = &uri.id {
            template.push(Attribute::Id(id.clone()));
        }
        let mut found = self.session.find_objects(&template).map_err(pkcs11)?;
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

    fn read_public_key(&self, uri: &KeyUri, handle: ObjectHandle) -> Result<PublicKey, HsmError> {
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
                Attribute::EcPoint(value) => point = Some(value),
                Attribute::Modulus(value) => modulus = Some(value),
                Attribute::PublicExponent(value) => exponent = Some(value),
                _ => {}
            }
        }
        match (key_type, params, point, modulus, exponent) {
            (Some(KeyType::EC), Some(params), Some(point), _, _) => {
                PublicKey::from_ec(&params, &point).map_err(unusable)
            }
            (Some(KeyType::RSA), _, _, Some(modulus), Some(exponent)) => {
                PublicKey::from_rsa(&modulus, &exponent).map_err(unusable)
            }
            (key_type, ..) => Err(HsmError::UnsupportedKeyType {
                key: uri.to_string(),
                token: self.token.label.clone(),
                key_type: key_type.map_or_else(|| "unknown".to_owned(), |t| t.to_string()),
            }),
        }
    }

    fn not_found(&self, uri: &KeyUri, class: &'static str) -> HsmError {
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

/// The raw mechanism that signs with a key of `algorithm`: the token sees
/// only a digest (ECDSA) or a `DigestInfo` (RSA), so tokens without
/// combined hash-and-sign mechanisms work too.
fn signing_mechanism(algorithm: Algorithm) -> Mechanism<'static> {
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
