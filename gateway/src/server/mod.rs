//! # The real server (feature `server`)
//!
//! HTTP/1.1 ([hyper] 1) and WebSocket ([async-tungstenite]) on [smol],
//! optionally behind TLS ([rustls] with the ring provider), around the
//! sans-IO [`Gateway`] model. The model decides everything a client can
//! observe (status codes, bodies, CORS, which socket gets which frame, when a
//! socket closes); this module only moves bytes, reads the clocks and
//! enforces transport limits (body size, frame size, send queues, timeouts).
//!
//! ```no_run
//! use kandy_gateway::{Gateway, GatewayConfig, Users};
//! use kandy_gateway::server::{Server, ServerConfig};
//!
//! let gateway = Gateway::new(GatewayConfig::default(), Users::builtin(), [7; 32]);
//! let mut config = ServerConfig::default();
//! config.addr = "127.0.0.1:8080".parse().unwrap();
//! let server = Server::bind(config, gateway).unwrap();
//! let handle = server.handle(); // shutdown(), with_gateway(), stats()
//! println!("listening on {}", handle.base_url());
//! server.run_blocking(); // returns after handle.shutdown()
//! ```
//!
//! ## Design
//!
//! * The model is shared as `Mutex<Gateway>` (a std mutex, never held across
//!   an `.await`). After **every** call into it the outputs are drained and
//!   dispatched under the same lock, so frames reach each socket's queue in
//!   exactly the order the model produced them, whichever thread made the
//!   call.
//! * One task per TCP connection: TLS handshake, hyper's HTTP/1.1 loop, and,
//!   after an accepted upgrade, the WebSocket session in the same task (the
//!   hyper state is gone by then). A socket's reading and writing share that
//!   task: one task instead of a reader and a writer keeps an idle socket in
//!   a few KiB, which is what lets 10 000 idle clients fit in a small
//!   footprint. Fairness between the two directions comes from a random
//!   race between them.
//! * Each socket has a **bounded** send queue. The model never waits: when a
//!   queue is full the client is too slow to keep up, so its socket is
//!   dropped and the model is told it closed (the subscription then buffers
//!   for a reconnect).
//! * One timer task sleeps until [`Gateway::poll_timeout`] and calls
//!   [`Gateway::handle_timeout`]; a call that brings the deadline forward
//!   wakes it.
//! * `now_ms` is the wall clock read once at start plus monotonic elapsed
//!   time, so the model's time never goes backwards when the system clock is
//!   adjusted.
//! * RFC 6455 Ping control frames probe each socket every
//!   [`ServerConfig::ws_ping_interval`]; a socket that returns nothing at all
//!   (not even a Pong) for [`ServerConfig::ws_dead_after`] is dropped.
//!   Application-level silence is normal (01-session §11.5) and never closes
//!   anything.
//! * Logs (`tracing`) never contain request paths or headers: a
//!   notification channel path is a socket's only credential and the
//!   headers carry passwords and tokens.
//!
//! The only `tokio` in the tree is hyper 1's unconditional dependency on it
//! with the `sync` feature alone (channels and locks for hyper's client
//! side: no runtime, no IO driver, no timer); everything runs on smol.

mod conn;
mod rest;
mod shared;
mod tls;
mod ws;

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use smol::{Async, Executor};
use thiserror::Error;
use tracing::{info, warn};

use crate::Gateway;
use shared::Shared;

/// PEM files for serving `https` and `wss` on the listening port.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsFiles {
    /// The certificate chain (leaf first), PEM.
    pub cert_pem: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1), PEM.
    pub key_pem: PathBuf,
}

impl TlsFiles {
    /// Both paths.
    pub fn new(cert_pem: impl Into<PathBuf>, key_pem: impl Into<PathBuf>) -> Self {
        Self {
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
        }
    }
}

/// Transport settings of the server. Everything the client can observe at
/// the protocol level is configured in [`crate::GatewayConfig`] instead.
/// Like that one, it is built with struct-update syntax from
/// `ServerConfig::default()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Where to listen (default `127.0.0.1:0`: loopback, ephemeral port; the
    /// bound address is [`Server::local_addr`]).
    pub addr: SocketAddr,
    /// Serve `https`/`wss` instead of `http`/`ws` (default: plain).
    pub tls: Option<TlsFiles>,
    /// Threads running the server's executor, the one calling
    /// [`Server::run`] included (default 1; more only helps under heavy
    /// load, the model is behind one lock anyway).
    pub threads: usize,
    /// Connections open at once; beyond it the server stops accepting until
    /// one closes, so a flood cannot exhaust memory or descriptors (default
    /// 65 536). WebSockets count as the connections they came from.
    pub max_connections: usize,
    /// Most time for a request's headers, and again for its body (default
    /// 30 s): a slow sender must not hold a connection forever.
    pub http_timeout: Duration,
    /// Most time for a TLS handshake (default 10 s).
    pub tls_handshake_timeout: Duration,
    /// Interval of RFC 6455 Ping control frames on every socket (default
    /// 30 s; `None` sends none).
    pub ws_ping_interval: Option<Duration>,
    /// Drop a socket from which nothing at all (frame, Ping, Pong) arrived
    /// for this long (default 90 s, three pings; `None` never). Browsers and
    /// WebSocket libraries answer pings by themselves, so only a dead peer or
    /// a half-open connection trips it.
    pub ws_dead_after: Option<Duration>,
    /// Frames waiting to be written to one socket (default 64). A full
    /// queue means the client does not read fast enough: it is dropped.
    /// Never below what the model flushes on a new socket (that is added).
    pub ws_send_queue: usize,
    /// Largest incoming WebSocket message and frame (default 64 KiB; the
    /// SDK only sends tiny keep-alive frames).
    pub ws_max_message_bytes: usize,
    /// How long to wait for the client's Close after sending ours (default
    /// 5 s).
    pub ws_close_timeout: Duration,
    /// On shutdown, how long open sockets get to finish their close
    /// handshake before the server drops them (default 2 s).
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
            threads: 1,
            max_connections: 65_536,
            http_timeout: Duration::from_secs(30),
            tls_handshake_timeout: Duration::from_secs(10),
            ws_ping_interval: Some(Duration::from_secs(30)),
            ws_dead_after: Some(Duration::from_secs(90)),
            ws_send_queue: 64,
            ws_max_message_bytes: 64 * 1024,
            ws_close_timeout: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(2),
        }
    }
}

