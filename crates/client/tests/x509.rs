//! A plugin key signs an X.509 certificate and a certificate request through
//! x509-cert's builders, and OpenSSL accepts both. The plugin is a script
//! that signs with `openssl pkeyutl`, so every key type a plugin may serve
//! is covered without a token or a KMS.
#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use common::Plugins;
use signature::{Keypair, Signer};
use sigstore_kms_client::{
    Client, Error, KeyAlgorithm, KeyError, KeyType, PluginSigner, RsaPkcs1v15,
    SignatureMismatchError,
};
use spki::{DynSignatureAlgorithmIdentifier, EncodePublicKey, SubjectPublicKeyInfo};
use x509_cert::builder::{profile, Builder, CertificateBuilder, RequestBuilder};
use x509_cert::der::pem::LineEnding;
use x509_cert::der::EncodePem;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

/// A plugin serving a key that `openssl genpkey` makes with `genpkey`:
/// publicKey answers its public half, signMessage signs the digest it is
/// given with the hash function it is given.
fn openssl_plugin(plugins: &Plugins, genpkey: &[&str]) -> Client {
    let dir = plugins.dir.path();
    openssl(
        dir,
        &[&["genpkey", "-out", "key.pem"][..], genpkey].concat(),
    );
    openssl(
        dir,
        &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"],
    );
    plugins.script_client(&format!(
        r#"cd '{dir}' || exit 1
case "$2" in
  *'"methodName":"publicKey"'*)
    printf '{{"publicKey":{{"publicKeyPEM":"%s"}}}}' "$(base64 -w0 pub.pem)" ;;
  *'"methodName":"signMessage"'*)
    case "$(printf '%s' "$2" | sed -n 's/.*"messageOptions":{{[^}}]*"hashFunc":\([0-9]*\).*/\1/p')" in
      5) hash=sha256 ;; 6) hash=sha384 ;; 7) hash=sha512 ;; *) hash=none ;;
    esac
    printf '%s' "$2" | sed -n 's/.*"digest":"\([^"]*\)".*/\1/p' | base64 -d > digest.bin
    signature=$(openssl pkeyutl -sign -inkey key.pem -in digest.bin -pkeyopt "digest:$hash" | base64 -w0)
    printf '{{"signMessage":{{"signature":"%s"}}}}' "$signature" ;;
  *) printf '{{"errorMessage":"unexpected call"}}' ;;
esac"#,
        dir = dir.display()
    ))
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "openssl {args:?}: {text}");
    text
}

/// Builds a self-signed root certificate and a certificate request with
/// `signer`, as a user would, and has OpenSSL verify both.
fn certificate_and_request_verify<K, S>(signer: &PluginSigner<K>, dir: &Path)
where
    K: KeyType,
    PluginSigner<K>: Signer<S> + Keypair<VerifyingKey = K::VerifyingKey>,
    PluginSigner<K>: DynSignatureAlgorithmIdentifier,
    K::VerifyingKey: EncodePublicKey,
    S: spki::SignatureBitStringEncoding,
{
    let subject = Name::from_str("CN=Release signing,O=Example,C=DE").unwrap();
    let spki = SubjectPublicKeyInfo::from_key(&signer.verifying_key()).unwrap();
    let cert = CertificateBuilder::new(
        profile::cabf::Root::new(false, subject.clone()).unwrap(),
        SerialNumber::from(42u32),
        Validity::from_now(Duration::from_secs(3600)).unwrap(),
        spki,
    )
    .unwrap()
    .build::<_, S>(signer)
    .unwrap();
    let csr = RequestBuilder::new(subject)
        .unwrap()
        .build::<_, S>(signer)
        .unwrap();

    std::fs::write(dir.join("cert.pem"), cert.to_pem(LineEnding::LF).unwrap()).unwrap();
    std::fs::write(dir.join("csr.pem"), csr.to_pem(LineEnding::LF).unwrap()).unwrap();
    let verified = openssl(
        dir,
        &[
            "verify",
            "-x509_strict",
            "-check_ss_sig",
            "-CAfile",
            "cert.pem",
            "cert.pem",
        ],
    );
    assert!(verified.contains("cert.pem: OK"), "{verified}");
    let verified = openssl(dir, &["req", "-verify", "-in", "csr.pem", "-noout"]);
    assert!(verified.contains("verify OK"), "{verified}");
    // The certificate holds the plugin's key, as the plugin reports it.
    let from_cert = openssl(dir, &["x509", "-in", "cert.pem", "-noout", "-pubkey"]);
    assert_eq!(from_cert, signer.public_key().to_pem());
}

