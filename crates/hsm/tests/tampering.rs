//! A session without the PIN cannot make the plugin trust another key:
//! it deletes the public-key objects it can see and plants its own key
//! under the same label, and still the plugin exports the token's own
//! public key and refuses the planter's signatures, for keys the plugin
//! made and for an older key whose public object was not private. A key
//! pair it plants under a new label is not adopted by `createKey`, and a
//! public key it plants alone is not used for verification.
//!
//! This binary has one test: it initialises the module in-process, which
//! PKCS#11 allows once per process.
#![cfg(unix)]

mod support;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::EncodePublicKey as _;
use sigstore_kms_client::{CallOptions, HashFunc};

/// `CKA_EC_PARAMS` of P-256.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

const MESSAGE: &[u8] = b"a release the key owner never signed";

fn label(object: &str) -> Attribute {
    Attribute::Label(object.as_bytes().to_vec())
}

/// The template of a P-256 public-key object labelled `object`.
fn public_key_object(object: &str, key: &p256::ecdsa::SigningKey, private: bool) -> Vec<Attribute> {
    let point = key.verifying_key().to_sec1_point(false);
    let mut der_point = vec![0x04, point.len() as u8];
    der_point.extend_from_slice(point.as_bytes());
    vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::Token(true),
        Attribute::Private(private),
        Attribute::Verify(true),
        Attribute::EcParams(P256_PARAMS.to_vec()),
        Attribute::EcPoint(der_point),
        label(object),
    ]
}

#[test]
fn a_planted_public_key_is_not_trusted() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("tampering");
    let mut created = Vec::new();
    for (object, algorithm) in [
        ("ec", "ecdsa-p256-sha256"),
        ("rsa", "rsa-pkcs1v15-2048-sha256"),
    ] {
        let key = support::client(&token.reference(object, ""))
            .create_key(algorithm, &CallOptions::new())
            .unwrap();
        created.push((object, key.to_der().to_vec()));
    }

    let planter = p256::ecdsa::SigningKey::from_slice(&[9; 32]).unwrap();
    let planted_der = planter
        .verifying_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec();
    let planted_signature: p256::ecdsa::Signature = planter.sign(MESSAGE);
    let planted_signature = planted_signature.to_der().as_bytes().to_vec();

    let (pkcs11, slot) = support::open_in_process(&token);
    // A key as the plugin made them before public objects became private.
    let owner = pkcs11.open_rw_session(slot).unwrap();
    owner
        .login(UserType::User, Some(&AuthPin::from(support::USER_PIN)))
        .unwrap();
    owner
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Verify(true),
                Attribute::EcParams(P256_PARAMS.to_vec()),
                label("legacy"),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                label("legacy"),
            ],
        )
        .unwrap();
    // A token that holds only the public half of a key, to verify with,
    // stored as a private object.
    let trusted = p256::ecdsa::SigningKey::from_slice(&[5; 32]).unwrap();
    owner
        .create_object(&public_key_object("verify-only", &trusted, true))
        .unwrap();
    owner.logout().unwrap();
    drop(owner);

    let intruder = pkcs11.open_rw_session(slot).unwrap();
    for object in ["ec", "rsa", "legacy", "verify-only", "planted-only"] {
        let visible = intruder
            .find_objects(&[Attribute::Class(ObjectClass::PUBLIC_KEY), label(object)])
            .unwrap();
        for handle in visible {
            intruder.destroy_object(handle).unwrap();
        }
        intruder
            .create_object(&public_key_object(object, &planter, false))
            .unwrap();
    }
    // A whole key pair the intruder knows, under a label no key has yet.
    intruder
        .create_object(&public_key_object("fresh", &planter, false))
        .unwrap();
    intruder
        .create_object(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Sign(true),
            Attribute::EcParams(P256_PARAMS.to_vec()),
            Attribute::Value(planter.to_bytes().to_vec()),
            label("fresh"),
        ])
        .unwrap();
    drop(intruder);
    pkcs11.finalize().unwrap();

    for (object, key) in &created {
        for remote in [false, true] {
            let client =
                support::client_with(&token.reference(object, ""), HashFunc::SHA256, remote);
            let exported = client
                .public_key(&CallOptions::new())
                .unwrap_or_else(|err| panic!("{object}: {err}"));
            assert_eq!(
                exported.to_der(),
                key.as_slice(),
                "{object}: the exported key is not the token's"
            );
            assert!(
                client
                    .verify_signature(&planted_signature, MESSAGE, &CallOptions::new())
                    .is_err(),
                "{object} (remote verification {remote}): the planter's signature verified"
            );
            let own = client.sign_message(MESSAGE, &CallOptions::new()).unwrap();
            client
                .verify_signature(&own, MESSAGE, &CallOptions::new())
                .unwrap_or_else(|err| panic!("{object} (remote {remote}): {err}"));
        }
    }

    // The older key's public object is gone, and SoftHSM2 does not give
    // the point of an EC private key: the plugin says so rather than
    // export the planted key.
    for remote in [false, true] {
        let client = support::client_with(&token.reference("legacy", ""), HashFunc::SHA256, remote);
        match client.public_key(&CallOptions::new()) {
            Ok(key) => panic!(
                "legacy: exported {} key",
                if key.to_der() == planted_der.as_slice() {
                    "the planted"
                } else {
                    "a"
                }
            ),
            Err(err) => assert!(
                err.to_string().contains("belongs to its private key"),
                "legacy: {err}"
            ),
        }
        assert!(
            client
                .verify_signature(&planted_signature, MESSAGE, &CallOptions::new())
                .is_err(),
            "legacy (remote verification {remote}): the planter's signature verified"
        );
    }

    // Public keys alone: the private one is used, the public one is not.
    let trusted_der = trusted
        .verifying_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec();
    let exported = support::client(&token.reference("verify-only", ""))
        .public_key(&CallOptions::new())
        .unwrap();
    assert_eq!(exported.to_der(), trusted_der.as_slice(), "verify-only");
    match support::client(&token.reference("planted-only", "")).public_key(&CallOptions::new()) {
        Ok(_) => panic!("planted-only: a public key anyone could make was exported"),
        Err(err) => assert!(err.to_string().contains("is not private"), "{err}"),
    }

    // Creating a key where the intruder planted a pair makes a new key.
    let client = support::client(&token.reference("fresh", ""));
    let fresh = client
        .create_key("ecdsa-p256-sha256", &CallOptions::new())
        .unwrap();
    assert_ne!(
        fresh.to_der(),
        planted_der.as_slice(),
        "the planted key was adopted"
    );
    assert_eq!(client.public_key(&CallOptions::new()).unwrap(), fresh);
    let signature = client.sign_message(MESSAGE, &CallOptions::new()).unwrap();
    client
        .verify_signature(&signature, MESSAGE, &CallOptions::new())
        .unwrap();
    let signature = p256::ecdsa::Signature::from_der(&signature).unwrap();
    assert!(
        planter.verifying_key().verify(MESSAGE, &signature).is_err(),
        "signed with the planted private key"
    );
}
