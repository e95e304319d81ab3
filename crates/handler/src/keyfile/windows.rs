//! Windows: the owner and the access control list (DACL) of the file, in
//! place of Unix's owner and mode bits.
//!
//! A new key file is created with a protected DACL holding one entry, full
//! access for the user, so it takes nothing from its directory's
//! inheritable entries. An existing key file is used when its owner is the
//! user, or the owner Windows gives this user's new files (Administrators,
//! for an elevated administrator), and no entry of its DACL lets another
//! account read, write, or change the DACL or owner. SYSTEM and
//! Administrators may hold access, as they do on every file by default:
//! they can read any file anyway (as root can on Unix).

use std::ffi::c_void;
use std::fs::{File, FileType, Metadata, OpenOptions};
use std::io;
use std::os::windows::ffi::OsStrExt as _;
use std::os::windows::fs::OpenOptionsExt as _;
use std::os::windows::io::{AsRawHandle as _, FromRawHandle as _, RawHandle};
use std::path::Path;
use std::ptr;

use windows_sys::Win32::Foundation::{
    CloseHandle, LocalFree, GENERIC_ALL, GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo,
    SDDL_REVISION_1, SE_FILE_OBJECT,
};
use windows_sys::Win32::Security::{
    AclSizeInformation, GetAce, GetAclInformation, GetTokenInformation, TokenOwner, TokenUser,
    ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, ACL_SIZE_INFORMATION, DACL_SECURITY_INFORMATION,
    INHERIT_ONLY_ACE, OWNER_SECURITY_INFORMATION, PSID, SECURITY_ATTRIBUTES,
    TOKEN_INFORMATION_CLASS, TOKEN_OWNER, TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, CREATE_NEW, FILE_APPEND_DATA, FILE_ATTRIBUTE_NORMAL, FILE_FLAG_BACKUP_SEMANTICS,
    FILE_READ_DATA, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_WRITE_DATA,
    WRITE_DAC, WRITE_OWNER,
};
use windows_sys::Win32::System::SystemServices::{
    ACCESS_ALLOWED_ACE_TYPE, ACCESS_ALLOWED_CALLBACK_ACE_TYPE,
    ACCESS_ALLOWED_CALLBACK_OBJECT_ACE_TYPE, ACCESS_ALLOWED_COMPOUND_ACE_TYPE,
    ACCESS_ALLOWED_OBJECT_ACE_TYPE,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::KeyFileError;

#[cfg(test)]
mod tests;

/// Accounts whose access to a key file is no exposure: SYSTEM and
/// Administrators, which can read every file, and OWNER RIGHTS, which is
/// the owner already checked.
const TRUSTED: [&str; 3] = ["S-1-5-18", "S-1-5-32-544", "S-1-3-4"];

/// Rights that let an account learn the key, replace it, or give itself
/// either.
const EXPOSING_RIGHTS: u32 = FILE_READ_DATA
    | FILE_WRITE_DATA
    | FILE_APPEND_DATA
    | WRITE_DAC
    | WRITE_OWNER
    | GENERIC_READ
    | GENERIC_WRITE
    | GENERIC_ALL;

/// Backup semantics let a directory at the path open too, so the caller
/// can say "it is a directory" rather than "access denied".
pub(super) fn open_for_reading(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(path)
}

pub(super) fn special_file_kind(_file_type: &FileType) -> &'static str {
    "not a file"
}

/// The owner is the user, and the DACL gives no other account access; see
/// the module documentation.
pub(super) fn check_owner_and_access(
    path: &Path,
    file: &File,
    _metadata: &Metadata,
) -> Result<(), KeyFileError> {
    let read_error = |source| KeyFileError::Read {
        path: path.to_owned(),
        source,
    };
    let user = Identity::current().map_err(read_error)?;
    let security = Security::of(file).map_err(read_error)?;
    check(path, &user, &security)
}

/// The rules, on the owner and DACL of a file or, in tests, of a
/// descriptor written in SDDL.
fn check(path: &Path, user: &Identity, security: &Security) -> Result<(), KeyFileError> {
    let read_error = |source| KeyFileError::Read {
        path: path.to_owned(),
        source,
    };
    let owner = security.owner().map_err(read_error)?;
    if owner != user.sid && owner != user.default_owner {
        return Err(KeyFileError::ForeignOwnerAccount {
            path: path.to_owned(),
            owner,
            user: user.sid.clone(),
        });
    }
    let mut others = Vec::new();
    for trustee in security.trustees_with_access().map_err(read_error)? {
        let trusted = trustee == user.sid
            || trustee == user.default_owner
            || TRUSTED.contains(&trustee.as_str());
        if !trusted && !others.contains(&trustee) {
            others.push(trustee);
        }
    }
    if others.is_empty() {
        Ok(())
    } else {
        Err(KeyFileError::ExposedAcl {
            path: path.to_owned(),
            others,
            user: user.sid.clone(),
        })
    }
}

