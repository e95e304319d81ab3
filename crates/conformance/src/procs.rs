//! Finding processes by their arguments, to prove none outlived a deadline.

use std::time::{Duration, Instant};

/// Pids of processes (other than this one) with an argument containing
/// `marker`. Empty where `/proc` does not exist.
pub(crate) fn with_argument_containing(marker: &str) -> Vec<u32> {
    let own = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != own)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|cmdline| {
                    cmdline
                        .split(|&byte| byte == 0)
                        .any(|arg| String::from_utf8_lossy(arg).contains(marker))
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Ends the processes the suite found left over, so one failed check does
/// not leave them behind.
pub(crate) fn kill(pids: &[u32]) {
    for pid in pids {
        // Best effort: the process may already be gone.
        let _ = std::process::Command::new("kill")
            .arg("-9")
            .arg(pid.to_string())
            .status();
    }
}

/// Pids of processes with an argument containing `marker` that are still
/// there after `grace`: processes just killed take a moment to go, more on
/// a loaded machine, while one that escaped the kill stays.
pub(crate) fn lingering_with_argument_containing(marker: &str, grace: Duration) -> Vec<u32> {
    let give_up = Instant::now() + grace;
    loop {
        let found = with_argument_containing(marker);
        if found.is_empty() || Instant::now() >= give_up {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
