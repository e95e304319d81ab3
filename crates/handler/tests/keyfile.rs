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

/// Windows: the owner and the access control list stand in for Unix's
/// owner and mode. Read back and set through the Windows API, in the
/// security descriptor language (SDDL: `D:P(A;;FA;;;SID)` is a protected
/// DACL with one entry, full access for SID).
///
/// Under Wine, whose file system keeps no DACL, some of this cannot hold:
/// Wine maps a DACL onto the file's Unix mode bits and reports one made
/// from them (full access for SYSTEM, the user's entry from the owner's
/// bits, Everyone's from the others' bits), so a protected flag, a DACL
/// entry for any other account, or an owner cannot be stored. Tests say
/// what Wine does instead, or why they stop there; the rules themselves are
/// tested on in-memory descriptors, under Wine too, by the unit tests of
/// `keyfile/windows.rs`.
#[cfg(windows)]
mod windows {
    use std::os::windows::ffi::OsStrExt as _;
    use std::ptr;

    use windows_sys::Win32::Foundation::{CloseHandle, LocalFree, HANDLE};
    use windows_sys::Win32::Security::Authorization::{
        ConvertSecurityDescriptorToStringSecurityDescriptorW, ConvertSidToStringSidW,
        ConvertStringSecurityDescriptorToSecurityDescriptorW, GetNamedSecurityInfoW,
        SetNamedSecurityInfoW, SDDL_REVISION_1, SE_FILE_OBJECT,
    };
    use windows_sys::Win32::Security::{
        GetSecurityDescriptorDacl, GetSecurityDescriptorOwner, GetTokenInformation, TokenUser,
        DACL_SECURITY_INFORMATION, OWNER_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION,
        TOKEN_QUERY, TOKEN_USER, UNPROTECTED_DACL_SECURITY_INFORMATION,
    };
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

    use super::*;

    const EVERYONE: &str = "S-1-1-0";

