//! [`Client`]: the state machine itself.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::call;
use crate::config::{Config, LogLevel};
use crate::ctx::{Ctx, HttpTracker, Purpose};
use crate::effect::{Effect, Method};
use crate::error::Error;
use crate::event::Event;
use crate::http;
use crate::input::{
    Command, HttpOutcome, Input, InputKind, NotificationChannel, RequestId, TransportFailure,
};
use crate::notification::{self, Frame, NotificationState, Parked, Queued, RawJson, SdpFormat};
use crate::out::Out;
use crate::platform::{self, PlatformDetails};
use crate::rng::Rng;
use crate::secret;
use crate::session::{ConnectionInfo, ServicesInfo, SessionState, SocketState, UserInfo};
use crate::time::Now;

const TARGET: &str = "kandy::notification";

/// Everything the client knows. Serializable (secrets redacted) and
/// comparable as a whole, so tests and replays can compare states.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The time of the last input.
    pub now: Now,
    /// The session layer.
    pub session: SessionState,
    /// The notification pipeline.
    pub notifications: NotificationState,
    /// Requests in flight and id counters.
    pub http: HttpTracker,
    /// Calls.
    pub calls: crate::call::CallsState,
    /// The seeded random generator.
    pub rng: Rng,
}

/// A Kandy client as a pure state machine.
///
/// Drive it in this order, as quinn-proto's `Connection` is driven:
///
/// 1. [`Client::handle`] each input as it happens (commands, HTTP outcomes,
///    socket happenings, and a [`InputKind::Timeout`] when the deadline from
///    `poll_timeout` has passed);
/// 2. after each one, [`Client::poll_effect`] until it returns `None`, and
///    carry the effects out in order;
/// 3. ask [`Client::poll_timeout`] for the next deadline and wake up then.
///
/// The client never does IO, never reads a clock and draws randomness only
/// from its seed: the same `(config, seed, inputs)` always produce the same
/// effects and state. The effect queue holds only what the last inputs
/// produced; a driver that drains it after every input keeps it small.
#[derive(Debug)]
pub struct Client {
    config: Config,
    state: State,
    out: Out,
}

impl Client {
    /// A disconnected client.
    pub fn new(config: Config, seed: u64) -> Self {
        let mut out = Out::default();
        out.configure(&config.logs);
        Client {
            config,
            state: State {
                rng: Rng::new(seed),
                ..State::default()
            },
            out,
        }
    }

    /// Reduces one input. A command that is invalid, or illegal in the
    /// current state, returns its error and changes nothing (no state
    /// change, no effect). Network inputs never fail: what goes wrong there
    /// becomes an error event.
    pub fn handle(&mut self, input: Input) -> Result<(), Error> {
        let mark = self.out.len();
        let previous = self.state.now;
        // A driver's clock that steps back must not move deadlines back.
        self.state.now = Now {
            mono_ms: input.now.mono_ms.max(previous.mono_ms),
            wall_ms: input.now.wall_ms,
        };
        self.log_action(&input);
        let was_connected =
            self.state.session.status != crate::session::ConnectionStatus::Disconnected;
        let result = match input.kind {
            InputKind::Command(c) => self.command(c),
            InputKind::HttpResponse { id, outcome } => {
                self.route(id, outcome);
                Ok(())
            }
            InputKind::WsOpened { socket } => {
                let (mut ctx, session, notifications) = self.split();
                session.on_socket_opened(&mut ctx, socket);
                if session.socket.id == Some(socket)
                    && session.socket.status == crate::session::SocketStatus::Connected
                {
                    notifications.websocket_enabled = true;
                }
                Ok(())
            }
            InputKind::WsFrame { socket, text } => {
                let (mut ctx, session, _) = self.split();
                if let Some(meta) = session.socket.frame(&mut ctx, socket, &text) {
                    self.process(Queued {
                        channel: NotificationChannel::Websocket,
                        payload: RawJson::from_checked(text),
                        meta,
                    });
                }
                Ok(())
            }
            InputKind::WsClosed { socket, reason } => {
                let (mut ctx, session, _) = self.split();
                session.on_socket_closed(&mut ctx, socket, &reason);
                Ok(())
            }
            InputKind::Timeout => {
                self.timeout();
                Ok(())
            }
            InputKind::Media(event) => {
                self.with_calls(|cx, calls| call::on_media(calls, cx, event));
                Ok(())
            }
        };
        if result.is_err() {
            self.out.truncate(mark);
            self.state.now = previous;
        } else if was_connected
            && self.state.session.status == crate::session::ConnectionStatus::Disconnected
            && self.state.calls.live() > 0
        {
            // Without a session no call can be signalled any more, and the
            // gateway ends the legs of a subscription that ends. 4.8.0 keeps
            // such calls up locally; kandy-rs ends them at once.
            self.with_calls(|cx, calls| call::end_all(calls, cx, "the session ended"));
        }
        result
    }

