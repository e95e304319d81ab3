//! Hostile input into the two parsers another process feeds: the args
//! parser (`argv[2]`, what a plugin reads) and the response parser (stdout,
//! what a host reads). Arbitrary JSON trees, JSON built from the protocol's
//! own names, and mutations of the Go vectors, at the value and at the byte
//! level. Whatever comes in, the parser answers `Ok` or `Err` and never
//! panics; whatever it accepts encodes again and reads back the same.
//!
//! `cargo fuzz` (see `fuzz/`) runs the same parsers unbounded.

use std::path::Path;

use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{Map, Value};
use sigstore_kms_protocol::{MethodName, PluginArgs, PluginResp};

/// Every name on the wire, so that generated objects hit real fields.
const NAMES: &[&str] = &[
    "initOptions",
    "ctxDeadline",
    "protocolVersion",
    "keyResourceID",
    "hashFunc",
    "rpcOptions",
    "keyVersion",
    "remoteVerification",
    "methodName",
    "defaultAlgorithm",
    "supportedAlgorithms",
    "createKey",
    "algorithm",
    "publicKey",
    "publicKeyOptions",
    "signMessage",
    "signOptions",
    "messageOptions",
    "digest",
    "verifySignature",
    "verifyOptions",
    "signature",
    "errorMessage",
    "publicKeyPEM",
];

/// Strings a field may plausibly hold, and some it should not.
const TEXTS: &[&str] = &[
    "",
    "v1",
    "v2",
    "ecdsa-p256-sha256",
    "MAY=",
    "MAY",
    "====",
    "3q2+7w==",
    "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0K",
    "2026-11-23T09:30:15.12-07:00",
    "2026-11-23T09:30:15Z",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:60.999999999+23:59",
    "1990-12-31T23:59:60Z",
    "2026-13-45T99:99:99Z",
    "rotateKey",
];

#[derive(Deserialize)]
struct Vectors {
    args: Vec<Vector>,
    responses: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    wire: String,
}

fn vectors() -> &'static Vectors {
    static VECTORS: std::sync::OnceLock<Vectors> = std::sync::OnceLock::new();
    VECTORS.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vectors.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(NAMES).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => proptest::sample::select(NAMES).prop_map(str::to_owned),
        2 => proptest::sample::select(TEXTS).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u64..24).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
    ]
}

/// Any JSON value, keys mostly the protocol's own.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..7)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// A top-level object with the protocol's names as keys.
fn json_object() -> impl Strategy<Value = Value> {
    proptest::collection::vec((key(), json_value()), 0..8)
        .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>()))
}

/// One change to a JSON document, at the node `at` picks.
#[derive(Clone, Debug)]
enum Mutation {
    Replace { at: usize, with: Value },
    Remove { at: usize },
    Insert { at: usize, key: String, with: Value },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), json_value()).prop_map(|(at, with)| Mutation::Replace { at, with }),
        any::<usize>().prop_map(|at| Mutation::Remove { at }),
        (any::<usize>(), key(), json_value()).prop_map(|(at, key, with)| Mutation::Insert {
            at,
            key,
            with
        }),
    ]
}

/// JSON pointers of every node of `value`, the root included.
fn pointers(value: &Value, here: String, out: &mut Vec<String>) {
    out.push(here.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let token = key.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{here}/{token}"), out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                pointers(child, format!("{here}/{index}"), out);
            }
        }
        _ => {}
    }
}

fn apply(document: &mut Value, mutation: &Mutation) {
    let mut all = Vec::new();
    pointers(document, String::new(), &mut all);
    let pick = |at: usize| all[at % all.len()].clone();
    match mutation {
        Mutation::Replace { at, with } => {
            *document.pointer_mut(&pick(*at)).unwrap() = with.clone();
        }
        Mutation::Remove { at } => {
            let pointer = pick(*at);
            let Some((parent, token)) = pointer.rsplit_once('/') else {
                return;
            };
            match document.pointer_mut(parent).unwrap() {
                Value::Object(map) => {
                    map.remove(&token.replace("~1", "/").replace("~0", "~"));
                }
                Value::Array(items) => {
                    items.remove(token.parse::<usize>().unwrap());
                }
                _ => unreachable!("a parent is an object or an array"),
            }
        }
        Mutation::Insert { at, key, with } => {
            if let Value::Object(map) = document.pointer_mut(&pick(*at)).unwrap() {
                map.insert(key.clone(), with.clone());
            }
        }
    }
}

