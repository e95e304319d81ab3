//! signMessage and verifySignature: every hash function, digest or stream,
//! signatures checked by p256 and OpenSSL, and every bad input.

mod support;

use sigstore_kms_protocol::{HashFunc, MethodName, MethodResp, OffsetDateTime};
use support::{
    create_key, digest, p256_verifies, run, run_argv, run_with_hash, sign_args, signature_of,
    verify_args,
};

const HASHES: [HashFunc; 3] = [HashFunc::SHA256, HashFunc::SHA384, HashFunc::SHA512];

fn fixture() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let public_pem = create_key(dir.path(), "key.pem");
    (dir, public_pem)
}

fn verifies(
    dir: &std::path::Path,
    call_args: sigstore_kms_protocol::MethodArgs,
    stdin: &[u8],
) -> Result<(), String> {
    let call = run(dir, "key.pem", call_args, stdin);
    match call.reply(MethodName::VerifySignature) {
        sigstore_kms_protocol::PluginResp::Success(MethodResp::VerifySignature(_)) => {
            assert_eq!(call.output.status.code(), Some(0));
            Ok(())
        }
        sigstore_kms_protocol::PluginResp::Error(message) => Err(message),
        other => panic!("{other:?}"),
    }
}

#[test]
fn signs_streamed_messages_with_each_hash_function() {
    let (dir, public_pem) = fixture();
    let message: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i| (i % 253) as u8).collect();
    let openssl = support::openssl_present();
    for hash in HASHES {
        // The hash function of the message options wins over the init one.
        let signature = signature_of(&run(
            dir.path(),
            "key.pem",
            sign_args(None, Some(hash)),
            &message,
        ));
        assert!(
            p256_verifies(&public_pem, &digest(hash, &message), &signature),
            "{hash}"
        );
        if openssl {
            assert!(
                support::openssl_verifies(dir.path(), &public_pem, hash, &message, &signature),
                "OpenSSL rejects the {hash} signature"
            );
        }
        // And the init one applies when the message options have none.
        let signature = signature_of(&run_with_hash(
            dir.path(),
            "key.pem",
            hash,
            sign_args(None, None),
            &message,
        ));
        assert!(
            p256_verifies(&public_pem, &digest(hash, &message), &signature),
            "{hash}"
        );
        verifies(
            dir.path(),
            verify_args(signature, None, Some(hash)),
            &message,
        )
        .unwrap();
    }
}

#[test]
fn signs_given_digests_without_needing_stdin() {
    let (dir, public_pem) = fixture();
    for hash in HASHES {
        let digest = digest(hash, b"blob");
        let signature = signature_of(&run(
            dir.path(),
            "key.pem",
            sign_args(Some(digest.clone()), Some(hash)),
            b"",
        ));
        assert!(p256_verifies(&public_pem, &digest, &signature), "{hash}");
        verifies(
            dir.path(),
            verify_args(signature, Some(digest), Some(hash)),
            b"",
        )
        .unwrap();
    }
}

#[test]
fn cosign_3_sends_the_digest_and_the_blob() {
    let (dir, public_pem) = fixture();
    let blob = vec![b'x'; 1024 * 1024];
    let sha256 = digest(HashFunc::SHA256, &blob);
    let signature = signature_of(&run(
        dir.path(),
        "key.pem",
        sign_args(Some(sha256.clone()), None),
        &blob,
    ));
    assert!(p256_verifies(&public_pem, &sha256, &signature));
    verifies(
        dir.path(),
        verify_args(signature, Some(sha256), None),
        &blob,
    )
    .unwrap();
}

#[test]
fn verification_fails_for_other_messages_keys_and_garbage() {
    let (dir, _) = fixture();
    let signature = signature_of(&run(
        dir.path(),
        "key.pem",
        sign_args(None, None),
        b"message",
    ));
    assert_eq!(
        verifies(
            dir.path(),
            verify_args(signature.clone(), None, None),
            b"massage"
        )
        .unwrap_err(),
        "the signature does not verify with the key in key.pem"
    );
    create_key(dir.path(), "other.pem");
    let call = run(
        dir.path(),
        "other.pem",
        verify_args(signature.clone(), None, None),
        b"message",
    );
    assert_eq!(
        call.error(MethodName::VerifySignature),
        "the signature does not verify with the key in other.pem"
    );
    for bad in [
        vec![],
        vec![0x30, 0x00],
        signature[..signature.len() - 1].to_vec(),
    ] {
        assert_eq!(
            verifies(dir.path(), verify_args(bad, None, None), b"message").unwrap_err(),
            "the signature is not an ASN.1 DER encoded ECDSA P-256 signature"
        );
    }
}

