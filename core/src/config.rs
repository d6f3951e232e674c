//! The client configuration: the JS SDK's `create(config)` object, typed.
//!
//! Field names serialize in the JS spelling (`camelCase`), so a JSON config
//! written for the Kandy JS SDK deserializes as is; unknown sections and keys
//! are ignored. Defaults follow the seed documentation where it and the
//! 4.8.0 code disagree (`checkConnectivity: false`, the service list
//! `["call", "IM", "presence"]`, `earlyRefreshMargin: 300`). Keys marked
//! "kandy-rs extension" do not exist in the JS SDK.
//!
//! [`Config::merge`] is the `updateConfig` merge: objects merge key by key,
//! and an array replaces the array it lands on. (4.8.0 merges arrays index by
//! index, so replacing `["IM","Presence","call"]` with `["call"]` yields
//! `["call","Presence","call"]`; kandy-rs does not reproduce that defect.)

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

use crate::Error;

/// The whole configuration, one field per feature section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Config {
    /// `logs`: which log records the core emits.
    pub logs: LogsConfig,
    /// `authentication`: the REST and WebSocket servers and the subscription.
    pub authentication: AuthenticationConfig,
    /// `connectivity`: keepalives and reconnection.
    pub connectivity: ConnectivityConfig,
    /// `notifications`: de-duplication and push servers.
    pub notifications: NotificationsConfig,
    /// `http` (kandy-rs extension): REST request behaviour.
    pub http: HttpConfig,
    /// `call`: calls and their media.
    pub call: CallConfig,
}

impl Config {
    /// A configuration for a gateway reached at `host`, with REST and
    /// WebSocket on the same host, the given schemes and port.
    pub fn for_server(host: &str, secure: bool, port: u16) -> Self {
        let mut c = Config::default();
        c.authentication.subscription.server = Some(host.to_owned());
        c.authentication.subscription.protocol = if secure { "https" } else { "http" }.into();
        c.authentication.subscription.port = port;
        c.authentication.websocket.server = Some(host.to_owned());
        c.authentication.websocket.protocol = if secure { "wss" } else { "ws" }.into();
        c.authentication.websocket.port = port;
        c
    }

    /// Deep-merges a partial configuration (same shape as the whole) and
    /// returns the result, or an error naming what did not fit. `self` is
    /// not modified, so a bad update leaves the configuration untouched.
    pub fn merge(&self, patch: &Value) -> Result<Config, Error> {
        if !patch.is_object() {
            return Err(Error::InvalidArgument(
                "a configuration update must be an object".into(),
            ));
        }
        let mut base = serde_json::to_value(self)
            .map_err(|e| Error::InvalidArgument(format!("configuration: {e}")))?;
        merge_value(&mut base, patch);
        serde_json::from_value(base)
            .map_err(|e| Error::InvalidArgument(format!("configuration: {e}")))
    }
}

fn merge_value(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        merge_value(existing, v)
                    }
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// Log levels, lowest severity last (`logger.levels`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum LogLevel {
    /// Nothing is logged.
    Silent,
    /// Unhandled errors only.
    Error,
    /// Also problems that may cause trouble.
    Warn,
    /// Also normal operation.
    Info,
    /// Everything, including action logs.
    Debug,
}

/// `logs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LogsConfig {
    /// `logs.logLevel`: the lowest severity emitted. Default `debug`.
    pub log_level: LogLevel,
    /// `logs.flatten`: log lines as plain strings. The transports print
    /// through `tracing`, which is flat already; kept for config parity.
    pub flatten: bool,
    /// `logs.logActions`: one debug record per input ("action"); `false`
    /// turns them off.
    #[serde(deserialize_with = "log_actions_or_false")]
    pub log_actions: Option<LogActions>,
    /// `logs.enableFcsLogs`: detailed call-stack logging (calls issue).
    pub enable_fcs_logs: bool,
    /// `logs.enableGrouping`: console grouping in the JS SDK; kept for parity.
    pub enable_grouping: bool,
    /// `logs.exposeSecrets` (kandy-rs extension): put credentials in log
    /// records in clear. Off by default; never turn it on in production.
    pub expose_secrets: bool,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            log_level: LogLevel::Debug,
            flatten: false,
            log_actions: Some(LogActions::default()),
            enable_fcs_logs: true,
            enable_grouping: true,
            expose_secrets: false,
        }
    }
}

