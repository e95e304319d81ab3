//! A plugin that is a batch file, found through `PATHEXT` and run through
//! `cmd.exe` as cosign runs it: the key reference reaches the plugin intact
//! whatever `cmd.exe` would make of it (`%`, `&`, `^`, `"`, spaces).
//!
//! Windows only: `PATHEXT` and batch files exist nowhere else.
#![cfg(windows)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BLOB: &[u8] = b"release artifact contents\n";

fn cli() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sigstore-kms"))
}

fn localkms() -> PathBuf {
    let path = cli().with_file_name("sigstore-kms-localkms.exe");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p sigstore-kms-localkms` first",
        path.display()
    );
    path
}

/// A directory holding `sigstore-kms-wrapped.cmd`, which runs localkms with
/// its own arguments, as wrappers around real plugins do.
fn batch_plugin_dir(root: &Path) -> PathBuf {
    let dir = root.join("plugins");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("sigstore-kms-wrapped.cmd"),
        format!("@\"{}\" %*\r\n", localkms().display()),
    )
    .unwrap();
    dir
}

fn run(cwd: &Path, plugins: &Path, args: &[&str]) -> Output {
    Command::new(cli())
        .args(args)
        .current_dir(cwd)
        .env("PATH", plugins)
        .env_remove("PATHEXT")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_cmd_plugin_is_found_and_gets_a_key_reference_cmd_would_mangle() {
    let root = tempfile::tempdir().unwrap();
    let plugins = batch_plugin_dir(root.path());
    let keys = root.path().join("keys %PATH% & ^x");
    std::fs::create_dir(&keys).unwrap();
    let key = keys.join("k %OS%&^ \"y.pem");
    let key_ref = format!("wrapped://{}", key.display());
    std::fs::write(root.path().join("blob.txt"), BLOB).unwrap();

    // `"` cannot be in a Windows file name: the plugin's error names the
    // path it was given, which must be the one in the key reference.
    let out = run(root.path(), &plugins, &["public-key", "--key", &key_ref]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&key.display().to_string()),
        "the plugin did not get {key_ref:?}: {}",
        stderr(&out)
    );

    let key = keys.join("k %OS%&^ y.pem");
    let key_ref = format!("wrapped://{}", key.display());
    let out = run(
        root.path(),
        &plugins,
        &["generate-key-pair", "--kms", &key_ref],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(key.is_file(), "the key is not at {}", key.display());

    let out = run(
        root.path(),
        &plugins,
        &["sign-blob", "--key", &key_ref, "blob.txt"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(root.path().join("blob.sig"), &out.stdout).unwrap();
    for key in [key_ref.as_str(), "cosign.pub"] {
        let verify = [
            "verify-blob",
            "--key",
            key,
            "--signature",
            "blob.sig",
            "blob.txt",
        ];
        let out = run(root.path(), &plugins, &verify);
        assert!(out.status.success(), "{key}: {}", stderr(&out));
    }
}

#[test]
fn plugin_list_shows_a_cmd_plugin_as_executable() {
    let root = tempfile::tempdir().unwrap();
    let plugins = batch_plugin_dir(root.path());
    std::fs::write(plugins.join("sigstore-kms-wrapped.d"), "").unwrap();
    let out = run(root.path(), &plugins, &["plugin", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let listed = plugins
        .join("sigstore-kms-wrapped.cmd")
        .display()
        .to_string();
    assert!(stdout.contains(&listed), "{stdout}");
    assert!(!stdout.contains("warning"), "{stdout}");
    assert!(!stdout.contains(".d"), "{stdout}");
}
