//! Random requests, frames and timeouts never panic the model, and what it
//! reports stays consistent with what the driver saw.

mod common;

use std::collections::BTreeSet;

use common::*;
use kandy_gateway::{
    basic_authorization, hmac_token, Gateway, GatewayConfig, HttpRequest, Output, SocketId,
    TokenKind,
};
use proptest::prelude::*;
use serde_json::{json, Map};

const USERS: [&str; 4] = ["alice", "bob", "carol", "mallory"];

#[derive(Clone, Debug)]
enum Op {
    Subscribe {
        user: usize,
        cred: u8,
        expires: i64,
        odd_body: bool,
    },
    Refresh {
        sub: usize,
        cred: u8,
        body: u8,
    },
    Delete {
        sub: usize,
        cred: u8,
    },
    Upgrade {
        sub: usize,
        query: u8,
    },
    Frame {
        socket: usize,
        text: String,
    },
    Closed {
        socket: usize,
    },
    Advance {
        ms: u64,
    },
    Push {
        user: usize,
    },
    Terminate {
        sub: usize,
    },
    Mint {
        user: usize,
        kind: u8,
        lifetime: u64,
    },
    Raw {
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    RawUpgrade {
        path: String,
    },
    RawFrame {
        socket: u64,
        text: String,
    },
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("authorization".to_owned()),
        Just("Authorization".to_owned()),
        Just("x-session".to_owned()),
        Just("x-token".to_owned()),
        Just("origin".to_owned()),
        Just("access-control-request-headers".to_owned()),
        Just("content-type".to_owned()),
        ".{0,12}",
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("basic YWxpY2VAZXhhbXBsZS5jb206YWxpY2U=".to_owned()),
        Just("Bearer x".to_owned()),
        Just("basic ////".to_owned()),
        Just("https://app.example".to_owned()),
        ".{0,40}",
    ]
}

fn raw_path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/rest/version/1/user/alice@example.com/subscription".to_owned()),
        Just("/rest/version/1/anonymous/bob%40example.com/subscription/".to_owned()),
        Just("/rest/version/1/user/alice@example.com/subscription/clientCorrelator/c".to_owned()),
        Just("/v2.0/auth/refresh_token?token=x&expires=10".to_owned()),
        Just("/v2.0/auth/mk_token?refresh=y".to_owned()),
        "/rest/version/[0-9a-z%@/?&=.]{0,60}",
        ".{0,80}",
    ]
}

fn raw_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(br#"{"subscribeRequest":{"expires":3600,"service":["IM"]}}"#.to_vec()),
        Just(br#"{"subscribeRequest":{"service":{"services":[]}}}"#.to_vec()),
        proptest::collection::vec(any::<u8>(), 0..200),
        ".{0,100}".prop_map(String::into_bytes),
    ]
}

fn frame_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(r#"{"message_type":"ping"}"#.to_owned()),
        Just(r#"{"connCheck":{"interval":30}}"#.to_owned()),
        Just(r#"{"connAck":{}}"#.to_owned()),
        ".{0,60}",
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..USERS.len(), 0u8..6, -10i64..10_000, any::<bool>()).prop_map(
            |(user, cred, expires, odd_body)| Op::Subscribe { user, cred, expires, odd_body }
        ),
        3 => (any::<usize>(), 0u8..4, 0u8..4).prop_map(|(sub, cred, body)| Op::Refresh { sub, cred, body }),
        2 => (any::<usize>(), 0u8..4).prop_map(|(sub, cred)| Op::Delete { sub, cred }),
        4 => (any::<usize>(), 0u8..4).prop_map(|(sub, query)| Op::Upgrade { sub, query }),
        3 => (any::<usize>(), frame_text()).prop_map(|(socket, text)| Op::Frame { socket, text }),
        2 => any::<usize>().prop_map(|socket| Op::Closed { socket }),
        4 => prop_oneof![0u64..5_000, 0u64..100_000, 0u64..4_000_000].prop_map(|ms| Op::Advance { ms }),
        3 => (0..USERS.len()).prop_map(|user| Op::Push { user }),
        1 => any::<usize>().prop_map(|sub| Op::Terminate { sub }),
        1 => (0..USERS.len(), 0u8..3, 0u64..200).prop_map(|(user, kind, lifetime)| Op::Mint { user, kind, lifetime }),
        3 => (
            prop_oneof![
                Just("GET".to_owned()), Just("POST".to_owned()), Just("PUT".to_owned()),
                Just("DELETE".to_owned()), Just("OPTIONS".to_owned()), ".{0,8}"
            ],
            raw_path(),
            proptest::collection::vec((header_name(), header_value()), 0..4),
            raw_body(),
        ).prop_map(|(method, path, headers, body)| Op::Raw { method, path, headers, body }),
        1 => raw_path().prop_map(|path| Op::RawUpgrade { path }),
        1 => (0u64..20, frame_text()).prop_map(|(socket, text)| Op::RawFrame { socket, text }),
    ]
}

