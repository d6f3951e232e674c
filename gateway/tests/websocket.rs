//! WebSocket behaviour (01-session §11.5, §11.6; 04 §4.1 item 5, §4.3).

mod common;

use common::*;
use kandy_gateway::{codes, GatewayConfig, Output, SubscriptionId, TokenKind};
use serde_json::{json, Map, Value};

fn params(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[test]
fn upgrade_only_on_a_live_channel() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    for path in [
        "/rest/version/1/notificationChannel/00000000000000000000000000000000",
        "/",
        "",
        "garbage",
        &s.subscription,
    ] {
        let refused = gw.handle_ws_upgrade(T0, path, &[]).expect_err(path);
        assert_eq!(refused.status, 404);
        assert_eq!(refused.header("content-type"), Some("application/json"));
    }
    // An Origin header is fine; a query without tokens is ignored.
    let origin = [("Origin".to_owned(), "https://app.example".to_owned())];
    let sock = gw
        .handle_ws_upgrade(T0, &format!("{}?foo=bar&x", s.channel), &origin)
        .expect("accepted");
    assert_eq!(gw.stats().attached_sockets, 1);
    assert_eq!(
        gw.subscriptions_of("alice@example.com")[0].socket,
        Some(sock)
    );
    check(&gw);
}

#[test]
fn upgrade_refusal_carries_cors_origin() {
    let mut gw = gateway();
    let origin = [("origin".to_owned(), "https://app.example".to_owned())];
    let refused = gw
        .handle_ws_upgrade(T0, "/rest/version/1/notificationChannel/x", &origin)
        .expect_err("unknown");
    assert_eq!(
        refused.header("access-control-allow-origin"),
        Some("https://app.example")
    );
}

#[test]
fn token_on_upgrade_must_be_valid_for_the_owner() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    let good = gw
        .mint_token(T0, "alice@example.com", TokenKind::Access, Some(100))
        .expect("user");
    let oauth = gw
        .mint_token(T0, "alice@example.com", TokenKind::OAuth, None)
        .expect("user");
    let bobs = gw
        .mint_token(T0, "bob@example.com", TokenKind::Access, None)
        .expect("user");
    let refresh = gw
        .mint_token(T0, "alice@example.com", TokenKind::Refresh, None)
        .expect("user");

    for (query, code) in [
        ("token=nope".to_owned(), codes::INVALID_TOKEN),
        ("access_token=".to_owned(), codes::INVALID_TOKEN),
        (format!("token={bobs}"), codes::INVALID_TOKEN),
        (format!("token={refresh}"), codes::INVALID_TOKEN),
    ] {
        let refused = gw
            .handle_ws_upgrade(T0, &format!("{}?{query}", s.channel), &[])
            .expect_err(&query);
        assert_eq!(refused.status, 401, "{query}");
        assert_eq!(json_of(&refused)["subscribeResponse"]["statusCode"], code);
    }
    gw.handle_ws_upgrade(T0, &format!("{}?token={good}", s.channel), &[])
        .expect("access token in token=");
    // A bearer token under either name (Link 4.16 quirk).
    gw.handle_ws_upgrade(T0, &format!("{}?access_token={oauth}", s.channel), &[])
        .expect("oauth in access_token=");
    gw.handle_ws_upgrade(T0, &format!("{}?token={oauth}", s.channel), &[])
        .expect("oauth in token=");
    let refused = gw
        .handle_ws_upgrade(T0 + 100_000, &format!("{}?token={good}", s.channel), &[])
        .expect_err("expired");
    assert_eq!(refused.status, 401);
    assert_eq!(
        json_of(&refused)["subscribeResponse"]["statusCode"],
        codes::TOKEN_EXPIRED
    );
    check(&gw);
}

