//! The subscription resource: request bodies and the parsed response.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

use crate::config::Config;
use crate::secret::{Secret, SecretJson, SecretPath};

/// `FULL`, `PARTIAL`, `NONE` (`subscriptionStates`), or `UNKNOWN` when the
/// gateway granted more than was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum SubscriptionStatus {
    /// Everything requested was granted.
    Full,
    /// Some requested services are missing.
    Partial,
    /// Nothing was granted.
    None,
    /// Nothing is missing but the lists differ in length.
    Unknown,
}

/// `getServices()`: what was asked, what was granted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicesInfo {
    /// Asked for at connect.
    pub requested: Vec<String>,
    /// Granted by the gateway.
    pub received: Vec<String>,
    /// Asked for but not granted (compared case-insensitively).
    pub missing: Vec<String>,
    /// Summary.
    pub status: SubscriptionStatus,
    /// Service name → granted.
    pub services: BTreeMap<String, bool>,
}

impl ServicesInfo {
    /// Compares the lists as the JS SDK does.
    pub fn compute(requested: &[String], received: &[String]) -> Self {
        let missing: Vec<String> = requested
            .iter()
            .filter(|r| !received.iter().any(|g| g.eq_ignore_ascii_case(r)))
            .cloned()
            .collect();
        let status = if received.is_empty() {
            SubscriptionStatus::None
        } else if !missing.is_empty() {
            SubscriptionStatus::Partial
        } else if requested.len() == received.len() {
            SubscriptionStatus::Full
        } else {
            SubscriptionStatus::Unknown
        };
        let mut services = BTreeMap::new();
        for r in received {
            services.insert(r.clone(), true);
        }
        for m in &missing {
            services.insert(m.clone(), false);
        }
        ServicesInfo {
            requested: requested.to_vec(),
            received: received.to_vec(),
            missing,
            status,
            services,
        }
    }

    /// The empty `NONE` structure, before any subscription.
    pub fn none() -> Self {
        ServicesInfo::compute(&[], &[])
    }
}

/// TURN credentials granted with the subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnCredentials {
    /// TURN user name.
    pub username: Secret,
    /// TURN password.
    pub password: Secret,
}

/// A granted subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Path of the subscription resource (refresh and unsubscribe target).
    pub url: String,
    /// Path of the notification socket: its only credential.
    pub notification_channel: SecretPath,
    /// Granted lifetime in seconds, as given at subscribe (never updated,
    /// as in the JS SDK: refresh responses are not read for it).
    pub expires: Option<u64>,
    /// What a timed refresh sends: the granted list, or the list of the
    /// last successful `updateConnection`.
    pub service: Vec<String>,
    /// The comparison computed at connect.
    pub services_info: ServicesInfo,
    /// `x-session` value for HMAC sessions.
    pub session_id: Option<Secret>,
    /// TURN credentials, if granted.
    pub turn_credentials: Option<TurnCredentials>,
    /// Echoed on refresh when the gateway sent them.
    pub localization: Option<String>,
    /// Echoed on refresh when the gateway sent it.
    pub use_turn: Option<bool>,
    /// Echoed on refresh when the gateway sent it.
    pub notification_type: Option<String>,
    /// `subscribeResponse.token`, kept as the JS SDK keeps it.
    pub token: Option<Secret>,
    /// Every `subscriptionParams` field, verbatim (serialized redacted).
    pub params: SecretJson,
}

impl Subscription {
    /// A subscription known only by its path (for a clean-up DELETE).
    pub(crate) fn bare(path: &str) -> Self {
        Subscription {
            url: path.to_owned(),
            notification_channel: SecretPath::default(),
            expires: None,
            service: Vec::new(),
            services_info: ServicesInfo::none(),
            session_id: None,
            turn_credentials: None,
            localization: None,
            use_turn: None,
            notification_type: None,
            token: None,
            params: SecretJson(Value::Null),
        }
    }

