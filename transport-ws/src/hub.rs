//! Fan-out from the driver to the application: events and state-change
//! notifications.
//!
//! The driver must never wait for the application: a subscriber that stops
//! reading would otherwise stall the core, its timers and every socket.
//! So each subscriber has its own bounded queue, and when it is full the
//! **oldest** event is dropped to make room for the newest (the newest
//! says most about the current state), and the subscriber's
//! [`Events::dropped`] counter goes up. State changes are coalesced
//! instead: a subscriber that falls behind sees only the latest generation.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use async_channel::{Receiver, Sender, TrySendError};
use futures_lite::Stream;
use kandy_core::Event;

const TARGET: &str = "kandy_transport_ws::events";

/// Subscribers, shared by the driver (which publishes) and the API handles
/// (which subscribe). The lock guards the subscriber lists only, never the
/// core, and is held for a handful of non-blocking sends.
#[derive(Debug)]
pub(crate) struct Hub {
    lists: Mutex<Lists>,
    generation: AtomicU64,
    event_capacity: usize,
}

#[derive(Debug, Default)]
struct Lists {
    closed: bool,
    events: Vec<EventSub>,
    changes: Vec<Sender<()>>,
}

#[derive(Debug)]
struct EventSub {
    tx: Sender<Event>,
    dropped: Arc<AtomicU64>,
}

impl Hub {
    pub(crate) fn new(event_capacity: usize) -> Self {
        Hub {
            lists: Mutex::new(Lists::default()),
            generation: AtomicU64::new(0),
            event_capacity: event_capacity.max(1),
        }
    }

    fn lists(&self) -> MutexGuard<'_, Lists> {
        // A panic while holding this lock cannot leave the lists
        // inconsistent (each operation is a single push or retain).
        self.lists.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new event subscriber. Subscribing is synchronous, so a subscriber
    /// created before a command is issued sees every event it causes.
    pub(crate) fn subscribe_events(&self) -> Events {
        let (tx, rx) = async_channel::bounded(self.event_capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let mut lists = self.lists();
        if !lists.closed {
            lists.events.push(EventSub {
                tx,
                dropped: dropped.clone(),
            });
        }
        Events {
            rx: Box::pin(rx),
            dropped,
        }
    }

    /// A new state-change subscriber.
    pub(crate) fn subscribe_changes(self: &Arc<Self>) -> StateChanges {
        let (tx, rx) = async_channel::bounded(1);
        let mut lists = self.lists();
        if !lists.closed {
            lists.changes.push(tx);
        }
        StateChanges {
            rx: Box::pin(rx),
            hub: self.clone(),
        }
    }

    /// Hands an event to every subscriber without waiting.
    pub(crate) fn publish(&self, event: Event) {
        let mut lists = self.lists();
        lists.events.retain(|sub| {
            match sub.tx.force_send(event.clone()) {
                Ok(None) => true,
                Ok(Some(_oldest)) => {
                    let before = sub.dropped.fetch_add(1, Ordering::Relaxed);
                    // Log the first drop and then ever more rarely, so a
                    // stuck subscriber cannot flood the log.
                    if before == 0 || (before + 1).is_power_of_two() {
                        tracing::warn!(
                            target: TARGET,
                            dropped = before + 1,
                            "an event subscriber is not keeping up: oldest events dropped"
                        );
                    }
                    true
                }
                // The subscriber was dropped.
                Err(_) => false,
            }
        });
    }

    /// The state changed: bump the generation and wake change subscribers.
    pub(crate) fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
        let mut lists = self.lists();
        lists
            .changes
            .retain(|tx| !matches!(tx.try_send(()), Err(TrySendError::Closed(_))));
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The driver stopped: end every stream once it is drained.
    pub(crate) fn close(&self) {
        let mut lists = self.lists();
        lists.closed = true;
        lists.events.clear();
        lists.changes.clear();
    }
}

/// The client's public events, in order: `impl Stream<Item = Event>`.
///
/// Each subscriber has a bounded queue (`Limits::event_queue`). When the
/// application reads too slowly the oldest queued events are dropped and
/// counted in [`Events::dropped`]; the driver never waits for a reader.
/// The stream ends when the client's driver stops.
#[derive(Debug)]
pub struct Events {
    rx: Pin<Box<Receiver<Event>>>,
    dropped: Arc<AtomicU64>,
}

impl Events {
    /// How many events this subscriber lost because its queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The next event, or `None` once the driver stopped.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await.ok()
    }
}

impl Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.as_mut().poll_next(cx)
    }
}

/// Yields after inputs that changed the client's state
/// (`state.subscribe` of the JS SDK), with the state's generation number.
///
/// Every input the core accepts advances its clock, so each one counts as
/// a change; refused commands do not. Notifications are coalesced: a slow
/// reader sees the latest generation once rather than every step, and
/// nothing is cloned per input. Read the state itself with
/// [`crate::Client::state_snapshot`] when needed.
#[derive(Debug)]
pub struct StateChanges {
    rx: Pin<Box<Receiver<()>>>,
    hub: Arc<Hub>,
}

impl StateChanges {
    /// The generation at the moment of the call (0 before any input).
    pub fn generation(&self) -> u64 {
        self.hub.generation()
    }
}

impl Stream for StateChanges {
    type Item = u64;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u64>> {
        match self.rx.as_mut().poll_next(cx) {
            Poll::Ready(Some(())) => Poll::Ready(Some(self.hub.generation())),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::{future, StreamExt};
    use kandy_core::NotificationChannel;

    fn ev(n: usize) -> Event {
        Event::NotificationsChange {
            channel: NotificationChannel::Push,
            enabled: n.is_multiple_of(2),
        }
    }

    #[test]
    fn a_full_subscriber_loses_its_oldest_events_and_counts_them() {
        let hub = Hub::new(2);
        let mut events = hub.subscribe_events();
        for n in 0..5 {
            hub.publish(ev(n));
        }
        assert_eq!(events.dropped(), 3);
        future::block_on(async {
            assert_eq!(events.next().await, Some(ev(3)));
            assert_eq!(events.next().await, Some(ev(4)));
            hub.close();
            assert_eq!(events.next().await, None);
        });
    }

    #[test]
    fn dropped_subscribers_are_forgotten() {
        let hub = Hub::new(4);
        drop(hub.subscribe_events());
        let _kept = hub.subscribe_events();
        hub.publish(ev(0));
        assert_eq!(hub.lists().events.len(), 1);
    }

    #[test]
    fn state_changes_coalesce() {
        let hub = Arc::new(Hub::new(4));
        let mut changes = hub.subscribe_changes();
        hub.changed();
        hub.changed();
        hub.changed();
        future::block_on(async {
            assert_eq!(changes.next().await, Some(3));
            hub.close();
            assert_eq!(changes.next().await, None);
        });
    }

    #[test]
    fn subscribing_after_close_gives_an_ended_stream() {
        let hub = Arc::new(Hub::new(4));
        hub.close();
        let mut events = hub.subscribe_events();
        assert_eq!(future::block_on(events.next()), None);
    }
}