/// Creates `path`, which must not exist, with a protected DACL that gives
/// the user full access and no one else any.
pub(super) fn create_private(path: &Path) -> io::Result<File> {
    let user = Identity::current()?;
    let descriptor = LocalMemory::from_sddl(&format!("D:P(A;;FA;;;{})", user.sid))?;
    let attributes = SECURITY_ATTRIBUTES {
        nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor.0,
        bInheritHandle: 0,
    };
    let wide = wide(path);
    // SAFETY: `wide` is NUL-terminated and `attributes` points at a valid
    // descriptor; both outlive the call.
    let handle = unsafe {
        CreateFileW(
            wide.as_ptr(),
            GENERIC_READ | GENERIC_WRITE,
            // As std opens files: the file can be renamed into place while
            // open.
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            &attributes,
            CREATE_NEW,
            FILE_ATTRIBUTE_NORMAL,
            ptr::null_mut(),
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new handle that nothing else owns.
    Ok(unsafe { File::from_raw_handle(handle as RawHandle) })
}

/// NTFS writes a renamed entry's metadata through its journal; there is no
/// directory handle to flush.
pub(super) fn sync_dir(_dir: &Path) {}

fn wide(path: &Path) -> Vec<u16> {
    path.as_os_str()
        .encode_wide()
        .chain(std::iter::once(0))
        .collect()
}

/// The SIDs, as strings (`S-1-5-21-...`), that the process runs as.
struct Identity {
    /// The user.
    sid: String,
    /// The owner Windows gives the objects this process creates.
    default_owner: String,
}

impl Identity {
    fn current() -> io::Result<Identity> {
        let mut token: HANDLE = ptr::null_mut();
        // SAFETY: the pseudo-handle of this process, and a place for the
        // token handle.
        if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
            return Err(io::Error::last_os_error());
        }
        let token = Handle(token);
        let user = token.information(TokenUser)?;
        let owner = token.information(TokenOwner)?;
        // SAFETY: GetTokenInformation wrote a TOKEN_USER and a TOKEN_OWNER,
        // whose SIDs point into the same buffers, into aligned buffers.
        unsafe {
            Ok(Identity {
                sid: sid_string((*user.as_ptr().cast::<TOKEN_USER>()).User.Sid)?,
                default_owner: sid_string((*owner.as_ptr().cast::<TOKEN_OWNER>()).Owner)?,
            })
        }
    }
}

struct Handle(HANDLE);

impl Handle {
    /// One class of token information, in a buffer aligned for any of its
    /// structures.
    fn information(&self, class: TOKEN_INFORMATION_CLASS) -> io::Result<Vec<u64>> {
        let mut needed = 0u32;
        // SAFETY: a size query: no buffer, and a place for the size.
        unsafe { GetTokenInformation(self.0, class, ptr::null_mut(), 0, &mut needed) };
        let mut buffer = vec![0u64; (needed as usize).div_ceil(8).max(1)];
        let size = (buffer.len() * 8) as u32;
        // SAFETY: `buffer` holds `size` writable bytes.
        let ok = unsafe {
            GetTokenInformation(self.0, class, buffer.as_mut_ptr().cast(), size, &mut needed)
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(buffer)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: a handle this value owns.
        unsafe { CloseHandle(self.0) };
    }
}

/// Memory the system allocated for us (a security descriptor, a string),
/// freed with `LocalFree`.
struct LocalMemory(*mut c_void);

impl LocalMemory {
    /// The security descriptor that `sddl` describes.
    fn from_sddl(sddl: &str) -> io::Result<LocalMemory> {
        let wide: Vec<u16> = sddl.encode_utf16().chain(std::iter::once(0)).collect();
        let mut descriptor = ptr::null_mut();
        // SAFETY: a NUL-terminated string and a place for the result.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                wide.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(LocalMemory(descriptor))
    }
}

impl Drop for LocalMemory {
    fn drop(&mut self) {
        // SAFETY: memory the system allocated with LocalAlloc, freed once.
        unsafe { LocalFree(self.0) };
    }
}

/// The owner and DACL of a security descriptor; both point into
/// `_descriptor`.
struct Security {
    owner: PSID,
    dacl: *const ACL,
    _descriptor: LocalMemory,
}

impl Security {
    /// The owner and DACL of an open file.
    fn of(file: &File) -> io::Result<Security> {
        let mut owner = ptr::null_mut();
        let mut dacl = ptr::null_mut();
        let mut descriptor = ptr::null_mut();
        // SAFETY: an open handle (with READ_CONTROL, part of read access)
        // and places for the results.
        let status = unsafe {
            GetSecurityInfo(
                file.as_raw_handle() as HANDLE,
                SE_FILE_OBJECT,
                OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                &mut owner,
                ptr::null_mut(),
                &mut dacl,
                ptr::null_mut(),
                &mut descriptor,
            )
        };
        if status != 0 {
            return Err(io::Error::from_raw_os_error(status as i32));
        }
        Ok(Security {
            owner,
            dacl,
            _descriptor: LocalMemory(descriptor),
        })
    }

    /// The owner and DACL that `sddl` describes.
    #[cfg(test)]
    fn from_sddl(sddl: &str) -> io::Result<Security> {
        use windows_sys::Win32::Security::{GetSecurityDescriptorDacl, GetSecurityDescriptorOwner};

        let descriptor = LocalMemory::from_sddl(sddl)?;
        let (mut owner, mut dacl) = (ptr::null_mut(), ptr::null_mut());
        let (mut present, mut defaulted) = (0, 0);
        // SAFETY: a valid descriptor and places for the results, which
        // point into it.
        let ok = unsafe {
            GetSecurityDescriptorOwner(descriptor.0, &mut owner, &mut defaulted) != 0
                && GetSecurityDescriptorDacl(descriptor.0, &mut present, &mut dacl, &mut defaulted)
                    != 0
        };
        if !ok {
            return Err(io::Error::last_os_error());
        }
        Ok(Security {
            owner,
            dacl,
            _descriptor: descriptor,
        })
    }

    /// The owner's SID; a file system that records no owner (FAT) has
    /// none, which no user is.
    fn owner(&self) -> io::Result<String> {
        if self.owner.is_null() {
            return Ok("(none: the file system records no owner)".to_owned());
        }
        sid_string(self.owner)
    }

    /// The SIDs that the DACL's entries allow any exposing right. A file
    /// without a DACL is open to everyone (`S-1-1-0`). Entries of the kinds
    /// Windows uses for directory-service objects, not files, name no SID
    /// this reads; they count as an unknown account. Deny entries are not
    /// weighed against allow entries: an allowed account is reported even
    /// if a deny entry would stop it, which errs on the side of refusing.
    fn trustees_with_access(&self) -> io::Result<Vec<String>> {
        if self.dacl.is_null() {
            return Ok(vec!["S-1-1-0".to_owned()]);
        }
        let mut size = ACL_SIZE_INFORMATION::default();
        // SAFETY: a valid ACL and a buffer of the requested class's size.
        let ok = unsafe {
            GetAclInformation(
                self.dacl,
                (&raw mut size).cast(),
                size_of::<ACL_SIZE_INFORMATION>() as u32,
                AclSizeInformation,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut trustees = Vec::new();
        for index in 0..size.AceCount {
            let mut ace: *mut c_void = ptr::null_mut();
            // SAFETY: an index below the ACL's entry count.
            if unsafe { GetAce(self.dacl, index, &mut ace) } == 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: every entry starts with an ACE_HEADER.
            let header = unsafe { *ace.cast::<ACE_HEADER>() };
            if u32::from(header.AceFlags) & INHERIT_ONLY_ACE != 0 {
                continue;
            }
            match u32::from(header.AceType) {
                ACCESS_ALLOWED_ACE_TYPE | ACCESS_ALLOWED_CALLBACK_ACE_TYPE => {
                    // SAFETY: both types are laid out as ACCESS_ALLOWED_ACE,
                    // the SID starting at `SidStart`.
                    let (mask, sid) = unsafe {
                        let allowed = ace.cast::<ACCESS_ALLOWED_ACE>();
                        ((*allowed).Mask, (&raw mut (*allowed).SidStart).cast())
                    };
                    if mask & EXPOSING_RIGHTS != 0 {
                        trustees.push(sid_string(sid)?);
                    }
                }
                ACCESS_ALLOWED_OBJECT_ACE_TYPE
                | ACCESS_ALLOWED_CALLBACK_OBJECT_ACE_TYPE
                | ACCESS_ALLOWED_COMPOUND_ACE_TYPE => {
                    trustees.push(format!(
                        "an account in an access entry of type {}",
                        header.AceType
                    ));
                }
                _ => {}
            }
        }
        Ok(trustees)
    }
}

fn sid_string(sid: PSID) -> io::Result<String> {
    let mut text = ptr::null_mut();
    // SAFETY: a valid SID and a place for the string.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let text = LocalMemory(text.cast());
    let start = text.0.cast::<u16>().cast_const();
    // SAFETY: a NUL-terminated string that `text` frees on drop.
    let units = unsafe {
        let len = (0..).take_while(|&i| *start.add(i) != 0).count();
        std::slice::from_raw_parts(start, len)
    };
    Ok(String::from_utf16_lossy(units))
}
