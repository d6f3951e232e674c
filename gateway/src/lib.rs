//! # kandy-gateway: a sans-IO model of the Kandy Link (SPiDR) gateway
//!
//! kandy-rs needs a gateway to test against that behaves like the real Kandy
//! Link gateway as far as the 4.8.0 JS SDK (and kandy-rs) can observe it. This
//! crate is that gateway's **model**: a deterministic state machine with no
//! IO, no clock and no global randomness. A driver (the hyper server of the
//! `server` feature, a test, the transport mock) feeds it requests, WebSocket
//! events and the time, and carries out what it asks for. This version covers
//! the **session layer** (01-session, and the token parts of 04-beyond-4.8.0)
//! and the **call relay** between subscribed users (02-calls §6, §7;
//! signalling only, see [Calls](#calls)); messaging and the other services
//! are added to the same model later.
//!
//! ## Driving the model
//!
//! ```
//! use kandy_gateway::{basic_authorization, Gateway, GatewayConfig, HttpRequest, Output, Users};
//! use serde_json::json;
//!
//! let mut gw = Gateway::new(GatewayConfig::default(), Users::builtin(), [7; 32]);
//! let now = 1_700_000_000_000;
//! let resp = gw.handle_http(now, HttpRequest::new("POST", "/rest/version/1/user/alice@example.com/subscription")
//!     .with_header("authorization", basic_authorization("alice@example.com", "alice"))
//!     .with_json(&json!({"subscribeRequest":{"expires":3600,"service":["IM","call"]}})));
//! assert_eq!(resp.status, 200);
//! let body = resp.body_json().unwrap();
//! let channel = body["subscribeResponse"]["subscriptionParams"]["notificationChannel"].as_str().unwrap();
//! let socket = gw.handle_ws_upgrade(now + 10, channel, &[]).unwrap();
//! gw.handle_ws_frame(now + 20, socket, r#"{"message_type":"ping"}"#);
//! assert!(gw.poll_output().is_none()); // keepAlive pings get no answer
//! // Later: call handle_timeout(now) whenever poll_timeout() has passed, and
//! // drain poll_output() after every call.
//! ```
//!
//! * Every REST request gets its response at once from
//!   [`Gateway::handle_http`]; `OPTIONS` preflights included.
//! * [`Gateway::handle_ws_upgrade`] accepts or refuses **before** the
//!   upgrade; on acceptance, outputs for the new socket (buffered
//!   notifications) may already be queued: the driver delivers them once the
//!   handshake is done.
//! * [`Gateway::poll_output`] yields [`Output::Send`] / [`Output::Close`] in
//!   order; [`Gateway::poll_timeout`] gives the next deadline, and
//!   [`Gateway::handle_timeout`] processes what is due. Every `handle_*`
//!   call first processes what is due at its `now_ms`, so a late driver never
//!   sees a stale answer (e.g. a PUT on an expired subscription).
//! * `now_ms` is epoch milliseconds from the driver; all expiry uses it.
//!
//! ## Paths
//!
//! | What | Path (emulator choice; the real layout is UNCERTAIN) |
//! |---|---|
//! | subscribe | `POST /rest/version/{V}/user/{user}/subscription` (or `/anonymous/`) |
//! | subscription resource | `/rest/version/{V}/{user\|anonymous}/{user}/subscription/{32 hex}` |
//! | alias (04 §4.3) | `/rest/version/{V}/user/{user}/subscription/clientCorrelator/{cc}` |
//! | notification channel | `/rest/version/{V}/notificationChannel/{32 hex}`: 128 random bits, the socket's only credential |
//! | token service | `GET /v2.0/auth/refresh_token?token=&expires=`, `GET /v2.0/auth/mk_token?expires=&refresh=y` |
//!
//! `{user}` is percent-decoded and looked up ASCII-case-insensitively; the
//! paths handed back use the directory's spelling.
//!
//! ## Credentials
//!
//! Carriers, in order of precedence: `x-session` (the `sessionId` of a live
//! subscription), `x-token` (HMAC token, see [`hmac_token`]),
//! `Authorization` (`basic`, scheme in any case, login = username or one of
//! the user's authnames; or `Bearer <token>`), query `token=`, query
//! `access_token=`. Only the first carrier present is validated (real
//! clients send exactly one). The token carriers accept access and OAuth
//! tokens alike (a refresh token only works on the token service); a token
//! names its user, and any other `{user}` in the path is a 403. A PUT/DELETE must come from the owner, and an `x-session` must
//! be the subscription's own. 401 responses carry no `WWW-Authenticate`
//! header: a browser would answer it with a login dialog.
//!
//! ## Status codes
//!
//! Error bodies are `{"subscribeResponse":{"statusCode":N,"reason":"…"}}` on
//! the subscription endpoints (and WebSocket refusals),
//! `{"error":{"code":N,"human":"…"}}` on the token service and
//! `{"statusCode":N,"reason":"…"}` on unknown paths. The numbers are the
//! [`codes`] constants:
//!
//! | HTTP | statusCode | When |
//! |---|---|---|
//! | 200 | 0 | success (never 204 on a session endpoint) |
//! | 204 | — | `OPTIONS` preflight on any path |
//! | 400 | 37 | body empty / not JSON / not UTF-8, no `subscribeRequest` object, `service` not an array of strings (object form included), `expires` not a positive number, `notificationType` not WebSocket; token service: bad `expires` |
//! | 401 | 61 | no credential, unknown `Authorization` scheme, Basic value that does not decode |
//! | 401 | 4 | wrong password, unknown login name, HMAC token that does not verify (or user without `hmacSecret`) |
//! | 401 | 27 | unknown/malformed token (or a refresh token used as an access token), unknown `x-session`, bad token on a WebSocket upgrade; token service: bad or expired refresh token |
//! | 401 | 65 | expired access/OAuth token (REST and WebSocket upgrade) |
//! | 403 | 19 | the authenticated user is not `{user}` / not the subscription's owner; `x-session` of another subscription |
//! | 404 | 39 | unknown, expired or deleted subscription (PUT, DELETE, alias, WebSocket upgrade) |
//! | 404 | 42 | unknown `{user}`, unknown path |
//! | 405 | 40 | wrong method on a known path |
//! | 413 | 37 | body larger than `max_body_bytes` |
//!
//! 27, 39 and 65 are fixed by 04 §4.1/§4.3; 4, 19, 37, 42 and 61 follow
//! Link 4.41.3's list (04 §1.3) and 03-services §9.1; 40 is this crate's
//! choice. Real SPiDR values are UNCERTAIN; 4.8.0 only prints them.
//!
//! ## Users file
//!
//! ```json
//! {"users": [{
//!   "username": "alice@example.com",
//!   "password": "alice",
//!   "authnames": ["alice.auth"],
//!   "firstName": "Alice", "lastName": "Liddell",
//!   "email": "alice@example.com",
//!   "phoneNumbers": ["+15550100"],
//!   "photoUrl": "https://example.com/photos/alice.png",
//!   "hmacSecret": "alice-secret",
//!   "tokens": [
//!     {"kind": "access", "value": "AT-alice-fixed", "expiresAtMs": null},
//!     {"kind": "refresh", "value": "RT-alice-fixed", "expiresAtMs": 1900000000000},
//!     {"kind": "oauth", "value": "OT-alice-fixed", "expiresAtMs": null}
//!   ]
//! }]}
//! ```
//!
//! Only `username` is required. `authnames` are extra Basic login names;
//! `kind` is `access`, `refresh` or `oauth` (alias `bearer`);
//! `expiresAtMs: null` never expires. Unknown fields are kept
//! ([`UserRecord::extra`]) for later features. Load with
//! [`Users::from_json`].
//!
//! ## Calls
//!
//! The gateway relays calls between its subscribed users as a signalling
//! relay (02-calls §7): SDP goes through verbatim, the gateway never touches
//! media. Endpoints (`{base}` = `/rest/version/{V}/user/{user}`):
//!
//! | Request | Success |
//! |---|---|
//! | `POST {base}/callControl` `callStart` | 200 `{"callControlResponse":{"statusCode":0,"sessionData":SA}}` |
//! | `POST {base}/callControl` `join` | never: 501 (no mixer, 02-calls §6.11) |
//! | `PUT {base}/callControl/callSessions/{sid}` `ringing`, `callAnswer`, `startCallUpdate`, `respondCallUpdate`, `audit`, `transfer` | 200 `{"callControlResponse":{"statusCode":0}}` |
//! | `DELETE {base}/callControl/callSessions/{sid}` | 200 `{"callControlResponse":{"statusCode":0}}` |
//! | `POST {base}/calldisposition` `reject`, `forward` | 200 `{"callDispositionResponse":{"statusCode":0}}` |
//! | `/rest/version/{V}/anonymous/{account}/callMe[/callSessions/{sid}]` | as above with `callMeRequest`/`callMeResponse`; `{account}` must be the authenticated user |
//!
//! Errors always use the `callControlResponse` wrapper (the only one the
//! 4.8.0 call code parses), with a `reason`:
//!
//! | HTTP | statusCode | When |
//! |---|---|---|
//! | 400 | 5 | body not JSON, wrapper missing, unknown `type`/`action`, a required field (`type`, `to`, `sdp`, `sessionData`, `address`, `firstSessionData`, `secondSessionData`) missing, empty or not a string |
//! | 400 | 1004 | malformed SDP (no leading `v=0`, no `m=`, an m-section without `a=mid` or direction, no `a=fingerprint`/`a=ice-ufrag` anywhere, larger than `calls.max_sdp_bytes`), `to`/`address` not an address |
//! | 401 | 61/4/27/65 | credentials, as on the session endpoints |
//! | 403 | 1004 | `{user}` is not the authenticated user; caller without a subscription with the `call` service |
//! | 404 | 42 | unknown `{sid}` (never issued, another user's, ended), `DELETE …/callControl` without a leg, reject/forward/transfer/join naming an unknown leg, unknown `{user}` |
//! | 405 | 1004 | wrong method |
//! | 409 | 1004 | wrong state: `ringing`/`callAnswer`/reject/forward on a leg that is not a ringing incoming one, `startCallUpdate` or `transfer` before the call is connected, `respondCallUpdate` with no open transaction for the leg, join of unconnected legs |
//! | 409 | 49 | `startCallUpdate` while the call has an open transaction (glare) or a direct transfer is ringing ([`GlareMode::Reject`]) |
//! | 413 | 5 | body larger than `max_body_bytes` |
//! | 500 | 26 | internal inconsistency (not reachable while the invariants hold) |
//! | 501 | 26 | `join`: no mixer |
//!
//! Notifications (`notificationMessage` with a fresh `eventId`, `time`,
//! `sessionParams.sessionData`, and `callNotificationParams` describing the
//! far end with both `callerName`/`callerDisplayNumber` and
//! `remoteName`/`remoteDisplayNumber`, except on `sessionComplete` and
//! `sessionFail`):
//!
//! | Event | To | When |
//! |---|---|---|
//! | `call` (+`sdp`) | callee | start call; forward target (caller's pending offer); direct-transfer target **without** `sdp` (slow start) |
//! | `ringing` | caller | the callee's `ringing` PUT, while the caller leg is still `Offered` |
//! | `respondCallUpdate` (+`sdp`) | offerer | the callee's `callAnswer`; the answerer's `respondCallUpdate` |
//! | `respondCallUpdate` (top-level `statusCode` 49, `retryAfter`, no `sdp`) | requester | glare, only with [`GlareMode::Notify`] |
//! | `startCallUpdate` (+`sdp`) | the other leg | `startCallUpdate` PUT; transferee when the direct-transfer target answers; second party of a consultative transfer |
//! | `startCallUpdate` (no `sdp`) | first party of a consultative transfer | asks it for a new offer |
//! | `callEnd {200 "Normal Clearing"}` | the other leg | DELETE on a connected leg, or its subscription ended |
//! | `callEnd {603 "Decline"}` | caller | reject, or DELETE on a ringing incoming leg |
//! | `callEnd {404 "Not Found"}` / `{480 "Temporarily Unavailable"}` / `{486 "Busy Here"}` | caller | after the 200: no such user / callee without a `call` subscription (or it ended while ringing) / callee is a party already (calling oneself) — also after a failed forward |
//! | `callEnd {480 "No Answer"}` + `callCancel` | caller + callee | `calls.ringing_timeout_ms` (ignore has no wire) |
//! | `callCancel` | ringing callee | caller DELETE or subscription end before the answer |
//! | `callEnd {408 "Session Audit Timeout"}` | the still-auditing side | a connected leg sent no audit for `calls.audit_timeout_ms` |
//! | `callEnd {500 "Renegotiation Timeout"}` | both legs (+ waiting transferors) | a transaction not answered within `calls.update_timeout_ms` |
//! | `callEnd {488 "Not Acceptable Here"}` | both legs | `callAnswer` with a missing or malformed SDP (the 4.8.0 client cannot answer twice) |
//! | `callEnd {487 "Request Terminated"}` | both ends | [`Gateway::end_calls_of`] |
//! | `sessionComplete {"Direct Transfer Successful"/"Transfer Successful"}` | transferor legs | the transferred parties' first offer/answer was relayed |
//! | `sessionFail {status, reason}` | transferor | direct-transfer target unknown (404), offline (480), busy (486), declined (603), not answering (480 "No Answer") |
//!
//! Ordering (02-calls §7.4): a new caller leg's notifications are held for
//! `calls.first_notification_delay_ms` after the POST, a callee leg's until
//! its `ringing` PUT has been answered (plus the same delay); a cancel for a
//! callee leg that never sent `ringing` waits `calls.cancel_hold_ms` for
//! it. Every call leaves one [`CallLogRecord`] per participant
//! ([`Gateway::call_logs`]).
//!
//! ## Choices where the protocol is UNCERTAIN
//!
//! * HMAC tokens sign the compact JSON of [`hmac_message`] (`subscriberId`
//!   first, `organizationId` = the part after `@`); see [`hmac_token`].
//! * Subscribe answers 200 (not 201). `expires` is clamped to
//!   `[min_expires_s, max_expires_s]`, so a request below the minimum is
//!   raised to it.
//! * `gone` is sent on plain expiry as well as on termination (then the
//!   socket is closed); a DELETE sends no `gone` and leaves the socket open
//!   for `delete_grace_ms`.
//! * A `service` object (`{"services":[…]}`) on PUT is refused with 400.
//! * Notifications are buffered (bounded, oldest dropped) while a
//!   subscription has no socket and flushed when one opens on its channel.
//! * Token errors are 401 (not 403). `forceLogOut` is accepted and ignored.
//! * On a new socket for a channel the old socket is closed; a
//!   `websocketOverridden` notice first is optional (off by default).
//! * The refresh-token grace after rotation is 60 s, expired tokens are
//!   remembered for an hour (so they answer 65, not 27).
//! * Calls (02-calls §9): the HTTP statuses of the error table above; the
//!   `callEnd` codes and reason texts (SIP-like); `callCancel` (not
//!   `callEnd`) for a ringing call the caller abandons or that times out;
//!   glare refused synchronously with 409/49; `sessionComplete` (not
//!   `callEnd`) to finish transferors; `callDispositionResponse` as the
//!   success wrapper of reject/forward; `statusCode: 0` in success bodies;
//!   `sessionData` of 32 random hex digits; plain SDP (no `sdpFormat`);
//!   the transfer flows of §6.9/§6.10 (direct: target rung slow start, the
//!   transferee touched once it answers; consultative: SDP-less
//!   `startCallUpdate` to the first party); join refused (no mixer); an
//!   incoming call rings one subscription of the callee (the one with an
//!   open socket that expires last) rather than forking to all of them;
//!   call log units are ms and rejected/cancelled/forwarded incoming calls
//!   log as `missed`.

