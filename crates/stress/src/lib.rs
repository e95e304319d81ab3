//! Shared pieces of the stress tests in `tests/`: where the reference
//! plugin is, what this process holds (descriptors, children, memory), and
//! large messages that are generated as they are read.
//!
//! The tests are `#[ignore]`d: `make stress` runs them, in a release build,
//! one test binary after the other, and prints the figures that
//! `docs/robustness.md` records.
#![cfg(target_os = "linux")]
#![deny(missing_docs)]

use std::io::{self, Read};
use std::path::PathBuf;

/// The algorithm of the reference plugin.
pub const ALGORITHM: &str = "ecdsa-p256-sha256";

/// `sigstore-kms-localkms` from the same target directory as this test
/// executable (`target/release/deps/..` next to `target/release/`).
pub fn localkms() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test executable is in target/PROFILE/deps");
    let plugin = dir.join("sigstore-kms-localkms");
    assert!(
        plugin.is_file(),
        "{} lacks sigstore-kms-localkms: run `cargo build --release -p sigstore-kms-localkms` (or `make stress`)",
        dir.display()
    );
    plugin
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// `/proc/PID/stat` of every process whose parent is this one, zombies
/// included.
pub fn children() -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(|entry| {
            let stat = std::fs::read_to_string(entry.ok()?.path().join("stat")).ok()?;
            let (_, rest) = stat.rsplit_once(')')?;
            let ppid = rest.split_whitespace().nth(1)?;
            (ppid == me).then_some(stat)
        })
        .collect()
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Resident memory of this process now, in KiB (`VmRSS`).
pub fn rss_kib() -> u64 {
    status_kib("VmRSS")
}

/// Peak resident memory of this process so far, in KiB (`VmHWM`).
pub fn peak_rss_kib() -> u64 {
    status_kib("VmHWM")
}

/// Peak resident memory of the largest child this process has reaped, in
/// KiB (`getrusage(RUSAGE_CHILDREN)`): every plugin the client ran.
pub fn children_peak_rss_kib() -> u64 {
    // SAFETY: getrusage only writes into the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage
    };
    u64::try_from(usage.ru_maxrss).unwrap_or_default()
}

/// Mebibytes, for the figures.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A message of `len` bytes made up as it is read, so that its size costs
/// no memory: a fixed pseudo-random block repeated, with `seed` in its
/// first bytes so that messages differ.
pub struct Message {
    len: u64,
    position: u64,
    seed: [u8; 8],
}

const BLOCK_LEN: usize = 64 * 1024;

fn block() -> &'static [u8; BLOCK_LEN] {
    static BLOCK: std::sync::OnceLock<Box<[u8; BLOCK_LEN]>> = std::sync::OnceLock::new();
    BLOCK.get_or_init(|| {
        let mut block = Box::new([0u8; BLOCK_LEN]);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        block
    })
}

impl Message {
    /// `len` bytes, differing from other seeds' messages.
    pub fn new(len: u64, seed: u64) -> Self {
        Message {
            len,
            position: 0,
            seed: seed.to_le_bytes(),
        }
    }
}

impl Read for Message {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len - self.position;
        let offset = (self.position % BLOCK_LEN as u64) as usize;
        let n = buf
            .len()
            .min(BLOCK_LEN - offset)
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&block()[offset..offset + n]);
        for (i, byte) in buf[..n].iter_mut().enumerate() {
            let at = self.position + i as u64;
            if at >= 8 {
                break;
            }
            *byte = self.seed[at as usize];
        }
        self.position += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_their_length_and_differ_by_seed() {
        let read = |len, seed| {
            let mut out = Vec::new();
            Message::new(len, seed).read_to_end(&mut out).unwrap();
            out
        };
        let long = read(3 * BLOCK_LEN as u64 + 5, 1);
        assert_eq!(long.len(), 3 * BLOCK_LEN + 5);
        assert_eq!(&long[..8], &1u64.to_le_bytes());
        assert_eq!(long[8..BLOCK_LEN], block()[8..]);
        assert_eq!(long[BLOCK_LEN..2 * BLOCK_LEN], block()[..]);
        assert_ne!(read(100, 1), read(100, 2));
        assert_eq!(read(5, 7), 7u64.to_le_bytes()[..5]);
        assert!(read(0, 3).is_empty());
    }

    #[test]
    fn process_figures_are_read() {
        assert!(open_fds() >= 3);
        // The peak is read after the current size: the other test thread
        // may grow the process between the two reads.
        let rss = rss_kib();
        assert!(rss > 0);
        assert!(peak_rss_kib() >= rss);
        let _ = children_peak_rss_kib();
    }
}
