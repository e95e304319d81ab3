//! Unix: ownership and permission bits.

use std::fs::{File, FileType, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

use super::KeyFileError;

/// Opens without blocking on a pipe (whose open waits for a writer) and
/// without making a terminal the controlling one; the caller refuses
/// anything but a regular file before reading.
pub(super) fn open_for_reading(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

pub(super) fn special_file_kind(file_type: &FileType) -> &'static str {
    if file_type.is_fifo() {
        "a named pipe"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else {
        "not a file"
    }
}

/// As OpenSSH checks private keys: the user's own, no access for others.
pub(super) fn check_owner_and_access(
    path: &Path,
    _file: &File,
    metadata: &Metadata,
) -> Result<(), KeyFileError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let user = unsafe { libc::geteuid() };
    if metadata.uid() != user {
        return Err(KeyFileError::ForeignOwner {
            path: path.to_owned(),
            owner: metadata.uid(),
            user,
        });
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Exposed {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Creates `path`, which must not exist, with mode 0600 (which no umask
/// widens).
pub(super) fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Makes the new directory entry durable. Best effort: the key is already
/// in place and readable, so a failure here does not fail the creation.
pub(super) fn sync_dir(dir: &Path) {
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}
