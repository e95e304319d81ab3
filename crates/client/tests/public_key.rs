//! Parsing plugin public keys and verifying signatures locally.

use std::io::{self, Read};

use p256::pkcs8::{EncodePublicKey, LineEnding};
use sigstore_kms_client::{HashFunc, KeyAlgorithm, KeyError, PublicKey};

const MESSAGE: &[u8] = b"hello, plugin";

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

fn p256_signing_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap()
}

fn p256_public_key() -> PublicKey {
    let pem = p256_signing_key()
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    PublicKey::from_pem(pem.as_bytes()).unwrap()
}

/// Reads forever-ish, a few bytes at a time, to prove hashing is streamed.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.len().min(buf.len()).min(3);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn p256_key_names_converts_and_round_trips() {
    let key = p256_public_key();
    assert_eq!(key.algorithm(), &KeyAlgorithm::EcdsaP256);
    assert_eq!(key.algorithm().to_string(), "ECDSA P-256");
    assert_eq!(
        &key.p256_verifying_key().unwrap(),
        p256_signing_key().verifying_key()
    );
    assert!(matches!(
        key.p384_verifying_key(),
        Err(KeyError::WrongKeyType {
            found: KeyAlgorithm::EcdsaP256,
            expected: "ECDSA P-384"
        })
    ));
    let again = PublicKey::from_pem(key.to_pem().as_bytes()).unwrap();
    assert_eq!(again, key);
    assert_eq!(PublicKey::from_der(key.to_der()).unwrap(), key);
    assert!(key.to_pem().starts_with("-----BEGIN PUBLIC KEY-----\n"));
}

#[test]
fn p256_signatures_verify_over_streamed_message_and_digest() {
    use p256::ecdsa::signature::Signer;
    use sha2::Digest;
    let key = p256_public_key();
    let signature: p256::ecdsa::DerSignature = p256_signing_key().sign(MESSAGE);
    let signature = signature.as_bytes();

    key.verify(Trickle(MESSAGE), signature, HashFunc::SHA256)
        .unwrap();
    key.verify_digest(&sha2::Sha256::digest(MESSAGE), signature, HashFunc::SHA256)
        .unwrap();

    assert!(matches!(
        key.verify(&b"hello, plugin!"[..], signature, HashFunc::SHA256),
        Err(KeyError::BadSignature)
    ));
    assert!(matches!(
        key.verify(MESSAGE, signature, HashFunc::SHA384),
        Err(KeyError::BadSignature)
    ));
    assert!(matches!(
        key.verify(MESSAGE, b"not DER", HashFunc::SHA256),
        Err(KeyError::BadSignature)
    ));
    assert!(matches!(
        key.verify(MESSAGE, signature, HashFunc::MD5),
        Err(KeyError::UnsupportedHash { .. })
    ));
    assert!(matches!(
        key.verify_digest(&[0; 31], signature, HashFunc::SHA256),
        Err(KeyError::DigestLength {
            expected: 32,
            actual: 31,
            ..
        })
    ));
}

#[test]
fn p384_signatures_verify() {
    use p384::ecdsa::signature::Signer;
    let signing = p384::ecdsa::SigningKey::from_slice(&[9u8; 48]).unwrap();
    let pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let key = PublicKey::from_pem(pem.as_bytes()).unwrap();
    assert_eq!(key.algorithm(), &KeyAlgorithm::EcdsaP384);
    assert_eq!(&key.p384_verifying_key().unwrap(), signing.verifying_key());
    let signature: p384::ecdsa::DerSignature = signing.sign(MESSAGE);
    key.verify(MESSAGE, signature.as_bytes(), HashFunc::SHA384)
        .unwrap();
    assert!(key
        .verify(&b"other"[..], signature.as_bytes(), HashFunc::SHA384)
        .is_err());
}

#[test]
fn p521_signatures_verify() {
    use p521::ecdsa::signature::Signer;
    let p521 = PublicKey::from_pem(&data("p521.pub.pem")).unwrap();
    assert_eq!(p521.algorithm(), &KeyAlgorithm::EcdsaP521);
    assert!(matches!(
        p521.verify_digest(&[0; 64], &[0; 8], HashFunc::SHA512),
        Err(KeyError::BadSignature)
    ));

    // A P-521 scalar is 66 bytes below 2^521: the first byte is at most 1.
    let mut scalar = [5u8; 66];
    scalar[0] = 1;
    let signing = p521::ecdsa::SigningKey::from_slice(&scalar).unwrap();
    let pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let key = PublicKey::from_pem(pem.as_bytes()).unwrap();
    assert_eq!(&key.p521_verifying_key().unwrap(), signing.verifying_key());
    let signature: p521::ecdsa::DerSignature = signing.sign(MESSAGE);
    key.verify(MESSAGE, signature.as_bytes(), HashFunc::SHA512)
        .unwrap();
    assert!(matches!(
        key.verify(&b"other"[..], signature.as_bytes(), HashFunc::SHA512),
        Err(KeyError::BadSignature)
    ));
    assert!(matches!(
        key.p384_verifying_key(),
        Err(KeyError::WrongKeyType {
            found: KeyAlgorithm::EcdsaP521,
            expected: "ECDSA P-384"
        })
    ));
}

