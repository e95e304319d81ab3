//! Generating a key pair: first with every usage restriction stated, then,
//! when the token refuses that template, with one documented restriction
//! left out at a time, saying on stderr which one.
//!
//! Before anything is generated, the token's `CK_MECHANISM_INFO` is
//! checked, so that a key type or size the token does not make is named
//! as such.

use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::Attribute;

use crate::algorithm::{Algorithm, Family};
use crate::error::{pkcs11, HsmError};
use crate::keys::{signing_mechanism, KeyPair, RSA_EXPONENT};
use crate::public_key::{P256_PARAMS, P384_PARAMS};
use crate::token::TokenSession;
use crate::uri::KeyUri;

/// A restriction of the strict template that some tokens cannot apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relaxation {
    /// `CKA_MODIFIABLE=false` and `CKA_COPYABLE=false` left out: some
    /// tokens do not let a template set them. The usages stay as stated,
    /// but whoever holds the PIN can change them later.
    Modifiable,
    /// `CKA_DECRYPT=false` on the private key and `CKA_ENCRYPT=false` on
    /// the public key left out. tpm2-pkcs11 keeps one set of usage flags
    /// per key pair, in which verifying goes with decrypting and signing
    /// with encrypting, so it cannot make a key that signs but does not
    /// decrypt.
    PairedUsage,
}

impl Relaxation {
    /// What the key lacks when this restriction is left out.
    fn consequence(self) -> &'static str {
        match self {
            Relaxation::Modifiable => {
                "CKA_MODIFIABLE=false and CKA_COPYABLE=false: whoever holds the PIN can change \
                 the key's usages later"
            }
            Relaxation::PairedUsage => {
                "CKA_DECRYPT=false on the private key and CKA_ENCRYPT=false on the public key: \
                 the token pairs these usages with signing and verifying, so the key can also \
                 decrypt and encrypt"
            }
        }
    }
}

/// The templates tried, in order: each is tried only when the token
/// refused the one before it because of its template.
pub const STEPS: [&[Relaxation]; 4] = [
    &[],
    &[Relaxation::Modifiable],
    &[Relaxation::PairedUsage],
    &[Relaxation::PairedUsage, Relaxation::Modifiable],
];

/// The public and private templates of a key pair for `uri` with the
/// usage restrictions of `relaxed` left out.
pub fn templates(
    uri: &KeyUri,
    algorithm: Algorithm,
    relaxed: &[Relaxation],
) -> Result<(Vec<Attribute>, Vec<Attribute>), HsmError> {
    let keep = |relaxation| !relaxed.contains(&relaxation);
    // The public-key object is private, so a session without the PIN can
    // neither see nor replace it.
    let mut public = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Verify(true),
        Attribute::VerifyRecover(false),
        Attribute::Wrap(false),
        Attribute::Derive(false),
    ];
    let mut private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::SignRecover(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
    ];
    if keep(Relaxation::PairedUsage) {
        public.push(Attribute::Encrypt(false));
        private.push(Attribute::Decrypt(false));
    }
    for template in [&mut public, &mut private] {
        if keep(Relaxation::Modifiable) {
            template.extend([Attribute::Modifiable(false), Attribute::Copyable(false)]);
        }
        if let Some(label) = &uri.object {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        if let Some(id) = &uri.id {
            template.push(Attribute::Id(id.clone()));
        }
    }
    match algorithm.family() {
        Family::Ecdsa { .. } => {
            let params = match algorithm {
                Algorithm::EcdsaP384 => P384_PARAMS,
                _ => P256_PARAMS,
            };
            public.push(Attribute::EcParams(params.to_vec()));
        }
        Family::Rsa { bits } => {
            // CK_ULONG is 32 bits on Windows and 64 elsewhere: a usize
            // converts on both, and a modulus size always fits.
            let modulus_bits = cryptoki::types::Ulong::try_from(bits).map_err(pkcs11)?;
            public.push(Attribute::ModulusBits(modulus_bits));
            public.push(Attribute::PublicExponent(RSA_EXPONENT.to_vec()));
        }
    }
    Ok((public, private))
}

/// Whether the token refused `err`'s call because of the template: the
/// return codes PKCS#11 gives for that, and `CKR_GENERAL_ERROR` from
/// tpm2-pkcs11, which is how it reports a usage its key cannot have
/// (its log says "User specified and TPM specified attr mismatch").
pub fn refused_template(err: &Pkcs11Error, tpm2_pkcs11: bool) -> bool {
    match err {
        Pkcs11Error::Pkcs11(rv, _) => match rv {
            RvError::AttributeTypeInvalid
            | RvError::AttributeValueInvalid
            | RvError::AttributeReadOnly
            | RvError::TemplateInconsistent
            | RvError::TemplateIncomplete => true,
            RvError::GeneralError => tpm2_pkcs11,
            _ => false,
        },
        _ => false,
    }
}

