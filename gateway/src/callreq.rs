//! Parsing and validation of call request bodies (02-calls §2, §7.7):
//! the `callControlRequest` / `callMeRequest` / `callDispositionRequest`
//! wrappers, SDP sanity checks and destination addresses.
//!
//! Every check is linear in the request's own size and touches no state,
//! so the handlers in `calls.rs` can validate before they change anything.

use serde_json::{Map, Value};

use crate::codes;
use crate::error::ApiError;

/// 400 `{"callControlResponse":{"statusCode":5}}`: the body is not what
/// the endpoint takes ("Invalid or missing request body" on the client).
pub(crate) fn invalid_body(reason: impl Into<String>) -> ApiError {
    ApiError::new(400, codes::CALL_INVALID_BODY, reason)
}

/// 404 `{"callControlResponse":{"statusCode":42}}`: no such leg for this
/// user; the client stops auditing on it.
pub(crate) fn unknown_session() -> ApiError {
    ApiError::new(
        404,
        codes::CALL_UNKNOWN_SESSION,
        "no such call session for this user",
    )
}

/// 409 `{"callControlResponse":{"statusCode":1004}}`: the request does not
/// fit the leg's (or call's) state.
pub(crate) fn wrong_state(reason: impl Into<String>) -> ApiError {
    ApiError::new(409, codes::CALL_BAD_REQUEST, reason)
}

/// 400 `{"callControlResponse":{"statusCode":1004}}`: malformed SDP or
/// address.
pub(crate) fn malformed(reason: impl Into<String>) -> ApiError {
    ApiError::new(400, codes::CALL_BAD_REQUEST, reason)
}

/// Parses `{"<wrapper>":{...}}`, accepting any of `names` as the wrapper,
/// and returns the inner object. Unknown fields are kept (and ignored by
/// the handlers).
pub(crate) fn parse_wrapped(body: &[u8], names: &[&str]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid_body("missing body"));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|_| invalid_body("body is not JSON"))?;
    let Value::Object(mut outer) = value else {
        return Err(invalid_body("body is not a JSON object"));
    };
    for name in names {
        match outer.remove(*name) {
            Some(Value::Object(inner)) => return Ok(inner),
            Some(_) => return Err(invalid_body(format!("{name} is not an object"))),
            None => {}
        }
    }
    Err(invalid_body(format!(
        "missing {} object",
        names.join(" or ")
    )))
}

/// A required string field: missing, `null`, empty or not a string is 400/5
/// (§7.7: "required field missing").
pub(crate) fn required_str<'a>(
    m: &'a Map<String, Value>,
    field: &str,
) -> Result<&'a str, ApiError> {
    match m.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err(invalid_body(format!("missing {field}")))
        }
        Some(_) => Err(invalid_body(format!("{field} must be a string"))),
    }
}

/// An optional string field (absent, `null` or empty → `None`; another
/// type is 400/5).
pub(crate) fn optional_str<'a>(
    m: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, ApiError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok((!s.is_empty()).then_some(s.as_str())),
        Some(_) => Err(invalid_body(format!("{field} must be a string"))),
    }
}

/// The request's `sdp`: required (400/5 when missing or not a string) and
/// sane (400/1004 otherwise, see [`check_sdp`]).
pub(crate) fn required_sdp(m: &Map<String, Value>, max_bytes: usize) -> Result<String, ApiError> {
    let sdp = required_str(m, "sdp")?;
    check_sdp(sdp, max_bytes).map_err(|why| malformed(format!("malformed SDP: {why}")))?;
    Ok(sdp.to_owned())
}

