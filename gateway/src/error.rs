//! Protocol errors: one typed value per rejection, rendered in the wrapper the
//! endpoint's clients expect.
//!
//! The 4.8.0 client crashes silently on an error body without the endpoint's
//! wrapper object (01-session §4.2, §4.3), so every handler returns an
//! [`ApiError`] and the router renders it in the endpoint's [`Wrapper`]; no
//! handler writes an error body by hand.

use serde_json::{json, Value};

use crate::codes;
use crate::http::HttpResponse;

/// A rejection: HTTP status, the numeric `statusCode` put in the body and a
/// human readable reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: u32,
    pub(crate) reason: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: u32, reason: impl Into<String>) -> Self {
        Self {
            status,
            code,
            reason: reason.into(),
        }
    }

    pub(crate) fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(400, codes::BAD_REQUEST, reason)
    }

    pub(crate) fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(403, codes::FORBIDDEN, reason)
    }

    pub(crate) fn unknown_user() -> Self {
        Self::new(404, codes::NOT_FOUND, "unknown user")
    }

    pub(crate) fn not_found() -> Self {
        Self::new(404, codes::NOT_FOUND, "no such resource")
    }

    pub(crate) fn unknown_subscription() -> Self {
        Self::new(
            404,
            codes::UNKNOWN_SUBSCRIPTION,
            "unknown or expired subscription",
        )
    }

    pub(crate) fn method_not_allowed() -> Self {
        Self::new(405, codes::METHOD_NOT_ALLOWED, "method not allowed")
    }

    pub(crate) fn too_large() -> Self {
        Self::new(413, codes::BAD_REQUEST, "request body too large")
    }

    pub(crate) fn into_response(self, wrapper: Wrapper) -> HttpResponse {
        let body = wrapper.error_body(self.code, &self.reason);
        HttpResponse::json(self.status, &body)
    }
}

/// How an endpoint wraps its bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wrapper {
    /// `{"<name>":{"statusCode":N,"reason":"…"}}`, the SPiDR form (e.g.
    /// `subscribeResponse`).
    Named(&'static str),
    /// `{"statusCode":N,"reason":"…"}`: for paths no endpoint owns, where no
    /// wrapper name can be right.
    TopLevel,
    /// `{"error":{"code":N,"human":"…"}}`, the CIM token-service form (04 §1.4).
    TokenService,
}

impl Wrapper {
    pub(crate) const SUBSCRIBE: Wrapper = Wrapper::Named("subscribeResponse");
    /// Every call endpoint's errors, `calldisposition` included: it is the
    /// only wrapper the 4.8.0 call code parses (02-calls §1.4, §7.7).
    pub(crate) const CALL_CONTROL: Wrapper = Wrapper::Named("callControlResponse");

    pub(crate) fn error_body(self, code: u32, reason: &str) -> Value {
        match self {
            Wrapper::Named(name) => {
                let mut outer = serde_json::Map::new();
                outer.insert(
                    name.to_owned(),
                    json!({ "statusCode": code, "reason": reason }),
                );
                Value::Object(outer)
            }
            Wrapper::TopLevel => json!({ "statusCode": code, "reason": reason }),
            Wrapper::TokenService => json!({ "error": { "code": code, "human": reason } }),
        }
    }
}
