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

/// `$XDG_RUNTIME_DIR/NAME` when that directory is private to this user
/// (see [`runtime_dir`]), else `NAME-UID` in the temporary directory, made
/// sure to be private (see [`ensure_private`]).
pub fn private_dir(name: &str) -> io::Result<PathBuf> {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let dir = match runtime_dir() {
        Some(runtime) => runtime.join(name),
        None => env::temp_dir().join(format!("{name}-{uid}")),
    };
    ensure_private(&dir, uid)?;
    Ok(dir)
}

/// `$XDG_RUNTIME_DIR`, where the plugin's private directories go, when it
/// is an absolute path to a directory private to this user: the one rule
/// for every directory of the plugin's (the create locks, the agent's
/// socket). A variable inherited through `su` or `sudo` can name another
/// user's directory, or one that does not exist.
pub fn runtime_dir() -> Option<PathBuf> {
    runtime_dir_from(env::var_os("XDG_RUNTIME_DIR"))
}

fn runtime_dir_from(value: Option<std::ffi::OsString>) -> Option<PathBuf> {
    value
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute() && check_private(dir).is_ok())
}

/// Refuses `dir` unless it is a directory (not a link) that this user
/// owns and only this user can enter.
pub fn check_private(dir: &Path) -> io::Result<()> {
    // SAFETY: getuid has no preconditions and cannot fail.
    check_private_for(dir, unsafe { libc::getuid() })
}

/// Creates `dir` with mode 0700 if it is missing, and refuses it unless it
/// is a directory (not a link) that `uid` owns and only `uid` can enter:
/// in a shared temporary directory, another user may have made it first.
fn ensure_private(dir: &Path, uid: libc::uid_t) -> io::Result<()> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    check_private_for(dir, uid)
}

fn check_private_for(dir: &Path, uid: libc::uid_t) -> io::Result<()> {
    let metadata = fs::symlink_metadata(dir)?;
    let reason = if !metadata.is_dir() {
        "it is not a directory"
    } else if metadata.uid() != uid {
        "another user owns it"
    } else if exposed_mode(&metadata).is_some() {
        "group or others have access to it"
    } else {
        return Ok(());
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

#[cfg(test)]
mod tests {
    use std::fs::Permissions;
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn uid() -> libc::uid_t {
        // SAFETY: getuid has no preconditions and cannot fail.
        unsafe { libc::getuid() }
    }

    #[test]
    fn a_private_directory_is_made_or_refused() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("made");
        ensure_private(&dir, uid()).unwrap();
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        ensure_private(&dir, uid()).expect("an existing private directory is used");

        let open = base.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, Permissions::from_mode(0o755)).unwrap();
        let link = base.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let file = base.path().join("file");
        fs::write(&file, b"").unwrap();
        for (path, uid, reason) in [
            (&open, uid(), "group or others have access to it"),
            (&link, uid(), "it is not a directory"),
            (&file, uid(), "it is not a directory"),
            (&dir, uid() + 1, "another user owns it"),
        ] {
            let err = ensure_private(path, uid).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
            assert!(err.to_string().contains(reason), "{err}");
        }
    }

    #[test]
    fn only_a_private_runtime_directory_is_used() {
        let base = tempfile::tempdir().unwrap();
        let private = base.path().join("private");
        ensure_private(&private, uid()).unwrap();
        let open = base.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, Permissions::from_mode(0o755)).unwrap();
        let runtime = |dir: &Path| runtime_dir_from(Some(dir.as_os_str().to_owned()));
        assert_eq!(runtime(&private), Some(private.clone()));
        for refused in [&open, &base.path().join("missing"), Path::new("relative")] {
            assert_eq!(runtime(refused), None, "{}", refused.display());
        }
        assert_eq!(runtime_dir_from(None), None);
    }

    #[test]
    fn the_lock_is_exclusive_between_holders() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.lock");
        let held = lock_exclusive(&path).unwrap();
        // Another open file description on the same file, as another
        // process would have.
        let other = OpenOptions::new().read(true).open(&path).unwrap();
        // SAFETY: the descriptor is open for the duration of the call.
        let taken = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(taken, -1, "a second holder got the lock");
        drop(held);
        let again = lock_exclusive(&path).unwrap();
        drop(again);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
