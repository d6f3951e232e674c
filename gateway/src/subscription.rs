//! Subscriptions: subscribe (POST), refresh (PUT), unsubscribe (DELETE),
//! expiry and forced termination (01-session §11.2-§11.4, §11.6; 04 §4.3).
//!
//! A subscription is indexed by id, notification channel, `sessionId`,
//! owner and client correlator, so every request costs a few hash lookups
//! whatever the number of subscriptions.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::auth::{self, Principal, Via};
use crate::error::ApiError;
use crate::http::{HttpRequest, HttpResponse};
use crate::socket::SocketId;
use crate::timers::Timer;
use crate::Gateway;

/// The id of a subscription (the last segment of its path).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SubscriptionId(pub String);

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `{kind}` path segment a subscription was created under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SubscriptionKind {
    /// `/rest/version/{V}/user/{user}/subscription`
    User,
    /// `/rest/version/{V}/anonymous/{user}/subscription` (same credentials
    /// rules, 01-session §7.3)
    Anonymous,
}

impl SubscriptionKind {
    pub(crate) fn segment(self) -> &'static str {
        match self {
            SubscriptionKind::User => "user",
            SubscriptionKind::Anonymous => "anonymous",
        }
    }

    pub(crate) fn from_segment(s: &str) -> Option<Self> {
        match s {
            "user" => Some(SubscriptionKind::User),
            "anonymous" => Some(SubscriptionKind::Anonymous),
            _ => None,
        }
    }
}

/// A read-only view of one subscription, for hooks, tests and later
/// features.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SubscriptionInfo {
    /// Its id.
    pub id: SubscriptionId,
    /// `user` or `anonymous`.
    pub kind: SubscriptionKind,
    /// Canonical username of the owner.
    pub user: String,
    /// The `subscription` path returned to the client.
    pub path: String,
    /// The `notificationChannel` path.
    pub notification_channel: String,
    /// The `sessionId` (the `x-session` value).
    pub session_id: String,
    /// Granted services, spelled as requested.
    pub services: Vec<String>,
    /// Granted `expires` (seconds).
    pub expires_s: u64,
    /// When it expires unless refreshed (epoch ms).
    pub expires_at_ms: u64,
    /// The socket notifications go to, if one is open.
    pub socket: Option<SocketId>,
    /// Notifications waiting for a socket.
    pub buffered: usize,
    /// `subscribeRequest.clientCorrelator`, if one was sent.
    pub client_correlator: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Subscription {
    pub(crate) id: SubscriptionId,
    pub(crate) kind: SubscriptionKind,
    pub(crate) user: String,
    pub(crate) path: String,
    pub(crate) channel: String,
    pub(crate) session_id: String,
    pub(crate) client_correlator: Option<String>,
    pub(crate) services: Vec<String>,
    pub(crate) expires_s: u64,
    /// Deadline of the expiry timer; always set while the subscription
    /// lives.
    pub(crate) expiry: Option<u64>,
    /// Deadline of the unopened-socket clean-up; cleared when a socket opens.
    pub(crate) unopened: Option<u64>,
    pub(crate) socket: Option<SocketId>,
    /// Serialized notification frames waiting for a socket.
    pub(crate) buffer: VecDeque<String>,
}

impl Subscription {
    pub(crate) fn info(&self) -> SubscriptionInfo {
        SubscriptionInfo {
            id: self.id.clone(),
            kind: self.kind,
            user: self.user.clone(),
            path: self.path.clone(),
            notification_channel: self.channel.clone(),
            session_id: self.session_id.clone(),
            services: self.services.clone(),
            expires_s: self.expires_s,
            expires_at_ms: self.expiry.unwrap_or(0),
            socket: self.socket,
            buffered: self.buffer.len(),
            client_correlator: self.client_correlator.clone(),
        }
    }
}

/// The subscription table and its indexes, kept in step by `insert` and
/// `remove` only.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Subscriptions {
    by_id: HashMap<SubscriptionId, Subscription>,
    by_channel: HashMap<String, SubscriptionId>,
    by_session: HashMap<String, SubscriptionId>,
    /// lower-case owner -> ids
    by_user: HashMap<String, BTreeSet<SubscriptionId>>,
    /// lower-case owner -> correlator -> id (the newest wins)
    by_correlator: HashMap<String, HashMap<String, SubscriptionId>>,
}

