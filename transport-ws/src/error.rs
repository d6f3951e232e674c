//! The error of the async API.

use kandy_core::session::DisconnectReason;
use kandy_core::{BasicError, ErrorCode};

/// Why an API call did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The core refused the command (invalid argument, wrong state, bad
    /// configuration). Nothing happened.
    #[error("command refused: {0}")]
    Refused(#[from] kandy_core::Error),
    /// The operation was carried out and failed; this is the error its
    /// error event (`auth:error`) carried, with the Kandy error code.
    #[error("{0}")]
    Failed(BasicError),
    /// The session ended before the operation finished (a `disconnect()`
    /// while `connect()` was pending, or the gateway ended the session).
    #[error("the session ended before the operation finished")]
    Interrupted {
        /// Why the session ended, when the user did not ask for it.
        reason: Option<DisconnectReason>,
    },
    /// The driver task has stopped: every [`crate::Client`] handle was
    /// dropped, or the executor running it was dropped.
    #[error("the client has stopped")]
    Closed,
    /// The client could not be set up (e.g. an unreadable root certificate).
    #[error("invalid client setup: {0}")]
    Setup(String),
}

impl Error {
    /// The Kandy error code, for [`Error::Failed`].
    pub fn code(&self) -> Option<ErrorCode> {
        self.basic().map(|e| e.code)
    }

    /// The error event's payload, for [`Error::Failed`].
    pub fn basic(&self) -> Option<&BasicError> {
        match self {
            Error::Failed(e) => Some(e),
            _ => None,
        }
    }
}

impl From<BasicError> for Error {
    fn from(e: BasicError) -> Self {
        Error::Failed(e)
    }
}
