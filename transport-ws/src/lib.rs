//! # kandy-transport-ws
//!
//! Runs one [`kandy_core::Client`] for real, on [smol]: REST with hyper 1,
//! the notification socket with async-tungstenite, TLS with rustls (ring),
//! timers with `smol::Timer`, and the async API applications use
//! ([`Client`]). Applications normally depend on the `kandy` crate, which
//! re-exports this one.
//!
//! ## How it runs
//!
//! [`Client::new`] spawns one **driver task** that owns the core. Nothing
//! else touches the core, so it needs no lock. The driver waits for the
//! next API command, network happening or core deadline, stamps it with
//! the clocks (this crate is the only place kandy-rs reads time), hands it
//! to the core, and carries out the effects: each HTTP request and each
//! WebSocket runs in a task of its own that reports back through a bounded
//! queue; events go to subscribers ([`Client::events`]); log records go to
//! [`tracing`] under the target `kandy_core`, with the core's own target in
//! the field `kandy_target`.
//!
//! Every queue is bounded. The driver never waits for the application: a
//! slow event subscriber loses its oldest events ([`Events::dropped`]
//! counts them), and a socket whose peer does not read loses frames rather
//! than stalling the core.
//!
//! Dropping the last [`Client`] handle stops the driver: open sockets are
//! closed normally and requests in flight are abandoned. Call
//! [`Client::disconnect`] first to also delete the subscription on the
//! gateway.
//!
//! ## Calls and media
//!
//! Calls are the [`Client::call`] namespace; their media is done by a
//! [`MediaEngine`] given to [`ClientBuilder::media_engine`]. The core asks
//! the engine for offers, answers and tracks through serializable commands
//! and the engine reports back through a [`MediaSink`] (see [`media`] for
//! its queue). Without an engine, calls fail cleanly with their error
//! events; [`kandy_core::call::fake::FakeEngine`] negotiates without any
//! media, for tests and demos.
//!
//! ```no_run
//! use futures_lite::StreamExt;
//! use kandy_core::{Config, Credentials};
//! use kandy_transport_ws::Client;
//!
//! # fn main() -> Result<(), kandy_transport_ws::Error> {
//! smol::block_on(async {
//!     let config = Config::for_server("gw.example.com", true, 443);
//!     let client = Client::new(config, 42)?;
//!     let mut events = client.events();
//!     client
//!         .connect(Credentials::password("alice@example.com", "secret"))
//!         .await?;
//!     println!("{:?}", client.services().await?);
//!     while let Some(event) = events.next().await {
//!         println!("{event:?}");
//!     }
//!     Ok(())
//! })
//! # }
//! ```
//!
//! [smol]: https://docs.rs/smol

mod calls;
mod clock;
mod driver;
mod error;
mod http;
mod hub;
pub mod media;
mod net;
mod record;
pub mod sdp_handlers;
mod ws;

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kandy_core::platform::PlatformDetails;
use kandy_core::session::{ConnectionInfo, ServicesInfo, SocketState, UserInfo};
use kandy_core::{Command, Config, Credentials, NotificationChannel, State, TokenUpdate};
use rustls::pki_types::CertificateDer;
use serde_json::Value;

pub use calls::{Calls, MakeOptions, Media, DTMF_DURATION_MS, DTMF_GAP_MS};
pub use error::Error;
pub use hub::{Events, StateChanges};
pub use media::{MediaEngine, MediaSink, SinkError};
pub use record::{FileRecorder, Recorder, FILE_RECORDER_QUEUE, RECORD_ENV};

use calls::IdMinter;
use driver::{ApiMsg, Driver};
use hub::Hub;

