//! Hostile input into the public-key parser (`PublicKey::from_pem`, and the
//! `from_der` behind it): arbitrary bytes, arbitrary DER in a PEM block, and
//! byte edits of real keys of every kind, at the PEM and at the DER level.
//! Whatever comes in, the parser answers `Ok` or `Err` and never panics; a
//! key it accepts survives a round trip, and verifying junk with it is an
//! error. `cargo fuzz` (see `fuzz/`) runs the same parser unbounded.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use proptest::prelude::*;
use sigstore_kms_client::{HashFunc, KeyAlgorithm, PublicKey};

/// Real keys of every kind the parser tells apart, with their algorithm.
fn real_keys() -> &'static [(String, KeyAlgorithm)] {
    static KEYS: std::sync::OnceLock<Vec<(String, KeyAlgorithm)>> = std::sync::OnceLock::new();
    KEYS.get_or_init(load_real_keys)
}

fn load_real_keys() -> Vec<(String, KeyAlgorithm)> {
    let data = |name: &str| {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data")
                .join(name),
        )
        .unwrap()
    };
    let p256 = p256::SecretKey::from_slice(&[0x31; 32])
        .unwrap()
        .public_key();
    let p384 = p384::SecretKey::from_slice(&[0x42; 48])
        .unwrap()
        .public_key();
    vec![
        (
            p256.to_public_key_pem(LineEnding::LF).unwrap(),
            KeyAlgorithm::EcdsaP256,
        ),
        (
            p384.to_public_key_pem(LineEnding::CRLF).unwrap(),
            KeyAlgorithm::EcdsaP384,
        ),
        (data("p521.pub.pem"), KeyAlgorithm::EcdsaP521),
        (data("rsa2048.pub.pem"), KeyAlgorithm::Rsa { bits: 2048 }),
        (data("ed25519.pub.pem"), KeyAlgorithm::Ed25519),
        (
            data("secp256k1.pub.pem"),
            KeyAlgorithm::Unknown {
                oid: "1.3.132.0.10".into(),
            },
        ),
    ]
}

fn der_of(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .map(str::trim)
        .collect();
    STANDARD.decode(body).unwrap()
}

fn pem_of(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// One change to a byte string.
#[derive(Clone, Debug)]
enum ByteEdit {
    Set(usize, u8),
    Xor(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| ByteEdit::Set(at, b)),
        (any::<usize>(), 1u8..).prop_map(|(at, b)| ByteEdit::Xor(at, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| ByteEdit::Insert(at, b)),
        any::<usize>().prop_map(ByteEdit::Delete),
        any::<usize>().prop_map(ByteEdit::Truncate),
    ]
}

fn edit(bytes: &mut Vec<u8>, edits: &[ByteEdit]) {
    for edit in edits {
        let len = bytes.len();
        if len == 0 {
            return;
        }
        match *edit {
            ByteEdit::Set(at, b) => bytes[at % len] = b,
            ByteEdit::Xor(at, b) => bytes[at % len] ^= b,
            ByteEdit::Insert(at, b) => bytes.insert(at % (len + 1), b),
            ByteEdit::Delete(at) => drop(bytes.remove(at % len)),
            ByteEdit::Truncate(at) => bytes.truncate(at % len),
        }
    }
}

/// What must hold of any input: no panic, a rejection has words, and an
/// accepted key round-trips and refuses a signature of junk.
fn check(pem: &[u8]) -> Result<Option<PublicKey>, TestCaseError> {
    let key = match PublicKey::from_pem(pem) {
        Ok(key) => key,
        Err(err) => {
            prop_assert!(!err.to_string().is_empty());
            return Ok(None);
        }
    };
    prop_assert_eq!(&PublicKey::from_pem(key.to_pem().as_bytes()).unwrap(), &key);
    prop_assert_eq!(&PublicKey::from_der(key.to_der()).unwrap(), &key);
    for hash in [HashFunc::SHA256, HashFunc::SHA384, HashFunc::SHA512] {
        let digest = vec![0x5a; hash.digest_size().unwrap()];
        prop_assert!(key.verify_digest(&digest, pem, hash).is_err());
    }
    prop_assert!(key.verify(pem, pem, HashFunc::SHA256).is_err());
    Ok(Some(key))
}

fn check_der(der: &[u8]) -> Result<(), TestCaseError> {
    match PublicKey::from_der(der) {
        Ok(key) => prop_assert_eq!(&PublicKey::from_der(key.to_der()).unwrap(), &key),
        Err(err) => prop_assert!(!err.to_string().is_empty()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        check(&bytes)?;
        check_der(&bytes)?;
    }

    #[test]
    fn arbitrary_der_in_a_public_key_block(der in proptest::collection::vec(any::<u8>(), 0..300)) {
        check(pem_of("PUBLIC KEY", &der).as_bytes())?;
    }

    #[test]
    fn edited_pem_text_of_real_keys(
        index in any::<usize>(),
        edits in proptest::collection::vec(byte_edit(), 1..5),
    ) {
        let keys = real_keys();
        let mut pem = keys[index % keys.len()].0.clone().into_bytes();
        edit(&mut pem, &edits);
        check(&pem)?;
    }

    #[test]
    fn edited_der_of_real_keys(
        index in any::<usize>(),
        edits in proptest::collection::vec(byte_edit(), 1..4),
        label in prop_oneof![Just("PUBLIC KEY"), Just("RSA PUBLIC KEY"), Just("EC PRIVATE KEY")],
    ) {
        let keys = real_keys();
        let mut der = der_of(&keys[index % keys.len()].0);
        edit(&mut der, &edits);
        check_der(&der)?;
        let parsed = check(pem_of(label, &der).as_bytes())?;
        if label != "PUBLIC KEY" {
            prop_assert!(parsed.is_none(), "a {} block is not a public key", label);
        }
    }
}

/// The real keys parse as what they are, so the edits above start from
/// keys the parser accepts.
#[test]
fn real_keys_parse_as_their_algorithm() {
    for (pem, algorithm) in real_keys() {
        let key = PublicKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(key.algorithm(), algorithm);
        assert_eq!(PublicKey::from_der(&der_of(pem)).unwrap(), key);
    }
}