fn log_actions_or_false<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LogActions>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Flag(bool),
        Settings(LogActions),
    }
    Ok(match Option::<Form>::deserialize(d)? {
        None | Some(Form::Flag(false)) => None,
        Some(Form::Flag(true)) => Some(LogActions::default()),
        Some(Form::Settings(s)) => Some(s),
    })
}

/// `logs.logActions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LogActions {
    /// Log only the action, not the state around it. Default true.
    pub action_only: bool,
    /// Console collapsing in the JS SDK; kept for parity.
    pub collapsed: bool,
    /// Add a diff of the state (not supported: the core never copies its
    /// state per input; use `kandy replay` for state diffs).
    pub diff: bool,
    /// Include the input's payload (secrets still redacted).
    pub expose_payloads: bool,
    /// Level of action records. Default `debug`.
    pub level: LogLevel,
    /// Input kinds (e.g. `ws_frame`) to leave out.
    pub exclude_actions: Vec<String>,
    /// Deprecated alias of `logs.flatten`.
    pub flatten_actions: Option<bool>,
}

impl Default for LogActions {
    fn default() -> Self {
        LogActions {
            action_only: true,
            collapsed: false,
            diff: false,
            expose_payloads: false,
            level: LogLevel::Debug,
            exclude_actions: Vec::new(),
            flatten_actions: None,
        }
    }
}

/// `authentication`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AuthenticationConfig {
    /// `authentication.subscription`: the REST server and subscription.
    pub subscription: SubscriptionConfig,
    /// `authentication.websocket`: the notification socket server.
    pub websocket: WebsocketConfig,
    /// `authentication.earlyRefreshMargin` (seconds, default 300): refresh an
    /// access token this long before it expires.
    pub early_refresh_margin: u64,
    /// `authentication.tokenService` (kandy-rs): where refresh tokens are
    /// exchanged. Defaults to the subscription server with version `v2.0`.
    pub token_service: Option<ServerConfig>,
    /// `authentication.minRefreshInterval` (kandy-rs extension, ms, default
    /// 30000): the floor between subscription refreshes.
    pub min_refresh_interval: u64,
}

impl Default for AuthenticationConfig {
    fn default() -> Self {
        AuthenticationConfig {
            subscription: SubscriptionConfig::default(),
            websocket: WebsocketConfig::default(),
            early_refresh_margin: 300,
            token_service: None,
            min_refresh_interval: 30_000,
        }
    }
}

/// A server address as the REST config spells it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServerConfig {
    /// Host name.
    pub server: Option<String>,
    /// Scheme (`https`).
    pub protocol: Option<String>,
    /// Port.
    #[serde(deserialize_with = "opt_port")]
    pub port: Option<u16>,
    /// API version path segment.
    pub version: Option<String>,
}

/// `authentication.subscription`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SubscriptionConfig {
    /// REST host (required to connect).
    pub server: Option<String>,
    /// REST scheme, default `https`.
    pub protocol: String,
    /// REST port, default 443 (a string such as `"443"` is accepted).
    #[serde(deserialize_with = "port")]
    pub port: u16,
    /// REST API version, default `1`.
    pub version: String,
    /// Requested subscription lifetime in seconds, default 3600.
    pub expires: u64,
    /// Services to subscribe to, default `["call", "IM", "presence"]`.
    pub service: Vec<String>,
    /// Sent as `localization`, default `English_US`.
    pub localization: String,
    /// Sent as `useTurn`, default true (4.8.0 could never send false).
    pub use_turn: bool,
    /// Sent as `notificationType`, default `WebSocket` (the wire spelling).
    pub notification_type: String,
    /// Use the `anonymous` path segment instead of `user`.
    pub is_anonymous: bool,
}

impl Default for SubscriptionConfig {
    fn default() -> Self {
        SubscriptionConfig {
            server: None,
            protocol: "https".into(),
            port: 443,
            version: "1".into(),
            expires: 3600,
            service: vec!["call".into(), "IM".into(), "presence".into()],
            localization: "English_US".into(),
            use_turn: true,
            notification_type: "WebSocket".into(),
            is_anonymous: false,
        }
    }
}

/// `authentication.websocket`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WebsocketConfig {
    /// WebSocket host (required to connect).
    pub server: Option<String>,
    /// Scheme, default `wss`.
    pub protocol: String,
    /// Port, default 443.
    #[serde(deserialize_with = "port")]
    pub port: u16,
    /// Extra query parameters for the socket URL (sorted, URL-encoded).
    pub params: Option<BTreeMap<String, String>>,
}

