//! The driver task: the one owner of a [`kandy_core::Client`] and of the
//! client's [`MediaEngine`].
//!
//! It waits for the next of four things — an API message, a network
//! happening, a media engine report, the core's deadline — turns it into an
//! [`Input`] stamped with the clocks, hands it to the core, and carries out
//! every effect the core produced before waiting again. Network work runs
//! in tasks of its own that report back through a bounded queue, so the
//! core is never locked or shared, and no effect can wait on the network.
//! Media commands go to the engine in the order the core produced them; its
//! reports come back through the media queue (see [`crate::media`]).

use std::collections::HashMap;
use std::sync::Arc;

use async_channel::{Receiver, Sender, TrySendError};
use futures_lite::future;
use kandy_core::call::media::MediaEvent;
use kandy_core::session::{ConnectionStatus, DisconnectReason};
use kandy_core::{
    BasicError, Command, Effect, ErrorCode, Event, Input, InputKind, LogRecord, RequestId, SocketId,
};
use smol::{Task, Timer};

use crate::clock::Clock;
use crate::http::HttpClient;
use crate::hub::Hub;
use crate::media::{MediaEngine, MediaSink};
use crate::ws::{self, SocketSetup};
use crate::{Error, Recorder, Spawner};

const TARGET: &str = "kandy_transport_ws::driver";

/// The answer to a command, sent once.
pub(crate) type Reply = Sender<Result<(), Error>>;

/// A query run against the core on the driver task.
pub(crate) type Query = Box<dyn FnOnce(&kandy_core::Client) + Send>;

/// What the API handles send the driver.
pub(crate) enum ApiMsg {
    Command { command: Command, reply: Reply },
    Query(Query),
}

/// A command whose answer depends on what happens later.
struct Waiter {
    kind: Wait,
    reply: Reply,
}

enum Wait {
    /// Until `auth:change` connected, `auth:error`, or the session ends.
    Connect,
    /// Until `auth:change` disconnected; remembers an `auth:error` on the
    /// way (a failed DELETE still ends the session).
    Disconnect { error: Option<BasicError> },
    /// Until the core stops waiting for this PUT: it was answered, timed
    /// out, or dropped with the session. Tied to the request rather than
    /// to the next `auth:change`, which a concurrent `update_token` also
    /// emits.
    Update { request: Option<RequestId> },
}

/// Session events of one step, in order, for settling waiters.
#[derive(Default)]
struct Step {
    notes: Vec<Note>,
    first_request: Option<RequestId>,
}

enum Note {
    Change(ConnectionStatus, Option<DisconnectReason>),
    Error(BasicError),
}

pub(crate) struct Driver {
    core: kandy_core::Client,
    clock: Clock,
    hub: Arc<Hub>,
    recorder: Option<Box<dyn Recorder>>,
    spawner: Spawner,
    http: Arc<HttpClient>,
    socket_setup: SocketSetup,
    ws_send_queue: usize,
    net_tx: Sender<InputKind>,
    engine: Box<dyn MediaEngine>,
    /// Handed to the engine with every command. The driver's clone also
    /// keeps the media queue open for as long as the driver runs.
    media_sink: MediaSink,
    /// The application's SDP handlers, run here (not by the engine).
    sdp_handlers: Vec<crate::sdp_handlers::SdpHandler>,
    http_tasks: HashMap<RequestId, Task<()>>,
    sockets: HashMap<SocketId, Sender<String>>,
    waiters: Vec<Waiter>,
    /// No wake-up before this (monotonic ms): set only if a deadline
    /// survives the timeout that was fed for it, so a core that failed to
    /// move it on cannot spin the driver.
    not_before_ms: u64,
}

