//! The session layer: connect, subscription refresh, the notification
//! socket and its connectivity checks, token refresh, disconnect.
//!
//! Wire behaviour follows the Kandy Link 4.8.0 client (`01-session.md`)
//! and, for the token forms 4.8.0 lacks, later Kandy SDKs (`04-beyond`).
//! Where 4.8.0 has a defect, kandy-rs does the right thing instead, and the
//! doc comment of the code involved says so. The main ones:
//!
//! * connect or disconnect in the wrong state is refused with an `Err`
//!   (4.8.0 flips to pending and stays there);
//! * a socket that closes is acted on at once, whether or not connectivity
//!   checks run (4.8.0 notices only at its next ping, or never with
//!   `checkConnectivity: false`);
//! * a subscription left behind by a failed connect or a lost session is
//!   deleted (best effort) instead of lingering until it expires;
//! * malformed gateway responses become error events instead of silently
//!   stopping the refresh loop or leaving the client pending;
//! * `updateConnection` sends the services as an array.

mod socket;
mod subscription;
mod token;

use serde::{Deserialize, Serialize};

use crate::config::{Config, LogLevel};
use crate::ctx::{Ctx, Purpose};
use crate::error::{BasicError, Error, ErrorCode};
use crate::event::Event;
use crate::http::{self, AuthCarrier, Reply};
use crate::input::{Credentials, HttpOutcome, SocketId, TokenUpdate};
use crate::secret::Secret;

pub use socket::{SocketState, SocketStatus};
pub use subscription::{ServicesInfo, Subscription, SubscriptionStatus, TurnCredentials};
pub use token::TokenState;

const TARGET: &str = "kandy::session";

/// Where the client is in its session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConnectionStatus {
    /// No session.
    #[default]
    Disconnected,
    /// `connect` is in progress.
    Connecting,
    /// Subscribed and the socket opened at least once.
    Connected,
    /// `disconnect` is in progress.
    Disconnecting,
}

impl ConnectionStatus {
    fn describe(self) -> &'static str {
        match self {
            ConnectionStatus::Disconnected => "disconnected",
            ConnectionStatus::Connecting => "connecting",
            ConnectionStatus::Connected => "connected",
            ConnectionStatus::Disconnecting => "disconnecting",
        }
    }
}

/// Why a session ended without the user asking (`disconnectReasons`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The gateway ended the session (`gone`).
    #[serde(rename = "GONE")]
    Gone,
    /// The socket could not be reopened.
    #[serde(rename = "LOST_CONNECTION")]
    LostConnection,
}

/// Addresses read from the configuration when `connect` starts (later
/// configuration changes apply to the next session, as in the JS SDK).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `https://host:443`.
    pub rest_origin: String,
    /// `wss://host:443`.
    pub ws_origin: String,
    /// The REST version segment.
    pub version: String,
    /// `user` or `anonymous`.
    pub kind: String,
    /// The user the URLs carry.
    pub username: String,
}

/// What the user gets from `getUserInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The user.
    pub username: String,
    /// The current access or OAuth token, for token sessions.
    pub token: Option<Secret>,
}

/// What the user gets from `getConnection`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    /// Connected (also true while a disconnect is in progress).
    pub is_connected: bool,
    /// A connect or disconnect is in progress.
    pub is_pending: bool,
    /// The last error of the session, if any.
    pub error: Option<BasicError>,
    /// The subscription's services, once subscribed.
    pub subscription: Option<ServicesInfo>,
}

/// Timed subscription refresh.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshState {
    /// 1 after a success, +1 per consecutive failure.
    pub attempt: u32,
    /// When the next refresh is sent (monotonic ms).
    pub due: Option<u64>,
}

/// The whole session layer's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// Where the session is.
    pub status: ConnectionStatus,
    /// The last error, kept after a failed connect or disconnect.
    pub error: Option<BasicError>,
    /// Addresses, from connect on.
    pub endpoint: Option<Endpoint>,
    /// How requests authenticate.
    pub auth: Option<AuthCarrier>,
    /// The services asked for at connect.
    pub requested_services: Vec<String>,
    /// The subscription, once granted.
    pub subscription: Option<Subscription>,
    /// Subscription refresh timing.
    pub refresh: RefreshState,
    /// Access-token refresh, for token sessions.
    pub token: Option<TokenState>,
    /// The notification socket.
    pub socket: SocketState,
}

