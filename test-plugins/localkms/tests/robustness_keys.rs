//! Key files under hostile conditions: keys open to group and others,
//! symbolic links, directories and missing or read-only directories at the
//! key path, and a sweep of every method over every kind of key file with
//! diagnostics and faults on, none of which may ever show the private key.
// Unix only: modes, symbolic links, sticky directories and file owners are
// what these tests are about. Windows keeps a key private with an ACL
// instead, which these tests do not cover.
#![cfg(unix)]

mod support;

use std::os::unix::fs::{symlink, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use sigstore_kms_protocol::{
    CreateKeyArgs, DefaultAlgorithmArgs, HashFunc, InitOptions, MethodArgs, MethodName, MethodResp,
    PluginArgs, PublicKeyArgs, RpcOptions,
};
use support::{
    digest, p256_verifies, run, run_json, secret_lines, sign_args, signature_of, verify_args, Call,
    ALGORITHM, PLUGIN, PRIVATE_KEY_MARKER,
};

const MESSAGE: &[u8] = b"robust message";

/// A P-256 key from a fixed scalar: its PKCS#8 PEM and its public PEM.
fn p256_key(byte: u8) -> (String, String) {
    let key = p256::SecretKey::from_slice(&[byte; 32]).unwrap();
    let private = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let public = key.public_key().to_public_key_pem(LineEnding::LF).unwrap();
    (private, public)
}

fn write_mode(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every entry under `dir`, recursively, links not followed: what must stay
/// the same when a call fails.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        out.push(path.clone());
        if metadata.is_dir() {
            out.extend(tree(&path));
        }
    }
    out.sort();
    out
}

fn create(dir: &Path, key_ref: &str) -> Call {
    run(
        dir,
        key_ref,
        MethodArgs::CreateKey(CreateKeyArgs::new(ALGORITHM, None)),
        b"",
    )
}

fn public(dir: &Path, key_ref: &str) -> Call {
    run(
        dir,
        key_ref,
        MethodArgs::PublicKey(PublicKeyArgs::new(RpcOptions::go_defaults())),
        b"",
    )
}

fn sign(dir: &Path, key_ref: &str) -> Call {
    run(dir, key_ref, sign_args(None, None), MESSAGE)
}

fn public_pem_of(call: &Call, method: MethodName) -> String {
    let pem = match call.success(method) {
        MethodResp::CreateKey(key) => key.public_key_pem,
        MethodResp::PublicKey(key) => key.public_key_pem,
        other => panic!("{other:?}"),
    };
    String::from_utf8(pem).unwrap()
}

fn verify(dir: &Path, key_ref: &str) -> Call {
    run(
        dir,
        key_ref,
        verify_args(vec![0x30, 0x06, 2, 1, 1, 2, 1, 1], None, None),
        MESSAGE,
    )
}

/// The error of every method that uses the key, createKey included.
fn errors_of_every_key_method(dir: &Path, key_ref: &str) -> Vec<String> {
    vec![
        create(dir, key_ref).error(MethodName::CreateKey),
        public(dir, key_ref).error(MethodName::PublicKey),
        sign(dir, key_ref).error(MethodName::SignMessage),
        verify(dir, key_ref).error(MethodName::VerifySignature),
    ]
}

