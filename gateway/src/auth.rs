//! Credential validation for every `/rest/version/...` endpoint.
//!
//! Carriers (01-session §3, 04 §1.2, §4.1), looked at in this order, the
//! first one present being the only one validated (real clients send exactly
//! one):
//!
//! 1. `x-session: <sessionId>` (HMAC sessions after subscribe), then
//!    `x-token: <hmacToken>`;
//! 2. `Authorization: basic <b64(login:password)>` (scheme matched
//!    case-insensitively; the login may be an authname) or
//!    `Authorization: Bearer <token>`;
//! 3. query `token=<accessToken>`;
//! 4. query `access_token=<token>`.
//!
//! A token carrier accepts any access or OAuth token (Link 4.16 sent bearer
//! tokens under `token=`, 04 §1.1); a refresh token is only good for the
//! token service.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::codes;
use crate::error::ApiError;
use crate::http::{query_param, HttpRequest};
use crate::subscription::SubscriptionId;
use crate::tokens::{TokenKind, TokenLookup};
use crate::Gateway;

/// The message the emulator signs for an HMAC token, as compact JSON with
/// `subscriberId` first.
///
/// This canonical form is the **emulator's choice**: the public docs say the
/// token is an HMAC-SHA1 over `{authenticationTokenRequest:{subscriberId,
/// organizationId}}`, but the exact bytes the real gateway signs are
/// UNCERTAIN (01-session §3, §12). `organizationId` is the part of the
/// username after its last `@` (empty when there is none).
pub fn hmac_message(username: &str) -> String {
    let organization = username.rsplit_once('@').map_or("", |(_, d)| d);
    format!(
        r#"{{"authenticationTokenRequest":{{"subscriberId":{},"organizationId":{}}}}}"#,
        serde_json::Value::from(username),
        serde_json::Value::from(organization)
    )
}

/// The HMAC token of `username`: lower-case hex of HMAC-SHA1 keyed with the
/// user's `hmacSecret` over [`hmac_message`]. For tests and the CLI; the
/// canonical form is the emulator's choice (see [`hmac_message`]).
pub fn hmac_token(secret: &str, username: &str) -> String {
    crate::ids::hex(&hmac_tag(secret, username))
}

fn hmac_tag(secret: &str, username: &str) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    match <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(hmac_message(username).as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Checks a presented HMAC token in constant time (hex, either case).
pub(crate) fn verify_hmac(secret: &str, username: &str, presented: &str) -> bool {
    match decode_hex(presented) {
        Some(bytes) => ct_eq(&bytes, &hmac_tag(secret, username)),
        None => false,
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

/// Constant-time equality (the length is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `Authorization` value the 4.8.0 SDK sends for a login and password
/// (lower-case scheme, standard base64 with padding).
pub fn basic_authorization(login: &str, password: &str) -> String {
    format!("basic {}", STANDARD.encode(format!("{login}:{password}")))
}

/// A credential as carried, before validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Credential {
    Session(String),
    HmacToken(String),
    Basic { login: String, password: String },
    Token(String),
}

fn no_credentials(reason: &str) -> ApiError {
    ApiError::new(401, codes::BAD_CREDENTIALS, reason)
}

/// Picks the first carrier present (module docs) and parses it.
pub(crate) fn extract(req: &HttpRequest) -> Result<Credential, ApiError> {
    if let Some(v) = req.header("x-session") {
        return Ok(Credential::Session(v.to_owned()));
    }
    if let Some(v) = req.header("x-token") {
        return Ok(Credential::HmacToken(v.to_owned()));
    }
    if let Some(v) = req.header("authorization") {
        return parse_authorization(v);
    }
    let query = req.query();
    if let Some(t) = query_param(query, "token").or_else(|| query_param(query, "access_token")) {
        return Ok(Credential::Token(t));
    }
    Err(no_credentials("no credentials"))
}

/// Parses an `Authorization` value: `basic` or `bearer`, any case.
pub(crate) fn parse_authorization(value: &str) -> Result<Credential, ApiError> {
    let (scheme, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let bytes = STANDARD
            .decode(rest)
            .or_else(|_| STANDARD_NO_PAD.decode(rest))
            .map_err(|_| no_credentials("undecodable basic credentials"))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| no_credentials("undecodable basic credentials"))?;
        let (login, password) = text
            .split_once(':')
            .ok_or_else(|| no_credentials("undecodable basic credentials"))?;
        Ok(Credential::Basic {
            login: login.to_owned(),
            password: password.to_owned(),
        })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() {
            return Err(ApiError::new(
                401,
                codes::INVALID_TOKEN,
                "empty bearer token",
            ));
        }
        Ok(Credential::Token(rest.to_owned()))
    } else {
        Err(no_credentials("unsupported authorization scheme"))
    }
}

/// Who a request is from, once its credential checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Principal {
    /// Canonical username (as in the directory).
    pub(crate) user: String,
    pub(crate) via: Via,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    Basic,
    Hmac,
    /// `x-session` naming this subscription.
    Session(SubscriptionId),
    Token,
}