/// One change to the bytes of a message.
#[derive(Clone, Debug)]
enum ByteEdit {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    let byte = prop_oneof![
        proptest::sample::select(b"{}[]\":,\\ 0123456789-+.eEtfn=/".to_vec()),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(at, b)| ByteEdit::Set(at, b)),
        (any::<usize>(), byte).prop_map(|(at, b)| ByteEdit::Insert(at, b)),
        any::<usize>().prop_map(ByteEdit::Delete),
        any::<usize>().prop_map(ByteEdit::Truncate),
    ]
}

fn edit_bytes(bytes: &mut Vec<u8>, edit: &ByteEdit) {
    if bytes.is_empty() {
        return;
    }
    let len = bytes.len();
    match *edit {
        ByteEdit::Set(at, b) => bytes[at % len] = b,
        ByteEdit::Insert(at, b) => bytes.insert(at % (len + 1), b),
        ByteEdit::Delete(at) => drop(bytes.remove(at % len)),
        ByteEdit::Truncate(at) => bytes.truncate(at % len),
    }
}

/// The args parser accepts or refuses `text`; what it accepts survives a
/// round trip.
fn check_args(text: &str) -> Result<(), TestCaseError> {
    match PluginArgs::from_json(text) {
        Ok(args) => {
            let json = args.to_json().expect("decoded args encode");
            let again = PluginArgs::from_json(&json).expect("encoded args decode");
            prop_assert_eq!(again, args, "{}", json);
        }
        Err(err) => prop_assert!(!err.to_string().is_empty()),
    }
    Ok(())
}

/// The response parser accepts or refuses `stdout` as the answer to every
/// method; a success is that method's result and survives a round trip.
fn check_resp(stdout: &[u8]) -> Result<(), TestCaseError> {
    for method in MethodName::ALL {
        match PluginResp::parse(stdout, method) {
            Ok(resp) => {
                if let PluginResp::Success(result) = &resp {
                    prop_assert_eq!(result.method(), method);
                }
                let json = resp.to_json().expect("a parsed response encodes");
                let again = PluginResp::parse(json.as_bytes(), method).expect("encoded parses");
                prop_assert_eq!(again, resp, "{}", json);
            }
            Err(err) => prop_assert!(!err.to_string().is_empty()),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_json_values(value in json_value()) {
        let text = value.to_string();
        check_args(&text)?;
        check_resp(text.as_bytes())?;
    }

    #[test]
    fn objects_of_protocol_names(value in json_object()) {
        let text = value.to_string();
        check_args(&text)?;
        check_resp(text.as_bytes())?;
    }

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_resp(&bytes)?;
        if let Ok(text) = std::str::from_utf8(&bytes) {
            check_args(text)?;
        }
    }

    #[test]
    fn mutated_args_vectors(
        index in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let vectors = &vectors().args;
        let mut document: Value =
            serde_json::from_str(&vectors[index % vectors.len()].wire).unwrap();
        for mutation in &mutations {
            apply(&mut document, mutation);
        }
        check_args(&document.to_string())?;
    }

    #[test]
    fn mutated_response_vectors(
        index in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let vectors = &vectors().responses;
        let mut document: Value =
            serde_json::from_str(&vectors[index % vectors.len()].wire).unwrap();
        for mutation in &mutations {
            apply(&mut document, mutation);
        }
        check_resp(document.to_string().as_bytes())?;
    }

    #[test]
    fn byte_edits_of_every_vector(
        index in any::<usize>(),
        edits in proptest::collection::vec(byte_edit(), 1..6),
    ) {
        let all = vectors();
        let wire = all
            .args
            .iter()
            .chain(&all.responses)
            .nth(index % (all.args.len() + all.responses.len()))
            .unwrap();
        let mut bytes = wire.wire.clone().into_bytes();
        for edit in &edits {
            edit_bytes(&mut bytes, edit);
        }
        check_resp(&bytes)?;
        if let Ok(text) = std::str::from_utf8(&bytes) {
            check_args(text)?;
        }
    }
}

/// The mutation machinery reaches the nodes it means to: without this, the
/// tests above could silently mutate nothing.
#[test]
fn mutations_change_the_document() {
    let original: Value = serde_json::from_str(&vectors().args[0].wire).unwrap();
    let mut all = Vec::new();
    pointers(&original, String::new(), &mut all);
    assert!(all.contains(&"/initOptions/rpcOptions/keyVersion".to_owned()));
    for (at, pointer) in all.iter().enumerate().skip(1) {
        let mut removed = original.clone();
        apply(&mut removed, &Mutation::Remove { at });
        assert_ne!(removed, original, "removing {pointer}");
        let mut replaced = original.clone();
        let with = Value::String("\u{0}replaced".into());
        apply(&mut replaced, &Mutation::Replace { at, with });
        assert_eq!(replaced.pointer(pointer).unwrap(), "\u{0}replaced");
    }
}
