//! A conformance suite for Sigstore KMS plugins.
//!
//! Point it at a key reference `NAME://REF` and it runs the plugin
//! `sigstore-kms-NAME` through every behaviour cosign and the Go `sigstore`
//! library rely on, reporting each check by name. It assumes nothing about
//! the plugin beyond protocol v1: not the key type, not what the reference
//! means.
//!
//! ```no_run
//! use sigstore_kms_conformance::{run, Config};
//!
//! let report = run(&Config::new("localkms:///tmp/conformance/key.pem"), |result| {
//!     eprintln!("{result}");
//! })?;
//! eprintln!("{}", report.summary());
//! assert!(report.is_success());
//! # Ok::<(), sigstore_kms_client::Error>(())
//! ```
//!
//! The same suite runs as `cargo test --features signer_program --
//! --key-resource-id NAME://REF` from this crate's directory, and as
//! `sigstore-kms plugin check NAME://REF`.
//!
//! Name a key that does not exist yet: the suite then also checks that
//! callers creating it at the same moment all get one key
//! (`create-key-concurrent`); for an existing key that check is skipped.
//!
//! # In a plugin's own `cargo test`
//!
//! A plugin crate adds this crate as a dev-dependency and runs the suite
//! against the binary cargo built for the test, which cargo names in
//! `CARGO_BIN_EXE_<name>`:
//!
//! ```ignore
//! // tests/conformance.rs of the crate whose [[bin]] is sigstore-kms-myplugin
//! use std::path::Path;
//!
//! use sigstore_kms_conformance::{run, Config};
//!
//! #[test]
//! fn conformance() {
//!     let plugin = Path::new(env!("CARGO_BIN_EXE_sigstore-kms-myplugin"));
//!     let dir = tempfile::tempdir().unwrap();
//!     let mut config = Config::new(format!("myplugin://{}", dir.path().join("key").display()));
//!     config.search_path = Some(plugin.parent().unwrap().into());
//!     let report = run(&config, |result| eprintln!("{result}")).unwrap();
//!     assert!(report.is_success(), "{report}");
//! }
//! ```
//!
//! This crate's `examples/filekey` is a complete plugin the suite passes,
//! and `examples/racyfilekey.rs` the same plugin with a racy `createKey`,
//! which it fails; `tests/examples.rs` runs both.
#![deny(missing_docs)]

mod checks;
mod concurrency;
mod message;
mod procs;
mod raw;
mod report;

use std::ffi::OsString;
use std::time::Duration;

pub use checks::CHECKS;
pub use report::{CheckResult, Outcome, Report};

/// What to run the suite against, and how hard.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// `NAME://REF`: the plugin and the key it is tested with. The key is
    /// created when it does not exist.
    pub key_reference: String,
    /// Where to look for the plugin (`PATH` when `None`).
    pub search_path: Option<OsString>,
    /// Deadline of each plugin call.
    pub timeout: Duration,
    /// Size of the message of the streaming check.
    pub large_message_bytes: u64,
    /// How many calls run at once in the concurrency check.
    pub concurrent_calls: usize,
}

impl Config {
    /// The defaults: a 60 s deadline per call, a 32 MiB message, 8
    /// concurrent calls.
    pub fn new(key_reference: impl Into<String>) -> Self {
        Config {
            key_reference: key_reference.into(),
            search_path: None,
            timeout: Duration::from_secs(60),
            large_message_bytes: 32 << 20,
            concurrent_calls: 8,
        }
    }
}

/// Runs every check against the plugin of `config.key_reference`, calling
/// `on_result` as each one ends.
///
/// Fails only when the plugin cannot be loaded at all (a malformed
/// reference, a plugin not on the search path); everything else is a check
/// result in the report.
pub fn run(
    config: &Config,
    on_result: impl FnMut(&CheckResult),
) -> Result<Report, sigstore_kms_client::Error> {
    Ok(checks::Suite::load(config)?.run(on_result))
}
