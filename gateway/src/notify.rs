//! Notification frames and their delivery (01-session §5.4, §11.5, §11.6).
//!
//! Every frame is `{"notificationMessage":{"eventType","eventId","time",…}}`
//! with a fresh UUID `eventId` (the client de-duplicates on it across
//! sessions) and `time` = the gateway's `now_ms`. A subscription without a
//! socket keeps its frames in a bounded FIFO (oldest dropped first) and gets
//! them when a socket opens on the same channel again; whether the real
//! gateway does this is UNCERTAIN, the 4.8.0 client asks for no replay.

use serde_json::{json, Map, Value};

use crate::socket::SocketId;
use crate::subscription::SubscriptionId;
use crate::Gateway;

impl Gateway {
    /// Builds one frame. `params` fields are merged after `eventType`,
    /// `eventId` and `time`, which they cannot override.
    pub(crate) fn notification_frame(
        &mut self,
        now_ms: u64,
        event_type: &str,
        params: Option<&Map<String, Value>>,
    ) -> String {
        let mut message = Map::new();
        message.insert("eventType".into(), json!(event_type));
        message.insert("eventId".into(), json!(self.ids.uuid()));
        message.insert("time".into(), json!(now_ms));
        for (k, v) in params.into_iter().flatten() {
            if !matches!(k.as_str(), "eventType" | "eventId" | "time") {
                message.insert(k.clone(), v.clone());
            }
        }
        json!({ "notificationMessage": Value::Object(message) }).to_string()
    }

    /// `gone` straight onto a socket (never buffered: it ends the session).
    pub(crate) fn send_gone(&mut self, now_ms: u64, socket: SocketId, retry_after_s: Option<u64>) {
        let params = retry_after_s.map(|r| {
            let mut m = Map::new();
            m.insert("retryAfter".into(), json!(r));
            m
        });
        let frame = self.notification_frame(now_ms, "gone", params.as_ref());
        self.send(socket, frame);
    }

    /// Sends a frame to a subscription's socket, or buffers it. Returns
    /// whether the subscription exists.
    pub(crate) fn deliver(&mut self, id: &SubscriptionId, frame: String) -> bool {
        let cap = self.config.notification_buffer_cap;
        let Some(sub) = self.subs.get_mut(id) else {
            return false;
        };
        match sub.socket {
            Some(socket) => {
                self.outputs.push_back(crate::Output::Send {
                    socket,
                    text: frame,
                });
                self.counters.notifications_sent += 1;
            }
            None => {
                sub.buffer.push_back(frame);
                self.counters.buffered += 1;
                while sub.buffer.len() > cap {
                    sub.buffer.pop_front();
                    self.counters.buffered = self.counters.buffered.saturating_sub(1);
                    self.counters.notifications_dropped += 1;
                }
            }
        }
        true
    }

    /// Builds and delivers one notification to one subscription.
    pub(crate) fn notify_subscription(
        &mut self,
        now_ms: u64,
        id: &SubscriptionId,
        event_type: &str,
        params: &Map<String, Value>,
    ) -> bool {
        if self.subs.get(id).is_none() {
            return false;
        }
        let frame = self.notification_frame(now_ms, event_type, Some(params));
        self.deliver(id, frame)
    }
}