/// What the driver knows.
#[derive(Default)]
struct Driver {
    now: u64,
    subs: Vec<(String, String, String, String)>, // user, path, channel, session
    open: BTreeSet<SocketId>,
    ever: Vec<SocketId>,
    tokens: Vec<String>,
}

impl Driver {
    fn pick_sub(&self, i: usize) -> Option<&(String, String, String, String)> {
        (!self.subs.is_empty()).then(|| &self.subs[i % self.subs.len()])
    }

    fn pick_socket(&self, i: usize) -> Option<SocketId> {
        (!self.ever.is_empty()).then(|| self.ever[i % self.ever.len()])
    }

    fn cred(&self, user: &str, cred: u8, session: &str) -> (String, String) {
        let name = user.split('@').next().unwrap_or_default();
        match cred {
            0 => ("authorization".into(), basic_authorization(user, name)),
            1 => ("x-session".into(), session.to_owned()),
            2 => ("authorization".into(), basic_authorization(user, "wrong")),
            3 => (
                "x-token".into(),
                hmac_token(&format!("{name}-secret"), user),
            ),
            4 => (
                "authorization".into(),
                format!("Bearer {}", self.tokens.last().cloned().unwrap_or_default()),
            ),
            _ => ("x-nothing".into(), String::new()),
        }
    }
}

fn apply(gw: &mut Gateway, d: &mut Driver, op: Op) {
    match op {
        Op::Subscribe {
            user,
            cred,
            expires,
            odd_body,
        } => {
            let user = format!("{}@example.com", USERS[user]);
            let header = d.cred(&user, cred, "");
            let body = if odd_body {
                json!({"subscribeRequest": {"expires": expires, "service": ["IM", "event:x", "nope"], "clientCorrelator": "c"}})
            } else {
                json!({"subscribeRequest": {"expires": expires, "service": ["call"]}})
            };
            let resp = gw.handle_http(d.now, post_with_body(&user, header, &body));
            if resp.status == 200 {
                let b = resp.body_json().expect("json");
                let r = &b["subscribeResponse"];
                d.subs.push((
                    user,
                    r["subscription"].as_str().expect("path").to_owned(),
                    r["subscriptionParams"]["notificationChannel"]
                        .as_str()
                        .expect("ch")
                        .to_owned(),
                    r["subscriptionParams"]["sessionId"]
                        .as_str()
                        .expect("sid")
                        .to_owned(),
                ));
            }
        }
        Op::Refresh { sub, cred, body } => {
            if let Some((user, path, _, session)) = d.pick_sub(sub).cloned() {
                let body = match body {
                    0 => refresh_body(),
                    1 => json!({"subscribeRequest": {"service": {"services": []}}}),
                    2 => json!({"subscribeRequest": {"expires": 61}}),
                    _ => json!(null),
                };
                let resp = gw.handle_http(d.now, put(&path, d.cred(&user, cred, &session), &body));
                assert!(resp.status != 204);
            }
        }
        Op::Delete { sub, cred } => {
            if let Some((user, path, _, session)) = d.pick_sub(sub).cloned() {
                gw.handle_http(d.now, delete(&path, d.cred(&user, cred, &session)));
            }
        }
        Op::Upgrade { sub, query } => {
            if let Some((_, _, channel, _)) = d.pick_sub(sub).cloned() {
                let target = match query {
                    0 => channel,
                    1 => format!(
                        "{channel}?token={}",
                        d.tokens.last().cloned().unwrap_or_default()
                    ),
                    2 => format!("{channel}?access_token=bad"),
                    _ => format!("{channel}?x=1"),
                };
                match gw.handle_ws_upgrade(d.now, &target, &[]) {
                    Ok(s) => {
                        assert!(d.open.insert(s), "socket ids are fresh");
                        d.ever.push(s);
                    }
                    Err(resp) => assert!(resp.status == 404 || resp.status == 401),
                }
            }
        }
        Op::Frame { socket, text } => {
            if let Some(s) = d.pick_socket(socket) {
                gw.handle_ws_frame(d.now, s, &text);
            }
        }
        Op::Closed { socket } => {
            if let Some(s) = d.pick_socket(socket) {
                gw.handle_ws_closed(d.now, s);
                d.open.remove(&s);
            }
        }
        Op::Advance { ms } => {
            d.now += ms;
            gw.handle_timeout(d.now);
        }
        Op::Push { user } => {
            let mut params = Map::new();
            params.insert("n".into(), json!(d.now));
            gw.push_notification(
                d.now,
                &format!("{}@example.com", USERS[user]),
                "IM",
                &params,
            );
        }
        Op::Terminate { sub } => {
            if let Some(info) = d
                .pick_sub(sub)
                .and_then(|(_, _, ch, _)| gw.subscription_by_channel(ch))
            {
                assert!(gw.terminate_subscription(d.now, &info.id, None));
            }
        }
        Op::Mint {
            user,
            kind,
            lifetime,
        } => {
            let kind = [TokenKind::Access, TokenKind::OAuth, TokenKind::Refresh][usize::from(kind)];
            if let Ok(t) = gw.mint_token(
                d.now,
                &format!("{}@example.com", USERS[user]),
                kind,
                Some(lifetime),
            ) {
                d.tokens.push(t);
            }
        }
        Op::Raw {
            method,
            path,
            headers,
            body,
        } => {
            let resp = gw.handle_http(
                d.now,
                HttpRequest {
                    method,
                    path_and_query: path,
                    headers,
                    body,
                },
            );
            assert!((200..600).contains(&resp.status));
            assert!(resp.header("access-control-allow-origin").is_some());
            if resp.status != 204 {
                assert_eq!(resp.header("content-type"), Some("application/json"));
                assert!(
                    resp.body_json().is_some(),
                    "every non-preflight body is JSON"
                );
            }
        }
        Op::RawUpgrade { path } => {
            if let Ok(s) = gw.handle_ws_upgrade(d.now, &path, &[]) {
                assert!(d.open.insert(s));
                d.ever.push(s);
            }
        }
        Op::RawFrame { socket, text } => gw.handle_ws_frame(d.now, SocketId(socket), &text),
    }
}