mod auth;
mod calllog;
mod callreq;
mod calls;
pub mod codes;
mod config;
mod error;
mod http;
mod ids;
mod notify;
mod routes;
#[cfg(feature = "server")]
pub mod server;
mod socket;
mod stats;
mod subscription;
mod timers;
mod tokens;
mod users;

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

pub use auth::{basic_authorization, hmac_message, hmac_token};
pub use calllog::{CallDirection, CallLogRecord, CallResult};
pub use calls::{CallInfo, LegInfo, LegRole, LegState};
pub use config::{CallConfig, GatewayConfig, GlareMode, TurnCredentials};
pub use http::{HttpRequest, HttpResponse};
pub use socket::SocketId;
pub use stats::GatewayStats;
pub use subscription::{SubscriptionId, SubscriptionInfo, SubscriptionKind};
pub use tokens::{TokenKind, TokenLifetimes};
pub use users::{ProvisionedToken, UserRecord, Users, UsersError, UsersFile};

#[cfg(feature = "server")]
pub use server::{Server, ServerConfig, ServerError, ServerHandle, ServerStats, TlsFiles};

use calls::Calls;
use error::ApiError;
use http::Cors;
use ids::IdGen;
use routes::Route;
use socket::Sockets;
use stats::Counters;
use subscription::{Removal, Subscriptions};
use timers::{Timer, Timers};
use tokens::TokenStore;

