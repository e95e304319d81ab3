//! Processes that create the same new key at the same moment all get one
//! key: eight plugin processes start `createKey` on one new label at once,
//! and every one answers the same public key, which is the only key pair
//! with that label afterwards.
//!
//! This binary has one test, so its SoftHSM2 token directory holds one
//! token: SoftHSM2 aborts processes that scan a directory of several
//! tokens while another rewrites one.
#![cfg(unix)]

mod support;

use std::sync::{Arc, Barrier};
use std::thread;

use sigstore_kms_client::CallOptions;

const RACERS: usize = 8;

#[test]
fn racing_creates_converge_on_one_key() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("create-race");
    for round in 0..3 {
        let reference = token.reference(&format!("raced-{round}"), "");
        let barrier = Arc::new(Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|_| {
                let client = support::client(&reference);
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    client
                        .create_key("ecdsa-p256-sha256", &CallOptions::new())
                        .map(|key| key.to_der().to_vec())
                        .map_err(|err| err.to_string())
                })
            })
            .collect();
        let answers: Vec<_> = racers
            .into_iter()
            .map(|racer| racer.join().expect("a racer panicked"))
            .collect();
        let keys: Vec<_> = answers
            .iter()
            .map(|answer| {
                answer
                    .clone()
                    .unwrap_or_else(|err| panic!("round {round}: a racer failed: {err}"))
            })
            .collect();
        assert!(
            keys.iter().all(|key| *key == keys[0]),
            "round {round}: the racers got different keys"
        );
        // One key pair in the token: later calls are not ambiguous, and
        // they return the racers' key.
        let client = support::client(&reference);
        let now = client
            .public_key(&CallOptions::new())
            .unwrap_or_else(|err| panic!("round {round}: after the race: {err}"));
        assert_eq!(now.to_der(), keys[0].as_slice(), "round {round}");
        client
            .sign_digest(
                &[7; 32],
                sigstore_kms_client::HashFunc::SHA256,
                &CallOptions::new(),
            )
            .unwrap_or_else(|err| panic!("round {round}: signing after the race: {err}"));
    }
}