/// As OpenSSH refuses such private keys: a key others can read may be
/// known, one others can write may have been replaced by theirs.
#[test]
fn a_key_open_to_group_or_others_is_refused_by_every_method_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.pem");
    let (private, expected) = p256_key(0x51);
    for open_mode in [0o644, 0o640, 0o604, 0o660, 0o666, 0o620, 0o602] {
        write_mode(&path, &private, open_mode);
        for message in errors_of_every_key_method(dir.path(), "key.pem") {
            assert!(
                message.starts_with(&format!(
                    "key file key.pem is accessible by group or others (mode {open_mode:o}), so it is not used"
                )),
                "{message}"
            );
            assert!(message.contains("`chmod 600 key.pem`"), "{message}");
        }
        assert_eq!(mode(&path), open_mode, "the plugin leaves the mode alone");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), private);
    }

    for private_mode in [0o600, 0o400] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(private_mode)).unwrap();
        let call = public(dir.path(), "key.pem");
        assert_eq!(public_pem_of(&call, MethodName::PublicKey), expected);
        assert_eq!(call.stderr(), "", "mode {private_mode:o} draws no warning");
        let created = create(dir.path(), "key.pem");
        assert_eq!(public_pem_of(&created, MethodName::CreateKey), expected);
        let signature = signature_of(&sign(dir.path(), "key.pem"));
        let hashed = digest(HashFunc::SHA256, MESSAGE);
        assert!(p256_verifies(&expected, &hashed, &signature));
    }
}

/// The attack: another user plants their key, mode 0600 so no permission
/// check trips, at the victim's key path in a shared directory. createKey
/// must not adopt it, and nothing may sign with it. Giving a file to
/// another user takes root; elsewhere the test says why it did nothing.
#[test]
fn a_key_planted_by_another_user_is_refused_and_never_adopted() {
    let dir = tempfile::tempdir().unwrap();
    // A new file belongs to the user who made it.
    if std::fs::metadata(dir.path()).unwrap().uid() != 0 {
        eprintln!("skipped: only root can make a file owned by another user");
        return;
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let path = dir.path().join("victim.pem");
    let (planted, _) = p256_key(0x66);
    write_mode(&path, &planted, 0o600);
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    symlink("victim.pem", dir.path().join("link.pem")).unwrap();
    let before = tree(dir.path());

    for key_ref in ["victim.pem", "link.pem"] {
        for message in errors_of_every_key_method(dir.path(), key_ref) {
            assert!(
                message.starts_with(&format!(
                    "key file {key_ref} is owned by user id 65534, not by the user running this plugin (user id 0)"
                )),
                "{message}"
            );
            assert!(
                message.contains(&format!("`chown 0 {key_ref}`")),
                "{message}"
            );
        }
    }
    assert_eq!(tree(dir.path()), before, "nothing created or replaced");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), planted);
}

#[test]
fn keys_localkms_creates_draw_no_warning() {
    let dir = tempfile::tempdir().unwrap();
    let created = create(dir.path(), "key.pem");
    let key = public_pem_of(&created, MethodName::CreateKey);
    assert_eq!(created.stderr(), "");
    let again = create(dir.path(), "key.pem");
    assert_eq!(public_pem_of(&again, MethodName::CreateKey), key);
    assert_eq!(again.stderr(), "");
}

#[test]
fn a_symlink_to_a_key_is_read_through_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    let (private, expected) = p256_key(0x52);
    write_mode(&dir.path().join("real/key.pem"), &private, 0o600);
    symlink("real/key.pem", dir.path().join("link.pem")).unwrap();
    let before = tree(dir.path());

    let call = public(dir.path(), "link.pem");
    assert_eq!(public_pem_of(&call, MethodName::PublicKey), expected);
    let created = create(dir.path(), "link.pem");
    assert_eq!(public_pem_of(&created, MethodName::CreateKey), expected);

    assert_eq!(tree(dir.path()), before);
    assert_eq!(
        std::fs::read_link(dir.path().join("link.pem")).unwrap(),
        Path::new("real/key.pem")
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("real/key.pem")).unwrap(),
        private
    );
}

#[test]
fn a_dangling_symlink_is_refused_and_nothing_is_written_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().join("planted.pem");
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    symlink("keys/missing.pem", dir.path().join("inside.pem")).unwrap();
    symlink(&outside, dir.path().join("outside.pem")).unwrap();
    let before = tree(dir.path());

    for (link, target) in [
        ("inside.pem", PathBuf::from("keys/missing.pem")),
        ("outside.pem", outside.clone()),
    ] {
        let expected = format!(
            "key file {link} is a symbolic link to {}, which does not exist; remove the link",
            target.display()
        );
        let message = create(dir.path(), link).error(MethodName::CreateKey);
        assert!(message.starts_with(&expected), "{message}");
        let message = public(dir.path(), link).error(MethodName::PublicKey);
        assert!(message.starts_with(&expected), "{message}");
        let message = sign(dir.path(), link).error(MethodName::SignMessage);
        assert!(message.starts_with(&expected), "{message}");
    }
    assert_eq!(tree(dir.path()), before, "nothing created beside the links");
    assert!(tree(elsewhere.path()).is_empty(), "nothing created outside");
}

