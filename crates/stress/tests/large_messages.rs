//! A soak of signing 100 MiB messages, over and over: the peak memory of
//! the host (this process) and of the plugin stays what it is for a small
//! message, whatever the message's size.
#![cfg(target_os = "linux")]

use std::time::Instant;

use sigstore_kms_client::{CallOptions, Client, HashFunc, StderrMode};
use sigstore_kms_stress::{
    children, children_peak_rss_kib, localkms, mib, peak_rss_kib, Message, ALGORITHM,
};

const LARGE: u64 = 100 * 1024 * 1024;
const ROUNDS: u64 = 20;
/// Far below the message size: memory proportional to the message, even a
/// fraction of it, crosses these.
const HOST_GROWTH_LIMIT_KIB: u64 = 16 * 1024;
const PLUGIN_GROWTH_LIMIT_KIB: u64 = 16 * 1024;

#[test]
#[ignore = "stress test: run with `make stress`"]
fn signing_100_mib_messages_takes_constant_memory() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::builder()
        .stderr(StderrMode::CAPTURE_TAIL)
        .with_executable(localkms(), dir.path().join("key.pem").to_str().unwrap());
    let key = client.create_key(ALGORITHM, &CallOptions::new()).unwrap();
    let options = CallOptions::new();

    // The baseline: the same calls with a 1 KiB message.
    for seed in 0..3 {
        let signature = client
            .sign_message(Message::new(1024, seed), &options)
            .unwrap();
        client
            .verify_signature(&signature, Message::new(1024, seed), &options)
            .unwrap();
    }
    let host_small = peak_rss_kib();
    let plugin_small = children_peak_rss_kib();

    let started = Instant::now();
    for seed in 0..ROUNDS {
        let signature = client
            .sign_message(Message::new(LARGE, seed), &options)
            .unwrap();
        key.verify(Message::new(LARGE, seed), &signature, HashFunc::SHA256)
            .unwrap();
        client
            .verify_signature(&signature, Message::new(LARGE, seed), &options)
            .unwrap();
    }
    let elapsed = started.elapsed();
    let host_large = peak_rss_kib();
    let plugin_large = children_peak_rss_kib();

    assert_eq!(children(), Vec::<String>::new(), "children left behind");
    assert!(
        host_large <= host_small + HOST_GROWTH_LIMIT_KIB,
        "host peak grew from {host_small} KiB to {host_large} KiB"
    );
    assert!(
        plugin_large <= plugin_small + PLUGIN_GROWTH_LIMIT_KIB,
        "plugin peak grew from {plugin_small} KiB to {plugin_large} KiB"
    );
    let streamed = ROUNDS * LARGE * 2;
    eprintln!(
        "large messages: {ROUNDS} rounds of signMessage + verifySignature through the plugin and a local \
         verification of a 100 MiB message ({} MiB streamed to the plugin) in {elapsed:.2?} \
         ({:.0} MiB/s to the plugin); peak RSS host {:.1} MiB after 1 KiB messages, {:.1} MiB after \
         100 MiB messages; plugin {:.1} MiB and {:.1} MiB",
        streamed / (1024 * 1024),
        (streamed / (1024 * 1024)) as f64 / elapsed.as_secs_f64(),
        mib(host_small),
        mib(host_large),
        mib(plugin_small),
        mib(plugin_large),
    );
}
