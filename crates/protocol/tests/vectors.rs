//! Golden tests: every message of `vectors.json` (the bytes a Go host and a
//! Go plugin write) decodes, and encodes back to exactly the same bytes.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sigstore_kms_protocol::{HashFunc, MethodArgs, MethodName, PluginArgs, PluginResp};

#[derive(Deserialize)]
struct Vectors {
    #[serde(rename = "protocolVersion")]
    protocol_version: String,
    args: Vec<Vector>,
    responses: Vec<Vector>,
    #[serde(rename = "hashFunc")]
    hash_func: std::collections::BTreeMap<String, u32>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    wire: String,
}

fn committed_copy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vectors.json")
}

fn vectors() -> Vectors {
    let text = std::fs::read_to_string(committed_copy()).expect("read tests/data/vectors.json");
    serde_json::from_str(&text).expect("vectors.json is valid")
}

#[test]
fn committed_copy_matches_shared_vectors() {
    let shared =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/protocol-v1/vectors.json");
    let Ok(upstream) = std::fs::read(&shared) else {
        eprintln!(
            "{} not present; checking the committed copy only",
            shared.display()
        );
        return;
    };
    let copy = std::fs::read(committed_copy()).unwrap();
    assert!(
        upstream == copy,
        "crates/protocol/tests/data/vectors.json has drifted from {}; copy it again",
        shared.display()
    );
}

#[test]
fn protocol_version_matches() {
    assert_eq!(
        vectors().protocol_version,
        sigstore_kms_protocol::PROTOCOL_VERSION
    );
}

#[test]
fn every_args_vector_round_trips_byte_for_byte() {
    let vectors = vectors();
    assert!(vectors.args.len() >= 11);
    for vector in &vectors.args {
        let args = PluginArgs::from_json(&vector.wire)
            .unwrap_or_else(|err| panic!("{}: does not decode: {err}", vector.name));
        let method = vector.name.split('/').next().unwrap();
        assert_eq!(
            args.method.method_name(),
            method.replace("unknownMethod", "rotateKey")
        );
        assert_eq!(
            args.to_json().unwrap(),
            vector.wire,
            "{}: re-encoding differs",
            vector.name
        );
    }
}

#[test]
fn unknown_method_vector_decodes_as_unknown() {
    let vectors = vectors();
    let wire = &vectors
        .args
        .iter()
        .find(|v| v.name == "unknownMethod")
        .unwrap()
        .wire;
    let args = PluginArgs::from_json(wire).unwrap();
    assert_eq!(args.method, MethodArgs::Unknown("rotateKey".into()));
}

#[test]
fn every_response_vector_round_trips_byte_for_byte() {
    for vector in &vectors().responses {
        let method = match vector.name.as_str() {
            "error" => MethodName::SignMessage,
            name => name.parse::<MethodName>().expect("vector names a method"),
        };
        let resp = PluginResp::parse(vector.wire.as_bytes(), method)
            .unwrap_or_else(|err| panic!("{}: does not decode: {err}", vector.name));
        if vector.name == "error" {
            assert_eq!(
                resp,
                PluginResp::Error("key <release> not found & no fallback".into())
            );
        }
        assert_eq!(
            resp.to_json().unwrap(),
            vector.wire,
            "{}: re-encoding differs",
            vector.name
        );
    }
}

#[test]
fn hash_numbers_match_go() {
    let normalize = |name: &str| {
        name.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase()
    };
    let table = vectors().hash_func;
    assert_eq!(table.len(), 19);
    for (go_name, number) in table {
        let hash = HashFunc(number);
        let ours = hash
            .name()
            .unwrap_or_else(|| panic!("{go_name} = {number} unknown"));
        assert_eq!(normalize(ours), normalize(&go_name), "number {number}");
    }
}
