//! Plain-data HTTP request/response types and the helpers every endpoint
//! shares: case-insensitive headers, query parsing, JSON bodies and CORS.
//!
//! The model never sees a socket: the driver (a hyper server, a test, the
//! transport mock) turns whatever it received into an [`HttpRequest`] and
//! writes the [`HttpResponse`] back verbatim.

use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One HTTP request as the driver received it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// The method, e.g. `POST` (matched case-insensitively).
    pub method: String,
    /// The request target in origin form (`/rest/...?...`); an absolute
    /// form (`http://host/rest/...`) is tolerated.
    pub path_and_query: String,
    /// Header name/value pairs in arrival order; names are matched
    /// case-insensitively (browsers lower-case them, 01-session §2.1).
    pub headers: Vec<(String, String)>,
    /// The raw body; may be empty, oversized or not UTF-8.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A request without headers or body.
    pub fn new(method: impl Into<String>, path_and_query: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            path_and_query: path_and_query.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header (builder style).
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the raw body (builder style).
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and the `content-type` the SDK always sends.
    #[must_use]
    pub fn with_json(self, body: &Value) -> Self {
        self.with_header("content-type", "application/json")
            .with_body(body.to_string())
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The path part of the target (no query), absolute forms reduced to
    /// their path.
    pub fn path(&self) -> &str {
        split_target(&self.path_and_query).0
    }

    /// The query part of the target, without `?`.
    pub fn query(&self) -> Option<&str> {
        split_target(&self.path_and_query).1
    }
}

/// One HTTP response, to be written back as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header name/value pairs (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body (JSON for everything but the CORS preflight).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A JSON response with `content-type: application/json` (01-session
    /// §11.1: anything else reads as an empty object on the client).
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: body.to_string().into_bytes(),
        }
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub(crate) fn set_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.into()));
    }
}

/// Case-insensitive header lookup; the first occurrence wins; the value is
/// trimmed of surrounding whitespace.
pub(crate) fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// Splits a request target into path and query. An absolute form
/// (`scheme://authority/path`) is reduced to its path; a fragment is dropped.
pub(crate) fn split_target(target: &str) -> (&str, Option<&str>) {
    let target = target.split('#').next().unwrap_or("");
    let target = match target.find("://") {
        Some(i) if !target[..i].contains('/') && !target[..i].contains('?') => {
            let rest = &target[i + 3..];
            match rest.find(['/', '?']) {
                Some(j) => &rest[j..],
                None => "/",
            }
        }
        _ => target,
    };
    match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    }
}

/// The first value of a query parameter, percent-decoded. `+` is kept as is:
/// the SDKs encode strictly (03-services §0.1) and tokens may contain `+`.
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode_str(k).decode_utf8_lossy() == name)
            .then(|| percent_decode_str(v).decode_utf8_lossy().into_owned())
    })
}

/// The CORS headers of one exchange (01-session §11.1, 04 §4.1 item 8).
///
/// Browser apps are always cross-origin to the gateway, so every request is
/// preflighted, and an error response without `Access-Control-Allow-Origin`
/// is hidden from the SDK (it then reports a transport error instead of the
/// gateway's code). Hence the origin header goes on every response.
#[derive(Clone, Debug)]
pub(crate) struct Cors {
    origin: Option<String>,
}

/// Named explicitly: the `*` wildcard never covers `Authorization`.
const DEFAULT_ALLOW_HEADERS: &str =
    "authorization, content-type, accept, x-token, x-session, x-cpaas-agent";
const ALLOW_METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS";

impl Cors {
    pub(crate) fn from_headers(headers: &[(String, String)]) -> Self {
        let origin = find_header(headers, "origin")
            .filter(|o| !o.is_empty() && is_safe_header_value(o))
            .map(str::to_owned);
        Self { origin }
    }

    /// Adds `Access-Control-Allow-Origin` (and `Vary: Origin` when echoing).
    pub(crate) fn apply(&self, resp: &mut HttpResponse) {
        match &self.origin {
            Some(origin) => {
                resp.set_header("access-control-allow-origin", origin.clone());
                resp.set_header("vary", "Origin");
            }
            None => resp.set_header("access-control-allow-origin", "*"),
        }
    }

    /// The answer to any `OPTIONS` request: 204, no credentials needed.
    pub(crate) fn preflight(&self, headers: &[(String, String)], max_age_s: u32) -> HttpResponse {
        let allow_headers = find_header(headers, "access-control-request-headers")
            .filter(|h| !h.is_empty() && h.bytes().all(is_header_list_byte))
            .unwrap_or(DEFAULT_ALLOW_HEADERS);
        let mut resp = HttpResponse {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        };
        resp.set_header("access-control-allow-methods", ALLOW_METHODS);
        resp.set_header("access-control-allow-headers", allow_headers);
        resp.set_header("access-control-max-age", max_age_s.to_string());
        self.apply(&mut resp);
        resp
    }
}

/// Whether a value can be echoed into a response header without letting the
/// request inject anything (visible ASCII and spaces only).
fn is_safe_header_value(v: &str) -> bool {
    v.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

/// Bytes allowed in an echoed `Access-Control-Request-Headers` list.
fn is_header_list_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b',' | b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_target_forms() {
        assert_eq!(split_target("/a/b?x=1"), ("/a/b", Some("x=1")));
        assert_eq!(split_target("/a/b"), ("/a/b", None));
        assert_eq!(split_target("http://h:443/a?q"), ("/a", Some("q")));
        assert_eq!(split_target("https://h"), ("/", None));
        assert_eq!(split_target("/a?u=http://x"), ("/a", Some("u=http://x")));
        assert_eq!(split_target(""), ("", None));
        assert_eq!(split_target("/a#frag"), ("/a", None));
    }

    #[test]
    fn query_params_decode_and_first_wins() {
        let q = Some("token=a%2Bb&token=second&access_token=c+d&empty");
        assert_eq!(query_param(q, "token").as_deref(), Some("a+b"));
        assert_eq!(query_param(q, "access_token").as_deref(), Some("c+d"));
        assert_eq!(query_param(q, "empty").as_deref(), Some(""));
        assert_eq!(query_param(q, "missing"), None);
        assert_eq!(query_param(None, "token"), None);
    }

    #[test]
    fn headers_are_case_insensitive() {
        let req = HttpRequest::new("GET", "/").with_header("X-Session", " abc ");
        assert_eq!(req.header("x-session"), Some("abc"));
        assert_eq!(req.header("X-SESSION"), Some("abc"));
    }

    #[test]
    fn cors_does_not_echo_unsafe_values() {
        let cors = Cors::from_headers(&[("origin".into(), "http://a\r\nx: y".into())]);
        let mut resp = HttpResponse::json(200, &Value::Null);
        cors.apply(&mut resp);
        assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
        let pre = cors.preflight(
            &[(
                "access-control-request-headers".into(),
                "x\r\ninjected".into(),
            )],
            600,
        );
        assert_eq!(
            pre.header("access-control-allow-headers"),
            Some(DEFAULT_ALLOW_HEADERS)
        );
    }
}