#[test]
fn a_symlink_loop_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    symlink("b.pem", dir.path().join("a.pem")).unwrap();
    symlink("a.pem", dir.path().join("b.pem")).unwrap();
    let before = tree(dir.path());
    let message = create(dir.path(), "a.pem").error(MethodName::CreateKey);
    assert!(
        message.starts_with("cannot read key file a.pem: "),
        "{message}"
    );
    assert_eq!(tree(dir.path()), before);
}

#[test]
fn a_directory_at_the_key_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("key.pem")).unwrap();
    symlink("key.pem", dir.path().join("dirlink.pem")).unwrap();
    let before = tree(dir.path());
    for key_ref in ["key.pem", "key.pem/", "dirlink.pem"] {
        let expected = format!("cannot read key file {key_ref}: ");
        for message in [
            create(dir.path(), key_ref).error(MethodName::CreateKey),
            public(dir.path(), key_ref).error(MethodName::PublicKey),
            sign(dir.path(), key_ref).error(MethodName::SignMessage),
        ] {
            assert!(message.starts_with(&expected), "{key_ref}: {message}");
        }
    }
    assert_eq!(tree(dir.path()), before, "nothing written in or beside it");
}

#[test]
fn a_key_path_in_a_missing_directory_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file.pem"), "a file, not a directory\n").unwrap();
    let before = tree(dir.path());
    for key_ref in ["missing/sub/key.pem", "file.pem/key.pem", "newdir/"] {
        let message = create(dir.path(), key_ref).error(MethodName::CreateKey);
        let clear = [
            format!("cannot create key file {key_ref}: "),
            format!("cannot read key file {key_ref}: "),
        ];
        assert!(
            clear.iter().any(|start| message.starts_with(start)),
            "{key_ref}: {message}"
        );
        let message = public(dir.path(), key_ref).error(MethodName::PublicKey);
        assert!(message.contains(key_ref), "{key_ref}: {message}");
    }
    let message = create(dir.path(), "missing/sub/key.pem").error(MethodName::CreateKey);
    assert_eq!(
        message,
        "cannot create key file missing/sub/key.pem: directory missing/sub does not exist"
    );
    assert_eq!(tree(dir.path()), before);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("file.pem")).unwrap(),
        "a file, not a directory\n"
    );
}

