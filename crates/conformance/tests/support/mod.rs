//! What the test targets of this package share: the key reference the
//! documented command passes to every one of them, and building the
//! plugins a self-test runs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The `--key-resource-id NAME://REF` among `args` (the program name
/// first), as `cargo test --features signer_program -- --key-resource-id
/// NAME://REF` passes it to every test target of this package.
pub fn key_reference(args: impl Iterator<Item = String>) -> Option<String> {
    let mut args = args.skip(1);
    while let Some(arg) = args.next() {
        if arg == "--key-resource-id" || arg == "-key-resource-id" {
            return args.next();
        }
        if let Some(value) = arg
            .strip_prefix("--key-resource-id=")
            .or_else(|| arg.strip_prefix("-key-resource-id="))
        {
            return Some(value.to_owned());
        }
    }
    None
}

/// Whether the command line names a plugin to test: the self-tests then
/// leave the run to that plugin's suite.
pub fn plugin_named() -> bool {
    key_reference(std::env::args()).is_some()
}

/// Builds the executable `name` (`target` selects it: `["-p", PACKAGE,
/// "--bin", NAME]`, `["--example", NAME]`) with the cargo and the profile
/// that built this test, into the same target directory, and returns its
/// path. A plugin built by hand is not needed, and a stale one is never
/// used.
pub fn build(target: &[&str], name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|err| format!("own path: {err}"))?;
    // Test binaries live in <target dir>/<profile>/deps.
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("no target directory above the test binary")?;
    let target_dir = profile_dir.parent().ok_or("no target directory")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // A test cross-built for Windows and run under Wine sees the cargo of
    // the Linux host, which cannot build for it: the executable must have
    // been built with the test (`.ci/windows.sh` builds every target first).
    #[cfg(windows)]
    if Path::new(&cargo).extension().is_none_or(|e| e != "exe") {
        return prebuilt(profile_dir, target, name);
    }
    let mut command = Command::new(&cargo);
    command
        .arg("build")
        .arg("--message-format=json-render-diagnostics")
        .arg("--target-dir")
        .arg(target_dir)
        .args(target);
    match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            command.arg("--release");
        }
        Some(profile) => {
            command.args(["--profile", profile]);
        }
    }
    let what = target.join(" ");
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("could not run {}: {err}", Path::new(&cargo).display()))?;
    if !output.status.success() {
        return Err(format!("`cargo build {what}` failed ({})", output.status));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == name)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| format!("`cargo build {what}` named no executable {name}"))
}

/// Where `cargo build` put the executable `name` of `target` beside this
/// test binary, when it is there.
#[cfg(windows)]
fn prebuilt(profile_dir: &Path, target: &[&str], name: &str) -> Result<PathBuf, String> {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    let exe = if target.contains(&"--example") {
        profile_dir.join("examples").join(file)
    } else {
        profile_dir.join(file)
    };
    if exe.is_file() {
        Ok(exe)
    } else {
        Err(format!(
            "{} is missing, and cargo cannot run here: build every target first",
            exe.display()
        ))
    }
}