#[test]
fn keepalive_ping_gets_nothing_conncheck_gets_connack() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    let sock = open(&mut gw, T0, &s);
    gw.handle_ws_frame(T0 + 1, sock, r#"{"message_type":"ping"}"#);
    assert!(drain(&mut gw).is_empty());
    gw.handle_ws_frame(T0 + 2, sock, r#"{"connCheck":{"interval":30}}"#);
    assert_eq!(
        drain(&mut gw),
        [Output::Send {
            socket: sock,
            text: r#"{"connAck":{}}"#.to_owned()
        }]
    );
    gw.handle_ws_frame(T0 + 3, sock, r#"{"connCheck":{"interval":0.5}}"#);
    assert_eq!(drain(&mut gw).len(), 1);
    // Everything else is ignored: connAck, notifications, non-JSON, binary-ish text.
    for frame in [
        r#"{"connAck":{}}"#,
        "hello",
        "",
        "{",
        "[1,2]",
        "\u{0}\u{ffff}",
        r#"{"connCheck":null}"#,
    ] {
        gw.handle_ws_frame(T0 + 4, sock, frame);
    }
    assert!(drain(&mut gw).is_empty());
    // Unknown socket ids are ignored too.
    gw.handle_ws_frame(
        T0 + 5,
        kandy_gateway::SocketId(999),
        r#"{"connCheck":{"interval":30}}"#,
    );
    gw.handle_ws_closed(T0 + 5, kandy_gateway::SocketId(999));
    assert!(drain(&mut gw).is_empty());
    check(&gw);
}

#[test]
fn silence_never_closes_a_socket() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    let _sock = open(&mut gw, T0, &s);
    // Keep refreshing for a day without a single frame.
    let mut now = T0;
    for _ in 0..48 {
        now += 1_800_000;
        gw.handle_timeout(now);
        assert_eq!(
            gw.handle_http(now, put(&s.subscription, s.auth.clone(), &refresh_body()))
                .status,
            200
        );
    }
    assert!(drain(&mut gw).is_empty());
    assert_eq!(gw.stats().open_sockets, 1);
}

#[test]
fn server_driven_conncheck_when_configured() {
    let mut gw = gateway_with(GatewayConfig {
        server_conn_check_interval_s: Some(30),
        ..GatewayConfig::default()
    });
    let s = subscribe(&mut gw, T0, "alice");
    let sock = open(&mut gw, T0, &s);
    gw.handle_timeout(T0 + 29_999);
    assert!(drain(&mut gw).is_empty());
    gw.handle_timeout(T0 + 30_000);
    assert_eq!(
        frames_for(&drain(&mut gw), sock),
        [json!({"connCheck": {"interval": 30}})]
    );
    gw.handle_ws_frame(T0 + 30_010, sock, r#"{"connAck":{}}"#);
    assert!(drain(&mut gw).is_empty(), "connAck needs no answer");
    gw.handle_timeout(T0 + 60_000);
    gw.handle_timeout(T0 + 90_000);
    assert_eq!(frames_for(&drain(&mut gw), sock).len(), 2);
    // A late driver gets one check, not a burst of missed ones; the next is
    // an interval after it.
    gw.handle_timeout(T0 + 200_000);
    assert_eq!(frames_for(&drain(&mut gw), sock).len(), 1);
    assert_eq!(gw.poll_timeout(), Some(T0 + 230_000));
    gw.handle_ws_closed(T0 + 200_001, sock);
    gw.handle_timeout(T0 + 400_000);
    assert!(drain(&mut gw).is_empty());
    check(&gw);
}

#[test]
fn no_server_conncheck_by_default() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    let _sock = open(&mut gw, T0, &s);
    gw.handle_timeout(T0 + 600_000);
    assert!(drain(&mut gw).is_empty());
}

#[test]
fn newest_socket_wins() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    let first = open(&mut gw, T0, &s);
    let second = open(&mut gw, T0 + 1, &s);
    assert_ne!(first, second);
    assert_eq!(drain(&mut gw), [Output::Close { socket: first }]);
    assert_eq!(gw.stats().open_sockets, 1);

    gw.push_notification(T0 + 2, "alice@example.com", "IM", &params(json!({"x": 1})));
    let out = drain(&mut gw);
    assert_eq!(frames_for(&out, second).len(), 1);
    assert!(frames_for(&out, first).is_empty());
    // The old socket's late close does not detach the new one.
    gw.handle_ws_closed(T0 + 3, first);
    assert_eq!(
        gw.subscriptions_of("alice@example.com")[0].socket,
        Some(second)
    );
    check(&gw);
}

