//! Every malformed or impossible call gets an `errorMessage` reply naming
//! the problem; good calls reach the plugin with the right options.

mod support;

use sigstore_kms_handler::{handle, CallOptions, HandlerError};
use sigstore_kms_protocol::{
    CreateKeyArgs, DefaultAlgorithmArgs, HashFunc, InitOptions, MessageOptions, MethodArgs,
    MethodResp, OffsetDateTime, PluginArgs, PluginResp, RpcOptions, SignMessageArgs,
    VerifySignatureArgs,
};
use support::{args_json, rpc, Toy};

fn respond(argv: &[&str], stdin: &[u8]) -> PluginResp {
    let argv = std::iter::once("sigstore-kms-toy").chain(argv.iter().copied());
    handle(argv, &mut &stdin[..], Toy::new)
}

fn error_of(argv: &[&str]) -> String {
    match respond(argv, b"") {
        PluginResp::Error(message) => message,
        other => panic!("expected an error reply, got {other:?}"),
    }
}

const INIT: &str = r#""initOptions":{"protocolVersion":"v1","keyResourceID":"normal","hashFunc":5,"rpcOptions":{"keyVersion":"","remoteVerification":false}}"#;

fn with_init(rest: &str) -> String {
    format!("{{{INIT}{rest}}}")
}

#[test]
fn missing_argv() {
    assert!(error_of(&[]).starts_with("expected to be run as `PLUGIN v1 '<PluginArgs JSON>'`"));
    assert!(error_of(&["v1"]).contains("got 1 argument(s)"));
}

