//! Lookup on Unix: the file of that exact name, if an execute bit is set.

use std::path::{Path, PathBuf};

/// The paths in `dir` tried for `file_name`, in order.
pub(super) fn candidates(dir: &Path, file_name: &str) -> Vec<PathBuf> {
    vec![dir.join(file_name)]
}

/// What the not-found error names as searched for.
pub(super) fn searched_for(file_name: &str) -> String {
    file_name.to_owned()
}

/// Unix runs a file of any name.
pub(super) fn without_executable_extension(file_name: &str) -> &str {
    file_name
}

pub(super) fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// No shell stands between the host and a Unix plugin.
pub(super) fn plugin_argument(_executable: &Path, json: String) -> String {
    json
}