impl SessionState {
    /// `getConnection()`.
    pub fn connection_info(&self) -> ConnectionInfo {
        ConnectionInfo {
            is_connected: matches!(
                self.status,
                ConnectionStatus::Connected | ConnectionStatus::Disconnecting
            ),
            is_pending: matches!(
                self.status,
                ConnectionStatus::Connecting | ConnectionStatus::Disconnecting
            ),
            error: self.error.clone(),
            subscription: self.subscription.as_ref().map(|s| s.services_info.clone()),
        }
    }

    /// `getUserInfo()`.
    pub fn user_info(&self) -> Option<UserInfo> {
        let endpoint = self.endpoint.as_ref()?;
        let token = match &self.auth {
            Some(AuthCarrier::AccessToken(t)) | Some(AuthCarrier::Bearer(t)) => Some(t.clone()),
            _ => None,
        };
        Some(UserInfo {
            username: endpoint.username.clone(),
            token,
        })
    }

    /// The earliest deadline of the session layer.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        [
            self.refresh.due,
            self.token.as_ref().and_then(|t| t.due),
            self.socket.retry_at,
            self.socket.next_check,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn invalid(&self, operation: &str) -> Error {
        Error::InvalidState {
            operation: operation.to_owned(),
            state: self.status.describe().to_owned(),
        }
    }

    fn change(&self, ctx: &mut Ctx<'_>, reason: Option<DisconnectReason>, forced: bool) {
        ctx.event(Event::AuthChange {
            status: self.status,
            reason,
            forced,
        });
    }

    // ---- commands -------------------------------------------------------

    /// `connect(credentials)`.
    pub(crate) fn connect(
        &mut self,
        ctx: &mut Ctx<'_>,
        credentials: Credentials,
    ) -> Result<(), Error> {
        if self.status != ConnectionStatus::Disconnected {
            return Err(self.invalid("connect"));
        }
        let endpoint = endpoint(ctx.config, credentials.username())?;
        let (auth, token) = token::carrier_for(&credentials, ctx.now.mono_ms)?;
        *self = SessionState {
            status: ConnectionStatus::Connecting,
            endpoint: Some(endpoint),
            auth,
            requested_services: ctx.config.authentication.subscription.service.clone(),
            token,
            ..SessionState::default()
        };
        self.socket.checks_enabled = ctx.config.connectivity.check_connectivity;
        ctx.log(LogLevel::Info, TARGET, || {
            format!("connecting as {}", credentials.username())
        });
        self.change(ctx, None, false);
        if self.auth.is_none() {
            // Refresh token alone: exchange it for an access token first.
            token::send_refresh(self, ctx, true);
        } else {
            self.send_subscribe(ctx);
        }
        Ok(())
    }