#[test]
fn wrong_protocol_version() {
    let json = with_init(r#","methodName":"defaultAlgorithm","defaultAlgorithm":{}"#);
    assert_eq!(
        error_of(&["v2", &json]),
        r#"unsupported protocol version "v2": this plugin speaks "v1""#
    );
    assert!(error_of(&["", &json]).starts_with("unsupported protocol version \"\""));
}

#[test]
fn invalid_json() {
    let message = error_of(&["v1", "{not json"]);
    assert!(
        message.starts_with("the plugin arguments (argv[2]) are not valid JSON: "),
        "{message}"
    );
    assert!(error_of(&["v1", ""]).contains("not valid JSON"));
}

#[test]
fn args_not_an_object() {
    for (json, kind) in [
        ("[]", "an array"),
        ("\"v1\"", "a string"),
        ("42", "a number"),
        ("null", "null"),
        ("true", "a boolean"),
    ] {
        assert_eq!(
            error_of(&["v1", json]),
            format!("the plugin arguments (argv[2]) must be a JSON object, not {kind}")
        );
    }
}

#[test]
fn object_without_init_options() {
    let message = error_of(&[
        "v1",
        r#"{"methodName":"defaultAlgorithm","defaultAlgorithm":{}}"#,
    ]);
    assert!(
        message.starts_with("invalid plugin arguments: "),
        "{message}"
    );
    assert!(message.contains("initOptions"), "{message}");
}

#[test]
fn unknown_method() {
    let json = with_init(r#","methodName":"rotateKey","rotateKey":{}"#);
    assert_eq!(
        error_of(&["v1", &json]),
        r#"unsupported method "rotateKey""#
    );
}

#[test]
fn empty_or_absent_method() {
    let expected = "no method given: `methodName` is missing or empty";
    assert_eq!(
        error_of(&["v1", &with_init(r#","methodName":"""#)]),
        expected
    );
    assert_eq!(error_of(&["v1", &with_init("")]), expected);
}

#[test]
fn known_method_without_its_arguments() {
    for rest in [
        r#","methodName":"createKey""#,
        r#","methodName":"createKey","createKey":null"#,
        r#","methodName":"createKey","signMessage":{}"#,
    ] {
        assert_eq!(
            error_of(&["v1", &with_init(rest)]),
            "method createKey was called without its `createKey` arguments object"
        );
    }
}

#[test]
fn bad_base64_field() {
    let json = with_init(
        r#","methodName":"verifySignature","verifySignature":{"signature":"not base64!","verifyOptions":{}}"#,
    );
    let message = error_of(&["v1", &json]);
    assert!(
        message.starts_with("invalid plugin arguments: "),
        "{message}"
    );
    assert!(message.contains("base64"), "{message}");

    let json = with_init(
        r#","methodName":"signMessage","signMessage":{"signOptions":{"messageOptions":{"digest":"%%%"}}}"#,
    );
    assert!(error_of(&["v1", &json]).contains("base64"));
}

#[test]
fn unknown_hash_function_number() {
    let message_options = MessageOptions {
        hash_func: Some(HashFunc(42)),
        ..Default::default()
    };
    let json = args_json(
        support::NORMAL,
        MethodArgs::SignMessage(SignMessageArgs::new(rpc(), message_options)),
    );
    assert_eq!(
        error_of(&["v1", &json]),
        "unsupported hash function: unknown hash function 42"
    );
}

#[test]
fn hash_function_that_cannot_hash_the_message() {
    let message_options = MessageOptions {
        hash_func: Some(HashFunc::SHA1),
        ..Default::default()
    };
    let json = args_json(
        support::NORMAL,
        MethodArgs::SignMessage(SignMessageArgs::new(rpc(), message_options)),
    );
    assert_eq!(error_of(&["v1", &json]), "unsupported hash function: SHA-1");
}

#[test]
fn deadline_already_past() {
    let past = OffsetDateTime::now_utc() - std::time::Duration::from_secs(1);
    let json = args_json(
        support::NORMAL,
        MethodArgs::CreateKey(CreateKeyArgs::new(support::ALGORITHM, Some(past))),
    );
    let message = error_of(&["v1", &json]);
    assert!(message.starts_with("deadline exceeded: "), "{message}");

    let mut init = InitOptions::new(support::NORMAL, HashFunc::SHA256);
    init.ctx_deadline = Some(past);
    let json = PluginArgs::new(init, MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs {}))
        .to_json()
        .unwrap();
    assert!(error_of(&["v1", &json]).starts_with("deadline exceeded: "));
}

#[test]
fn future_deadline_is_passed_on() {
    let future = OffsetDateTime::now_utc() + std::time::Duration::from_secs(3600);
    let mut rpc_options = RpcOptions::go_defaults();
    rpc_options.ctx_deadline = Some(future);
    let args = PluginArgs::new(
        InitOptions::new(support::NORMAL, HashFunc::SHA256),
        MethodArgs::SignMessage(SignMessageArgs::new(rpc_options, MessageOptions::default())),
    );
    let options = CallOptions::from_args(&args);
    assert_eq!(options.deadline, Some(future));
    assert!(options.check_deadline().is_ok());
    assert!(matches!(
        respond(&["v1", &args.to_json().unwrap()], b"abc"),
        PluginResp::Success(MethodResp::SignMessage(_))
    ));
}

#[test]
fn panic_becomes_an_error_reply() {
    let json = args_json(
        support::PANICS,
        MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs {}),
    );
    assert_eq!(
        error_of(&["v1", &json]),
        "the plugin panicked: method blew up"
    );
}

#[test]
fn message_hash_function_wins_over_init() {
    let message_options = MessageOptions {
        hash_func: Some(HashFunc::SHA512),
        ..Default::default()
    };
    let args = PluginArgs::new(
        InitOptions::new(support::NORMAL, HashFunc::SHA256),
        MethodArgs::SignMessage(SignMessageArgs::new(rpc(), message_options)),
    );
    let options = CallOptions::from_args(&args);
    assert_eq!(options.hash_func, HashFunc::SHA512);
    match respond(&["v1", &args.to_json().unwrap()], b"abc") {
        PluginResp::Success(MethodResp::SignMessage(signed)) => {
            assert_eq!(signed.signature.len(), 64)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn init_hash_function_applies_without_a_message_one() {
    let args = PluginArgs::new(
        InitOptions::new(support::NORMAL, HashFunc::SHA384),
        MethodArgs::SignMessage(SignMessageArgs::new(rpc(), MessageOptions::default())),
    );
    assert_eq!(CallOptions::from_args(&args).hash_func, HashFunc::SHA384);
}

#[test]
fn given_digest_is_used_and_checked() {
    let message_options = MessageOptions {
        digest: Some(vec![9; 32]),
        ..Default::default()
    };
    let json = args_json(
        support::NORMAL,
        MethodArgs::VerifySignature(VerifySignatureArgs::new(
            vec![9; 32],
            rpc(),
            message_options,
        )),
    );
    assert_eq!(
        respond(&["v1", &json], b"ignored"),
        PluginResp::Success(MethodResp::VerifySignature(Default::default()))
    );
}

/// cosign 3 with a P-384 key (cosign issue 5018), as recorded: SHA-256 in
/// `initOptions`, no `messageOptions.hashFunc`, the message's SHA-384 as
/// digest, and the message on stdin. cosign 3 then verifies over SHA-256
/// of the message, so that is what gets signed (the toy signs by returning
/// the digest).
fn cosign3_p384_request(digest: &[u8]) -> String {
    use base64::Engine as _;
    let digest = base64::engine::general_purpose::STANDARD.encode(digest);
    with_init(&format!(
        r#","methodName":"signMessage","signMessage":{{"signOptions":{{"rpcOptions":{{"keyVersion":"","remoteVerification":false}},"messageOptions":{{"digest":"{digest}"}}}}}}"#
    ))
}

#[test]
fn cosign3_p384_request_signs_the_declared_hash_of_the_message() {
    use sha2::Digest as _;
    let message = b"a blob signed by cosign 3 with a P-384 key";
    let json = cosign3_p384_request(&sha2::Sha384::digest(message));
    assert_eq!(
        respond(&["v1", &json], message),
        PluginResp::Success(MethodResp::SignMessage(
            sigstore_kms_protocol::SignMessageResp {
                signature: sha2::Sha256::digest(message).to_vec()
            }
        ))
    );
}

#[test]
fn cosign3_p384_request_without_its_message_says_why_and_what_works() {
    use sha2::Digest as _;
    let message = b"a blob signed by cosign 3 with a P-384 key";
    let json = cosign3_p384_request(&sha2::Sha384::digest(message));
    assert_eq!(
        error_of(&["v1", &json]),
        "inconsistent request: the host declared SHA-256 but sent a SHA-384 digest (48 bytes) \
         and no message; a signature over that digest would not verify as SHA-256, and the \
         SHA-256 digest cannot be computed without the message. cosign 3 sends such requests \
         for P-384 keys (sigstore/cosign issue 5018): use a P-256 or RSA key, or cosign 2, or \
         send the message on stdin"
    );
    let other = respond(&["v1", &json], b"another message");
    assert_eq!(
        other,
        PluginResp::Error(
            "inconsistent request: the host declared SHA-256 and sent a SHA-384 digest, but \
             that digest is not the SHA-384 digest of the message on stdin, so the request \
             does not say which message it means"
                .to_owned()
        )
    );
}

#[test]
fn plugin_errors_are_passed_on() {
    let json = args_json(
        support::NORMAL,
        MethodArgs::CreateKey(CreateKeyArgs::new("rsa-2048", None)),
    );
    assert_eq!(
        error_of(&["v1", &json]),
        r#"unsupported algorithm "rsa-2048""#
    );
}

#[test]
fn public_key_is_pkix_pem() {
    let json = args_json(
        support::NORMAL,
        MethodArgs::CreateKey(CreateKeyArgs::new(support::ALGORITHM, None)),
    );
    let pem = match respond(&["v1", &json], b"") {
        PluginResp::Success(MethodResp::CreateKey(created)) => {
            String::from_utf8(created.public_key_pem).unwrap()
        }
        other => panic!("{other:?}"),
    };
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
    assert!(pem.ends_with("-----END PUBLIC KEY-----\n"), "{pem}");
    use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
    let key = p256::PublicKey::from_public_key_pem(&pem).unwrap();
    assert_eq!(
        key,
        p256::PublicKey::from(support::fixed_key().verifying_key())
    );
    let der = key.to_public_key_der().unwrap();
    assert_eq!(
        sigstore_kms_handler::public_key_pem_from_der(der.as_bytes()).unwrap(),
        pem
    );
    assert!(matches!(
        sigstore_kms_handler::public_key_pem_from_der(b"\x30\x03junk"),
        Err(HandlerError::PublicKeyEncoding(_))
    ));
}

#[test]
fn reply_bytes_are_go_bytes() {
    let mut out = Vec::new();
    sigstore_kms_handler::write_error_response(&mut out, &std::io::Error::other("key <k> & more"))
        .unwrap();
    assert_eq!(
        out,
        br#"{"errorMessage":"key \u003ck\u003e \u0026 more"}"#.to_vec()
    );
}
