//! Windows: std (and a child started with inherited stdio) looks up the
//! standard output handle on each use, so the reply moves the real handle
//! into a non-inheritable duplicate of its own and the standard output
//! handle becomes the standard error one.

use std::fs::File;
use std::io;
use std::os::windows::io::{FromRawHandle as _, OwnedHandle};

use windows_sys::Win32::Foundation::{CloseHandle, DuplicateHandle, DUPLICATE_SAME_ACCESS, HANDLE};
use windows_sys::Win32::System::Console::{
    GetStdHandle, SetStdHandle, STD_ERROR_HANDLE, STD_OUTPUT_HANDLE,
};
use windows_sys::Win32::System::Threading::GetCurrentProcess;

pub(super) fn take() -> io::Result<File> {
    // SAFETY: GetStdHandle takes no pointers.
    let stdout = unsafe { GetStdHandle(STD_OUTPUT_HANDLE) };
    // SAFETY: as above.
    let stderr = unsafe { GetStdHandle(STD_ERROR_HANDLE) };
    let mut saved: HANDLE = std::ptr::null_mut();
    // SAFETY: `saved` is a valid place for the new handle. The source stays
    // open: stdout may be the very handle stderr is (`2>&1`), which must
    // stay usable.
    let duplicated = unsafe {
        DuplicateHandle(
            GetCurrentProcess(),
            stdout,
            GetCurrentProcess(),
            &mut saved,
            0,
            0,
            DUPLICATE_SAME_ACCESS,
        )
    };
    if duplicated == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: DuplicateHandle succeeded, so `saved` is a handle this
    // process owns and nothing else refers to.
    let saved = File::from(unsafe { OwnedHandle::from_raw_handle(saved) });
    // SAFETY: SetStdHandle takes no pointers; `stderr` is this process's
    // standard error handle, which stays open.
    if unsafe { SetStdHandle(STD_OUTPUT_HANDLE, stderr) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // The duplicate, which is not inheritable, is now the only handle to
    // the real stdout, so that a child process cannot hold it open; unless
    // stdout is stderr, which stays open as the standard handles' own.
    if stdout != stderr {
        // SAFETY: `stdout` was the standard output handle, which no
        // standard handle names any more and nothing else in this
        // process owns.
        if unsafe { CloseHandle(stdout) } == 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(saved)
}
