//! From `NAME://KEYREF` to the plugin executable on the search path.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use sigstore_kms_protocol::{KEY_REFERENCE_SEPARATOR, PLUGIN_BINARY_PREFIX};

use crate::Error;

#[cfg(unix)]
#[path = "discovery/unix.rs"]
mod sys;
#[cfg(windows)]
#[path = "discovery/windows.rs"]
mod sys;

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

/// The base file name of the plugin for `name`: `sigstore-kms-NAME`. On
/// Windows the lookup tries it with each extension of `PATHEXT`, as the Go
/// host (`exec.LookPath`) and cosign do.
pub fn plugin_file_name(name: &str) -> String {
    format!("{PLUGIN_BINARY_PREFIX}{name}")
}

/// Finds the plugin for `name` as cosign does: the first executable
/// `sigstore-kms-NAME` in the directories of `search_path` (a `PATH`-style
/// list), in order; on Windows `sigstore-kms-NAME` with an extension of
/// `PATHEXT` (`.com`, `.exe`, `.bat`, `.cmd` by default), in that order.
///
/// Empty and relative entries are skipped: a plugin is never run from
/// whatever the current directory happens to be.
pub fn find_plugin(name: &str, search_path: &OsStr) -> Result<PathBuf, Error> {
    validate_plugin_name(name)?;
    find_on_path(&plugin_file_name(name), search_path)
}

/// The plugin name a key reference uses to reach the file at `path` (for
/// `sigstore-kms-foo` or, on Windows, `sigstore-kms-foo.exe`: `foo`), or
/// `None` when no key reference can name it. Whether the file is
/// executable is [`is_executable_file`]'s question.
pub fn plugin_name_of(path: &Path) -> Option<&str> {
    let file_name = path.file_name()?.to_str()?;
    let name = sys::without_executable_extension(file_name.strip_prefix(PLUGIN_BINARY_PREFIX)?);
    validate_plugin_name(name).ok().map(|()| name)
}

/// Whether the lookup would run the file at `path`: on Unix a regular file
/// with an execute bit set, on Windows a file with an extension of
/// `PATHEXT`.
pub fn is_executable_file(path: &Path) -> bool {
    sys::is_executable_file(path)
}

/// The JSON argument as `executable` receives it: on Windows a batch file
/// (`.bat`, `.cmd`) gets each `%` as the JSON escape `\u0025`, so that no
/// `cmd.exe` can expand `%VAR%` in a key reference (std quotes the rest).
pub(crate) fn plugin_argument(executable: &Path, json: String) -> String {
    sys::plugin_argument(executable, json)
}

pub(crate) fn find_on_path(file_name: &str, search_path: &OsStr) -> Result<PathBuf, Error> {
    std::env::split_paths(search_path)
        .filter(|dir| dir.is_absolute())
        .flat_map(|dir| sys::candidates(&dir, file_name))
        .find(|candidate| sys::is_executable_file(candidate))
        .ok_or_else(|| Error::PluginNotFound {
            executable: sys::searched_for(file_name),
            search_path: search_path.to_owned(),
        })
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
    fn file_name_is_the_prefix_and_the_name() {
        assert_eq!(plugin_file_name("foo"), "sigstore-kms-foo");
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

    /// Windows finds programs by extension: PATHEXT, no execute bit.
    #[cfg(windows)]
    #[test]
    fn search_tries_pathext_extensions_in_order_and_skips_relative_dirs() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let name = "sigstore-kms-probe";
        for file in [name, "sigstore-kms-probe.d", "sigstore-kms-probe.txt"] {
            std::fs::write(first.path().join(file), "").unwrap();
        }
        for file in ["sigstore-kms-probe.cmd", "sigstore-kms-probe.exe"] {
            std::fs::write(second.path().join(file), "").unwrap();
        }
        let path =
            std::env::join_paths([first.path(), Path::new("relative"), second.path()]).unwrap();
        assert_eq!(
            find_on_path(name, &path).unwrap(),
            second.path().join("sigstore-kms-probe.exe")
        );
        std::fs::remove_file(second.path().join("sigstore-kms-probe.exe")).unwrap();
        assert_eq!(
            find_on_path(name, &path).unwrap(),
            second.path().join("sigstore-kms-probe.cmd")
        );
        assert_eq!(
            plugin_name_of(&second.path().join("sigstore-kms-probe.CMD")),
            Some("probe")
        );
        assert_eq!(
            plugin_name_of(&first.path().join("sigstore-kms-probe.d")),
            Some("probe.d")
        );

        let only_first = std::env::join_paths([first.path()]).unwrap();
        match find_on_path(name, &only_first).unwrap_err() {
            Error::PluginNotFound { executable, .. } => {
                assert!(
                    executable.starts_with("sigstore-kms-probe["),
                    "{executable}"
                );
                assert!(executable.contains(".cmd"), "{executable}");
            }
            other => panic!("{other:?}"),
        }
    }
}
