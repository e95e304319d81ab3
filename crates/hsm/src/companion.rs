//! A statically linked `sigstore-kms-hsm` (as the Linux release archives
//! ship it) starts faster than a dynamically linked one, which counts when
//! a service makes many short calls through the agent; but it cannot load
//! PKCS#11 modules: `dlopen` in a static glibc program works only with the
//! very glibc it was built with. So such a build forwards calls to the
//! agent itself and runs everything else (calls without an agent,
//! `sigstore-kms-hsm agent`) as [`COMPANION`], the same plugin linked
//! dynamically, installed beside it.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{self, Command};

use sigstore_kms_protocol::PluginResp;

/// The file name of the dynamically linked build, beside the static one.
pub const COMPANION: &str = "sigstore-kms-hsm-direct";

/// Why this process cannot do what it was asked.
#[derive(Debug, thiserror::Error)]
enum CompanionError {
    #[error(
        "this sigstore-kms-hsm is statically linked, so it loads PKCS#11 modules through \
         {COMPANION} beside it, which cannot be run ({path}: {source}); reinstall both from \
         the same archive, or set SIGSTORE_KMS_HSM_AGENT to a running agent's socket"
    )]
    Missing { path: PathBuf, source: io::Error },
    #[error(
        "{path} is statically linked and cannot load PKCS#11 modules: {COMPANION} must be the \
         dynamically linked build from the same archive"
    )]
    Static { path: PathBuf },
    #[error("cannot find this program's own path, to run {COMPANION} beside it: {0}")]
    OwnPath(io::Error),
}

/// Replaces this process with [`COMPANION`], with the same arguments,
/// environment and standard streams. Only returns by exiting: with a
/// plugin's error answer on stdout, or, for `sigstore-kms-hsm agent`, a
/// message on stderr.
pub fn exec() -> ! {
    let args: Vec<OsString> = std::env::args_os().collect();
    let err = match std::env::current_exe() {
        Err(err) => CompanionError::OwnPath(err),
        Ok(own) if own.file_name() == Some(COMPANION.as_ref()) => {
            CompanionError::Static { path: own }
        }
        Ok(own) => {
            let path = own.with_file_name(COMPANION);
            let source = run(&path, &args);
            CompanionError::Missing { path, source }
        }
    };
    if args.get(1).is_some_and(|first| first == "agent") {
        eprintln!("sigstore-kms-hsm agent: {err}");
    } else {
        let reply = PluginResp::Error(err.to_string());
        let _ = sigstore_kms_handler::write_response(&mut io::stdout(), &reply);
    }
    process::exit(1)
}

/// Runs `path` in place of this process; returns only why it could not.
fn run(path: &Path, args: &[OsString]) -> io::Error {
    let mut command = Command::new(path);
    if let Some(name) = args.first() {
        command.arg0(name);
    }
    command.args(args.iter().skip(1)).exec()
}
