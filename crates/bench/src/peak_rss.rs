//! Peak resident set of this process and of its reaped children (the
//! plugin), one module per OS.

#[cfg(unix)]
#[path = "peak_rss/unix.rs"]
mod sys;
#[cfg(windows)]
#[path = "peak_rss/windows.rs"]
mod sys;

pub use sys::peak_rss_kib;
