//! Options of one call, and how a plugin's stderr is handled.

use std::time::{Duration, SystemTime};

use sigstore_kms_protocol::HashFunc;

/// Options of one method call. Every field is optional; the default is what a
/// Go host sends when given no option.
///
/// ```
/// use std::time::Duration;
/// use sigstore_kms_client::{CallOptions, HashFunc};
///
/// let options = CallOptions::new()
///     .timeout(Duration::from_secs(30))
///     .key_version("3")
///     .digest(vec![0; 32])
///     .hash_func(HashFunc::SHA256);
/// # let _ = options;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallOptions {
    pub(crate) deadline: Option<Deadline>,
    pub(crate) key_version: Option<String>,
    pub(crate) remote_verification: Option<bool>,
    pub(crate) digest: Option<Vec<u8>>,
    pub(crate) hash_func: Option<HashFunc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deadline {
    At(SystemTime),
    After(Duration),
}

impl CallOptions {
    /// No options: no deadline beyond the client's default timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives up at this time: the plugin is told (`ctxDeadline`), and killed
    /// when it runs past it. A time already past fails the call without
    /// starting the plugin; a time after the year 9999 counts as the last
    /// second of 9999, the latest `ctxDeadline` can carry.
    pub fn deadline(mut self, deadline: SystemTime) -> Self {
        self.deadline = Some(Deadline::At(deadline));
        self
    }

    /// Gives up this long after the call starts (see [`CallOptions::deadline`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline = Some(Deadline::After(timeout));
        self
    }

    /// The key version to use (`rpcOptions.keyVersion`).
    pub fn key_version(mut self, key_version: impl Into<String>) -> Self {
        self.key_version = Some(key_version.into());
        self
    }

    /// Asks the plugin to verify in the KMS (`rpcOptions.remoteVerification`).
    pub fn remote_verification(mut self, remote: bool) -> Self {
        self.remote_verification = Some(remote);
        self
    }

    /// For sign and verify: the digest to sign or verify. The plugin then
    /// uses it instead of hashing the message.
    pub fn digest(mut self, digest: impl Into<Vec<u8>>) -> Self {
        self.digest = Some(digest.into());
        self
    }

    /// For sign and verify: the hash function of this call, overriding the
    /// one the client was loaded with.
    pub fn hash_func(mut self, hash_func: HashFunc) -> Self {
        self.hash_func = Some(hash_func);
        self
    }

    /// The absolute deadline, `default_timeout` applying when none was set,
    /// within the years `ctxDeadline` can carry (see [`latest_deadline`]).
    pub(crate) fn resolve_deadline(&self, default_timeout: Option<Duration>) -> Option<SystemTime> {
        let after = |timeout| {
            SystemTime::now()
                .checked_add(timeout)
                .unwrap_or_else(latest_deadline)
        };
        let deadline = match self.deadline {
            Some(Deadline::At(at)) => at,
            Some(Deadline::After(timeout)) => after(timeout),
            None => after(default_timeout?),
        };
        // A deadline before 1970 is as past as 1970 itself: the call is
        // refused without starting the plugin either way.
        Some(deadline.clamp(SystemTime::UNIX_EPOCH, latest_deadline()))
    }
}

/// The last second `ctxDeadline` can name: it is RFC 3339, whose years end
/// at 9999 (Go's encoder refuses later ones). A deadline beyond it, such as
/// a timeout of thousands of years, means the same as this one.
fn latest_deadline() -> SystemTime {
    // 9999-12-31T23:59:59Z
    SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799)
}

/// What happens to a plugin's stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StderrMode {
    /// Passed through to this process's stderr, as the Go host does.
    #[default]
    Inherit,
    /// Thrown away.
    Discard,
    /// Kept in memory, at most this many trailing bytes, and put into
    /// [`crate::Error::Execution`] errors.
    Capture(usize),
}

impl StderrMode {
    /// Captures the last 4 KiB.
    pub const CAPTURE_TAIL: StderrMode = StderrMode::Capture(4096);
}
