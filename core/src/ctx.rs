//! What a feature needs while it reduces one input: the time, the
//! configuration, the effect queue and the table of HTTP requests in flight.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{Config, LogLevel};
use crate::effect::{Effect, HttpRequest};
use crate::event::Event;
use crate::input::{RequestId, SocketId};
use crate::out::Out;
use crate::secret;
use crate::time::Now;

/// Why a request was sent: decides who reads its response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "purpose", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Purpose {
    /// POST subscription during connect.
    Subscribe,
    /// Timed PUT subscription.
    Refresh,
    /// PUT subscription for `updateConnection`, with the services asked for.
    UpdateServices {
        /// The services that become the stored list on success.
        services: Vec<String>,
    },
    /// DELETE subscription during a user disconnect.
    Unsubscribe,
    /// DELETE subscription nobody waits for (after a failed connect or a
    /// lost session), so the gateway does not keep it until it expires.
    UnsubscribeBestEffort,
    /// GET on the token service.
    TokenRefresh {
        /// Part of connect (refresh-token-only credentials).
        at_connect: bool,
    },
    /// GET of an SDP referenced by a notification (`sdpFormat: url`).
    SdpFetch,
    /// A call request.
    Call {
        /// The call.
        call: crate::call::CallId,
        /// Which request.
        request: crate::call::CallRequest,
    },
}

impl Purpose {
    /// Requests that belong to a live session and die with it.
    pub(crate) fn dies_with_session(&self) -> bool {
        !matches!(
            self,
            Purpose::UnsubscribeBestEffort | Purpose::Call { .. } | Purpose::SdpFetch
        )
    }
}

/// A request in flight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Who reads the response.
    pub purpose: Purpose,
    /// When it fails as timed out (monotonic ms), if it can.
    pub deadline: Option<u64>,
}

/// Requests in flight and the id counters. A response whose id is not here
/// (cancelled, timed out, or never sent) is logged and ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpTracker {
    /// Requests waiting for an outcome.
    pub pending: BTreeMap<RequestId, Pending>,
    /// The next request id.
    pub next_request: u64,
    /// The next socket id.
    pub next_socket: u64,
}

impl HttpTracker {
    /// The earliest request deadline.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.pending.values().filter_map(|p| p.deadline).min()
    }

    /// The first request whose deadline has passed.
    pub(crate) fn first_expired(&self, now: u64) -> Option<RequestId> {
        self.pending
            .iter()
            .find(|(_, p)| p.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
    }

    /// Forgets every request of the session (their late responses will be
    /// ignored).
    pub(crate) fn cancel_session_requests(&mut self) {
        self.pending.retain(|_, p| !p.purpose.dies_with_session());
    }
}

/// The context of one reduction step.
pub(crate) struct Ctx<'a> {
    pub now: Now,
    pub config: &'a Config,
    pub out: &'a mut Out,
    pub http: &'a mut HttpTracker,
}

impl Ctx<'_> {
    /// A fresh request id.
    pub fn request_id(&mut self) -> RequestId {
        self.http.next_request += 1;
        RequestId(self.http.next_request)
    }

    /// A fresh socket id.
    pub fn socket_id(&mut self) -> SocketId {
        self.http.next_socket += 1;
        SocketId(self.http.next_socket)
    }

    /// Emits a request and remembers why it was sent.
    pub fn send(&mut self, purpose: Purpose, request: HttpRequest) {
        let timeout = self.config.http.timeout;
        let deadline = (timeout > 0).then(|| self.now.mono_ms.saturating_add(timeout));
        let (method, url) = (request.method, request.url.clone());
        self.out.log(LogLevel::Debug, "kandy::http", || {
            format!("{} {}", method.as_str(), secret::redact_url(&url, false))
        });
        self.http
            .pending
            .insert(request.id, Pending { purpose, deadline });
        self.out.push(Effect::Http(request));
    }

    pub fn event(&mut self, event: Event) {
        self.out.event(event);
    }

    pub fn push(&mut self, effect: Effect) {
        self.out.push(effect);
    }

    pub fn log<M: Into<std::borrow::Cow<'static, str>>>(
        &mut self,
        level: LogLevel,
        target: &'static str,
        message: impl FnOnce() -> M,
    ) {
        self.out.log(level, target, message);
    }
}
