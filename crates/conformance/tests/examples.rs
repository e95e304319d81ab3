//! The example plugins against the suite: `sigstore-kms-filekey` passes
//! every check, and its racy twin fails the checks of concurrent key
//! creation. Built here, so `cargo test` alone runs them.
//!
//! Runs without libtest, as every test target of this package does.

mod support;

use std::path::Path;
use std::process::ExitCode;

use sigstore_kms_conformance::{run, Config, Outcome, Report};

/// A case: `Err` says what went wrong.
type Case = fn() -> Result<(), String>;

fn suite(plugin: &Path, name: &str, dir: &Path) -> Result<Report, String> {
    let mut config = Config::new(format!("{name}://{}", dir.join("key.pem").display()));
    config.search_path = plugin.parent().map(Into::into);
    config.large_message_bytes = 4 << 20;
    run(&config, |result| eprintln!("  {name}: {result}")).map_err(|err| err.to_string())
}

fn build_and_run(example: &str) -> Result<Report, String> {
    let plugin = support::build(&["--example", example], example)?;
    let dir = tempfile::tempdir().map_err(|err| err.to_string())?;
    let name = example.trim_start_matches("sigstore-kms-");
    suite(&plugin, name, dir.path())
}

fn filekey_passes() -> Result<(), String> {
    let report = build_and_run("sigstore-kms-filekey")?;
    // Off Linux the suite cannot look for leftover processes (no /proc),
    // and says so by skipping that one check.
    let may_skip = usize::from(
        !cfg!(target_os = "linux")
            && matches!(
                report
                    .get("short-deadline-leaves-no-process")
                    .map(|result| &result.outcome),
                Some(Outcome::Skipped(_))
            ),
    );
    if report.is_success() && report.skipped() == may_skip {
        Ok(())
    } else {
        Err(format!(
            "the suite must pass every check: {}",
            report.summary()
        ))
    }
}

fn racy_filekey_fails() -> Result<(), String> {
    let report = build_and_run("sigstore-kms-racyfilekey")?;
    for check in ["create-key-concurrent", "concurrent-signatures-verify"] {
        match report.get(check).map(|result| &result.outcome) {
            Some(Outcome::Failed(_)) => {}
            other => return Err(format!("{check} must fail, but: {other:?}")),
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    if support::plugin_named() {
        eprintln!(
            "a plugin was named: the suite runs against it (signer_program), not the examples"
        );
        return ExitCode::SUCCESS;
    }
    let cases: [(&str, Case); 2] = [
        ("the filekey example passes the suite", filekey_passes),
        ("the racy filekey example fails it", racy_filekey_fails),
    ];
    let mut failed = 0;
    for (name, case) in cases {
        match case() {
            Ok(()) => eprintln!("ok   {name}"),
            Err(reason) => {
                failed += 1;
                eprintln!("FAIL {name}: {reason}");
            }
        }
    }
    #[allow(clippy::print_stdout)]
    {
        println!("{} passed, {} failed", cases.len() - failed, failed);
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
