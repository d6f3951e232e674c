//! The state every task shares: the model behind its lock, the socket
//! queues, the clock, and the signals that tie the tasks together.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use event_listener::Event;
use serde_json::json;
use smol::channel::{Receiver, Sender, TrySendError};
use smol::{future, Timer};
use tracing::{debug, warn};

use super::{ServerConfig, ServerStats};
use crate::{codes, Gateway, HttpResponse, Output, SocketId};

/// What a socket's task is asked to do, in the model's order.
#[derive(Debug)]
pub(crate) enum Cmd {
    /// Write one text frame.
    Text(String),
    /// Send a Close frame with this code, wait for the client's, end.
    Close(CloseCode),
}

/// A one-shot, level-triggered signal: once fired, every present and future
/// waiter returns at once. Used to stop the server and to kill one socket
/// whatever its task is blocked on.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    fired: AtomicBool,
    event: Event,
}

impl Signal {
    pub(crate) fn fire(&self) {
        self.fired.store(true, Ordering::SeqCst);
        self.event.notify(usize::MAX);
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    pub(crate) async fn wait(&self) {
        loop {
            if self.is_fired() {
                return;
            }
            // Listen before the second check so a fire in between is seen.
            let listener = self.event.listen();
            if self.is_fired() {
                return;
            }
            listener.await;
        }
    }
}

/// The server's side of one accepted socket.
#[derive(Debug)]
struct Link {
    tx: Sender<Cmd>,
    kill: Arc<Signal>,
}

/// What the socket task needs once the upgrade is accepted.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) id: SocketId,
    pub(crate) rx: Receiver<Cmd>,
    pub(crate) kill: Arc<Signal>,
}

/// Everything behind the lock: the model and the queues its outputs go to
/// (one lock, so dispatch order is the model's order).
struct Core {
    gateway: Gateway,
    links: HashMap<SocketId, Link>,
    /// The deadline the timer task sleeps until (as far as we know).
    armed: Option<u64>,
    /// Shutting down: no new sockets.
    closing: bool,
}

/// Wall-clock epoch at start plus monotonic elapsed time: only the server
/// reads clocks, and the model's time never goes backwards.
#[derive(Debug)]
pub(crate) struct Clock {
    wall0_ms: u64,
    mono0: Instant,
}

impl Clock {
    fn new() -> Self {
        let wall0_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self {
            wall0_ms,
            mono0: Instant::now(),
        }
    }

    pub(crate) fn now_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.mono0.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.wall0_ms.saturating_add(elapsed)
    }

    /// The instant of an epoch-ms deadline (`None` if beyond `Instant`'s
    /// range, i.e. never).
    fn instant_of(&self, at_ms: u64) -> Option<Instant> {
        self.mono0
            .checked_add(Duration::from_millis(at_ms.saturating_sub(self.wall0_ms)))
    }
}

/// Shared by every task of one server.
pub(crate) struct Shared {
    core: Mutex<Core>,
    pub(crate) clock: Clock,
    pub(crate) config: ServerConfig,
    pub(crate) addr: SocketAddr,
    pub(crate) tls: bool,
    /// `GatewayConfig::max_body_bytes`, read once (the model cannot change
    /// it).
    pub(crate) max_body_bytes: usize,
    /// Fired by `ServerHandle::shutdown`.
    pub(crate) stop: Signal,
    /// Wakes the timer task when the next deadline moved earlier.
    rearm: Event,
    connections: AtomicUsize,
    connection_freed: Event,
    websockets: AtomicUsize,
    websocket_gone: Event,
}

impl Shared {
    pub(crate) fn new(gateway: Gateway, config: ServerConfig, addr: SocketAddr, tls: bool) -> Self {
        let max_body_bytes = gateway.config().max_body_bytes;
        Self {
            core: Mutex::new(Core {
                gateway,
                links: HashMap::new(),
                armed: None,
                closing: false,
            }),
            clock: Clock::new(),
            config,
            addr,
            tls,
            max_body_bytes,
            stop: Signal::default(),
            rearm: Event::new(),
            connections: AtomicUsize::new(0),
            connection_freed: Event::new(),
            websockets: AtomicUsize::new(0),
            websocket_gone: Event::new(),
        }
    }

