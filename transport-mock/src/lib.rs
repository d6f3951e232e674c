//! # kandy-transport-mock
//!
//! An in-memory network on virtual time. It carries out the effects of many
//! [`kandy_core::Client`]s against one [`kandy_gateway::Gateway`] model, with
//! a fixed one-way latency, and jumps the clock straight to the next
//! delivery or timer. Each client's media effects go to a scripted
//! [`FakeEngine`], so calls negotiate end to end without media. Nothing sleeps and nothing touches a socket, so a
//! scenario that spans hours of protocol time runs in milliseconds and gives
//! the same result every time.
//!
//! This is the deterministic counterpart of `kandy-transport-ws`: the same
//! core and the same gateway model, with the network replaced by a queue.
//! Seeded faults (loss, reordering, drops, restarts, clock skew) come with
//! the simulation work; today the network is reliable, which is what
//! conformance scenarios need.
//!
//! ```
//! use kandy_transport_mock::Network;
//! use kandy_core::{Command, Credentials};
//!
//! let mut net = Network::with_builtin_users(1);
//! let alice = net.add_client(1);
//! net.command(alice, Command::Connect(Credentials::password("alice@example.com", "alice"))).unwrap();
//! net.run_for(1_000);
//! assert!(net.client(alice).connection().is_connected);
//! ```

#![deny(missing_docs)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use kandy_core::call::fake::FakeEngine;
use kandy_core::{
    Client, Command, Config, Effect, Event, HttpOutcome, HttpRequest, HttpResponse, Input,
    InputKind, LogRecord, Now, SocketId,
};
use kandy_gateway::{Gateway, GatewayConfig, Output, Users};

/// The host name clients are configured with.
pub const HOST: &str = "gateway.mock";

/// Which client, by the order they were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub usize);

/// Something travelling through the network.
#[derive(Debug)]
enum Delivery {
    /// A request reaching the gateway.
    Request {
        client: ClientId,
        request: HttpRequest,
    },
    /// A socket handshake reaching the gateway.
    Upgrade {
        client: ClientId,
        socket: SocketId,
        url: String,
    },
    /// A frame from a client reaching the gateway.
    FrameUp {
        client: ClientId,
        socket: SocketId,
        text: String,
    },
    /// A client closing its socket, reaching the gateway.
    CloseUp { client: ClientId, socket: SocketId },
    /// An input reaching a client.
    Down { client: ClientId, input: InputKind },
}

#[derive(Debug)]
struct Slot {
    client: Client,
    /// The client's media engine: scripted, answering at once.
    engine: FakeEngine,
    events: Vec<Event>,
    logs: Vec<LogRecord>,
    /// Client socket → gateway socket, for open sockets.
    sockets: BTreeMap<SocketId, kandy_gateway::SocketId>,
}

/// The network: one gateway, many clients, one virtual clock.
#[derive(Debug)]
pub struct Network {
    gateway: Gateway,
    clients: Vec<Slot>,
    /// Gateway socket → (client, client socket).
    routes: BTreeMap<kandy_gateway::SocketId, (ClientId, SocketId)>,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    parcels: BTreeMap<usize, Delivery>,
    seq: u64,
    now: u64,
    latency: u64,
    keep_logs: bool,
}

/// Virtual time starts here: a plausible epoch so dates look real.
const EPOCH_MS: u64 = 1_767_225_600_000;

