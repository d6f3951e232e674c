//! Counters and the [`GatewayStats`] snapshot.

use serde::{Deserialize, Serialize};

/// Cumulative counters, plus the running number of buffered notifications
/// (kept incrementally so `stats()` needs no scan).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Counters {
    pub(crate) subscriptions_created: u64,
    pub(crate) subscriptions_deleted: u64,
    pub(crate) subscriptions_expired: u64,
    pub(crate) subscriptions_terminated: u64,
    pub(crate) subscriptions_abandoned: u64,
    pub(crate) notifications_sent: u64,
    pub(crate) notifications_dropped: u64,
    pub(crate) buffered: usize,
    /// Calls ever created: accepted start-call POSTs, plus the new pairings
    /// transfers make.
    #[serde(default)]
    pub(crate) calls_created: u64,
    /// ... of which ended (or re-paired by a transfer).
    #[serde(default)]
    pub(crate) calls_ended: u64,
}

/// A snapshot of the model's size and history, for tests, benches and the
/// CLI.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GatewayStats {
    /// Live subscriptions.
    pub subscriptions: usize,
    /// Open sockets the model knows (attached + lingering).
    pub open_sockets: usize,
    /// Sockets that are their subscription's current socket.
    pub attached_sockets: usize,
    /// Sockets of DELETEd subscriptions waiting to be closed.
    pub lingering_sockets: usize,
    /// Notifications waiting in subscription buffers.
    pub buffered_notifications: usize,
    /// Tokens in the store (expired ones until purged included).
    pub tokens: usize,
    /// Armed timers.
    pub timers: usize,
    /// Outputs not yet taken by `poll_output`.
    pub pending_outputs: usize,
    /// Subscriptions created since start.
    pub subscriptions_created: u64,
    /// ... ended by a client DELETE.
    pub subscriptions_deleted: u64,
    /// ... ended by expiry.
    pub subscriptions_expired: u64,
    /// ... ended by the termination hook.
    pub subscriptions_terminated: u64,
    /// ... dropped because no socket ever opened.
    pub subscriptions_abandoned: u64,
    /// Notifications handed to sockets (buffered ones when flushed).
    pub notifications_sent: u64,
    /// Notifications dropped from full buffers.
    pub notifications_dropped: u64,
    /// Calls in progress (two paired legs each, ringing or answered).
    pub calls_active: usize,
    /// Live call legs (a call has two; a transferor finishing a transfer,
    /// or a transfer target ringing, has one of its own).
    pub call_legs: usize,
    /// Calls created since start: accepted start-call POSTs (including
    /// those whose callee could not be reached) plus the new pairings
    /// transfers make.
    pub calls_created: u64,
    /// ... of which ended (a transfer ends the calls it re-pairs).
    pub calls_ended: u64,
}
