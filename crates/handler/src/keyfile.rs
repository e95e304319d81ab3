//! Private key files done right: opened only when they are private to the
//! user, created atomically with mode 0600, and never replaced.
//!
//! A plugin that keeps keys in files meets two attacks. Another user plants
//! a key of their own at the key path (in a shared directory, say), so that
//! the victim publishes, and signs with, a key the planter holds. Or two
//! processes create the key at once, and callers get different public keys
//! for one key reference. [`open`] refuses, as OpenSSH does for private
//! keys, any file that is not a regular file the user owns with no access
//! for group and others; [`create_new`] writes a new key so that exactly one
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
//! The checks are those of Unix file ownership and permission bits. On
//! other systems only "is a regular file" is checked: the owner and access
//! control list of a file are not inspected, and a new key file gets the
//! access control list its directory passes on, so keep keys in a directory
//! only the user can reach.

use std::fs::{File, Metadata};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

#[cfg(not(unix))]
mod other;
#[cfg(unix)]
mod unix;

#[cfg(not(unix))]
use other as sys;
#[cfg(unix)]
use unix as sys;

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
    /// The file belongs to another user, who may have planted it to have
    /// their key used as this user's.
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
    /// Group or others may read or write the file: the key may be known to
    /// others, or replaced by them.
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
/// permission for group or others (mode 0600 or 0400, say). Symbolic links
/// are followed; the file they lead to is checked.
///
/// The checks look at the opened file, not at the path again, so a file
/// swapped in between cannot slip through; a pipe at the path does not
/// block the open. See the [module documentation](self) for platforms
/// other than Unix.
pub fn open(path: &Path) -> Result<File, KeyFileError> {
    let file = sys::open_for_reading(path).map_err(|source| read_error(path, source))?;
    let metadata = file.metadata().map_err(|source| read_error(path, source))?;
    check_private(path, &metadata)?;
    Ok(file)
}

/// Checks that `metadata` (of the file at `path`, for messages) is that of
/// a regular file fit to hold a private key: see [`open`]. For plugins that
/// open key files their own way; check the opened file's metadata
/// ([`File::metadata`]), not the path's, to leave no window for a swap.
pub fn check_private(path: &Path, metadata: &Metadata) -> Result<(), KeyFileError> {
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
    sys::check_owner_and_mode(path, metadata)
}

/// Creates the key file at `path` holding `contents`, unless something is
/// already there.
///
/// The contents go to a temporary file in the same directory, created with
/// mode 0600 on Unix, written and flushed to disk, then linked into place
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
    sys::private_permissions(&mut builder);
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
    let mut temp = builder.tempfile_in(dir).map_err(in_dir)?;
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