#[test]
fn other_hash_functions_are_refused() {
    let (dir, _) = fixture();
    for hash in [
        HashFunc::SHA1,
        HashFunc::SHA224,
        HashFunc::SHA3_256,
        HashFunc::UNSPECIFIED,
    ] {
        let given = run(
            dir.path(),
            "key.pem",
            sign_args(Some(vec![1; 20]), Some(hash)),
            b"",
        );
        assert_eq!(
            given.error(MethodName::SignMessage),
            format!("unsupported hash function {hash}: ecdsa-p256-sha256 keys sign SHA-256, SHA-384 or SHA-512 digests")
        );
        let streamed = run_with_hash(
            dir.path(),
            "key.pem",
            hash,
            verify_args(vec![0x30], None, None),
            b"m",
        );
        assert!(streamed
            .error(MethodName::VerifySignature)
            .starts_with("unsupported hash function"),);
    }
    let unknown = run(
        dir.path(),
        "key.pem",
        sign_args(None, Some(HashFunc(99))),
        b"m",
    );
    assert_eq!(
        unknown.error(MethodName::SignMessage),
        "unsupported hash function: unknown hash function 99"
    );
}

#[test]
fn digests_of_the_wrong_length_are_refused() {
    let (dir, _) = fixture();
    for (hash, length) in [(HashFunc::SHA256, 31), (HashFunc::SHA512, 65)] {
        let call = run(
            dir.path(),
            "key.pem",
            sign_args(Some(vec![7; length]), Some(hash)),
            b"",
        );
        let expected = hash.digest_size().unwrap();
        assert_eq!(
            call.error(MethodName::SignMessage),
            format!("the digest is {length} bytes long, but a {hash} digest is {expected} bytes")
        );
    }
    // Another hash function's length, and no message it is the digest of:
    // nothing identifies what to sign under the declared hash.
    let call = run(
        dir.path(),
        "key.pem",
        sign_args(Some(vec![7; 32]), Some(HashFunc::SHA384)),
        b"",
    );
    assert!(
        call.error(MethodName::SignMessage).starts_with(
            "inconsistent request: the host declared SHA-384 but sent a SHA-256 digest \
             (32 bytes) and no message"
        ),
        "{}",
        call.error(MethodName::SignMessage)
    );
}

#[test]
fn a_deadline_already_past_fails_the_call() {
    let (dir, _) = fixture();
    let mut args = sigstore_kms_protocol::PluginArgs::new(
        sigstore_kms_protocol::InitOptions::new("key.pem", HashFunc::SHA256),
        sign_args(None, None),
    );
    args.init_options.ctx_deadline =
        Some(OffsetDateTime::now_utc() - std::time::Duration::from_secs(2));
    let call = support::run_json(dir.path(), &args.to_json().unwrap(), b"m", &[]);
    assert!(call
        .error(MethodName::SignMessage)
        .starts_with("deadline exceeded: "));
}

#[test]
fn malformed_invocations_get_an_error_reply() {
    let (dir, _) = fixture();
    let init = r#""initOptions":{"protocolVersion":"v1","keyResourceID":"key.pem","hashFunc":5}"#;
    let no_args = format!(r#"{{{init},"methodName":"signMessage"}}"#);
    let empty_method = format!(r#"{{{init},"methodName":""}}"#);
    let bad_base64 = format!(
        r#"{{{init},"methodName":"verifySignature","verifySignature":{{"signature":"***","verifyOptions":{{}}}}}}"#
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "expected to be run as"),
        (vec!["v1"], "expected to be run as"),
        (vec!["v0", "{}"], "unsupported protocol version \"v0\""),
        (
            vec!["v1", "{"],
            "the plugin arguments (argv[2]) are not valid JSON",
        ),
        (
            vec!["v1", "[1]"],
            "the plugin arguments (argv[2]) must be a JSON object, not an array",
        ),
        (
            vec!["v1", &no_args],
            "method signMessage was called without its `signMessage` arguments object",
        ),
        (vec!["v1", &empty_method], "no method given"),
        (
            vec!["v1", &bad_base64],
            "invalid plugin arguments: invalid base64",
        ),
    ];
    for (argv, expected) in cases {
        let call = run_argv(dir.path(), &argv, b"", &[]);
        let message = call.error(MethodName::SignMessage);
        assert!(message.starts_with(expected), "{argv:?}: {message}");
    }
}

#[test]
fn diagnostics_only_when_asked_for() {
    let (dir, _) = fixture();
    let json = sigstore_kms_protocol::PluginArgs::new(
        sigstore_kms_protocol::InitOptions::new("key.pem", HashFunc::SHA256),
        sign_args(None, None),
    )
    .to_json()
    .unwrap();
    let quiet = support::run_json(dir.path(), &json, b"m", &[]);
    assert!(quiet.output.stderr.is_empty());
    let chatty = support::run_json(
        dir.path(),
        &json,
        b"m",
        &[("SIGSTORE_KMS_LOCALKMS_DEBUG", "1")],
    );
    assert!(
        chatty.stderr().contains("loaded the key in key.pem"),
        "{}",
        chatty.stderr()
    );
    assert!(signature_of(&chatty).len() > 8);
    let key = std::fs::read_to_string(dir.path().join("key.pem")).unwrap();
    for line in support::secret_lines(&key) {
        assert!(!chatty.stderr().contains(&line));
    }
}
