//! Failure on demand, so that hosts can test their error paths against a
//! real plugin process.
//!
//! `SIGSTORE_KMS_LOCALKMS_FAIL=MODE` fails every call,
//! `SIGSTORE_KMS_LOCALKMS_FAIL=METHOD:MODE` only calls of `METHOD`
//! (`signMessage:error`). Modes:
//!
//! - `error`: an `errorMessage` reply;
//! - `panic`: a panic inside the method (the handler answers it);
//! - `noise`: text written to stdout by the method, then a normal reply;
//! - `garbage`: text that is not JSON on stdout, exit status 1;
//! - `empty`: nothing on stdout, exit status 1;
//! - `abort`: killed by `SIGABRT` (`std::process::abort`);
//! - `hang`: sleeps for five minutes before serving the call.

use std::io::Write as _;
use std::time::Duration;

use sigstore_kms_handler::Error;
use sigstore_kms_protocol::MethodName;

/// The fault injection switch.
pub const FAIL_ENV: &str = "SIGSTORE_KMS_LOCALKMS_FAIL";

/// A failure to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Error,
    Panic,
    Noise,
    Garbage,
    Empty,
    Abort,
    Hang,
}

/// The switch as set in the environment: the method it applies to (all
/// when `None`) and the mode.
#[derive(Clone, Debug, Default)]
pub struct Fault {
    target: Option<(Option<String>, Mode)>,
}

impl Fault {
    /// Reads the switch. An unknown mode is an error, so that a typo does
    /// not silently turn fault injection off.
    pub fn from_env() -> Result<Self, String> {
        let Some(value) = std::env::var_os(FAIL_ENV) else {
            return Ok(Fault::default());
        };
        let value = value.to_string_lossy();
        if value.is_empty() {
            return Ok(Fault::default());
        }
        let (method, mode) = match value.split_once(':') {
            Some((method, mode)) => (Some(method.to_owned()), mode),
            None => (None, value.as_ref()),
        };
        let mode = match mode {
            "error" => Mode::Error,
            "panic" => Mode::Panic,
            "noise" => Mode::Noise,
            "garbage" => Mode::Garbage,
            "empty" => Mode::Empty,
            "abort" => Mode::Abort,
            "hang" => Mode::Hang,
            other => {
                return Err(format!(
                    "{FAIL_ENV}: unknown mode {other:?} (error, panic, noise, garbage, empty, abort, hang)"
                ))
            }
        };
        Ok(Fault {
            target: Some((method, mode)),
        })
    }

    /// Whether any fault is switched on.
    pub fn is_set(&self) -> bool {
        self.target.is_some()
    }

    /// The mode that applies to a call of `method` (`None`: the method
    /// could not be read from the arguments).
    fn mode_for(&self, method: Option<&str>) -> Option<Mode> {
        match &self.target {
            Some((None, mode)) => Some(*mode),
            Some((Some(target), mode)) if Some(target.as_str()) == method => Some(*mode),
            _ => None,
        }
    }

    /// Faults that act on the process, before the handler takes over.
    pub fn before_run(&self, method: Option<&str>) {
        match self.mode_for(method) {
            Some(Mode::Garbage) => {
                let _ = std::io::stdout().write_all(b"this is not JSON\n");
                let _ = std::io::stdout().flush();
                std::process::exit(1)
            }
            Some(Mode::Empty) => std::process::exit(1),
            Some(Mode::Abort) => std::process::abort(),
            Some(Mode::Hang) => std::thread::sleep(Duration::from_secs(300)),
            _ => {}
        }
    }

    /// Faults that act inside a method.
    pub fn in_method(&self, method: MethodName) -> Result<(), Error> {
        match self.mode_for(Some(method.as_str())) {
            Some(Mode::Error) => Err(format!("injected failure in {method} ({FAIL_ENV})").into()),
            Some(Mode::Panic) => panic!("injected panic in {method} ({FAIL_ENV})"),
            Some(Mode::Noise) => {
                let _ = std::io::stdout().write_all(b"noise written to stdout by the plugin\n");
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
