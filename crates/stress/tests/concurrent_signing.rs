//! One client used from 64 threads signing at once: every signature
//! verifies, over the message its thread sent.
#![cfg(target_os = "linux")]

use std::sync::{Arc, Barrier};
use std::time::Instant;

use sigstore_kms_client::{CallOptions, Client, HashFunc, StderrMode};
use sigstore_kms_stress::{children, localkms, open_fds, Message, ALGORITHM};

const THREADS: usize = 64;
const SIGNATURES_PER_THREAD: usize = 32;
const MESSAGE_LEN: u64 = 64 * 1024;

#[test]
#[ignore = "stress test: run with `make stress`"]
fn sixty_four_threads_sign_through_one_client() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::builder()
        .stderr(StderrMode::CAPTURE_TAIL)
        .with_executable(localkms(), dir.path().join("key.pem").to_str().unwrap());
    let key = client.create_key(ALGORITHM, &CallOptions::new()).unwrap();
    let fds_before = open_fds();

    let started = Instant::now();
    let start = Arc::new(Barrier::new(THREADS));
    let signers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let client = client.clone();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                (0..SIGNATURES_PER_THREAD)
                    .map(|i| {
                        let seed = (thread * SIGNATURES_PER_THREAD + i) as u64;
                        let signature = client
                            .sign_message(Message::new(MESSAGE_LEN, seed), &CallOptions::new())
                            .expect("signMessage succeeds");
                        (seed, signature)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let signatures: Vec<(u64, Vec<u8>)> = signers
        .into_iter()
        .flat_map(|signer| signer.join().unwrap())
        .collect();
    let elapsed = started.elapsed();

    assert_eq!(signatures.len(), THREADS * SIGNATURES_PER_THREAD);
    for (seed, signature) in &signatures {
        key.verify(
            Message::new(MESSAGE_LEN, *seed),
            signature,
            HashFunc::SHA256,
        )
        .unwrap_or_else(|err| panic!("signature of message {seed}: {err}"));
        // And not over any other message.
        assert!(key
            .verify(
                Message::new(MESSAGE_LEN, seed + 1),
                signature,
                HashFunc::SHA256
            )
            .is_err());
    }
    assert_eq!(open_fds(), fds_before, "descriptors leaked");
    assert_eq!(children(), Vec::<String>::new(), "children left behind");
    eprintln!(
        "concurrent signing: {} signatures of 64 KiB messages from {THREADS} threads through one client in {elapsed:.2?} ({:.0} calls/s), all verified",
        signatures.len(),
        signatures.len() as f64 / elapsed.as_secs_f64()
    );
}
