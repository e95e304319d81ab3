//! 5,000 sequential calls through one client in one process: no growth in
//! open file descriptors, no zombie children, no growth in memory.
//! Alone in its test binary, so that nothing else opens files or starts
//! processes meanwhile.
#![cfg(target_os = "linux")]

use std::time::Instant;

use sha2::{Digest as _, Sha256};
use sigstore_kms_client::{CallOptions, Client, Error, HashFunc, StderrMode};
use sigstore_kms_stress::{children, localkms, mib, open_fds, rss_kib, Message, ALGORITHM};

const CALLS: usize = 5_000;
const WARM_UP: usize = 250;
/// Generous: the allocator may keep some pages; a leak per call would
/// still cross it over 5,000 calls.
const RSS_GROWTH_LIMIT_KIB: u64 = 8 * 1024;

#[test]
#[ignore = "stress test: run with `make stress`"]
fn five_thousand_calls_leak_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = localkms();
    let client = Client::builder()
        .stderr(StderrMode::CAPTURE_TAIL)
        .with_executable(&plugin, dir.path().join("key.pem").to_str().unwrap());
    let missing = Client::builder()
        .stderr(StderrMode::CAPTURE_TAIL)
        .with_executable(&plugin, dir.path().join("missing.pem").to_str().unwrap());
    let key = client.create_key(ALGORITHM, &CallOptions::new()).unwrap();
    let options = CallOptions::new();

    let mut last_signature = (0u64, Vec::new());
    let mut call = |i: usize| {
        let seed = i as u64;
        match i % 6 {
            0 => {
                let signature = client
                    .sign_message(Message::new(4096, seed), &options)
                    .unwrap();
                key.verify(Message::new(4096, seed), &signature, HashFunc::SHA256)
                    .unwrap();
                last_signature = (seed, signature);
            }
            1 => assert_eq!(client.public_key(&options).unwrap(), key),
            2 => {
                let (seed, signature) = &last_signature;
                client
                    .verify_signature(signature, Message::new(4096, *seed), &options)
                    .unwrap();
            }
            3 => {
                let digest = Sha256::digest(seed.to_le_bytes());
                let signature = client
                    .sign_digest(&digest, HashFunc::SHA256, &options)
                    .unwrap();
                key.verify_digest(&digest, &signature, HashFunc::SHA256)
                    .unwrap();
            }
            4 => assert_eq!(client.default_algorithm(&options).unwrap(), ALGORITHM),
            _ => assert!(matches!(
                missing.public_key(&options),
                Err(Error::Plugin { .. })
            )),
        }
    };

    // Lazily opened descriptors (the random source) and the allocator's
    // first arenas come with the first calls.
    for i in 0..WARM_UP {
        call(i);
    }
    let fds_before = open_fds();
    let rss_before = rss_kib();
    let mut rss_samples = vec![rss_before];
    let started = Instant::now();
    for i in WARM_UP..WARM_UP + CALLS {
        call(i);
        if (i - WARM_UP + 1).is_multiple_of(1000) {
            rss_samples.push(rss_kib());
            assert_eq!(open_fds(), fds_before, "descriptors leaked by call {i}");
        }
    }
    let elapsed = started.elapsed();
    let rss_after = rss_kib();

    assert_eq!(open_fds(), fds_before, "descriptors leaked");
    assert_eq!(children(), Vec::<String>::new(), "children left behind");
    assert!(
        rss_after <= rss_before + RSS_GROWTH_LIMIT_KIB,
        "memory grew from {rss_before} KiB to {rss_after} KiB over {CALLS} calls"
    );
    let samples: Vec<String> = rss_samples
        .iter()
        .map(|kib| format!("{:.1}", mib(*kib)))
        .collect();
    eprintln!(
        "sequential calls: {CALLS} calls after {WARM_UP} to warm up, in {elapsed:.2?} ({:.2?} per call); \
         open fds {fds_before} before and after; no children; VmRSS every 1000 calls (MiB): {}",
        elapsed / CALLS as u32,
        samples.join(", ")
    );
}
