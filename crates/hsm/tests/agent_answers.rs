//! Through the agent, every request gets the answer a direct call gives,
//! byte for byte: the same exit status, the same stdout and the same
//! stderr (an error is reported there too, for hosts that show only the
//! plugin's stderr), for each way a host can send the message (on stdin,
//! as a digest, or both, as cosign 3 does with P-384 keys). Unix only, as
//! the agent is.
#![cfg(unix)]

mod support;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256, Sha384};
use sigstore_kms_client::{CallOptions, HashFunc};
use support::agent::{plugin, Agent};

const BLOB: &[u8] = b"the artifact, as cosign streams it";

/// One plugin call: its `PluginArgs` and its stdin.
struct Request {
    what: &'static str,
    args: Value,
    stdin: &'static [u8],
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The `PluginArgs` of `method` on `reference` with `arguments`.
fn args(reference: &str, method: &str, arguments: Value) -> Value {
    json!({
        "initOptions": {
            "protocolVersion": "v1",
            "keyResourceID": reference.strip_prefix("hsm://").unwrap(),
            "hashFunc": 5,
        },
        "methodName": method,
        method: arguments,
    })
}

fn sign(reference: &str, message_options: Value) -> Value {
    args(
        reference,
        "signMessage",
        json!({"signOptions": {"messageOptions": message_options}}),
    )
}

/// The requests to compare, for the key `reference`; `signature` is one
/// of its signatures over [`BLOB`] (SHA-256).
fn requests(reference: &str, signature: &[u8]) -> Vec<Request> {
    let sha256 = Sha256::digest(BLOB);
    let sha384 = Sha384::digest(BLOB);
    let verify = |message_options: Value| {
        args(
            reference,
            "verifySignature",
            json!({"signature": b64(signature), "verifyOptions": {"messageOptions": message_options}}),
        )
    };
    vec![
        Request {
            what: "publicKey",
            args: args(reference, "publicKey", json!({"publicKeyOptions": {}})),
            stdin: b"",
        },
        Request {
            what: "defaultAlgorithm",
            args: args(reference, "defaultAlgorithm", json!({})),
            stdin: b"",
        },
        Request {
            what: "signMessage of the blob on stdin",
            args: sign(reference, json!({})),
            stdin: BLOB,
        },
        Request {
            what: "signMessage of a SHA-256 digest",
            args: sign(reference, json!({"digest": b64(&sha256)})),
            stdin: b"",
        },
        Request {
            what:
                "cosign 3 with a P-384 key: SHA-256 declared, a SHA-384 digest, the blob on stdin",
            args: sign(reference, json!({"digest": b64(&sha384)})),
            stdin: BLOB,
        },
        Request {
            what: "a SHA-384 digest declared SHA-256, without its blob",
            args: sign(reference, json!({"digest": b64(&sha384)})),
            stdin: b"",
        },
        Request {
            what: "a SHA-384 digest declared SHA-256, with another blob",
            args: sign(reference, json!({"digest": b64(&sha384)})),
            stdin: b"another artifact",
        },
        Request {
            what: "a digest of no hash's length",
            args: sign(reference, json!({"digest": b64(&[7; 20])})),
            stdin: BLOB,
        },
        Request {
            what: "verifySignature of the blob on stdin",
            args: verify(json!({})),
            stdin: BLOB,
        },
        Request {
            what: "verifySignature, SHA-256 declared, a SHA-384 digest, the blob on stdin",
            args: verify(json!({"digest": b64(&sha384)})),
            stdin: BLOB,
        },
        Request {
            what: "verifySignature of another blob",
            args: verify(json!({})),
            stdin: b"another artifact",
        },
        Request {
            what: "a key that is not there",
            args: args(
                &reference.replace("object=", "object=missing-"),
                "publicKey",
                json!({"publicKeyOptions": {}}),
            ),
            stdin: b"",
        },
    ]
}

/// What a call gave: exit status, stdout and stderr.
type Answer = (Option<i32>, Vec<u8>, String);

/// Runs `request`, through the agent at `socket` if given.
fn run(request: &Request, socket: Option<&Path>) -> Answer {
    let mut command = Command::new(plugin());
    command
        .args(["v1", &request.args.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match socket {
        Some(socket) => command.env("SIGSTORE_KMS_HSM_AGENT", socket),
        None => command.env_remove("SIGSTORE_KMS_HSM_AGENT"),
    };
    let mut child = command.spawn().expect("the plugin runs");
    let mut stdin = child.stdin.take().unwrap();
    // A plugin that does not read its message may close stdin first.
    let _ = stdin.write_all(request.stdin);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Fails unless the agent's answer is the direct one, byte for byte.
fn assert_same(forwarded: &Answer, direct: &Answer, what: &str) {
    assert_eq!(
        forwarded,
        direct,
        "{what}: the agent answered {} ({}), a direct call {} ({})",
        String::from_utf8_lossy(&forwarded.1),
        forwarded.2,
        String::from_utf8_lossy(&direct.1),
        direct.2
    );
}

#[test]
fn every_request_gets_the_direct_answer_through_the_agent() {
    let Some(softhsm) = support::softhsm() else {
        return;
    };
    let token = softhsm.token("agent-answers");
    let options = CallOptions::new().timeout(Duration::from_secs(60));
    let rsa = token.reference("rsa", "");
    let p384 = token.reference("p384", "");
    support::client(&rsa)
        .create_key("rsa-pkcs1v15-3072-sha256", &options)
        .unwrap();
    let p384_key = support::client(&p384)
        .create_key("ecdsa-p384-sha384", &options)
        .unwrap();
    let signature = |reference: &str| {
        support::client(reference)
            .sign_message(BLOB, &options)
            .unwrap()
    };
    let agent = Agent::start(&token, &[]);

    // RSA PKCS#1 v1.5 signatures are deterministic: every answer is
    // compared byte for byte.
    for request in requests(&rsa, &signature(&rsa)) {
        let direct = run(&request, None);
        let forwarded = run(&request, Some(&agent.socket));
        assert_same(&forwarded, &direct, &format!("{} (RSA-3072)", request.what));
    }

    // ECDSA signatures differ from call to call: those are compared by
    // what they verify, every other answer byte for byte.
    let cosign3 =
        "cosign 3 with a P-384 key: SHA-256 declared, a SHA-384 digest, the blob on stdin";
    for request in requests(&p384, &signature(&p384)) {
        let direct = run(&request, None);
        let forwarded = run(&request, Some(&agent.socket));
        if !request.what.starts_with("signMessage") && request.what != cosign3 {
            assert_same(&forwarded, &direct, &format!("{} (P-384)", request.what));
            continue;
        }
        for (mode, (status, stdout, _)) in [("direct", direct), ("through the agent", forwarded)] {
            let reply: Value = serde_json::from_slice(&stdout).unwrap();
            assert_eq!(status, Some(0), "{} {mode}: {reply}", request.what);
            let signature = base64::engine::general_purpose::STANDARD
                .decode(reply["signMessage"]["signature"].as_str().unwrap())
                .unwrap();
            p384_key
                .verify(BLOB, &signature, HashFunc::SHA256)
                .unwrap_or_else(|err| panic!("{} {mode}: {err}", request.what));
        }
    }
}