impl ServerConfig {
    /// The default configuration on `127.0.0.1:{port}` (0 = ephemeral).
    pub fn loopback(port: u16) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            ..Self::default()
        }
    }
}

/// Why the server could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The listening socket could not be created.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A PEM file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The OS or parse error.
        source: std::io::Error,
    },
    /// The certificate or key is unusable.
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// Counters of the transport (the model's are in [`crate::GatewayStats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Open TCP connections (WebSockets included).
    pub connections: usize,
    /// Open WebSocket sessions (from the accepted upgrade until the socket
    /// is gone).
    pub websockets: usize,
}

/// A bound server, not yet running. [`Server::run`] serves until
/// [`ServerHandle::shutdown`].
pub struct Server {
    listener: Async<TcpListener>,
    shared: Arc<Shared>,
    tls: Option<futures_rustls::TlsAcceptor>,
    executor: Arc<Executor<'static>>,
    threads: usize,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.shared.addr)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds the listening socket and loads the TLS files, so every
    /// configuration error shows up here rather than in [`Server::run`].
    pub fn bind(config: ServerConfig, gateway: Gateway) -> Result<Self, ServerError> {
        let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
        let listener =
            Async::<TcpListener>::bind(config.addr).map_err(|source| ServerError::Bind {
                addr: config.addr,
                source,
            })?;
        let addr = listener
            .get_ref()
            .local_addr()
            .map_err(|source| ServerError::Bind {
                addr: config.addr,
                source,
            })?;
        let threads = config.threads.max(1);
        let shared = Arc::new(Shared::new(gateway, config, addr, tls.is_some()));
        Ok(Self {
            listener,
            shared,
            tls,
            executor: Arc::new(Executor::new()),
            threads,
        })
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// A handle to stop the server and reach the model while it runs.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Serves until [`ServerHandle::shutdown`]: then stops accepting, closes
    /// every WebSocket (Close 1001, waiting up to
    /// [`ServerConfig::shutdown_grace`] for the handshakes) and resolves;
    /// connections still open then are dropped with the server's executor.
    ///
    /// The extra [`ServerConfig::threads`] are started here and end with
    /// the shutdown signal.
    pub async fn run(self) {
        let Server {
            listener,
            shared,
            tls,
            executor,
            threads,
        } = self;
        info!(addr = %shared.addr, tls = tls.is_some(), "gateway server listening");
        for n in 1..threads {
            let ex = Arc::clone(&executor);
            let sh = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("kandy-gateway-{n}"))
                .spawn(move || smol::block_on(ex.run(sh.stop.wait())));
            if let Err(e) = spawned {
                warn!(error = %e, "cannot start a server thread; continuing with fewer");
            }
        }
        let serve = conn::serve(Arc::clone(&shared), listener, tls, Arc::clone(&executor));
        executor.run(serve).await;
        info!(addr = %shared.addr, "gateway server stopped");
    }

    /// [`Server::run`] on the current thread.
    pub fn run_blocking(self) {
        smol::block_on(self.run());
    }
}

/// Controls a running [`Server`]; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.shared.addr)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// Stops the server (see [`Server::run`]). Idempotent; returns at once.
    pub fn shutdown(&self) {
        self.shared.stop.fire();
    }

    /// Runs `f` on the model with the server's current time (epoch ms), then
    /// carries out what it asked for (frames, closes). For tests and CLI
    /// hooks: `terminate_subscription`, `mint_token`, `push_notification`,
    /// `stats`, ... Do not block inside `f`: every request waits for it.
    pub fn with_gateway<R>(&self, f: impl FnOnce(&mut Gateway, u64) -> R) -> R {
        self.shared.with_model(f)
    }

    /// The server's clock (epoch ms), as the model sees it.
    pub fn now_ms(&self) -> u64 {
        self.shared.clock.now_ms()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://127.0.0.1:port` or `https://...`, for clients and logs.
    pub fn base_url(&self) -> String {
        let scheme = if self.shared.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.shared.addr)
    }

    /// Transport counters.
    pub fn stats(&self) -> ServerStats {
        self.shared.stats()
    }
}
