//! PUT (refresh / service update) and DELETE of a subscription
//! (01-session §11.3, §11.4; 04 §4.3).

mod common;

use common::*;
use kandy_gateway::{codes, hmac_token, HttpRequest, TokenKind};
use serde_json::json;

#[test]
fn put_refresh_resets_expiry() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    let sock = open(&mut gw, T0 + 10, &s);

    // Refresh at half-life, as the client does.
    let resp = gw.handle_http(
        T0 + 1_800_000,
        put(&s.subscription, s.auth.clone(), &refresh_body()),
    );
    let body = json_of(&resp);
    assert_eq!(resp.status, 200);
    assert_eq!(
        body,
        json!({"subscribeResponse": {"statusCode": 0, "subscriptionParams": {
            "service": ["IM", "Presence", "call"], "expires": 3600}}})
    );

    // Past the original expiry: still alive, nothing sent.
    gw.handle_timeout(T0 + 3_600_000 + 1);
    assert_eq!(gw.stats().subscriptions, 1);
    assert!(drain(&mut gw).is_empty());
    let resp = gw.handle_http(
        T0 + 3_600_001,
        put(&s.subscription, s.auth.clone(), &refresh_body()),
    );
    assert_eq!(resp.status, 200);

    // Not refreshed again: expires one full period after the last refresh.
    gw.handle_timeout(T0 + 3_600_001 + 3_599_999);
    assert_eq!(gw.stats().subscriptions, 1);
    gw.handle_timeout(T0 + 3_600_001 + 3_600_000);
    assert_eq!(gw.stats().subscriptions, 0);
    let out = drain(&mut gw);
    let frames = frames_for(&out, sock);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["notificationMessage"]["eventType"], "gone");
    assert_eq!(closes(&out), [sock]);
    check(&gw);
}

#[test]
fn put_applies_service_array_and_expires() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    let body = json!({"subscribeRequest": {"expires": 600, "service": ["call", "video"]}});
    let resp = gw.handle_http(T0 + 1, put(&s.subscription, s.auth.clone(), &body));
    assert_eq!(
        json_of(&resp)["subscribeResponse"]["subscriptionParams"],
        json!({"service": ["call"], "expires": 600})
    );
    let info = gw.subscriptions_of("alice@example.com").remove(0);
    assert_eq!(info.services, ["call"]);
    assert_eq!(info.expires_at_ms, T0 + 1 + 600_000);

    // expires absent: keep the granted one; service absent: keep the grant.
    let body = json!({"subscribeRequest": {}});
    let resp = gw.handle_http(T0 + 2, put(&s.subscription, s.auth.clone(), &body));
    assert_eq!(
        json_of(&resp)["subscribeResponse"]["subscriptionParams"],
        json!({"service": ["call"], "expires": 600})
    );
}

#[test]
fn put_object_form_service_is_400() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    let body = json!({"subscribeRequest": {"expires": 3600, "service": {"services": ["IM"]}}});
    let resp = gw.handle_http(T0 + 1, put(&s.subscription, s.auth.clone(), &body));
    assert_error(&resp, 400, codes::BAD_REQUEST.into());
    // ... and changes nothing.
    let info = gw.subscriptions_of("alice@example.com").remove(0);
    assert_eq!(info.services, ["IM", "Presence", "call"]);
    assert_eq!(info.expires_at_ms, T0 + 3_600_000);

    for bad in [&b"not json"[..], b"", b"{}"] {
        let req = HttpRequest::new("PUT", &s.subscription)
            .with_header(s.auth.0.clone(), s.auth.1.clone())
            .with_body(bad.to_vec());
        assert_error(&gw.handle_http(T0 + 1, req), 400, codes::BAD_REQUEST.into());
    }
}

#[test]
fn put_and_delete_need_the_owner() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    let resp = gw.handle_http(
        T0,
        put(
            &s.subscription,
            basic("bob@example.com", "bob"),
            &refresh_body(),
        ),
    );
    assert_error(&resp, 403, codes::FORBIDDEN.into());
    let resp = gw.handle_http(
        T0,
        delete(&s.subscription, basic("alice@example.com", "bad")),
    );
    assert_error(&resp, 401, codes::BAD_PASSWORD.into());
    let resp = gw.handle_http(
        T0,
        HttpRequest::new("DELETE", &s.subscription).with_header("content-type", "application/json"),
    );
    assert_error(&resp, 401, codes::BAD_CREDENTIALS.into());
    let resp = gw.handle_http(
        T0,
        delete(&s.subscription, ("x-session".into(), "nope".into())),
    );
    assert_error(&resp, 401, codes::INVALID_TOKEN.into());
    assert_eq!(gw.stats().subscriptions, 1);

    // The path must name the owner and kind.
    let wrong_user = s
        .subscription
        .replace("alice@example.com", "bob@example.com");
    let resp = gw.handle_http(T0, delete(&wrong_user, basic("bob@example.com", "bob")));
    assert_error(&resp, 404, codes::UNKNOWN_SUBSCRIPTION.into());
    let wrong_kind = s.subscription.replace("/user/", "/anonymous/");
    let resp = gw.handle_http(T0, delete(&wrong_kind, s.auth.clone()));
    assert_error(&resp, 404, codes::UNKNOWN_SUBSCRIPTION.into());
    // Any-case user in the path is the same user.
    let upper = s
        .subscription
        .replace("alice@example.com", "ALICE@example.com");
    let resp = gw.handle_http(T0, put(&upper, s.auth.clone(), &refresh_body()));
    assert_eq!(resp.status, 200);
    check(&gw);
}