/// What the driver must do on the WebSocket side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Output {
    /// Send one text frame on a socket.
    Send {
        /// The socket.
        socket: SocketId,
        /// The frame (always JSON).
        text: String,
    },
    /// Close a socket (normal closure). The model has already forgotten it;
    /// a later [`Gateway::handle_ws_closed`] for it is harmless.
    Close {
        /// The socket.
        socket: SocketId,
    },
}

/// Why a test/CLI hook refused.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum HookError {
    /// No such user in the directory.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
}

/// The gateway model. See the crate docs.
#[derive(Clone, Serialize, Deserialize)]
pub struct Gateway {
    config: GatewayConfig,
    users: Users,
    ids: IdGen,
    tokens: TokenStore,
    subs: Subscriptions,
    sockets: Sockets,
    timers: Timers,
    outputs: VecDeque<Output>,
    counters: Counters,
    /// Legs, calls and call logs (absent from snapshots of older versions).
    #[serde(default)]
    calls: Calls,
}

impl fmt::Debug for Gateway {
    /// A summary: the id generator's state is secret and the tables can be
    /// huge.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field("config", &self.config)
            .field("users", &self.users.len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway with no subscriptions. `seed` drives every id, channel and
    /// token: pass a fixed one in tests and OS randomness in a server.
    /// Tokens listed in the users file are valid from the start.
    pub fn new(config: GatewayConfig, users: Users, seed: [u8; 32]) -> Self {
        let provisioned: Vec<(String, String, TokenKind, Option<u64>)> = users
            .iter()
            .flat_map(|u| {
                u.tokens
                    .iter()
                    .map(|t| (t.value.clone(), u.username.clone(), t.kind, t.expires_at_ms))
            })
            .collect();
        let mut gw = Self {
            config,
            users,
            ids: IdGen::new(seed),
            tokens: TokenStore::default(),
            subs: Subscriptions::default(),
            sockets: Sockets::default(),
            timers: Timers::default(),
            outputs: VecDeque::new(),
            counters: Counters::default(),
            calls: Calls::default(),
        };
        for (value, user, kind, expires) in provisioned {
            gw.store_token(value, user, kind, expires);
        }
        gw
    }

    /// Answers one REST request (any method, any path, any body).
    pub fn handle_http(&mut self, now_ms: u64, req: HttpRequest) -> HttpResponse {
        self.advance(now_ms);
        let cors = Cors::from_headers(&req.headers);
        if req.method.trim().eq_ignore_ascii_case("OPTIONS") {
            return cors.preflight(&req.headers, self.config.cors_max_age_s);
        }
        let mut resp = self.dispatch(now_ms, &req);
        cors.apply(&mut resp);
        resp
    }

    fn dispatch(&mut self, now_ms: u64, req: &HttpRequest) -> HttpResponse {
        let route = Route::parse(req.path(), &self.config.token_service_version);
        let wrapper = route.wrapper();
        let method = req.method.trim().to_ascii_uppercase();
        let mut result = self.dispatch_route(now_ms, req, &route, &method);
        if route.is_call() {
            result = result.map_err(calls::callify);
        }
        result.unwrap_or_else(|e| e.into_response(wrapper))
    }

    fn dispatch_route(
        &mut self,
        now_ms: u64,
        req: &HttpRequest,
        route: &Route,
        method: &str,
    ) -> Result<HttpResponse, ApiError> {
        let allowed: &[&str] = match route {
            Route::NotFound => return Err(ApiError::not_found()),
            Route::Subscribe { .. } => &["POST"],
            Route::Subscription { .. } | Route::SubscriptionByCorrelator { .. } => {
                &["PUT", "DELETE"]
            }
            Route::TokenRefresh | Route::TokenMint => &["GET"],
            Route::CallControl { .. } => &["POST", "DELETE"],
            Route::CallSession { .. } => &["PUT", "DELETE"],
            Route::CallDisposition { .. } => &["POST"],
        };
        if !allowed.contains(&method) {
            return Err(ApiError::method_not_allowed());
        }
        if req.body.len() > self.config.max_body_bytes {
            return Err(ApiError::too_large());
        }
        match route {
            Route::Subscribe {
                version,
                kind,
                user,
            } => self.subscribe(now_ms, req, version, *kind, user),
            Route::Subscription { kind, user, id } => {
                let id = self.resolve_subscription(*kind, user, id)?;
                self.subscription_method(now_ms, req, method, &id)
            }
            Route::SubscriptionByCorrelator { user, correlator } => {
                let id = self.resolve_correlator(user, correlator)?;
                self.subscription_method(now_ms, req, method, &id)
            }
            Route::TokenRefresh => self.token_refresh(now_ms, req),
            Route::TokenMint => self.token_mint(now_ms, req),
            Route::CallControl {
                tree,
                version,
                user,
            } => self.call_control(now_ms, req, *tree, version, user, method),
            Route::CallSession { tree, user, sid } => {
                self.call_session(now_ms, req, *tree, user, sid, method)
            }
            Route::CallDisposition { user } => self.call_disposition(now_ms, req, user),
            Route::NotFound => Err(ApiError::not_found()),
        }
    }

    fn subscription_method(
        &mut self,
        now_ms: u64,
        req: &HttpRequest,
        method: &str,
        id: &SubscriptionId,
    ) -> Result<HttpResponse, ApiError> {
        if method == "PUT" {
            self.refresh(now_ms, req, id)
        } else {
            self.unsubscribe(now_ms, req, id)
        }
    }

    /// Accepts a WebSocket upgrade on a live subscription's channel, or
    /// refuses it with the HTTP response to send instead (404 for a dead or
    /// unknown channel, 401 for a bad `token`/`access_token`).
    pub fn handle_ws_upgrade(
        &mut self,
        now_ms: u64,
        path_and_query: &str,
        headers: &[(String, String)],
    ) -> Result<SocketId, HttpResponse> {
        self.advance(now_ms);
        self.upgrade(now_ms, path_and_query).map_err(|e| {
            let mut resp = e.into_response(error::Wrapper::SUBSCRIBE);
            Cors::from_headers(headers).apply(&mut resp);
            resp
        })
    }

    /// One text frame from a client. Unknown sockets and non-JSON frames are
    /// ignored; `{"connCheck":…}` gets `{"connAck":{}}`; everything else
    /// (keepAlive pings included) gets nothing.
    pub fn handle_ws_frame(&mut self, now_ms: u64, socket: SocketId, text: &str) {
        self.advance(now_ms);
        self.frame(socket, text);
    }

    /// The socket closed (either side). The subscription stays alive and
    /// buffers notifications until a socket opens again.
    pub fn handle_ws_closed(&mut self, now_ms: u64, socket: SocketId) {
        self.advance(now_ms);
        self.socket_closed(socket);
    }

    /// Processes every deadline up to `now_ms`.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.advance(now_ms);
    }

