//! The notification socket: open attempts with backoff, connectivity checks
//! (`keepAlive`, `pingPong`, server-driven), and loss detection.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::config::{CheckType, LogLevel, ResponsibleParty, WebSocketOAuthMode};
use crate::ctx::Ctx;
use crate::effect::Effect;
use crate::event::Event;
use crate::http::{self, AuthCarrier};
use crate::input::SocketId;
use crate::notification::{self, Frame, Meta};

use super::{Endpoint, Subscription};

const TARGET: &str = "kandy::connectivity";

/// The interval a server-driven check starts with, before the server
/// announces its own (`connCheck.interval`).
pub const DEFAULT_SERVER_INTERVAL_MS: u64 = 120_000;

/// The socket's status as `ws:change` reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SocketStatus {
    /// No socket.
    #[default]
    Closed,
    /// An open attempt is in progress or waiting for its backoff.
    Connecting,
    /// Open.
    Connected,
    /// Declared lost (reported once, before recovery starts).
    Lost,
}

/// What the session must do after a socket happening.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Nothing,
    /// An open socket was lost.
    Lost,
    /// Every open attempt of the lifecycle failed.
    Exhausted {
        recovering: bool,
    },
}

/// The socket and its checks (`getSocketState`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketState {
    /// The current socket, if any.
    pub id: Option<SocketId>,
    /// Its status.
    pub status: SocketStatus,
    /// Open attempt number within this lifecycle (1-based).
    pub attempt: u32,
    /// Whether this lifecycle is a recovery (not the first open).
    pub recovering: bool,
    /// When the next open attempt starts (monotonic ms).
    pub retry_at: Option<u64>,
    /// Whether client-driven checks run (`enableConnectivityChecking`).
    pub checks_enabled: bool,
    /// When the next check runs (monotonic ms).
    pub next_check: Option<u64>,
    /// Wall-clock ms of the last frame received.
    pub last_contact: Option<u64>,
    /// Monotonic ms of the last `connAck` (or of the open).
    pub last_pong: u64,
    /// Monotonic ms of the last server `connCheck` (or of the open).
    pub last_server_ping: u64,
    /// The server-driven interval in force (ms).
    pub server_interval: u64,
}

impl SocketState {
    /// Whether a client-driven check loop is running.
    pub fn pinging(&self) -> bool {
        self.next_check.is_some()
    }

    /// Starts a lifecycle: attempt 1 now.
    pub(crate) fn start(
        &mut self,
        ctx: &mut Ctx<'_>,
        endpoint: Option<&Endpoint>,
        sub: Option<&Subscription>,
        auth: Option<&AuthCarrier>,
        recovering: bool,
    ) {
        self.attempt = 1;
        self.recovering = recovering;
        self.retry_at = None;
        self.next_check = None;
        self.status = SocketStatus::Connecting;
        ctx.event(ws_change(SocketStatus::Connecting));
        self.open(ctx, endpoint, sub, auth);
    }

    /// The backoff ended: next attempt.
    pub(crate) fn retry(
        &mut self,
        ctx: &mut Ctx<'_>,
        endpoint: Option<&Endpoint>,
        sub: Option<&Subscription>,
        auth: Option<&AuthCarrier>,
    ) {
        self.retry_at = None;
        self.attempt += 1;
        self.open(ctx, endpoint, sub, auth);
    }

    fn open(
        &mut self,
        ctx: &mut Ctx<'_>,
        endpoint: Option<&Endpoint>,
        sub: Option<&Subscription>,
        auth: Option<&AuthCarrier>,
    ) {
        let (Some(endpoint), Some(sub)) = (endpoint, sub) else {
            return;
        };
        let id = ctx.socket_id();
        self.id = Some(id);
        let url = ws_url(ctx, endpoint, sub, auth);
        let attempt = self.attempt;
        ctx.log(LogLevel::Debug, TARGET, || {
            format!("opening the notification socket (attempt {attempt})")
        });
        ctx.push(Effect::WsOpen { socket: id, url });
    }

    /// A socket opened. Returns whether it is the current one.
    pub(crate) fn opened(&mut self, ctx: &mut Ctx<'_>, socket: SocketId) -> bool {
        if self.id != Some(socket)
            || self.status != SocketStatus::Connecting
            || self.retry_at.is_some()
        {
            // A socket we no longer want (disconnected meanwhile, or
            // superseded): close it.
            ctx.log(LogLevel::Debug, TARGET, || {
                format!("closing stale socket {}", socket.0)
            });
            ctx.push(Effect::WsClose { socket });
            return false;
        }
        let now = ctx.now.mono_ms;
        self.status = SocketStatus::Connected;
        self.attempt = 0;
        self.last_pong = now;
        self.last_server_ping = now;
        self.server_interval = DEFAULT_SERVER_INTERVAL_MS;
        ctx.event(ws_change(SocketStatus::Connected));
        self.begin_checks(ctx);
        true
    }

