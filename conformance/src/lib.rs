//! # kandy-conformance
//!
//! Scenarios that pin the documented protocol behaviour, written once
//! against the [`Harness`] trait and run twice:
//!
//! * [`Memory`]: core clients and the gateway model in one process on
//!   virtual time ([`kandy_transport_mock`]): deterministic, instant;
//! * [`Loopback`]: the real gateway server on `127.0.0.1:0` and real
//!   [`kandy::Client`]s over HTTP and WebSocket.
//!
//! A scenario returns each client's events, [normalised](normalise) so the
//! values that legitimately differ between runs (the gateway's random ids,
//! call ids) do not count; the tests assert that both runs give the same
//! sequences. (The order *between* two clients' events may differ over a
//! real network; each client's own sequence may not.)
//!
//! * [`scenarios`]: the session layer (01-session §7);
//! * [`calls`]: the call sequences and failure paths of 02-calls §6 with
//!   the fake media engine in both harnesses (the mock network's engine per
//!   client in memory, a shared [`FakeEngine`] per [`kandy::Client`] over
//!   loopback);
//! * `benches/call_setup_loopback.rs`: call setup + teardown per second
//!   over loopback.

#![deny(missing_docs)]

pub mod calls;
mod loopback;
mod memory;
pub mod scenarios;

use std::collections::HashMap;
use std::time::Duration;

use kandy_core::call::fake::FakeEngine;
use kandy_core::call::{Call, CallCommand, CallId};
use kandy_core::{BasicError, Config, Credentials, Event};
use kandy_gateway::{CallConfig, Gateway, GatewayConfig};

pub use loopback::Loopback;
pub use memory::Memory;

/// Which client of a harness.
pub type ClientNo = usize;

/// A change to a client's configuration.
pub type Tweak = dyn for<'a> Fn(&'a mut Config) + Sync;

/// A condition on a client's events.
pub type Until = dyn for<'a> Fn(&'a [Event]) -> bool + Sync;

/// A hook run on the gateway model with its current time.
pub type Hook = Box<dyn for<'a> FnOnce(&'a mut Gateway, u64) + Send>;

/// The longest any one wait of a scenario may take (real time over
/// loopback, virtual time in memory).
pub const WAIT: Duration = Duration::from_secs(10);

/// What a scenario needs from a way of running clients and a gateway.
#[async_trait::async_trait]
pub trait Harness: Send {
    /// A short name for messages (`memory`, `loopback`).
    fn name(&self) -> &'static str;

    /// Adds a client whose configuration is `tweak` applied to one pointing
    /// at this harness's gateway.
    async fn add_client(&mut self, tweak: &Tweak) -> ClientNo;

    /// Connects and waits for the outcome.
    async fn connect(
        &mut self,
        client: ClientNo,
        credentials: Credentials,
    ) -> Result<(), BasicError>;

    /// Disconnects and waits for the outcome.
    async fn disconnect(&mut self, client: ClientNo) -> Result<(), BasicError>;

    /// Waits until the client's events satisfy `done` (at most [`WAIT`]).
    async fn wait_for(&mut self, client: ClientNo, done: &Until) -> bool;

    /// The client's events so far.
    fn events(&self, client: ClientNo) -> Vec<Event>;

    /// Runs a hook on the gateway model at its current time and carries out
    /// what it sends.
    async fn with_gateway(&mut self, f: Hook);

    /// Issues a call command (`client.call.*` / `client.media.*`) and
    /// returns once the client accepted it, with the core's refusal
    /// otherwise. Its outcome comes as events.
    ///
    /// For [`CallCommand::Make`] it returns the new call's id: in memory the
    /// command's own `call_id` (the core takes the caller's), over loopback
    /// the one `client.call().make(..)` minted (the command's is ignored).
    /// Scenarios must therefore use the returned id, and [`normalise`]
    /// renames ids. `None` for every other command.
    async fn call(
        &mut self,
        client: ClientNo,
        command: CallCommand,
    ) -> Result<Option<CallId>, kandy_core::Error>;

    /// A copy of one of the client's calls (`call.getById`), live or ended.
    async fn call_info(&mut self, client: ClientNo, id: &CallId) -> Option<Call>;

    /// A copy of the client's media engine (a [`FakeEngine`] named
    /// `u{client}` in both harnesses): DTMF sent, peers closed, ...
    fn engine(&self, client: ClientNo) -> FakeEngine;