impl Subscriptions {
    pub(crate) fn insert(&mut self, sub: Subscription) {
        let id = sub.id.clone();
        let owner = sub.user.to_ascii_lowercase();
        self.by_channel.insert(sub.channel.clone(), id.clone());
        self.by_session.insert(sub.session_id.clone(), id.clone());
        if let Some(cc) = &sub.client_correlator {
            self.by_correlator
                .entry(owner.clone())
                .or_default()
                .insert(cc.clone(), id.clone());
        }
        self.by_user.entry(owner).or_default().insert(id.clone());
        self.by_id.insert(id, sub);
    }

    pub(crate) fn remove(&mut self, id: &SubscriptionId) -> Option<Subscription> {
        let sub = self.by_id.remove(id)?;
        let owner = sub.user.to_ascii_lowercase();
        self.by_channel.remove(&sub.channel);
        self.by_session.remove(&sub.session_id);
        if let Some(cc) = &sub.client_correlator {
            if let Some(map) = self.by_correlator.get_mut(&owner) {
                if map.get(cc) == Some(id) {
                    map.remove(cc);
                }
                if map.is_empty() {
                    self.by_correlator.remove(&owner);
                }
            }
        }
        if let Some(set) = self.by_user.get_mut(&owner) {
            set.remove(id);
            if set.is_empty() {
                self.by_user.remove(&owner);
            }
        }
        Some(sub)
    }

    pub(crate) fn get(&self, id: &SubscriptionId) -> Option<&Subscription> {
        self.by_id.get(id)
    }

    pub(crate) fn get_mut(&mut self, id: &SubscriptionId) -> Option<&mut Subscription> {
        self.by_id.get_mut(id)
    }

    pub(crate) fn by_channel(&self, path: &str) -> Option<&Subscription> {
        self.by_channel.get(path).and_then(|id| self.by_id.get(id))
    }

    pub(crate) fn by_session(&self, session: &str) -> Option<&Subscription> {
        self.by_session
            .get(session)
            .and_then(|id| self.by_id.get(id))
    }

    pub(crate) fn by_correlator(&self, user: &str, cc: &str) -> Option<&Subscription> {
        self.by_correlator
            .get(&user.to_ascii_lowercase())
            .and_then(|m| m.get(cc))
            .and_then(|id| self.by_id.get(id))
    }