fn bad_password() -> ApiError {
    ApiError::new(401, codes::BAD_PASSWORD, "wrong user name or password")
}

impl Gateway {
    /// Validates a credential. `path_user` is the `{user}` of the request
    /// path; it is needed to verify an HMAC token (which signs the username)
    /// and is otherwise not consulted here (see [`Gateway::authorize_for`]).
    pub(crate) fn authenticate(
        &self,
        now_ms: u64,
        cred: &Credential,
        path_user: Option<&str>,
    ) -> Result<Principal, ApiError> {
        match cred {
            Credential::Basic { login, password } => {
                let user = self.users.by_login(login).ok_or_else(bad_password)?;
                let ok = user
                    .password
                    .as_deref()
                    .is_some_and(|p| ct_eq(p.as_bytes(), password.as_bytes()));
                if !ok {
                    return Err(bad_password());
                }
                Ok(Principal {
                    user: user.username.clone(),
                    via: Via::Basic,
                })
            }
            Credential::HmacToken(token) => {
                let name = path_user.ok_or_else(|| {
                    no_credentials("an HMAC token needs a user in the request path")
                })?;
                let user = self.users.get(name).ok_or_else(ApiError::unknown_user)?;
                let ok = user
                    .hmac_secret
                    .as_deref()
                    .is_some_and(|s| verify_hmac(s, &user.username, token));
                if !ok {
                    return Err(ApiError::new(
                        401,
                        codes::BAD_PASSWORD,
                        "invalid HMAC token",
                    ));
                }
                Ok(Principal {
                    user: user.username.clone(),
                    via: Via::Hmac,
                })
            }
            Credential::Session(session) => {
                let sub = self
                    .subs
                    .by_session(session)
                    .ok_or_else(|| ApiError::new(401, codes::INVALID_TOKEN, "unknown x-session"))?;
                Ok(Principal {
                    user: sub.user.clone(),
                    via: Via::Session(sub.id.clone()),
                })
            }
            Credential::Token(token) => match self.tokens.lookup(token, now_ms) {
                TokenLookup::Valid(rec) if rec.kind != TokenKind::Refresh => Ok(Principal {
                    user: rec.user.clone(),
                    via: Via::Token,
                }),
                TokenLookup::Expired(rec) if rec.kind != TokenKind::Refresh => {
                    Err(ApiError::new(401, codes::TOKEN_EXPIRED, "token expired"))
                }
                _ => Err(ApiError::new(
                    401,
                    codes::INVALID_TOKEN,
                    "unknown or malformed token",
                )),
            },
        }
    }

    /// Checks that `principal` may act as the path's `{user}`: 404 when no
    /// such user exists, 403 when it is someone else. Returns the canonical
    /// username.
    pub(crate) fn authorize_for(
        &self,
        principal: &Principal,
        path_user: &str,
    ) -> Result<String, ApiError> {
        let user = self
            .users
            .get(path_user)
            .ok_or_else(ApiError::unknown_user)?;
        if user.username != principal.user {
            return Err(ApiError::forbidden(format!(
                "{} may not act as {}",
                principal.user, user.username
            )));
        }
        Ok(user.username.clone())
    }