    /// The lock; a panic in a hook closure must not take the server down,
    /// and the model stays consistent between calls, so poisoning is
    /// ignored.
    fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One call into the model at the current time, then its outputs.
    pub(crate) fn with_model<R>(&self, f: impl FnOnce(&mut Gateway, u64) -> R) -> R {
        let mut core = self.lock();
        // Read under the lock: calls reach the model in time order.
        let now = self.clock.now_ms();
        let r = f(&mut core.gateway, now);
        self.after_call(&mut core, now);
        r
    }

    /// Accepts or refuses a WebSocket upgrade; on acceptance the socket's
    /// queue exists before anything is dispatched to it.
    pub(crate) fn accept_socket(
        &self,
        path_and_query: &str,
        headers: &[(String, String)],
    ) -> Result<Accepted, HttpResponse> {
        let mut core = self.lock();
        if core.closing {
            return Err(HttpResponse::json(
                503,
                &json!({"subscribeResponse": {
                    "statusCode": codes::BAD_REQUEST,
                    "reason": "the gateway is shutting down"
                }}),
            ));
        }
        let now = self.clock.now_ms();
        let result = core.gateway.handle_ws_upgrade(now, path_and_query, headers);
        // Outputs so far (buffered notifications for the new socket, a Close
        // for the socket it replaces): size the queue to hold the flush.
        let pending: Vec<Output> = std::iter::from_fn(|| core.gateway.poll_output()).collect();
        let accepted = result.map(|id| {
            let flush = pending
                .iter()
                .filter(|o| matches!(o, Output::Send { socket, .. } if *socket == id))
                .count();
            let (tx, rx) = smol::channel::bounded(self.config.ws_send_queue.max(1) + flush);
            let kill = Arc::new(Signal::default());
            core.links.insert(
                id,
                Link {
                    tx,
                    kill: Arc::clone(&kill),
                },
            );
            Accepted { id, rx, kill }
        });
        for out in pending {
            self.dispatch(&mut core, now, out);
        }
        self.after_call(&mut core, now);
        accepted
    }

    /// A socket's task ended (closed by either side, killed, or the upgrade
    /// never completed): forget its queue and tell the model.
    pub(crate) fn socket_ended(&self, id: SocketId, kill: &Arc<Signal>) {
        let mut core = self.lock();
        if core
            .links
            .get(&id)
            .is_some_and(|l| Arc::ptr_eq(&l.kill, kill))
        {
            core.links.remove(&id);
        }
        let now = self.clock.now_ms();
        // Harmless when the model already closed it.
        core.gateway.handle_ws_closed(now, id);
        self.after_call(&mut core, now);
    }

