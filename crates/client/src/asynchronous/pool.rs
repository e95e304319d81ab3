//! A blocking call made on tokio's blocking pool, for a future: the future
//! hands the caller's `AsyncRead` message over to the call (see
//! `handover`) until the plugin is reaped, waits for its result, and,
//! dropped before it, aborts it.
//! The plugin is then ended through the list
//! [`end_plugins`](crate::end_plugins) keeps, and the call on the pool
//! reaps it as any call does.

use std::future::poll_fn;
use std::panic;

use tokio::io::AsyncRead;
use tokio::task::{JoinError, JoinHandle};

use super::handover;
use crate::methods::Request;
use crate::process::CallLink;
use crate::{Client, Error};

/// Makes `client`'s call of `request` on the blocking pool, handing
/// `message` over to it while it runs.
pub(super) async fn call<T: Send + 'static, R: AsyncRead + Unpin>(
    client: &Client,
    request: Request<T>,
    message: Option<R>,
) -> Result<T, Error> {
    let (sender, reader) = handover::channel();
    let reader = message.is_some().then_some(reader);
    let client = client.clone();
    let link = CallLink::default();
    let call = tokio::task::spawn_blocking({
        let link = link.clone();
        move || client.call_abortable(request, reader, &link)
    });
    let mut call = AbortOnDrop { call, link };
    let Some(message) = message else {
        return joined((&mut call.call).await);
    };
    // Once the plugin is reaped, the message is no longer wanted: the
    // call may be waiting for it (its stdin helper), so stop reading it,
    // which its reader sees as an error, not as an end.
    let supervised = poll_fn(|cx| call.link.poll_supervision_ended(cx));
    let pass_on = async {
        tokio::select! {
            () = handover::pass_on(message, sender) => {}
            () = supervised => {}
        }
    };
    tokio::select! {
        result = &mut call.call => joined(result),
        () = pass_on => joined((&mut call.call).await),
    }
}

/// A call on the blocking pool, aborted when its future is dropped first
/// (after the call ended, the abort finds no plugin and does nothing).
struct AbortOnDrop<T> {
    call: JoinHandle<T>,
    link: CallLink,
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        // Keeps a call still queued from starting; one that started is
        // ended through its plugin.
        self.call.abort();
        self.link.abort();
    }
}

/// The call's own result; a panic in it goes on in the caller.
fn joined<T>(joined: Result<T, JoinError>) -> T {
    joined.unwrap_or_else(|error| panic::resume_unwind(error.into_panic()))
}
