//! Section 5 off Unix: `sigstore-kms-hsm agent` listens on a Unix socket,
//! and SoftHSM2 is packaged for Unix, so there is nothing to measure.

use std::path::Path;

use crate::args::Result;
use crate::report::Bench;

/// The section's text and its target rows (never produced here).
pub struct Section {
    pub text: String,
    pub targets: String,
}

pub fn section(_bench: &Bench, _rounds: usize, _n: u32) -> Result<Option<Section>> {
    eprintln!("the HSM agent is Unix-only: the HSM section is left out");
    Ok(None)
}

pub fn run_alone(_bench: &Bench, _rounds: usize, _n: u32, _out: &Path) -> Result<()> {
    Err("the HSM section needs Unix (sigstore-kms-hsm agent, SoftHSM2)".into())
}