/// Sizes, queues and safety-net timeouts of the driver. The defaults suit
/// a Kandy gateway; change fields on `Limits::default()`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// A response body larger than this fails the request
    /// (`TransportFailure::Other`). Session responses are a few KiB.
    /// Default 8 MiB.
    pub max_response_body: usize,
    /// Largest WebSocket message (and frame) accepted; a larger one fails
    /// the socket, which the core then treats as lost. Default 1 MiB.
    pub max_ws_message: usize,
    /// Upper bound on one HTTP exchange and on opening a socket (DNS, TCP,
    /// TLS, upgrade). A safety net only: the core's `http.timeout` governs
    /// requests. Default 60 s.
    pub io_timeout: Duration,
    /// How long a normal socket close waits for the server's close reply.
    /// Default 2 s.
    pub ws_close_timeout: Duration,
    /// Idle keep-alive connections kept per origin. 0 disables reuse.
    /// Default 4.
    pub idle_connections_per_origin: usize,
    /// An idle connection older than this is not reused. Default 60 s.
    pub idle_timeout: Duration,
    /// Events queued per subscriber before the oldest are dropped.
    /// Default 256.
    pub event_queue: usize,
    /// Frames queued per socket before new ones are dropped. Default 32.
    pub ws_send_queue: usize,
    /// API commands queued for the driver (callers wait when it is full).
    /// Default 64.
    pub command_queue: usize,
    /// Network happenings queued for the driver (socket readers wait when
    /// it is full, which pushes back on the server). Default 256.
    pub network_queue: usize,
    /// Media engine reports queued for the driver. [`MediaSink::report`]
    /// drops (and logs) when it is full, [`MediaSink::send`] waits; see
    /// [`media`]. Default 256.
    pub media_queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_response_body: 8 << 20,
            max_ws_message: 1 << 20,
            io_timeout: Duration::from_secs(60),
            ws_close_timeout: Duration::from_secs(2),
            idle_connections_per_origin: 4,
            idle_timeout: Duration::from_secs(60),
            event_queue: 256,
            ws_send_queue: 32,
            command_queue: 64,
            network_queue: 256,
            media_queue: 256,
        }
    }
}

/// Where the driver and its IO tasks run.
#[derive(Clone)]
pub(crate) enum Spawner {
    /// `smol::spawn`: smol's global executor, which runs its own threads.
    Global,
    /// An executor the application runs itself.
    Executor(Arc<smol::Executor<'static>>),
}

impl fmt::Debug for Spawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spawner::Global => f.write_str("Global"),
            Spawner::Executor(_) => f.write_str("Executor"),
        }
    }
}

impl Spawner {
    pub(crate) fn spawn<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> smol::Task<T> {
        match self {
            Spawner::Global => smol::spawn(future),
            Spawner::Executor(ex) => ex.spawn(future),
        }
    }
}

/// Sets up a [`Client`]: executor, trusted roots, recorder, media engine,
/// limits.
pub struct ClientBuilder {
    config: Config,
    seed: u64,
    executor: Option<Arc<smol::Executor<'static>>>,
    extra_roots: Vec<CertificateDer<'static>>,
    public_roots: bool,
    recorders: Vec<Box<dyn Recorder>>,
    record_to: Option<std::path::PathBuf>,
    media_engine: Option<Box<dyn MediaEngine>>,
    sdp_handlers: Vec<sdp_handlers::SdpHandler>,
    limits: Limits,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("executor", &self.executor.is_some())
            .field("extra_roots", &self.extra_roots.len())
            .field("public_roots", &self.public_roots)
            .field("recorders", &self.recorders.len())
            .field("record_to", &self.record_to)
            .field("media_engine", &self.media_engine.is_some())
            .field("sdp_handlers", &self.sdp_handlers.len())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Runs the driver and its IO tasks on `executor` instead of smol's
    /// global one. The application must keep running it (e.g.
    /// `executor.run(...)` on some thread).
    pub fn executor(mut self, executor: Arc<smol::Executor<'static>>) -> Self {
        self.executor = Some(executor);
        self
    }