fn post_with_body(user: &str, header: (String, String), body: &serde_json::Value) -> HttpRequest {
    HttpRequest::new("POST", sub_path(user))
        .with_header(header.0, header.1)
        .with_json(body)
}

/// Applies outputs to the driver's view and checks they make sense.
fn absorb(gw: &mut Gateway, d: &mut Driver) {
    while let Some(out) = gw.poll_output() {
        match out {
            Output::Send { socket, text } => {
                assert!(
                    d.open.contains(&socket),
                    "send on a socket that is not open"
                );
                let v: serde_json::Value = serde_json::from_str(&text).expect("frames are JSON");
                let ok = v.get("connAck").is_some()
                    || v.get("connCheck").is_some()
                    || v["notificationMessage"]["eventId"].is_string();
                assert!(ok, "unexpected frame {text}");
            }
            Output::Close { socket } => {
                assert!(d.open.remove(&socket), "close of a socket that is not open");
            }
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_inputs_never_break_the_model(ops in proptest::collection::vec(op(), 1..60), seed in any::<[u8; 32]>()) {
        let config = GatewayConfig {
            max_body_bytes: 150,
            notification_buffer_cap: 3,
            server_conn_check_interval_s: if seed[0] % 2 == 0 { Some(30) } else { None },
            notify_websocket_overridden: seed[1] % 2 == 0,
            ..GatewayConfig::default()
        };
        let mut gw = Gateway::new(config, kandy_gateway::Users::builtin(), seed);
        let mut d = Driver { now: T0, ..Driver::default() };
        for op in ops {
            apply(&mut gw, &mut d, op);
            absorb(&mut gw, &mut d);
            prop_assert_eq!(gw.check_invariants(), Ok(()));
            let stats = gw.stats();
            prop_assert_eq!(stats.open_sockets, d.open.len());
            prop_assert_eq!(stats.pending_outputs, 0);
            prop_assert!(stats.attached_sockets <= stats.subscriptions);
            prop_assert!(stats.buffered_notifications <= 3 * stats.subscriptions);
            if let Some(t) = gw.poll_timeout() {
                prop_assert!(t > d.now, "due timers were processed");
            }
        }
        // Far in the future everything has ended; only sockets the client
        // never closed after a DELETE ... were closed by the gateway too.
        d.now += 10_000_000_000;
        gw.handle_timeout(d.now);
        absorb(&mut gw, &mut d);
        let stats = gw.stats();
        prop_assert_eq!(stats.subscriptions, 0);
        prop_assert_eq!(stats.open_sockets, 0);
        prop_assert!(d.open.is_empty());
        prop_assert_eq!(stats.timers, 0);
        prop_assert_eq!(gw.check_invariants(), Ok(()));
    }

    #[test]
    fn any_bytes_as_a_request(method in ".{0,10}", path in ".{0,100}", body in proptest::collection::vec(any::<u8>(), 0..300),
                              headers in proptest::collection::vec((".{0,20}", ".{0,60}"), 0..6)) {
        let mut gw = gateway();
        let resp = gw.handle_http(T0, HttpRequest { method, path_and_query: path, headers, body });
        prop_assert!(resp.header("access-control-allow-origin").is_some());
        prop_assert_eq!(gw.check_invariants(), Ok(()));
    }
}
