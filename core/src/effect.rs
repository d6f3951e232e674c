//! Everything a client asks its driver to do: [`Effect`].
//!
//! The driver takes effects with [`crate::Client::poll_effect`] after every
//! input, in order, and carries them out: HTTP requests and socket actions
//! go to the network (their outcomes come back as inputs), events go to the
//! application, log records to the logger. There are no timer effects: the
//! one deadline the driver must honour is [`crate::Client::poll_timeout`].

use serde::{Deserialize, Serialize};

use crate::config::LogLevel;
use crate::event::Event;
use crate::input::{RequestId, SocketId};
use crate::secret;

/// Something the driver must do. `Debug` redacts like `Serialize`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Effect {
    /// Send an HTTP request; feed its outcome back as
    /// [`crate::InputKind::HttpResponse`] with the same id.
    Http(HttpRequest),
    /// Open a WebSocket; report [`crate::InputKind::WsOpened`] or
    /// [`crate::InputKind::WsClosed`].
    WsOpen {
        /// The id the driver reports back with.
        socket: SocketId,
        /// The full URL. Serialized with its path (the channel credential)
        /// and tokens redacted.
        #[serde(serialize_with = "secret::serialize_ws_url")]
        url: String,
    },
    /// Send a text frame on an open socket.
    WsSend {
        /// Which socket.
        socket: SocketId,
        /// The frame.
        text: String,
    },
    /// Close a socket (normal closure). No input is expected back; a
    /// `WsClosed` for it is ignored.
    WsClose {
        /// Which socket.
        socket: SocketId,
    },
    /// Hand an event to the application.
    Event(Event),
    /// Ask the media engine to act on a call's peer; its reports come back
    /// as [`crate::InputKind::Media`].
    Media(crate::call::media::MediaCommand),
    /// Hand a record to the logger. Records never contain secrets unless the
    /// user set `logs.exposeSecrets`.
    Log(LogRecord),
}

/// HTTP methods the protocol uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// An HTTP request to send. `Debug` redacts like `Serialize`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// Echo it back with the outcome.
    pub id: RequestId,
    /// The method.
    pub method: Method,
    /// The absolute URL, always with an explicit port. Serialized with
    /// credential query parameters redacted.
    #[serde(serialize_with = "secret::serialize_rest_url")]
    pub url: String,
    /// Headers in order; names in lower case. Serialized with credential
    /// values redacted.
    #[serde(serialize_with = "secret::serialize_headers")]
    pub headers: Vec<(String, String)>,
    /// A JSON body, if any.
    #[serde(serialize_with = "secret::serialize_opt_json_text")]
    pub body: Option<String>,
}

impl HttpRequest {
    /// The value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A log record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Severity.
    pub level: LogLevel,
    /// The feature that logged it (`kandy::session`, `kandy::action`, ...).
    pub target: std::borrow::Cow<'static, str>,
    /// The message.
    pub message: std::borrow::Cow<'static, str>,
}

/// `Debug` goes through the redacting serializer, so `{:?}` in a log line
/// cannot leak what a recording would not.
fn debug_via_json<T: Serialize>(
    value: &T,
    name: &str,
    f: &mut std::fmt::Formatter<'_>,
) -> std::fmt::Result {
    match serde_json::to_string(value) {
        Ok(json) => write!(f, "{name}{json}"),
        Err(_) => write!(f, "{name}{{..}}"),
    }
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_via_json(self, "HttpRequest", f)
    }
}

impl std::fmt::Debug for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        debug_via_json(self, "Effect", f)
    }
}
