//! Unix: permission bits, a directory of mode 0700 owned by this user, and
//! `flock`, which the kernel releases when the process dies.

use std::env;
use std::fs::{self, DirBuilder, File, Metadata, OpenOptions};
use std::io;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// The permission bits of a file that group or others may read, write or
/// run (any of `0o077`), or `None` when only its owner may.
pub fn exposed_mode(metadata: &Metadata) -> Option<u32> {
    let mode = metadata.mode() & 0o7777;
    (mode & 0o077 != 0).then_some(mode)
}

/// `$XDG_RUNTIME_DIR/NAME`, else `NAME-UID` in the temporary directory:
/// created with mode 0700 if missing, and refused unless it is a
/// directory (not a link) of this user that only this user can enter.
pub fn private_dir(name: &str) -> io::Result<PathBuf> {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let dir = match env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(runtime) if runtime.is_absolute() => runtime.join(name),
        _ => env::temp_dir().join(format!("{name}-{uid}")),
    };
    match DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    let metadata = fs::symlink_metadata(&dir)?;
    let reason = if !metadata.is_dir() {
        "it is not a directory"
    } else if metadata.uid() != uid {
        "another user owns it"
    } else if exposed_mode(&metadata).is_some() {
        "group or others have access to it"
    } else {
        return Ok(dir);
    };
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "{} cannot be this user's private directory: {reason}; remove it, or set \
             TMPDIR to a directory of your own",
            dir.display()
        ),
    ))
}

/// Opens (creating it, mode 0600) the lock file at `path` and waits until
/// this process holds its exclusive lock, which lasts as long as the
/// returned file is open.
pub fn lock_exclusive(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    loop {
        // SAFETY: the descriptor is open for the duration of the call.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(file);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}