    /// Ids of a user's subscriptions (by canonical or any-case username).
    pub(crate) fn ids_of(&self, user: &str) -> Vec<SubscriptionId> {
        self.by_user
            .get(&user.to_ascii_lowercase())
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn channel_taken(&self, path: &str) -> bool {
        self.by_channel.contains_key(path)
    }

    pub(crate) fn session_taken(&self, session: &str) -> bool {
        self.by_session.contains_key(session)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Subscription> {
        self.by_id.values()
    }

    /// Checks that the indexes describe exactly the table.
    pub(crate) fn check_indexes(&self) -> Result<(), String> {
        let n = self.by_id.len();
        if self.by_channel.len() != n || self.by_session.len() != n {
            return Err("channel/session index size differs from the table".into());
        }
        let users: usize = self.by_user.values().map(BTreeSet::len).sum();
        if users != n {
            return Err("user index size differs from the table".into());
        }
        for sub in self.by_id.values() {
            let owner = sub.user.to_ascii_lowercase();
            if self.by_channel.get(&sub.channel) != Some(&sub.id)
                || self.by_session.get(&sub.session_id) != Some(&sub.id)
                || !self
                    .by_user
                    .get(&owner)
                    .is_some_and(|s| s.contains(&sub.id))
            {
                return Err(format!("subscription {} is not indexed", sub.id));
            }
        }
        for map in self.by_correlator.values() {
            if map.values().any(|id| !self.by_id.contains_key(id)) {
                return Err("correlator index names a missing subscription".into());
            }
        }
        Ok(())
    }
}

/// Why a subscription ends; decides what happens to its socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Removal {
    /// Client DELETE: no `gone`, socket left open for the grace period.
    Deleted,
    /// Not refreshed in time: `gone`, then close.
    Expired,
    /// Gateway-initiated (test hook): `gone` (with optional `retryAfter`),
    /// then close.
    Terminated { retry_after_s: Option<u64> },
    /// No socket opened within the TTL: dropped silently.
    Abandoned,
}

/// Characters escaped in a path segment we build; `@` and `+` stay as they
/// are, like the SDK writes them (01-session §3).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']');

pub(crate) fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// The validated `subscribeRequest` of a POST or PUT.
#[derive(Debug, Default)]
struct SubscribeRequest {
    /// Requested lifetime (seconds), if sent.
    expires: Option<f64>,
    /// Requested services, if sent.
    services: Option<Vec<String>>,
    client_correlator: Option<String>,
}

/// Validates a `{"subscribeRequest":{...}}` body. Unknown fields
/// (`localization`, `useTurn`, `supported`, `forceLogOut`, ...) are
/// accepted and ignored.
fn parse_subscribe_request(
    body: &[u8],
    service_required: bool,
) -> Result<SubscribeRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("missing body"));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|_| ApiError::bad_request("body is not JSON"))?;
    let req = value
        .get("subscribeRequest")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("missing subscribeRequest object"))?;
    let expires = match req.get("expires") {
        None => None,
        Some(v) => match v.as_f64() {
            Some(n) if n.is_finite() && n > 0.0 => Some(n),
            _ => return Err(ApiError::bad_request("expires must be a positive number")),
        },
    };
    let services = match req.get("service") {
        None if service_required => {
            return Err(ApiError::bad_request("service must be an array of strings"))
        }
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| ApiError::bad_request("service must be an array of strings"))?,
        ),
        Some(Value::Object(_)) => {
            return Err(ApiError::bad_request(
                "service must be an array of strings; the object form {\"services\":[...]} is not supported",
            ))
        }
        Some(_) => return Err(ApiError::bad_request("service must be an array of strings")),
    };
    match req.get("notificationType") {
        None => {}
        Some(Value::String(t)) if t.eq_ignore_ascii_case("websocket") => {}
        Some(_) => return Err(ApiError::bad_request("notificationType must be WebSocket")),
    }
    let client_correlator = req
        .get("clientCorrelator")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Ok(SubscribeRequest {
        expires,
        services,
        client_correlator,
    })
}

impl Gateway {
    /// Granted lifetime: the request (default: the maximum), clamped to
    /// `[min_expires_s, max_expires_s]`.
    fn grant_expires(&self, requested: Option<f64>, default: u64) -> u64 {
        let max = self.config.max_expires_s;
        let min = self.config.min_expires_s.min(max);
        // `as` saturates and floors: 3600.7 -> 3600, 1e300 -> u64::MAX.
        let want = requested.map_or(default, |f| f as u64);
        want.max(min).min(max)
    }

    /// The granted subset of the requested services, spelled as requested.
    fn grant_services(&self, requested: &[String]) -> Vec<String> {
        requested
            .iter()
            .filter(|name| {
                self.config
                    .services
                    .iter()
                    .any(|known| known.eq_ignore_ascii_case(name))
                    || (self.config.grant_event_services
                        && name.strip_prefix("event:").is_some_and(|e| !e.is_empty()))
            })
            .cloned()
            .collect()
    }

