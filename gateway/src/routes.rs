//! Request routing: path → [`Route`], and the wrapper each route's bodies
//! use. Later features add variants here and an arm in
//! `Gateway::dispatch`.

use percent_encoding::percent_decode_str;

use crate::calls::CallTree;
use crate::error::Wrapper;
use crate::subscription::SubscriptionKind;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/rest/version/{V}/{kind}/{user}/subscription`
    Subscribe {
        version: String,
        kind: SubscriptionKind,
        user: String,
    },
    /// `/rest/version/{V}/{kind}/{user}/subscription/{id}`
    Subscription {
        kind: SubscriptionKind,
        user: String,
        id: String,
    },
    /// `/rest/version/{V}/user/{user}/subscription/clientCorrelator/{cc}`
    SubscriptionByCorrelator { user: String, correlator: String },
    /// `/rest/version/{V}/user/{user}/callControl` (start call, join) and
    /// `/rest/version/{V}/anonymous/{account}/callMe` (02-calls §1.1, §2.14)
    CallControl {
        tree: CallTree,
        version: String,
        user: String,
    },
    /// `…/callControl/callSessions/{sid}` and `…/callMe/callSessions/{sid}`
    CallSession {
        tree: CallTree,
        user: String,
        sid: String,
    },
    /// `/rest/version/{V}/user/{user}/calldisposition` (reject, forward)
    CallDisposition { user: String },
    /// `/{tokenVersion}/auth/refresh_token`
    TokenRefresh,
    /// `/{tokenVersion}/auth/mk_token`
    TokenMint,
    /// Anything else under `/rest/version/` or elsewhere.
    NotFound,
}

impl Route {
    /// Parses a request path (no query). Segments are percent-decoded (a
    /// `{user}` normally arrives raw, `@` and all, 01-session §3); invalid
    /// UTF-8 decodes lossily and so matches no user. One trailing `/` is
    /// tolerated.
    pub(crate) fn parse(path: &str, token_version: &str) -> Route {
        let Some(rest) = path.strip_prefix('/') else {
            return Route::NotFound;
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let segs: Vec<String> = rest
            .split('/')
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        match segs.as_slice() {
            ["rest", "version", v, kind, user, "subscription", tail @ ..]
                if !v.is_empty() && !user.is_empty() =>
            {
                let Some(kind) = SubscriptionKind::from_segment(kind) else {
                    return Route::NotFound;
                };
                match tail {
                    [] => Route::Subscribe {
                        version: (*v).to_owned(),
                        kind,
                        user: (*user).to_owned(),
                    },
                    [id] if !id.is_empty() => Route::Subscription {
                        kind,
                        user: (*user).to_owned(),
                        id: (*id).to_owned(),
                    },
                    ["clientCorrelator", cc]
                        if kind == SubscriptionKind::User && !cc.is_empty() =>
                    {
                        Route::SubscriptionByCorrelator {
                            user: (*user).to_owned(),
                            correlator: (*cc).to_owned(),
                        }
                    }
                    _ => Route::NotFound,
                }
            }
            ["rest", "version", v, kind, user, resource, tail @ ..]
                if !v.is_empty() && !user.is_empty() =>
            {
                let tree = match (*kind, *resource) {
                    ("user", "callControl" | "calldisposition") => CallTree::User,
                    ("anonymous", "callMe") => CallTree::Anonymous,
                    _ => return Route::NotFound,
                };
                match (*resource, tail) {
                    ("calldisposition", []) => Route::CallDisposition {
                        user: (*user).to_owned(),
                    },
                    ("calldisposition", _) => Route::NotFound,
                    (_, []) => Route::CallControl {
                        tree,
                        version: (*v).to_owned(),
                        user: (*user).to_owned(),
                    },
                    (_, ["callSessions", sid]) if !sid.is_empty() => Route::CallSession {
                        tree,
                        user: (*user).to_owned(),
                        sid: (*sid).to_owned(),
                    },
                    _ => Route::NotFound,
                }
            }
            [v, "auth", "refresh_token"] if *v == token_version => Route::TokenRefresh,
            [v, "auth", "mk_token"] if *v == token_version => Route::TokenMint,
            _ => Route::NotFound,
        }
    }

    /// Whether the route is a call endpoint (its error codes are the call
    /// client's, 02-calls §1.5).
    pub(crate) fn is_call(&self) -> bool {
        matches!(
            self,
            Route::CallControl { .. } | Route::CallSession { .. } | Route::CallDisposition { .. }
        )
    }

    /// The wrapper of the route's bodies (errors included).
    pub(crate) fn wrapper(&self) -> Wrapper {
        match self {
            Route::Subscribe { .. }
            | Route::Subscription { .. }
            | Route::SubscriptionByCorrelator { .. } => Wrapper::SUBSCRIBE,
            Route::CallControl { .. }
            | Route::CallSession { .. }
            | Route::CallDisposition { .. } => Wrapper::CALL_CONTROL,
            Route::TokenRefresh | Route::TokenMint => Wrapper::TokenService,
            Route::NotFound => Wrapper::TopLevel,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(p: &str) -> Route {
        Route::parse(p, "v2.0")
    }

    #[test]
    fn subscription_routes() {
        assert_eq!(
            parse("/rest/version/1/user/alice@kandy.test/subscription"),
            Route::Subscribe {
                version: "1".into(),
                kind: SubscriptionKind::User,
                user: "alice@kandy.test".into()
            }
        );
        assert_eq!(
            parse("/rest/version/1/anonymous/a%40b/subscription/"),
            Route::Subscribe {
                version: "1".into(),
                kind: SubscriptionKind::Anonymous,
                user: "a@b".into()
            }
        );
        assert_eq!(
            parse("/rest/version/1/user/a@b/subscription/xyz"),
            Route::Subscription {
                kind: SubscriptionKind::User,
                user: "a@b".into(),
                id: "xyz".into()
            }
        );
        assert_eq!(
            parse("/rest/version/1/user/a@b/subscription/clientCorrelator/c1"),
            Route::SubscriptionByCorrelator {
                user: "a@b".into(),
                correlator: "c1".into()
            }
        );
    }

    #[test]
    fn odd_paths_are_not_found() {
        for p in [
            "",
            "rest/version/1/user/a/subscription",
            "/",
            "//",
            "/rest/version//user/a/subscription",
            "/rest/version/1/user//subscription",
            "/rest/version/1/admin/a/subscription",
            "/rest/version/1/user/a/subscription/x/y",
            "/rest/version/1/user/a/presence",
            "/v1.0/auth/mk_token",
            "/rest/version/1/user/%ff%fe/sub%",
        ] {
            assert_eq!(parse(p), Route::NotFound, "{p}");
        }
        assert_eq!(parse("/v2.0/auth/mk_token"), Route::TokenMint);
        for p in [
            "/rest/version/1/user/a@b/callControl/x",
            "/rest/version/1/user/a@b/callControl/callSessions",
            "/rest/version/1/user/a@b/callControl/callSessions/",
            "/rest/version/1/user/a@b/callControl/callSessions/s/x",
            "/rest/version/1/user/a@b/calldisposition/x",
            "/rest/version/1/anonymous/a@b/callControl",
            "/rest/version/1/user/a@b/callMe",
            "/rest/version/1/user/a@b/callcontrol",
        ] {
            assert_eq!(parse(p), Route::NotFound, "{p}");
        }
    }

    #[test]
    fn call_routes() {
        assert_eq!(
            parse("/rest/version/1/user/alice@kandy.test/callControl"),
            Route::CallControl {
                tree: CallTree::User,
                version: "1".into(),
                user: "alice@kandy.test".into()
            }
        );
        assert_eq!(
            parse("/rest/version/1/user/a%40b/callControl/callSessions/legA6-5246e8b3"),
            Route::CallSession {
                tree: CallTree::User,
                user: "a@b".into(),
                sid: "legA6-5246e8b3".into()
            }
        );
        assert_eq!(
            parse("/rest/version/1/user/a@b/calldisposition"),
            Route::CallDisposition { user: "a@b".into() }
        );
        assert_eq!(
            parse("/rest/version/2/anonymous/acct/callMe/callSessions/s1"),
            Route::CallSession {
                tree: CallTree::Anonymous,
                user: "acct".into(),
                sid: "s1".into()
            }
        );
        assert!(parse("/rest/version/1/anonymous/acct/callMe").is_call());
        assert_eq!(parse("/v2.0/auth/refresh_token"), Route::TokenRefresh);
    }
}
