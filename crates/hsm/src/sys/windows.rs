//! Windows: no permission bits to check (the ACLs of a user's profile keep
//! its files private), a directory in the user's local application data,
//! and a file opened without sharing as the lock, which Windows releases
//! when the process dies.

use std::env;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::windows::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

/// `ERROR_SHARING_VIOLATION`: another process has the file open.
const SHARING_VIOLATION: i32 = 32;

/// Always `None`: access on Windows is an ACL, which this plugin does not
/// judge.
pub fn exposed_mode(_metadata: &Metadata) -> Option<u32> {
    None
}

/// `%LOCALAPPDATA%\NAME`, else `NAME` in the user's temporary directory,
/// both private to the user by their default ACL.
pub fn private_dir(name: &str) -> io::Result<PathBuf> {
    let base = env::var_os("LOCALAPPDATA")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .unwrap_or_else(env::temp_dir);
    let dir = base.join(name);
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Opens (creating it) the lock file at `path` with no sharing, waiting
/// while another process has it open; the lock lasts as long as the
/// returned file is open.
pub fn lock_exclusive(path: &Path) -> io::Result<File> {
    loop {
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .share_mode(0)
            .open(path)
        {
            Err(err) if err.raw_os_error() == Some(SHARING_VIOLATION) => {
                thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}