impl Network {
    /// A network with a gateway of the given configuration and users. The
    /// gateway's ids come from `seed`.
    pub fn new(config: GatewayConfig, users: Users, seed: u64) -> Self {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_le_bytes());
        Network {
            gateway: Gateway::new(config, users, s),
            clients: Vec::new(),
            routes: BTreeMap::new(),
            queue: BinaryHeap::new(),
            parcels: BTreeMap::new(),
            seq: 0,
            now: EPOCH_MS,
            latency: 5,
            keep_logs: false,
        }
    }

    /// The default gateway with its built-in users (alice, bob, carol).
    pub fn with_builtin_users(seed: u64) -> Self {
        Network::new(GatewayConfig::default(), Users::builtin(), seed)
    }

    /// Sets the one-way latency of every message (ms, default 5).
    pub fn set_latency(&mut self, ms: u64) {
        self.latency = ms;
    }

    /// Keeps the clients' log records (off by default).
    pub fn keep_logs(&mut self, keep: bool) {
        self.keep_logs = keep;
    }

    /// The client configuration pointing at this network's gateway.
    pub fn client_config() -> Config {
        Config::for_server(HOST, false, 80)
    }

    /// Adds a client with [`Network::client_config`].
    pub fn add_client(&mut self, seed: u64) -> ClientId {
        self.add_client_with(Network::client_config(), seed)
    }

    /// Adds a client with its own configuration.
    pub fn add_client_with(&mut self, config: Config, seed: u64) -> ClientId {
        let name = format!("u{}", self.clients.len());
        self.clients.push(Slot {
            client: Client::new(config, seed),
            engine: FakeEngine::new(name),
            events: Vec::new(),
            logs: Vec::new(),
            sockets: BTreeMap::new(),
        });
        ClientId(self.clients.len() - 1)
    }

    /// The virtual wall clock (epoch ms).
    pub fn now(&self) -> u64 {
        self.now
    }

    fn now_for_client(&self) -> Now {
        Now {
            mono_ms: self.now - EPOCH_MS,
            wall_ms: self.now,
        }
    }

    /// A client, to query.
    pub fn client(&self, id: ClientId) -> &Client {
        &self.clients[id.0].client
    }

    /// The gateway model, to query or to use its hooks.
    pub fn gateway(&mut self) -> &mut Gateway {
        &mut self.gateway
    }

    /// Runs a gateway hook at the current time and delivers what it sends.
    pub fn with_gateway<R>(&mut self, f: impl FnOnce(&mut Gateway, u64) -> R) -> R {
        let now = self.now;
        let r = f(&mut self.gateway, now);
        self.drain_gateway();
        r
    }

    /// Every event a client emitted so far.
    pub fn events(&self, id: ClientId) -> &[Event] {
        &self.clients[id.0].events
    }

    /// Takes a client's events.
    pub fn take_events(&mut self, id: ClientId) -> Vec<Event> {
        std::mem::take(&mut self.clients[id.0].events)
    }

    /// A client's media engine (to check DTMF sent, peers closed, ...).
    pub fn engine(&self, id: ClientId) -> &FakeEngine {
        &self.clients[id.0].engine
    }

    /// A client's media engine, to script failures.
    pub fn engine_mut(&mut self, id: ClientId) -> &mut FakeEngine {
        &mut self.clients[id.0].engine
    }

    /// A client's log records (with [`Network::keep_logs`]).
    pub fn logs(&self, id: ClientId) -> &[LogRecord] {
        &self.clients[id.0].logs
    }

    /// Issues a command to a client now.
    pub fn command(&mut self, id: ClientId, command: Command) -> Result<(), kandy_core::Error> {
        self.input(id, InputKind::Command(command))
    }

    fn input(&mut self, id: ClientId, kind: InputKind) -> Result<(), kandy_core::Error> {
        let now = self.now_for_client();
        let r = self.clients[id.0].client.handle(Input::new(now, kind));
        self.drain_client(id);
        r
    }

    /// Drops a client's open socket from the network side, as a broken
    /// connection would: both ends are told.
    pub fn drop_socket(&mut self, id: ClientId) -> bool {
        let Some((&socket, &gsid)) = self.clients[id.0].sockets.iter().next() else {
            return false;
        };
        self.clients[id.0].sockets.remove(&socket);
        self.routes.remove(&gsid);
        let now = self.now;
        self.gateway.handle_ws_closed(now, gsid);
        self.drain_gateway();
        self.post(Delivery::Down {
            client: id,
            input: InputKind::WsClosed {
                socket,
                reason: "connection reset".into(),
            },
        });
        true
    }

    fn post(&mut self, d: Delivery) {
        self.seq += 1;
        let key = self.seq as usize;
        self.parcels.insert(key, d);
        self.queue
            .push(Reverse((self.now + self.latency, self.seq, key)));
    }

    fn drain_client(&mut self, id: ClientId) {
        while let Some(effect) = self.clients[id.0].client.poll_effect() {
            match effect {
                Effect::Http(request) => self.post(Delivery::Request {
                    client: id,
                    request,
                }),
                Effect::WsOpen { socket, url } => self.post(Delivery::Upgrade {
                    client: id,
                    socket,
                    url,
                }),
                Effect::WsSend { socket, text } => self.post(Delivery::FrameUp {
                    client: id,
                    socket,
                    text,
                }),
                Effect::WsClose { socket } => self.post(Delivery::CloseUp { client: id, socket }),
                Effect::Event(e) => self.clients[id.0].events.push(e),
                Effect::Log(r) if self.keep_logs => self.clients[id.0].logs.push(r),
                Effect::Media(command) => {
                    // The engine is local: its reports come back at once.
                    let now = self.now_for_client();
                    let slot = &mut self.clients[id.0];
                    for event in slot.engine.handle(command) {
                        let _ = slot.client.handle(Input::new(now, InputKind::Media(event)));
                    }
                }
                _ => {}
            }
        }
    }

    fn drain_gateway(&mut self) {
        while let Some(out) = self.gateway.poll_output() {
            match out {
                Output::Send { socket, text } => {
                    if let Some(&(client, csock)) = self.routes.get(&socket) {
                        self.post(Delivery::Down {
                            client,
                            input: InputKind::WsFrame {
                                socket: csock,
                                text,
                            },
                        });
                    }
                }
                Output::Close { socket } => {
                    if let Some((client, csock)) = self.routes.remove(&socket) {
                        self.clients[client.0].sockets.remove(&csock);
                        self.post(Delivery::Down {
                            client,
                            input: InputKind::WsClosed {
                                socket: csock,
                                reason: "closed by the gateway".into(),
                            },
                        });
                    }
                }
                _ => {}
            }
        }
    }

    fn deliver(&mut self, d: Delivery) {
        let now = self.now;
        match d {
            Delivery::Request { client, request } => {
                let id = request.id;
                let response = self.gateway.handle_http(now, to_gateway(request));
                self.drain_gateway();
                self.post(Delivery::Down {
                    client,
                    input: InputKind::HttpResponse {
                        id,
                        outcome: from_gateway(response),
                    },
                });
            }
            Delivery::Upgrade {
                client,
                socket,
                url,
            } => {
                let outcome = self
                    .gateway
                    .handle_ws_upgrade(now, &path_and_query(&url), &[]);
                self.drain_gateway();
                let input = match outcome {
                    Ok(gsid) => {
                        self.routes.insert(gsid, (client, socket));
                        self.clients[client.0].sockets.insert(socket, gsid);
                        InputKind::WsOpened { socket }
                    }
                    Err(resp) => InputKind::WsClosed {
                        socket,
                        reason: format!("refused: HTTP {}", resp.status),
                    },
                };
                self.post(Delivery::Down { client, input });
            }
            Delivery::FrameUp {
                client,
                socket,
                text,
            } => {
                if let Some(&gsid) = self.clients[client.0].sockets.get(&socket) {
                    self.gateway.handle_ws_frame(now, gsid, &text);
                    self.drain_gateway();
                }
            }
            Delivery::CloseUp { client, socket } => {
                if let Some(gsid) = self.clients[client.0].sockets.remove(&socket) {
                    self.routes.remove(&gsid);
                    self.gateway.handle_ws_closed(now, gsid);
                    self.drain_gateway();
                }
            }
            Delivery::Down { client, input } => {
                // Inputs the client no longer expects are its business (it
                // ignores them); the network never fails to deliver.
                let _ = self.input(client, input);
            }
        }
    }

    /// The next moment something happens: a delivery, a client deadline or
    /// a gateway deadline (epoch ms).
    pub fn next_event_time(&self) -> Option<u64> {
        let delivery = self.queue.peek().map(|Reverse((t, _, _))| *t);
        let gateway = self.gateway.poll_timeout();
        let clients = self
            .clients
            .iter()
            .filter_map(|s| s.client.poll_timeout())
            .map(|t| t + EPOCH_MS)
            .min();
        [delivery, gateway, clients].into_iter().flatten().min()
    }

    /// Runs one moment: everything due at the next event time. Returns false
    /// when nothing is scheduled.
    pub fn step(&mut self) -> bool {
        let Some(at) = self.next_event_time() else {
            return false;
        };
        self.now = self.now.max(at);
        let now = self.now;
        while let Some(Reverse((t, _, key))) = self.queue.peek().copied() {
            if t > now {
                break;
            }
            self.queue.pop();
            if let Some(d) = self.parcels.remove(&key) {
                self.deliver(d);
            }
        }
        if self.gateway.poll_timeout().is_some_and(|t| t <= now) {
            self.gateway.handle_timeout(now);
            self.drain_gateway();
        }
        for i in 0..self.clients.len() {
            if self.clients[i]
                .client
                .poll_timeout()
                .is_some_and(|t| t + EPOCH_MS <= now)
            {
                let _ = self.input(ClientId(i), InputKind::Timeout);
            }
        }
        true
    }

    /// Runs everything that happens within the next `ms` of virtual time,
    /// then sets the clock to the end of that span.
    pub fn run_for(&mut self, ms: u64) {
        let until = self.now + ms;
        while self.next_event_time().is_some_and(|t| t <= until) {
            self.step();
        }
        self.now = until;
    }

    /// Runs until `done` holds, for at most `max_ms` of virtual time.
    /// Returns whether it held.
    pub fn run_until(&mut self, max_ms: u64, mut done: impl FnMut(&Network) -> bool) -> bool {
        let until = self.now + max_ms;
        loop {
            if done(self) {
                return true;
            }
            match self.next_event_time() {
                Some(t) if t <= until => {
                    self.step();
                }
                _ => {
                    self.now = until;
                    return done(self);
                }
            }
        }
    }
}

/// The path and query of an absolute URL.
fn path_and_query(url: &str) -> String {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(i) => url[after_scheme + i..].to_owned(),
        None => "/".to_owned(),
    }
}

fn to_gateway(r: HttpRequest) -> kandy_gateway::HttpRequest {
    kandy_gateway::HttpRequest {
        method: r.method.as_str().to_owned(),
        path_and_query: path_and_query(&r.url),
        headers: r.headers,
        body: r.body.map(String::into_bytes).unwrap_or_default(),
    }
}

fn from_gateway(r: kandy_gateway::HttpResponse) -> HttpOutcome {
    let content_type = r.header("content-type").map(str::to_owned);
    HttpOutcome::Response(HttpResponse {
        status: r.status,
        content_type,
        body: String::from_utf8_lossy(&r.body).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(path_and_query("ws://gateway.mock:80/a/b?x=1"), "/a/b?x=1");
        assert_eq!(path_and_query("http://h:1"), "/");
    }
}
