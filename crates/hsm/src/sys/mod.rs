//! What the plugin needs from the operating system, one module per
//! platform behind one interface: whether a file is open to other users,
//! a directory private to this user, and an exclusive lock between
//! processes.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as platform;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as platform;

pub use platform::{exposed_mode, lock_exclusive, private_dir};
/// Only the agent, which exists on Unix alone, checks a directory it did
/// not make, and makes one of its own in the runtime directory.
#[cfg(unix)]
pub use unix::{check_private, runtime_dir};
