//! The token service `/v2.0/auth/` (04 §1.4, §4.1 item 6) and provisioned
//! tokens.

mod common;

use common::*;
use kandy_gateway::{
    basic_authorization, codes, Gateway, GatewayConfig, HttpRequest, HttpResponse, TokenKind,
    TokenLifetimes, Users,
};
use serde_json::{json, Value};

fn get(path: &str) -> HttpRequest {
    HttpRequest::new("GET", path)
        .with_header("content-type", "application/json")
        .with_header("accept", "application/json")
}

fn success(resp: &HttpResponse) -> Value {
    assert_eq!(resp.status, 200, "{:?}", resp.body_json());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let body = resp.body_json().expect("json");
    body["success"].clone()
}

fn token_error(resp: &HttpResponse, status: u16, code: u32) {
    assert_eq!(resp.status, status);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let body = resp.body_json().expect("json");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["human"]
        .as_str()
        .is_some_and(|h| !h.is_empty()));
    assert!(body.get("success").is_none());
}

fn subscribe_with_token(gw: &mut Gateway, now: u64, token: &str) -> u16 {
    let req = HttpRequest::new(
        "POST",
        format!("{}?token={token}", sub_path("alice@example.com")),
    )
    .with_json(&subscribe_body());
    gw.handle_http(now, req).status
}

#[test]
fn mk_token_with_basic() {
    let mut gw = gateway();
    let auth = basic_authorization("alice@example.com", "alice");
    let s = success(&gw.handle_http(
        T0,
        get("/v2.0/auth/mk_token?expires=600&refresh=y").with_header("authorization", auth.clone()),
    ));
    assert_eq!(s["expires"], 600);
    let access = s["access_token"].as_str().expect("access").to_owned();
    assert!(s["refresh_token"].as_str().is_some());
    assert_eq!(subscribe_with_token(&mut gw, T0 + 1, &access), 200);

    // No refresh=y: no refresh token. Default and capped expires.
    let s = success(&gw.handle_http(
        T0,
        get("/v2.0/auth/mk_token").with_header("authorization", auth.clone()),
    ));
    assert!(s.get("refresh_token").is_none());
    assert_eq!(s["expires"], 3600);
    let s = success(&gw.handle_http(
        T0,
        get("/v2.0/auth/mk_token?expires=99999").with_header("authorization", auth.clone()),
    ));
    assert_eq!(s["expires"], 3600);
    let s = success(&gw.handle_http(
        T0,
        get("/v2.0/auth/mk_token?expires=5").with_header("authorization", auth.clone()),
    ));
    assert_eq!(s["expires"], 60);

    token_error(
        &gw.handle_http(T0, get("/v2.0/auth/mk_token")),
        401,
        codes::BAD_CREDENTIALS,
    );
    token_error(
        &gw.handle_http(
            T0,
            get("/v2.0/auth/mk_token").with_header(
                "authorization",
                basic_authorization("alice@example.com", "x"),
            ),
        ),
        401,
        codes::BAD_PASSWORD,
    );
    token_error(
        &gw.handle_http(
            T0,
            get("/v2.0/auth/mk_token").with_header("authorization", format!("Bearer {access}")),
        ),
        401,
        codes::BAD_CREDENTIALS,
    );
    token_error(
        &gw.handle_http(
            T0,
            get("/v2.0/auth/mk_token?expires=abc").with_header("authorization", auth.clone()),
        ),
        400,
        codes::BAD_REQUEST,
    );
    token_error(
        &gw.handle_http(
            T0,
            HttpRequest::new("POST", "/v2.0/auth/mk_token").with_header("authorization", auth),
        ),
        405,
        codes::METHOD_NOT_ALLOWED,
    );
}

#[test]
fn refresh_rotates_with_grace() {
    let mut gw = gateway();
    let r1 = gw
        .mint_token(T0, "alice@example.com", TokenKind::Refresh, None)
        .expect("user");

    let s = success(&gw.handle_http(
        T0,
        get(&format!("/v2.0/auth/refresh_token?expires=3600&token={r1}")),
    ));
    let a2 = s["access_token"].as_str().expect("access").to_owned();
    let r2 = s["refresh_token"].as_str().expect("refresh").to_owned();
    assert_eq!(s["expires"], 3600);
    assert_ne!(r1, r2, "rotated");
    assert_eq!(subscribe_with_token(&mut gw, T0 + 1, &a2), 200);

    // The old refresh token works during the 60 s grace ...
    let s = success(&gw.handle_http(
        T0 + 59_999,
        get(&format!("/v2.0/auth/refresh_token?token={r1}")),
    ));
    assert!(s["access_token"].as_str().is_some());
    // ... and not after it, while the new one does.
    token_error(
        &gw.handle_http(
            T0 + 60_000,
            get(&format!("/v2.0/auth/refresh_token?token={r1}")),
        ),
        401,
        codes::INVALID_TOKEN,
    );
    let s = success(&gw.handle_http(
        T0 + 60_000,
        get(&format!("/v2.0/auth/refresh_token?token={r2}&expires=120")),
    ));
    assert_eq!(s["expires"], 120);
    let a3 = s["access_token"].as_str().expect("access").to_owned();
    assert_eq!(subscribe_with_token(&mut gw, T0 + 60_001, &a3), 200);
    assert_eq!(
        subscribe_with_token(&mut gw, T0 + 60_000 + 120_000, &a3),
        401,
        "granted lifetime holds"
    );
    check(&gw);
}

