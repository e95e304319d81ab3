//! The Unix side of the agent: a private directory and an owner-only
//! socket, the peer's credentials, termination signals, detaching.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd as _, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Who is on the other end of a connection.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    /// Its user id.
    pub uid: u32,
    /// Its process id, where the system tells (Linux does).
    pub pid: Option<i32>,
}

/// This process's effective user id.
pub fn own_uid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// The peer of `stream`, from the kernel (`SO_PEERCRED`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn peer(stream: &UnixStream) -> io::Result<Peer> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Peer {
        uid: cred.uid,
        pid: Some(cred.pid),
    })
}

/// The peer of `stream`, from the kernel (`getpeereid`).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn peer(stream: &UnixStream) -> io::Result<Peer> {
    let (mut uid, mut gid) = (0, 0);
    // SAFETY: `uid` and `gid` are valid for writes.
    if unsafe { libc::getpeereid(stream.as_raw_fd(), &mut uid, &mut gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Peer { uid, pid: None })
}

/// Whether `dir` is a directory (not a link) only this user can enter:
/// the plugin's own rule for its private directories.
pub fn is_private_dir(dir: &Path) -> bool {
    crate::sys::check_private(dir).is_ok()
}

/// Creates a fresh directory, mode 0700, for the socket: in
/// `$XDG_RUNTIME_DIR` when that is private, else in the temporary
/// directory.
pub fn private_dir() -> io::Result<PathBuf> {
    let base = crate::sys::runtime_dir().unwrap_or_else(std::env::temp_dir);
    let template = base.join("sigstore-kms-hsm-XXXXXX");
    let mut template = CString::new(template.into_os_string().into_vec())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the directory name"))?
        .into_bytes_with_nul();
    // SAFETY: `template` is a NUL-terminated buffer that mkdtemp rewrites
    // in place.
    if unsafe { libc::mkdtemp(template.as_mut_ptr().cast()) }.is_null() {
        return Err(io::Error::last_os_error());
    }
    template.pop();
    Ok(PathBuf::from(OsString::from_vec(template)))
}

/// Listens on a new socket at `path`, mode 0600 from its creation on.
pub fn bind_private(path: &Path) -> io::Result<UnixListener> {
    // The socket takes its mode from the umask when it is bound; the
    // process is still single-threaded, so nothing else sees this umask.
    // SAFETY: umask only swaps the process's file-mode mask.
    let old = unsafe { libc::umask(0o177) };
    let listener = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let listener = listener?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Blocks SIGTERM, SIGINT and SIGHUP in this thread and in every thread it
/// starts from now on, so that [`wait_for_termination`] receives them.
/// Call before starting any thread.
pub fn block_termination_signals() -> io::Result<()> {
    let set = termination_set();
    // SAFETY: `set` is an initialised signal set.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Waits for SIGTERM, SIGINT or SIGHUP and returns its name.
pub fn wait_for_termination() -> &'static str {
    let set = termination_set();
    loop {
        let mut signal = 0;
        // SAFETY: `set` is initialised and `signal` valid for a write.
        if unsafe { libc::sigwait(&set, &mut signal) } == 0 {
            return match signal {
                libc::SIGINT => "SIGINT",
                libc::SIGHUP => "SIGHUP",
                _ => "SIGTERM",
            };
        }
    }
}

fn termination_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set before sigaddset reads it.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, signal);
        }
        set
    }
}

/// Points stdout at `/dev/null` and, when given, stderr at `log`: a
/// detached agent must not hold its starter's pipes open.
pub fn redirect_output(log: Option<&File>) -> io::Result<()> {
    let null = File::options().write(true).open("/dev/null")?;
    let mut pairs = vec![(null.as_raw_fd(), libc::STDOUT_FILENO)];
    if let Some(log) = log {
        pairs.push((log.as_raw_fd(), libc::STDERR_FILENO));
    }
    for (from, to) in pairs {
        // SAFETY: both descriptors are open; dup2 replaces `to` atomically.
        if unsafe { libc::dup2(from, to) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether `path` may be used as a socket path (the kernel limits its
/// length; Linux to 107 bytes).
pub fn check_socket_path(path: &Path) -> io::Result<()> {
    if path.as_os_str().as_bytes().len() >= 104 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the socket path {} is too long for a Unix socket",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Keeps other processes of the user from reading the agent's memory
/// (`ptrace`, `/proc/PID/mem`, core dumps), as ssh-agent does.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn forbid_dumps() -> io::Result<()> {
    // SAFETY: PR_SET_DUMPABLE takes an integer and touches no memory.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Other systems have no `PR_SET_DUMPABLE`; the agent's memory is as
/// protected as that of any process of the user.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn forbid_dumps() -> io::Result<()> {
    Ok(())
}

/// Runs this program again, in this process, as `args` (this process's
/// argv) plus `--pin-fd N`, with `variable` removed from the environment
/// and its value `pin` on a pipe at descriptor N: the kernel's copy of the
/// environment (`/proc/PID/environ`, `ps e`) then no longer holds it.
/// Returns only on failure.
pub fn exec_with_pin_on_pipe(args: Vec<OsString>, variable: &str, pin: &[u8]) -> io::Error {
    use std::io::Write as _;
    use std::os::unix::process::CommandExt as _;
    // A pipe holds at least a page, so the write cannot block.
    if pin.len() > crate::settings::PIN_FILE_LIMIT as usize {
        return io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{variable} is longer than {} bytes",
                crate::settings::PIN_FILE_LIMIT
            ),
        );
    }
    let mut fds = [0; 2];
    // SAFETY: `fds` is valid for two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return io::Error::last_os_error();
    }
    // SAFETY: pipe() just opened both descriptors, owned here alone.
    let (read, mut write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    let written = write.write_all(pin);
    drop(write);
    if let Err(err) = written {
        return err;
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => return err,
    };
    let mut args = args.into_iter();
    let mut command = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        command.arg0(arg0);
    }
    // The read end has no close-on-exec flag: the new program inherits it.
    command
        .args(args)
        .arg("--pin-fd")
        .arg(read.as_raw_fd().to_string())
        .env_remove(variable)
        .exec()
}

/// Reads the PIN that [`exec_with_pin_on_pipe`] left at `fd`, and closes
/// the descriptor.
pub fn read_pin_fd(fd: i32) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    // SAFETY: fcntl(F_GETFD) only asks whether `fd` is open.
    if fd < 3 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} is not an open pipe"),
        ));
    }
    // SAFETY: the descriptor is open and handed to this process for this
    // read alone; the `File` closes it.
    let pipe = unsafe { File::from_raw_fd(fd) };
    let mut pin = Vec::new();
    pipe.take(crate::settings::PIN_FILE_LIMIT + 1)
        .read_to_end(&mut pin)?;
    Ok(pin)
}

/// Whether `path` is a socket (not a link) of this user: what the
/// background agent names before its starter prints it.
pub fn is_own_socket(path: &Path) -> bool {
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    std::fs::symlink_metadata(path)
        .is_ok_and(|meta| meta.file_type().is_socket() && meta.uid() == own_uid())
}
