//! The private keys the plugin creates cannot leave the token: looked at
//! directly through PKCS#11, they are sensitive, never extractable, their
//! secret values cannot be read, and they can sign and do nothing else,
//! now and later (not modifiable, not copyable). The public-key object is
//! private, only verifies, and matches what the plugin answers.
//!
//! This binary has one test: it initialises the module in-process, which
//! PKCS#11 allows once per process.
#![cfg(unix)]

mod support;

use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use sigstore_kms_client::CallOptions;

/// The bool attribute `wanted` of `object`, if the token has it.
fn flag(session: &Session, object: ObjectHandle, wanted: AttributeType) -> Option<bool> {
    let attributes = session.get_attributes(object, &[wanted]).unwrap();
    attributes.into_iter().find_map(|attribute| {
        let value = match attribute {
            Attribute::Sensitive(value)
            | Attribute::Extractable(value)
            | Attribute::AlwaysSensitive(value)
            | Attribute::NeverExtractable(value)
            | Attribute::Private(value)
            | Attribute::Token(value)
            | Attribute::Sign(value)
            | Attribute::SignRecover(value)
            | Attribute::Decrypt(value)
            | Attribute::Unwrap(value)
            | Attribute::Derive(value)
            | Attribute::Verify(value)
            | Attribute::VerifyRecover(value)
            | Attribute::Encrypt(value)
            | Attribute::Wrap(value)
            | Attribute::Modifiable(value)
            | Attribute::Copyable(value) => value,
            _ => return None,
        };
        (attribute.attribute_type() == wanted).then_some(value)
    })
}

/// Fails unless each bool attribute of `object` has its expected value.
fn assert_flags(
    session: &Session,
    object: ObjectHandle,
    what: &str,
    expected: &[(AttributeType, bool)],
) {
    for &(attribute, value) in expected {
        assert_eq!(
            flag(session, object, attribute),
            Some(value),
            "{what}: {attribute:?}"
        );
    }
}

#[test]
fn private_keys_are_sensitive_and_not_extractable() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("protection");
    let keys = [
        ("ec-key", "ecdsa-p256-sha256", AttributeType::Value),
        (
            "rsa-key",
            "rsa-pkcs1v15-2048-sha256",
            AttributeType::PrivateExponent,
        ),
    ];
    let mut answered = Vec::new();
    for (object, algorithm, _) in keys {
        let client = support::client(&token.reference(object, ""));
        let key = client.create_key(algorithm, &CallOptions::new()).unwrap();
        answered.push(key.to_der().to_vec());
    }

    let (pkcs11, slot) = support::open_in_process(&token);
    let session = pkcs11.open_ro_session(slot).unwrap();
    session
        .login(UserType::User, Some(&AuthPin::from(support::USER_PIN)))
        .unwrap();

    for ((object, algorithm, secret), der) in keys.into_iter().zip(answered) {
        let find = |class| {
            session
                .find_objects(&[
                    Attribute::Class(class),
                    Attribute::Label(object.as_bytes().to_vec()),
                ])
                .unwrap()
        };
        let private = find(ObjectClass::PRIVATE_KEY);
        assert_eq!(private.len(), 1, "{algorithm}: one private key");
        let private = private[0];
        assert_flags(
            &session,
            private,
            algorithm,
            &[
                (AttributeType::Token, true),
                (AttributeType::Private, true),
                (AttributeType::Sensitive, true),
                (AttributeType::AlwaysSensitive, true),
                (AttributeType::Extractable, false),
                (AttributeType::NeverExtractable, true),
                // Only for signing, and it stays so.
                (AttributeType::Sign, true),
                (AttributeType::SignRecover, false),
                (AttributeType::Decrypt, false),
                (AttributeType::Unwrap, false),
                (AttributeType::Derive, false),
                (AttributeType::Modifiable, false),
                (AttributeType::Copyable, false),
            ],
        );
        let read = session.get_attributes(private, &[secret]).unwrap();
        assert!(
            read.is_empty(),
            "{algorithm}: the token handed out {secret:?}"
        );

        // The public key the plugin answered is the token's public key.
        let public = find(ObjectClass::PUBLIC_KEY);
        assert_eq!(public.len(), 1, "{algorithm}: one public key");
        let public = public[0];
        assert_flags(
            &session,
            public,
            &format!("{algorithm} public key"),
            &[
                (AttributeType::Token, true),
                // Hidden from, and so not replaceable by, a session without
                // the PIN.
                (AttributeType::Private, true),
                (AttributeType::Verify, true),
                (AttributeType::VerifyRecover, false),
                (AttributeType::Encrypt, false),
                (AttributeType::Wrap, false),
                (AttributeType::Derive, false),
                (AttributeType::Modifiable, false),
                (AttributeType::Copyable, false),
            ],
        );
        let material = session
            .get_attributes(public, &[AttributeType::EcPoint, AttributeType::Modulus])
            .unwrap();
        let public_bytes = match material.first() {
            // The uncompressed point ends the DER OCTET STRING.
            Some(Attribute::EcPoint(point)) => point[point.len() - 65..].to_vec(),
            Some(Attribute::Modulus(modulus)) => modulus.clone(),
            other => panic!("{algorithm}: no public key material: {other:?}"),
        };
        assert!(
            der.windows(public_bytes.len()).any(|w| w == public_bytes),
            "{algorithm}: the answered public key is not the token's"
        );
    }
    drop(session);
    pkcs11.finalize().unwrap();
}