/// The mechanism that generates keys of `algorithm`.
fn generation_mechanism(algorithm: Algorithm) -> Mechanism<'static> {
    match algorithm.family() {
        Family::Ecdsa { .. } => Mechanism::EccKeyPairGen,
        Family::Rsa { .. } => Mechanism::RsaPkcsKeyPairGen,
    }
}

/// Why a token cannot make keys of an algorithm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lack {
    /// It lacks this mechanism, needed for that purpose ("generating",
    /// "signing with").
    Mechanism(MechanismType, &'static str),
    /// Its mechanism makes keys of these sizes, in bits.
    Size {
        /// The smallest.
        min: usize,
        /// The largest.
        max: usize,
        /// The size asked for.
        bits: usize,
    },
}

impl TokenSession<'_> {
    /// Why the token cannot make and use keys of `algorithm`, if it cannot.
    pub fn lack(&self, algorithm: Algorithm) -> Result<Option<Lack>, HsmError> {
        let generation = generation_mechanism(algorithm).mechanism_type();
        for (mechanism, purpose) in [
            (generation, "generating"),
            (
                signing_mechanism(algorithm).mechanism_type(),
                "signing with",
            ),
        ] {
            if !self.offers(mechanism) {
                return Ok(Some(Lack::Mechanism(mechanism, purpose)));
            }
        }
        // Only RSA sizes are checked: PKCS#11 gives them in bits, while
        // tokens disagree on the unit of EC sizes, where the curve, not
        // the size, decides. A token that states no sizes (0), or does not
        // answer, makes whatever it makes.
        let Family::Rsa { bits } = algorithm.family() else {
            return Ok(None);
        };
        let Ok(info) = self.mechanism_info(generation) else {
            return Ok(None);
        };
        let (min, max) = (info.min_key_size(), info.max_key_size());
        Ok(if max != 0 && !(min..=max).contains(&bits) {
            Some(Lack::Size { min, max, bits })
        } else {
            None
        })
    }

    /// The error saying that the token cannot make keys of `algorithm`,
    /// and which algorithms it can make.
    fn cannot_make(&self, algorithm: Algorithm, lack: Lack) -> Result<HsmError, HsmError> {
        let mut offered = Vec::new();
        for candidate in Algorithm::ALL {
            if self.lack(candidate)?.is_none() {
                offered.push(candidate.name());
            }
        }
        let family = match algorithm.family() {
            Family::Ecdsa { .. } => "EC",
            Family::Rsa { .. } => "RSA",
        };
        let reason = match lack {
            Lack::Mechanism(mechanism, purpose) => {
                format!("it lacks {mechanism}, the mechanism for {purpose} {family} keys")
            }
            Lack::Size { min, max, bits } => {
                format!(
                    "it makes {family} keys of {min}-{max} bits, and this key would be {bits} bits"
                )
            }
        };
        Ok(HsmError::AlgorithmNotOffered {
            token: self.token.label.clone(),
            algorithm: algorithm.name(),
            reason,
            offered: if offered.is_empty() {
                "none of this plugin's algorithms".to_owned()
            } else {
                offered.join(", ")
            },
        })
    }

    /// Generates a key pair of `algorithm` with the label and id of `uri`:
    /// the private key sensitive, never extractable, only for signing, as
    /// far as the token allows (see [`STEPS`]).
    pub fn generate(&self, uri: &KeyUri, algorithm: Algorithm) -> Result<KeyPair, HsmError> {
        if let Some(lack) = self.lack(algorithm)? {
            return Err(self.cannot_make(algorithm, lack)?);
        }
        let mechanism = generation_mechanism(algorithm);
        let tpm2_pkcs11 = self.module().is_tpm2_pkcs11();
        let mut refused = Vec::new();
        for relaxed in STEPS {
            let (public, private) = templates(uri, algorithm, relaxed)?;
            match self
                .session
                .generate_key_pair(&mechanism, &public, &private)
            {
                Ok((public_handle, _private)) => {
                    if !relaxed.is_empty() {
                        self.report_relaxed(relaxed, &refused);
                    }
                    return Ok(KeyPair {
                        public_handle: Some(public_handle),
                        public: self.read_public_key(uri, public_handle)?,
                    });
                }
                Err(err) if refused_template(&err, tpm2_pkcs11) => refused.push(err),
                Err(err) => return Err(pkcs11(err)),
            }
        }
        let last = refused.pop().map(pkcs11);
        Err(HsmError::TemplateRefused {
            token: self.token.label.clone(),
            detail: last.map(|err| err.to_string()).unwrap_or_default(),
        })
    }

    /// Says on stderr which restrictions the key was created without, and
    /// what the token answered to the stricter templates.
    fn report_relaxed(&self, relaxed: &[Relaxation], refused: &[Pkcs11Error]) {
        let answers: Vec<String> = refused.iter().map(crate::error::describe).collect();
        let lacks: Vec<&str> = relaxed.iter().map(|r| r.consequence()).collect();
        eprintln!(
            "sigstore-kms-hsm: token {:?} refused the stricter key templates ({}); the key was \
             created without {}",
            self.token.label,
            answers.join("; "),
            lacks.join(", and without ")
        );
    }
}