    /// Extracts, validates and authorizes in one go, for endpoints under
    /// `/rest/version/{V}/user/{user}/...`.
    pub(crate) fn authenticate_request(
        &self,
        now_ms: u64,
        req: &HttpRequest,
        path_user: &str,
    ) -> Result<(Principal, String), ApiError> {
        let cred = extract(req)?;
        let principal = self.authenticate(now_ms, &cred, Some(path_user))?;
        let user = self.authorize_for(&principal, path_user)?;
        Ok((principal, user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_message_is_compact_and_ordered() {
        assert_eq!(
            hmac_message("alice@example.com"),
            r#"{"authenticationTokenRequest":{"subscriberId":"alice@example.com","organizationId":"example.com"}}"#
        );
        assert_eq!(
            hmac_message("a\"b"),
            r#"{"authenticationTokenRequest":{"subscriberId":"a\"b","organizationId":""}}"#
        );
    }

    #[test]
    fn hmac_token_is_lower_hex_sha1_and_verifies() {
        let t = hmac_token("alice-secret", "alice@example.com");
        assert_eq!(t.len(), 40);
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert!(verify_hmac("alice-secret", "alice@example.com", &t));
        assert!(verify_hmac(
            "alice-secret",
            "alice@example.com",
            &t.to_ascii_uppercase()
        ));
        assert!(!verify_hmac("other", "alice@example.com", &t));
        assert!(!verify_hmac("alice-secret", "bob@example.com", &t));
        assert!(!verify_hmac("alice-secret", "alice@example.com", "zz"));
        assert!(!verify_hmac("alice-secret", "alice@example.com", "abc"));
        assert!(!verify_hmac("alice-secret", "alice@example.com", "é"));
    }

    #[test]
    fn known_hmac_vector() {
        // RFC 2202 test case 2 exercises the primitive itself.
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(b"Jefe").expect("key");
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            crate::ids::hex(&mac.finalize().into_bytes()),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn authorization_parsing() {
        assert_eq!(
            parse_authorization(&basic_authorization("a@b", "p:q")),
            Ok(Credential::Basic {
                login: "a@b".into(),
                password: "p:q".into()
            })
        );
        assert!(matches!(
            parse_authorization("BASIC YTpi"),
            Ok(Credential::Basic { .. })
        ));
        assert!(matches!(
            parse_authorization("Basic YTpi"),
            Ok(Credential::Basic { .. })
        ));
        assert_eq!(
            parse_authorization("Bearer abc").ok(),
            Some(Credential::Token("abc".into()))
        );
        assert_eq!(
            parse_authorization("basic !!!").map_err(|e| e.code),
            Err(codes::BAD_CREDENTIALS)
        );
        assert_eq!(
            parse_authorization("basic bm9jb2xvbg==").map_err(|e| e.code),
            Err(codes::BAD_CREDENTIALS)
        );
        assert_eq!(
            parse_authorization("Digest x").map_err(|e| e.code),
            Err(codes::BAD_CREDENTIALS)
        );
        assert_eq!(
            parse_authorization("").map_err(|e| e.code),
            Err(codes::BAD_CREDENTIALS)
        );
    }

    #[test]
    fn carrier_precedence() {
        let req = HttpRequest::new("GET", "/x?access_token=a&token=t")
            .with_header("authorization", "Bearer b")
            .with_header("X-Session", "s");
        assert_eq!(extract(&req), Ok(Credential::Session("s".into())));
        let req = HttpRequest::new("GET", "/x?access_token=a&token=t")
            .with_header("authorization", "Bearer b");
        assert_eq!(extract(&req), Ok(Credential::Token("b".into())));
        let req = HttpRequest::new("GET", "/x?access_token=a&token=t");
        assert_eq!(extract(&req), Ok(Credential::Token("t".into())));
        let req = HttpRequest::new("GET", "/x?access_token=a");
        assert_eq!(extract(&req), Ok(Credential::Token("a".into())));
        assert!(extract(&HttpRequest::new("GET", "/x")).is_err());
    }
}
