//! Building REST requests and reading their responses, the same way for
//! every feature.

use serde_json::Value;

use crate::config::Config;
use crate::effect::{HttpRequest, Method};
use crate::input::{HttpOutcome, RequestId};
use crate::secret::Secret;

/// How a request authenticates. Chosen at connect; the HMAC token becomes a
/// session id once the subscription grants one.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthCarrier {
    /// `authorization: basic <b64>` (the header value, complete).
    Basic(Secret),
    /// `x-token: <hmac>`, on the subscribe request only.
    HmacToken(Secret),
    /// `x-session: <sessionId>` after an HMAC subscribe.
    Session(Secret),
    /// Query `token=<access token>`.
    AccessToken(Secret),
    /// `authorization: Bearer <token>`.
    Bearer(Secret),
}

/// `{protocol}://{host}:{port}` with an IPv6 host bracketed. The port is
/// always explicit, as the JS SDK writes it.
pub(crate) fn origin(protocol: &str, host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("{protocol}://[{host}]:{port}")
    } else {
        format!("{protocol}://{host}:{port}")
    }
}

/// Characters escaped in a user name placed in a path. `@` stays as is (the
/// JS SDK inserts the name raw and gateways expect `alice@example.com`).
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
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
    .add(b'}');

/// A user name made safe for one path segment.
pub(crate) fn path_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, PATH_SEGMENT).to_string()
}

/// Query-string value encoding (strict: only unreserved characters stay).
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Appends `key=value` pairs (already in order) to a URL.
pub(crate) fn with_query<'a>(
    url: &str,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut out = url.to_owned();
    let mut sep = if url.contains('?') { '&' } else { '?' };
    for (k, v) in pairs {
        out.push(sep);
        out.push_str(&percent_encoding::utf8_percent_encode(k, QUERY_VALUE).to_string());
        out.push('=');
        out.push_str(&percent_encoding::utf8_percent_encode(v, QUERY_VALUE).to_string());
        sep = '&';
    }
    out
}

/// A REST request with the common headers (`content-type`, `accept`, the
/// agent) and the session's credential.
pub(crate) fn request(
    config: &Config,
    id: RequestId,
    method: Method,
    url: &str,
    auth: Option<&AuthCarrier>,
    body: Option<String>,
) -> HttpRequest {
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("accept".to_owned(), "application/json".to_owned()),
    ];
    if !config.http.agent.is_empty() {
        headers.push(("x-cpaas-agent".to_owned(), config.http.agent.clone()));
    }
    let mut url = url.to_owned();
    match auth {
        Some(AuthCarrier::Basic(v)) => {
            headers.push(("authorization".into(), v.expose().to_owned()))
        }
        Some(AuthCarrier::HmacToken(t)) => headers.push(("x-token".into(), t.expose().to_owned())),
        Some(AuthCarrier::Session(s)) => headers.push(("x-session".into(), s.expose().to_owned())),
        Some(AuthCarrier::Bearer(t)) => {
            headers.push(("authorization".into(), format!("Bearer {}", t.expose())))
        }
        Some(AuthCarrier::AccessToken(t)) => url = with_query(&url, [("token", t.expose())]),
        None => {}
    }
    HttpRequest {
        id,
        method,
        url,
        headers,
        body,
    }
}

/// A response read the way every feature reads it.
#[derive(Debug)]
pub(crate) enum Reply {
    /// 2xx. `body` is the parsed JSON, or `Null` when there was none.
    Success { body: Value },
    /// Non-2xx. `body` as above.
    Failure { status: u16, body: Value },
    /// No usable response: transport failure, or a body that claims to be
    /// JSON but is not.
    Transport(String),
}

/// Classifies an outcome. Unlike 4.8.0, which checks for the exact
/// substring `application/json` and then crashes on bodies it did not
/// expect, this parses any body that says it is JSON or looks like it, and
/// leaves every shape check to the caller.
pub(crate) fn classify(outcome: &HttpOutcome) -> Reply {
    match outcome {
        HttpOutcome::Failed { message, .. } => Reply::Transport(message.clone()),
        HttpOutcome::Response(r) => {
            let claims_json = r
                .content_type
                .as_deref()
                .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
            let trimmed = r.body.trim_start();
            let looks_json = trimmed.starts_with('{') || trimmed.starts_with('[');
            let body = if r.status == 204 || trimmed.is_empty() {
                Value::Null
            } else if claims_json || looks_json {
                match serde_json::from_str(&r.body) {
                    Ok(v) => v,
                    Err(e) if claims_json => {
                        return Reply::Transport(format!(
                            "invalid JSON in HTTP {} response: {e}",
                            r.status
                        ))
                    }
                    Err(_) => Value::Null,
                }
            } else {
                Value::Null
            };
            if (200..300).contains(&r.status) {
                Reply::Success { body }
            } else {
                Reply::Failure {
                    status: r.status,
                    body,
                }
            }
        }
    }
}

/// `statusCode` inside the wrapper object `wrapper`, or at the top level.
pub(crate) fn status_code(body: &Value, wrapper: &str) -> Option<i64> {
    body.get(wrapper)
        .and_then(|w| w.get("statusCode"))
        .or_else(|| body.get("statusCode"))
        .and_then(|c| {
            c.as_i64()
                .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{HttpResponse, TransportFailure};

    fn resp(status: u16, ct: Option<&str>, body: &str) -> HttpOutcome {
        HttpOutcome::Response(HttpResponse {
            status,
            content_type: ct.map(str::to_owned),
            body: body.to_owned(),
        })
    }

    #[test]
    fn classification() {
        assert!(
            matches!(classify(&resp(200, Some("application/json; charset=UTF-8"), "{\"a\":1}")),
            Reply::Success { body, .. } if body["a"] == 1)
        );
        assert!(matches!(
            classify(&resp(204, None, "")),
            Reply::Success {
                body: Value::Null,
                ..
            }
        ));
        assert!(matches!(
            classify(&resp(403, Some("text/html"), "<html>")),
            Reply::Failure {
                status: 403,
                body: Value::Null
            }
        ));
        assert!(matches!(
            classify(&resp(500, Some("Application/JSON"), "{oops")),
            Reply::Transport(_)
        ));
        assert!(
            matches!(classify(&resp(401, None, "{\"statusCode\":4}")), Reply::Failure { body, .. } if status_code(&body, "x") == Some(4))
        );
        assert!(
            matches!(classify(&HttpOutcome::failed(TransportFailure::Connect, "refused")), Reply::Transport(m) if m == "refused")
        );
    }

    #[test]
    fn urls() {
        assert_eq!(origin("https", "::1", 443), "https://[::1]:443");
        assert_eq!(path_segment("alice@example.com"), "alice@example.com");
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(
            with_query("/x", [("token", "a+b"), ("z", "1")]),
            "/x?token=a%2Bb&z=1"
        );
    }
}