#[test]
fn x_session_on_put_and_delete() {
    let mut gw = gateway();
    let token = hmac_token("alice-secret", "alice@example.com");
    let resp = gw.handle_http(
        T0,
        post_subscription("alice@example.com", ("x-token".into(), token.clone())),
    );
    let body = json_of(&resp);
    let sub = body["subscribeResponse"]["subscription"]
        .as_str()
        .expect("path")
        .to_owned();
    let session = body["subscribeResponse"]["subscriptionParams"]["sessionId"]
        .as_str()
        .expect("session")
        .to_owned();

    let resp = gw.handle_http(
        T0 + 1,
        put(&sub, ("x-session".into(), session.clone()), &refresh_body()),
    );
    assert_eq!(resp.status, 200, "{:?}", resp.body_json());

    // Another subscription's x-session (same owner) does not fit.
    let other = subscribe(&mut gw, T0, "alice");
    let resp = gw.handle_http(
        T0 + 2,
        delete(&other.subscription, ("x-session".into(), session.clone())),
    );
    assert_error(&resp, 403, codes::FORBIDDEN.into());

    let resp = gw.handle_http(T0 + 3, delete(&sub, ("X-Session".into(), session.clone())));
    assert_eq!(resp.status, 200);
    assert_eq!(
        json_of(&resp),
        json!({"subscribeResponse": {"statusCode": 0}})
    );

    // The session died with the subscription.
    let resp = gw.handle_http(
        T0 + 4,
        put(&sub, ("x-session".into(), session), &refresh_body()),
    );
    assert_error(&resp, 404, codes::UNKNOWN_SUBSCRIPTION.into());
    check(&gw);
}

#[test]
fn bearer_and_token_query_on_put_and_delete() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    let access = gw
        .mint_token(T0, "alice@example.com", TokenKind::Access, None)
        .expect("user");
    let oauth = gw
        .mint_token(T0, "alice@example.com", TokenKind::OAuth, Some(10))
        .expect("user");
    let bob = gw
        .mint_token(T0, "bob@example.com", TokenKind::Access, None)
        .expect("user");

    let req = HttpRequest::new("PUT", format!("{}?token={access}", s.subscription))
        .with_json(&refresh_body());
    assert_eq!(gw.handle_http(T0 + 1, req).status, 200);
    let resp = gw.handle_http(
        T0 + 2,
        put(
            &s.subscription,
            ("authorization".into(), format!("Bearer {oauth}")),
            &refresh_body(),
        ),
    );
    assert_eq!(resp.status, 200);
    let req = HttpRequest::new("PUT", format!("{}?access_token={bob}", s.subscription))
        .with_json(&refresh_body());
    assert_error(&gw.handle_http(T0 + 3, req), 403, codes::FORBIDDEN.into());
    // Expired bearer token: 65; the subscription itself lives on (04 §4.1 item 4).
    let resp = gw.handle_http(
        T0 + 10_000,
        put(
            &s.subscription,
            ("authorization".into(), format!("Bearer {oauth}")),
            &refresh_body(),
        ),
    );
    assert_error(&resp, 401, codes::TOKEN_EXPIRED.into());
    assert_eq!(gw.stats().subscriptions, 1);

    let req = HttpRequest::new("DELETE", format!("{}?token={access}", s.subscription));
    assert_eq!(gw.handle_http(T0 + 20_000, req).status, 200);
    assert_eq!(gw.stats().subscriptions, 0);
}

