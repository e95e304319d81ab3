//! Decoding what other senders may write: unknown fields, escaped
//! characters, other time offsets, the three spellings of "no digest", and
//! the malformed inputs a plugin or host must report rather than crash on.

use sigstore_kms_protocol::{
    DefaultAlgorithmArgs, HashFunc, MessageOptions, MethodArgs, MethodName, MethodResp, PluginArgs,
    PluginResp, ResponseError, SupportedAlgorithmsArgs,
};
use time::macros::datetime;

const INIT: &str = r#""initOptions":{"protocolVersion":"v1","keyResourceID":"k","hashFunc":5,"rpcOptions":{"keyVersion":"","remoteVerification":false}}"#;

fn sign_args(message_options: &str) -> String {
    format!(
        r#"{{{INIT},"methodName":"signMessage","signMessage":{{"signOptions":{{"rpcOptions":{{}},"messageOptions":{message_options}}}}}}}"#
    )
}

fn message_options(args: &PluginArgs) -> &MessageOptions {
    match &args.method {
        MethodArgs::SignMessage(sign) => &sign.sign_options.message_options,
        other => panic!("expected signMessage, got {other:?}"),
    }
}

#[test]
fn unknown_fields_are_ignored_at_every_level() {
    let wire = r#"{"future":1,"initOptions":{"new":[1,2],"protocolVersion":"v1","keyResourceID":"k","hashFunc":5,"rpcOptions":{"keyVersion":"3","x":{}}},"methodName":"signMessage","signMessage":{"extra":null,"signOptions":{"rpcOptions":{"more":true},"messageOptions":{"digest":"3q2+7w==","hashFunc":6,"salt":"x"}}}}"#;
    let args = PluginArgs::from_json(wire).unwrap();
    assert_eq!(args.init_options.rpc_options.key_version(), "3");
    let options = message_options(&args);
    assert_eq!(
        options.digest.as_deref(),
        Some(&[0xde, 0xad, 0xbe, 0xef][..])
    );
    assert_eq!(options.hash_func, Some(HashFunc::SHA384));
}