/// The SDP checks of 02-calls §7.7, which protect the *receiving* 4.8.0
/// client: its classifier crashes on an m-section without `a=mid` or an
/// explicit direction (§4.6.3), and a browser refuses an SDP without DTLS
/// fingerprint or ICE credentials. Firefox puts `a=fingerprint` at session
/// level, so fingerprint and `ice-ufrag` may be at either level; this
/// checks that each occurs somewhere. Line ends may be CRLF or LF.
///
/// The SDP is otherwise relayed verbatim (§7.5): no rewriting.
pub(crate) fn check_sdp(sdp: &str, max_bytes: usize) -> Result<(), &'static str> {
    if sdp.len() > max_bytes {
        return Err("too large");
    }
    if !(sdp.starts_with("v=0\r\n") || sdp.starts_with("v=0\n") || sdp == "v=0") {
        return Err("does not start with v=0");
    }
    if sdp.contains('\0') {
        return Err("contains NUL");
    }
    let mut sections = 0usize;
    // Per current m-section: (has mid, has direction).
    let mut current: Option<(bool, bool)> = None;
    let (mut fingerprint, mut ufrag) = (false, false);
    for line in sdp.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with("m=") {
            if let Some((mid, dir)) = current {
                if !mid {
                    return Err("an m-section has no a=mid");
                }
                if !dir {
                    return Err("an m-section has no direction attribute");
                }
            }
            sections += 1;
            current = Some((false, false));
        } else if line.starts_with("a=fingerprint:") {
            fingerprint = true;
        } else if line.starts_with("a=ice-ufrag:") {
            ufrag = true;
        } else if let Some((mid, dir)) = current.as_mut() {
            if line.starts_with("a=mid:") {
                *mid = true;
            } else if matches!(
                line,
                "a=sendrecv" | "a=sendonly" | "a=recvonly" | "a=inactive"
            ) {
                *dir = true;
            }
        }
    }
    match current {
        None => return Err("no m= line"),
        Some((false, _)) => return Err("an m-section has no a=mid"),
        Some((_, false)) => return Err("an m-section has no direction attribute"),
        Some(_) => {}
    }
    debug_assert!(sections > 0);
    if !fingerprint {
        return Err("no a=fingerprint");
    }
    if !ufrag {
        return Err("no a=ice-ufrag");
    }
    Ok(())
}

/// A destination or identity as the client writes it (`to`, `address`,
/// `from`; 02-calls §2.1, §2.5, §2.12, §2.16).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Address {
    /// `Alice Smith` of `Alice Smith<sip:alice@example.com>`.
    pub(crate) display: Option<String>,
    /// The user part (`alice`, `+16135550100`).
    pub(crate) user: String,
    /// The domain, if the address had one.
    pub(crate) domain: Option<String>,
}

impl Address {
    /// `user@domain`, the domain defaulting to `default_domain` (a bare
    /// user is resolved in the caller's domain, §7.3).
    pub(crate) fn qualified(&self, default_domain: &str) -> String {
        match &self.domain {
            Some(d) => format!("{}@{d}", self.user),
            None if default_domain.is_empty() => self.user.clone(),
            None => format!("{}@{default_domain}", self.user),
        }
    }
}

/// Parses `[Name]<scheme:user@domain>` or `scheme:user@domain` or
/// `user@domain` or `user`. The scheme (`sip:`, `sips:`, `tel:`, any case)
/// and URI parameters/headers (`;...`, `?...`) are dropped. Refuses empty
/// parts, whitespace or angle brackets inside the URI, and more than one
/// `@`: such a string cannot name anybody (→ 400/1004).
pub(crate) fn parse_address(raw: &str) -> Option<Address> {
    const MAX: usize = 512;
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > MAX {
        return None;
    }
    let (display, uri) = match raw.find('<') {
        Some(open) => {
            let inner = raw[open + 1..].strip_suffix('>')?;
            let name = raw[..open].trim().trim_matches('"').trim();
            ((!name.is_empty()).then(|| name.to_owned()), inner.trim())
        }
        None => (None, raw),
    };
    let lower = uri.to_ascii_lowercase();
    let uri = ["sips:", "sip:", "tel:"]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map_or(uri, |p| &uri[p.len()..]);
    let uri = uri.split([';', '?']).next().unwrap_or_default();
    if uri.is_empty()
        || uri
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ','))
    {
        return None;
    }
    let (user, domain) = match uri.split_once('@') {
        Some((u, d)) => {
            if u.is_empty() || d.is_empty() || d.contains('@') {
                return None;
            }
            (u, Some(d.to_owned()))
        }
        None => (uri, None),
    };
    if user.contains(':') {
        return None;
    }
    Some(Address {
        display,
        user: user.to_owned(),
        domain,
    })
}

