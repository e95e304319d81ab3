//! `getrusage`, which counts the largest reaped child too.

use crate::args::Result;

/// `ru_maxrss` counts bytes on macOS, KiB on Linux and the BSDs.
#[cfg(target_vendor = "apple")]
const MAXRSS_PER_KIB: libc::c_long = 1024;
#[cfg(not(target_vendor = "apple"))]
const MAXRSS_PER_KIB: libc::c_long = 1;

/// Peak resident set of this process and of the largest reaped child, KiB
/// (-1 when the system does not say).
pub fn peak_rss_kib() -> Result<(i64, i64)> {
    let maxrss = |who| {
        // SAFETY: getrusage fills the zeroed struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `usage` is a valid, writable rusage.
        if unsafe { libc::getrusage(who, &mut usage) } == 0 {
            usage.ru_maxrss / MAXRSS_PER_KIB
        } else {
            -1
        }
    };
    Ok((maxrss(libc::RUSAGE_SELF), maxrss(libc::RUSAGE_CHILDREN)))
}