#[test]
fn ecdsa_p256_certificate_and_request() {
    let plugins = Plugins::new();
    let client = openssl_plugin(
        &plugins,
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let signer = PluginSigner::<p256::NistP256>::new(client).unwrap();
    certificate_and_request_verify::<_, p256::ecdsa::DerSignature>(&signer, plugins.dir.path());
}

#[test]
fn ecdsa_p384_certificate_and_request() {
    let plugins = Plugins::new();
    let client = openssl_plugin(
        &plugins,
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    );
    let signer = PluginSigner::<p384::NistP384>::new(client).unwrap();
    certificate_and_request_verify::<_, p384::ecdsa::DerSignature>(&signer, plugins.dir.path());
}

#[test]
fn ecdsa_p521_certificate_and_request() {
    let plugins = Plugins::new();
    let client = openssl_plugin(
        &plugins,
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
    );
    let signer = PluginSigner::<p521::NistP521>::new(client).unwrap();
    certificate_and_request_verify::<_, p521::ecdsa::DerSignature>(&signer, plugins.dir.path());
}

#[test]
fn rsa_pkcs1v15_certificates_and_requests_with_each_digest() {
    let plugins = Plugins::new();
    let client = openssl_plugin(
        &plugins,
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
    let dir = plugins.dir.path();
    let signer = PluginSigner::<RsaPkcs1v15<sha2::Sha256>>::new(client.clone()).unwrap();
    certificate_and_request_verify::<_, rsa::pkcs1v15::Signature>(&signer, dir);
    let signature_algorithm = openssl(dir, &["x509", "-in", "cert.pem", "-noout", "-text"]);
    assert!(
        signature_algorithm.contains("sha256WithRSAEncryption"),
        "{signature_algorithm}"
    );

    let signer = PluginSigner::<RsaPkcs1v15<sha2::Sha384>>::new(client.clone()).unwrap();
    certificate_and_request_verify::<_, rsa::pkcs1v15::Signature>(&signer, dir);
    let signer = PluginSigner::<RsaPkcs1v15<sha2::Sha512>>::new(client).unwrap();
    certificate_and_request_verify::<_, rsa::pkcs1v15::Signature>(&signer, dir);
    let signature_algorithm = openssl(dir, &["x509", "-in", "cert.pem", "-noout", "-text"]);
    assert!(
        signature_algorithm.contains("sha512WithRSAEncryption"),
        "{signature_algorithm}"
    );
}

#[test]
fn a_signer_of_another_key_type_names_the_key_found_and_the_one_asked_for() {
    let plugins = Plugins::new();
    let client = openssl_plugin(
        &plugins,
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    );
    let err = PluginSigner::<p256::NistP256>::new(client.clone()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the key is ECDSA P-384, not the ECDSA P-256 key asked for"
    );
    let err = PluginSigner::<RsaPkcs1v15<sha2::Sha256>>::new(client).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Key(KeyError::WrongKeyType {
                found: KeyAlgorithm::EcdsaP384,
                expected: "RSA PKCS #1 v1.5 with SHA-256",
            })
        ),
        "{err:?}"
    );

    let plugins = Plugins::new();
    let client = openssl_plugin(
        &plugins,
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
    let err = PluginSigner::<p384::NistP384>::new(client).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the key is RSA 2048, not the ECDSA P-384 key asked for"
    );
}

/// The [`SignatureMismatchError`] behind a signer's error, if that is what
/// it is.
fn mismatch(err: &signature::Error) -> Option<&SignatureMismatchError> {
    std::error::Error::source(err)?.downcast_ref::<SignatureMismatchError>()
}

#[test]
fn a_signature_from_another_key_than_the_published_one_is_refused() {
    let curve = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
    let plugins = Plugins::new();
    let client = openssl_plugin(&plugins, &curve);
    let signer = PluginSigner::<p256::NistP256>::new(client).unwrap();
    let signature: p256::ecdsa::DerSignature = signer.try_sign(b"hello").unwrap();
    signature::Verifier::verify(&signer.verifying_key(), b"hello", &signature).unwrap();

    // The plugin now signs with another key than the one it published.
    let dir = plugins.dir.path();
    openssl(dir, &[&["genpkey", "-out", "key.pem"][..], &curve].concat());
    let err = Signer::<p256::ecdsa::DerSignature>::try_sign(&signer, b"hello").unwrap_err();
    let cause = mismatch(&err).unwrap_or_else(|| panic!("{err:?}"));
    assert!(
        cause
            .to_string()
            .contains("does not verify under the public key it published"),
        "{cause}"
    );
}

#[test]
fn a_one_byte_answer_for_an_rsa_key_is_no_signature() {
    let plugins = Plugins::new();
    let client = openssl_plugin(
        &plugins,
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
    let signer = PluginSigner::<RsaPkcs1v15<sha2::Sha256>>::new(client).unwrap();
    // From now on the plugin answers every signature with one byte.
    plugins.script(
        "sigstore-kms-test",
        r#"printf '{"signMessage":{"signature":"AQ=="}}'"#,
    );
    let err = signer.try_sign(b"hello").unwrap_err();
    assert!(mismatch(&err).is_some(), "{err:?}");
}
