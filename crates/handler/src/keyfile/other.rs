//! Systems other than Unix: no ownership or permission bits to check.
//! The module documentation says so to plugin authors.

use std::fs::{File, FileType, Metadata};
use std::io;
use std::path::Path;

use super::KeyFileError;

pub(super) fn open_for_reading(path: &Path) -> io::Result<File> {
    File::open(path)
}

pub(super) fn special_file_kind(_file_type: &FileType) -> &'static str {
    "not a file"
}

/// Owner and access control list are not inspected here.
pub(super) fn check_owner_and_mode(_path: &Path, _metadata: &Metadata) -> Result<(), KeyFileError> {
    Ok(())
}

/// The new file gets the access control list its directory passes on.
pub(super) fn private_permissions(_builder: &mut tempfile::Builder<'_, '_>) {}

/// Directory entries need no separate flush here.
pub(super) fn sync_dir(_dir: &Path) {}
