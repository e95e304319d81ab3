//! `AsyncClient` (feature `tokio`): concurrent calls stream their messages
//! and verify, and a dropped call leaves no process behind.
// Script plugins and /proc: Unix, and Linux for the process scan.
#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::Plugins;
use sigstore_kms_client::{AsyncClient, CallOptions, HashFunc};

/// A plugin that signs the message it reads from stdin with a P-256 key,
/// through `openssl dgst -sign`.
fn openssl_signing_plugin(plugins: &Plugins) -> AsyncClient {
    let dir = plugins.dir.path();
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "key.pem",
    ]);
    openssl(&["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
    AsyncClient::new(plugins.script_client(&format!(
        r#"cd '{}' || exit 1
case "$2" in
  *'"methodName":"publicKey"'*)
    printf '{{"publicKey":{{"publicKeyPEM":"%s"}}}}' "$(base64 -w0 pub.pem)" ;;
  *'"methodName":"signMessage"'*)
    printf '{{"signMessage":{{"signature":"%s"}}}}' "$(openssl dgst -sha256 -sign key.pem | base64 -w0)" ;;
  *) printf '{{"errorMessage":"unexpected call"}}' ;;
esac"#,
        dir.display()
    )))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_signatures_over_streamed_messages_verify() {
    let plugins = Plugins::new();
    let client = openssl_signing_plugin(&plugins);
    let options = CallOptions::new().timeout(Duration::from_secs(120));
    let key = client.public_key(&options).await.unwrap();
    let calls: Vec<_> = (0..100)
        .map(|i| {
            let (client, options) = (client.clone(), options.clone());
            // Messages larger than a pipe's buffer, each its own.
            let message = format!("message {i}\n").repeat(20_000).into_bytes();
            tokio::spawn(async move {
                let signature = client.sign_message(&message[..], &options).await;
                (message, signature)
            })
        })
        .collect();
    for call in calls {
        let (message, signature) = call.await.unwrap();
        let signature = signature.unwrap();
        key.verify(&message[..], &signature, HashFunc::SHA256)
            .unwrap();
        assert!(key
            .verify(&b"another message"[..], &signature, HashFunc::SHA256)
            .is_err());
    }
}

/// Processes whose command line names `marker`, zombies excluded (their
/// command line is empty).
fn processes_naming(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) {
                found.push(format!(
                    "{}: {cmdline}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    found
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_call_dropped_by_timeout_leaves_no_plugin_process() {
    let plugins = Plugins::new();
    let dir = plugins.dir.path().display().to_string();
    // The plugin starts a process of its own, then never answers.
    let client = AsyncClient::new(plugins.script_client(&format!(
        r#"sh -c 'while :; do sleep 1; done' '{dir}/grandchild' &
touch '{dir}/started'
while :; do sleep 1; done"#
    )));
    let started = Path::new(&dir).join("started");
    // Under load the plugin may not even start within 50 ms; such a round
    // proves nothing, so try again.
    let options = CallOptions::new();
    for _ in 0..10 {
        let call = client.sign_message(&b"message"[..], &options);
        let timed_out = tokio::time::timeout(Duration::from_millis(50), call).await;
        assert!(timed_out.is_err(), "{timed_out:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(processes_naming(&dir), Vec::<String>::new());
        if started.exists() {
            return;
        }
    }
    panic!("the plugin never started within 50 ms");
}
