//! Key files: creation (mode, atomicity, races), keys made by OpenSSL and
//! p256, and every kind of unusable file.

mod support;

use std::path::Path;
use std::sync::{Arc, Barrier};

use p256::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _, LineEnding};
use sigstore_kms_protocol::{
    CreateKeyArgs, HashFunc, InitOptions, MethodArgs, MethodName, MethodResp, PluginArgs,
    PublicKeyArgs, RpcOptions,
};
use support::{create_key, run, run_json, secret_lines};

fn public_key(dir: &Path, key_ref: &str) -> Result<String, String> {
    let call = run(
        dir,
        key_ref,
        MethodArgs::PublicKey(PublicKeyArgs::new(RpcOptions::go_defaults())),
        b"",
    );
    match call.reply(MethodName::PublicKey) {
        sigstore_kms_protocol::PluginResp::Success(MethodResp::PublicKey(key)) => {
            Ok(String::from_utf8(key.public_key_pem).unwrap())
        }
        sigstore_kms_protocol::PluginResp::Error(message) => Err(message),
        other => panic!("{other:?}"),
    }
}

/// The public key PEM of the private key in `path`, computed with p256.
fn expected_public_pem(path: &Path) -> String {
    let key = p256::SecretKey::from_pkcs8_pem(&std::fs::read_to_string(path).unwrap()).unwrap();
    key.public_key().to_public_key_pem(LineEnding::LF).unwrap()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn created_key_is_pkcs8_pem_mode_0600_and_matches_its_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let public_pem = create_key(dir.path(), "key.pem");
    let path = dir.path().join("key.pem");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert_eq!(public_pem, expected_public_pem(&path));
    assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary files left"
    );
    assert_eq!(public_key(dir.path(), "key.pem").unwrap(), public_pem);
}

#[test]
fn absolute_and_relative_references_name_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    let relative = create_key(dir.path(), "keys/k.pem");
    let absolute = dir.path().join("keys/k.pem");
    let elsewhere = tempfile::tempdir().unwrap();
    assert_eq!(
        public_key(elsewhere.path(), absolute.to_str().unwrap()).unwrap(),
        relative
    );
}

/// `localkms:///C:/keys/k.pem` (the `///absolute` form), `localkms://C:/keys/k.pem`
/// and `localkms://C:\keys\k.pem` name one file. Windows only: a Unix path has no
/// drive (both systems' rules are unit-tested in `src/keyfile.rs`).
#[cfg(windows)]
#[test]
fn references_with_a_drive_name_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let native = dir.path().join("k.pem").to_str().unwrap().to_owned();
    assert_eq!(native.as_bytes()[1], b':', "a path with a drive: {native}");
    let forward = native.replace('\\', "/");
    let created = create_key(dir.path(), &format!("/{forward}"));
    let elsewhere = tempfile::tempdir().unwrap();
    for reference in [format!("/{forward}"), forward, native] {
        assert_eq!(
            public_key(elsewhere.path(), &reference).as_deref(),
            Ok(created.as_str()),
            "{reference}"
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn create_key_never_replaces_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.pem");
    support::write_private(&path, "not a key\n");
    let call = run(
        dir.path(),
        "key.pem",
        MethodArgs::CreateKey(sigstore_kms_protocol::CreateKeyArgs::new(
            support::ALGORITHM,
            None,
        )),
        b"",
    );
    let message = call.error(MethodName::CreateKey);
    assert!(message.contains("is not a PEM file"), "{message}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a key\n");
}

#[test]
fn concurrent_creators_all_return_the_one_key() {
    const RACERS: usize = 24;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let start = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|_| {
            let dir = Arc::clone(&dir);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let json = PluginArgs::new(
                    InitOptions::new("raced.pem", HashFunc::SHA256),
                    MethodArgs::CreateKey(CreateKeyArgs::new(support::ALGORITHM, None)),
                )
                .to_json()
                .unwrap();
                start.wait();
                let debug = [("SIGSTORE_KMS_LOCALKMS_DEBUG", "1")];
                let call = run_json(dir.path(), &json, b"", &debug);
                match call.success(MethodName::CreateKey) {
                    MethodResp::CreateKey(created) => (
                        String::from_utf8(created.public_key_pem).unwrap(),
                        call.stderr().contains(": created "),
                    ),
                    other => panic!("{other:?}"),
                }
            })
        })
        .collect();
    let results: Vec<(String, bool)> = racers
        .into_iter()
        .map(|racer| racer.join().unwrap())
        .collect();
    let path = dir.path().join("raced.pem");
    let winner = expected_public_pem(&path);
    for (key, _) in &results {
        assert_eq!(key, &winner, "every racer returns the key on disk");
    }
    let creators = results.iter().filter(|(_, created)| *created).count();
    assert_eq!(creators, 1, "exactly one racer wrote the key");
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["raced.pem"], "no temporary files left");
}

#[test]
fn reads_sec1_keys_written_by_p256() {
    let dir = tempfile::tempdir().unwrap();
    let key = p256::SecretKey::from_slice(&[0x11; 32]).unwrap();
    let sec1 = key.to_sec1_pem(LineEnding::LF).unwrap();
    support::write_private(&dir.path().join("sec1.pem"), sec1.as_bytes());
    assert_eq!(
        public_key(dir.path(), "sec1.pem").unwrap(),
        key.public_key().to_public_key_pem(LineEnding::LF).unwrap()
    );
}