    /// Drains the model's outputs and re-arms the timer task if the next
    /// deadline moved earlier.
    fn after_call(&self, core: &mut Core, now: u64) {
        while let Some(out) = core.gateway.poll_output() {
            self.dispatch(core, now, out);
        }
        let next = core.gateway.poll_timeout();
        let earlier = match (next, core.armed) {
            (Some(n), Some(a)) => n < a,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if earlier {
            core.armed = next;
            self.rearm.notify(1);
        }
    }

    fn dispatch(&self, core: &mut Core, now: u64, out: Output) {
        match out {
            Output::Send { socket, text } => {
                let Some(link) = core.links.get(&socket) else {
                    return;
                };
                match link.tx.try_send(Cmd::Text(text)) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        warn!(
                            socket = socket.0,
                            "WebSocket client too slow (send queue full): dropping it"
                        );
                        Self::drop_link(core, now, socket);
                    }
                    Err(TrySendError::Closed(_)) => Self::drop_link(core, now, socket),
                }
            }
            Output::Close { socket } => {
                if let Some(link) = core.links.remove(&socket) {
                    // Queued frames go first, then the Close. Dropping the
                    // link's sender ends the queue after them.
                    if link.tx.try_send(Cmd::Close(CloseCode::Normal)).is_err() {
                        link.kill.fire();
                    }
                }
            }
        }
    }

    /// Kills a socket's task at once and tells the model (which may answer
    /// with more outputs: the caller's drain loop picks them up).
    fn drop_link(core: &mut Core, now: u64, socket: SocketId) {
        if let Some(link) = core.links.remove(&socket) {
            link.kill.fire();
        }
        core.gateway.handle_ws_closed(now, socket);
    }

    /// Sleeps until the model's next deadline and processes it, forever
    /// (cancelled with the executor).
    pub(crate) async fn run_timers(self: Arc<Self>) {
        loop {
            let rearmed = self.rearm.listen();
            let next = {
                let mut core = self.lock();
                let now = self.clock.now_ms();
                if core.gateway.poll_timeout().is_some_and(|t| t <= now) {
                    core.gateway.handle_timeout(now);
                    self.after_call(&mut core, now);
                }
                let next = core.gateway.poll_timeout();
                core.armed = next;
                next
            };
            let timer = match next.and_then(|at| self.clock.instant_of(at)) {
                Some(at) => Timer::at(at),
                None => Timer::never(),
            };
            future::or(
                async {
                    timer.await;
                },
                rearmed,
            )
            .await;
        }
    }

    /// Shutdown, step one: no new sockets, Close 1001 to every open one (a
    /// socket whose queue is full is killed instead).
    pub(crate) fn close_all_sockets(&self) {
        let mut core = self.lock();
        core.closing = true;
        let links: Vec<(SocketId, Link)> = core.links.drain().collect();
        drop(core);
        debug!(sockets = links.len(), "closing every WebSocket");
        for (_, link) in links {
            if link.tx.try_send(Cmd::Close(CloseCode::Away)).is_err() {
                link.kill.fire();
            }
        }
    }

    /// Shutdown, step two: resolves when every socket task has ended.
    pub(crate) async fn websockets_gone(&self) {
        loop {
            if self.websockets.load(Ordering::SeqCst) == 0 {
                return;
            }
            let listener = self.websocket_gone.listen();
            if self.websockets.load(Ordering::SeqCst) == 0 {
                return;
            }
            listener.await;
        }
    }

    /// Waits for room under `max_connections`; `false` once stopped.
    pub(crate) async fn connection_slot(&self) -> bool {
        loop {
            if self.stop.is_fired() {
                return false;
            }
            if self.connections.load(Ordering::SeqCst) < self.config.max_connections {
                return true;
            }
            let listener = self.connection_freed.listen();
            if self.connections.load(Ordering::SeqCst) < self.config.max_connections {
                return true;
            }
            future::or(listener, self.stop.wait()).await;
        }
    }

    pub(crate) fn stats(&self) -> ServerStats {
        ServerStats {
            connections: self.connections.load(Ordering::SeqCst),
            websockets: self.websockets.load(Ordering::SeqCst),
        }
    }
}

/// Counts one open TCP connection for as long as it lives.
pub(crate) struct ConnectionGuard(Arc<Shared>);

impl ConnectionGuard {
    pub(crate) fn new(shared: &Arc<Shared>) -> Self {
        shared.connections.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(shared))
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
        self.0.connection_freed.notify(1);
    }
}

/// Counts one WebSocket session for as long as its task lives.
pub(crate) struct WebSocketGuard(Arc<Shared>);

impl WebSocketGuard {
    pub(crate) fn new(shared: &Arc<Shared>) -> Self {
        shared.websockets.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(shared))
    }
}

impl Drop for WebSocketGuard {
    fn drop(&mut self) {
        self.0.websockets.fetch_sub(1, Ordering::SeqCst);
        self.0.websocket_gone.notify(usize::MAX);
    }
}
