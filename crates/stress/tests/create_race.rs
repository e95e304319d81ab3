//! 32 processes call createKey on the same new path at once: one key file
//! is written, and every caller gets that key.
#![cfg(target_os = "linux")]

use std::os::unix::fs::PermissionsExt as _;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use p256::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
use sigstore_kms_client::{CallOptions, Client, PublicKey, StderrMode};
use sigstore_kms_stress::{children, localkms, ALGORITHM};

const RACERS: usize = 32;
const ROUNDS: usize = 100;

#[test]
#[ignore = "stress test: run with `make stress`"]
fn thirty_two_processes_create_the_same_new_key_at_once() {
    let plugin = localkms();
    let started = Instant::now();
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        let client = Client::builder()
            .stderr(StderrMode::CAPTURE_TAIL)
            .with_executable(&plugin, path.to_str().unwrap());
        let start = Arc::new(Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|_| {
                let client = client.clone();
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    client.create_key(ALGORITHM, &CallOptions::new())
                })
            })
            .collect();
        let keys: Vec<PublicKey> = racers
            .into_iter()
            .map(|racer| racer.join().unwrap().expect("createKey succeeds"))
            .collect();

        let on_disk = p256::SecretKey::from_pkcs8_pem(&std::fs::read_to_string(&path).unwrap())
            .unwrap()
            .public_key()
            .to_public_key_der()
            .unwrap();
        for key in &keys {
            assert_eq!(key.to_der(), on_disk.as_bytes(), "round {round}");
        }
        let entries: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(
            entries,
            ["key.pem"],
            "round {round}: one file, no leftovers"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(children(), Vec::<String>::new(), "children left behind");
    eprintln!(
        "create race: {ROUNDS} rounds of {RACERS} concurrent createKey on a new path, {:.2?} per round",
        started.elapsed() / ROUNDS as u32
    );
}
