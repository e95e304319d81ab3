//! What only `AsyncClient` (feature `tokio`) does: concurrent calls stream
//! their messages and verify; a dropped call leaves no process and no
//! zombie behind; a stalled message source does not hold a call; a call
//! queued for the blocking pool keeps its deadline. What both clients do
//! is in `supervision.rs`.
// Script plugins and /proc: Unix, and Linux for the process scan.
#![cfg(unix)]

mod common;

use std::future::Future;
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
/// command line is empty). Read from Linux's `/proc`.
#[cfg(target_os = "linux")]
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
    let started = std::path::Path::new(&dir).join("started");
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

/// A message that yields `part`, then, once `ready` exists, fails.
struct FailingMessage {
    part: Option<&'static [u8]>,
    ready: std::path::PathBuf,
    wait: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl tokio::io::AsyncRead for FailingMessage {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if let Some(part) = self.part.take() {
            buf.put_slice(part);
            return std::task::Poll::Ready(Ok(()));
        }
        while !self.ready.exists() {
            let wait = self
                .wait
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(10))));
            std::task::ready!(wait.as_mut().poll(cx));
            self.wait = None;
        }
        std::task::Poll::Ready(Err(std::io::Error::other("the message source broke")))
    }
}

#[tokio::test]
async fn a_message_that_fails_to_read_never_reaches_the_plugin_as_a_whole() {
    let plugins = Plugins::new();
    let dir = plugins.dir.path().display().to_string();
    // The reader of the message runs in a session of its own, so that it
    // outlives the plugin and tells whether the plugin was still alive
    // (a zombie not yet reaped counts), able to sign, when its stdin ended.
    // The shell's own `read` notices the end soonest.
    let client = AsyncClient::new(plugins.script_client(&format!(
        r#"plugin=$$
exec 3<&0
setsid sh -c 'touch "$1/reading"
while IFS= read -r line; do :; done
if kill -0 "$2" 2>/dev/null; then touch "$1/signed"; fi
touch "$1/done"' sh '{dir}' "$plugin" <&3 >/dev/null 2>&1 &
while :; do sleep 1; done"#
    )));
    let options = CallOptions::new().timeout(Duration::from_secs(60));
    // Whether the plugin is seen alive at the end of its stdin is a race
    // when stdin closes first; a few rounds make it show.
    for _ in 0..10 {
        for file in ["reading", "signed", "done"] {
            let _ = std::fs::remove_file(plugins.path(file));
        }
        let message = FailingMessage {
            part: Some(b"the first half of a message"),
            ready: plugins.path("reading"),
            wait: None,
        };
        let signed = client.sign_message(message, &options).await;
        let error = signed.unwrap_err().to_string();
        assert!(error.contains("the message source broke"), "{error}");
        for _ in 0..600 {
            if plugins.path("done").exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(plugins.path("done").exists(), "the reader never ended");
        assert!(
            !plugins.path("signed").exists(),
            "the plugin saw the end of a truncated message while alive"
        );
    }
}

/// The first call dropped in a process leaves no zombie, even while the
/// runtime has nothing else to do. Its own process, so that no other
/// test's children are counted and no earlier call has run.
#[cfg(target_os = "linux")]
#[test]
fn a_dropped_call_leaves_no_zombie_while_the_runtime_is_idle() {
    common::in_own_process(
        "a_dropped_call_leaves_no_zombie_while_the_runtime_is_idle",
        || {
            let plugins = Plugins::new();
            let marker = plugins.path("started");
            let client =
                AsyncClient::new(plugins.client(common::Steps::new().touch(&marker).sleep(60)));
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let options = CallOptions::new();
            runtime.block_on(async {
                let call = client.sign_digest(&[1; 32], HashFunc::SHA256, &options);
                let started = async {
                    while !marker.exists() {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                };
                tokio::select! {
                    result = call => panic!("the call ended: {result:?}"),
                    () = started => {}
                }
            });
            let until = std::time::Instant::now() + Duration::from_secs(10);
            while !common::children().is_empty() && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(
                common::children(),
                Vec::<String>::new(),
                "children left behind"
            );
        },
    );
}

/// A message source that never yields a byte nor wakes its reader.
struct NeverReady;

impl tokio::io::AsyncRead for NeverReady {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        _buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Pending
    }
}

/// The deadline ends a call whose message source stalls: reading it stops
/// once the plugin is killed and reaped.
#[tokio::test]
async fn a_stalled_message_does_not_hold_the_call_past_its_deadline() {
    let plugins = Plugins::new();
    let client = AsyncClient::new(plugins.client(common::Steps::new().sleep(60)));
    let options = CallOptions::new().timeout(Duration::from_secs(1));
    let start = std::time::Instant::now();
    let call = client.sign_message(NeverReady, &options);
    let result = tokio::time::timeout(Duration::from_secs(30), call).await;
    let elapsed = start.elapsed();
    match result {
        Ok(Err(sigstore_kms_client::Error::DeadlineExceeded { .. })) => {}
        other => panic!("{other:?}"),
    }
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

/// Calls beyond the blocking pool's limit wait for a thread, their
/// deadline running: one that passes while it waits fails without
/// starting its plugin.
#[test]
fn a_call_queued_past_its_deadline_starts_no_plugin() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let plugins = Plugins::new();
    let marker = plugins.path("started");
    let busy = AsyncClient::new(plugins.client(common::Steps::new().sleep(3).exit(0)));
    let queued = AsyncClient::new(plugins.client(common::Steps::new().touch(&marker).exit(0)));
    let (busy_result, queued_result) = runtime.block_on(async {
        let options = CallOptions::new();
        let busy = busy.public_key(&options);
        let deadline = CallOptions::new().timeout(Duration::from_millis(500));
        let queued = async {
            // Queued behind the first call, which holds the only thread.
            tokio::time::sleep(Duration::from_millis(100)).await;
            queued.public_key(&deadline).await
        };
        tokio::join!(busy, queued)
    });
    assert!(busy_result.is_err(), "the busy plugin answers nothing");
    assert!(
        matches!(
            queued_result,
            Err(sigstore_kms_client::Error::DeadlineExceeded { .. })
        ),
        "{queued_result:?}"
    );
    assert!(!marker.exists(), "the queued call started its plugin");
}
