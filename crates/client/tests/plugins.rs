//! The host against plugins whose answers are wrong, one per error path,
//! plus what a well-behaved plugin sees (argv, stdin). How a call
//! supervises its plugin (deadlines, limits, processes left behind) is in
//! `supervision.rs`, for both clients. The plugins are the fake of
//! `test-plugins/fakes`, so every test here runs on Linux, macOS and Windows
//! but those that say otherwise.

mod common;

use std::io::{self, Read};
use std::time::{Duration, SystemTime};

use common::{b64, p256_pem, Plugins, Steps, SIGN_OK};
use sigstore_kms_client::{
    CallOptions, Client, Error, ExecutionFailure, HashFunc, KeyAlgorithm, MethodName,
    ResponseProblem,
};
use sigstore_kms_protocol::{
    InitOptions, MessageOptions, MethodArgs, PluginArgs, ResponseError, RpcOptions, SignMessageArgs,
};

fn none() -> CallOptions {
    CallOptions::new()
}

/// A message of `len` bytes that is never held in memory whole.
fn big_message(len: u64) -> impl Read + Send {
    io::repeat(0x5a).take(len)
}

#[test]
fn garbage_stdout_is_an_unparseable_execution_error() {
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().out("this is not json\n").err("oops\n"));
    match client.default_algorithm(&none()).unwrap_err() {
        Error::Execution {
            method: MethodName::DefaultAlgorithm,
            failure: ExecutionFailure::UnparseableOutput { .. },
            stderr,
            ..
        } => assert_eq!(stderr.as_deref(), Some("oops\n")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_stdout_is_an_execution_error_that_says_so() {
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().exit(0));
    let err = client.supported_algorithms(&none()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Execution {
                failure: ExecutionFailure::EmptyOutput { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("empty stdout"), "{err}");
}

#[test]
fn error_message_is_carried_verbatim_whatever_the_exit_status() {
    let plugins = Plugins::new();
    let client = plugins.client(
        Steps::new()
            .out(r#"{"errorMessage":"key \"k\" not found: <permission denied> & more","publicKey":{}}"#)
            .exit(1),
    );
    match client.public_key(&none()).unwrap_err() {
        Error::Plugin { method, message } => {
            assert_eq!(method, MethodName::PublicKey);
            assert_eq!(message, r#"key "k" not found: <permission denied> & more"#);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn valid_answer_with_nonzero_exit_is_used() {
    let plugins = Plugins::new();
    let client = plugins.client(
        Steps::new()
            .reply(r#"{"defaultAlgorithm":{"defaultAlgorithm":"ecdsa-p256-sha256"}}"#)
            .exit(3),
    );
    assert_eq!(
        client.default_algorithm(&none()).unwrap(),
        "ecdsa-p256-sha256"
    );
}

#[test]
fn missing_or_ill_typed_method_object_is_a_response_error() {
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().reply(SIGN_OK));
    match client.public_key(&none()).unwrap_err() {
        Error::Response {
            method: MethodName::PublicKey,
            problem: ResponseProblem::Protocol(ResponseError::MissingResult(_)),
            ..
        } => {}
        other => panic!("{other:?}"),
    }

    let plugins = Plugins::new();
    let client =
        plugins.client(Steps::new().reply(r#"{"defaultAlgorithm":{"defaultAlgorithm":5}}"#));
    match client.default_algorithm(&none()).unwrap_err() {
        Error::Response {
            problem: ResponseProblem::Protocol(ResponseError::InvalidResult { .. }),
            ..
        } => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_pem_is_a_response_error() {
    let plugins = Plugins::new();
    let not_pem = b64(b"-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n");
    let client = plugins.client(Steps::new().reply(&format!(
        r#"{{"createKey":{{"publicKeyPEM":"{not_pem}"}}}}"#
    )));
    match client.create_key("ecdsa-p256-sha256", &none()).unwrap_err() {
        Error::Response {
            method: MethodName::CreateKey,
            problem: ResponseProblem::PublicKey(_),
            ..
        } => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn public_key_is_parsed() {
    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().reply(&format!(
        r#"{{"publicKey":{{"publicKeyPEM":"{}"}}}}"#,
        b64(p256_pem().as_bytes())
    )));
    let key = client.public_key(&none()).unwrap();
    assert_eq!(key.algorithm(), &KeyAlgorithm::EcdsaP256);
    assert_eq!(key.to_pem(), p256_pem());
}

#[test]
fn invalid_name_is_refused_before_lookup() {
    let err = Client::builder()
        .search_path("/usr/bin:/bin")
        .load("foobar/../../usr/bin/echo://key")
        .unwrap_err();
    assert!(matches!(err, Error::InvalidPluginName { .. }), "{err:?}");
    let err = Client::load("no-separator", HashFunc::SHA256).unwrap_err();
    assert!(matches!(err, Error::InvalidKeyReference { .. }), "{err:?}");
}

#[test]
fn missing_plugin_names_the_executable_searched_for() {
    let plugins = Plugins::new();
    let err = Client::builder()
        .search_path(plugins.dir.path())
        .load("nosuch://key")
        .unwrap_err();
    match &err {
        Error::PluginNotFound {
            executable,
            search_path,
        } => {
            // Windows names every PATHEXT extension tried.
            #[cfg(windows)]
            assert!(
                executable.starts_with("sigstore-kms-nosuch[") && executable.contains("|.exe|"),
                "{executable}"
            );
            #[cfg(not(windows))]
            assert_eq!(executable, "sigstore-kms-nosuch");
            assert_eq!(search_path, plugins.dir.path().as_os_str());
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("sigstore-kms-nosuch"));
}

#[test]
fn plugin_on_the_search_path_is_found_and_given_the_key_resource_id() {
    let plugins = Plugins::new();
    let exe = plugins.install("sigstore-kms-found");
    let steps = Steps::new().record(plugins.dir.path()).reply(SIGN_OK);
    let client = Client::builder()
        .search_path(plugins.dir.path())
        .hash_func(HashFunc::SHA512)
        .load(&format!("found://{}", steps.key_ref()))
        .unwrap();
    assert_eq!(client.executable(), exe);
    client.sign_message(&b"m"[..], &none()).unwrap();
    let args = std::fs::read_to_string(plugins.path("argv2")).unwrap();
    let args = PluginArgs::from_json(&args).unwrap();
    assert_eq!(args.init_options.key_resource_id, steps.key_ref());
    assert_eq!(args.init_options.hash_func, HashFunc::SHA512);
}

/// What a plugin that records its arguments and stdin and answers `reply`
/// takes as its key reference.
fn recording_steps(plugins: &Plugins, reply: &str) -> Steps {
    Steps::new()
        .record(plugins.dir.path())
        .read_stdin(Some(&plugins.path("stdin")))
        .reply(reply)
}

fn recording_plugin(plugins: &Plugins, reply: &str) -> Client {
    plugins.client(recording_steps(plugins, reply))
}

#[test]
fn argv_is_version_and_go_encoded_args_and_stdin_is_the_message() {
    let plugins = Plugins::new();
    let client = recording_plugin(&plugins, SIGN_OK);
    let message: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    client.sign_message(&message[..], &none()).unwrap();

    let read = |name: &str| std::fs::read(plugins.path(name)).unwrap();
    assert_eq!(read("argc"), b"2\n");
    assert_eq!(read("argv1"), b"v1");
    let expected = PluginArgs::new(
        InitOptions::new(
            recording_steps(&plugins, SIGN_OK).key_ref(),
            HashFunc::SHA256,
        ),
        MethodArgs::SignMessage(SignMessageArgs::new(
            RpcOptions::go_defaults(),
            MessageOptions::default(),
        )),
    )
    .to_json()
    .unwrap();
    assert_eq!(String::from_utf8(read("argv2")).unwrap(), expected);
    assert!(read("stdin") == message, "stdin differs from the message");
}

#[test]
fn call_options_reach_the_plugin_and_stdin_is_empty_without_a_message() {
    let plugins = Plugins::new();
    let client = recording_plugin(&plugins, SIGN_OK);
    let deadline = SystemTime::now() + Duration::from_secs(120);
    client
        .sign_digest(
            &[0xab; 48],
            HashFunc::SHA384,
            &CallOptions::new()
                .deadline(deadline)
                .key_version("7")
                .remote_verification(true),
        )
        .unwrap();
    assert_eq!(std::fs::read(plugins.path("stdin")).unwrap(), b"");
    let args = std::fs::read_to_string(plugins.path("argv2")).unwrap();
    let MethodArgs::SignMessage(sign) = PluginArgs::from_json(&args).unwrap().method else {
        panic!("{args}");
    };
    let options = sign.sign_options;
    assert_eq!(options.message_options.digest, Some(vec![0xab; 48]));
    assert_eq!(options.message_options.hash_func, Some(HashFunc::SHA384));
    assert_eq!(options.rpc_options.key_version(), "7");
    assert!(options.rpc_options.remote_verification());
    let sent = options.rpc_options.ctx_deadline.unwrap();
    let expected = sigstore_kms_protocol::OffsetDateTime::from(deadline);
    assert!(
        (sent - expected).abs() < time_tolerance(),
        "{sent} vs {expected}"
    );

    let plugins = Plugins::new();
    let client = recording_plugin(
        &plugins,
        r#"{"supportedAlgorithms":{"supportedAlgorithms":["a","b"]}}"#,
    );
    assert_eq!(client.supported_algorithms(&none()).unwrap(), ["a", "b"]);
    assert_eq!(std::fs::read(plugins.path("stdin")).unwrap(), b"");
}

fn time_tolerance() -> std::time::Duration {
    Duration::from_millis(1)
}

#[test]
fn clones_are_usable_from_many_threads_at_once() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Client>();
    assert_send_sync::<sigstore_kms_client::PluginSigner<p256::NistP256>>();
    assert_send_sync::<
        sigstore_kms_client::PluginSigner<sigstore_kms_client::RsaPkcs1v15<sha2::Sha256>>,
    >();

    let plugins = Plugins::new();
    let client = plugins.client(Steps::new().read_stdin(None).reply(SIGN_OK));
    std::thread::scope(|scope| {
        for _ in 0..8 {
            let client = client.clone();
            scope.spawn(move || {
                for _ in 0..10 {
                    assert_eq!(
                        client.sign_message(big_message(100_000), &none()).unwrap(),
                        [0x30, 0x06]
                    );
                }
            });
        }
    });
}

mod signer {
    use super::*;
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use p256::ecdsa::signature::{DigestSigner, Keypair, Signer, Verifier};
    use p256::ecdsa::{DerSignature, Signature};
    use sha2::{Digest, Sha256};
    use sigstore_kms_client::{KeyError, PrehashLengthError};

    type PluginSigner = sigstore_kms_client::PluginSigner<p256::NistP256>;

    const MESSAGE: &[u8] = b"sign me";

    /// A plugin that serves the test key and answers signMessage with a
    /// signature over MESSAGE it was given in advance.
    fn signing_plugin(plugins: &Plugins, signature: &[u8]) -> Client {
        plugins.client(Steps::new().record(plugins.dir.path()).reply_by_method(&[
            ("publicKey", &public_key_answer()),
            (
                "signMessage",
                &format!(r#"{{"signMessage":{{"signature":"{}"}}}}"#, b64(signature)),
            ),
            ("*", r#"{"errorMessage":"unexpected method"}"#),
        ]))
    }

    fn public_key_answer() -> String {
        format!(
            r#"{{"publicKey":{{"publicKeyPEM":"{}"}}}}"#,
            b64(p256_pem().as_bytes())
        )
    }

    #[test]
    fn signer_implements_the_rustcrypto_traits_over_the_plugin() {
        let key = common::signing_key();
        let expected: DerSignature = key.sign(MESSAGE);
        let plugins = Plugins::new();
        let signer = PluginSigner::new(signing_plugin(&plugins, expected.as_bytes())).unwrap();
        assert_eq!(&signer.verifying_key(), key.verifying_key());

        let fixed: Signature = signer.try_sign(MESSAGE).unwrap();
        key.verifying_key().verify(MESSAGE, &fixed).unwrap();
        let der: DerSignature = signer.try_sign(MESSAGE).unwrap();
        assert_eq!(der.as_bytes(), expected.as_bytes());
        let digested: Signature = signer
            .try_sign_digest(|digest: &mut Sha256| {
                digest.update(MESSAGE);
                Ok(())
            })
            .unwrap();
        assert_eq!(digested, fixed);
        let prehashed: DerSignature = signer.sign_prehash(&Sha256::digest(MESSAGE)).unwrap();
        assert_eq!(prehashed.as_bytes(), expected.as_bytes());

        // Only the digest went to the plugin, with its hash function.
        let args = std::fs::read_to_string(plugins.path("argv2")).unwrap();
        let MethodArgs::SignMessage(sign) = PluginArgs::from_json(&args).unwrap().method else {
            panic!("{args}");
        };
        let message = sign.sign_options.message_options;
        assert_eq!(
            message.digest.as_deref(),
            Some(&Sha256::digest(MESSAGE)[..])
        );
        assert_eq!(message.hash_func, Some(HashFunc::SHA256));
    }

    #[test]
    fn signer_failures_carry_the_client_error() {
        let plugins = Plugins::new();
        let signer = PluginSigner::new(signing_plugin(&plugins, b"not a signature")).unwrap();
        let err = Signer::<Signature>::try_sign(&signer, MESSAGE).unwrap_err();
        let source = std::error::Error::source(&err).expect("a source");
        assert_eq!(
            source.to_string(),
            "the plugin's 15-byte answer is not an ASN.1 DER ECDSA P-256 signature"
        );
        let err = PrehashSigner::<Signature>::sign_prehash(&signer, &[0; 20]).unwrap_err();
        let source = std::error::Error::source(&err).expect("a source");
        assert_eq!(
            source
                .downcast_ref::<PrehashLengthError>()
                .map(|e| e.length),
            Some(20),
            "{source}"
        );
        assert!(source.to_string().contains("20-byte prehash"), "{source}");

        let plugins = Plugins::new();
        let client = plugins.client(Steps::new().reply_by_method(&[
            ("publicKey", &public_key_answer()),
            ("*", r#"{"errorMessage":"HSM unplugged"}"#),
        ]));
        let signer = PluginSigner::new(client).unwrap();
        let err = Signer::<Signature>::try_sign(&signer, MESSAGE).unwrap_err();
        let source = std::error::Error::source(&err).expect("a source");
        match source.downcast_ref::<Error>() {
            Some(Error::Plugin { message, .. }) => assert_eq!(message, "HSM unplugged"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn signer_refuses_a_key_that_is_not_p256_when_built() {
        let rsa = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rsa2048.pub.pem"),
        )
        .unwrap();
        let plugins = Plugins::new();
        let client = plugins.client(Steps::new().reply(&format!(
            r#"{{"publicKey":{{"publicKeyPEM":"{}"}}}}"#,
            b64(&rsa)
        )));
        let err = PluginSigner::new(client).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Key(KeyError::WrongKeyType {
                    found: KeyAlgorithm::Rsa { bits: 2048 },
                    expected: "ECDSA P-256",
                })
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("the key is RSA 2048, not the ECDSA P-256 key asked for"),
            "{err}"
        );

        let plugins = Plugins::new();
        let client = plugins.client(Steps::new().reply(r#"{"errorMessage":"no such key"}"#));
        assert!(matches!(
            PluginSigner::new(client),
            Err(Error::Plugin { .. })
        ));
    }
}

/// `ctxDeadline` is RFC 3339, whose years end at 9999: a deadline beyond
/// that (a timeout of thousands of years, or `Duration::MAX`) is sent as the
/// last second of 9999, never as a panic.
#[test]
fn a_deadline_past_the_year_9999_is_sent_as_the_last_second_of_9999() {
    let eight_thousand_years = Duration::from_secs(8000 * 366 * 24 * 3600);
    // The year 19392: past 9999, and within Windows' SystemTime (which
    // ends in the year 30828).
    let far = SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 39);
    let timeouts = [
        CallOptions::new().timeout(eight_thousand_years),
        CallOptions::new().timeout(Duration::MAX),
        CallOptions::new().deadline(far),
    ];
    for options in timeouts {
        let plugins = Plugins::new();
        let client = recording_plugin(&plugins, SIGN_OK);
        client.sign_message(&b"m"[..], &options).unwrap();
        let args = std::fs::read_to_string(plugins.path("argv2")).unwrap();
        assert!(
            args.contains(r#""ctxDeadline":"9999-12-31T23:59:59Z""#),
            "{options:?}: {args}"
        );

        let client = recording_plugin(
            &plugins,
            &format!(
                r#"{{"createKey":{{"publicKeyPEM":"{}"}}}}"#,
                b64(p256_pem().as_bytes())
            ),
        );
        client.create_key("ecdsa-p256-sha256", &options).unwrap();
        let args = std::fs::read_to_string(plugins.path("argv2")).unwrap();
        assert!(
            args.contains(r#""ctxDeadline":"9999-12-31T23:59:59Z""#),
            "{options:?}: {args}"
        );
    }
    let client = Client::builder()
        .default_timeout(Duration::MAX)
        .with_executable(common::fake_exe(), Steps::new().reply(SIGN_OK).key_ref());
    client.sign_message(&b"m"[..], &none()).unwrap();
}
