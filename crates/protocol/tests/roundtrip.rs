//! Property tests: any value of the wire types survives encoding and
//! decoding unchanged.

use proptest::prelude::*;
use sigstore_kms_protocol::{
    CreateKeyArgs, CreateKeyResp, DefaultAlgorithmArgs, DefaultAlgorithmResp, HashFunc,
    InitOptions, MessageOptions, MethodArgs, MethodName, MethodResp, PluginArgs, PluginResp,
    PublicKeyArgs, PublicKeyResp, RpcOptions, SignMessageArgs, SignMessageResp,
    SupportedAlgorithmsArgs, SupportedAlgorithmsResp, VerifySignatureArgs, VerifySignatureResp,
};
use time::{OffsetDateTime, UtcOffset};

fn deadline() -> impl Strategy<Value = Option<OffsetDateTime>> {
    // Years 0..=9999 and whole-minute offsets: what RFC 3339 can express.
    let instant = (
        -62_167_219_200i64..253_402_214_400,
        0u32..1_000_000_000,
        -1439i32..=1439,
    );
    proptest::option::of(instant.prop_map(|(secs, nanos, minutes)| {
        let offset = UtcOffset::from_whole_seconds(minutes * 60).unwrap();
        let utc = OffsetDateTime::from_unix_timestamp(secs).unwrap()
            + time::Duration::nanoseconds(i64::from(nanos));
        let local = utc.to_offset(offset);
        // Keep the value inside RFC 3339's four-digit years after the shift.
        if (0..=9999).contains(&local.year()) {
            local
        } else {
            utc
        }
    }))
}

fn text() -> impl Strategy<Value = String> {
    // Includes the characters Go escapes and arbitrary Unicode.
    prop_oneof![any::<String>(), "[<>&\u{2028}\u{2029}a-z/:\"\\\\ ]{0,12}"]
}

fn hash_func() -> impl Strategy<Value = HashFunc> {
    prop_oneof![
        (0u32..20).prop_map(HashFunc),
        any::<u32>().prop_map(HashFunc)
    ]
}

fn rpc_options() -> impl Strategy<Value = RpcOptions> {
    (
        deadline(),
        proptest::option::of(text()),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(ctx_deadline, key_version, remote_verification)| {
            let mut options = RpcOptions::default();
            options.ctx_deadline = ctx_deadline;
            options.key_version = key_version;
            options.remote_verification = remote_verification;
            options
        })
}

fn message_options() -> impl Strategy<Value = MessageOptions> {
    (
        // An empty digest means "no digest", so it is not a distinct value.
        proptest::option::of(proptest::collection::vec(any::<u8>(), 1..80)),
        proptest::option::of(hash_func()),
    )
        .prop_map(|(digest, hash_func)| MessageOptions::new(digest, hash_func))
}

fn init_options() -> impl Strategy<Value = InitOptions> {
    (deadline(), text(), text(), hash_func(), rpc_options()).prop_map(
        |(ctx_deadline, protocol_version, key_resource_id, hash_func, rpc_options)| {
            let mut options = InitOptions::new(key_resource_id, hash_func);
            options.ctx_deadline = ctx_deadline;
            options.protocol_version = protocol_version;
            options.rpc_options = rpc_options;
            options
        },
    )
}

fn method_args() -> impl Strategy<Value = MethodArgs> {
    let method = (0usize..6).prop_map(|i| MethodName::ALL[i]);
    prop_oneof![
        Just(MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs::new())),
        Just(MethodArgs::SupportedAlgorithms(
            SupportedAlgorithmsArgs::new()
        )),
        (text(), deadline()).prop_map(|(a, d)| MethodArgs::CreateKey(CreateKeyArgs::new(a, d))),
        rpc_options().prop_map(|r| MethodArgs::PublicKey(PublicKeyArgs::new(r))),
        (rpc_options(), message_options())
            .prop_map(|(r, m)| MethodArgs::SignMessage(SignMessageArgs::new(r, m))),
        (any::<Vec<u8>>(), rpc_options(), message_options())
            .prop_map(|(s, r, m)| MethodArgs::VerifySignature(VerifySignatureArgs::new(s, r, m))),
        text()
            .prop_filter("not a known method", |name| name
                .parse::<MethodName>()
                .is_err())
            .prop_map(MethodArgs::Unknown),
        method
            .prop_filter("takes arguments", |m| !matches!(
                m,
                MethodName::DefaultAlgorithm | MethodName::SupportedAlgorithms
            ))
            .prop_map(MethodArgs::MissingArguments),
    ]
}

fn method_resp() -> impl Strategy<Value = MethodResp> {
    prop_oneof![
        text().prop_map(|default_algorithm| MethodResp::DefaultAlgorithm(
            DefaultAlgorithmResp::new(default_algorithm)
        )),
        proptest::collection::vec(text(), 0..4).prop_map(|supported_algorithms| {
            MethodResp::SupportedAlgorithms(SupportedAlgorithmsResp::new(supported_algorithms))
        }),
        any::<Vec<u8>>()
            .prop_map(|public_key_pem| MethodResp::CreateKey(CreateKeyResp::new(public_key_pem))),
        any::<Vec<u8>>()
            .prop_map(|public_key_pem| MethodResp::PublicKey(PublicKeyResp::new(public_key_pem))),
        any::<Vec<u8>>()
            .prop_map(|signature| MethodResp::SignMessage(SignMessageResp::new(signature))),
        Just(MethodResp::VerifySignature(VerifySignatureResp::new())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn plugin_args_round_trip(init in init_options(), method in method_args()) {
        let args = PluginArgs::new(init, method);
        let json = args.to_json().unwrap();
        let back = PluginArgs::from_json(&json).unwrap();
        prop_assert_eq!(&back, &args);
        // And the encoding is stable: a second trip gives the same bytes.
        prop_assert_eq!(back.to_json().unwrap(), json);
    }

    #[test]
    fn success_responses_round_trip(result in method_resp()) {
        let method = result.method();
        let resp = PluginResp::Success(result);
        let json = resp.to_json().unwrap();
        prop_assert_eq!(PluginResp::parse(json.as_bytes(), method).unwrap(), resp);
    }

    #[test]
    fn error_responses_round_trip(message in text().prop_filter("non-empty", |m| !m.is_empty())) {
        let resp = PluginResp::Error(message);
        let json = resp.to_json().unwrap();
        for method in MethodName::ALL {
            prop_assert_eq!(&PluginResp::parse(json.as_bytes(), method).unwrap(), &resp);
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_args_parser(input in any::<String>()) {
        let _ = PluginArgs::from_json(&input);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_response_parser(
        input in proptest::collection::vec(any::<u8>(), 0..256),
        index in 0usize..6,
    ) {
        let _ = PluginResp::parse(&input, MethodName::ALL[index]);
    }
}
