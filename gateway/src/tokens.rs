//! Tokens: the store every token carrier is checked against, and the CIM
//! token service `/{tokenVersion}/auth/` (04 §1.4, §4.1 item 6).
//!
//! Expired tokens are remembered for [`TokenLifetimes::expired_retention_ms`]
//! so that a client presenting one learns "expired" (statusCode 65) rather
//! than "unknown" (27); a purge timer then forgets them, which keeps the
//! store bounded by the minting rate.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{self, Credential};
use crate::codes;
use crate::error::ApiError;
use crate::http::{query_param, HttpRequest, HttpResponse};
use crate::timers::Timer;
use crate::Gateway;

/// What a token is good for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TokenKind {
    /// A CIM access token, carried as `?token=` (04 §1.2).
    #[serde(rename = "access")]
    Access,
    /// A refresh token: only accepted by `GET /v2.0/auth/refresh_token`.
    #[serde(rename = "refresh")]
    Refresh,
    /// An OAuth / bearer token, carried as `Authorization: Bearer` or
    /// `?access_token=`.
    #[serde(rename = "oauth", alias = "bearer")]
    OAuth,
}

/// Token lifetimes and the token service's grant rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenLifetimes {
    /// Lifetime of a minted access token when none is requested, and the
    /// most the token service grants (seconds).
    pub access_s: u64,
    /// Lifetime of a minted refresh token (seconds).
    pub refresh_s: u64,
    /// Lifetime of a minted OAuth token (seconds).
    pub oauth_s: u64,
    /// The least the token service grants for a requested `expires`
    /// (seconds; emulator choice 60, 04 §4.1 item 6).
    pub min_s: u64,
    /// How long a rotated-out refresh token stays usable (ms).
    pub refresh_grace_ms: u64,
    /// How long an expired token is remembered (ms) to answer 65 instead of
    /// 27.
    pub expired_retention_ms: u64,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            access_s: 3600,
            refresh_s: 86_400,
            oauth_s: 3600,
            min_s: 60,
            refresh_grace_ms: 60_000,
            expired_retention_ms: 3_600_000,
        }
    }
}