    /// The next output for the driver, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest pending deadline (epoch ms), if any.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.timers.next_deadline()
    }

    /// Sizes and counters.
    pub fn stats(&self) -> GatewayStats {
        let attached = self
            .sockets
            .map
            .values()
            .filter(|s| s.sub.is_some())
            .count();
        let c = &self.counters;
        GatewayStats {
            subscriptions: self.subs.len(),
            open_sockets: self.sockets.len(),
            attached_sockets: attached,
            lingering_sockets: self.sockets.len() - attached,
            buffered_notifications: c.buffered,
            tokens: self.tokens.len(),
            timers: self.timers.len(),
            pending_outputs: self.outputs.len(),
            subscriptions_created: c.subscriptions_created,
            subscriptions_deleted: c.subscriptions_deleted,
            subscriptions_expired: c.subscriptions_expired,
            subscriptions_terminated: c.subscriptions_terminated,
            subscriptions_abandoned: c.subscriptions_abandoned,
            notifications_sent: c.notifications_sent,
            notifications_dropped: c.notifications_dropped,
            calls_active: self.calls.calls.len(),
            call_legs: self.calls.live_legs(),
            calls_created: c.calls_created,
            calls_ended: c.calls_ended,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The user directory.
    pub fn users(&self) -> &Users {
        &self.users
    }

    fn advance(&mut self, now_ms: u64) {
        while let Some((_, timer)) = self.timers.pop_due(now_ms) {
            match timer {
                Timer::SubscriptionExpiry(id) => {
                    self.remove_subscription(now_ms, &id, Removal::Expired);
                }
                Timer::UnopenedSocket(id) => {
                    self.remove_subscription(now_ms, &id, Removal::Abandoned);
                }
                Timer::SocketGrace(socket) => self.fire_socket_grace(socket),
                Timer::ConnCheck(socket) => self.fire_conn_check(now_ms, socket),
                Timer::TokenPurge(token) => self.purge_token(&token),
                Timer::CallLeg(sid) => self.fire_call_leg(now_ms, &sid),
                Timer::CallRelease(sid) => self.fire_call_release(now_ms, &sid),
                Timer::CallUpdate(call) => self.fire_call_update(now_ms, call),
            }
        }
    }

    // ----- test / CLI hooks -------------------------------------------------

    /// Ends a subscription from the gateway side (admin action, duplicate
    /// login policy, ...): `gone` (with `retryAfter` if given) on its socket,
    /// then close; later upgrades are refused and PUT/DELETE answer 404.
    /// Returns whether it existed.
    pub fn terminate_subscription(
        &mut self,
        now_ms: u64,
        id: &SubscriptionId,
        retry_after_s: Option<u64>,
    ) -> bool {
        self.advance(now_ms);
        self.remove_subscription(now_ms, id, Removal::Terminated { retry_after_s })
    }

    /// Terminates every subscription of a user; returns how many.
    pub fn terminate_user(&mut self, now_ms: u64, user: &str, retry_after_s: Option<u64>) -> usize {
        self.advance(now_ms);
        self.subs
            .ids_of(user)
            .iter()
            .filter(|id| {
                self.remove_subscription(now_ms, id, Removal::Terminated { retry_after_s })
            })
            .count()
    }

    /// Mints a token for `user` valid for `lifetime_s` seconds (default: the
    /// configured lifetime of the kind; 0 makes an already expired token).
    pub fn mint_token(
        &mut self,
        now_ms: u64,
        user: &str,
        kind: TokenKind,
        lifetime_s: Option<u64>,
    ) -> Result<String, HookError> {
        let canonical = self
            .users
            .get(user)
            .map(|u| u.username.clone())
            .ok_or_else(|| HookError::UnknownUser(user.to_owned()))?;
        Ok(match lifetime_s {
            Some(l) => self.mint(now_ms, &canonical, kind, l),
            None => self.mint_default(now_ms, &canonical, kind),
        })
    }

    /// Forgets a token at once (it then answers 27). Returns whether it
    /// existed.
    pub fn revoke_token(&mut self, token: &str) -> bool {
        let Some(purge_at) = self.tokens.get(token).map(|r| r.purge_at) else {
            return false;
        };
        if let Some(at) = purge_at {
            self.timers.cancel(at, &Timer::TokenPurge(token.to_owned()));
        }
        self.purge_token(token);
        true
    }

    /// Replaces the token lifetimes (affects tokens minted from now on).
    pub fn set_token_lifetimes(&mut self, lifetimes: TokenLifetimes) {
        self.config.tokens = lifetimes;
    }

    /// Sends a notification `{"notificationMessage":{"eventType",
    /// "eventId","time",…params}}` to every subscription of `user` (each
    /// copy with its own `eventId`), buffering where no socket is open.
    /// Returns how many subscriptions it reached.
    pub fn push_notification(
        &mut self,
        now_ms: u64,
        user: &str,
        event_type: &str,
        params: &Map<String, Value>,
    ) -> usize {
        self.advance(now_ms);
        self.subs
            .ids_of(user)
            .iter()
            .filter(|id| self.notify_subscription(now_ms, id, event_type, params))
            .count()
    }

    /// Like [`Gateway::push_notification`] for one subscription.
    pub fn push_notification_to(
        &mut self,
        now_ms: u64,
        id: &SubscriptionId,
        event_type: &str,
        params: &Map<String, Value>,
    ) -> bool {
        self.advance(now_ms);
        self.notify_subscription(now_ms, id, event_type, params)
    }

    /// Closes the open socket of every subscription of `user` from the
    /// gateway side and keeps the subscriptions, as a dropped connection or
    /// a restarted front end would: clients reopen their channels. Returns
    /// how many sockets were closed.
    pub fn drop_sockets_of(&mut self, now_ms: u64, user: &str) -> usize {
        self.advance(now_ms);
        let sockets: Vec<SocketId> = self
            .subs
            .ids_of(user)
            .iter()
            .filter_map(|id| self.subs.get(id).and_then(|s| s.socket))
            .collect();
        for socket in &sockets {
            self.close_socket(*socket);
        }
        sockets.len()
    }

    /// Ends every call leg of `user` from the gateway side (admin action):
    /// `callEnd {statusCode: 487, reasonText: "Request Terminated"}` to
    /// both ends of an answered call, `callCancel` to a ringing callee,
    /// `sessionFail` to a transferor whose transfer target it was. Every
    /// leg ended leaves a call log. Returns how many of the user's legs
    /// were live.
    pub fn end_calls_of(&mut self, now_ms: u64, user: &str) -> usize {
        self.advance(now_ms);
        self.end_user_calls(now_ms, user)
    }

    /// The call log of `user` (any case), newest first, as the
    /// call-history service will serve it (03-services §4.1, §9.6).
    pub fn call_logs(&self, user: &str) -> Vec<CallLogRecord> {
        self.call_logs_of(user)
    }

    /// The active calls (two paired legs each), by id.
    pub fn active_calls(&self) -> Vec<CallInfo> {
        self.active_call_infos()
    }

    /// One call leg by its `sessionData`, while the gateway knows it
    /// (an ended leg is forgotten once its last notification is out).
    pub fn call_leg(&self, session_data: &str) -> Option<LegInfo> {
        self.call_leg_info(session_data)
    }

    /// The live call legs of `user` (any case).
    pub fn call_legs_of(&self, user: &str) -> Vec<LegInfo> {
        self.call_legs_info(user)
    }

    /// One subscription, by id.
    pub fn subscription(&self, id: &SubscriptionId) -> Option<SubscriptionInfo> {
        self.subs.get(id).map(subscription::Subscription::info)
    }

    /// The subscription owning a notification channel path.
    pub fn subscription_by_channel(&self, channel: &str) -> Option<SubscriptionInfo> {
        self.subs
            .by_channel(channel)
            .map(subscription::Subscription::info)
    }

    /// A user's live subscriptions (any-case username).
    pub fn subscriptions_of(&self, user: &str) -> Vec<SubscriptionInfo> {
        self.subs
            .ids_of(user)
            .iter()
            .filter_map(|id| self.subscription(id))
            .collect()
    }

    /// Verifies the model's internal consistency (indexes, timers, sockets,
    /// counters). For tests and fuzzing; `O(size)`.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.subs.check_indexes()?;
        let mut slots = 0usize;
        let mut buffered = 0usize;
        for sub in self.subs.iter() {
            let Some(expiry) = sub.expiry else {
                return Err(format!("subscription {} has no expiry", sub.id));
            };
            if !self
                .timers
                .contains(expiry, &Timer::SubscriptionExpiry(sub.id.clone()))
            {
                return Err(format!("expiry timer of {} is missing", sub.id));
            }
            slots += 1;
            if let Some(at) = sub.unopened {
                if !self
                    .timers
                    .contains(at, &Timer::UnopenedSocket(sub.id.clone()))
                {
                    return Err(format!("unopened timer of {} is missing", sub.id));
                }
                if sub.socket.is_some() {
                    return Err(format!("{} has a socket and an unopened timer", sub.id));
                }
                slots += 1;
            }
            if let Some(socket) = sub.socket {
                let back = self.sockets.map.get(&socket).and_then(|s| s.sub.as_ref());
                if back != Some(&sub.id) {
                    return Err(format!("socket of {} does not point back", sub.id));
                }
                if !sub.buffer.is_empty() {
                    return Err(format!("{} buffers while it has a socket", sub.id));
                }
            }
            if sub.buffer.len() > self.config.notification_buffer_cap {
                return Err(format!("buffer of {} exceeds the cap", sub.id));
            }
            buffered += sub.buffer.len();
        }
        if buffered != self.counters.buffered {
            return Err("buffered counter is off".into());
        }
        for (id, state) in &self.sockets.map {
            let attached_back = match &state.sub {
                Some(sub) => self.subs.get(sub).and_then(|s| s.socket) == Some(*id),
                None => state.grace.is_some(),
            };
            if !attached_back {
                return Err(format!(
                    "socket {id:?} is attached to a stranger or lingers without a grace timer"
                ));
            }
            if let Some(at) = state.grace {
                if !self.timers.contains(at, &Timer::SocketGrace(*id)) {
                    return Err(format!("grace timer of {id:?} is missing"));
                }
                slots += 1;
            }
            if let Some(at) = state.conn_check {
                if !self.timers.contains(at, &Timer::ConnCheck(*id)) {
                    return Err(format!("connCheck timer of {id:?} is missing"));
                }
                slots += 1;
            }
        }
        slots += self.check_calls()?;
        for (value, rec) in self.tokens.iter() {
            if let Some(at) = rec.purge_at {
                if !self.timers.contains(at, &Timer::TokenPurge(value.clone())) {
                    return Err("token purge timer is missing".into());
                }
                slots += 1;
            }
        }
        if slots != self.timers.len() {
            return Err(format!(
                "{} timers armed but {} owned",
                self.timers.len(),
                slots
            ));
        }
        let c = &self.counters;
        let ended = c.subscriptions_deleted
            + c.subscriptions_expired
            + c.subscriptions_terminated
            + c.subscriptions_abandoned;
        if c.subscriptions_created != ended + self.subs.len() as u64 {
            return Err("subscription counters do not add up".into());
        }
        Ok(())
    }
}
