//! The conformance suite as a test target:
//!
//! ```sh
//! cargo test --features signer_program -- --key-resource-id NAME://REF
//! ```
//!
//! Prints one line per check and `N passed, N failed`; exits non-zero when a
//! check fails. libtest's own options (`--nocapture`, `--test-threads N`,
//! ...) are accepted and ignored.

mod support;

use std::process::ExitCode;

use sigstore_kms_conformance::{run, Config};

const USAGE: &str = "usage: cargo test --features signer_program -- --key-resource-id NAME://REF";

fn main() -> ExitCode {
    let Some(reference) = support::key_reference(std::env::args()) else {
        eprintln!("error: no key reference given\n{USAGE}");
        return ExitCode::from(2);
    };
    eprintln!("running the conformance suite against {reference}");
    let report = match run(&Config::new(&reference), |result| eprintln!("{result}")) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("error: {err}");
            eprintln!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    };
    // The summary goes to stdout, where test runners look for it.
    #[allow(clippy::print_stdout)]
    {
        println!("{}", report.summary());
    }
    if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