    /// Wine's ntdll exports its version; Windows' does not.
    fn under_wine() -> bool {
        // SAFETY: NUL-terminated names; ntdll is loaded in every process.
        unsafe {
            let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr().cast());
            !ntdll.is_null() && GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()).is_some()
        }
    }

    /// Under Wine, says why the test stops here, and returns true.
    fn stops_under_wine(why: &str) -> bool {
        let wine = under_wine();
        if wine {
            eprintln!(
                "not checked under Wine: {why}; the rule is unit-tested in keyfile/windows.rs"
            );
        }
        wine
    }

    fn wide(text: &std::ffi::OsStr) -> Vec<u16> {
        text.encode_wide().chain(std::iter::once(0)).collect()
    }

    /// A string the system allocated, copied out and freed.
    fn take_string(text: *mut u16) -> String {
        // SAFETY: a NUL-terminated string from LocalAlloc, freed once.
        unsafe {
            let len = (0..).take_while(|&i| *text.add(i) != 0).count();
            let copy = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
            LocalFree(text.cast());
            copy
        }
    }

    fn user_sid() -> String {
        // SAFETY: the calls' documented contracts: a token handle closed
        // once, a buffer (aligned, larger than a TOKEN_USER with any SID)
        // holding a TOKEN_USER whose SID points into it.
        unsafe {
            let mut token: HANDLE = ptr::null_mut();
            assert_ne!(
                OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token),
                0
            );
            let mut buffer = vec![0u64; 64];
            let mut needed = 0;
            assert_ne!(
                GetTokenInformation(
                    token,
                    TokenUser,
                    buffer.as_mut_ptr().cast(),
                    (buffer.len() * 8) as u32,
                    &mut needed
                ),
                0
            );
            CloseHandle(token);
            let mut text = ptr::null_mut();
            let sid = (*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid;
            assert_ne!(ConvertSidToStringSidW(sid, &mut text), 0);
            take_string(text)
        }
    }

    /// The SDDL of what `information` asks for (owner, DACL) of `path`, as
    /// Windows reports it.
    fn security_of(path: &Path, information: u32) -> String {
        let name = wide(path.as_os_str());
        let mut descriptor = ptr::null_mut();
        // SAFETY: a NUL-terminated path and places for the results; the
        // descriptor is freed once.
        unsafe {
            let status = GetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                information,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                &mut descriptor,
            );
            assert_eq!(status, 0, "GetNamedSecurityInfoW({})", path.display());
            let mut text = ptr::null_mut();
            assert_ne!(
                ConvertSecurityDescriptorToStringSecurityDescriptorW(
                    descriptor,
                    SDDL_REVISION_1,
                    information,
                    &mut text,
                    ptr::null_mut()
                ),
                0
            );
            LocalFree(descriptor);
            take_string(text)
        }
    }

    fn dacl_of(path: &Path) -> String {
        security_of(path, DACL_SECURITY_INFORMATION)
    }

    /// Sets the owner (when `sddl` has `O:`) and the DACL (protected when
    /// `sddl` has `D:P`, otherwise taking inheritable entries from the
    /// directory) of `path`; Windows' status code, 0 on success.
    fn set_security(path: &Path, sddl: &str) -> u32 {
        let text = wide(std::ffi::OsStr::new(sddl));
        let name = wide(path.as_os_str());
        // SAFETY: NUL-terminated strings, places for the results, a
        // descriptor whose owner and DACL point into it, freed once.
        unsafe {
            let mut descriptor = ptr::null_mut();
            assert_ne!(
                ConvertStringSecurityDescriptorToSecurityDescriptorW(
                    text.as_ptr(),
                    SDDL_REVISION_1,
                    &mut descriptor,
                    ptr::null_mut()
                ),
                0,
                "{sddl}"
            );
            let (mut owner, mut dacl) = (ptr::null_mut(), ptr::null_mut());
            let (mut present, mut defaulted) = (0, 0);
            GetSecurityDescriptorOwner(descriptor, &mut owner, &mut defaulted);
            GetSecurityDescriptorDacl(descriptor, &mut present, &mut dacl, &mut defaulted);
            let mut information = 0;
            if !owner.is_null() {
                information |= OWNER_SECURITY_INFORMATION;
            }
            if present != 0 {
                information |= DACL_SECURITY_INFORMATION
                    | if sddl.contains("D:P") {
                        PROTECTED_DACL_SECURITY_INFORMATION
                    } else {
                        UNPROTECTED_DACL_SECURITY_INFORMATION
                    };
            }
            let status = SetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                information,
                owner,
                ptr::null_mut(),
                dacl,
                ptr::null_mut(),
            );
            LocalFree(descriptor);
            status
        }
    }

    fn write_with_dacl(path: &Path, sddl: &str) {
        std::fs::write(path, b"private key").unwrap();
        assert_eq!(set_security(path, sddl), 0, "{sddl}");
    }

    /// The DACL a new key file must have: on Windows exactly the one it is
    /// created with; under Wine the one Wine makes of mode 0600 (and no
    /// entry for Everyone, which a file made as std makes it would have).
    fn private_dacl() -> String {
        let user = user_sid();
        if under_wine() {
            eprintln!(
                "under Wine: the DACL is the one Wine derives from the Unix mode, \
                 with no protected flag; checked for no entry but SYSTEM's and the user's"
            );
            format!("D:(A;;FA;;;SY)(A;;FA;;;{user})")
        } else {
            format!("D:P(A;;FA;;;{user})")
        }
    }

    #[test]
    fn a_created_key_file_has_a_protected_dacl_granting_only_the_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        keyfile::create_new(&path, b"key").unwrap();
        assert_eq!(dacl_of(&path), private_dacl());
        assert_eq!(read(&path), b"key");
    }

    /// A directory that passes full access for Everyone on to new files, as
    /// a shared or carelessly set up directory does.
    fn directory_open_to_everyone() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let sddl = format!("D:P(A;OICI;FA;;;{})(A;OICI;FA;;;WD)", user_sid());
        assert_eq!(set_security(dir.path(), &sddl), 0);
        dir
    }

    #[test]
    fn a_key_created_in_a_directory_open_to_everyone_inherits_nothing() {
        let dir = directory_open_to_everyone();
        let path = dir.path().join("key.pem");
        keyfile::create_new(&path, b"key").unwrap();
        assert_eq!(dacl_of(&path), private_dacl());
        assert_eq!(read(&path), b"key");
    }

    /// Under Wine the entry for Everyone comes from the file's Unix mode
    /// (0644, as std creates files), not from the directory: Wine passes
    /// no entries on. The file is refused all the same.
    #[test]
    fn a_file_that_inherited_access_for_everyone_is_refused() {
        let dir = directory_open_to_everyone();
        let path = dir.path().join("key.pem");
        std::fs::write(&path, b"private key").unwrap();
        let dacl = dacl_of(&path);
        let inherited = if under_wine() { ";;" } else { ";ID;" };
        assert!(
            dacl.contains(&format!("(A{inherited}")) && dacl.contains(";WD)"),
            "the file has the directory's entry for Everyone: {dacl}"
        );
        let err = keyfile::open(&path).unwrap_err();
        assert!(
            matches!(&err, KeyFileError::ExposedAcl { others, .. } if *others == [EVERYONE]),
            "{err:?}"
        );
    }

    #[test]
    fn a_file_others_can_read_or_write_is_refused_naming_the_fix() {
        if stops_under_wine("a DACL set on a file is not stored") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        let user = user_sid();
        for (entries, others) in [
            ("(A;;FR;;;WD)", vec![EVERYONE]),
            ("(A;;FW;;;BU)(A;;FR;;;WD)", vec!["S-1-5-32-545", EVERYONE]),
            ("(A;;WD;;;AU)", vec!["S-1-5-11"]),
        ] {
            write_with_dacl(&path, &format!("D:P(A;;FA;;;{user}){entries}"));
            let err = keyfile::open(&path).unwrap_err();
            assert!(
                matches!(&err, KeyFileError::ExposedAcl { others: o, .. } if *o == others),
                "{entries}: {err:?}"
            );
            let message = err.to_string();
            let fix = format!(
                "`icacls \"{path}\" /inheritance:r /grant:r \"*{user}:F\"` and \
                 `icacls \"{path}\" /remove {remove}`",
                path = path.display(),
                remove = others
                    .iter()
                    .map(|sid| format!("\"*{sid}\""))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            assert!(message.contains(&fix), "{message}");
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn the_users_own_file_open_only_to_system_and_administrators_opens() {
        if stops_under_wine("a DACL set on a file is not stored") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        let user = user_sid();
        for entries in ["", "(A;;FA;;;SY)(A;;FA;;;BA)", "(A;OICIIO;FA;;;WD)"] {
            write_with_dacl(&path, &format!("D:P(A;;FA;;;{user}){entries}"));
            assert_eq!(read(&path), b"private key", "{entries}");
            std::fs::remove_file(&path).unwrap();
        }
    }

    /// Giving a file to another account takes SeRestorePrivilege; without
    /// it the test says why it did nothing.
    #[test]
    fn a_file_another_account_owns_is_refused_even_with_a_private_dacl() {
        if stops_under_wine("a file's owner is not stored") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("planted.pem");
        let user = user_sid();
        let users = "S-1-5-32-545";
        write_with_dacl(&path, &format!("D:P(A;;FA;;;{user})"));
        let status = set_security(&path, &format!("O:{users}"));
        if status != 0 {
            eprintln!(
                "skipped: giving a file to another account needs SeRestorePrivilege \
                 (status {status})"
            );
            return;
        }
        assert_eq!(
            security_of(&path, OWNER_SECURITY_INFORMATION),
            "O:BU",
            "the file is the Users group's"
        );
        let err = keyfile::open(&path).unwrap_err();
        assert!(
            matches!(
                &err,
                KeyFileError::ForeignOwnerAccount { owner, user: u, .. }
                    if owner == users && *u == user
            ),
            "{err:?}"
        );
        assert_eq!(
            keyfile::create_new(&path, b"mine").unwrap(),
            Created::AlreadyExists
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"private key");
    }
}