    /// Stops everything.
    async fn finish(&mut self);
}

/// How long the gateway lets an unanswered call ring in scenarios (ms):
/// short, so the no-answer and ignore scenarios end within seconds over
/// loopback, and long enough for any scenario to answer in time on a
/// loaded machine.
pub const RINGING_TIMEOUT_MS: u64 = 3_000;

/// The gateway configuration scenarios run with: short lifetimes allowed so
/// refreshes happen within seconds, and a ringing timeout of
/// [`RINGING_TIMEOUT_MS`]. The other call timers keep their defaults (audit
/// 75 s, update 10 s, hold-back 200 ms): no scenario waits for them.
pub fn gateway_config() -> GatewayConfig {
    GatewayConfig {
        min_expires_s: 1,
        calls: CallConfig {
            ringing_timeout_ms: RINGING_TIMEOUT_MS,
            ..CallConfig::default()
        },
        ..GatewayConfig::default()
    }
}

/// Replaces what differs between runs by construction: notification ids and
/// payloads (random per gateway), keeping each notification's type; and
/// call ids (chosen by the scenario in memory, minted by the API over
/// loopback, random for incoming calls), which become `call#1`, `call#2`,
/// ... in order of first appearance in this client's events, also where
/// they are part of another string (track ids `u0-<call>-l1`, stream ids).
pub fn normalise(events: Vec<Event>) -> Vec<String> {
    let mut names: HashMap<String, String> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let lines: Vec<String> = events
        .into_iter()
        .map(|e| {
            if let Some(id) = call_id_of(&e) {
                if !names.contains_key(&id.0) {
                    names.insert(id.0.clone(), format!("call#{}", names.len() + 1));
                    order.push(id.0.clone());
                }
            }
            match e {
                Event::NotificationReceived { channel, payload } => {
                    let kind = payload.to_value()["notificationMessage"]["eventType"].clone();
                    format!("notification:received {channel:?} {kind}")
                }
                Event::UnknownNotification { event_type, .. } => {
                    format!("notification:unknown {event_type}")
                }
                other => serde_json::to_string(&other).unwrap_or_default(),
            }
        })
        .collect();
    // Longest first, so an id that is a prefix of another (`x-1`, `x-10`)
    // does not eat part of it.
    order.sort_by_key(|id| std::cmp::Reverse(id.len()));
    lines
        .into_iter()
        .map(|mut line| {
            for id in &order {
                if line.contains(id.as_str()) {
                    line = line.replace(id.as_str(), &names[id]);
                }
            }
            line
        })
        .collect()
}

/// The call an event is about, if any.
pub fn call_id_of(event: &Event) -> Option<&CallId> {
    match event {
        Event::CallStart { call_id, .. }
        | Event::CallReceive { call_id }
        | Event::CallJoin { call_id, .. }
        | Event::CallStateChange { call_id, .. }
        | Event::CallNewMedia { call_id, .. }
        | Event::CallRemovedMedia { call_id, .. }
        | Event::CallNewTrack { call_id, .. }
        | Event::CallTrackEnded { call_id, .. }
        | Event::CallStatsReceived { call_id, .. }
        | Event::CallTrackReplaced { call_id, .. } => Some(call_id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kandy_core::call::media::TrackId;

    #[test]
    fn call_ids_are_numbered_in_order_of_appearance_even_inside_track_ids() {
        let (x1, x10) = (CallId::new("x-1"), CallId::new("x-10"));
        let events = vec![
            Event::CallReceive {
                call_id: x10.clone(),
            },
            Event::CallStart {
                call_id: x1.clone(),
                error: None,
            },
            Event::CallNewTrack {
                call_id: x10,
                track_id: TrackId("u0-x-10-r2".into()),
                local: false,
            },
            Event::MediaMuted {
                tracks: vec![TrackId("u0-x-1-l1".into())],
            },
        ];
        assert_eq!(
            normalise(events),
            [
                r#"{"type":"call:receive","callId":"call#1"}"#,
                r#"{"type":"call:start","callId":"call#2","error":null}"#,
                r#"{"type":"call:newTrack","callId":"call#1","trackId":"u0-call#1-r2","local":false}"#,
                r#"{"type":"media:muted","tracks":["u0-call#2-l1"]}"#,
            ]
        );
    }
}
