//! From `NAME://KEYREF` to the plugin executable on the search path.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use sigstore_kms_protocol::{KEY_REFERENCE_SEPARATOR, PLUGIN_BINARY_PREFIX};

use crate::Error;

/// Splits `NAME://KEYREF` at the first `://` and checks `NAME`.
///
/// Returns the plugin name and the plugin's own key reference (passed to it
/// unchanged).
pub fn parse_key_reference(reference: &str) -> Result<(&str, &str), Error> {
    let (name, key_resource_id) =
        reference
            .split_once(KEY_REFERENCE_SEPARATOR)
            .ok_or_else(|| Error::InvalidKeyReference {
                reference: reference.to_owned(),
            })?;
    validate_plugin_name(name)?;
    Ok((name, key_resource_id))
}

/// Refuses a plugin name that could escape the `sigstore-kms-` prefix or the
/// search path, and accepts every other, as the Go host (sigstore v1.11.3)
/// does: refused are a path separator (`/` or `\\`, which would make the
/// lookup run a file relative to the working directory), NUL (no file name
/// holds it), the empty name, and `.` and `..`.
pub fn validate_plugin_name(name: &str) -> Result<(), Error> {
    let valid =
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidPluginName {
            name: name.to_owned(),
        })
    }
}

/// The file name of the plugin for `name`: `sigstore-kms-NAME`, plus the
/// platform's executable suffix (`.exe` on Windows).
pub fn plugin_file_name(name: &str) -> String {
    format!(
        "{PLUGIN_BINARY_PREFIX}{name}{}",
        std::env::consts::EXE_SUFFIX
    )
}

/// Looks for the executable `file_name` in each directory of `search_path`
/// (a `PATH`-style list), in order.
///
/// Empty and relative entries are skipped: a plugin is never run from
/// whatever the current directory happens to be.
pub(crate) fn find_on_path(file_name: &str, search_path: &OsStr) -> Result<PathBuf, Error> {
    std::env::split_paths(search_path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(file_name))
        .find(|candidate| is_executable_file(candidate))
        .ok_or_else(|| Error::PluginNotFound {
            executable: file_name.to_owned(),
            search_path: search_path.to_owned(),
        })
}

#[cfg(unix)]
fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable_file(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_traversal_in_the_name_is_refused_before_any_lookup() {
        let err = parse_key_reference("foobar/../../usr/bin/echo://key").unwrap_err();
        assert!(
            matches!(err, Error::InvalidPluginName { ref name } if name == "foobar/../../usr/bin/echo"),
            "{err:?}"
        );
    }

    #[test]
    fn names_are_refused_only_for_separators_nul_empty_and_dots() {
        for name in ["", ".", "..", "a/b", "a\\b", "/abs", "..\\x", "a\0b"] {
            assert!(validate_plugin_name(name).is_err(), "{name:?} accepted");
        }
        // What the Go host accepts, we accept: the plugin is then looked up
        // as the file sigstore-kms-NAME on the search path, nothing else.
        for name in [
            "localkms", "my-hsm", "gcp_kms", "v1.2", "A9", ".hidden", "a b", "é", "a:b", "x+y",
            "...", "a..b",
        ] {
            assert!(validate_plugin_name(name).is_ok(), "{name:?} refused");
        }
    }

    #[test]
    fn key_reference_splits_at_the_first_separator() {
        assert_eq!(
            parse_key_reference("gcp://projects/p/keys/k://x").unwrap(),
            ("gcp", "projects/p/keys/k://x")
        );
        assert_eq!(parse_key_reference("local://").unwrap(), ("local", ""));
        assert!(matches!(
            parse_key_reference("no-separator"),
            Err(Error::InvalidKeyReference { .. })
        ));
        assert!(matches!(
            parse_key_reference("://key"),
            Err(Error::InvalidPluginName { .. })
        ));
    }

    #[test]
    fn file_name_has_prefix_and_platform_suffix() {
        let expected = if cfg!(windows) {
            "sigstore-kms-foo.exe"
        } else {
            "sigstore-kms-foo"
        };
        assert_eq!(plugin_file_name("foo"), expected);
    }

    #[cfg(unix)]
    #[test]
    fn search_skips_non_executable_files_and_relative_dirs() {
        use std::os::unix::fs::PermissionsExt;
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let name = "sigstore-kms-probe";
        let not_executable = first.path().join(name);
        std::fs::write(&not_executable, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&not_executable, std::fs::Permissions::from_mode(0o644)).unwrap();
        let executable = second.path().join(name);
        std::fs::write(&executable, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&executable, std::fs::Permissions::from_mode(0o755)).unwrap();

        let path =
            std::env::join_paths([first.path(), Path::new("relative"), second.path()]).unwrap();
        assert_eq!(find_on_path(name, &path).unwrap(), executable);

        let only_first = std::env::join_paths([first.path()]).unwrap();
        match find_on_path(name, &only_first).unwrap_err() {
            Error::PluginNotFound {
                executable,
                search_path,
            } => {
                assert_eq!(executable, name);
                assert_eq!(search_path, only_first);
            }
            other => panic!("{other:?}"),
        }
    }
}
