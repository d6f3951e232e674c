//! General HTTP rules: CORS, content type, routing of unknown paths and
//! methods (01-session §11.1, 03-services §9.1 item 7).

mod common;

use common::*;
use kandy_gateway::{codes, HttpRequest};

#[test]
fn preflight_on_any_path_without_credentials() {
    let mut gw = gateway();
    for path in [
        "/rest/version/1/user/alice@example.com/subscription",
        "/rest/version/1/user/alice@example.com/subscription/whatever",
        "/rest/version/1/user/alice@example.com/presence",
        "/v2.0/auth/refresh_token?token=x",
        "/totally/unknown",
    ] {
        let resp = gw.handle_http(
            T0,
            HttpRequest::new("OPTIONS", path)
                .with_header("Origin", "https://app.example")
                .with_header("Access-Control-Request-Method", "PUT")
                .with_header(
                    "Access-Control-Request-Headers",
                    "authorization,content-type,x-session",
                ),
        );
        assert_eq!(resp.status, 204, "{path}");
        assert!(resp.body.is_empty());
        assert_eq!(
            resp.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(resp.header("vary"), Some("Origin"));
        assert_eq!(
            resp.header("access-control-allow-methods"),
            Some("GET, POST, PUT, DELETE, OPTIONS")
        );
        assert_eq!(
            resp.header("access-control-allow-headers"),
            Some("authorization,content-type,x-session")
        );
        assert_eq!(resp.header("access-control-max-age"), Some("600"));
    }
    assert_eq!(gw.stats().subscriptions, 0);
}

#[test]
fn preflight_without_origin_or_request_headers() {
    let mut gw = gateway();
    let resp = gw.handle_http(T0, HttpRequest::new("options", "/rest/version/1/x"));
    assert_eq!(resp.status, 204);
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    let allow = resp
        .header("access-control-allow-headers")
        .expect("allow-headers")
        .to_owned();
    for h in [
        "authorization",
        "content-type",
        "accept",
        "x-token",
        "x-session",
        "x-cpaas-agent",
    ] {
        assert!(allow.split(", ").any(|x| x == h), "{h} in {allow}");
    }
    assert!(!allow.contains('*'));
}

#[test]
fn acao_on_error_responses() {
    let mut gw = gateway();
    let resp = gw.handle_http(
        T0,
        post_subscription("alice@example.com", basic("alice@example.com", "wrong"))
            .with_header("origin", "https://app.example"),
    );
    assert_eq!(resp.status, 401);
    assert_eq!(
        resp.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(resp.header("vary"), Some("Origin"));
    assert_eq!(resp.header("content-type"), Some("application/json"));

    for req in [
        HttpRequest::new("GET", "/nowhere"),
        HttpRequest::new("PATCH", "/rest/version/1/user/a/subscription"),
        HttpRequest::new("PUT", "/rest/version/1/user/a/subscription/none"),
    ] {
        let resp = gw.handle_http(T0, req);
        assert!(resp.status >= 400);
        assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
        assert_eq!(resp.header("content-type"), Some("application/json"));
    }
}

#[test]
fn unknown_paths_are_404_json_and_wrong_methods_405() {
    let mut gw = gateway();
    for path in [
        "/rest/version/1/user/alice@example.com/presence",
        "/rest/version/1/user/alice@example.com/push/apple/devices/",
        "/rest/version/1/whatever",
        "/",
        "",
        "no-leading-slash",
        "/rest/version/1/user/alice@example.com/subscription/a/b/c",
        "/%ff%fe/%00",
    ] {
        let resp = gw.handle_http(
            T0,
            HttpRequest::new("GET", path).with_header("authorization", "basic YTpi"),
        );
        assert_eq!(resp.status, 404, "{path}");
        let body = json_of(&resp);
        assert_eq!(body["statusCode"], codes::NOT_FOUND, "{body}");
    }
    for method in ["GET", "POST", "PATCH", "FOO"] {
        let resp = gw.handle_http(
            T0,
            HttpRequest::new(
                method,
                "/rest/version/1/user/alice@example.com/subscription/x",
            ),
        );
        assert_error(&resp, 405, codes::METHOD_NOT_ALLOWED.into());
    }
}

#[test]
fn absolute_form_targets_are_understood() {
    let mut gw = gateway();
    let req = post_subscription("alice@example.com", basic("alice@example.com", "alice"));
    let req = HttpRequest {
        path_and_query: format!("https://gw.example:443{}", req.path_and_query),
        ..req
    };
    assert_eq!(gw.handle_http(T0, req).status, 200);
}
