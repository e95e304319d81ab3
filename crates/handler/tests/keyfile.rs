//! The key file helpers: one winner among racing creators, nothing ever
//! replaced, and files others own or can reach refused.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::Path;
use std::sync::{Arc, Barrier};

use sigstore_kms_handler::keyfile::{self, Created, KeyFileError};

fn read(path: &Path) -> Vec<u8> {
    let mut contents = Vec::new();
    keyfile::open(path)
        .unwrap()
        .read_to_end(&mut contents)
        .unwrap();
    contents
}

fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect()
}

#[test]
fn concurrent_creators_make_one_key_file_and_all_read_it() {
    const RACERS: usize = 16;
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = Arc::new(dir.path().join("key.pem"));
        let start = Arc::new(Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|racer| {
                let path = Arc::clone(&path);
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    let mine = format!("key of racer {racer}\n").into_bytes();
                    start.wait();
                    let created = keyfile::create_new(&path, &mine).unwrap();
                    (mine, created, read(&path))
                })
            })
            .collect();
        let results: Vec<_> = racers.into_iter().map(|t| t.join().unwrap()).collect();

        let winners: Vec<_> = results
            .iter()
            .filter(|(_, created, _)| *created == Created::Written)
            .collect();
        assert_eq!(winners.len(), 1, "exactly one racer writes the key file");
        let winner = &winners[0].0;
        for (_, _, seen) in &results {
            assert_eq!(seen, winner, "every racer reads the winner's key");
        }
        assert_eq!(std::fs::read(&*path).unwrap(), *winner);
        assert_eq!(
            entries(dir.path()),
            BTreeSet::from(["key.pem".to_owned()]),
            "no temporary file is left"
        );
    }
}

#[test]
fn an_existing_file_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.pem");
    assert_eq!(
        keyfile::create_new(&path, b"first").unwrap(),
        Created::Written
    );
    assert_eq!(
        keyfile::create_new(&path, b"second").unwrap(),
        Created::AlreadyExists
    );
    assert_eq!(read(&path), b"first");
    assert_eq!(entries(dir.path()).len(), 1);
}

#[test]
fn a_missing_directory_is_named_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing/key.pem");
    let err = keyfile::create_new(&path, b"key").unwrap_err();
    assert!(matches!(err, KeyFileError::Create { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot create key file {}: directory {} does not exist",
            path.display(),
            dir.path().join("missing").display()
        )
    );
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn a_missing_file_is_not_found_and_a_directory_is_not_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    assert!(matches!(
        keyfile::open(&missing),
        Err(KeyFileError::NotFound { path }) if path == missing
    ));
    let err = keyfile::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            KeyFileError::NotAFile {
                kind: "a directory",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .ends_with(": it is a directory, not a regular file"));
}

#[cfg(unix)]
mod unix {
    use std::os::unix::fs::{symlink, PermissionsExt as _};

    use super::*;

    fn write_mode(path: &Path, mode: u32) {
        std::fs::write(path, b"private key").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_created_key_file_has_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        keyfile::create_new(&path, b"key").unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn the_users_own_file_with_mode_0600_or_0400_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        for allowed in [0o600, 0o400, 0o700] {
            write_mode(&path, allowed);
            assert_eq!(read(&path), b"private key", "mode {allowed:o}");
        }
    }

    #[test]
    fn a_file_group_or_others_can_read_or_write_is_refused_naming_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        for open_mode in [
            0o644, 0o640, 0o604, 0o660, 0o606, 0o620, 0o602, 0o610, 0o601,
        ] {
            write_mode(&path, open_mode);
            let err = keyfile::open(&path).unwrap_err();
            assert!(
                matches!(err, KeyFileError::Exposed { mode, .. } if mode == open_mode),
                "{err:?}"
            );
            let message = err.to_string();
            assert!(
                message.contains(&format!("(mode {open_mode:o})")),
                "{message}"
            );
            assert!(
                message.contains(&format!("`chmod 600 {}`", path.display())),
                "{message}"
            );
            assert_eq!(mode(&path), open_mode, "the mode is left alone");
        }
    }

    /// Only a privileged user can give a file away; elsewhere the test says
    /// why it did nothing.
    #[test]
    fn a_file_another_user_owns_is_refused_even_with_mode_0600() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: only root can make a file owned by another user");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("planted.pem");
        write_mode(&path, 0o600);
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        let err = keyfile::open(&path).unwrap_err();
        assert!(
            matches!(
                err,
                KeyFileError::ForeignOwner {
                    owner: 65534,
                    user: 0,
                    ..
                }
            ),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("owned by user id 65534"), "{message}");
        assert!(
            message.contains(&format!("`chown 0 {}`", path.display())),
            "{message}"
        );

        // Through a link the user owns, the planted file is still refused.
        let link = dir.path().join("link.pem");
        symlink(&path, &link).unwrap();
        assert!(matches!(
            keyfile::open(&link),
            Err(KeyFileError::ForeignOwner { .. })
        ));
        // And creating the key there leaves it alone: it exists.
        assert_eq!(
            keyfile::create_new(&path, b"mine").unwrap(),
            Created::AlreadyExists
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"private key");
    }

    #[test]
    fn a_named_pipe_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo.pem");
        let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let err = keyfile::open(&path).unwrap_err();
        assert!(
            matches!(
                err,
                KeyFileError::NotAFile {
                    kind: "a named pipe",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_dangling_link_is_named_and_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let target = elsewhere.path().join("planted.pem");
        let link = dir.path().join("key.pem");
        symlink(&target, &link).unwrap();
        let err = keyfile::open(&link).unwrap_err();
        assert!(
            matches!(&err, KeyFileError::DanglingLink { target: t, .. } if *t == target),
            "{err:?}"
        );
        assert_eq!(
            keyfile::create_new(&link, b"key").unwrap(),
            Created::AlreadyExists
        );
        assert!(
            entries(elsewhere.path()).is_empty(),
            "nothing written through"
        );
        assert_eq!(entries(dir.path()), BTreeSet::from(["key.pem".to_owned()]));
    }
}