    /// Also trusts the CA certificates of a PEM bundle, e.g. the
    /// self-signed CA of a gateway emulator.
    pub fn add_root_certificates_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        self.extra_roots.extend(net::parse_pem_certificates(pem)?);
        Ok(self)
    }

    /// Whether the public web PKI roots (webpki-roots) are trusted.
    /// Default true; turn off to trust only added roots.
    pub fn public_roots(mut self, trusted: bool) -> Self {
        self.public_roots = trusted;
        self
    }

    /// Sees every input and effect (for recording a session to replay).
    /// May be called more than once: every recorder sees everything, in
    /// the order added.
    pub fn recorder(mut self, recorder: impl Recorder) -> Self {
        self.recorders.push(Box::new(recorder));
        self
    }

    /// Records the session to the file at `path` (created or truncated by
    /// [`ClientBuilder::build`]) in the replay format of
    /// [`kandy_core::replay`]; see [`FileRecorder`]. Replay it with
    /// `kandy replay FILE`. Without this, the environment variable
    /// [`RECORD_ENV`] (`KANDY_RECORD=<dir>`) records every client to
    /// `<dir>/kandy-<seed>-<n>.jsonl`.
    pub fn record_to(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.record_to = Some(path.into());
        self
    }

    /// The media engine that carries out every call's media (one engine
    /// per client, one peer per call). Without one, each media command that
    /// expects an answer fails with `no media engine`, so calls end with
    /// their error events instead of hanging ([`media::NoEngine`]).
    ///
    /// [`kandy_core::call::fake::FakeEngine`] implements the trait for calls
    /// without media; wrap an engine in `Arc<Mutex<_>>` to keep a handle on
    /// it.
    pub fn media_engine(mut self, engine: impl MediaEngine) -> Self {
        self.media_engine = Some(Box::new(engine));
        self
    }

    /// Replaces the driver's limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Starts the driver.
    /// Adds an application SDP handler (`call.sdpHandlers`); handlers run
    /// in the order added, before the built-in ones. See
    /// [`sdp_handlers::codec_remover`] for `createCodecRemover`.
    pub fn sdp_handler(
        mut self,
        handler: impl FnMut(
                kandy_core::call::sdp::Sdp,
                &sdp_handlers::SdpHandlerInfo,
                &kandy_core::call::sdp::Sdp,
            ) -> kandy_core::call::sdp::Sdp
            + Send
            + 'static,
    ) -> Self {
        self.sdp_handlers.push(Box::new(handler));
        self
    }

    /// Builds the client and starts its driver.
    pub fn build(mut self) -> Result<Client, Error> {
        // The core asks the driver to run them only if it knows they exist.
        self.config.call.sdp_handlers = u32::try_from(self.sdp_handlers.len()).unwrap_or(u32::MAX);
        let tls = net::tls_connector(&self.extra_roots, self.public_roots)?;
        let spawner = match self.executor {
            Some(ex) => Spawner::Executor(ex),
            None => Spawner::Global,
        };
        let limits = self.limits;
        let hub = Arc::new(Hub::new(limits.event_queue));
        let (api_tx, api_rx) = async_channel::bounded(limits.command_queue.max(1));
        let (net_tx, net_rx) = async_channel::bounded(limits.network_queue.max(1));
        let (media_tx, media_rx) = async_channel::bounded(limits.media_queue.max(1));
        let engine = self
            .media_engine
            .unwrap_or_else(|| Box::new(media::NoEngine));
        let http = Arc::new(http::HttpClient::new(
            tls.clone(),
            spawner.clone(),
            limits.clone(),
        ));
        let socket_setup = ws::SocketSetup {
            tls,
            limits: limits.clone(),
        };
        // The file recorder goes first, so that it has the input before
        // any application recorder reacts to it.
        let file =
            match (&self.record_to, std::env::var_os(RECORD_ENV)) {
                (Some(path), _) => Some(FileRecorder::create(path).map_err(|e| {
                    Error::Setup(format!("cannot record to {}: {e}", path.display()))
                })?),
                (None, Some(dir)) if !dir.is_empty() => {
                    Some(FileRecorder::in_dir(&dir, self.seed).map_err(|e| {
                        Error::Setup(format!(
                            "{RECORD_ENV}={}: cannot record: {e}",
                            std::path::Path::new(&dir).display()
                        ))
                    })?)
                }
                _ => None,
            };
        let mut recorders: Vec<Box<dyn Recorder>> = Vec::new();
        if let Some(file) = file {
            tracing::debug!(target: "kandy_transport_ws::record", "recording to {}", file.path().display());
            recorders.push(Box::new(file));
        }
        recorders.append(&mut self.recorders);
        let recorder: Option<Box<dyn Recorder>> = match recorders.len() {
            0 => None,
            1 => recorders.pop(),
            _ => Some(Box::new(record::Fanout(recorders))),
        };
        let driver = Driver::new(
            kandy_core::Client::new(self.config, self.seed),
            hub.clone(),
            recorder,
            spawner.clone(),
            http,
            socket_setup,
            limits.ws_send_queue,
            net_tx,
            engine,
            media::MediaSink::new(media_tx),
            self.sdp_handlers,
        );
        spawner
            .spawn(driver.run(self.seed, api_rx, net_rx, media_rx))
            .detach();
        Ok(Client {
            inner: Arc::new(Inner {
                api: api_tx,
                hub,
                call_ids: Mutex::new(IdMinter::new(self.seed)),
            }),
        })
    }
}

