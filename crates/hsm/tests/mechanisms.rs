//! A token that lacks a mechanism the key needs gets a message naming the
//! mechanism, and no half-made key is left behind. SoftHSM2's
//! `slots.mechanisms` makes such a token: it offers EC key generation but
//! not CKM_ECDSA, and CKM_RSA_PKCS but not RSA key generation.
#![cfg(unix)]

mod support;

use sigstore_kms_client::{CallOptions, Error};

#[test]
fn missing_mechanisms_are_named() {
    let Some(softhsm) =
        support::softhsm_with("slots.mechanisms = CKM_EC_KEY_PAIR_GEN,CKM_RSA_PKCS\n")
    else {
        return;
    };
    let token = softhsm.token("few-mechanisms");
    for (algorithm, expected) in [
        ("ecdsa-p256-sha256", "does not offer CKM_ECDSA for signing"),
        (
            "rsa-pkcs1v15-2048-sha256",
            "does not offer CKM_RSA_PKCS_KEY_PAIR_GEN for generating the key pair",
        ),
    ] {
        let client = support::client(&token.reference(algorithm, ""));
        match client.create_key(algorithm, &CallOptions::new()) {
            Err(Error::Plugin { message, .. }) => {
                assert!(message.contains("mechanism not supported"), "{message}");
                assert!(message.contains(expected), "{message}");
            }
            other => panic!("{algorithm}: expected the plugin's error, got {other:?}"),
        }
        match client.public_key(&CallOptions::new()) {
            Err(Error::Plugin { message, .. }) => {
                assert!(message.contains("object not found"), "{message}");
            }
            other => panic!("{algorithm}: a key was left behind: {other:?}"),
        }
    }
}