#[cfg(test)]
mod tests {
    use cryptoki::context::Function;

    use super::*;

    fn uri() -> KeyUri {
        KeyUri::parse("token=t;object=k").unwrap()
    }

    fn has(template: &[Attribute], wanted: &Attribute) -> bool {
        template.iter().any(|attribute| attribute == wanted)
    }

    #[test]
    fn the_first_template_states_every_restriction() {
        let (public, private) = templates(&uri(), Algorithm::Rsa3072, STEPS[0]).unwrap();
        for wanted in [Attribute::Decrypt(false), Attribute::Sign(true)] {
            assert!(has(&private, &wanted), "{wanted:?}");
        }
        for wanted in [Attribute::Encrypt(false), Attribute::Verify(true)] {
            assert!(has(&public, &wanted), "{wanted:?}");
        }
        for template in [&public, &private] {
            assert!(has(template, &Attribute::Modifiable(false)));
            assert!(has(template, &Attribute::Copyable(false)));
        }
    }

    #[test]
    fn each_step_leaves_out_only_what_it_names() {
        let (strict_public, strict_private) = templates(&uri(), Algorithm::EcdsaP256, &[]).unwrap();
        for relaxed in &STEPS[1..] {
            let (public, private) = templates(&uri(), Algorithm::EcdsaP256, relaxed).unwrap();
            let dropped = |strict: &[Attribute], now: &[Attribute]| -> Vec<Attribute> {
                strict
                    .iter()
                    .filter(|a| !now.contains(a))
                    .cloned()
                    .collect()
            };
            let mut expected_public = Vec::new();
            let mut expected_private = Vec::new();
            if relaxed.contains(&Relaxation::PairedUsage) {
                expected_public.push(Attribute::Encrypt(false));
                expected_private.push(Attribute::Decrypt(false));
            }
            if relaxed.contains(&Relaxation::Modifiable) {
                for expected in [&mut expected_public, &mut expected_private] {
                    expected.extend([Attribute::Modifiable(false), Attribute::Copyable(false)]);
                }
            }
            assert_eq!(
                dropped(&strict_public, &public),
                expected_public,
                "{relaxed:?}"
            );
            assert_eq!(
                dropped(&strict_private, &private),
                expected_private,
                "{relaxed:?}"
            );
            // Nothing is ever added, and the private key stays sensitive.
            assert!(public.iter().all(|a| strict_public.contains(a)));
            assert!(private.iter().all(|a| strict_private.contains(a)));
            assert!(has(&private, &Attribute::Sensitive(true)));
            assert!(has(&private, &Attribute::Extractable(false)));
        }
    }

    #[test]
    fn only_template_errors_move_to_the_next_step() {
        let error = |rv| Pkcs11Error::Pkcs11(rv, Function::GenerateKeyPair);
        for rv in [
            RvError::AttributeValueInvalid,
            RvError::AttributeTypeInvalid,
            RvError::AttributeReadOnly,
            RvError::TemplateInconsistent,
            RvError::TemplateIncomplete,
        ] {
            assert!(refused_template(&error(rv), false), "{rv:?}");
        }
        for rv in [
            RvError::GeneralError,
            RvError::DeviceError,
            RvError::UserNotLoggedIn,
            RvError::MechanismInvalid,
            RvError::DeviceMemory,
            RvError::SessionReadOnly,
        ] {
            assert!(!refused_template(&error(rv), false), "{rv:?}");
        }
        // tpm2-pkcs11 answers a usage its key cannot have with
        // CKR_GENERAL_ERROR; nothing else of it moves on.
        assert!(refused_template(&error(RvError::GeneralError), true));
        assert!(!refused_template(&error(RvError::DeviceError), true));
    }
}