enum Wake {
    Api(ApiMsg),
    ApiClosed,
    Net(InputKind),
    Media(MediaEvent),
    Deadline,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        core: kandy_core::Client,
        hub: Arc<Hub>,
        recorder: Option<Box<dyn Recorder>>,
        spawner: Spawner,
        http: Arc<HttpClient>,
        socket_setup: SocketSetup,
        ws_send_queue: usize,
        net_tx: Sender<InputKind>,
        engine: Box<dyn MediaEngine>,
        media_sink: MediaSink,
        sdp_handlers: Vec<crate::sdp_handlers::SdpHandler>,
    ) -> Self {
        Driver {
            sdp_handlers,
            core,
            clock: Clock::start(),
            hub,
            recorder,
            spawner,
            http,
            socket_setup,
            ws_send_queue: ws_send_queue.max(1),
            net_tx,
            engine,
            media_sink,
            http_tasks: HashMap::new(),
            sockets: HashMap::new(),
            waiters: Vec::new(),
            not_before_ms: 0,
        }
    }

    /// Runs until every API handle is gone.
    pub(crate) async fn run(
        mut self,
        seed: u64,
        api: Receiver<ApiMsg>,
        net: Receiver<InputKind>,
        media: Receiver<MediaEvent>,
    ) {
        if let Some(r) = &mut self.recorder {
            r.start(self.core.config(), seed);
        }
        loop {
            let deadline = self
                .core
                .poll_timeout()
                .and_then(|ms| self.clock.instant_of(ms.max(self.not_before_ms)));
            let from_api = async { api.recv().await.map_or(Wake::ApiClosed, Wake::Api) };
            // The driver holds a sender itself, so this never ends.
            let from_net = async {
                match net.recv().await {
                    Ok(kind) => Wake::Net(kind),
                    Err(_) => future::pending().await,
                }
            };
            // Same: the driver's sink keeps the media queue open.
            let from_media = async {
                match media.recv().await {
                    Ok(event) => Wake::Media(event),
                    Err(_) => future::pending().await,
                }
            };
            let timer = async {
                match deadline {
                    Some(at) => {
                        Timer::at(at).await;
                        Wake::Deadline
                    }
                    None => future::pending().await,
                }
            };
            // `race` picks at random among the ready sources, so commands,
            // network input and media reports all make progress; the
            // deadline is checked first so that a busy socket cannot
            // postpone timers.
            let wake = future::or(
                timer,
                future::race(from_api, future::race(from_net, from_media)),
            )
            .await;
            match wake {
                Wake::Api(ApiMsg::Command { command, reply }) => self.command(command, reply),
                Wake::Api(ApiMsg::Query(query)) => query(&self.core),
                Wake::ApiClosed => break,
                Wake::Net(kind) => self.network(kind),
                Wake::Media(event) => self.network(InputKind::Media(event)),
                Wake::Deadline => self.deadline(),
            }
        }
        self.shutdown();
    }

    fn command(&mut self, command: Command, reply: Reply) {
        let wait = match &command {
            Command::Connect(_) => Some(Wait::Connect),
            Command::Disconnect => Some(Wait::Disconnect { error: None }),
            Command::UpdateConnection { .. } => Some(Wait::Update { request: None }),
            // Everything else completes within the step.
            _ => None,
        };
        match self.step(InputKind::Command(command)) {
            Err(e) => {
                let _ = reply.try_send(Err(Error::Refused(e)));
            }
            Ok(step) => {
                match wait {
                    None => {
                        let _ = reply.try_send(Ok(()));
                    }
                    Some(mut kind) => {
                        if let Wait::Update { request } = &mut kind {
                            *request = step.first_request;
                        }
                        self.waiters.push(Waiter { kind, reply });
                    }
                }
                // The command's own step may already settle its waiter
                // (a disconnect while connecting ends at once).
                self.settle(&step);
            }
        }
    }

    fn deadline(&mut self) {
        let before = self.clock.now().mono_ms;
        if let Ok(step) = self.step(InputKind::Timeout) {
            self.settle(&step);
        }
        self.not_before_ms = match self.core.poll_timeout() {
            Some(d) if d <= before => {
                tracing::warn!(target: TARGET, "the core kept a deadline that passed; backing off");
                before.saturating_add(100)
            }
            _ => 0,
        };
    }

    fn network(&mut self, kind: InputKind) {
        match &kind {
            InputKind::HttpResponse { id, .. } => {
                if let Some(task) = self.http_tasks.remove(id) {
                    // It has sent its outcome and is returning.
                    task.detach();
                }
            }
            InputKind::WsClosed { socket, .. } => {
                self.sockets.remove(socket);
            }
            _ => {}
        }
        if let Ok(step) = self.step(kind) {
            self.settle(&step);
        }
    }

    /// One input through the core, then all of its effects.
    fn step(&mut self, kind: InputKind) -> Result<Step, kandy_core::Error> {
        let input = Input::new(self.clock.now(), kind);
        if let Some(r) = &mut self.recorder {
            r.input(&input);
        }
        self.core.handle(input)?;
        let mut step = Step::default();
        while let Some(effect) = self.core.poll_effect() {
            if let Some(r) = &mut self.recorder {
                r.effect(&effect);
            }
            self.carry_out(effect, &mut step);
        }
        self.hub.changed();
        Ok(step)
    }

    fn carry_out(&mut self, effect: Effect, step: &mut Step) {
        match effect {
            Effect::Http(request) => {
                step.first_request.get_or_insert(request.id);
                let id = request.id;
                let http = self.http.clone();
                let net = self.net_tx.clone();
                let task = self.spawner.spawn(async move {
                    let outcome = http.execute(request).await;
                    // A closed queue means the driver stopped: nobody waits.
                    let _ = net.send(InputKind::HttpResponse { id, outcome }).await;
                });
                self.http_tasks.insert(id, task);
            }
            Effect::WsOpen { socket, url } => {
                let (tx, rx) = async_channel::bounded(self.ws_send_queue);
                let setup = self.socket_setup.clone();
                let net = self.net_tx.clone();
                // Detached: the task ends when its sender is dropped (it then
                // closes the socket normally) or the socket closes.
                self.spawner
                    .spawn(ws::run(socket, url, setup, rx, net))
                    .detach();
                // Ids are never reused; a duplicate would close the old task.
                self.sockets.insert(socket, tx);
            }
            Effect::WsSend { socket, text } => match self.sockets.get(&socket) {
                Some(tx) => match tx.try_send(text) {
                    Ok(()) => {}
                    // The server is not reading. Connectivity frames are the
                    // only thing sent; losing one is what the connectivity
                    // checks are there to notice.
                    Err(TrySendError::Full(_)) => tracing::warn!(
                        target: TARGET,
                        socket = socket.0,
                        "socket send queue full: frame dropped"
                    ),
                    Err(TrySendError::Closed(_)) => {}
                },
                None => tracing::debug!(
                    target: TARGET,
                    socket = socket.0,
                    "frame for a socket that is gone dropped"
                ),
            },
            Effect::WsClose { socket } => {
                // Dropping the sender makes the socket task close normally.
                self.sockets.remove(&socket);
            }
            Effect::Event(event) => {
                match &event {
                    Event::AuthChange { status, reason, .. } => {
                        step.notes.push(Note::Change(*status, *reason))
                    }
                    Event::AuthError { error } => step.notes.push(Note::Error(error.clone())),
                    _ => {}
                }
                self.hub.publish(event);
            }
            Effect::Media(kandy_core::call::media::MediaCommand {
                call,
                op:
                    kandy_core::call::media::MediaOp::RunSdpHandlers {
                        sdp,
                        kind,
                        endpoint,
                        bandwidth,
                    },
            }) => {
                let info = crate::sdp_handlers::SdpHandlerInfo {
                    kind,
                    endpoint,
                    bandwidth,
                };
                let sdp = crate::sdp_handlers::run(&mut self.sdp_handlers, sdp, &info);
                let event = MediaEvent {
                    call,
                    kind: kandy_core::call::media::MediaEventKind::SdpHandled { sdp },
                };
                if self.media_sink.report(event).is_err() {
                    tracing::warn!(target: TARGET, "SDP handler result dropped: media queue full");
                }
            }
            Effect::Media(command) => {
                // In order, on this task: the engine starts the work and
                // reports through the sink (see `MediaEngine`).
                self.engine.command(command, &self.media_sink);
            }
            Effect::Log(record) => emit(&record),
            other => tracing::warn!(
                target: TARGET,
                "effect not supported by this driver ignored: {:?}",
                std::mem::discriminant(&other)
            ),
        }
    }

    /// Answers the waiters that this step decided.
    fn settle(&mut self, step: &Step) {
        if self.waiters.is_empty() {
            return;
        }
        let pending = &self.core.state().http.pending;
        self.waiters.retain_mut(|w| {
            let outcome = match &mut w.kind {
                Wait::Connect => step.notes.iter().find_map(|n| match n {
                    Note::Change(ConnectionStatus::Connected, _) => Some(Ok(())),
                    Note::Change(ConnectionStatus::Disconnected, reason) => {
                        Some(Err(Error::Interrupted { reason: *reason }))
                    }
                    Note::Error(e) => Some(Err(Error::Failed(e.clone()))),
                    _ => None,
                }),
                Wait::Disconnect { error } => {
                    let mut done = None;
                    for n in &step.notes {
                        match n {
                            Note::Error(e) => *error = Some(e.clone()),
                            Note::Change(ConnectionStatus::Disconnected, _) => {
                                done = Some(match error.take() {
                                    Some(e) => Err(Error::Failed(e)),
                                    None => Ok(()),
                                });
                                break;
                            }
                            _ => {}
                        }
                    }
                    done
                }
                Wait::Update { request } => {
                    let still_pending = request.is_some_and(|id| pending.contains_key(&id));
                    (!still_pending).then(|| {
                        let failed = step.notes.iter().find_map(|n| match n {
                            Note::Error(e) if e.code == ErrorCode::LinkUpdateSubscriptionFail => {
                                Some(e.clone())
                            }
                            _ => None,
                        });
                        let ended = step.notes.iter().find_map(|n| match n {
                            Note::Change(ConnectionStatus::Disconnected, reason) => Some(*reason),
                            _ => None,
                        });
                        let updated = step
                            .notes
                            .iter()
                            .any(|n| matches!(n, Note::Change(ConnectionStatus::Connected, _)));
                        match (failed, ended) {
                            (Some(e), _) => Err(Error::Failed(e)),
                            (None, Some(reason)) => Err(Error::Interrupted { reason }),
                            (None, None) if updated => Ok(()),
                            (None, None) => Err(Error::Interrupted { reason: None }),
                        }
                    })
                }
            };
            match outcome {
                Some(result) => {
                    let _ = w.reply.try_send(result);
                    false
                }
                None => true,
            }
        });
    }

    /// Every API handle is gone: close the sockets normally, abandon
    /// requests in flight, end the event streams. Waiters see `Closed`.
    /// The engine goes when the driver is dropped, right after.
    fn shutdown(&mut self) {
        tracing::debug!(target: TARGET, "all client handles dropped: stopping");
        self.sockets.clear();
        self.http_tasks.clear();
        self.waiters.clear();
        // Before the streams end: whoever waits for them to end (a test,
        // a CLI about to replay) then finds the recording complete (a
        // `FileRecorder` flushes on drop).
        drop(self.recorder.take());
        self.hub.close();
    }
}

/// A core log record to `tracing`. `tracing` targets are static, so the
/// record's own target (`kandy::session`, ...) travels as a field.
fn emit(record: &LogRecord) {
    use kandy_core::config::LogLevel;
    let target: &str = &record.target;
    let message: &str = &record.message;
    match record.level {
        LogLevel::Error => {
            tracing::error!(target: "kandy_core", kandy_target = target, "{message}")
        }
        LogLevel::Warn => tracing::warn!(target: "kandy_core", kandy_target = target, "{message}"),
        LogLevel::Info => tracing::info!(target: "kandy_core", kandy_target = target, "{message}"),
        LogLevel::Debug => {
            tracing::debug!(target: "kandy_core", kandy_target = target, "{message}")
        }
        // `Silent` records are never emitted; later levels map to trace.
        _ => tracing::trace!(target: "kandy_core", kandy_target = target, "{message}"),
    }
}