#[test]
fn rsa_pkcs1v15_signatures_from_openssl_verify() {
    let key = PublicKey::from_pem(&data("rsa2048.pub.pem")).unwrap();
    assert_eq!(key.algorithm(), &KeyAlgorithm::Rsa { bits: 2048 });
    assert_eq!(key.algorithm().to_string(), "RSA 2048");
    let sha256 = data("rsa2048-sha256-hello.sig");
    let sha512 = data("rsa2048-sha512-hello.sig");
    key.verify(MESSAGE, &sha256, HashFunc::SHA256).unwrap();
    key.verify(MESSAGE, &sha512, HashFunc::SHA512).unwrap();
    assert!(matches!(
        key.verify(MESSAGE, &sha256, HashFunc::SHA512),
        Err(KeyError::BadSignature)
    ));
    assert!(matches!(
        key.verify(&b"tampered"[..], &sha256, HashFunc::SHA256),
        Err(KeyError::BadSignature)
    ));
    assert!(key.p256_verifying_key().is_err());
}

/// RSASSA-PSS, as cloud KMSs sign with RSA keys (AWS salts with the
/// digest's length, others with the most that fits): both verify, over the
/// right hash and message only. The signatures are made by OpenSSL, run as
/// a Unix program (the Windows build of this test runs under Wine, without
/// one).
#[cfg(unix)]
#[test]
fn rsa_pss_signatures_from_openssl_verify_whatever_their_salt_length() {
    let dir = tempfile::tempdir().unwrap();
    let openssl = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .status()
            .expect("openssl must be on PATH for this test");
        assert!(status.success(), "openssl {args:?}: {status}");
    };
    std::fs::write(dir.path().join("message"), MESSAGE).unwrap();
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "key.pem",
    ]);
    openssl(&["pkey", "-in", "key.pem", "-pubout", "-out", "key.pub"]);
    let key = PublicKey::from_pem(&std::fs::read(dir.path().join("key.pub")).unwrap()).unwrap();
    for salt in ["digest", "max"] {
        let salt_option = format!("rsa_pss_saltlen:{salt}");
        openssl(&[
            "dgst",
            "-sha256",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            &salt_option,
            "-sign",
            "key.pem",
            "-out",
            "signature",
            "message",
        ]);
        let signature = std::fs::read(dir.path().join("signature")).unwrap();
        key.verify(MESSAGE, &signature, HashFunc::SHA256)
            .unwrap_or_else(|err| panic!("salt length {salt}: {err}"));
        assert!(matches!(
            key.verify(MESSAGE, &signature, HashFunc::SHA384),
            Err(KeyError::BadSignature)
        ));
        assert!(matches!(
            key.verify(&b"tampered"[..], &signature, HashFunc::SHA256),
            Err(KeyError::BadSignature)
        ));
    }
}

#[test]
fn other_key_types_are_named_and_refused_for_verification() {
    let ed25519 = PublicKey::from_pem(&data("ed25519.pub.pem")).unwrap();
    assert_eq!(ed25519.algorithm(), &KeyAlgorithm::Ed25519);
    assert!(matches!(
        ed25519.verify(MESSAGE, &[0; 64], HashFunc::SHA256),
        Err(KeyError::UnsupportedAlgorithm(KeyAlgorithm::Ed25519))
    ));

    let k256 = PublicKey::from_pem(&data("secp256k1.pub.pem")).unwrap();
    assert_eq!(
        k256.algorithm(),
        &KeyAlgorithm::Unknown {
            oid: "1.3.132.0.10".into()
        }
    );
}

#[test]
fn malformed_keys_are_errors_not_panics() {
    let good = p256_public_key().to_pem();
    let cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"not a pem".to_vec(),
        vec![0xff, 0xfe, 0x00],
        good.replace("PUBLIC KEY", "PRIVATE KEY").into_bytes(),
        good.replace('M', "A").into_bytes(),
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into(),
    ];
    for pem in cases {
        assert!(
            PublicKey::from_pem(&pem).is_err(),
            "{:?}",
            String::from_utf8_lossy(&pem)
        );
    }
    // A valid SPKI structure whose point is not on the curve.
    let mut der = p256_public_key().to_der().to_vec();
    let last = der.len() - 1;
    der[last] ^= 1;
    assert!(matches!(
        PublicKey::from_der(&der),
        Err(KeyError::Invalid(_))
    ));
}