/// A Kandy client: cheap to clone, all clones drive the same session.
///
/// Commands are `async` and resolve when the operation is done, with a
/// [`Error`] when the core refuses the command, the operation fails (the
/// error event's [`kandy_core::BasicError`]), or the driver stopped.
/// Dropping a command's future does not undo the command: once sent, it is
/// carried out.
///
/// Queries ([`Client::connection`], ...) are also `async`: the state lives
/// on the driver task, and a query is one round trip through its queue, in
/// order with commands (a query sent after `connect().await` sees the
/// connected state). This keeps the core unshared and unlocked, and costs
/// nothing when nobody asks.
///
/// Features live in namespaces: [`Client::connectivity`],
/// [`Client::notification`], [`Client::call`], [`Client::media`].
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// Shared by the clones of a client. When the last clone goes, `api`
/// closes and the driver stops.
struct Inner {
    api: async_channel::Sender<ApiMsg>,
    hub: Arc<Hub>,
    /// Mints the ids of outgoing calls (see [`Calls::make`]).
    call_ids: Mutex<IdMinter>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("running", &!self.inner.api.is_closed())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A disconnected client whose driver runs on smol's global executor.
    /// `seed` feeds the core's random generator: the same config, seed and
    /// inputs reproduce a session exactly.
    pub fn new(config: Config, seed: u64) -> Result<Client, Error> {
        Client::builder(config, seed).build()
    }

    /// A builder, for an own executor, extra trusted roots, a recorder or
    /// other limits.
    pub fn builder(config: Config, seed: u64) -> ClientBuilder {
        ClientBuilder {
            config,
            seed,
            executor: None,
            extra_roots: Vec::new(),
            public_roots: true,
            recorders: Vec::new(),
            record_to: None,
            media_engine: None,
            sdp_handlers: Vec::new(),
            limits: Limits::default(),
        }
    }

    // ---- session commands ----------------------------------------------

    /// `connect(credentials)`: subscribes and opens the notification socket.
    /// Resolves once connected (`auth:change` connected), or with the
    /// `auth:error` of the failure (e.g. `authentication:4` when the gateway
    /// refuses the subscription).
    pub async fn connect(&self, credentials: Credentials) -> Result<(), Error> {
        self.command(Command::Connect(credentials)).await
    }

    /// `disconnect()`: deletes the subscription, then closes the socket.
    /// Resolves once disconnected. A failed DELETE returns its
    /// `authentication:3` error, but the client is disconnected either way.
    pub async fn disconnect(&self) -> Result<(), Error> {
        self.command(Command::Disconnect).await
    }

    /// `updateConnection({services})`: changes the subscribed services.
    /// Resolves when the gateway answered.
    pub async fn update_connection<S: Into<String>>(
        &self,
        services: impl IntoIterator<Item = S>,
    ) -> Result<(), Error> {
        let services = services.into_iter().map(Into::into).collect();
        self.command(Command::UpdateConnection { services }).await
    }

    /// `updateToken(...)`: uses a new access or OAuth token from now on.
    pub async fn update_token(&self, update: TokenUpdate) -> Result<(), Error> {
        self.command(Command::UpdateToken(update)).await
    }

    /// `updateConfig(values)`: deep-merges a partial configuration given in
    /// the JS SDK's JSON shape.
    pub async fn update_config(&self, patch: Value) -> Result<(), Error> {
        self.command(Command::UpdateConfig(patch)).await
    }

    // ---- subscriptions -------------------------------------------------

    /// The public events from now on. Subscribe before issuing the command
    /// whose events you want: subscribing is immediate.
    pub fn events(&self) -> Events {
        self.inner.hub.subscribe_events()
    }

    /// Notifications after each state change (`state.subscribe`).
    pub fn state_changes(&self) -> StateChanges {
        self.inner.hub.subscribe_changes()
    }

    // ---- queries -------------------------------------------------------

    /// `getConnection()`.
    pub async fn connection(&self) -> Result<ConnectionInfo, Error> {
        self.query(|c| c.connection()).await
    }

    /// `getServices()`.
    pub async fn services(&self) -> Result<ServicesInfo, Error> {
        self.query(|c| c.services()).await
    }

    /// `getUserInfo()`, once a connect started.
    pub async fn user_info(&self) -> Result<Option<UserInfo>, Error> {
        self.query(|c| c.user_info()).await
    }

