//! The plugin answers the exact arguments a Go host writes (the golden
//! vectors), with only the key references pointed at a temporary key.

mod support;

use sigstore_kms_protocol::{HashFunc, MethodName, MethodResp};
use support::{create_key, p256_verifies, run_json, Call};

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../crates/protocol/tests/data/vectors.json"
));

/// The deadline in the vectors is a fixed date; a later one keeps these
/// tests independent of the day they run (past deadlines are tested on
/// their own).
const VECTOR_DEADLINE: &str = "2026-11-23T09:30:15.12-07:00";
const FUTURE_DEADLINE: &str = "2999-11-23T09:30:15.12-07:00";

fn vector(name: &str) -> String {
    let vectors: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    vectors["args"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"))["wire"]
        .as_str()
        .unwrap()
        .to_owned()
}

struct Fixture {
    dir: tempfile::TempDir,
    public_pem: String,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let public_pem = create_key(dir.path(), "key.pem");
        Fixture { dir, public_pem }
    }

    fn key_path(&self) -> String {
        self.dir.path().join("key.pem").to_str().unwrap().to_owned()
    }

    /// Runs vector `name` against the fixture's key.
    fn call(&self, name: &str, stdin: &[u8]) -> Call {
        self.call_edited(name, stdin, |wire| wire)
    }

    fn call_edited(&self, name: &str, stdin: &[u8], edit: impl Fn(String) -> String) -> Call {
        let key = serde_json::to_string(&self.key_path()).unwrap();
        let wire = vector(name)
            .replace("\"/var/keys/release.pem\"", &key)
            .replace("\"projects/p/keys/k\"", &key)
            .replace(VECTOR_DEADLINE, FUTURE_DEADLINE);
        run_json(self.dir.path(), &edit(wire), stdin, &[])
    }
}

#[test]
fn default_algorithm() {
    let fixture = Fixture::new();
    let call = fixture.call("defaultAlgorithm/plain", b"");
    assert_eq!(
        call.stdout(),
        r#"{"defaultAlgorithm":{"defaultAlgorithm":"ecdsa-p256-sha256"}}"#
    );
    assert_eq!(call.output.status.code(), Some(0));
    assert!(call.output.stderr.is_empty(), "quiet by default");
}

#[test]
fn supported_algorithms() {
    let fixture = Fixture::new();
    let call = fixture.call("supportedAlgorithms/plain", b"");
    assert_eq!(
        call.stdout(),
        r#"{"supportedAlgorithms":{"supportedAlgorithms":["ecdsa-p256-sha256"]}}"#
    );
}

#[test]
fn create_key_again_returns_the_same_key() {
    let fixture = Fixture::new();
    match fixture
        .call("createKey/plain", b"")
        .success(MethodName::CreateKey)
    {
        MethodResp::CreateKey(created) => {
            assert_eq!(created.public_key_pem, fixture.public_pem.as_bytes())
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn create_key_with_another_algorithm() {
    let fixture = Fixture::new();
    let message = fixture
        .call("createKey/deadline", b"")
        .error(MethodName::CreateKey);
    assert_eq!(
        message,
        r#"unsupported algorithm "rsa-2048": localkms creates ecdsa-p256-sha256 keys only"#
    );
}

#[test]
fn public_key() {
    let fixture = Fixture::new();
    match fixture
        .call("publicKey/plain", b"")
        .success(MethodName::PublicKey)
    {
        MethodResp::PublicKey(key) => assert_eq!(key.public_key_pem, fixture.public_pem.as_bytes()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn key_version_is_refused() {
    let fixture = Fixture::new();
    for (name, method) in [
        ("publicKey/full", MethodName::PublicKey),
        ("signMessage/digest", MethodName::SignMessage),
        ("verifySignature/digest", MethodName::VerifySignature),
    ] {
        let message = fixture.call(name, b"").error(method);
        assert_eq!(
            message,
            r#"key version "7" requested, but local key files have no versions; leave keyVersion empty"#,
            "{name}"
        );
    }
}

#[test]
fn sign_message_from_stdin() {
    let fixture = Fixture::new();
    let message = b"the blob cosign streams on stdin";
    let signature = support::signature_of(&fixture.call("signMessage/message", message));
    let digest = support::digest(HashFunc::SHA256, message);
    assert!(p256_verifies(&fixture.public_pem, &digest, &signature));
    assert!(!p256_verifies(
        &fixture.public_pem,
        &support::digest(HashFunc::SHA256, b"another blob"),
        &signature
    ));
}

#[test]
fn digest_of_the_wrong_length() {
    let fixture = Fixture::new();
    // The vector's digest is six bytes, sent as SHA-384.
    let message = fixture
        .call_edited("signMessage/digest", b"", |wire| {
            wire.replace(r#""keyVersion":"7""#, r#""keyVersion":"""#)
        })
        .error(MethodName::SignMessage);
    assert_eq!(
        message,
        "the digest is 6 bytes long, but a SHA-384 digest is 48 bytes"
    );
}

#[test]
fn verify_signature_that_is_not_der() {
    let fixture = Fixture::new();
    let message = fixture
        .call("verifySignature/message", b"message")
        .error(MethodName::VerifySignature);
    assert_eq!(
        message,
        "the signature is not an ASN.1 DER encoded ECDSA P-256 signature"
    );
}

#[test]
fn unknown_method() {
    let fixture = Fixture::new();
    let message = fixture
        .call("unknownMethod", b"")
        .error(MethodName::DefaultAlgorithm);
    assert_eq!(message, r#"unsupported method "rotateKey""#);
}

#[test]
fn every_vector_gets_exactly_one_reply() {
    let vectors: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    let fixture = Fixture::new();
    for entry in vectors["args"].as_array().unwrap() {
        let name = entry["name"].as_str().unwrap();
        let call = fixture.call(name, b"message");
        let reply: serde_json::Value = serde_json::from_slice(&call.output.stdout)
            .unwrap_or_else(|err| panic!("{name}: stdout is not one JSON value: {err}"));
        assert!(reply.is_object(), "{name}");
    }
}