impl Default for WebsocketConfig {
    fn default() -> Self {
        WebsocketConfig {
            server: None,
            protocol: "wss".into(),
            port: 443,
            params: None,
        }
    }
}

fn port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    opt_port(d)?.ok_or_else(|| serde::de::Error::custom("port is required"))
}

fn opt_port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum P {
        N(u16),
        S(String),
    }
    match Option::<P>::deserialize(d)? {
        None => Ok(None),
        Some(P::N(n)) => Ok(Some(n)),
        Some(P::S(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("invalid port {s:?}"))),
    }
}

/// `connectivity.method.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CheckType {
    /// Send `{"message_type":"ping"}`; no reply expected.
    #[serde(rename = "keepAlive")]
    KeepAlive,
    /// Send `connCheck`, expect `connAck`.
    #[serde(rename = "pingPong")]
    PingPong,
}

/// `connectivity.method.responsibleParty`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ResponsibleParty {
    /// The client pings.
    Client,
    /// The server pings and the client answers.
    Server,
}

/// `connectivity.method`; the older string form (`"keepAlive"`) is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectivityMethod {
    /// Check mechanism.
    #[serde(rename = "type")]
    pub kind: CheckType,
    /// Who starts the checks.
    pub responsible_party: ResponsibleParty,
}

impl Default for ConnectivityMethod {
    fn default() -> Self {
        ConnectivityMethod {
            kind: CheckType::KeepAlive,
            responsible_party: ResponsibleParty::Client,
        }
    }
}

impl<'de> Deserialize<'de> for ConnectivityMethod {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Obj {
            #[serde(rename = "type")]
            kind: Option<CheckType>,
            responsible_party: Option<ResponsibleParty>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Name(CheckType),
            Obj(Obj),
        }
        Ok(match Form::deserialize(d)? {
            Form::Name(kind) => ConnectivityMethod {
                kind,
                responsible_party: ResponsibleParty::Client,
            },
            Form::Obj(o) => ConnectivityMethod {
                kind: o.kind.unwrap_or(CheckType::KeepAlive),
                responsible_party: o.responsible_party.unwrap_or(ResponsibleParty::Client),
            },
        })
    }
}

/// `connectivity.webSocketOAuthMode` (from later Link SDKs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum WebSocketOAuthMode {
    /// Put an OAuth token on the socket URL as `access_token=`.
    Query,
    /// Send no token on the socket.
    None,
}

/// `connectivity`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConnectivityConfig {
    /// How checks are done.
    pub method: ConnectivityMethod,
    /// Gap between client pings (ms), default 30000.
    pub ping_interval: u64,
    /// Socket open attempts per lifecycle; 0 = unlimited. Default 5.
    pub reconnect_limit: u32,
    /// Base wait between attempts (ms), default 5000.
    pub reconnect_delay: u64,
    /// Factor applied to the wait after each failed attempt, default 1.
    pub reconnect_time_multiplier: f64,
    /// Cap on one wait (ms), default 640000.
    pub reconnect_time_limit: u64,
    /// Reopen the socket after a loss, default true.
    pub auto_reconnect: bool,
    /// Unanswered checks before the socket counts as lost, default 3.
    pub max_missed_pings: u32,
    /// Run client-driven checks at all. Default false (the seed's default;
    /// 4.8.0's code defaults to true). Loss reported by the transport
    /// (the socket closed) is acted on either way.
    pub check_connectivity: bool,
    /// Whether an OAuth token goes on the socket URL. Default `query`.
    #[serde(rename = "webSocketOAuthMode")]
    pub websocket_oauth_mode: WebSocketOAuthMode,
}

impl Default for ConnectivityConfig {
    fn default() -> Self {
        ConnectivityConfig {
            method: ConnectivityMethod::default(),
            ping_interval: 30_000,
            reconnect_limit: 5,
            reconnect_delay: 5_000,
            reconnect_time_multiplier: 1.0,
            reconnect_time_limit: 640_000,
            auto_reconnect: true,
            max_missed_pings: 3,
            check_connectivity: false,
            websocket_oauth_mode: WebSocketOAuthMode::Query,
        }
    }
}

/// `notifications`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NotificationsConfig {
    /// How many notification ids are remembered for de-duplication.
    pub id_cache_length: usize,
    /// Push registration server overrides.
    pub push_registration: Option<ServerConfig>,
    /// Realm sent with push registration.
    pub realm: Option<String>,
    /// Bundle id sent with push registration (as `bundleID`).
    pub bundle_id: Option<String>,
    /// (kandy-rs extension) notifications held while an SDP fetch is in
    /// flight; past it, new ones are dropped with an error log.
    pub max_queued: usize,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        NotificationsConfig {
            id_cache_length: 100,
            push_registration: None,
            realm: None,
            bundle_id: None,
            max_queued: 1024,
        }
    }
}