    fn begin_checks(&mut self, ctx: &mut Ctx<'_>) {
        self.next_check = None;
        if !self.checks_enabled || self.status != SocketStatus::Connected {
            return;
        }
        let c = &ctx.config.connectivity;
        match c.method.responsible_party {
            ResponsibleParty::Client => {
                self.send_ping(ctx);
                self.next_check = Some(ctx.now.mono_ms.saturating_add(c.ping_interval.max(1)));
            }
            ResponsibleParty::Server => {
                self.next_check = Some(ctx.now.mono_ms.saturating_add(self.server_interval.max(1)));
            }
        }
    }

    fn send_ping(&mut self, ctx: &mut Ctx<'_>) {
        let Some(socket) = self.id else { return };
        let c = &ctx.config.connectivity;
        let text = match c.method.kind {
            CheckType::KeepAlive => r#"{"message_type":"ping"}"#.to_owned(),
            CheckType::PingPong => {
                let secs = c.ping_interval as f64 / 1000.0;
                serde_json::json!({"connCheck": {"interval": secs}}).to_string()
            }
        };
        ctx.push(Effect::WsSend { socket, text });
    }

    /// A check is due.
    pub(crate) fn check(&mut self, ctx: &mut Ctx<'_>) -> Outcome {
        self.next_check = None;
        if self.status != SocketStatus::Connected || !self.checks_enabled {
            return Outcome::Nothing;
        }
        let c = &ctx.config.connectivity;
        let now = ctx.now.mono_ms;
        let missed = u64::from(c.max_missed_pings.max(1));
        match (c.method.responsible_party, c.method.kind) {
            (ResponsibleParty::Client, CheckType::KeepAlive) => {
                self.send_ping(ctx);
                self.next_check = Some(now.saturating_add(c.ping_interval.max(1)));
                Outcome::Nothing
            }
            (ResponsibleParty::Client, _) => {
                if now.saturating_sub(self.last_pong) >= c.ping_interval.saturating_mul(missed) {
                    ctx.log(LogLevel::Warn, TARGET, || {
                        format!("no connAck for {} ms", now - self.last_pong)
                    });
                    self.lose(ctx)
                } else {
                    self.send_ping(ctx);
                    self.next_check = Some(now.saturating_add(c.ping_interval.max(1)));
                    Outcome::Nothing
                }
            }
            (ResponsibleParty::Server, _) => {
                if now.saturating_sub(self.last_server_ping)
                    >= self.server_interval.saturating_mul(missed)
                {
                    ctx.log(LogLevel::Warn, TARGET, || {
                        format!(
                            "no connCheck from the server for {} ms",
                            now - self.last_server_ping
                        )
                    });
                    self.lose(ctx)
                } else {
                    self.next_check = Some(now.saturating_add(self.server_interval.max(1)));
                    Outcome::Nothing
                }
            }
        }
    }

    /// Declares the open socket lost, closing it in case it lingers (4.8.0
    /// leaves it open, so the gateway briefly sees two sockets).
    fn lose(&mut self, ctx: &mut Ctx<'_>) -> Outcome {
        if let Some(socket) = self.id {
            ctx.push(Effect::WsClose { socket });
        }
        self.status = SocketStatus::Lost;
        self.next_check = None;
        ctx.event(ws_change(SocketStatus::Lost));
        Outcome::Lost
    }

    /// A socket closed or failed to open.
    pub(crate) fn closed(&mut self, ctx: &mut Ctx<'_>, socket: SocketId, reason: &str) -> Outcome {
        if self.id != Some(socket) {
            ctx.log(LogLevel::Debug, TARGET, || {
                format!("close of stale socket {} ignored", socket.0)
            });
            return Outcome::Nothing;
        }
        match self.status {
            SocketStatus::Connected => {
                ctx.log(LogLevel::Warn, TARGET, || {
                    format!("notification socket closed: {reason}")
                });
                self.status = SocketStatus::Lost;
                self.next_check = None;
                ctx.event(ws_change(SocketStatus::Lost));
                Outcome::Lost
            }
            SocketStatus::Connecting if self.retry_at.is_none() => {
                let c = &ctx.config.connectivity;
                let attempt = self.attempt;
                ctx.log(LogLevel::Warn, TARGET, || {
                    format!("socket open attempt {attempt} failed: {reason}")
                });
                if c.reconnect_limit == 0 || attempt < c.reconnect_limit {
                    let delay = backoff(
                        c.reconnect_delay,
                        c.reconnect_time_multiplier,
                        c.reconnect_time_limit,
                        attempt,
                    );
                    self.retry_at = Some(ctx.now.mono_ms.saturating_add(delay));
                    Outcome::Nothing
                } else {
                    self.status = SocketStatus::Closed;
                    self.id = None;
                    Outcome::Exhausted {
                        recovering: self.recovering,
                    }
                }
            }
            _ => Outcome::Nothing,
        }
    }

