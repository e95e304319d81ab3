//! Windows keeps no peak memory of reaped children, so the plugin's
//! figure, half of what the memory probe reports, cannot be had.

use crate::args::Result;

/// Refuses: the memory table is measured on Unix only (see BENCHMARKS.md).
pub fn peak_rss_kib() -> Result<(i64, i64)> {
    Err(
        "the peak memory of a reaped plugin is measured with getrusage(RUSAGE_CHILDREN), \
         which Windows lacks: run the memory probe on Linux or macOS"
            .into(),
    )
}
