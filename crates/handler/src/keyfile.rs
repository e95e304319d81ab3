//! Private key files done right: opened only when they are private to the
//! user, created atomically, private from the start (mode 0600 on Unix, an
//! owner-only access control list on Windows), and never replaced.
//!
//! A plugin that keeps keys in files meets two attacks. Another user plants
//! a key of their own at the key path (in a shared directory, say), so that
//! the victim publishes, and signs with, a key the planter holds. Or two
//! processes create the key at once, and callers get different public keys
//! for one key reference. [`open`] refuses, as OpenSSH does for private
//! keys, any file that is not a regular file the user owns with no access
//! for group and others (on Windows: that the user owns, with no access for
//! other accounts); [`create_new`] writes a new key so that exactly one
//! of any number of racing creators wins and no reader sees a partial file.
//!
//! A plugin's "load the key, or create it" is this loop:
//!
//! ```
//! use std::io::Read as _;
//! use std::path::Path;
//!
//! use sigstore_kms_handler::keyfile::{self, Created, KeyFileError};
//!
//! /// The key at `path`, and whether this call wrote it.
//! fn load_or_create(path: &Path, new_key: &[u8]) -> Result<(Vec<u8>, bool), KeyFileError> {
//!     let read = |mut file: std::fs::File| {
//!         let mut key = Vec::new();
//!         file.read_to_end(&mut key)
//!             .map(|_| key)
//!             .map_err(|source| KeyFileError::Read { path: path.to_owned(), source })
//!     };
//!     match keyfile::open(path) {
//!         Ok(file) => return Ok((read(file)?, false)),
//!         Err(KeyFileError::NotFound { .. }) => {}
//!         // A planted or exposed key is refused, not adopted.
//!         Err(err) => return Err(err),
//!     }
//!     match keyfile::create_new(path, new_key)? {
//!         Created::Written => Ok((new_key.to_vec(), true)),
//!         // Another process won the race: its key is the key, once checked.
//!         Created::AlreadyExists => Ok((read(keyfile::open(path)?)?, false)),
//!     }
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("key.pem");
//! let (first, created) = load_or_create(&path, b"first key")?;
//! assert!(created);
//! let (again, created) = load_or_create(&path, b"second key")?;
//! assert!(!created);
//! assert_eq!(again, first);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What each system gets:
//!
//! - **Unix**: the file's owner must be the effective user, and its mode
//!   must give group and others nothing; a new key file has mode 0600.
//! - **Windows**: the file's owner must be the user, or the owner Windows
//!   gives this user's new files (Administrators, for an elevated
//!   administrator), and no entry of its access control list (DACL) may let
//!   another account read or write it or change its DACL or owner. SYSTEM
//!   and Administrators may, as they can read every file anyway (as root can
//!   on Unix). A new key file gets a protected DACL, inheriting nothing from
//!   its directory, with one entry: full access for the user. A refusal
//!   names the `icacls` or `takeown` command that fixes it.
//! - **Other systems** (WASI, say): only "is a regular file" is checked, and
//!   a new key file gets the access the system gives new files, so keep
//!   keys in a directory only the user can reach.

use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

#[cfg(not(any(unix, windows)))]
mod other;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

#[cfg(not(any(unix, windows)))]
use other as sys;
#[cfg(unix)]
use unix as sys;
#[cfg(windows)]
use windows as sys;

/// Why a key file cannot be opened or created. No variant carries file
/// contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// No file at the path.
    #[error("key file {} does not exist", path.display())]
    NotFound {
        /// The key file.
        path: PathBuf,
    },
    /// A symbolic link at the key path points at nothing. [`create_new`]
    /// does not write through it: the key would land outside the named
    /// path.
    #[error(
        "key file {} is a symbolic link to {}, which does not exist; remove the link, \
         or name the target's path instead",
        path.display(),
        target.display()
    )]
    DanglingLink {
        /// The key file.
        path: PathBuf,
        /// Where the link points.
        target: PathBuf,
    },
    /// The file exists but cannot be read.
    #[error("cannot read key file {}: {source}", path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// A directory, device, pipe or socket is at the key path.
    #[error("cannot read key file {}: it is {kind}, not a regular file", path.display())]
    NotAFile {
        /// The key file.
        path: PathBuf,
        /// What is there instead, in words ("a directory").
        kind: &'static str,
    },
    /// Unix: the file belongs to another user, who may have planted it to
    /// have their key used as this user's.
    #[error(
        "key file {path} is owned by user id {owner}, not by the user running this plugin \
         (user id {user}): someone else may have put it there, so it is not used; \
         if the key is yours, take ownership with `chown {user} {path}`, otherwise remove it",
        path = path.display()
    )]
    ForeignOwner {
        /// The key file.
        path: PathBuf,
        /// The file's owner.
        owner: u32,
        /// The (effective) user running the plugin.
        user: u32,
    },
    /// Unix: group or others may read or write the file: the key may be
    /// known to others, or replaced by them.
    #[error(
        "key file {path} is accessible by group or others (mode {mode:o}), so it is not used: \
         a private key must be private; restrict it with `chmod 600 {path}`",
        path = path.display()
    )]
    Exposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Windows: the file's owner is another account, which may have
    /// planted it to have their key used as this user's.
    #[error(
        "key file {path} is owned by the account {owner}, not by the user running this plugin \
         ({user}): someone else may have put it there, so it is not used; \
         if the key is yours, take ownership with `takeown /F \"{path}\"`, otherwise remove it",
        path = path.display()
    )]
    ForeignOwnerAccount {
        /// The key file.
        path: PathBuf,
        /// The owner's SID (`S-1-5-21-...`).
        owner: String,
        /// The SID of the user running the plugin.
        user: String,
    },
    /// Windows: the file's access control list lets other accounts read or
    /// write it, or change its access control list or owner.
    #[error(
        "key file {path} is accessible by other accounts ({others}), so it is not used: \
         a private key must be private; restrict it to yourself with \
         `icacls \"{path}\" /inheritance:r /grant:r \"*{user}:F\"`{remove}",
        path = path.display(),
        others = others.join(", "),
        remove = remove_command(path, others)
    )]
    ExposedAcl {
        /// The key file.
        path: PathBuf,
        /// The SIDs of the accounts with access, or a description where
        /// an entry names no SID.
        others: Vec<String>,
        /// The SID of the user running the plugin.
        user: String,
    },
    /// Writing a new key file failed; nothing is left at the key path.
    #[error("cannot create key file {}: {source}", path.display())]
    Create {
        /// The key file.
        path: PathBuf,
        /// What the system said (naming the directory when it is the
        /// directory that is missing or not writable).
        #[source]
        source: io::Error,
    },
}

