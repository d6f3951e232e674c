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