#[test]
fn newest_socket_wins_with_websocket_overridden_notice() {
    let mut gw = gateway_with(GatewayConfig {
        notify_websocket_overridden: true,
        ..GatewayConfig::default()
    });
    let s = subscribe(&mut gw, T0, "alice");
    let first = open(&mut gw, T0, &s);
    let _second = open(&mut gw, T0 + 1, &s);
    let out = drain(&mut gw);
    let frames = frames_for(&out, first);
    assert_eq!(frames.len(), 1);
    assert_eq!(
        frames[0]["notificationMessage"]["eventType"],
        "websocketOverridden"
    );
    assert!(matches!(out.last(), Some(Output::Close { socket }) if *socket == first));
}

#[test]
fn notification_shape_and_unique_event_ids() {
    let mut gw = gateway();
    let a = subscribe(&mut gw, T0, "alice");
    let b = subscribe(&mut gw, T0, "alice");
    let sa = open(&mut gw, T0, &a);
    let sb = open(&mut gw, T0, &b);
    let reached = gw.push_notification(
        T0 + 5,
        "ALICE@example.com",
        "IM",
        &params(json!({"imnotificationParams": {"msgText": "hi"}, "eventType": "spoof", "eventId": "x"})),
    );
    assert_eq!(reached, 2);
    let out = drain(&mut gw);
    let fa = frames_for(&out, sa);
    let fb = frames_for(&out, sb);
    assert_eq!(fa.len(), 1);
    let m = &fa[0]["notificationMessage"];
    assert_eq!(m["eventType"], "IM");
    assert_eq!(m["time"], T0 + 5);
    assert_eq!(m["imnotificationParams"]["msgText"], "hi");
    let id_a = m["eventId"].as_str().expect("eventId");
    let id_b = fb[0]["notificationMessage"]["eventId"]
        .as_str()
        .expect("eventId");
    assert_eq!(id_a.len(), 36);
    assert_ne!(id_a, id_b, "every copy has its own id");
    assert_ne!(id_a, "x");
    assert_eq!(
        gw.push_notification(T0, "nobody@example.com", "IM", &Map::new()),
        0
    );
    assert!(!gw.push_notification_to(T0, &SubscriptionId("nope".into()), "IM", &Map::new()));
}

#[test]
fn notifications_buffer_while_no_socket_and_flush_on_reconnect() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    // Before the first socket opens ...
    gw.push_notification(
        T0 + 1,
        "alice@example.com",
        "presenceWatcher",
        &params(json!({"n": 1})),
    );
    let sock = open(&mut gw, T0 + 2, &s);
    let frames = frames_for(&drain(&mut gw), sock);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["notificationMessage"]["n"], 1);

    // ... and while it is down.
    gw.handle_ws_closed(T0 + 3, sock);
    for n in 2..=4 {
        gw.push_notification(T0 + 4, "alice@example.com", "IM", &params(json!({"n": n})));
    }
    assert!(drain(&mut gw).is_empty());
    assert_eq!(gw.stats().buffered_notifications, 3);
    let again = open(&mut gw, T0 + 5, &s);
    let frames = frames_for(&drain(&mut gw), again);
    let ns: Vec<&Value> = frames
        .iter()
        .map(|f| &f["notificationMessage"]["n"])
        .collect();
    assert_eq!(ns, [&json!(2), &json!(3), &json!(4)], "in order");
    assert_eq!(gw.stats().buffered_notifications, 0);
    assert_eq!(gw.stats().notifications_sent, 4);
    check(&gw);
}

#[test]
fn buffer_is_bounded_oldest_dropped() {
    let mut gw = gateway_with(GatewayConfig {
        notification_buffer_cap: 5,
        ..GatewayConfig::default()
    });
    let s = subscribe(&mut gw, T0, "alice");
    for n in 0..12 {
        gw.push_notification(T0, "alice@example.com", "IM", &params(json!({"n": n})));
        check(&gw);
    }
    assert_eq!(gw.stats().buffered_notifications, 5);
    assert_eq!(gw.stats().notifications_dropped, 7);
    let sock = open(&mut gw, T0 + 1, &s);
    let ns: Vec<Value> = frames_for(&drain(&mut gw), sock)
        .iter()
        .map(|f| f["notificationMessage"]["n"].clone())
        .collect();
    assert_eq!(ns, [json!(7), json!(8), json!(9), json!(10), json!(11)]);
    // Default cap is bounded.
    assert_eq!(GatewayConfig::default().notification_buffer_cap, 256);
}