#[test]
fn refresh_rejects_bad_tokens() {
    let mut gw = gateway();
    let access = gw
        .mint_token(T0, "alice@example.com", TokenKind::Access, None)
        .expect("user");
    let short = gw
        .mint_token(T0, "alice@example.com", TokenKind::Refresh, Some(10))
        .expect("user");
    for path in [
        "/v2.0/auth/refresh_token".to_owned(),
        "/v2.0/auth/refresh_token?token=".to_owned(),
        "/v2.0/auth/refresh_token?token=unknown".to_owned(),
        format!("/v2.0/auth/refresh_token?token={access}"),
    ] {
        token_error(&gw.handle_http(T0, get(&path)), 401, codes::INVALID_TOKEN);
    }
    token_error(
        &gw.handle_http(
            T0 + 10_000,
            get(&format!("/v2.0/auth/refresh_token?token={short}")),
        ),
        401,
        codes::INVALID_TOKEN,
    );
    token_error(
        &gw.handle_http(
            T0,
            get(&format!(
                "/v2.0/auth/refresh_token?token={short}&expires=-1"
            )),
        ),
        400,
        codes::BAD_REQUEST,
    );
    // Unknown token-service paths are plain 404s.
    let resp = gw.handle_http(T0, get("/v2.0/auth/other"));
    assert_eq!(resp.status, 404);
}

#[test]
fn set_token_lifetimes_hook() {
    let mut gw = gateway();
    gw.set_token_lifetimes(TokenLifetimes {
        access_s: 5,
        ..TokenLifetimes::default()
    });
    let t = gw
        .mint_token(T0, "alice@example.com", TokenKind::Access, None)
        .expect("user");
    assert_eq!(subscribe_with_token(&mut gw, T0 + 4_999, &t), 200);
    let req = HttpRequest::new(
        "POST",
        format!("{}?token={t}", sub_path("alice@example.com")),
    )
    .with_json(&subscribe_body());
    let resp = gw.handle_http(T0 + 5_000, req);
    assert_error(&resp, 401, codes::TOKEN_EXPIRED.into());
    assert!(gw
        .mint_token(T0, "nobody", TokenKind::Access, None)
        .is_err());
}

#[test]
fn expired_tokens_are_purged_after_retention() {
    let mut gw = gateway_with(GatewayConfig {
        tokens: TokenLifetimes {
            expired_retention_ms: 1_000,
            ..TokenLifetimes::default()
        },
        ..GatewayConfig::default()
    });
    let t = gw
        .mint_token(T0, "alice@example.com", TokenKind::Access, Some(1))
        .expect("user");
    assert_eq!(gw.stats().tokens, 1);
    let req = || {
        HttpRequest::new(
            "POST",
            format!("{}?token={t}", sub_path("alice@example.com")),
        )
        .with_json(&subscribe_body())
    };
    assert_error(
        &gw.handle_http(T0 + 1_500, req()),
        401,
        codes::TOKEN_EXPIRED.into(),
    );
    gw.handle_timeout(T0 + 2_000);
    assert_eq!(gw.stats().tokens, 0);
    assert_error(
        &gw.handle_http(T0 + 2_000, req()),
        401,
        codes::INVALID_TOKEN.into(),
    );
    check(&gw);
}

#[test]
fn revoke_token_hook() {
    let mut gw = gateway();
    let t = gw
        .mint_token(T0, "alice@example.com", TokenKind::OAuth, None)
        .expect("user");
    assert!(gw.revoke_token(&t));
    assert!(!gw.revoke_token(&t));
    let resp = gw.handle_http(
        T0,
        post_subscription(
            "alice@example.com",
            ("authorization".into(), format!("Bearer {t}")),
        ),
    );
    assert_error(&resp, 401, codes::INVALID_TOKEN.into());
    check(&gw);
}

#[test]
fn provisioned_tokens_from_the_users_file() {
    let users = Users::from_json(include_str!("fixtures/users-kandy-test.json")).expect("fixture");
    let mut gw = Gateway::new(GatewayConfig::default(), users, SEED);
    // Early enough that the fixture's expired token (expiresAtMs 1000) is
    // still remembered rather than purged.
    const T0: u64 = 2_000;
    let path = "/rest/version/1/user/alice@kandy.test/subscription";
    let post =
        |q: &str| HttpRequest::new("POST", format!("{path}?{q}")).with_json(&subscribe_body());
    assert_eq!(
        gw.handle_http(T0, post("token=AT-alice-fixture")).status,
        200
    );
    assert_eq!(
        gw.handle_http(T0, post("access_token=OT-alice-fixture"))
            .status,
        200
    );
    let resp = gw.handle_http(T0, post("token=AT-alice-expired"));
    assert_error(&resp, 401, codes::TOKEN_EXPIRED.into());
    let resp = gw.handle_http(T0, post("token=RT-alice-fixture"));
    assert_error(&resp, 401, codes::INVALID_TOKEN.into());
    let resp = gw.handle_http(T0, get("/v2.0/auth/refresh_token?token=RT-alice-fixture"));
    assert_eq!(resp.status, 200);
    assert_eq!(
        json!(resp.body_json().expect("json")["success"]["expires"]),
        json!(3600)
    );
    check(&gw);
}