    /// `disconnect()`.
    pub(crate) fn disconnect(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Error> {
        match self.status {
            ConnectionStatus::Disconnected | ConnectionStatus::Disconnecting => {
                Err(self.invalid("disconnect"))
            }
            ConnectionStatus::Connecting => {
                // Abandon the connect. 4.8.0 leaves a granted subscription
                // behind here; kandy-rs deletes it.
                ctx.http.cancel_session_requests();
                self.delete_best_effort(ctx);
                self.socket.shut(ctx, true);
                self.reset();
                self.change(ctx, None, false);
                Ok(())
            }
            ConnectionStatus::Connected => {
                self.status = ConnectionStatus::Disconnecting;
                self.refresh.due = None;
                if let Some(t) = &mut self.token {
                    t.due = None;
                }
                self.change(ctx, None, false);
                self.send_unsubscribe(ctx, Purpose::Unsubscribe);
                Ok(())
            }
        }
    }

    /// `updateConnection({services})`.
    pub(crate) fn update_services(
        &mut self,
        ctx: &mut Ctx<'_>,
        services: Vec<String>,
    ) -> Result<(), Error> {
        if self.status != ConnectionStatus::Connected {
            return Err(self.invalid("update the subscribed services"));
        }
        if services.iter().any(|s| s.trim().is_empty()) {
            return Err(Error::InvalidArgument(
                "service names must not be empty".into(),
            ));
        }
        self.send_put(
            ctx,
            Purpose::UpdateServices {
                services: services.clone(),
            },
            &services,
        );
        Ok(())
    }

    /// `updateToken(credentials)`.
    pub(crate) fn update_token(
        &mut self,
        ctx: &mut Ctx<'_>,
        update: TokenUpdate,
    ) -> Result<(), Error> {
        token::update(self, ctx, update)?;
        self.change(ctx, None, false);
        Ok(())
    }

    /// `connection.enableConnectivityChecking(enable)`.
    pub(crate) fn enable_checks(&mut self, ctx: &mut Ctx<'_>, enable: bool) {
        self.socket.set_checks(ctx, enable);
    }

    // ---- requests -------------------------------------------------------

    fn rest_url(&self, path: &str) -> String {
        let origin = self
            .endpoint
            .as_ref()
            .map(|e| e.rest_origin.as_str())
            .unwrap_or("");
        format!("{origin}{path}")
    }

    fn send_subscribe(&mut self, ctx: &mut Ctx<'_>) {
        let Some(endpoint) = &self.endpoint else {
            return;
        };
        let url = format!(
            "{}/rest/version/{}/{}/{}/subscription",
            endpoint.rest_origin,
            endpoint.version,
            endpoint.kind,
            http::path_segment(&endpoint.username)
        );
        let body = subscription::subscribe_body(ctx.config, &self.requested_services);
        let id = ctx.request_id();
        let req = http::request(
            ctx.config,
            id,
            crate::effect::Method::Post,
            &url,
            self.auth.as_ref(),
            Some(body),
        );
        ctx.send(Purpose::Subscribe, req);
    }

    fn send_put(&mut self, ctx: &mut Ctx<'_>, purpose: Purpose, services: &[String]) {
        let Some(sub) = &self.subscription else {
            return;
        };
        let url = self.rest_url(&sub.url);
        let body = subscription::refresh_body(ctx.config, sub, services);
        let id = ctx.request_id();
        let req = http::request(
            ctx.config,
            id,
            crate::effect::Method::Put,
            &url,
            self.auth.as_ref(),
            Some(body),
        );
        ctx.send(purpose, req);
    }

    fn send_unsubscribe(&mut self, ctx: &mut Ctx<'_>, purpose: Purpose) {
        let Some(sub) = &self.subscription else {
            return;
        };
        let url = self.rest_url(&sub.url);
        let id = ctx.request_id();
        let req = http::request(
            ctx.config,
            id,
            crate::effect::Method::Delete,
            &url,
            self.auth.as_ref(),
            None,
        );
        ctx.send(purpose, req);
    }

    fn delete_best_effort(&mut self, ctx: &mut Ctx<'_>) {
        if self.subscription.is_some() {
            self.send_unsubscribe(ctx, Purpose::UnsubscribeBestEffort);
        }
    }

    // ---- responses ------------------------------------------------------

    /// Routes the outcome of a session request.
    pub(crate) fn on_http(&mut self, ctx: &mut Ctx<'_>, purpose: Purpose, outcome: &HttpOutcome) {
        let reply = http::classify(outcome);
        match purpose {
            Purpose::Subscribe => self.on_subscribed(ctx, reply),
            Purpose::Refresh => self.on_refreshed(ctx, reply),
            Purpose::UpdateServices { services } => self.on_services_updated(ctx, reply, services),
            Purpose::Unsubscribe => self.on_unsubscribed(ctx, reply),
            Purpose::UnsubscribeBestEffort => {
                let ok = matches!(reply, Reply::Success { .. });
                ctx.log(LogLevel::Debug, TARGET, || {
                    format!(
                        "clean-up unsubscribe {}",
                        if ok { "done" } else { "failed" }
                    )
                });
            }
            Purpose::TokenRefresh { at_connect } => {
                token::on_refreshed(self, ctx, reply, at_connect)
            }
            Purpose::SdpFetch | Purpose::Call { .. } => {}
        }
    }

    fn on_subscribed(&mut self, ctx: &mut Ctx<'_>, reply: Reply) {
        if self.status != ConnectionStatus::Connecting {
            return;
        }
        let code = ErrorCode::LinkSubscribeFail;
        match reply {
            Reply::Transport(m) => self.fail_connect(
                ctx,
                BasicError::new(code, format!("Subscribe request failed: {m}.")),
            ),
            Reply::Failure { status, body } => {
                let msg = match http::status_code(&body, "subscribeResponse") {
                    Some(n) => format!("Failed to subscribe user. Code: {n}."),
                    None => format!("Failed to subscribe user. HTTP status {status}."),
                };
                self.fail_connect(ctx, BasicError::new(code, msg));
            }
            Reply::Success { body, .. } => {
                let hmac = matches!(self.auth, Some(AuthCarrier::HmacToken(_)));
                match Subscription::parse(&body, &self.requested_services, hmac) {
                    Ok(sub) => {
                        if hmac {
                            self.auth = sub.session_id.clone().map(AuthCarrier::Session);
                        }
                        ctx.log(LogLevel::Info, TARGET, || {
                            format!(
                                "subscribed: services {:?} ({:?}), expires {:?} s",
                                sub.services_info.received, sub.services_info.status, sub.expires
                            )
                        });
                        self.subscription = Some(sub);
                        self.socket.start(
                            ctx,
                            self.endpoint.as_ref(),
                            self.subscription.as_ref(),
                            self.auth.as_ref(),
                            false,
                        );
                    }
                    Err(problem) => {
                        // Delete what the gateway may have created.
                        if let Some(path) = body
                            .pointer("/subscribeResponse/subscription")
                            .and_then(|v| v.as_str())
                            .filter(|p| p.starts_with('/'))
                        {
                            self.subscription = Some(Subscription::bare(path));
                            if hmac {
                                self.auth = None;
                            }
                            self.delete_best_effort(ctx);
                        }
                        self.fail_connect(
                            ctx,
                            BasicError::new(
                                code,
                                format!("Malformed subscribe response: {problem}."),
                            ),
                        );
                    }
                }
            }
        }
    }

    /// Called by the socket when it opened.
    pub(crate) fn on_socket_opened(&mut self, ctx: &mut Ctx<'_>, socket: SocketId) {
        if !self.socket.opened(ctx, socket) {
            return;
        }
        if self.status == ConnectionStatus::Connecting {
            self.status = ConnectionStatus::Connected;
            self.arm_refresh(ctx, 1);
            token::schedule(self, ctx);
            ctx.log(LogLevel::Info, TARGET, || "connected".to_owned());
            self.change(ctx, None, false);
        }
    }

    /// Called for a socket close (or a failed open).
    pub(crate) fn on_socket_closed(&mut self, ctx: &mut Ctx<'_>, socket: SocketId, reason: &str) {
        let outcome = self.socket.closed(ctx, socket, reason);
        self.after_socket(ctx, outcome);
    }

    fn after_socket(&mut self, ctx: &mut Ctx<'_>, outcome: socket::Outcome) {
        match outcome {
            socket::Outcome::Nothing => {}
            socket::Outcome::Lost => {
                if self.status == ConnectionStatus::Disconnecting {
                    // The user is leaving anyway; the DELETE decides the end.
                    return;
                }
                if ctx.config.connectivity.auto_reconnect
                    && self.status == ConnectionStatus::Connected
                {
                    self.socket.start(
                        ctx,
                        self.endpoint.as_ref(),
                        self.subscription.as_ref(),
                        self.auth.as_ref(),
                        true,
                    );
                } else {
                    self.end(ctx, DisconnectReason::LostConnection, true);
                }
            }
            socket::Outcome::Exhausted { recovering } => {
                if recovering {
                    self.end(ctx, DisconnectReason::LostConnection, true);
                } else {
                    // 4.8.0 leaves the subscription behind; delete it.
                    self.delete_best_effort(ctx);
                    self.fail_connect(
                        ctx,
                        BasicError::new(
                            ErrorCode::ConnectFailWsError,
                            "Could not connect to websocket. Received error on open.",
                        ),
                    );
                }
            }
        }
    }

    /// The gateway ended the session (`gone`).
    pub(crate) fn on_gone(&mut self, ctx: &mut Ctx<'_>) {
        if matches!(self.status, ConnectionStatus::Disconnected) {
            return;
        }
        ctx.log(LogLevel::Info, TARGET, || {
            "the gateway ended the session (gone)".to_owned()
        });
        self.end(ctx, DisconnectReason::Gone, false);
    }

    fn on_refreshed(&mut self, ctx: &mut Ctx<'_>, reply: Reply) {
        if self.status != ConnectionStatus::Connected {
            return;
        }
        let n = self.refresh.attempt.max(1);
        let code = ErrorCode::LinkUpdateSubscriptionFail;
        let error = match reply {
            Reply::Success { body, .. } => match http::status_code(&body, "subscribeResponse") {
                None | Some(0) | Some(2) => None,
                Some(other) => Some(format!("Unknown error; statusCode: {other}.")),
            },
            Reply::Failure { status, body } => {
                let sc = http::status_code(&body, "subscribeResponse");
                if status == 404 && sc == Some(39) {
                    // Later Link SDKs read 404/39 as "the subscription is
                    // gone"; retrying it forever would be pointless.
                    self.end(ctx, DisconnectReason::Gone, false);
                    return;
                }
                Some(match sc {
                    Some(c) => format!("Failed to update user subscription. Code: {c}."),
                    None => format!("Failed to update user subscription. HTTP status {status}."),
                })
            }
            Reply::Transport(m) => Some(format!("Update subscription request failed: {m}.")),
        };
        match error {
            None => {
                ctx.event(Event::AuthResub {
                    attempt_num: n,
                    is_failure: false,
                    error: None,
                });
                self.arm_refresh(ctx, 1);
            }
            Some(message) => {
                ctx.log(LogLevel::Warn, TARGET, || {
                    format!("subscription refresh failed: {message}")
                });
                ctx.event(Event::AuthResub {
                    attempt_num: n,
                    is_failure: true,
                    error: Some(BasicError::new(code, message)),
                });
                self.arm_refresh(ctx, n + 1);
            }
        }
    }

    fn on_services_updated(&mut self, ctx: &mut Ctx<'_>, reply: Reply, services: Vec<String>) {
        if self.status != ConnectionStatus::Connected {
            return;
        }
        let failure = match reply {
            Reply::Success { body, .. } => match http::status_code(&body, "subscribeResponse") {
                None | Some(0) | Some(2) => None,
                Some(c) => Some(format!("Unknown error; statusCode: {c}.")),
            },
            Reply::Failure { status, body } => {
                Some(match http::status_code(&body, "subscribeResponse") {
                    Some(c) => format!("Failed to update user subscription. Code: {c}."),
                    None => format!("Failed to update user subscription. HTTP status {status}."),
                })
            }
            Reply::Transport(m) => Some(format!("Update subscription request failed: {m}.")),
        };
        match failure {
            None => {
                if let Some(sub) = &mut self.subscription {
                    sub.service = services;
                }
                self.change(ctx, None, false);
            }
            Some(m) => ctx.event(Event::AuthError {
                error: BasicError::new(ErrorCode::LinkUpdateSubscriptionFail, m),
            }),
        }
    }

    fn on_unsubscribed(&mut self, ctx: &mut Ctx<'_>, reply: Reply) {
        if self.status != ConnectionStatus::Disconnecting {
            return;
        }
        let code = ErrorCode::LinkUnsubscribeFail;
        let error = match reply {
            Reply::Success { body, .. } => match http::status_code(&body, "subscribeResponse") {
                None | Some(0) => None,
                Some(n) => Some(BasicError::new(
                    code,
                    format!("Unknown error; statusCode: {n}."),
                )),
            },
            Reply::Failure { status, body } => Some(BasicError::new(
                code,
                match http::status_code(&body, "subscribeResponse") {
                    Some(n) => format!("Failed to unsubscribe user. Code: {n}."),
                    None => format!("Failed to unsubscribe user. HTTP status {status}."),
                },
            )),
            Reply::Transport(m) => Some(BasicError::new(
                code,
                format!("Unsubscribe request failed: {m}."),
            )),
        };
        // The DELETE always comes before the socket is closed.
        self.socket.shut(ctx, true);
        ctx.http.cancel_session_requests();
        self.reset();
        if let Some(e) = error {
            self.error = Some(e.clone());
            ctx.event(Event::AuthError { error: e });
        }
        ctx.log(LogLevel::Info, TARGET, || "disconnected".to_owned());
        self.change(ctx, None, false);
    }

    // ---- timers ---------------------------------------------------------

    /// Reduces every session timer that is due at `now`.
    pub(crate) fn on_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now.mono_ms;
        if self.socket.retry_at.is_some_and(|t| t <= now) {
            self.socket.retry(
                ctx,
                self.endpoint.as_ref(),
                self.subscription.as_ref(),
                self.auth.as_ref(),
            );
        }
        if self.socket.next_check.is_some_and(|t| t <= now) {
            let outcome = self.socket.check(ctx);
            self.after_socket(ctx, outcome);
        }
        if self.refresh.due.is_some_and(|t| t <= now) && self.status == ConnectionStatus::Connected
        {
            self.refresh.due = None;
            let services = self
                .subscription
                .as_ref()
                .map(|s| s.service.clone())
                .unwrap_or_default();
            self.send_put(ctx, Purpose::Refresh, &services);
        }
        if self
            .token
            .as_ref()
            .and_then(|t| t.due)
            .is_some_and(|t| t <= now)
        {
            token::send_refresh(self, ctx, false);
        }
    }