impl TokenLifetimes {
    fn default_for(&self, kind: TokenKind) -> u64 {
        match kind {
            TokenKind::Access => self.access_s,
            TokenKind::Refresh => self.refresh_s,
            TokenKind::OAuth => self.oauth_s,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TokenRecord {
    /// Canonical username.
    pub(crate) user: String,
    pub(crate) kind: TokenKind,
    /// `None`: never expires (provisioned without `expiresAtMs`).
    pub(crate) expires_at_ms: Option<u64>,
    /// Deadline of this token's purge timer.
    pub(crate) purge_at: Option<u64>,
}

pub(crate) enum TokenLookup<'a> {
    Valid(&'a TokenRecord),
    Expired(&'a TokenRecord),
    Unknown,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct TokenStore {
    map: HashMap<String, TokenRecord>,
}

impl TokenStore {
    pub(crate) fn lookup(&self, token: &str, now_ms: u64) -> TokenLookup<'_> {
        match self.map.get(token) {
            Some(rec) if rec.expires_at_ms.is_some_and(|at| at <= now_ms) => {
                TokenLookup::Expired(rec)
            }
            Some(rec) => TokenLookup::Valid(rec),
            None => TokenLookup::Unknown,
        }
    }

    pub(crate) fn get(&self, token: &str) -> Option<&TokenRecord> {
        self.map.get(token)
    }

    pub(crate) fn contains(&self, token: &str) -> bool {
        self.map.contains_key(token)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &TokenRecord)> {
        self.map.iter()
    }
}

/// The `success` object of both token-service calls.
fn success_body(access: &str, refresh: Option<&str>, expires_s: u64) -> serde_json::Value {
    let mut success = json!({ "access_token": access, "expires": expires_s });
    if let Some(r) = refresh {
        success["refresh_token"] = json!(r);
    }
    json!({ "success": success })
}

fn token_error(code: u32, human: &str) -> ApiError {
    ApiError::new(401, code, human)
}

impl Gateway {
    /// Stores a token and arms its purge timer.
    pub(crate) fn store_token(
        &mut self,
        value: String,
        user: String,
        kind: TokenKind,
        expires_at_ms: Option<u64>,
    ) {
        if let Some(old) = self.tokens.map.remove(&value) {
            if let Some(at) = old.purge_at {
                self.timers.cancel(at, &Timer::TokenPurge(value.clone()));
            }
        }
        let purge_at =
            expires_at_ms.map(|at| at.saturating_add(self.config.tokens.expired_retention_ms));
        if let Some(at) = purge_at {
            self.timers.schedule(at, Timer::TokenPurge(value.clone()));
        }
        self.tokens.map.insert(
            value,
            TokenRecord {
                user,
                kind,
                expires_at_ms,
                purge_at,
            },
        );
    }

    /// Mints a fresh token for a canonical username.
    pub(crate) fn mint(
        &mut self,
        now_ms: u64,
        user: &str,
        kind: TokenKind,
        lifetime_s: u64,
    ) -> String {
        let prefix = match kind {
            TokenKind::Access => "AT",
            TokenKind::Refresh => "RT",
            TokenKind::OAuth => "OT",
        };
        let mut value = self.ids.token(prefix);
        while self.tokens.contains(&value) {
            value = self.ids.token(prefix);
        }
        let expires = now_ms.saturating_add(lifetime_s.saturating_mul(1000));
        self.store_token(value.clone(), user.to_owned(), kind, Some(expires));
        value
    }

    /// Mints with the configured default lifetime of the kind.
    pub(crate) fn mint_default(&mut self, now_ms: u64, user: &str, kind: TokenKind) -> String {
        let lifetime = self.config.tokens.default_for(kind);
        self.mint(now_ms, user, kind, lifetime)
    }

    /// Shortens a token's life to `at` (never lengthens it).
    fn expire_token_at(&mut self, value: &str, at: u64) {
        let Some(rec) = self.tokens.map.get(value) else {
            return;
        };
        if rec.expires_at_ms.is_some_and(|cur| cur <= at) {
            return;
        }
        let (user, kind) = (rec.user.clone(), rec.kind);
        self.store_token(value.to_owned(), user, kind, Some(at));
    }

    pub(crate) fn purge_token(&mut self, value: &str) {
        self.tokens.map.remove(value);
    }

    /// The `expires` the token service grants for a query value.
    fn grant_token_expires(&self, query: Option<&str>) -> Result<u64, ApiError> {
        let t = &self.config.tokens;
        let max = t.access_s;
        let min = t.min_s.min(max);
        match query_param(query, "expires") {
            None => Ok(max),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(n.max(min).min(max)),
                _ => Err(ApiError::bad_request("expires must be a positive integer")),
            },
        }
    }

    /// `GET /{v}/auth/refresh_token?token=<refresh>[&expires=<s>]`.
    ///
    /// Rotates the refresh token; the old one stays valid for
    /// `refresh_grace_ms` (a client whose response got lost can retry),
    /// then expires.
    pub(crate) fn token_refresh(
        &mut self,
        now_ms: u64,
        req: &HttpRequest,
    ) -> Result<HttpResponse, ApiError> {
        let query = req.query();
        let token = query_param(query, "token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| token_error(codes::INVALID_TOKEN, "missing refresh token"))?;
        let user = match self.tokens.lookup(&token, now_ms) {
            TokenLookup::Valid(rec) if rec.kind == TokenKind::Refresh => rec.user.clone(),
            TokenLookup::Expired(rec) if rec.kind == TokenKind::Refresh => {
                return Err(token_error(codes::INVALID_TOKEN, "refresh token expired"));
            }
            _ => {
                return Err(token_error(
                    codes::INVALID_TOKEN,
                    "unknown or malformed refresh token",
                ))
            }
        };
        let expires = self.grant_token_expires(query)?;
        let access = self.mint(now_ms, &user, TokenKind::Access, expires);
        let refresh = self.mint_default(now_ms, &user, TokenKind::Refresh);
        let grace_end = now_ms.saturating_add(self.config.tokens.refresh_grace_ms);
        self.expire_token_at(&token, grace_end);
        Ok(HttpResponse::json(
            200,
            &success_body(&access, Some(&refresh), expires),
        ))
    }

    /// `GET /{v}/auth/mk_token?expires=<s>[&refresh=y]` with Basic.
    pub(crate) fn token_mint(
        &mut self,
        now_ms: u64,
        req: &HttpRequest,
    ) -> Result<HttpResponse, ApiError> {
        let value = req
            .header("authorization")
            .ok_or_else(|| token_error(codes::BAD_CREDENTIALS, "basic credentials required"))?;
        let cred = auth::parse_authorization(value)?;
        if !matches!(cred, Credential::Basic { .. }) {
            return Err(token_error(
                codes::BAD_CREDENTIALS,
                "basic credentials required",
            ));
        }
        let principal = self.authenticate(now_ms, &cred, None)?;
        let query = req.query();
        let expires = self.grant_token_expires(query)?;
        let want_refresh = query_param(query, "refresh").is_some_and(|v| {
            ["y", "yes", "true", "1"]
                .iter()
                .any(|t| v.eq_ignore_ascii_case(t))
        });
        let access = self.mint(now_ms, &principal.user, TokenKind::Access, expires);
        let refresh =
            want_refresh.then(|| self.mint_default(now_ms, &principal.user, TokenKind::Refresh));
        Ok(HttpResponse::json(
            200,
            &success_body(&access, refresh.as_deref(), expires),
        ))
    }
}
