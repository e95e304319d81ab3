//! A token that lacks a mechanism the key needs gets a message naming the
//! key type and the mechanism, and no half-made key is left behind. SoftHSM2's
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
        (
            "ecdsa-p256-sha256",
            "it lacks CKM_ECDSA, the mechanism for signing with EC keys",
        ),
        (
            "rsa-pkcs1v15-2048-sha256",
            "it lacks CKM_RSA_PKCS_KEY_PAIR_GEN, the mechanism for generating RSA keys",
        ),
    ] {
        let client = support::client(&token.reference(algorithm, ""));
        match client.create_key(algorithm, &CallOptions::new()) {
            Err(Error::Plugin { message, .. }) => {
                let named = format!("token \"few-mechanisms\" cannot make {algorithm} keys");
                assert!(message.contains(&named), "{message}");
                assert!(message.contains(expected), "{message}");
                assert!(
                    message.contains("it can make: none of this plugin's algorithms"),
                    "{message}"
                );
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