    /// Closes the socket on request. With `announce`, reports `ws:change`.
    pub(crate) fn shut(&mut self, ctx: &mut Ctx<'_>, announce: bool) {
        let live = matches!(
            self.status,
            SocketStatus::Connected | SocketStatus::Connecting
        );
        if let (Some(socket), true) = (self.id, live) {
            ctx.push(Effect::WsClose { socket });
            if announce {
                ctx.event(ws_change(SocketStatus::Closed));
            }
        }
        let checks = self.checks_enabled;
        *self = SocketState {
            checks_enabled: checks,
            ..SocketState::default()
        };
    }

    /// A frame arrived on a socket. Returns the notification's routing
    /// fields when the frame is one (connectivity frames are consumed here).
    pub(crate) fn frame(
        &mut self,
        ctx: &mut Ctx<'_>,
        socket: SocketId,
        text: &str,
    ) -> Option<Meta> {
        if self.id != Some(socket) || self.status != SocketStatus::Connected {
            ctx.log(LogLevel::Debug, TARGET, || {
                format!("frame on stale socket {} dropped", socket.0)
            });
            return None;
        }
        self.last_contact = Some(ctx.now.wall_ms);
        match notification::read_frame(text) {
            Err(e) => {
                ctx.log(LogLevel::Warn, TARGET, || {
                    format!("malformed frame dropped: {e}")
                });
                None
            }
            Ok(Frame::ConnCheck(interval)) => {
                if ctx.config.connectivity.method.responsible_party == ResponsibleParty::Server {
                    self.last_server_ping = ctx.now.mono_ms;
                    if let Some(secs) = interval.filter(|s| *s > 0.0) {
                        self.server_interval = (secs * 1000.0).min(86_400_000.0) as u64;
                    }
                    ctx.push(Effect::WsSend {
                        socket,
                        text: r#"{"connAck":{}}"#.to_owned(),
                    });
                }
                None
            }
            Ok(Frame::ConnAck) => {
                // pingPong: a pong. keepAlive: 4.8.0 sends an extra ping at
                // once, a tight loop with a chatty gateway; kandy-rs ignores it.
                self.last_pong = ctx.now.mono_ms;
                None
            }
            Ok(Frame::NoEnvelope) => {
                // 4.8.0's pipeline crashes here and forgets its id cache.
                ctx.log(LogLevel::Warn, TARGET, || {
                    "frame without notificationMessage dropped".to_owned()
                });
                None
            }
            Ok(Frame::Notification(meta)) => Some(meta),
        }
    }

    /// `enableConnectivityChecking`. Re-enabling resumes checks on the open
    /// socket at once (4.8.0 does not, a defect).
    pub(crate) fn set_checks(&mut self, ctx: &mut Ctx<'_>, enable: bool) {
        let was = self.checks_enabled;
        self.checks_enabled = enable;
        if !enable {
            self.next_check = None;
        } else if !was {
            self.begin_checks(ctx);
        }
    }
}

/// The wait after failed attempt `k` (1-based): `delay * multiplier^(k-1)`,
/// capped.
pub(crate) fn backoff(delay: u64, multiplier: f64, cap: u64, k: u32) -> u64 {
    let m = if multiplier.is_finite() && multiplier > 0.0 {
        multiplier
    } else {
        1.0
    };
    let exp = k.saturating_sub(1).min(1024) as i32;
    let d = delay as f64 * m.powi(exp);
    if !d.is_finite() || d >= cap as f64 {
        cap
    } else {
        d as u64
    }
}

fn ws_change(status: SocketStatus) -> Event {
    Event::WsChange {
        platform: "link".to_owned(),
        status,
    }
}

/// `{ws origin}{channel}[?query]`: configured params plus the token the
/// session carries, keys sorted.
fn ws_url(
    ctx: &Ctx<'_>,
    endpoint: &Endpoint,
    sub: &Subscription,
    auth: Option<&AuthCarrier>,
) -> String {
    let base = format!(
        "{}{}",
        endpoint.ws_origin,
        sub.notification_channel.expose()
    );
    let mut query: BTreeMap<&str, &str> = BTreeMap::new();
    if let Some(params) = &ctx.config.authentication.websocket.params {
        for (k, v) in params {
            query.insert(k, v);
        }
    }
    match auth {
        Some(AuthCarrier::AccessToken(t)) => {
            query.insert("token", t.expose());
        }
        Some(AuthCarrier::Bearer(t))
            if ctx.config.connectivity.websocket_oauth_mode == WebSocketOAuthMode::Query =>
        {
            query.insert("access_token", t.expose());
        }
        _ => {}
    }
    http::with_query(&base, query)
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(5000, 1.0, 640_000, 1), 5000);
        assert_eq!(backoff(5000, 1.0, 640_000, 4), 5000);
        assert_eq!(backoff(1000, 2.0, 5000, 1), 1000);
        assert_eq!(backoff(1000, 2.0, 5000, 3), 4000);
        assert_eq!(backoff(1000, 2.0, 5000, 4), 5000);
        assert_eq!(backoff(1000, 2.0, 5000, 4000), 5000);
        assert_eq!(backoff(1000, f64::NAN, 5000, 3), 1000);
    }
}