/// `http` (kandy-rs extension).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HttpConfig {
    /// A REST request with no response after this many ms fails as a
    /// transport error (4.8.0 waits forever). 0 disables. Default 30000.
    pub timeout: u64,
    /// Sent as `X-Cpaas-Agent` (as later Kandy SDKs do); empty = not sent.
    pub agent: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout: 30_000,
            agent: concat!("kandy-rs/", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn js_config_deserializes_with_seed_defaults() {
        let c: Config = serde_json::from_value(json!({
            "authentication": {"subscription": {"server": "gw.example.com", "port": "8443"},
                               "websocket": {"server": "gw.example.com"}},
            "connectivity": {"method": "pingPong"},
            "call": {"sdpSemantics": "plan-b"}
        }))
        .unwrap();
        assert_eq!(c.authentication.subscription.port, 8443);
        assert_eq!(
            c.authentication.subscription.service,
            ["call", "IM", "presence"]
        );
        assert_eq!(c.connectivity.method.kind, CheckType::PingPong);
        assert!(!c.connectivity.check_connectivity);
        assert_eq!(c.authentication.early_refresh_margin, 300);
        assert_eq!(c.notifications.id_cache_length, 100);
    }

    #[test]
    fn merge_replaces_arrays_and_merges_objects() {
        let c = Config::default();
        let m = c
            .merge(
                &json!({"authentication": {"subscription": {"service": ["call"], "expires": 60}}}),
            )
            .unwrap();
        assert_eq!(m.authentication.subscription.service, ["call"]);
        assert_eq!(m.authentication.subscription.expires, 60);
        assert_eq!(m.authentication.subscription.localization, "English_US");
        assert!(c
            .merge(&json!({"connectivity": {"pingInterval": "soon"}}))
            .is_err());
        assert!(c.merge(&json!(3)).is_err());
    }

    #[test]
    fn log_actions_false_turns_them_off() {
        let c: Config = serde_json::from_value(json!({"logs": {"logActions": false}})).unwrap();
        assert!(c.logs.log_actions.is_none());
    }
}

/// `call.sdpSemantics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SdpSemantics {
    /// One m-section per track (the seed's default, and every current browser's).
    #[serde(rename = "unified-plan")]
    UnifiedPlan,
    /// At most one audio and one video m-section.
    #[serde(rename = "plan-b")]
    PlanB,
}

/// `call`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CallConfig {
    /// `call.sdpSemantics`, default `unified-plan` (the seed's; 4.8.0's code
    /// says plan-b).
    pub sdp_semantics: SdpSemantics,
    /// `call.iceServers`. Default: none (host candidates only). 4.8.0's
    /// default names two public TURN hosts that no longer answer.
    pub ice_servers: Vec<crate::call::media::IceServer>,
    /// `call.serverTurnCredentials`: fill the subscription's TURN
    /// credentials into the ICE servers. Default true.
    pub server_turn_credentials: bool,
    /// `call.sdpHandlers`: how many application SDP handlers the driver
    /// runs (functions live in the driver; the core asks it to run them).
    pub sdp_handlers: u32,
    /// `call.removeH264Codecs`, default true.
    #[serde(rename = "removeH264Codecs")]
    pub remove_h264_codecs: bool,
    /// `call.trickleIceMode`; Link signals no candidates, so only `NONE` works.
    pub trickle_ice_mode: String,
    /// `call.normalizeDestination`, default true.
    pub normalize_destination: bool,
    /// `call.iceserver`: deprecated alias of `iceServers`, added to them.
    pub iceserver: Option<Vec<crate::call::media::IceServer>>,
    /// (kandy-rs) calls live at once; past it `make` is refused and incoming
    /// calls are declined. Default 16.
    pub max_calls: usize,
    /// (kandy-rs) ended calls kept for `getAll`. Default 100.
    pub max_ended_calls: usize,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            sdp_semantics: SdpSemantics::UnifiedPlan,
            ice_servers: Vec::new(),
            server_turn_credentials: true,
            sdp_handlers: 0,
            remove_h264_codecs: true,
            trickle_ice_mode: "NONE".into(),
            normalize_destination: true,
            iceserver: None,
            max_calls: 16,
            max_ended_calls: 100,
        }
    }
}