    /// Arms the refresh timer for attempt `n`:
    /// `max(floor, expires / 2^n)`, from now.
    fn arm_refresh(&mut self, ctx: &Ctx<'_>, n: u32) {
        let floor = ctx.config.authentication.min_refresh_interval;
        let delay = match self.subscription.as_ref().and_then(|s| s.expires) {
            Some(e) => {
                let shift = n.min(63);
                (e.saturating_mul(1000) >> shift).max(floor)
            }
            None => floor,
        };
        self.refresh = RefreshState {
            attempt: n,
            due: Some(ctx.now.mono_ms.saturating_add(delay)),
        };
    }

    // ---- ending ---------------------------------------------------------

    fn fail_connect(&mut self, ctx: &mut Ctx<'_>, error: BasicError) {
        ctx.log(LogLevel::Warn, TARGET, || {
            format!("connect failed: {error}")
        });
        self.socket.shut(ctx, false);
        ctx.http.cancel_session_requests();
        self.reset();
        self.error = Some(error.clone());
        ctx.event(Event::AuthError { error });
    }

    /// Ends the session without a user disconnect.
    fn end(&mut self, ctx: &mut Ctx<'_>, reason: DisconnectReason, clean_up: bool) {
        if clean_up {
            self.delete_best_effort(ctx);
        }
        self.socket.shut(ctx, true);
        ctx.http.cancel_session_requests();
        self.reset();
        ctx.event(Event::AuthChange {
            status: ConnectionStatus::Disconnected,
            reason: Some(reason),
            forced: reason == DisconnectReason::Gone,
        });
    }

    fn reset(&mut self) {
        let checks = self.socket.checks_enabled;
        *self = SessionState::default();
        self.socket.checks_enabled = checks;
    }
}

/// Builds the endpoint from the configuration, or refuses the connect.
fn endpoint(config: &Config, username: &str) -> Result<Endpoint, Error> {
    if username.trim().is_empty() {
        return Err(Error::InvalidCredentials("the username is empty".into()));
    }
    let sub = &config.authentication.subscription;
    let ws = &config.authentication.websocket;
    let rest_host = sub
        .server
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Error::InvalidConfig("authentication.subscription.server is required".into())
        })?;
    let ws_host = ws
        .server
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Error::InvalidConfig("authentication.websocket.server is required".into())
        })?;
    Ok(Endpoint {
        rest_origin: http::origin(&sub.protocol, rest_host, sub.port),
        ws_origin: http::origin(&ws.protocol, ws_host, ws.port),
        version: sub.version.clone(),
        kind: if sub.is_anonymous {
            "anonymous"
        } else {
            "user"
        }
        .to_owned(),
        username: username.to_owned(),
    })
}
