//! Token sessions: the credential carried per login signature, the access
//! token refresh against the token service, and `updateToken`.
//!
//! Wire forms are the real ones of later Kandy SDKs (04-beyond §1.2, §1.4);
//! the timing is the RECOMMENDED kandy-rs design of §1.7, which fixes two UC
//! defects: the timed refresh sends the refresh token (not the access token),
//! and a refreshed token is used by every later request, not only by socket
//! reconnects.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::LogLevel;
use crate::ctx::{Ctx, Purpose};
use crate::effect::Method;
use crate::error::{BasicError, Error, ErrorCode};
use crate::event::Event;
use crate::http::{self, AuthCarrier, Reply};
use crate::input::{Credentials, TokenUpdate};
use crate::secret::Secret;

use super::{ConnectionStatus, SessionState, TARGET};

/// The wait after a failed timed refresh before the one retry.
const RETRY_AFTER_MS: u64 = 30_000;

/// An access token's life.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenState {
    /// The refresh token, if the session has one.
    pub refresh_token: Option<Secret>,
    /// The access token's lifetime in seconds, if known.
    pub expires: Option<u64>,
    /// When the access token was obtained (monotonic ms).
    pub obtained_at: u64,
    /// When the next refresh is sent (monotonic ms).
    pub due: Option<u64>,
    /// When the last refresh was sent.
    pub last_attempt: Option<u64>,
    /// Whether the one retry after a failure was used.
    pub retried: bool,
}

impl TokenState {
    fn deadline(&self) -> Option<u64> {
        self.expires
            .map(|e| self.obtained_at.saturating_add(e.saturating_mul(1000)))
    }
}

/// Picks the credential carrier (precedence of 04-beyond §1.7). A refresh
/// token alone gives no carrier yet: connect exchanges it first.
pub(crate) fn carrier_for(
    credentials: &Credentials,
    now: u64,
) -> Result<(Option<AuthCarrier>, Option<TokenState>), Error> {
    let empty = |s: &Secret, what: &str| {
        if s.is_empty() {
            Err(Error::InvalidCredentials(format!("the {what} is empty")))
        } else {
            Ok(())
        }
    };
    Ok(match credentials {
        Credentials::Hmac { hmac_token, .. } => {
            empty(hmac_token, "HMAC token")?;
            (Some(AuthCarrier::HmacToken(hmac_token.clone())), None)
        }
        Credentials::Password {
            username,
            password,
            authname,
        } => {
            empty(password, "password")?;
            let name = authname
                .as_deref()
                .filter(|a| !a.is_empty())
                .unwrap_or(username);
            let b64 = base64::engine::general_purpose::STANDARD
                .encode(format!("{name}:{}", password.expose()));
            // 4.8.0 writes the scheme in lower case; gateways match it
            // case-insensitively.
            (
                Some(AuthCarrier::Basic(Secret::new(format!("basic {b64}")))),
                None,
            )
        }
        Credentials::AccessToken {
            access_token,
            refresh_token,
            expires,
            ..
        } => {
            empty(access_token, "access token")?;
            let life = TokenState {
                refresh_token: refresh_token.clone().filter(|r| !r.is_empty()),
                expires: *expires,
                obtained_at: now,
                ..TokenState::default()
            };
            (
                Some(AuthCarrier::AccessToken(access_token.clone())),
                Some(life),
            )
        }
        Credentials::RefreshToken {
            refresh_token,
            expires,
            ..
        } => {
            empty(refresh_token, "refresh token")?;
            let life = TokenState {
                refresh_token: Some(refresh_token.clone()),
                expires: *expires,
                obtained_at: now,
                ..TokenState::default()
            };
            (None, Some(life))
        }
        Credentials::OAuth { oauth_token, .. } => {
            empty(oauth_token, "OAuth token")?;
            (Some(AuthCarrier::Bearer(oauth_token.clone())), None)
        }
    })
}

/// Sets the next refresh time from the token's life.
pub(crate) fn schedule(session: &mut SessionState, ctx: &Ctx<'_>) {
    let Some(t) = &mut session.token else { return };
    if t.refresh_token.is_none() {
        // An access token without a refresh token: the application must
        // call updateToken before it expires.
        t.due = None;
        return;
    }
    let now = ctx.now.mono_ms;
    let floor = ctx.config.authentication.min_refresh_interval;
    let margin = ctx
        .config
        .authentication
        .early_refresh_margin
        .saturating_mul(1000);
    let target = match (t.deadline(), t.expires) {
        (Some(deadline), Some(e)) => {
            let early = deadline.saturating_sub(margin);
            if e.saturating_mul(1000) <= margin || early <= now {
                deadline.saturating_sub(e.saturating_mul(500))
            } else {
                early
            }
        }
        // No lifetime known: refresh once right away to learn it.
        _ => now,
    };
    let target = match t.last_attempt {
        Some(last) => target.max(last.saturating_add(floor)),
        None => target,
    };
    t.due = Some(target.max(now));
}

