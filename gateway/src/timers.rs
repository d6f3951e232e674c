//! The ordered deadline index.
//!
//! Every timed obligation (subscription expiry, the unopened-socket clean-up,
//! the post-DELETE socket grace, server connCheck, token purge, call
//! ringing/audit/renegotiation timeouts and notification hold-backs) is one entry
//! `(deadline_ms, Timer)` in a `BTreeSet`. The owner of a timer remembers its
//! deadline, so cancelling or moving it is an exact `O(log n)` removal and the
//! set never holds stale entries; timeout processing pops only what is due
//! and never scans all subscriptions.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::socket::SocketId;
use crate::subscription::SubscriptionId;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum Timer {
    /// The subscription was not refreshed within its `expires`.
    SubscriptionExpiry(SubscriptionId),
    /// No socket ever opened on the subscription's channel.
    UnopenedSocket(SubscriptionId),
    /// A socket whose subscription was DELETEd is still open.
    SocketGrace(SocketId),
    /// Time to send the next server-driven `connCheck`.
    ConnCheck(SocketId),
    /// An expired token may be forgotten.
    TokenPurge(String),
    /// A call leg's deadline; its meaning follows the leg's state: ringing
    /// timeout (unanswered callee leg), audit timeout (connected leg), end
    /// of the wait for the `ringing` PUT (ended leg holding a cancel).
    CallLeg(String),
    /// End of a call leg's notification hold-back.
    CallRelease(String),
    /// An offer/answer transaction of a call was not answered in time.
    CallUpdate(u64),
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Timers {
    queue: BTreeSet<(u64, Timer)>,
}

impl Timers {
    pub(crate) fn schedule(&mut self, at: u64, timer: Timer) {
        self.queue.insert((at, timer));
    }

    pub(crate) fn cancel(&mut self, at: u64, timer: &Timer) {
        self.queue.remove(&(at, timer.clone()));
    }

    /// Moves the timer whose current deadline is in `slot` to `new` (or
    /// removes it when `new` is `None`), keeping `slot` in step.
    pub(crate) fn reschedule(&mut self, slot: &mut Option<u64>, new: Option<u64>, timer: Timer) {
        if let Some(old) = slot.take() {
            self.cancel(old, &timer);
        }
        if let Some(at) = new {
            self.schedule(at, timer);
            *slot = Some(at);
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.queue.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest timer due at `now_ms`.
    pub(crate) fn pop_due(&mut self, now_ms: u64) -> Option<(u64, Timer)> {
        match self.queue.first() {
            Some((at, _)) if *at <= now_ms => self.queue.pop_first(),
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn contains(&self, at: u64, timer: &Timer) -> bool {
        self.queue.contains(&(at, timer.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_and_only_when_due() {
        let mut t = Timers::default();
        t.schedule(30, Timer::TokenPurge("b".into()));
        t.schedule(10, Timer::TokenPurge("a".into()));
        assert_eq!(t.next_deadline(), Some(10));
        assert_eq!(t.pop_due(9), None);
        assert_eq!(t.pop_due(10).map(|(at, _)| at), Some(10));
        assert_eq!(t.pop_due(29), None);
        assert_eq!(t.pop_due(100).map(|(at, _)| at), Some(30));
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn reschedule_moves_exactly() {
        let mut t = Timers::default();
        let mut slot = None;
        let timer = Timer::TokenPurge("x".into());
        t.reschedule(&mut slot, Some(5), timer.clone());
        t.reschedule(&mut slot, Some(7), timer.clone());
        assert_eq!(t.len(), 1);
        assert!(t.contains(7, &timer));
        t.reschedule(&mut slot, None, timer);
        assert_eq!(t.len(), 0);
        assert_eq!(slot, None);
    }
}
