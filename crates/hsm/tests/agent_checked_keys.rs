//! The agent keeps each key's checked public key, and checks again when
//! the key's objects change: a public key planted without the PIN is not
//! adopted, and a key replaced by the PIN holder is answered as the new
//! key, as a direct call answers.
//!
//! This binary has one test: it initialises the module in-process, which
//! PKCS#11 allows once per process. Unix only, as the agent is.
#![cfg(unix)]

mod support;

use std::time::Duration;

use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use sigstore_kms_client::{CallOptions, HashFunc};
use support::agent::Agent;

/// `CKA_EC_PARAMS` of P-256.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

#[test]
fn the_checked_public_key_follows_the_keys_objects() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("agent-checked");
    let reference = token.reference("key", "");
    let options = CallOptions::new().timeout(Duration::from_secs(60));
    let direct = support::client(&reference);
    let first = direct.create_key("ecdsa-p256-sha256", &options).unwrap();
    let agent = Agent::start(&token, &[]);
    let through_agent = agent.client(&reference);
    for _ in 0..3 {
        assert_eq!(through_agent.public_key(&options).unwrap(), first);
    }

    // Someone without the PIN plants a public key under the key's label.
    let (pkcs11, slot) = support::open_in_process(&token);
    let planter = p256::ecdsa::SigningKey::from_slice(&[9; 32]).unwrap();
    let point = planter.verifying_key().to_sec1_point(false);
    let mut der_point = vec![0x04, point.len() as u8];
    der_point.extend_from_slice(point.as_bytes());
    let anyone = pkcs11.open_rw_session(slot).unwrap();
    anyone
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(P256_PARAMS.to_vec()),
            Attribute::EcPoint(der_point),
            Attribute::Label(b"key".to_vec()),
        ])
        .unwrap();
    drop(anyone);
    assert_eq!(through_agent.public_key(&options).unwrap(), first);
    assert_eq!(direct.public_key(&options).unwrap(), first);

    // The PIN holder replaces the key: every object of the label goes, and
    // a new key takes its place.
    let owner = pkcs11.open_rw_session(slot).unwrap();
    owner
        .login(UserType::User, Some(&AuthPin::from(support::USER_PIN)))
        .unwrap();
    for object in owner
        .find_objects(&[Attribute::Label(b"key".to_vec())])
        .unwrap()
    {
        owner.destroy_object(object).unwrap();
    }
    drop(owner);
    let second = direct.create_key("ecdsa-p256-sha256", &options).unwrap();
    assert_ne!(second, first);
    assert_eq!(through_agent.public_key(&options).unwrap(), second);
    let signature = through_agent
        .sign_message(&b"after the change"[..], &options)
        .unwrap();
    second
        .verify(&b"after the change"[..], &signature, HashFunc::SHA256)
        .unwrap();
}
