//! Diagnostics on stderr, off unless asked for.

use std::io::Write as _;
use std::sync::OnceLock;

/// Set to `1` to print what the plugin does on stderr.
pub const DEBUG_ENV: &str = "SIGSTORE_KMS_LOCALKMS_DEBUG";

fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        std::env::var_os(DEBUG_ENV).is_some_and(|value| !value.is_empty() && value != "0")
    })
}

/// Writes one diagnostic line when diagnostics are on. Callers pass paths,
/// names and sizes, never key material.
pub fn debug(message: std::fmt::Arguments<'_>) {
    if enabled() {
        let _ = writeln!(std::io::stderr(), "sigstore-kms-localkms: {message}");
    }
}
