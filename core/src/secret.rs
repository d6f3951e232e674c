//! Keeping secrets out of logs and recordings.
//!
//! Passwords, tokens, `Authorization`/`x-token`/`x-session` values, tokens in
//! URLs, TURN credentials and the notification channel path (the socket's
//! only credential) are replaced by the stable placeholder [`REDACTED`]
//! whenever a value is serialized or formatted with `Debug`, unless the code
//! doing so runs inside [`with_secrets_exposed`].
//!
//! The placeholder is the same for every secret, so a recording replays to
//! effects that compare equal once both sides are redacted: the replayed
//! client computes `basic <b64("alice:[redacted]")>` where the live one had
//! the real password, and both serialize to `[redacted]`. Shapes are kept
//! where the core checks them (a redacted channel path is still a path), so a
//! redacted recording replays down the same code paths.
//!
//! The opt-in is scoped to one closure on one thread: it is a serialization
//! switch, not state of the client, and never changes what the core does.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::cell::Cell;
use std::fmt;

/// What every secret becomes when redacted.
pub const REDACTED: &str = "[redacted]";

/// What a redacted URL path becomes (still a path, so it parses as one).
pub const REDACTED_PATH: &str = "/[redacted]";

thread_local! {
    static EXPOSE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with secrets serialized in clear on this thread: the user's
/// explicit opt-in, e.g. a recording made for a private debugging session.
pub fn with_secrets_exposed<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            EXPOSE.with(|e| e.set(self.0));
        }
    }
    let _reset = Reset(EXPOSE.with(|e| e.replace(true)));
    f()
}

/// Whether secrets are currently serialized in clear on this thread.
pub fn secrets_exposed() -> bool {
    EXPOSE.with(|e| e.get())
}

/// A string that must not reach logs or recordings.
///
/// `Debug` always prints the placeholder; `Serialize` does unless inside
/// [`with_secrets_exposed`]. The only way to read it is [`Secret::expose`],
/// which makes every use site easy to audit.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value in clear. Use it only to put it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if secrets_exposed() {
            s.serialize_str(&self.0)
        } else {
            s.serialize_str(REDACTED)
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A URL path that is itself a credential (the notification channel).
/// Redacted to [`REDACTED_PATH`] so it stays a valid path.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct SecretPath(String);

impl SecretPath {
    /// Wraps a path.
    pub fn new(value: impl Into<String>) -> Self {
        SecretPath(value.into())
    }
    /// The path in clear, to build the URL with.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED_PATH)
    }
}

impl Serialize for SecretPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if secrets_exposed() {
            s.serialize_str(&self.0)
        } else {
            s.serialize_str(REDACTED_PATH)
        }
    }
}

impl<'de> Deserialize<'de> for SecretPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretPath)
    }
}

/// A JSON value that may hold credentials (a gateway response kept
/// verbatim): serialized and `Debug`-printed with [`redact_json_value`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretJson(pub Value);

impl fmt::Debug for SecretJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut copy = self.0.clone();
        if !secrets_exposed() {
            redact_json_value(&mut copy);
        }
        write!(f, "{copy}")
    }
}

impl Serialize for SecretJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_json_value(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for SecretJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(SecretJson)
    }
}

/// Header names whose values are credentials (compared case-insensitively).
pub const SECRET_HEADERS: &[&str] = &["authorization", "x-token", "x-session", "cookie"];

/// Query parameters whose values are credentials.
pub const SECRET_QUERY_PARAMS: &[&str] = &["token", "access_token", "refresh_token"];

/// JSON keys (at any depth) whose values are credentials, in request and
/// response bodies. `notificationChannel` keeps a path shape.
pub const SECRET_JSON_KEYS: &[&str] = &[
    "password",
    "credential",
    "sessionId",
    "token",
    "access_token",
    "refresh_token",
    "accessToken",
    "refreshToken",
    "oauthToken",
    "hmacToken",
    "notificationChannel",
];

/// Whether a header's value must be redacted.
pub fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// The URL with the values of credential query parameters redacted. With
/// `redact_path` the whole path is redacted too (a WebSocket URL, whose path
/// is the notification channel).
pub fn redact_url(url: &str, redact_path: bool) -> String {
    if secrets_exposed() {
        return url.to_owned();
    }
    let (before_query, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = if redact_path {
        // Keep scheme and authority: `wss://host:443` + placeholder.
        let authority_end = before_query
            .find("://")
            .map(|i| i + 3)
            .and_then(|start| before_query[start..].find('/').map(|j| start + j))
            .unwrap_or(before_query.len());
        format!("{}{}", &before_query[..authority_end], REDACTED_PATH)
    } else {
        before_query.to_owned()
    };
    if let Some(q) = query {
        out.push('?');
        let parts: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if SECRET_QUERY_PARAMS.contains(&k) => format!("{k}={REDACTED}"),
                _ => kv.to_owned(),
            })
            .collect();
        out.push_str(&parts.join("&"));
    }
    out
}