/// What [`create_new`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// The file is new, with the contents given.
    Written,
    /// A file (or a link) was already at the path, perhaps put there by a
    /// concurrent creator; it was left alone. Read it with [`open`], which
    /// checks it.
    AlreadyExists,
}

/// Opens the private key file at `path` for reading, after checking that
/// it is a regular file owned by the user running this process, with no
/// permission for group or others (mode 0600 or 0400, say, or on Windows
/// no DACL entry for another account). Symbolic links are followed; the
/// file they lead to is checked.
///
/// The checks look at the opened file, not at the path again, so a file
/// swapped in between cannot slip through; a pipe at the path does not
/// block the open. See the [module documentation](self) for what each
/// system checks.
pub fn open(path: &Path) -> Result<File, KeyFileError> {
    let file = sys::open_for_reading(path).map_err(|source| read_error(path, source))?;
    check_private(path, &file)?;
    Ok(file)
}

/// Checks that `file` (opened from `path`, named in messages) is a regular
/// file fit to hold a private key: see [`open`]. For plugins that open key
/// files their own way; the check is of the open file, not of the path, so
/// it leaves no window for a swap. On Windows `file` must be open with
/// read access, which includes the right to read its access control list.
pub fn check_private(path: &Path, file: &File) -> Result<(), KeyFileError> {
    let metadata = file.metadata().map_err(|source| read_error(path, source))?;
    let file_type = metadata.file_type();
    if !file_type.is_file() {
        return Err(KeyFileError::NotAFile {
            path: path.to_owned(),
            kind: if file_type.is_dir() {
                "a directory"
            } else {
                sys::special_file_kind(&file_type)
            },
        });
    }
    sys::check_owner_and_access(path, file, &metadata)
}

/// Creates the key file at `path` holding `contents`, unless something is
/// already there.
///
/// The contents go to a temporary file in the same directory, created
/// private (mode 0600 on Unix, a protected owner-only DACL on Windows),
/// written and flushed to disk, then linked (on Windows, renamed) into place
/// only if `path` still does not exist. So a reader never sees a partial
/// key, an existing file (or a dangling symbolic link) is never replaced or
/// written through, and of any number of processes creating the same key at
/// once exactly one gets [`Created::Written`]: every other one gets
/// [`Created::AlreadyExists`] and reads the winner's key with [`open`]. On
/// failure the temporary file is removed.
pub fn create_new(path: &Path, contents: &[u8]) -> Result<Created, KeyFileError> {
    let create_error = |source| KeyFileError::Create {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".new-key-").suffix(".tmp");
    // Name the directory that is wrong, not the temporary file's made-up
    // name.
    let in_dir = |source: io::Error| {
        let reason = match source.kind() {
            io::ErrorKind::NotFound => format!("directory {} does not exist", dir.display()),
            io::ErrorKind::PermissionDenied => {
                format!("no permission to write in directory {}", dir.display())
            }
            _ => return create_error(source),
        };
        create_error(io::Error::new(source.kind(), reason))
    };
    let mut temp = builder.make_in(dir, sys::create_private).map_err(in_dir)?;
    temp.write_all(contents).map_err(create_error)?;
    temp.as_file().sync_all().map_err(create_error)?;
    match temp.persist_noclobber(path) {
        Ok(_) => {
            sys::sync_dir(dir);
            Ok(Created::Written)
        }
        Err(err) if err.error.kind() == io::ErrorKind::AlreadyExists => Ok(Created::AlreadyExists),
        Err(err) => Err(create_error(err.error)),
    }
}

/// The second half of the fix [`KeyFileError::ExposedAcl`] names: removing
/// the entries of the accounts that have a SID.
fn remove_command(path: &Path, others: &[String]) -> String {
    let sids: Vec<String> = others
        .iter()
        .filter(|other| other.starts_with("S-"))
        .map(|sid| format!("\"*{sid}\""))
        .collect();
    if sids.is_empty() {
        String::new()
    } else {
        format!(
            " and `icacls \"{}\" /remove {}`",
            path.display(),
            sids.join(" ")
        )
    }
}

/// A missing file is [`KeyFileError::NotFound`], or a dangling link when a
/// link is what is there.
fn read_error(path: &Path, source: io::Error) -> KeyFileError {
    match source.kind() {
        io::ErrorKind::NotFound => match std::fs::read_link(path) {
            Ok(target) => KeyFileError::DanglingLink {
                path: path.to_owned(),
                target,
            },
            Err(_) => KeyFileError::NotFound {
                path: path.to_owned(),
            },
        },
        _ => KeyFileError::Read {
            path: path.to_owned(),
            source,
        },
    }
}