    /// `connection.getSocketState()`, or `None` before any socket.
    pub async fn socket_state(&self) -> Result<Option<SocketState>, Error> {
        self.query(|c| c.socket_state().cloned()).await
    }

    /// `getConfig()`: the configuration in force.
    pub async fn config(&self) -> Result<Config, Error> {
        self.query(|c| c.config().clone()).await
    }

    /// A copy of everything the client knows.
    pub async fn state_snapshot(&self) -> Result<State, Error> {
        self.query(|c| c.state().clone()).await
    }

    /// Runs `f` on the core, on the driver task, and returns what it
    /// computes: for queries the methods above do not cover. Keep `f`
    /// short; the client does nothing else meanwhile.
    pub async fn query<R: Send + 'static>(
        &self,
        f: impl FnOnce(&kandy_core::Client) -> R + Send + 'static,
    ) -> Result<R, Error> {
        let (tx, rx) = async_channel::bounded(1);
        let job = Box::new(move |core: &kandy_core::Client| {
            let _ = tx.try_send(f(core));
        });
        self.inner
            .api
            .send(ApiMsg::Query(job))
            .await
            .map_err(|_| Error::Closed)?;
        rx.recv().await.map_err(|_| Error::Closed)
    }

    /// `getVersion()`.
    pub fn version(&self) -> &'static str {
        kandy_core::platform::VERSION
    }

    /// `getCapabilities()`.
    pub fn capabilities(&self) -> &'static [&'static str] {
        kandy_core::platform::CAPABILITIES
    }

    /// Where the SDK runs (`getBrowserDetails()`).
    pub fn platform(&self) -> PlatformDetails {
        kandy_core::platform::details()
    }

    /// Whether the driver is still running.
    pub fn is_running(&self) -> bool {
        !self.inner.api.is_closed()
    }

    // ---- namespaces ----------------------------------------------------

    /// `client.connection.*`: connectivity checks of the notification socket.
    pub fn connectivity(&self) -> Connectivity<'_> {
        Connectivity { client: self }
    }

    /// `client.notification.*`: the notification channels.
    pub fn notification(&self) -> Notifications<'_> {
        Notifications { client: self }
    }

    /// `client.call.*`: make, answer, hold, end, ... calls.
    pub fn call(&self) -> Calls<'_> {
        Calls::new(self)
    }

    /// `client.media.*`: mute tracks, look tracks up.
    pub fn media(&self) -> Media<'_> {
        Media::new(self)
    }

    async fn command(&self, command: Command) -> Result<(), Error> {
        let (reply, answer) = async_channel::bounded(1);
        self.inner
            .api
            .send(ApiMsg::Command { command, reply })
            .await
            .map_err(|_| Error::Closed)?;
        answer.recv().await.map_err(|_| Error::Closed)?
    }
}

/// `client.connection.*` of the JS SDK; from [`Client::connectivity`].
#[derive(Clone, Copy, Debug)]
pub struct Connectivity<'a> {
    client: &'a Client,
}

impl Connectivity<'_> {
    /// `enableConnectivityChecking(enable)`: start or stop the client's
    /// keepalive / ping checks. Re-enabling resumes them at once.
    pub async fn enable_checking(&self, enable: bool) -> Result<(), Error> {
        self.client
            .command(Command::EnableConnectivityChecking(enable))
            .await
    }

    /// `getSocketState()`.
    pub async fn socket_state(&self) -> Result<Option<SocketState>, Error> {
        self.client.socket_state().await
    }
}

/// `client.notification.*` of the JS SDK; from [`Client::notification`].
#[derive(Clone, Copy, Debug)]
pub struct Notifications<'a> {
    client: &'a Client,
}

impl Notifications<'_> {
    /// `enableWebsocket(enable)`: whether notifications arriving on the
    /// socket are processed.
    pub async fn enable_websocket(&self, enable: bool) -> Result<(), Error> {
        self.client.command(Command::EnableWebsocket(enable)).await
    }

    /// `process(payload, channel)`: a notification that arrived by another
    /// route (push, another process). `payload` is the whole envelope,
    /// `{"notificationMessage": {...}}`.
    pub async fn process(&self, payload: Value, channel: NotificationChannel) -> Result<(), Error> {
        self.client
            .command(Command::ProcessNotification { payload, channel })
            .await
    }
}
