//! Systems other than Unix and Windows (WASI, say): std gives no portable
//! way to read or set a file's owner or access rights there, so only "is a
//! regular file" is checked and a new key file gets whatever access the
//! system gives new files. The module documentation says so to plugin
//! authors.

use std::fs::{File, FileType, Metadata, OpenOptions};
use std::io;
use std::path::Path;

use super::KeyFileError;

pub(super) fn open_for_reading(path: &Path) -> io::Result<File> {
    File::open(path)
}

pub(super) fn special_file_kind(_file_type: &FileType) -> &'static str {
    "not a file"
}

/// Owner and access rights are not inspected here.
pub(super) fn check_owner_and_access(
    _path: &Path,
    _file: &File,
    _metadata: &Metadata,
) -> Result<(), KeyFileError> {
    Ok(())
}

/// Creates `path`, which must not exist, with the system's default access.
pub(super) fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
}

/// Directory entries need no separate flush here.
pub(super) fn sync_dir(_dir: &Path) {}
