//! Gateway configuration. Every field has a default, so a config file only
//! names what it changes (`#[serde(default)]`).

use serde::{Deserialize, Serialize};

use crate::tokens::TokenLifetimes;

/// TURN credentials handed out in `subscriptionParams.turnCredentials`.
///
/// Off by default: the 4.8.0 client copies them onto its default public
/// `turns:` servers, so an emulator without its own TURN server should not
/// send any (01-session §11.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnCredentials {
    /// TURN username.
    pub username: String,
    /// TURN password.
    pub password: String,
}

/// Limits, lifetimes and policies of the emulator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayConfig {
    /// Larger request bodies get 413 (default 1 MiB).
    pub max_body_bytes: usize,
    /// Most a subscription is granted (seconds; default 3600).
    pub max_expires_s: u64,
    /// Least a subscription is granted (seconds; default 60); smaller
    /// requests are raised to it.
    pub min_expires_s: u64,
    /// After a DELETE the client closes its socket itself; the gateway closes
    /// it after this long if it did not (ms; default 30 000).
    pub delete_grace_ms: u64,
    /// A subscription on whose channel no socket opened within this long is
    /// dropped (the 4.8.0 client does not DELETE after a failed first open,
    /// 01-session §11.6). Generous, since a client may open late (ms;
    /// default 60 000).
    pub unopened_socket_ttl_ms: u64,
    /// Notifications kept per subscription while it has no socket; the
    /// oldest are dropped beyond this (default 256).
    pub notification_buffer_cap: usize,
    /// Token lifetimes and grant rules.
    pub tokens: TokenLifetimes,
    /// The version segment of the token service, `/{this}/auth/...`
    /// (default `v2.0`).
    pub token_service_version: String,
    /// Services granted on subscribe, matched case-insensitively (default
    /// `call`, `IM`, `Presence`).
    pub services: Vec<String>,
    /// Also grant every `event:<name>` service (default true).
    pub grant_event_services: bool,
    /// Server-driven connectivity checks: send `{"connCheck":{"interval":N}}`
    /// every N seconds on every socket. Off (`None`) by default: only an app
    /// configured for server-driven checks expects them (01-session §11.5).
    pub server_conn_check_interval_s: Option<u32>,
    /// Send a `websocketOverridden` notification on a socket replaced by a
    /// newer one on the same channel before closing it (04 §4.3 item 3).
    /// Off by default: 4.8.0 clients ignore it and a 4.35+ client ends its
    /// session on it.
    pub notify_websocket_overridden: bool,
    /// TURN credentials to hand out, if any (default none).
    pub turn_credentials: Option<TurnCredentials>,
    /// `Access-Control-Max-Age` of preflight answers (seconds; default 600).
    pub cors_max_age_s: u32,
    /// Call relay timers and limits (02-calls §7.5, §7.6).
    pub calls: CallConfig,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_expires_s: 3600,
            min_expires_s: 60,
            delete_grace_ms: 30_000,
            unopened_socket_ttl_ms: 60_000,
            notification_buffer_cap: 256,
            tokens: TokenLifetimes::default(),
            token_service_version: "v2.0".to_owned(),
            services: vec!["call".to_owned(), "IM".to_owned(), "Presence".to_owned()],
            grant_event_services: true,
            server_conn_check_interval_s: None,
            notify_websocket_overridden: false,
            turn_credentials: None,
            cors_max_age_s: 600,
            calls: CallConfig::default(),
        }
    }
}

/// What the gateway does when a `startCallUpdate` arrives while the call
/// already has an offer/answer transaction open (02-calls §7.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum GlareMode {
    /// Refuse the PUT with 409 `{"callControlResponse":{"statusCode":49}}`:
    /// the 4.8.0 client reports the operation as failed and stays
    /// consistent (the spec's emulator choice, and the default).
    #[default]
    Reject,
    /// Accept the PUT (200), then send the requester the SDP-less
    /// `respondCallUpdate` with top-level `statusCode: 49` and
    /// `retryAfter`, the only glare signal the SDK documents. The 4.8.0
    /// client then leaves the operation pending forever, so this is only
    /// for compatibility tests (whether the real server does this is
    /// UNCERTAIN, 02-calls §9 item 4).
    Notify,
}

/// Timers and limits of the call relay. Every value of 02-calls §7.5/§7.6
/// is an emulator choice (the real server's timers are UNCERTAIN, §9 item
/// 7), hence configuration: loopback tests shorten them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallConfig {
    /// An unanswered callee leg is given up after this long: the caller
    /// gets `callEnd {480, "No Answer"}`, the callee `callCancel`, and the
    /// callee's log says `missed` (ms; default 60 000). Also bounds how
    /// long a direct-transfer target may ring.
    pub ringing_timeout_ms: u64,
    /// A connected leg that sent no audit for this long is presumed dead
    /// and the call is ended (`callEnd {408}` to the other side). Clients
    /// audit every 25 s, so the default is three periods (ms; default
    /// 75 000).
    pub audit_timeout_ms: u64,
    /// An offer/answer transaction whose answer never comes ends the call
    /// with `callEnd {500, "Renegotiation Timeout"}` on both legs. The
    /// client's own ICE wait is at most 3 s (ms; default 10 000).
    pub update_timeout_ms: u64,
    /// Hold-back after a reply that creates or arms a leg, before the
    /// leg's first notifications go out: after the start-call POST (the
    /// client drops notifications for a leg whose POST reply it has not
    /// processed, 02-calls §7.4 rule 1) and after a callee's `ringing` PUT
    /// (the client creates the call only once that reply is in, rule 2).
    /// Notifications due meanwhile are queued in order (ms; default 200).
    pub first_notification_delay_ms: u64,
    /// How long a callee leg that was cancelled before its `ringing` PUT
    /// keeps its queued `callCancel`, waiting for that PUT: the client
    /// only learns the leg from the reply, so the cancel is delivered after
    /// it; a client that dropped the call never sends it, and the cancel
    /// is then discarded (ms; default 30 000).
    pub cancel_hold_ms: u64,
    /// Largest accepted SDP, in bytes; larger ones are refused as
    /// malformed (400, `statusCode` 1004). Real offers with candidates
    /// are a few KiB (default 65 536).
    pub max_sdp_bytes: usize,
    /// Call log records kept per user, newest first; the real gateway
    /// keeps about 50 (03-services §9.6; default 50).
    pub call_log_cap: usize,
    /// Answer to a `startCallUpdate` while a transaction is open.
    pub glare: GlareMode,
}

impl Default for CallConfig {
    fn default() -> Self {
        Self {
            ringing_timeout_ms: 60_000,
            audit_timeout_ms: 75_000,
            update_timeout_ms: 10_000,
            first_notification_delay_ms: 200,
            cancel_hold_ms: 30_000,
            max_sdp_bytes: 64 * 1024,
            call_log_cap: 50,
            glare: GlareMode::Reject,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_config_files_fill_defaults() {
        let c: GatewayConfig =
            serde_json::from_str(r#"{"max_expires_s":120,"tokens":{"access_s":30}}"#)
                .expect("valid");
        assert_eq!(c.max_expires_s, 120);
        assert_eq!(c.min_expires_s, 60);
        assert_eq!(c.tokens.access_s, 30);
        assert_eq!(c.tokens.refresh_grace_ms, 60_000);
        assert_eq!(c.max_body_bytes, 1 << 20);
    }
}