/// GET `/{version}/auth/refresh_token?expires=E&token=R`.
pub(crate) fn send_refresh(session: &mut SessionState, ctx: &mut Ctx<'_>, at_connect: bool) {
    let Some(t) = &mut session.token else { return };
    let Some(refresh) = t.refresh_token.clone() else {
        return;
    };
    t.due = None;
    t.last_attempt = Some(ctx.now.mono_ms);
    let cfg = &ctx.config.authentication;
    let sub = &cfg.subscription;
    let svc = cfg.token_service.clone().unwrap_or_default();
    let host = svc
        .server
        .as_deref()
        .or(sub.server.as_deref())
        .unwrap_or("");
    let origin = http::origin(
        svc.protocol.as_deref().unwrap_or(&sub.protocol),
        host,
        svc.port.unwrap_or(sub.port),
    );
    let version = svc.version.as_deref().unwrap_or("v2.0");
    let base = format!("{origin}/{version}/auth/refresh_token");
    let expires = t.expires.map(|e| e.to_string());
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(e) = &expires {
        query.push(("expires", e));
    }
    query.push(("token", refresh.expose()));
    let url = http::with_query(&base, query);
    let id = ctx.request_id();
    let req = http::request(ctx.config, id, Method::Get, &url, None, None);
    ctx.send(Purpose::TokenRefresh { at_connect }, req);
}

/// Reads the token service's answer.
pub(crate) fn on_refreshed(
    session: &mut SessionState,
    ctx: &mut Ctx<'_>,
    reply: Reply,
    at_connect: bool,
) {
    let live = if at_connect {
        session.status == ConnectionStatus::Connecting
    } else {
        session.status == ConnectionStatus::Connected
    };
    if !live || session.token.is_none() {
        return;
    }
    let granted = match &reply {
        Reply::Success { body, .. } => parse_success(body),
        Reply::Failure { status, body } => {
            Err(match body.pointer("/error/human").and_then(Value::as_str) {
                Some(h) => format!("HTTP {status}: {h}"),
                None => format!("HTTP {status}"),
            })
        }
        Reply::Transport(m) => Err(m.clone()),
    };
    let now = ctx.now.mono_ms;
    match granted {
        Ok((access, refresh, expires)) => {
            session.auth = Some(AuthCarrier::AccessToken(access));
            if let Some(t) = &mut session.token {
                if let Some(r) = refresh {
                    t.refresh_token = Some(r);
                }
                t.expires = expires.or(t.expires);
                t.obtained_at = now;
                t.retried = false;
            }
            ctx.log(LogLevel::Info, TARGET, || {
                "access token refreshed".to_owned()
            });
            if at_connect {
                session.send_subscribe(ctx);
            } else {
                schedule(session, ctx);
                session.change(ctx, None, false);
            }
        }
        Err(problem) if at_connect => {
            session.fail_connect(
                ctx,
                BasicError::new(
                    ErrorCode::CreateTokenFail,
                    format!("Could not get an access token from the refresh token: {problem}."),
                ),
            );
        }
        Err(problem) => {
            ctx.log(LogLevel::Warn, TARGET, || {
                format!("access token refresh failed: {problem}")
            });
            let Some(t) = session.token.as_mut() else {
                return;
            };
            let before_deadline = t.deadline().is_none_or(|d| now < d);
            if !t.retried && before_deadline {
                t.retried = true;
                t.due = Some(now.saturating_add(RETRY_AFTER_MS));
                return;
            }
            ctx.event(Event::AuthError {
                error: BasicError::new(
                    ErrorCode::RefreshTokenFail,
                    format!("Failed to refresh the access token: {problem}."),
                ),
            });
            // End the session the 4.8.0 way: DELETE, close, auth:change.
            let _ = session.disconnect(ctx);
        }
    }
}

fn parse_success(body: &Value) -> Result<(Secret, Option<Secret>, Option<u64>), String> {
    let s = body.get("success").ok_or("no success object")?;
    let access = s
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .ok_or("no access_token")?;
    let refresh = s
        .get("refresh_token")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .map(Secret::new);
    let expires = s.get("expires").and_then(|e| {
        e.as_u64()
            .or_else(|| e.as_str().and_then(|x| x.parse().ok()))
    });
    Ok((Secret::new(access), refresh, expires))
}

/// `updateToken`: swap the credential for later requests and reconnects.
pub(crate) fn update(
    session: &mut SessionState,
    ctx: &mut Ctx<'_>,
    update: TokenUpdate,
) -> Result<(), Error> {
    if !matches!(
        session.status,
        ConnectionStatus::Connected | ConnectionStatus::Connecting
    ) {
        return Err(session.invalid("update the token"));
    }
    if matches!(
        session.auth,
        Some(AuthCarrier::Basic(_))
            | Some(AuthCarrier::HmacToken(_))
            | Some(AuthCarrier::Session(_))
    ) {
        return Err(Error::InvalidState {
            operation: "update the token".into(),
            state: "in a password or HMAC session".into(),
        });
    }
    let now = ctx.now.mono_ms;
    match update {
        TokenUpdate::AccessToken {
            access_token,
            expires,
        } => {
            if access_token.is_empty() {
                return Err(Error::InvalidCredentials(
                    "the access token is empty".into(),
                ));
            }
            session.auth = Some(AuthCarrier::AccessToken(access_token));
            let t = session.token.get_or_insert_with(TokenState::default);
            t.obtained_at = now;
            t.expires = expires.or(t.expires);
            t.retried = false;
            if session.status == ConnectionStatus::Connected {
                schedule(session, ctx);
            }
        }
        TokenUpdate::OAuth { oauth_token } => {
            if oauth_token.is_empty() {
                return Err(Error::InvalidCredentials("the OAuth token is empty".into()));
            }
            session.auth = Some(AuthCarrier::Bearer(oauth_token));
        }
    }
    ctx.log(LogLevel::Info, TARGET, || "token updated".to_owned());
    Ok(())
}