#[test]
fn delete_then_upgrade_refused_and_put_404() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    let resp = gw.handle_http(T0 + 5, delete(&s.subscription, s.auth.clone()));
    assert_eq!(resp.status, 200);
    assert_eq!(
        json_of(&resp),
        json!({"subscribeResponse": {"statusCode": 0}})
    );

    let refused = gw
        .handle_ws_upgrade(T0 + 6, &s.channel, &[])
        .expect_err("channel is invalidated");
    assert_eq!(refused.status, 404);
    assert_eq!(
        json_of(&refused)["subscribeResponse"]["statusCode"],
        codes::UNKNOWN_SUBSCRIPTION
    );

    let resp = gw.handle_http(
        T0 + 7,
        put(&s.subscription, s.auth.clone(), &refresh_body()),
    );
    assert_error(&resp, 404, codes::UNKNOWN_SUBSCRIPTION.into());
    let resp = gw.handle_http(T0 + 8, delete(&s.subscription, s.auth.clone()));
    assert_error(&resp, 404, codes::UNKNOWN_SUBSCRIPTION.into());
    assert_eq!(gw.stats().subscriptions_deleted, 1);
    check(&gw);
}

#[test]
fn delete_keeps_the_socket_open_without_gone_then_closes_after_grace() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    let sock = open(&mut gw, T0 + 1, &s);
    assert!(drain(&mut gw).is_empty());

    assert_eq!(
        gw.handle_http(T0 + 100, delete(&s.subscription, s.auth.clone()))
            .status,
        200
    );
    assert!(drain(&mut gw).is_empty(), "no gone, no close on DELETE");
    assert_eq!(gw.stats().lingering_sockets, 1);
    // The lingering socket still answers connCheck and ignores pings.
    gw.handle_ws_frame(T0 + 200, sock, r#"{"message_type":"ping"}"#);
    assert!(drain(&mut gw).is_empty());

    assert_eq!(gw.poll_timeout(), Some(T0 + 100 + 30_000));
    gw.handle_timeout(T0 + 100 + 29_999);
    assert!(drain(&mut gw).is_empty());
    gw.handle_timeout(T0 + 100 + 30_000);
    let out = drain(&mut gw);
    assert_eq!(out, [kandy_gateway::Output::Close { socket: sock }]);
    assert_eq!(gw.stats().open_sockets, 0);
    gw.handle_ws_closed(T0 + 100 + 30_001, sock); // harmless
    check(&gw);
}

#[test]
fn delete_then_client_closes_cancels_the_grace() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    let sock = open(&mut gw, T0 + 1, &s);
    assert_eq!(
        gw.handle_http(T0 + 100, delete(&s.subscription, s.auth.clone()))
            .status,
        200
    );
    gw.handle_ws_closed(T0 + 101, sock);
    assert_eq!(gw.stats().timers, 0);
    gw.handle_timeout(T0 + 1_000_000);
    assert!(drain(&mut gw).is_empty());
    check(&gw);
}

#[test]
fn client_correlator_alias() {
    let mut gw = gateway();
    let req = HttpRequest::new("POST", sub_path("alice@example.com"))
        .with_header("authorization", kandy_gateway::basic_authorization("alice@example.com", "alice"))
        .with_json(&json!({"subscribeRequest": {"expires": 3600, "service": ["call"], "clientCorrelator": "dev-1"}}));
    assert_eq!(gw.handle_http(T0, req).status, 200);
    let alias = "/rest/version/1/user/alice@example.com/subscription/clientCorrelator/dev-1";
    let auth = basic("alice@example.com", "alice");
    let resp = gw.handle_http(T0 + 1, put(alias, auth.clone(), &refresh_body()));
    assert_eq!(resp.status, 200);
    assert_eq!(
        json_of(&resp)["subscribeResponse"]["subscriptionParams"]["service"],
        json!(["IM", "Presence", "call"])
    );
    let resp = gw.handle_http(
        T0 + 1,
        put(alias, basic("bob@example.com", "bob"), &refresh_body()),
    );
    assert_error(&resp, 403, codes::FORBIDDEN.into());
    let unknown = "/rest/version/1/user/alice@example.com/subscription/clientCorrelator/dev-2";
    assert_error(
        &gw.handle_http(T0 + 1, put(unknown, auth.clone(), &refresh_body())),
        404,
        codes::UNKNOWN_SUBSCRIPTION.into(),
    );
    assert_eq!(
        gw.handle_http(T0 + 2, delete(alias, auth.clone())).status,
        200
    );
    assert_error(
        &gw.handle_http(T0 + 3, put(alias, auth, &refresh_body())),
        404,
        codes::UNKNOWN_SUBSCRIPTION.into(),
    );
    check(&gw);
}

#[test]
fn late_driver_still_sees_expiry() {
    // The driver did not call handle_timeout: the PUT itself notices.
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    let resp = gw.handle_http(
        T0 + 3_600_000,
        put(&s.subscription, s.auth.clone(), &refresh_body()),
    );
    assert_error(&resp, 404, codes::UNKNOWN_SUBSCRIPTION.into());
}