    /// Reads a 2xx subscribe response. Unlike 4.8.0, which throws a
    /// TypeError on a missing field, every problem is a message.
    pub(crate) fn parse(body: &Value, requested: &[String], hmac: bool) -> Result<Self, String> {
        let resp = body
            .get("subscribeResponse")
            .and_then(Value::as_object)
            .ok_or("no subscribeResponse object")?;
        let url = resp
            .get("subscription")
            .and_then(Value::as_str)
            .filter(|p| p.starts_with('/'))
            .ok_or("subscription is not a path")?;
        let params = resp
            .get("subscriptionParams")
            .and_then(Value::as_object)
            .ok_or("no subscriptionParams object")?;
        let channel = params
            .get("notificationChannel")
            .and_then(Value::as_str)
            .filter(|p| p.starts_with('/'))
            .ok_or("notificationChannel is not a path")?;
        let received: Vec<String> = params
            .get("service")
            .and_then(Value::as_array)
            .ok_or("service is not an array")?
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect();
        let expires = params.get("expires").and_then(|e| {
            e.as_u64()
                .or_else(|| e.as_f64().filter(|f| *f > 0.0).map(|f| f as u64))
                .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
        });
        let session_id = params
            .get("sessionId")
            .and_then(|s| {
                s.as_str()
                    .map(str::to_owned)
                    .or_else(|| s.as_u64().map(|n| n.to_string()))
            })
            .map(Secret::new);
        if hmac && session_id.is_none() {
            return Err("no sessionId for an HMAC session".into());
        }
        let turn_credentials = params.get("turnCredentials").and_then(|t| {
            Some(TurnCredentials {
                username: Secret::new(t.get("username")?.as_str()?),
                password: Secret::new(t.get("password")?.as_str()?),
            })
        });
        let truthy_str = |k: &str| {
            params
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Ok(Subscription {
            url: url.to_owned(),
            notification_channel: SecretPath::new(channel),
            expires: expires.filter(|e| *e > 0),
            service: received.clone(),
            services_info: ServicesInfo::compute(requested, &received),
            session_id,
            turn_credentials,
            localization: truthy_str("localization"),
            use_turn: params
                .get("useTurn")
                .and_then(Value::as_bool)
                .filter(|b| *b),
            notification_type: truthy_str("notificationType"),
            token: resp.get("token").and_then(Value::as_str).map(Secret::new),
            params: SecretJson(Value::Object(params.clone())),
        })
    }
}

/// `{"subscribeRequest": ...}`: a struct, so fields go on the wire in the
/// order the JS SDK sends them, whatever the JSON map type.
#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "subscribeRequest")]
    subscribe_request: SubscribeRequest<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SubscribeRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<u64>,
    service: &'a [String],
    localization: &'a str,
    use_turn: bool,
    notification_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    supported: Option<[&'static str; 1]>,
}

/// The subscribe body.
pub(crate) fn subscribe_body(config: &Config, services: &[String]) -> String {
    let s = &config.authentication.subscription;
    serde_json::to_string(&Envelope {
        subscribe_request: SubscribeRequest {
            expires: Some(s.expires),
            service: services,
            localization: non_empty(&s.localization, "English_US"),
            use_turn: s.use_turn,
            notification_type: non_empty(&s.notification_type, "WebSocket"),
            supported: Some(["RingingFeedback"]),
        },
    })
    .unwrap_or_default()
}

/// The refresh / update body: the granted `expires` (omitted if the gateway
/// never sent one), the services, and the echoed settings. No `supported`.
pub(crate) fn refresh_body(config: &Config, sub: &Subscription, services: &[String]) -> String {
    let s = &config.authentication.subscription;
    serde_json::to_string(&Envelope {
        subscribe_request: SubscribeRequest {
            expires: sub.expires,
            service: services,
            localization: sub
                .localization
                .as_deref()
                .unwrap_or(non_empty(&s.localization, "English_US")),
            use_turn: sub.use_turn.unwrap_or(s.use_turn),
            notification_type: sub
                .notification_type
                .as_deref()
                .unwrap_or(non_empty(&s.notification_type, "WebSocket")),
            supported: None,
        },
    })
    .unwrap_or_default()
}

fn non_empty<'a>(v: &'a str, default: &'a str) -> &'a str {
    if v.is_empty() {
        default
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn services_info_statuses() {
        let req = s(&["call", "IM", "presence"]);
        assert_eq!(
            ServicesInfo::compute(&req, &s(&["CALL", "im", "Presence"])).status,
            SubscriptionStatus::Full
        );
        let p = ServicesInfo::compute(&req, &s(&["call"]));
        assert_eq!(p.status, SubscriptionStatus::Partial);
        assert_eq!(p.missing, s(&["IM", "presence"]));
        assert_eq!(p.services.get("IM"), Some(&false));
        assert_eq!(
            ServicesInfo::compute(&req, &[]).status,
            SubscriptionStatus::None
        );
        assert_eq!(
            ServicesInfo::compute(&s(&["call"]), &s(&["call", "IM"])).status,
            SubscriptionStatus::Unknown
        );
    }

    #[test]
    fn parse_rejects_what_4_8_0_would_crash_on() {
        let req = s(&["call"]);
        assert!(Subscription::parse(&json!({}), &req, false).is_err());
        assert!(Subscription::parse(
            &json!({"subscribeResponse": {"subscription": "/s", "subscriptionParams": {"notificationChannel": "/n"}}}),
            &req,
            false
        )
        .unwrap_err()
        .contains("service"));
        assert!(Subscription::parse(
            &json!({"subscribeResponse": {"subscription": "/s", "subscriptionParams": {"notificationChannel": "/n", "service": ["call"]}}}),
            &req,
            true
        )
        .unwrap_err()
        .contains("sessionId"));
        let ok = Subscription::parse(
            &json!({"subscribeResponse": {"subscription": "/s", "subscriptionParams": {"notificationChannel": "/n", "service": ["call"], "expires": "120", "extra": 1}}}),
            &req,
            false,
        )
        .unwrap();
        assert_eq!(ok.expires, Some(120));
    }
}