/// A JSON text with the values under [`SECRET_JSON_KEYS`] redacted, and the
/// `turnCredentials` object emptied of its values. Text that is not JSON is
/// returned unchanged: it cannot hold a keyed secret the core would read.
pub fn redact_json_text(text: &str) -> String {
    if secrets_exposed() {
        return text.to_owned();
    }
    match serde_json::from_str::<Value>(text) {
        Ok(mut v) => {
            if redact_json_value(&mut v) {
                v.to_string()
            } else {
                text.to_owned()
            }
        }
        Err(_) => text.to_owned(),
    }
}

/// Redacts secrets in place; returns whether anything changed.
pub fn redact_json_value(v: &mut Value) -> bool {
    let mut changed = false;
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if k == "notificationChannel" {
                    if val.is_string() {
                        *val = Value::String(REDACTED_PATH.to_owned());
                        changed = true;
                    }
                } else if k == "turnCredentials" {
                    if let Value::Object(tc) = val {
                        for (_, inner) in tc.iter_mut() {
                            *inner = Value::String(REDACTED.to_owned());
                        }
                        changed = true;
                    }
                } else if SECRET_JSON_KEYS.contains(&k.as_str()) && !val.is_null() {
                    if val.is_string() || val.is_number() {
                        *val = Value::String(REDACTED.to_owned());
                        changed = true;
                    } else {
                        changed |= redact_json_value(val);
                    }
                } else {
                    changed |= redact_json_value(val);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                changed |= redact_json_value(item);
            }
        }
        _ => {}
    }
    changed
}

/// Serializes a string field that holds a JSON body with its secrets redacted.
pub(crate) fn serialize_json_text<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_json_text(text))
}

/// Serializes an optional JSON body with its secrets redacted.
pub(crate) fn serialize_opt_json_text<S: Serializer>(
    text: &Option<String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match text {
        Some(t) => s.serialize_some(&redact_json_text(t)),
        None => s.serialize_none(),
    }
}

/// Serializes a JSON value with its secrets redacted.
pub(crate) fn serialize_json_value<S: Serializer>(v: &Value, s: S) -> Result<S::Ok, S::Error> {
    if secrets_exposed() {
        return v.serialize(s);
    }
    let mut copy = v.clone();
    redact_json_value(&mut copy);
    copy.serialize(s)
}

/// Serializes headers with credential values redacted.
pub(crate) fn serialize_headers<S: Serializer>(
    headers: &[(String, String)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(headers.len()))?;
    for (k, v) in headers {
        if is_secret_header(k) && !secrets_exposed() {
            seq.serialize_element(&(k, REDACTED))?;
        } else {
            seq.serialize_element(&(k, v))?;
        }
    }
    seq.end()
}

/// Serializes a REST URL with credential query parameters redacted.
pub(crate) fn serialize_rest_url<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(url, false))
}

/// Serializes a WebSocket URL with its channel path and tokens redacted.
pub(crate) fn serialize_ws_url<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(url, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted_unless_exposed() {
        let s = Secret::new("hunter2");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[redacted]\"");
        assert_eq!(format!("{s:?}"), "[redacted]");
        let clear = with_secrets_exposed(|| serde_json::to_string(&s).unwrap());
        assert_eq!(clear, "\"hunter2\"");
        // The opt-in ends with the closure.
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[redacted]\"");
    }

    #[test]
    fn urls_keep_their_shape() {
        assert_eq!(
            redact_url(
                "https://h:443/rest/version/1/user/a/subscription?token=abc&x=1",
                false
            ),
            "https://h:443/rest/version/1/user/a/subscription?token=[redacted]&x=1"
        );
        assert_eq!(
            redact_url(
                "wss://h:443/rest/version/1/notification/xyz?access_token=t",
                true
            ),
            "wss://h:443/[redacted]?access_token=[redacted]"
        );
    }

    #[test]
    fn json_bodies_lose_their_secrets_but_keep_their_shape() {
        let body = r#"{"subscribeResponse":{"subscription":"/s/1","subscriptionParams":{"notificationChannel":"/n/secret","sessionId":"S","turnCredentials":{"username":"u","password":"p"},"expires":60}}}"#;
        let red = redact_json_text(body);
        assert!(!red.contains("/n/secret") && !red.contains("\"S\"") && !red.contains("\"p\""));
        assert!(red.contains("\"/[redacted]\"") && red.contains("\"expires\":60"));
        assert_eq!(redact_json_text("not json"), "not json");
    }
}