#[test]
fn reads_keys_written_by_openssl() {
    if !support::openssl_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    support::openssl(
        path,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "pkcs8.pem",
        ],
    );
    support::openssl(
        path,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-out",
            "sec1.pem",
        ],
    );
    for (file, public) in [("pkcs8.pem", "pkcs8.pub"), ("sec1.pem", "sec1.pub")] {
        support::openssl(path, &["pkey", "-in", file, "-pubout", "-out", public]);
        let openssl_public = std::fs::read_to_string(path.join(public)).unwrap();
        assert_eq!(public_key(path, file).unwrap(), openssl_public, "{file}");
        // createKey on an existing key returns it and leaves it alone.
        let before = std::fs::read(path.join(file)).unwrap();
        assert_eq!(create_key(path, file), openssl_public);
        assert_eq!(std::fs::read(path.join(file)).unwrap(), before);
    }
}

#[test]
fn keys_of_other_types_are_refused_without_showing_them() {
    if !support::openssl_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    support::openssl(
        path,
        &[
            "ecparam",
            "-name",
            "secp384r1",
            "-genkey",
            "-out",
            "p384-sec1.pem",
        ],
    );
    support::openssl(
        path,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            "p384.pem",
        ],
    );
    support::openssl(
        path,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
            "rsa.pem",
        ],
    );
    support::openssl(
        path,
        &["genpkey", "-algorithm", "ED25519", "-out", "ed25519.pem"],
    );
    for (file, expected) in [
        (
            "p384-sec1.pem",
            "holds an EC key on P-384; localkms only uses ECDSA P-256 keys",
        ),
        (
            "p384.pem",
            "holds an EC key on P-384; localkms only uses ECDSA P-256 keys",
        ),
        (
            "rsa.pem",
            "holds an RSA key; localkms only uses ECDSA P-256 keys",
        ),
        (
            "ed25519.pem",
            "holds an Ed25519 key; localkms only uses ECDSA P-256 keys",
        ),
    ] {
        let json = sigstore_kms_protocol::PluginArgs::new(
            sigstore_kms_protocol::InitOptions::new(file, HashFunc::SHA256),
            support::sign_args(None, None),
        )
        .to_json()
        .unwrap();
        let call = run_json(
            path,
            &json,
            b"message",
            &[("SIGSTORE_KMS_LOCALKMS_DEBUG", "1")],
        );
        let message = call.error(MethodName::SignMessage);
        assert_eq!(message, format!("key file {file} {expected}"));
        let secret = std::fs::read_to_string(path.join(file)).unwrap();
        for line in secret_lines(&secret) {
            assert!(
                !call.stdout().contains(&line),
                "{file}: key material in the reply"
            );
            assert!(
                !call.stderr().contains(&line),
                "{file}: key material on stderr"
            );
        }
    }
}

#[test]
fn unusable_files_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let good = p256::SecretKey::from_slice(&[0x22; 32]).unwrap();
    let public_pem = good.public_key().to_public_key_pem(LineEnding::LF).unwrap();
    support::write_private(&path.join("public.pem"), &public_pem);
    support::write_private(&path.join("text.pem"), "hello\n");
    support::write_private(&path.join("binary.pem"), [0xff, 0xfe, 0x00, 0x01]);
    support::write_private(
        &path.join("cert.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    support::write_private(
        &path.join("broken.pem"),
        "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n",
    );
    support::write_private(
        &path.join("truncated.pem"),
        "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n",
    );
    support::write_private(&path.join("huge.pem"), vec![b'A'; 200 * 1024]);
    std::fs::create_dir(path.join("dir.pem")).unwrap();
    let cases: &[(&str, &str)] = &[
        ("missing.pem", "key file missing.pem does not exist"),
        (
            "public.pem",
            "key file public.pem holds a public key, not a private key",
        ),
        (
            "text.pem",
            "key file text.pem is not a PEM file with a private key",
        ),
        (
            "binary.pem",
            "key file binary.pem is not a PEM file with a private key",
        ),
        (
            "cert.pem",
            "key file cert.pem holds a \"CERTIFICATE\" PEM block",
        ),
        (
            "broken.pem",
            "key file broken.pem holds a malformed \"PRIVATE KEY\" block",
        ),
        (
            "truncated.pem",
            "key file truncated.pem is not a PEM file with a private key",
        ),
        ("huge.pem", "key file huge.pem is larger than 65536 bytes"),
        ("dir.pem", "cannot read key file dir.pem"),
        ("", "empty key reference"),
    ];
    for (file, expected) in cases {
        let message = public_key(path, file).unwrap_err();
        assert!(message.starts_with(expected), "{file}: {message}");
    }
}

#[test]
fn create_key_in_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let call = run(
        dir.path(),
        "no/such/dir/key.pem",
        MethodArgs::CreateKey(sigstore_kms_protocol::CreateKeyArgs::new(
            support::ALGORITHM,
            None,
        )),
        b"",
    );
    let message = call.error(MethodName::CreateKey);
    assert!(
        message.starts_with("cannot create key file no/such/dir/key.pem: "),
        "{message}"
    );
}
