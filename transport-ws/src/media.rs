//! The media-engine plug: what carries out the core's `Effect::Media` and
//! reports back the engine's [`MediaEvent`]s.
//!
//! The core never touches media: it asks for offers, answers, tracks, DTMF
//! and statistics with serializable [`MediaCommand`]s and waits for the
//! [`MediaEvent`] that answers each one. The driver hands every command to
//! the client's [`MediaEngine`], in the order the core produced them, and
//! feeds what the engine reports through a [`MediaSink`] back to the core as
//! `InputKind::Media`.
//!
//! ## The sink's queue
//!
//! A sink feeds one bounded queue (`Limits::media_queue`, default 256) that
//! only the media engine fills and only the driver drains. It is kept apart
//! from the queue of network happenings on purpose:
//!
//! * the driver is the one consumer of its queues, so a report made *on* the
//!   driver task (a synchronous engine such as the fake one answers inside
//!   [`MediaEngine::command`]) can never wait for room: it would wait for
//!   itself. On the network queue it would compete with socket readers, which
//!   wait for room and so keep that queue full exactly when notifications
//!   arrive in a burst; a non-waiting report would then be lost in normal
//!   operation. The media queue is full only when the engine is a whole
//!   queue ahead of the driver.
//! * one FIFO keeps the engine's reports in order (the core relies on
//!   `RemoteApplied` coming before the `TrackAdded` it caused, ...), which
//!   one spawned task per report would not, and it needs no task at all.
//!
//! So there are two ways in, and both keep order:
//!
//! * [`MediaSink::report`] never waits. When the queue is full the event is
//!   dropped, counted ([`MediaSink::dropped`]) and logged as a warning; a
//!   call whose negotiation waited for it stays pending until the
//!   application ends it. It is the right call on the driver task and from
//!   code that must not wait (a UDP read loop that must keep reading).
//! * [`MediaSink::send`] waits for room: engine tasks that can wait (a
//!   str0m peer's task reporting a new remote track) use it and are slowed
//!   down to the driver's pace instead of losing anything.
//!
//! Without an engine ([`ClientBuilder::media_engine`] not called) the client
//! uses [`NoEngine`], which fails every command that expects an answer, so a
//! call fails cleanly with its error event (`call:4` for `make`) instead of
//! waiting forever.
//!
//! [`ClientBuilder::media_engine`]: crate::ClientBuilder::media_engine

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_channel::{Sender, TrySendError};
use kandy_core::call::fake::FakeEngine;
use kandy_core::call::media::{MediaCommand, MediaEvent, MediaEventKind, MediaOp};

const TARGET: &str = "kandy_transport_ws::media";

/// A media engine: carries out the core's media commands for every call of
/// one client and reports what happens through a [`MediaSink`].
///
/// [`MediaEngine::command`] runs **on the driver task**, between two inputs,
/// so it must return quickly and must not block: start the work (or hand it
/// to a task of the engine's own) and report later. A simple engine may
/// also report at once, as [`FakeEngine`] does. Each command that documents
/// an answer (`Open` → `Opened` or `Failed`, `CreateOffer` → `Described`,
/// ...; see [`MediaOp`]) must eventually be answered for that call, or the
/// call's negotiation stays pending. Commands arrive in the order the core
/// produced them; report each call's events in the order they happen.
///
/// The sink is cheap to clone, `Send` and `Sync`: keep a clone in the tasks
/// that own sockets and peers and report from there. The engine is dropped
/// when the client's driver stops; release sockets and tasks in `Drop`.
pub trait MediaEngine: Send + 'static {
    /// Carries out one command (or starts to), reporting through `sink`.
    fn command(&mut self, command: MediaCommand, sink: &MediaSink);
}

impl<E: MediaEngine + ?Sized> MediaEngine for Box<E> {
    fn command(&mut self, command: MediaCommand, sink: &MediaSink) {
        (**self).command(command, sink)
    }
}

/// An engine shared with the application, which can lock it to look inside
/// (the DTMF a [`FakeEngine`] recorded, ...). The driver holds the lock
/// while the engine handles a command; hold it briefly elsewhere.
impl<E: MediaEngine> MediaEngine for Arc<Mutex<E>> {
    fn command(&mut self, command: MediaCommand, sink: &MediaSink) {
        // A panic elsewhere while holding the lock does not make the engine
        // unusable for the driver: its state is whatever the panicking code
        // left, as for any engine.
        let mut engine = self.lock().unwrap_or_else(|e| e.into_inner());
        engine.command(command, sink)
    }
}

/// The scripted engine of `kandy-core`: answers every command at once, with
/// plausible SDP and tracks and no media at all. For tests, demos and
/// simulations of call signalling.
impl MediaEngine for FakeEngine {
    fn command(&mut self, command: MediaCommand, sink: &MediaSink) {
        for event in self.handle(command) {
            // `report` logs and counts a drop itself; the fake engine has no
            // better way to react.
            let _ = sink.report(event);
        }
    }
}

/// The engine of a client built without one: every command that expects an
/// answer fails with `no media engine`, so calls end with their error events
/// (`call:4` for `make` and `answer`, an incoming call is declined) rather
/// than hang. Commands without an answer are ignored.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEngine;

/// The message of the failures [`NoEngine`] reports.
pub const NO_ENGINE: &str = "no media engine";

impl MediaEngine for NoEngine {
    fn command(&mut self, command: MediaCommand, sink: &MediaSink) {
        if expects_answer(&command.op) {
            let _ = sink.report(MediaEvent {
                call: command.call,
                kind: MediaEventKind::Failed {
                    message: NO_ENGINE.to_owned(),
                },
            });
        }
    }
}

