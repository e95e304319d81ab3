//! `sigstore-kms-bench`: the measurements behind `make bench`.
//!
//! `report` runs everything and writes `BENCHMARKS.md`; it starts this same
//! binary with one of the probe subcommands for each measurement, so that
//! every figure comes from a fresh process (peak RSS included).
//!
//! ```text
//! sigstore-kms-bench report --cargo-bin-dir DIR [--static-bin-dir DIR] [--go-bin-dir DIR] --out BENCHMARKS.md
//! sigstore-kms-bench hsm-report --cargo-bin-dir DIR [--go-bin-dir DIR] --out BENCHMARKS.md
//! sigstore-kms-bench calls --op public-key|sign-digest|true|true-client|true-async --key NAME://REF --hash sha256|sha384 --n N --plugin-dir DIR
//! sigstore-kms-bench stream --key NAME://REF --hash sha256|sha384 --plugin-dir DIR FILE
//! sigstore-kms-bench concurrent --key NAME://REF --plugin-dir DIR --signers K --calls M [--file F]
//! ```
#![allow(clippy::print_stdout)]

mod args;
// The HSM section measures the agent, which is Unix-only.
#[cfg(unix)]
mod hsm;
#[cfg(not(unix))]
#[path = "hsm_unsupported.rs"]
mod hsm;
mod peak_rss;
mod probe;
mod report;
mod stats;

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = argv.split_first() else {
        eprintln!(
            "usage: sigstore-kms-bench report|hsm-report|calls|stream|concurrent [--flag value]..."
        );
        return ExitCode::from(2);
    };
    let args = match args::Args::parse(rest) {
        Ok(args) => args,
        Err(err) => {
            eprintln!("sigstore-kms-bench: {err}");
            return ExitCode::from(2);
        }
    };
    let result = match command.as_str() {
        "report" => report::run(&args),
        "hsm-report" => report::run_hsm(&args),
        "calls" => probe::calls(&args),
        "stream" => probe::stream(&args),
        "concurrent" => probe::concurrent(&args),
        other => Err(format!("unknown command {other:?}").into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sigstore-kms-bench {command}: {err}");
            ExitCode::FAILURE
        }
    }
}
