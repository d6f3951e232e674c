//! Everything that can happen to a client: [`Input`].
//!
//! An input is a public API command, the outcome of an HTTP request the core
//! asked for, something that happened to a WebSocket it asked to open, or
//! the passing of the deadline from [`crate::Client::poll_timeout`]. Each
//! carries the driver's clocks ([`Now`]), so the same inputs always reduce to
//! the same state and effects.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::secret::{self, Secret};
use crate::time::Now;

/// Identifies an HTTP request the core asked for; the driver echoes it back
/// with the outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub u64);

/// Identifies one WebSocket the core asked to open. A reconnect opens a new
/// socket with a new id, so frames from an old socket are recognised as
/// stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SocketId(pub u64);

/// One input with the time it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// When it happened, by the driver's clocks.
    pub now: Now,
    /// What happened.
    pub kind: InputKind,
}

impl Input {
    /// An input at `now`.
    pub fn new(now: Now, kind: InputKind) -> Self {
        Input { now, kind }
    }

    /// A command at `now`.
    pub fn command(now: Now, command: Command) -> Self {
        Input::new(now, InputKind::Command(command))
    }

    /// The deadline passed.
    pub fn timeout(now: Now) -> Self {
        Input::new(now, InputKind::Timeout)
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum InputKind {
    /// A public API call.
    Command(Command),
    /// The outcome of an [`crate::effect::HttpRequest`].
    HttpResponse {
        /// The request's id.
        id: RequestId,
        /// What came back.
        outcome: HttpOutcome,
    },
    /// The socket finished its opening handshake.
    WsOpened {
        /// Which socket.
        socket: SocketId,
    },
    /// A text frame arrived. Binary frames are not part of the protocol; a
    /// driver reports them as text if it can, or drops them.
    WsFrame {
        /// Which socket.
        socket: SocketId,
        /// The frame's text.
        text: String,
    },
    /// The socket closed, or failed to open (a close before
    /// [`InputKind::WsOpened`] is a failed open attempt).
    WsClosed {
        /// Which socket.
        socket: SocketId,
        /// Why, for logs (e.g. `refused: HTTP 404`).
        reason: String,
    },
    /// The deadline from `poll_timeout` passed.
    Timeout,
    /// The media engine reports about a call. Serialized under `report`
    /// (`{"kind":"media","report":{…}}`): flattened, the report's own
    /// `kind` field (offer/answer) would collide with this enum's tag and
    /// the input would not deserialize (a recording could not replay).
    Media(#[serde(with = "media_report")] crate::call::media::MediaEvent),
}

/// The `report` wrapper of [`InputKind::Media`].
mod media_report {
    use crate::call::media::MediaEvent;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    struct Out<'a> {
        report: &'a MediaEvent,
    }

    #[derive(Deserialize)]
    struct In {
        report: MediaEvent,
    }

    pub(super) fn serialize<S: Serializer>(e: &MediaEvent, s: S) -> Result<S::Ok, S::Error> {
        Out { report: e }.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MediaEvent, D::Error> {
        In::deserialize(d).map(|w| w.report)
    }
}

impl InputKind {
    /// A short name for logs (`command:connect`, `ws_frame`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            InputKind::Command(c) => c.name(),
            InputKind::HttpResponse { .. } => "http_response",
            InputKind::WsOpened { .. } => "ws_opened",
            InputKind::WsFrame { .. } => "ws_frame",
            InputKind::WsClosed { .. } => "ws_closed",
            InputKind::Timeout => "timeout",
            InputKind::Media(_) => "media",
        }
    }
}

/// The outcome of an HTTP request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HttpOutcome {
    /// A response arrived (any status).
    Response(HttpResponse),
    /// No response: DNS, connect, TLS or I/O failure, or the driver gave up.
    Failed {
        /// What kind of failure.
        failure: TransportFailure,
        /// Details, for people.
        message: String,
    },
}

impl HttpOutcome {
    /// A JSON response.
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        HttpOutcome::Response(HttpResponse {
            status,
            content_type: Some("application/json".into()),
            body: body.into(),
        })
    }

    /// A transport failure.
    pub fn failed(failure: TransportFailure, message: impl Into<String>) -> Self {
        HttpOutcome::Failed {
            failure,
            message: message.into(),
        }
    }
}

/// Why no response arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TransportFailure {
    /// Name resolution failed.
    Dns,
    /// The connection was refused or reset.
    Connect,
    /// The TLS handshake failed.
    Tls,
    /// The request timed out.
    Timeout,
    /// Anything else (I/O error, invalid URL).
    Other,
}

/// An HTTP response as the core needs it. Bodies are text: every session
/// endpoint speaks JSON, and the core decides how to read it. `Debug`
/// redacts like `Serialize`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body as text (lossily decoded by the driver if not UTF-8).
    /// Serialized with credentials (session ids, channel paths, tokens,
    /// TURN credentials) redacted.
    #[serde(serialize_with = "secret::serialize_json_text")]
    pub body: String,
}