/// Whether a command documents an answer the core may wait for.
/// `AddMedia` and `RemoveTracks` are followed by a `CreateOffer`, whose
/// failure fails the operation; `InsertDtmf`, `SetMuted` and `Close` have
/// no answer.
fn expects_answer(op: &MediaOp) -> bool {
    matches!(
        op,
        MediaOp::Open { .. }
            | MediaOp::CreateOffer { .. }
            | MediaOp::CreateAnswer { .. }
            | MediaOp::ApplyLocal { .. }
            | MediaOp::ApplyRemote { .. }
            | MediaOp::RunSdpHandlers { .. }
            | MediaOp::ReplaceTrack { .. }
            | MediaOp::GetStats { .. }
    )
}

/// Why a report did not reach the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The media queue was full: the event was dropped (and logged).
    #[error("the media queue is full: event dropped")]
    Full,
    /// The client's driver has stopped: nobody reads reports any more.
    #[error("the client has stopped")]
    Closed,
}

/// Where a [`MediaEngine`] reports [`MediaEvent`]s, now or later, from any
/// task or thread. Clones feed the same bounded queue; see the [module
/// docs](self) for what happens when it is full.
#[derive(Clone)]
pub struct MediaSink {
    tx: Sender<MediaEvent>,
    dropped: Arc<AtomicU64>,
}

impl fmt::Debug for MediaSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaSink")
            .field("queued", &self.tx.len())
            .field("dropped", &self.dropped())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl MediaSink {
    pub(crate) fn new(tx: Sender<MediaEvent>) -> Self {
        MediaSink {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Reports an event without waiting. When the queue is full the event
    /// is dropped, counted and logged as a warning, and `Err(Full)` says so
    /// (an engine task that can wait may use [`MediaSink::send`] instead).
    /// After the driver stopped, `Err(Closed)`.
    pub fn report(&self, event: MediaEvent) -> Result<(), SinkError> {
        match self.tx.try_send(event) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(event)) => {
                let before = self.dropped.fetch_add(1, Ordering::Relaxed);
                // The first drop, then ever more rarely: a runaway engine
                // must not flood the log.
                if before == 0 || (before + 1).is_power_of_two() {
                    tracing::warn!(
                        target: TARGET,
                        call = %event.call,
                        dropped = before + 1,
                        "media queue full: the engine is ahead of the driver; event dropped"
                    );
                }
                Err(SinkError::Full)
            }
            Err(TrySendError::Closed(event)) => {
                tracing::debug!(
                    target: TARGET,
                    call = %event.call,
                    "media event after the client stopped dropped"
                );
                Err(SinkError::Closed)
            }
        }
    }

    /// Reports an event, waiting while the queue is full. Nothing is dropped
    /// while the client runs; `Err(Closed)` once its driver stopped. Never
    /// call this from [`MediaEngine::command`] with `block_on`: the driver
    /// that would make room is the caller.
    pub async fn send(&self, event: MediaEvent) -> Result<(), SinkError> {
        self.tx.send(event).await.map_err(|_| SinkError::Closed)
    }

    /// How many events [`MediaSink::report`] dropped because the queue was
    /// full (all clones together).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Whether the client's driver has stopped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kandy_core::call::media::MediaOptions;
    use kandy_core::call::CallId;

    fn open(call: &str) -> MediaCommand {
        MediaCommand {
            call: CallId::new(call),
            op: MediaOp::Open {
                media: MediaOptions::audio(),
                ice_servers: Vec::new(),
            },
        }
    }

    #[test]
    fn a_full_queue_drops_counts_and_keeps_the_order_of_what_it_kept() {
        let (tx, rx) = async_channel::bounded(2);
        let sink = MediaSink::new(tx);
        let mut engine = NoEngine;
        for call in ["a", "b", "c"] {
            engine.command(open(call), &sink.clone());
        }
        assert_eq!(sink.dropped(), 1);
        let calls: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| e.call.0)
            .collect();
        assert_eq!(calls, ["a", "b"]);
        drop(rx);
        assert!(sink.is_closed());
        assert_eq!(
            sink.report(MediaEvent {
                call: CallId::new("d"),
                kind: MediaEventKind::Failed {
                    message: String::new()
                }
            }),
            Err(SinkError::Closed)
        );
    }

    #[test]
    fn no_engine_fails_what_expects_an_answer_and_nothing_else() {
        let (tx, rx) = async_channel::bounded(8);
        let sink = MediaSink::new(tx);
        let mut engine = NoEngine;
        engine.command(open("a"), &sink);
        engine.command(
            MediaCommand {
                call: CallId::new("a"),
                op: MediaOp::Close,
            },
            &sink,
        );
        let event = rx.try_recv().unwrap();
        assert_eq!(
            event.kind,
            MediaEventKind::Failed {
                message: NO_ENGINE.into()
            }
        );
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn send_waits_for_room_instead_of_dropping() {
        let (tx, rx) = async_channel::bounded(1);
        let sink = MediaSink::new(tx);
        let event = |c: &str| MediaEvent {
            call: CallId::new(c),
            kind: MediaEventKind::RemoteApplied,
        };
        futures_lite::future::block_on(async {
            sink.send(event("a")).await.unwrap();
            let later = sink.clone();
            let second = async move { later.send(event("b")).await };
            let drain = async {
                let first = rx.recv().await.unwrap();
                let second = rx.recv().await.unwrap();
                (first, second)
            };
            let (sent, (first, second)) = futures_lite::future::zip(second, drain).await;
            sent.unwrap();
            assert_eq!((first.call.0.as_str(), second.call.0.as_str()), ("a", "b"));
        });
        assert_eq!(sink.dropped(), 0);
    }
}
