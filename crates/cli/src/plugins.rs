//! `plugin list` and `plugin check`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sigstore_kms_client::{find_plugin, is_executable_file, plugin_name_of};
use sigstore_kms_conformance::{run, Config};
use sigstore_kms_protocol::PLUGIN_BINARY_PREFIX;

use crate::error::CliError;

/// One `sigstore-kms-*` file found on the search path.
#[derive(Debug, PartialEq, Eq)]
pub struct Found {
    /// Where it is.
    pub path: PathBuf,
    /// Whether it can be run.
    pub executable: bool,
    /// The earlier file of the same name that a lookup finds instead.
    pub shadowed_by: Option<PathBuf>,
}

/// Every plugin in the directories of `search_path`, in lookup order, by
/// the rule the lookup itself follows ([`find_plugin`]): relative
/// directories are skipped, as the lookup skips them; an executable is
/// shadowed when the lookup of its name finds another file first. A file
/// that is not executable is listed only when its name has no extension, as
/// plugins are named (a plugin that lacks its execute bit or, on Windows,
/// its `.exe`); files beside plugins such as cargo's `.d` are not plugins.
pub fn find_plugins(search_path: &OsString) -> Vec<Found> {
    let mut found = Vec::new();
    for dir in std::env::split_paths(search_path).filter(|dir| dir.is_absolute()) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<OsString> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.file_name()))
            .filter(|name| name.to_string_lossy().starts_with(PLUGIN_BINARY_PREFIX))
            .collect();
        names.sort();
        for file_name in names {
            let path = dir.join(&file_name);
            let Some(name) = plugin_name_of(&path) else {
                continue;
            };
            if path.is_dir() {
                continue;
            }
            let executable = is_executable_file(&path);
            if !executable && path.extension().is_some() {
                continue;
            }
            let shadowed_by = if executable {
                find_plugin(name, search_path)
                    .ok()
                    .filter(|first| !same_file(first, &path))
            } else {
                None
            };
            found.push(Found {
                path,
                executable,
                shadowed_by,
            });
        }
    }
    found
}

/// Paths that name one file, though spelled apart (`.EXE` found as `.exe`
/// on Windows, a symlink).
fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(a), Ok(b)) if a == b
        )
}

pub fn list() -> Result<(), CliError> {
    let search_path = std::env::var_os("PATH").unwrap_or_default();
    let found = find_plugins(&search_path);
    if found.is_empty() {
        return Err(CliError::NoPlugins);
    }
    println!("The following sigstore-kms plugins are on PATH:\n");
    for plugin in &found {
        println!("{}", plugin.path.display());
        if !plugin.executable {
            println!("  - warning: {} is not executable", plugin.path.display());
        }
        if let Some(first) = &plugin.shadowed_by {
            println!(
                "  - warning: {} is shadowed by {}, found earlier on PATH",
                plugin.path.display(),
                first.display()
            );
        }
    }
    Ok(())
}

pub fn check(key_reference: &str, timeout: Duration) -> Result<(), CliError> {
    let mut config = Config::new(key_reference);
    config.timeout = timeout;
    let report = run(&config, |result| println!("{result}"))?;
    println!("{}", report.summary());
    if report.is_success() {
        Ok(())
    } else {
        Err(CliError::ChecksFailed {
            failed: report.failed(),
        })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn touch(path: &Path, mode: u32) {
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn lists_plugins_in_path_order_marking_shadowed_and_non_executable() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        touch(&first.path().join("sigstore-kms-a"), 0o755);
        touch(&first.path().join("sigstore-kms-b"), 0o644);
        touch(&first.path().join("unrelated"), 0o755);
        touch(&second.path().join("sigstore-kms-a"), 0o755);
        touch(&second.path().join("sigstore-kms-b"), 0o755);
        // Cargo's dependency file beside a plugin is not a plugin.
        touch(&first.path().join("sigstore-kms-a.d"), 0o644);
        // No key reference can name these: the lookup never runs them.
        touch(&first.path().join("sigstore-kms-"), 0o755);
        touch(&first.path().join("sigstore-kms-.."), 0o755);
        // The lookup skips relative directories: what is there neither
        // appears nor shadows anything.
        let relative = tempfile::tempdir_in(".").unwrap();
        touch(&relative.path().join("sigstore-kms-a"), 0o755);
        let relative_entry = Path::new(relative.path().file_name().unwrap());
        assert!(relative_entry.join("sigstore-kms-a").is_file());
        let search_path = std::env::join_paths([
            relative_entry,
            first.path(),
            Path::new("/nonexistent"),
            second.path(),
        ])
        .unwrap();

        let found = find_plugins(&search_path);
        let expected = vec![
            Found {
                path: first.path().join("sigstore-kms-a"),
                executable: true,
                shadowed_by: None,
            },
            Found {
                path: first.path().join("sigstore-kms-b"),
                executable: false,
                shadowed_by: None,
            },
            Found {
                path: second.path().join("sigstore-kms-a"),
                executable: true,
                shadowed_by: Some(first.path().join("sigstore-kms-a")),
            },
            // A non-executable file earlier on PATH does not shadow: lookup skips it.
            Found {
                path: second.path().join("sigstore-kms-b"),
                executable: true,
                shadowed_by: None,
            },
        ];
        assert_eq!(found, expected);
    }
}