    /// The next effect to carry out, in order.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.out.pop()
    }

    /// The next deadline (monotonic ms): feed [`InputKind::Timeout`] once it
    /// has passed. `None` when nothing is scheduled.
    pub fn poll_timeout(&self) -> Option<u64> {
        [
            self.state.session.next_deadline(),
            self.state.http.next_deadline(),
            self.state.calls.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Everything the client knows.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The configuration in force (`getConfig`).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `getConnection()`.
    pub fn connection(&self) -> ConnectionInfo {
        self.state.session.connection_info()
    }

    /// `getServices()`: the empty `NONE` structure before a subscription.
    pub fn services(&self) -> ServicesInfo {
        self.state
            .session
            .subscription
            .as_ref()
            .map(|s| s.services_info.clone())
            .unwrap_or_else(ServicesInfo::none)
    }

    /// `getUserInfo()`, once a connect started.
    pub fn user_info(&self) -> Option<UserInfo> {
        self.state.session.user_info()
    }

    /// `connection.getSocketState()`, or `None` when no socket was attempted.
    pub fn socket_state(&self) -> Option<&SocketState> {
        let s = &self.state.session.socket;
        s.id.map(|_| s)
    }

    /// `getVersion()`.
    pub fn version(&self) -> &'static str {
        platform::VERSION
    }

    /// `getCapabilities()`.
    pub fn capabilities(&self) -> &'static [&'static str] {
        platform::CAPABILITIES
    }

    /// The counterpart of `getBrowserDetails()`.
    pub fn platform(&self) -> PlatformDetails {
        platform::details()
    }

    /// `call.getAll()`: every call of the session, ended ones included (up
    /// to `call.maxEndedCalls`).
    pub fn calls(&self) -> Vec<&crate::call::Call> {
        self.state.calls.all()
    }

    /// `call.getById(callId)`.
    pub fn call(&self, id: &crate::call::CallId) -> Option<&crate::call::Call> {
        self.state.calls.get(id)
    }

    // ---- internals ------------------------------------------------------

    /// Runs `f` with the call module's context and state.
    fn with_calls<R>(
        &mut self,
        f: impl FnOnce(&mut call::CallCx<'_, '_>, &mut call::CallsState) -> R,
    ) -> R {
        let State {
            now,
            session,
            http,
            calls,
            rng,
            ..
        } = &mut self.state;
        let mut ctx = Ctx {
            now: *now,
            config: &self.config,
            out: &mut self.out,
            http,
        };
        let mut cx = call::CallCx {
            ctx: &mut ctx,
            session,
            rng,
        };
        f(&mut cx, calls)
    }

    fn split(&mut self) -> (Ctx<'_>, &mut SessionState, &mut NotificationState) {
        let State {
            now,
            session,
            notifications,
            http,
            ..
        } = &mut self.state;
        (
            Ctx {
                now: *now,
                config: &self.config,
                out: &mut self.out,
                http,
            },
            session,
            notifications,
        )
    }

    fn log_action(&mut self, input: &Input) {
        let Some(actions) = &self.config.logs.log_actions else {
            return;
        };
        if !self.out.enabled(actions.level) {
            return;
        }
        let name = input.kind.name();
        if actions.exclude_actions.iter().any(|a| a == name) {
            return;
        }
        let expose_payloads = actions.expose_payloads;
        let expose_secrets = self.config.logs.expose_secrets;
        self.out.log(
            actions.level,
            "kandy::action",
            || -> std::borrow::Cow<'static, str> {
                if expose_payloads {
                    let json = if expose_secrets {
                        secret::with_secrets_exposed(|| serde_json::to_string(input))
                    } else {
                        serde_json::to_string(input)
                    };
                    format!("{name} {}", json.unwrap_or_default()).into()
                } else {
                    name.into()
                }
            },
        );
    }

    fn command(&mut self, command: Command) -> Result<(), Error> {
        match command {
            Command::Connect(credentials) => {
                let (mut ctx, session, _) = self.split();
                session.connect(&mut ctx, credentials)
            }
            Command::Disconnect => {
                let (mut ctx, session, _) = self.split();
                session.disconnect(&mut ctx)
            }
            Command::UpdateToken(update) => {
                let (mut ctx, session, _) = self.split();
                session.update_token(&mut ctx, update)
            }
            Command::UpdateConnection { services } => {
                let (mut ctx, session, _) = self.split();
                session.update_services(&mut ctx, services)
            }
            Command::UpdateConfig(patch) => {
                let merged = self.config.merge(&patch)?;
                self.config = merged;
                self.out.configure(&self.config.logs);
                self.out.log(LogLevel::Info, "kandy::config", || {
                    "configuration updated".to_owned()
                });
                Ok(())
            }
            Command::EnableConnectivityChecking(enable) => {
                let (mut ctx, session, _) = self.split();
                session.enable_checks(&mut ctx, enable);
                Ok(())
            }
            Command::EnableWebsocket(enable) => {
                self.state.notifications.websocket_enabled = enable;
                self.out.event(Event::NotificationsChange {
                    channel: NotificationChannel::Websocket,
                    enabled: enable,
                });
                Ok(())
            }
            Command::Call(command) => {
                self.with_calls(|cx, calls| call::command(calls, cx, *command))
            }
            Command::ProcessNotification { payload, channel } => {
                let text = payload.to_string();
                match notification::read_frame(&text) {
                    Ok(Frame::Notification(meta)) => {
                        self.process(Queued {
                            channel,
                            payload: RawJson::from_checked(text),
                            meta,
                        });
                        Ok(())
                    }
                    _ => Err(Error::InvalidArgument(
                        "a notification must be an object with a notificationMessage object".into(),
                    )),
                }
            }
        }
    }

    fn timeout(&mut self) {
        let now = self.state.now.mono_ms;
        while let Some(id) = self.state.http.first_expired(now) {
            let after = self.config.http.timeout;
            self.route(
                id,
                HttpOutcome::failed(
                    TransportFailure::Timeout,
                    format!("no response within {after} ms"),
                ),
            );
        }
        let (mut ctx, session, _) = self.split();
        session.on_timeout(&mut ctx);
        self.with_calls(|cx, calls| call::on_timeout(calls, cx));
    }

    fn route(&mut self, id: RequestId, outcome: HttpOutcome) {
        let Some(pending) = self.state.http.pending.remove(&id) else {
            self.out.log(LogLevel::Debug, "kandy::http", || {
                format!("outcome of request {} ignored: not in flight", id.0)
            });
            return;
        };
        if let HttpOutcome::Response(r) = &outcome {
            let status = r.status;
            self.out.log(LogLevel::Debug, "kandy::http", || {
                format!("request {} answered {status}", id.0)
            });
        }
        match pending.purpose {
            Purpose::SdpFetch => self.on_sdp_fetched(id, &outcome),
            Purpose::Call {
                call: call_id,
                request,
            } => {
                let reply = http::classify(&outcome);
                self.with_calls(|cx, calls| call::on_http(calls, cx, &call_id, request, reply));
            }
            purpose => {
                let (mut ctx, session, _) = self.split();
                session.on_http(&mut ctx, purpose, &outcome);
            }
        }
    }

    /// Entry of the pipeline: the channel gate, then the queue if an SDP
    /// fetch holds the line.
    fn process(&mut self, note: Queued) {
        let n = &mut self.state.notifications;
        if !n.enabled(note.channel) {
            let channel = note.channel;
            self.out.log(LogLevel::Debug, TARGET, || {
                format!("{channel:?} notification dropped: channel disabled")
            });
            return;
        }
        if n.parked.is_some() {
            if n.queue.len() >= self.config.notifications.max_queued {
                self.out.log(LogLevel::Error, TARGET, || {
                    "notification dropped: queue full".to_owned()
                });
            } else {
                n.queue.push_back(note);
            }
            return;
        }
        self.normalise(note);
    }

    /// SDP normalisation (`compressed` inline, `url` by fetching). Only
    /// these rare notifications are parsed whole and written back.
    fn normalise(&mut self, mut note: Queued) {
        match note.meta.sdp_format {
            None => {}
            Some(SdpFormat::Compressed) => {
                let mut value = note.payload.to_value();
                let decoded = value
                    .pointer("/notificationMessage/sessionParams/sdp")
                    .and_then(Value::as_str)
                    .ok_or_else(|| "no sdp".to_owned())
                    .and_then(notification::inflate_sdp);
                match decoded {
                    Ok(sdp) => {
                        value["notificationMessage"]["sessionParams"]["sdp"] = Value::String(sdp);
                        note.payload = RawJson::from_checked(value.to_string());
                        note.meta.sdp_format = None;
                    }
                    Err(e) => {
                        self.out.log(LogLevel::Warn, TARGET, || {
                            format!("compressed SDP dropped: {e}")
                        });
                        return;
                    }
                }
            }
            Some(SdpFormat::Url) => {
                let value = note.payload.to_value();
                let path = value
                    .pointer("/notificationMessage/sessionParams/sdp")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                match (path, self.sdp_origin()) {
                    (Some(path), Some(origin)) if path.starts_with('/') => {
                        let (mut ctx, session, notifications) = self.split();
                        let id = ctx.request_id();
                        let url = format!("{origin}{path}");
                        let req = http::request(
                            ctx.config,
                            id,
                            Method::Get,
                            &url,
                            session.auth.as_ref(),
                            None,
                        );
                        ctx.send(Purpose::SdpFetch, req);
                        notifications.parked = Some(Parked {
                            request: id,
                            notification: note,
                        });
                    }
                    _ => self.out.log(LogLevel::Warn, TARGET, || {
                        "SDP by URL without a usable path or session dropped".to_owned()
                    }),
                }
                return;
            }
        }
        self.dispatch(note);
    }

    /// REST origin for SDP fetches: the session's, with each field of
    /// `notifications.pushRegistration` overriding its own.
    fn sdp_origin(&self) -> Option<String> {
        self.state.session.endpoint.as_ref()?;
        let sub = &self.config.authentication.subscription;
        let o = self
            .config
            .notifications
            .push_registration
            .clone()
            .unwrap_or_default();
        let host = o.server.as_deref().or(sub.server.as_deref())?;
        Some(http::origin(
            o.protocol.as_deref().unwrap_or(&sub.protocol),
            host,
            o.port.unwrap_or(sub.port),
        ))
    }

    fn on_sdp_fetched(&mut self, id: RequestId, outcome: &HttpOutcome) {
        let Some(parked) = self.state.notifications.parked.take_if(|p| p.request == id) else {
            return;
        };
        let sdp = match http::classify(outcome) {
            http::Reply::Success { body } => body
                .pointer("/eventDataResponse/sdp")
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        };
        match sdp {
            Some(sdp) => {
                let mut note = parked.notification;
                let mut value = note.payload.to_value();
                value["notificationMessage"]["sessionParams"]["sdp"] = Value::String(sdp);
                note.payload = RawJson::from_checked(value.to_string());
                note.meta.sdp_format = None;
                self.dispatch(note);
            }
            None => self.out.log(LogLevel::Warn, TARGET, || {
                "notification dropped: its SDP could not be fetched".to_owned()
            }),
        }
        while self.state.notifications.parked.is_none() {
            let Some(note) = self.state.notifications.queue.pop_front() else {
                break;
            };
            self.normalise(note);
        }
    }

    /// De-duplication and dispatch by `eventType`.
    fn dispatch(&mut self, note: Queued) {
        let Queued {
            channel,
            payload,
            meta,
        } = note;
        match meta.id_key() {
            Some(key) => {
                if self.state.notifications.ids.contains(key) {
                    self.out.log(LogLevel::Debug, TARGET, || {
                        "duplicate notification dropped".to_owned()
                    });
                    return;
                }
                let cap = self.config.notifications.id_cache_length;
                self.state.notifications.ids.insert(key, cap);
            }
            None => self.out.log(LogLevel::Debug, TARGET, || {
                "notification without eventId: not de-duplicated".to_owned()
            }),
        }
        match meta.event_type.as_str() {
            "gone" => {
                let (mut ctx, session, _) = self.split();
                session.on_gone(&mut ctx);
            }
            t if call::handles_notification(t) => {
                self.with_calls(|cx, calls| call::on_notification(calls, cx, &payload));
            }
            _ => {
                let event_id = meta.id_display();
                self.out.event(Event::UnknownNotification {
                    event_type: meta.event_type,
                    event_id,
                });
            }
        }
        self.out
            .event(Event::NotificationReceived { channel, payload });
    }
}
