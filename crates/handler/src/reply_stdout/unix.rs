//! Unix: the reply keeps a close-on-exec duplicate of descriptor 1, which
//! then becomes a duplicate of descriptor 2.

use std::fs::File;
use std::io;
use std::os::fd::FromRawFd as _;

pub(super) fn take() -> io::Result<File> {
    // SAFETY: plain descriptor calls on the process's own standard
    // descriptors; the duplicate is owned by the `File` alone, and
    // close-on-exec keeps it from child processes.
    unsafe {
        let saved = libc::fcntl(libc::STDOUT_FILENO, libc::F_DUPFD_CLOEXEC, 3);
        if saved < 0 {
            return Err(io::Error::last_os_error());
        }
        let saved = File::from_raw_fd(saved);
        if libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(saved)
    }
}