#[test]
fn go_html_escapes_decode_to_the_same_text() {
    let wire = r#"{"initOptions":{"protocolVersion":"v1","keyResourceID":"a\u003cb\u003e\u0026c","hashFunc":5,"rpcOptions":{}},"methodName":"defaultAlgorithm","defaultAlgorithm":{}}"#;
    let args = PluginArgs::from_json(wire).unwrap();
    assert_eq!(args.init_options.key_resource_id, "a<b>&c");
    assert!(args
        .to_json()
        .unwrap()
        .contains(r#""a\u003cb\u003e\u0026c""#));
}

#[test]
fn times_in_any_offset_and_with_nanoseconds() {
    for (text, expected) in [
        (
            "2026-11-23T09:30:15.12-07:00",
            datetime!(2026-11-23 16:30:15.12 UTC),
        ),
        (
            "2026-11-23T16:30:15.123456789Z",
            datetime!(2026-11-23 16:30:15.123456789 UTC),
        ),
        (
            "2026-11-24T01:00:15+08:30",
            datetime!(2026-11-23 16:30:15 UTC),
        ),
        (
            "2026-11-23T16:30:15.000000001+00:00",
            datetime!(2026-11-23 16:30:15.000000001 UTC),
        ),
    ] {
        let wire = format!(
            r#"{{"initOptions":{{"ctxDeadline":"{text}","protocolVersion":"v1","keyResourceID":"k","hashFunc":5,"rpcOptions":{{}}}},"methodName":"createKey","createKey":{{"ctxDeadline":"{text}","algorithm":"a"}}}}"#
        );
        let args = PluginArgs::from_json(&wire).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(args.init_options.ctx_deadline, Some(expected), "{text}");
        // Written back the way Go writes it: offset kept, no trailing zeros.
        let back = args.to_json().unwrap();
        let expected_text = text.replace("+00:00", "Z");
        assert!(
            back.contains(&expected_text),
            "{back} lacks {expected_text}"
        );
    }
}

#[test]
fn null_absent_and_empty_digest_all_mean_no_digest() {
    for options in [r#"{"digest":null}"#, "{}", r#"{"digest":""}"#] {
        let args = PluginArgs::from_json(&sign_args(options)).unwrap();
        assert_eq!(message_options(&args).digest, None, "{options}");
    }
    let args = PluginArgs::from_json(&sign_args(r#"{"digest":null}"#)).unwrap();
    assert!(args
        .to_json()
        .unwrap()
        .contains(r#""messageOptions":{"digest":null}"#));
}

#[test]
fn bad_base64_is_a_decode_error_naming_base64() {
    let err = PluginArgs::from_json(&sign_args(r#"{"digest":"not base64!"}"#)).unwrap_err();
    assert!(err.to_string().contains("base64"), "{err}");
}

#[test]
fn missing_required_fields_are_named() {
    for (field, wire) in [
        ("keyResourceID", r#"{"initOptions":{"protocolVersion":"v1","hashFunc":5},"methodName":"defaultAlgorithm","defaultAlgorithm":{}}"#.to_owned()),
        ("hashFunc", r#"{"initOptions":{"protocolVersion":"v1","keyResourceID":"k"},"methodName":"defaultAlgorithm","defaultAlgorithm":{}}"#.to_owned()),
        ("initOptions", r#"{"methodName":"defaultAlgorithm","defaultAlgorithm":{}}"#.to_owned()),
        ("algorithm", format!(r#"{{{INIT},"methodName":"createKey","createKey":{{}}}}"#)),
        ("signature", format!(r#"{{{INIT},"methodName":"verifySignature","verifySignature":{{"verifyOptions":{{}}}}}}"#)),
    ] {
        let err = PluginArgs::from_json(&wire).unwrap_err();
        assert!(err.to_string().contains(&format!("`{field}`")), "{field}: {err}");
    }
}

#[test]
fn unknown_empty_and_absent_method_names_decode() {
    let unknown = PluginArgs::from_json(&format!(
        r#"{{{INIT},"methodName":"rotateKey","rotateKey":{{"a":1}}}}"#
    ))
    .unwrap();
    assert_eq!(unknown.method, MethodArgs::Unknown("rotateKey".into()));
    let empty = PluginArgs::from_json(&format!(r#"{{{INIT},"methodName":""}}"#)).unwrap();
    assert_eq!(empty.method, MethodArgs::Unknown(String::new()));
    let absent = PluginArgs::from_json(&format!("{{{INIT}}}")).unwrap();
    assert_eq!(absent.method, MethodArgs::Unknown(String::new()));
}

#[test]
fn known_method_without_its_object_is_detectable() {
    for method in [
        MethodName::CreateKey,
        MethodName::PublicKey,
        MethodName::SignMessage,
        MethodName::VerifySignature,
    ] {
        for object in ["", r#","OTHER":null"#] {
            let object = object.replace("OTHER", method.as_str());
            let wire = format!(r#"{{{INIT},"methodName":"{method}"{object}}}"#);
            let args = PluginArgs::from_json(&wire).unwrap();
            assert_eq!(args.method, MethodArgs::MissingArguments(method), "{wire}");
        }
    }
}

#[test]
fn methods_without_arguments_need_no_object() {
    // What the Go reference's own conformance tests send.
    for (method, expected) in [
        (
            "defaultAlgorithm",
            MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs::new()),
        ),
        (
            "supportedAlgorithms",
            MethodArgs::SupportedAlgorithms(SupportedAlgorithmsArgs::new()),
        ),
    ] {
        for object in ["".to_owned(), format!(r#","{method}":null"#)] {
            let wire = format!(r#"{{{INIT},"methodName":"{method}"{object}}}"#);
            assert_eq!(
                PluginArgs::from_json(&wire).unwrap().method,
                expected,
                "{wire}"
            );
        }
    }
}

#[test]
fn args_that_are_not_an_object_are_errors() {
    for wire in [
        "",
        "[]",
        "null",
        "42",
        r#""v1""#,
        "{",
        r#"{"initOptions":[]}"#,
    ] {
        assert!(PluginArgs::from_json(wire).is_err(), "{wire:?} decoded");
    }
}

#[test]
fn unknown_hash_number_is_kept() {
    let wire = r#"{"initOptions":{"protocolVersion":"v1","keyResourceID":"k","hashFunc":99,"rpcOptions":{}},"methodName":"defaultAlgorithm","defaultAlgorithm":{}}"#;
    let args = PluginArgs::from_json(wire).unwrap();
    assert_eq!(args.init_options.hash_func, HashFunc(99));
    assert_eq!(args.init_options.hash_func.digest_size(), None);
}

#[test]
fn response_error_message_wins_whatever_else_is_present() {
    let stdout = br#"{"errorMessage":"boom","signMessage":{"signature":12}}"#;
    let resp = PluginResp::parse(stdout, MethodName::SignMessage).unwrap();
    assert_eq!(resp, PluginResp::Error("boom".into()));
}

#[test]
fn response_without_the_method_object_is_an_error() {
    let err = PluginResp::parse(
        br#"{"publicKey":{"publicKeyPEM":""}}"#,
        MethodName::SignMessage,
    )
    .unwrap_err();
    assert!(
        matches!(err, ResponseError::MissingResult(MethodName::SignMessage)),
        "{err}"
    );
    let err = PluginResp::parse(br#"{"errorMessage":""}"#, MethodName::PublicKey).unwrap_err();
    assert!(matches!(err, ResponseError::MissingResult(_)), "{err}");
}

#[test]
fn response_with_wrong_field_types_is_an_error() {
    for (stdout, method) in [
        (
            &br#"{"signMessage":{"signature":12}}"#[..],
            MethodName::SignMessage,
        ),
        (
            br#"{"signMessage":{"signature":"@@@"}}"#,
            MethodName::SignMessage,
        ),
        (br#"{"signMessage":{}}"#, MethodName::SignMessage),
        (
            br#"{"defaultAlgorithm":{"defaultAlgorithm":true}}"#,
            MethodName::DefaultAlgorithm,
        ),
        (
            br#"{"supportedAlgorithms":{"supportedAlgorithms":"a"}}"#,
            MethodName::SupportedAlgorithms,
        ),
    ] {
        let err = PluginResp::parse(stdout, method).unwrap_err();
        assert!(matches!(err, ResponseError::InvalidResult { .. }), "{err}");
    }
    let err = PluginResp::parse(br#"{"errorMessage":5}"#, MethodName::PublicKey).unwrap_err();
    assert!(matches!(err, ResponseError::ErrorMessageNotString));
}

#[test]
fn response_must_be_exactly_one_json_object() {
    for stdout in [
        &b""[..],
        b"garbage",
        b"[]",
        b"log line\n{\"verifySignature\":{}}",
        b"{\"verifySignature\":{}}{\"verifySignature\":{}}",
        b"{\"verifySignature\":{}}\ntrailing log",
    ] {
        let err = PluginResp::parse(stdout, MethodName::VerifySignature).unwrap_err();
        assert!(matches!(err, ResponseError::NotJsonObject(_)), "{err}");
    }
    // Whitespace around the object, as a trailing newline, is fine.
    assert!(PluginResp::parse(b" {\"verifySignature\":{}}\n", MethodName::VerifySignature).is_ok());
}

#[test]
fn go_nil_algorithm_list_reads_as_empty() {
    let resp = PluginResp::parse(
        br#"{"supportedAlgorithms":{"supportedAlgorithms":null}}"#,
        MethodName::SupportedAlgorithms,
    )
    .unwrap();
    assert!(matches!(
        resp,
        PluginResp::Success(MethodResp::SupportedAlgorithms(ref r)) if r.supported_algorithms.is_empty()
    ));
}