/// Credentials for [`Command::Connect`], one variant per login signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Credentials {
    /// Username and password, sent as HTTP Basic on every request. With
    /// `authname`, Basic carries `authname:password` while the URL keeps the
    /// username.
    Password {
        /// The user, with domain (`alice@example.com`).
        username: String,
        /// The password.
        password: Secret,
        /// A different authentication name, if the gateway wants one.
        authname: Option<String>,
    },
    /// An HMAC token on subscribe (`x-token`), then the granted session id
    /// (`x-session`) on every later request.
    Hmac {
        /// The user, with domain.
        username: String,
        /// The token.
        hmac_token: Secret,
    },
    /// An access token (query `token=` on REST and the socket), optionally
    /// with a refresh token and the access token's lifetime in seconds.
    AccessToken {
        /// The user, with domain.
        username: String,
        /// The access token.
        access_token: Secret,
        /// A refresh token to renew the access token before it expires.
        refresh_token: Option<Secret>,
        /// The access token's lifetime in seconds, if known.
        expires: Option<u64>,
    },
    /// A refresh token alone: exchanged for an access token first.
    RefreshToken {
        /// The user, with domain.
        username: String,
        /// The refresh token.
        refresh_token: Secret,
        /// Requested access-token lifetime in seconds.
        expires: Option<u64>,
    },
    /// An OAuth / bearer token (`Authorization: Bearer`).
    OAuth {
        /// The user, with domain.
        username: String,
        /// The token.
        oauth_token: Secret,
    },
}

impl Credentials {
    /// Username and password.
    pub fn password(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Credentials::Password {
            username: username.into(),
            password: password.into(),
            authname: None,
        }
    }

    /// HMAC token.
    pub fn hmac(username: impl Into<String>, token: impl Into<Secret>) -> Self {
        Credentials::Hmac {
            username: username.into(),
            hmac_token: token.into(),
        }
    }

    /// OAuth / bearer token.
    pub fn oauth(username: impl Into<String>, token: impl Into<Secret>) -> Self {
        Credentials::OAuth {
            username: username.into(),
            oauth_token: token.into(),
        }
    }

    /// The username the URLs carry.
    pub fn username(&self) -> &str {
        match self {
            Credentials::Password { username, .. }
            | Credentials::Hmac { username, .. }
            | Credentials::AccessToken { username, .. }
            | Credentials::RefreshToken { username, .. }
            | Credentials::OAuth { username, .. } => username,
        }
    }
}

/// A new token for [`Command::UpdateToken`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenUpdate {
    /// Replace the access token (query `token=`).
    AccessToken {
        /// The new token.
        access_token: Secret,
        /// Its lifetime in seconds, if known.
        expires: Option<u64>,
    },
    /// Replace the OAuth / bearer token.
    OAuth {
        /// The new token.
        oauth_token: Secret,
    },
}

/// Where a notification came from (`WEBSOCKET`, `PUSH`, `EXTERNAL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum NotificationChannel {
    /// The notification WebSocket.
    Websocket,
    /// A push notification handed in by the application.
    Push,
    /// Any other source handed in by the application (the default of
    /// `notification.process`).
    External,
}

/// The public API calls of the session layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Command {
    /// `connect(credentials)`: subscribe and open the notification socket.
    Connect(Credentials),
    /// `disconnect()`: unsubscribe, then close the socket.
    Disconnect,
    /// `updateToken(credentials)`: use a new token from now on. Sends
    /// nothing; the open socket is kept.
    UpdateToken(TokenUpdate),
    /// `updateConnection({services})`: change the subscribed services.
    UpdateConnection {
        /// The new service list (sent as an array, as the gateway expects).
        services: Vec<String>,
    },
    /// `updateConfig(values)`: deep-merge a partial configuration.
    UpdateConfig(Value),
    /// `connection.enableConnectivityChecking(enable)`.
    EnableConnectivityChecking(bool),
    /// `notification.enableWebsocket(enable)`: whether notifications from
    /// the socket are processed.
    EnableWebsocket(bool),
    /// The call and media API (`client.call.*`, `client.media.*`). Boxed:
    /// it is by far the largest command.
    Call(Box<crate::call::CallCommand>),
    /// `notification.process(payload, channel)`: a notification that arrived
    /// by another route (push, another process).
    ProcessNotification {
        /// The whole envelope, `{"notificationMessage": {...}}`.
        payload: Value,
        /// Where it came from.
        channel: NotificationChannel,
    },
}

impl Command {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Connect(_) => "command:connect",
            Command::Disconnect => "command:disconnect",
            Command::UpdateToken(_) => "command:update_token",
            Command::UpdateConnection { .. } => "command:update_connection",
            Command::UpdateConfig(_) => "command:update_config",
            Command::EnableConnectivityChecking(_) => "command:enable_connectivity_checking",
            Command::EnableWebsocket(_) => "command:enable_websocket",
            Command::ProcessNotification { .. } => "command:process_notification",
            Command::Call(c) => c.name(),
        }
    }
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("body", &secret::redact_json_text(&self.body))
            .finish()
    }
}