    /// `POST /rest/version/{V}/{kind}/{user}/subscription`.
    pub(crate) fn subscribe(
        &mut self,
        now_ms: u64,
        req: &HttpRequest,
        version: &str,
        kind: SubscriptionKind,
        path_user: &str,
    ) -> Result<HttpResponse, ApiError> {
        let (_, user) = self.authenticate_request(now_ms, req, path_user)?;
        let body = parse_subscribe_request(&req.body, true)?;
        let expires_s = self.grant_expires(body.expires, self.config.max_expires_s);
        let services = self.grant_services(body.services.as_deref().unwrap_or_default());

        let id = loop {
            let id = SubscriptionId(self.ids.hex128());
            if self.subs.get(&id).is_none() {
                break id;
            }
        };
        let version = encode_segment(version);
        let channel = loop {
            let c = format!(
                "/rest/version/{version}/notificationChannel/{}",
                self.ids.hex128()
            );
            if !self.subs.channel_taken(&c) {
                break c;
            }
        };
        let session_id = loop {
            let s = self.ids.hex128();
            if !self.subs.session_taken(&s) {
                break s;
            }
        };
        let path = format!(
            "/rest/version/{version}/{}/{}/subscription/{}",
            kind.segment(),
            encode_segment(&user),
            id
        );

        let expiry = now_ms.saturating_add(expires_s.saturating_mul(1000));
        let unopened = now_ms.saturating_add(self.config.unopened_socket_ttl_ms);
        self.timers
            .schedule(expiry, Timer::SubscriptionExpiry(id.clone()));
        self.timers
            .schedule(unopened, Timer::UnopenedSocket(id.clone()));
        self.subs.insert(Subscription {
            id: id.clone(),
            kind,
            user,
            path: path.clone(),
            channel: channel.clone(),
            session_id: session_id.clone(),
            client_correlator: body.client_correlator,
            services: services.clone(),
            expires_s,
            expiry: Some(expiry),
            unopened: Some(unopened),
            socket: None,
            buffer: VecDeque::new(),
        });
        self.counters.subscriptions_created += 1;

        let mut params = Map::new();
        params.insert("notificationChannel".into(), json!(channel));
        params.insert("expires".into(), json!(expires_s));
        params.insert("service".into(), json!(services));
        params.insert("sessionId".into(), json!(session_id));
        if let Some(turn) = &self.config.turn_credentials {
            params.insert(
                "turnCredentials".into(),
                json!({ "username": turn.username, "password": turn.password }),
            );
        }
        Ok(HttpResponse::json(
            200,
            &json!({ "subscribeResponse": {
                "statusCode": 0,
                "subscription": path,
                "subscriptionParams": Value::Object(params),
            }}),
        ))
    }

    /// Resolves `/rest/version/{V}/{kind}/{user}/subscription/{id}`: the
    /// subscription must exist under exactly that kind and owner.
    pub(crate) fn resolve_subscription(
        &self,
        kind: SubscriptionKind,
        path_user: &str,
        id: &str,
    ) -> Result<SubscriptionId, ApiError> {
        let id = SubscriptionId(id.to_owned());
        match self.subs.get(&id) {
            Some(sub) if sub.kind == kind && sub.user.eq_ignore_ascii_case(path_user) => Ok(id),
            _ => Err(ApiError::unknown_subscription()),
        }
    }

    /// Resolves the 4.30+ alias
    /// `/rest/version/{V}/user/{user}/subscription/clientCorrelator/{cc}`.
    pub(crate) fn resolve_correlator(
        &self,
        path_user: &str,
        cc: &str,
    ) -> Result<SubscriptionId, ApiError> {
        self.subs
            .by_correlator(path_user, cc)
            .map(|s| s.id.clone())
            .ok_or_else(ApiError::unknown_subscription)
    }

    /// The credential of a PUT/DELETE must belong to the owner; an
    /// `x-session` must be this subscription's own.
    fn authorize_owner(
        &self,
        now_ms: u64,
        req: &HttpRequest,
        id: &SubscriptionId,
    ) -> Result<(), ApiError> {
        let owner = self
            .subs
            .get(id)
            .map(|s| s.user.clone())
            .ok_or_else(ApiError::unknown_subscription)?;
        let cred = auth::extract(req)?;
        let principal: Principal = self.authenticate(now_ms, &cred, Some(&owner))?;
        if principal.user != owner {
            return Err(ApiError::forbidden(format!(
                "{} does not own this subscription",
                principal.user
            )));
        }
        if let Via::Session(session_sub) = &principal.via {
            if session_sub != id {
                return Err(ApiError::forbidden(
                    "x-session belongs to another subscription",
                ));
            }
        }
        Ok(())
    }

    /// `PUT {subscription}`: refresh and service update.
    pub(crate) fn refresh(
        &mut self,
        now_ms: u64,
        req: &HttpRequest,
        id: &SubscriptionId,
    ) -> Result<HttpResponse, ApiError> {
        self.authorize_owner(now_ms, req, id)?;
        let body = parse_subscribe_request(&req.body, false)?;
        let granted_services = body.services.as_deref().map(|s| self.grant_services(s));
        let current = self
            .subs
            .get(id)
            .map(|s| s.expires_s)
            .ok_or_else(ApiError::unknown_subscription)?;
        let expires_s = self.grant_expires(body.expires, current);
        let expiry = now_ms.saturating_add(expires_s.saturating_mul(1000));
        let Some(sub) = self.subs.get_mut(id) else {
            return Err(ApiError::unknown_subscription());
        };
        if let Some(services) = granted_services {
            sub.services = services;
        }
        sub.expires_s = expires_s;
        self.timers.reschedule(
            &mut sub.expiry,
            Some(expiry),
            Timer::SubscriptionExpiry(id.clone()),
        );
        Ok(HttpResponse::json(
            200,
            &json!({ "subscribeResponse": {
                "statusCode": 0,
                "subscriptionParams": { "service": sub.services, "expires": expires_s },
            }}),
        ))
    }

