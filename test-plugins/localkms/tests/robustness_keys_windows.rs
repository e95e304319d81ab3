//! Key files under hostile conditions, Windows: a key others can reach
//! through its access control list, and directories and missing
//! directories at the key path.
//!
//! Windows only: `robustness_keys.rs` has the Unix counterparts (modes,
//! owners, symbolic links, read-only directories).
#![cfg(windows)]

mod support;

use std::process::Command;

use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use sigstore_kms_protocol::{MethodName, PluginResp};
use support::{
    create, errors_of_every_key_method, every_key_method_refuses, public, public_pem_of, tree,
};

/// The commands between backticks in `message`, split into arguments as
/// Windows does (double quotes group, and are dropped).
fn commands_in(message: &str) -> Vec<Vec<String>> {
    message
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|command| {
            let mut args = vec![String::new()];
            let mut quoted = false;
            for c in command.chars() {
                match c {
                    '"' => quoted = !quoted,
                    ' ' if !quoted => args.push(String::new()),
                    c => args.last_mut().unwrap().push(c),
                }
            }
            args
        })
        .collect()
}

/// Everyone gets read access with `icacls`, on top of what the file
/// inherits. Under Wine, `icacls` does nothing, but the file is open to
/// Everyone all the same: Wine derives a file's DACL from its Unix mode,
/// 0644 for a file std creates. The fix the message names is then run:
/// on Windows the key works afterwards; Wine's `icacls` cannot apply it,
/// which the test says.
#[test]
fn a_key_open_to_everyone_is_refused_by_every_method_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.pem");
    let key = p256::SecretKey::from_slice(&[0x52; 32]).unwrap();
    let private = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let expected = key.public_key().to_public_key_pem(LineEnding::LF).unwrap();
    std::fs::write(&path, &private).unwrap();
    let granted = Command::new("icacls")
        .current_dir(dir.path())
        .args(["key.pem", "/grant", "*S-1-1-0:R"])
        .output()
        .unwrap();
    assert!(granted.status.success(), "{granted:?}");

    let messages = errors_of_every_key_method(dir.path(), "key.pem");
    for message in &messages {
        assert!(
            message.starts_with(
                "key file key.pem is accessible by other accounts (S-1-1-0), so it is not used"
            ),
            "{message}"
        );
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), private);

    let fix = commands_in(&messages[0]);
    assert_eq!(fix.len(), 2, "{}", messages[0]);
    for command in &fix {
        assert_eq!(command[0], "icacls");
        let status = Command::new(&command[0])
            .current_dir(dir.path())
            .args(&command[1..])
            .status()
            .unwrap();
        assert!(status.success(), "{command:?}");
    }
    let call = public(dir.path(), "key.pem");
    if let PluginResp::Error(message) = call.reply(MethodName::PublicKey) {
        assert!(under_wine(), "the fix did not work: {message}");
        eprintln!("not checked under Wine: its icacls changes no access control list");
        return;
    }
    assert_eq!(public_pem_of(&call, MethodName::PublicKey), expected);
    assert_eq!(call.stderr(), "", "the fixed key draws no warning");
}

/// Wine keeps its own settings under `HKCU\Software\Wine`; Windows has no
/// such key. Only asked when a step Wine cannot do has failed.
fn under_wine() -> bool {
    let mut probe = Command::new("reg");
    probe.args(["query", r"HKCU\Software\Wine"]);
    probe.output().is_ok_and(|output| output.status.success())
}

#[test]
fn a_directory_at_the_key_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("key.pem")).unwrap();
    every_key_method_refuses(dir.path(), &["key.pem", r"key.pem\"], "it is a directory");
}

#[test]
fn a_key_path_in_a_missing_directory_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let before = tree(dir.path());
    for (key_ref, missing) in [
        ("missing/sub/key.pem", "missing/sub"),
        (r"missing\sub\key.pem", r"missing\sub"),
    ] {
        assert_eq!(
            create(dir.path(), key_ref).error(MethodName::CreateKey),
            format!("cannot create key file {key_ref}: directory {missing} does not exist")
        );
        let message = public(dir.path(), key_ref).error(MethodName::PublicKey);
        assert!(message.contains(key_ref), "{key_ref}: {message}");
    }
    assert_eq!(tree(dir.path()), before);
}
