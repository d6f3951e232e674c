//! WebSockets on notification channels (01-session §11.5, 04 §4.1 item 5).
//!
//! A socket is either *attached* (its subscription's current socket: it gets
//! the notifications) or *lingering* (its subscription was DELETEd: the
//! client is expected to close it, and the gateway closes it after
//! `delete_grace_ms` otherwise). A socket is never closed for silence.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::codes;
use crate::error::ApiError;
use crate::http::{query_param, split_target};
use crate::subscription::SubscriptionId;
use crate::timers::Timer;
use crate::tokens::{TokenKind, TokenLookup};
use crate::{Gateway, Output};

/// The driver's handle for one accepted WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SocketId(pub u64);

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SocketState {
    /// `Some` while attached, `None` once lingering.
    pub(crate) sub: Option<SubscriptionId>,
    /// Deadline of the post-DELETE close.
    pub(crate) grace: Option<u64>,
    /// Deadline of the next server-driven `connCheck`.
    pub(crate) conn_check: Option<u64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Sockets {
    pub(crate) map: HashMap<SocketId, SocketState>,
    next_id: u64,
}

impl Sockets {
    fn allocate(&mut self) -> SocketId {
        loop {
            self.next_id = self.next_id.wrapping_add(1);
            let id = SocketId(self.next_id);
            if !self.map.contains_key(&id) {
                return id;
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// Refusal for an invalid token on the upgrade.
fn bad_token(code: u32, reason: &str) -> ApiError {
    ApiError::new(401, code, reason)
}

impl Gateway {
    /// Accepts or refuses an upgrade on `path_and_query`.
    pub(crate) fn upgrade(
        &mut self,
        now_ms: u64,
        path_and_query: &str,
    ) -> Result<SocketId, ApiError> {
        let (path, query) = split_target(path_and_query);
        let sub = self
            .subs
            .by_channel(path)
            .ok_or_else(ApiError::unknown_subscription)?;
        let (sub_id, owner) = (sub.id.clone(), sub.user.clone());

        // No token is required, but one that is present must be good.
        if let Some(token) =
            query_param(query, "token").or_else(|| query_param(query, "access_token"))
        {
            match self.tokens.lookup(&token, now_ms) {
                TokenLookup::Valid(rec) if rec.kind != TokenKind::Refresh => {
                    if rec.user != owner {
                        return Err(bad_token(
                            codes::INVALID_TOKEN,
                            "token does not belong to the subscription's owner",
                        ));
                    }
                }
                TokenLookup::Expired(rec) if rec.kind != TokenKind::Refresh => {
                    return Err(bad_token(codes::TOKEN_EXPIRED, "token expired"));
                }
                _ => {
                    return Err(bad_token(
                        codes::INVALID_TOKEN,
                        "unknown or malformed token",
                    ))
                }
            }
        }

        let socket = self.sockets.allocate();
        self.sockets.map.insert(
            socket,
            SocketState {
                sub: Some(sub_id.clone()),
                grace: None,
                conn_check: None,
            },
        );
        let (old, frames) = match self.subs.get_mut(&sub_id) {
            Some(sub) => {
                self.timers.reschedule(
                    &mut sub.unopened,
                    None,
                    Timer::UnopenedSocket(sub_id.clone()),
                );
                (sub.socket.replace(socket), std::mem::take(&mut sub.buffer))
            }
            None => (None, Default::default()),
        };
        // Newest socket wins (01-session §11.5).
        if let Some(old) = old {
            if self.config.notify_websocket_overridden {
                let frame = self.notification_frame(now_ms, "websocketOverridden", None);
                self.send(old, frame);
            }
            self.close_socket(old);
        }
        self.counters.buffered = self.counters.buffered.saturating_sub(frames.len());
        for frame in frames {
            self.send(socket, frame);
            self.counters.notifications_sent += 1;
        }
        self.arm_conn_check(now_ms, socket);
        Ok(socket)
    }

    /// One text frame from a client.
    pub(crate) fn frame(&mut self, socket: SocketId, text: &str) {
        if !self.sockets.map.contains_key(&socket) {
            return;
        }
        // Non-JSON frames are ignored, like everything but a connCheck: the
        // keepAlive `{"message_type":"ping"}` must get no reply at all.
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            return;
        };
        let is_conn_check = value
            .get("connCheck")
            .is_some_and(|c| !matches!(c, Value::Null | Value::Bool(false)));
        if is_conn_check {
            self.send(socket, json!({ "connAck": {} }).to_string());
        }
    }

    /// The driver saw the socket close.
    pub(crate) fn socket_closed(&mut self, socket: SocketId) {
        self.forget_socket(socket);
    }

    /// Closes a socket from the gateway side.
    pub(crate) fn close_socket(&mut self, socket: SocketId) {
        if self.forget_socket(socket) {
            self.outputs.push_back(Output::Close { socket });
        }
    }

    /// Drops a socket's state and timers and detaches it from its
    /// subscription. Returns whether it was known.
    fn forget_socket(&mut self, socket: SocketId) -> bool {
        let Some(mut state) = self.sockets.map.remove(&socket) else {
            return false;
        };
        self.timers
            .reschedule(&mut state.grace, None, Timer::SocketGrace(socket));
        self.timers
            .reschedule(&mut state.conn_check, None, Timer::ConnCheck(socket));
        if let Some(sub) = state.sub.and_then(|id| self.subs.get_mut(&id)) {
            if sub.socket == Some(socket) {
                sub.socket = None;
            }
        }
        true
    }

    /// After a DELETE: keep the socket open for the client to close, but
    /// not forever.
    pub(crate) fn detach_for_grace(&mut self, now_ms: u64, socket: SocketId) {
        let Some(state) = self.sockets.map.get_mut(&socket) else {
            return;
        };
        state.sub = None;
        let at = now_ms.saturating_add(self.config.delete_grace_ms);
        self.timers
            .reschedule(&mut state.grace, Some(at), Timer::SocketGrace(socket));
    }

    /// Schedules the next server-driven `connCheck`, if configured.
    pub(crate) fn arm_conn_check(&mut self, now_ms: u64, socket: SocketId) {
        let Some(interval) = self.config.server_conn_check_interval_s.filter(|&n| n > 0) else {
            return;
        };
        let at = now_ms.saturating_add(u64::from(interval).saturating_mul(1000));
        let Some(state) = self.sockets.map.get_mut(&socket) else {
            return;
        };
        // At the end of time the deadline would never move on; stop instead
        // of spinning.
        let next = (at > now_ms).then_some(at);
        self.timers
            .reschedule(&mut state.conn_check, next, Timer::ConnCheck(socket));
    }

    /// Timer: send `{"connCheck":{"interval":N}}` and re-arm.
    pub(crate) fn fire_conn_check(&mut self, now_ms: u64, socket: SocketId) {
        let Some(state) = self.sockets.map.get_mut(&socket) else {
            return;
        };
        state.conn_check = None;
        if let Some(interval) = self.config.server_conn_check_interval_s.filter(|&n| n > 0) {
            self.send(
                socket,
                json!({ "connCheck": { "interval": interval } }).to_string(),
            );
            self.arm_conn_check(now_ms, socket);
        }
    }

    /// Timer: the DELETE grace is over.
    pub(crate) fn fire_socket_grace(&mut self, socket: SocketId) {
        if let Some(state) = self.sockets.map.get_mut(&socket) {
            state.grace = None;
        }
        self.close_socket(socket);
    }

    pub(crate) fn send(&mut self, socket: SocketId, text: String) {
        self.outputs.push_back(Output::Send { socket, text });
    }
}