/// createKey in a directory the plugin may not write to. Permission bits
/// do not bind a privileged user (root), so when this process can write
/// there anyway, the plugin runs as `nobody`.
#[test]
fn a_read_only_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let read_only = dir.path().join("ro");
    std::fs::create_dir(&read_only).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o555)).unwrap();

    let json = PluginArgs::new(
        InitOptions::new("ro/key.pem", HashFunc::SHA256),
        MethodArgs::CreateKey(CreateKeyArgs::new(ALGORITHM, None)),
    )
    .to_json()
    .unwrap();
    let mut command = Command::new(PLUGIN);
    command
        .args(["v1", &json])
        .current_dir(dir.path())
        .env_remove("SIGSTORE_KMS_LOCALKMS_DEBUG")
        .env_remove("SIGSTORE_KMS_LOCALKMS_FAIL")
        .stdin(Stdio::null());
    let probe = read_only.join("probe");
    if std::fs::write(&probe, "").is_ok() {
        std::fs::remove_file(&probe).unwrap();
        use std::os::unix::process::CommandExt as _;
        command.uid(65534).gid(65534);
    }
    let call = Call {
        output: command.output().expect("start the plugin"),
    };
    call.assert_no_private_key();
    let message = call.error(MethodName::CreateKey);
    assert!(
        message == "cannot create key file ro/key.pem: no permission to write in directory ro",
        "{message}"
    );
    assert!(tree(&read_only).is_empty(), "nothing left in the directory");
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Every method, over every kind of key file, with diagnostics on and with
/// each fault that still runs the method: no output shows the private key,
/// neither its PEM boundary nor any line of its body.
#[test]
fn no_output_on_any_path_shows_the_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let (pkcs8, _) = p256_key(0x61);
    let sec1 = p256::SecretKey::from_slice(&[0x62; 32])
        .unwrap()
        .to_sec1_pem(LineEnding::LF)
        .unwrap()
        .to_string();
    let (third, _) = p256_key(0x63);
    let with_parameters = format!(
        "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{third}trailing text\n"
    );
    let (other, _) = p256_key(0x64);
    let truncated: String = other.lines().take(3).collect::<Vec<_>>().join("\n");
    let (another, _) = p256_key(0x65);
    let mislabelled = another.replace("PRIVATE KEY", "SECRET THING");
    let (exposed, _) = p256_key(0x67);
    let files = [
        ("pkcs8.pem", pkcs8, 0o600),
        ("sec1.pem", sec1, 0o600),
        ("parameters.pem", with_parameters, 0o600),
        ("truncated.pem", truncated, 0o600),
        ("mislabelled.pem", mislabelled, 0o600),
        ("exposed.pem", exposed, 0o644),
    ];
    let mut secrets = Vec::new();
    for (name, text, file_mode) in &files {
        write_mode(&path.join(name), text, *file_mode);
        secrets.extend(secret_lines(text));
    }
    assert!(secrets.len() >= 10);
    let key_refs = files
        .iter()
        .map(|(name, _, _)| *name)
        .chain(["fresh.pem", "missing/key.pem"]);

    let environments: [&[(&str, &str)]; 5] = [
        &[],
        &[("SIGSTORE_KMS_LOCALKMS_DEBUG", "1")],
        &[
            ("SIGSTORE_KMS_LOCALKMS_DEBUG", "1"),
            ("SIGSTORE_KMS_LOCALKMS_FAIL", "noise"),
        ],
        &[("SIGSTORE_KMS_LOCALKMS_FAIL", "panic")],
        &[("SIGSTORE_KMS_LOCALKMS_FAIL", "error")],
    ];
    let hashed = digest(HashFunc::SHA256, MESSAGE);
    let mut calls = 0;
    for key_ref in key_refs {
        for env in environments {
            let methods = [
                (
                    MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs {}),
                    &b""[..],
                ),
                (
                    MethodArgs::CreateKey(CreateKeyArgs::new(ALGORITHM, None)),
                    b"",
                ),
                (
                    MethodArgs::PublicKey(PublicKeyArgs::new(RpcOptions::go_defaults())),
                    b"",
                ),
                (sign_args(None, None), MESSAGE),
                (sign_args(Some(hashed.clone()), None), b""),
                (
                    verify_args(vec![0x30, 0x06, 2, 1, 1, 2, 1, 1], None, None),
                    MESSAGE,
                ),
            ];
            for (method, stdin) in methods {
                let json = PluginArgs::new(InitOptions::new(key_ref, HashFunc::SHA256), method)
                    .to_json()
                    .unwrap();
                let call = run_json(path, &json, stdin, env);
                calls += 1;
                let (stdout, stderr) = (call.stdout(), call.stderr());
                for text in [&stdout, &stderr] {
                    assert!(
                        !text.contains(PRIVATE_KEY_MARKER),
                        "{key_ref} {env:?}: {text}"
                    );
                    for line in &secrets {
                        assert!(!text.contains(line.as_str()), "{key_ref} {env:?}: {text}");
                    }
                }
            }
        }
    }
    assert_eq!(calls, 8 * 5 * 6);
}