#[test]
fn expiry_sends_gone_then_close_then_refuses() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    let sock = open(&mut gw, T0 + 1, &s);
    assert_eq!(gw.poll_timeout(), Some(T0 + 3_600_000));
    gw.handle_timeout(T0 + 3_599_999);
    assert!(drain(&mut gw).is_empty());
    gw.handle_timeout(T0 + 3_600_000);
    let out = drain(&mut gw);
    assert_eq!(out.len(), 2);
    match &out[0] {
        Output::Send { socket, text } => {
            assert_eq!(*socket, sock);
            let v: Value = serde_json::from_str(text).expect("json");
            let m = &v["notificationMessage"];
            assert_eq!(m["eventType"], "gone");
            assert!(m["eventId"].as_str().is_some_and(|id| id.len() == 36));
        }
        other => panic!("expected gone first, got {other:?}"),
    }
    assert_eq!(out[1], Output::Close { socket: sock });
    assert!(gw
        .handle_ws_upgrade(T0 + 3_600_001, &s.channel, &[])
        .is_err());
    let resp = gw.handle_http(
        T0 + 3_600_001,
        put(&s.subscription, s.auth.clone(), &refresh_body()),
    );
    assert_error(&resp, 404, codes::UNKNOWN_SUBSCRIPTION.into());
    let resp = gw.handle_http(T0 + 3_600_001, delete(&s.subscription, s.auth.clone()));
    assert_error(&resp, 404, codes::UNKNOWN_SUBSCRIPTION.into());
    assert_eq!(gw.stats().subscriptions_expired, 1);
    assert_eq!(gw.poll_timeout(), None);
    check(&gw);
}

#[test]
fn expiry_without_socket_is_silent() {
    let mut gw = gateway_with(GatewayConfig {
        unopened_socket_ttl_ms: 10_000_000,
        ..GatewayConfig::default()
    });
    let _s = subscribe(&mut gw, T0, "alice");
    gw.handle_timeout(T0 + 3_600_000);
    assert!(drain(&mut gw).is_empty());
    assert_eq!(gw.stats().subscriptions, 0);
}

#[test]
fn termination_hook_sends_gone_with_retry_after() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    let sock = open(&mut gw, T0, &s);
    let id = gw.subscriptions_of("alice@example.com")[0].id.clone();
    assert!(gw.terminate_subscription(T0 + 1, &id, Some(30)));
    let out = drain(&mut gw);
    let frames = frames_for(&out, sock);
    assert_eq!(frames[0]["notificationMessage"]["eventType"], "gone");
    assert_eq!(frames[0]["notificationMessage"]["retryAfter"], 30);
    assert_eq!(closes(&out), [sock]);
    assert!(!gw.terminate_subscription(T0 + 2, &id, None));
    assert!(gw.handle_ws_upgrade(T0 + 2, &s.channel, &[]).is_err());

    let _a = subscribe(&mut gw, T0, "bob");
    let _b = subscribe(&mut gw, T0, "bob");
    assert_eq!(gw.terminate_user(T0 + 3, "bob@example.com", None), 2);
    assert_eq!(gw.stats().subscriptions_terminated, 3);
    check(&gw);
}

#[test]
fn unopened_subscriptions_are_cleaned_after_the_ttl_only() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    // A late but legitimate open within the TTL keeps it.
    let late = subscribe(&mut gw, T0, "bob");
    gw.handle_timeout(T0 + 59_999);
    let _sock = open(&mut gw, T0 + 59_999, &late);
    gw.handle_timeout(T0 + 60_000);
    assert_eq!(gw.stats().subscriptions, 1);
    assert_eq!(gw.stats().subscriptions_abandoned, 1);
    assert!(gw.handle_ws_upgrade(T0 + 60_001, &s.channel, &[]).is_err());
    assert!(drain(&mut gw).is_empty());
    // A socket that opened once and dropped does not re-arm the clean-up.
    gw.handle_ws_closed(T0 + 70_000, _sock);
    gw.handle_timeout(T0 + 3_000_000);
    assert_eq!(gw.stats().subscriptions, 1);
    check(&gw);
}

#[test]
fn websocket_drop_does_not_end_the_subscription() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    for i in 0..5 {
        let sock = open(&mut gw, T0 + i, &s);
        gw.handle_ws_closed(T0 + i, sock);
    }
    assert_eq!(gw.stats().subscriptions, 1);
    assert_eq!(gw.stats().open_sockets, 0);
    check(&gw);
}
