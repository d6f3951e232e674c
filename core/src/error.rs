//! Errors: the typed `Err` of a refused command, and the [`BasicError`] that
//! error events carry.
//!
//! One rule: a command that is invalid in itself or illegal in the current
//! state returns [`Error`] from [`crate::Client::handle`] and changes
//! nothing. Whatever fails later (the gateway refuses, the network fails)
//! arrives as an error event carrying a [`BasicError`] with the code the
//! Kandy JS SDK uses, so code written against its error codes carries over.

use serde::{Deserialize, Serialize};

/// Why a command was refused. The state is untouched when this is returned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Error {
    /// The credentials cannot be used (e.g. an empty username).
    #[error("invalid credentials: {0}")]
    InvalidCredentials(String),
    /// The configuration cannot support the command (e.g. no server).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// An argument is out of range or malformed.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The command is not allowed in the current state.
    #[error("cannot {operation} while {state}")]
    InvalidState {
        /// What was attempted.
        operation: String,
        /// The state that forbids it.
        state: String,
    },
    /// An input referred to something that does not exist (a socket, a
    /// request). Only returned for commands; stale network inputs are logged.
    #[error("unknown {0}")]
    Unknown(String),
}

/// Error codes of the Kandy JS SDK (`BasicError.code`), as their wire strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `authentication:1`: an unusable login signature.
    #[serde(rename = "authentication:1")]
    InvalidCredentials,
    /// `authentication:2`: the notification socket could not be opened on
    /// connect (4.8.0 defines it but raises a code-less error instead).
    #[serde(rename = "authentication:2")]
    ConnectFailWsError,
    /// `authentication:3`: unsubscribe failed.
    #[serde(rename = "authentication:3")]
    LinkUnsubscribeFail,
    /// `authentication:4`: subscribe failed.
    #[serde(rename = "authentication:4")]
    LinkSubscribeFail,
    /// `authentication:5`: reserved.
    #[serde(rename = "authentication:5")]
    LinkExtendSubscriptionFail,
    /// `authentication:6`: a subscription refresh or update failed.
    #[serde(rename = "authentication:6")]
    LinkUpdateSubscriptionFail,
    /// `authentication:8`: a timed token refresh failed.
    #[serde(rename = "authentication:8")]
    RefreshTokenFail,
    /// `authentication:9`: a refresh token could not be turned into an
    /// access token at connect.
    #[serde(rename = "authentication:9")]
    CreateTokenFail,
    /// `authentication:12`: a required service was not granted.
    #[serde(rename = "authentication:12")]
    MissingService,
    /// `call:1`.
    #[serde(rename = "call:1")]
    CallUnknownError,
    /// `call:2`: an operation failed.
    #[serde(rename = "call:2")]
    CallGenericError,
    /// `call:3`.
    #[serde(rename = "call:3")]
    CallInitMediaFailed,
    /// `call:4`: local media could not be acquired.
    #[serde(rename = "call:4")]
    CallUserMediaError,
    /// `call:5`.
    #[serde(rename = "call:5")]
    CallNotSupported,
    /// `call:6`.
    #[serde(rename = "call:6")]
    CallInvalidState,
    /// `call:7`.
    #[serde(rename = "call:7")]
    CallInvalidParam,
    /// `call:8`: the gateway and the client disagree about a call.
    #[serde(rename = "call:8")]
    CallStateDesync,
    /// `call:9`.
    #[serde(rename = "call:9")]
    CallInvalidOffer,
    /// `call:10`: media negotiation mismatch.
    #[serde(rename = "call:10")]
    CallMediaMismatch,
    /// `messaging:5`.
    #[serde(rename = "messaging:5")]
    SendMessageFail,
    /// `mwi:1`.
    #[serde(rename = "mwi:1")]
    FetchMwiFail,
    /// `presence:1`.
    #[serde(rename = "presence:1")]
    PresenceInvalidStatus,
    /// `presence:2`.
    #[serde(rename = "presence:2")]
    PresenceInvalidActivity,
    /// `NO_CODE`: errors without a code of their own, such as a failed push
    /// registration (4.8.0 reports those as plain `Error`s).
    #[serde(rename = "NO_CODE")]
    NoCode,
}

impl ErrorCode {
    /// The code's wire string, e.g. `authentication:4`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidCredentials => "authentication:1",
            ErrorCode::ConnectFailWsError => "authentication:2",
            ErrorCode::LinkUnsubscribeFail => "authentication:3",
            ErrorCode::LinkSubscribeFail => "authentication:4",
            ErrorCode::LinkExtendSubscriptionFail => "authentication:5",
            ErrorCode::LinkUpdateSubscriptionFail => "authentication:6",
            ErrorCode::RefreshTokenFail => "authentication:8",
            ErrorCode::CreateTokenFail => "authentication:9",
            ErrorCode::MissingService => "authentication:12",
            ErrorCode::CallUnknownError => "call:1",
            ErrorCode::CallGenericError => "call:2",
            ErrorCode::CallInitMediaFailed => "call:3",
            ErrorCode::CallUserMediaError => "call:4",
            ErrorCode::CallNotSupported => "call:5",
            ErrorCode::CallInvalidState => "call:6",
            ErrorCode::CallInvalidParam => "call:7",
            ErrorCode::CallStateDesync => "call:8",
            ErrorCode::CallInvalidOffer => "call:9",
            ErrorCode::CallMediaMismatch => "call:10",
            ErrorCode::SendMessageFail => "messaging:5",
            ErrorCode::FetchMwiFail => "mwi:1",
            ErrorCode::PresenceInvalidStatus => "presence:1",
            ErrorCode::PresenceInvalidActivity => "presence:2",
            ErrorCode::NoCode => "NO_CODE",
        }
    }
}

/// The error carried by error events: a code and a human message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicError {
    /// The SDK error code.
    pub code: ErrorCode,
    /// What went wrong, for people. Never contains a secret.
    pub message: String,
}

impl BasicError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        BasicError {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for BasicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}