/// Digits of a telephone-number-looking user part (`+1 (613) 555-0100` →
/// `16135550100`), or `None` when it has anything but digits and visual
/// separators. Used to resolve `tel:` destinations through the users'
/// `phoneNumbers`.
pub(crate) fn phone_digits(s: &str) -> Option<String> {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let only_phone_chars = s
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')'));
    (only_phone_chars && !digits.is_empty()).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 AA\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:x\r\na=mid:0\r\na=sendrecv\r\n";

    #[test]
    fn sdp_checks() {
        assert_eq!(check_sdp(OK, 10_000), Ok(()));
        assert_eq!(check_sdp(&OK.replace("\r\n", "\n"), 10_000), Ok(()));
        assert_eq!(check_sdp(OK, 10), Err("too large"));
        assert!(check_sdp("", 100).is_err());
        assert!(check_sdp("v=1\r\n", 100).is_err());
        assert!(check_sdp("v=0x", 100).is_err());
        assert_eq!(check_sdp("v=0\r\ns=-\r\n", 100), Err("no m= line"));
        assert!(check_sdp(&OK.replace("a=mid:0\r\n", ""), 1000).is_err());
        assert!(check_sdp(&OK.replace("a=sendrecv\r\n", ""), 1000).is_err());
        assert!(check_sdp(&OK.replace("a=fingerprint:sha-256 AA\r\n", ""), 1000).is_err());
        assert!(check_sdp(&OK.replace("a=ice-ufrag:x\r\n", ""), 1000).is_err());
        // A second section without a direction is caught too.
        let two = format!("{OK}m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n");
        assert!(check_sdp(&two, 1000).is_err());
        let two = format!("{OK}m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=inactive\r\n");
        assert_eq!(check_sdp(&two, 1000), Ok(()));
        // Media-level fingerprint, session-level ufrag: fine.
        let moved = OK
            .replace("a=fingerprint:sha-256 AA\r\n", "a=ice-ufrag:s\r\n")
            .replace("a=ice-ufrag:x\r\n", "a=fingerprint:sha-256 BB\r\n");
        assert_eq!(check_sdp(&moved, 1000), Ok(()));
    }

    #[test]
    fn addresses() {
        let a = parse_address("Alice Smith<sip:alice@example.com>").expect("addr");
        assert_eq!(a.display.as_deref(), Some("Alice Smith"));
        assert_eq!(a.qualified("x"), "alice@example.com");
        let b = parse_address("sip:bob@other.org;transport=ws").expect("addr");
        assert_eq!(b.qualified("x"), "bob@other.org");
        assert_eq!(
            parse_address("carol")
                .expect("addr")
                .qualified("example.com"),
            "carol@example.com"
        );
        assert_eq!(
            parse_address("SIPS:carol@example.com")
                .expect("addr")
                .qualified(""),
            "carol@example.com"
        );
        assert_eq!(
            parse_address("tel:+16135550100").expect("addr").user,
            "+16135550100"
        );
        for bad in [
            "",
            "   ",
            "sip:",
            "@x",
            "a@",
            "a@b@c",
            "a b@c",
            "Name<sip:a@b",
            "<>",
            "a<b>c",
            "sip:a:b@c",
        ] {
            assert_eq!(parse_address(bad), None, "{bad:?}");
        }
        assert_eq!(
            phone_digits("+1 (613) 555-0100").as_deref(),
            Some("16135550100")
        );
        assert_eq!(phone_digits("bob"), None);
        assert_eq!(phone_digits("+"), None);
    }

    #[test]
    fn wrappers_and_fields() {
        let m = parse_wrapped(
            br#"{"callControlRequest":{"type":"ringing"}}"#,
            &["callControlRequest"],
        )
        .expect("ok");
        assert_eq!(required_str(&m, "type").ok(), Some("ringing"));
        assert_eq!(required_str(&m, "to").map_err(|e| e.code), Err(5));
        for bad in [
            &b""[..],
            b"x",
            b"[]",
            br#"{"other":{}}"#,
            br#"{"callControlRequest":1}"#,
        ] {
            assert_eq!(
                parse_wrapped(bad, &["callControlRequest"]).map_err(|e| (e.status, e.code)),
                Err((400, 5))
            );
        }
        let m = parse_wrapped(
            br#"{"callMeRequest":{"sdp":1,"from":""}}"#,
            &["callControlRequest", "callMeRequest"],
        )
        .expect("ok");
        assert_eq!(required_sdp(&m, 100).map_err(|e| e.code), Err(5));
        assert_eq!(optional_str(&m, "from").ok(), Some(None));
        let m = parse_wrapped(br#"{"x":{"sdp":"v=0\r\n"}}"#, &["x"]).expect("ok");
        assert_eq!(
            required_sdp(&m, 100).map_err(|e| (e.status, e.code)),
            Err((400, 1004))
        );
    }
}