    /// `DELETE {subscription}`.
    pub(crate) fn unsubscribe(
        &mut self,
        now_ms: u64,
        req: &HttpRequest,
        id: &SubscriptionId,
    ) -> Result<HttpResponse, ApiError> {
        self.authorize_owner(now_ms, req, id)?;
        self.remove_subscription(now_ms, id, Removal::Deleted);
        Ok(HttpResponse::json(
            200,
            &json!({ "subscribeResponse": { "statusCode": 0 } }),
        ))
    }

    /// Ends a subscription for `why`, dropping its timers and buffered
    /// notifications, and deals with its socket (see [`Removal`]).
    pub(crate) fn remove_subscription(
        &mut self,
        now_ms: u64,
        id: &SubscriptionId,
        why: Removal,
    ) -> bool {
        let Some(mut sub) = self.subs.remove(id) else {
            return false;
        };
        self.timers
            .reschedule(&mut sub.expiry, None, Timer::SubscriptionExpiry(id.clone()));
        self.timers
            .reschedule(&mut sub.unopened, None, Timer::UnopenedSocket(id.clone()));
        self.counters.buffered = self.counters.buffered.saturating_sub(sub.buffer.len());
        let c = &mut self.counters;
        match why {
            Removal::Deleted => c.subscriptions_deleted += 1,
            Removal::Expired => c.subscriptions_expired += 1,
            Removal::Terminated { .. } => c.subscriptions_terminated += 1,
            Removal::Abandoned => c.subscriptions_abandoned += 1,
        }
        if let Some(socket) = sub.socket {
            match why {
                Removal::Deleted => self.detach_for_grace(now_ms, socket),
                Removal::Expired | Removal::Abandoned => {
                    self.send_gone(now_ms, socket, None);
                    self.close_socket(socket);
                }
                Removal::Terminated { retry_after_s } => {
                    self.send_gone(now_ms, socket, retry_after_s);
                    self.close_socket(socket);
                }
            }
        }
        // Its calls end for the other parties (02-calls §7.6).
        self.calls_subscription_gone(now_ms, id);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_validation() {
        let ok = br#"{"subscribeRequest":{"expires":3600,"service":["IM"],"notificationType":"Websocket","forceLogOut":"true","clientCorrelator":"cc","x":1}}"#;
        let parsed = parse_subscribe_request(ok, true).expect("valid");
        assert_eq!(parsed.expires, Some(3600.0));
        assert_eq!(parsed.services, Some(vec!["IM".to_owned()]));
        assert_eq!(parsed.client_correlator.as_deref(), Some("cc"));

        for bad in [
            &b""[..],
            b"   ",
            b"{",
            b"\xff\xfe",
            b"[]",
            br#"{"subscribeRequest":[]}"#,
            br#"{"subscribeRequest":{"service":"IM"}}"#,
            br#"{"subscribeRequest":{"service":[1]}}"#,
            br#"{"subscribeRequest":{"service":{"services":["IM"]}}}"#,
            br#"{"subscribeRequest":{"service":[],"expires":0}}"#,
            br#"{"subscribeRequest":{"service":[],"expires":-5}}"#,
            br#"{"subscribeRequest":{"service":[],"expires":"3600"}}"#,
            br#"{"subscribeRequest":{"service":[],"notificationType":"Push"}}"#,
            br#"{"subscribeRequest":{}}"#,
        ] {
            assert!(
                parse_subscribe_request(bad, true).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_subscribe_request(br#"{"subscribeRequest":{}}"#, false).is_ok());
    }

    #[test]
    fn segments_keep_at_and_plus() {
        assert_eq!(encode_segment("a+b@c.d"), "a+b@c.d");
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
    }
}
