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
//! values that legitimately differ between runs (the gateway's random ids)
//! do not count; the tests assert that both runs give the same sequences.
//! (The order *between* two clients' events may differ over a real
//! network; each client's own sequence may not.)

#![deny(missing_docs)]

mod loopback;
mod memory;
pub mod scenarios;

use std::time::Duration;

use kandy_core::{BasicError, Config, Credentials, Event};
use kandy_gateway::{Gateway, GatewayConfig};

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

    /// Stops everything.
    async fn finish(&mut self);
}

/// The gateway configuration scenarios run with: short lifetimes allowed so
/// refreshes happen within seconds.
pub fn gateway_config() -> GatewayConfig {
    GatewayConfig {
        min_expires_s: 1,
        ..GatewayConfig::default()
    }
}

/// Replaces what differs between runs by construction: notification ids and
/// payloads (random per gateway), keeping each notification's type.
pub fn normalise(events: Vec<Event>) -> Vec<String> {
    events
        .into_iter()
        .map(|e| match e {
            Event::NotificationReceived { channel, payload } => {
                let kind = payload.to_value()["notificationMessage"]["eventType"].clone();
                format!("notification:received {channel:?} {kind}")
            }
            Event::UnknownNotification { event_type, .. } => {
                format!("notification:unknown {event_type}")
            }
            other => serde_json::to_string(&other).unwrap_or_default(),
        })
        .collect()
}
