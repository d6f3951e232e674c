//! Random requests, frames and timeouts never panic the model, and what it
//! reports stays consistent with what the driver saw.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::*;
use kandy_gateway::{
    basic_authorization, hmac_token, CallConfig, Gateway, GatewayConfig, GlareMode, HttpRequest,
    LegState, Output, SocketId, TokenKind,
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
    // ----- calls -----
    CallStart {
        from: usize,
        to: u8,
        sdp: u8,
    },
    CallPut {
        leg: usize,
        kind: u8,
        sdp: u8,
        to: u8,
        other: usize,
        foreign: bool,
    },
    CallDelete {
        leg: usize,
        foreign: bool,
    },
    Disposition {
        leg: usize,
        action: u8,
        to: u8,
    },
    Join {
        a: usize,
        b: usize,
        sdp: u8,
    },
    EndCalls {
        user: usize,
    },
    /// The natural next request for one of the newest legs, from its state
    /// (ringing, answer, update, answer to an update, transfers), so that
    /// random runs get deep into calls.
    CallAuto {
        leg: usize,
        variant: u8,
    },
}

/// Destinations, good and bad.
const TARGETS: [&str; 9] = [
    "bob",
    "sip:alice@example.com",
    "carol@example.com",
    "sip:mallory@example.com",
    "Carol<sip:carol@example.com>",
    "tel:+15550101",
    "a b",
    "",
    "<>",
];

/// A short but valid SDP (bodies must fit the small `max_body_bytes` of
/// some runs), a hold variant, and bad ones.
fn call_sdp(which: u8) -> Option<serde_json::Value> {
    let valid = |dir: &str| {
        format!("v=0\r\nm=audio 9 RTP/SAVPF 0\r\na=ice-ufrag:u\r\na=fingerprint:f\r\na=mid:0\r\na={dir}\r\n")
    };
    match which {
        0..=2 => Some(json!(valid("sendrecv"))),
        3 => Some(json!(valid("inactive"))),
        4 => Some(json!("v=0")),
        5 => Some(json!(5)),
        _ => None,
    }
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
        Just("/rest/version/1/user/alice@example.com/callControl".to_owned()),
        Just("/rest/version/1/user/alice@example.com/callControl/callSessions/x".to_owned()),
        Just("/rest/version/1/user/bob@example.com/calldisposition".to_owned()),
        Just("/rest/version/1/anonymous/alice@example.com/callMe/callSessions/".to_owned()),
        "/rest/version/[0-9a-z%@/?&=.]{0,60}",
        ".{0,80}",
    ]
}

fn raw_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(br#"{"subscribeRequest":{"expires":3600,"service":["IM"]}}"#.to_vec()),
        Just(br#"{"subscribeRequest":{"service":{"services":[]}}}"#.to_vec()),
        Just(br#"{"callControlRequest":{"type":"callStart","to":"bob","sdp":"v=0"}}"#.to_vec()),
        Just(br#"{"callControlRequest":{"type":"audit"}}"#.to_vec()),
        Just(br#"{"callDispositionRequest":{"action":"reject","sessionData":"x"}}"#.to_vec()),
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
        4 => (0..USERS.len(), any::<u8>(), 0u8..7).prop_map(|(from, to, sdp)| Op::CallStart { from, to, sdp }),
        8 => (any::<usize>(), 0u8..9, 0u8..7, any::<u8>(), any::<usize>(), proptest::bool::weighted(0.1))
            .prop_map(|(leg, kind, sdp, to, other, foreign)| Op::CallPut { leg, kind, sdp, to, other, foreign }),
        2 => (any::<usize>(), proptest::bool::weighted(0.1)).prop_map(|(leg, foreign)| Op::CallDelete { leg, foreign }),
        2 => (any::<usize>(), 0u8..3, any::<u8>()).prop_map(|(leg, action, to)| Op::Disposition { leg, action, to }),
        1 => (any::<usize>(), any::<usize>(), 0u8..7).prop_map(|(a, b, sdp)| Op::Join { a, b, sdp }),
        1 => (0..USERS.len()).prop_map(|user| Op::EndCalls { user }),
    ]
}

/// Call-heavy traffic for users who are all online: mostly call requests
/// and short waits, with some subscription and socket churn.
fn call_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, 0u8..9, 0u8..7).prop_map(|(from, to, sdp)| Op::CallStart { from, to: to % 6, sdp }),
        6 => (any::<usize>(), 0u8..9, 0u8..7, any::<u8>(), any::<usize>(), proptest::bool::weighted(0.05))
            .prop_map(|(leg, kind, sdp, to, other, foreign)| Op::CallPut { leg, kind, sdp, to: to % 6, other, foreign }),
        2 => (any::<usize>(), proptest::bool::weighted(0.05)).prop_map(|(leg, foreign)| Op::CallDelete { leg, foreign }),
        2 => (any::<usize>(), 0u8..3, 0u8..6).prop_map(|(leg, action, to)| Op::Disposition { leg, action, to }),
        1 => (any::<usize>(), any::<usize>(), 0u8..7).prop_map(|(a, b, sdp)| Op::Join { a, b, sdp }),
        1 => (0..USERS.len()).prop_map(|user| Op::EndCalls { user }),
        24 => (0..6usize, any::<u8>()).prop_map(|(leg, variant)| Op::CallAuto { leg, variant }),
        6 => prop_oneof![4 => 0u64..300, 1 => 0u64..30_000, 1 => 0u64..80_000].prop_map(|ms| Op::Advance { ms }),
        1 => any::<usize>().prop_map(|socket| Op::Closed { socket }),
        2 => (any::<usize>(), Just(0u8)).prop_map(|(sub, query)| Op::Upgrade { sub, query }),
        1 => (any::<usize>(), Just(0u8)).prop_map(|(sub, cred)| Op::Delete { sub, cred }),
        1 => any::<usize>().prop_map(|sub| Op::Terminate { sub }),
        1 => (0..3usize, Just(0u8), Just(3600i64), Just(false))
            .prop_map(|(user, cred, expires, odd_body)| Op::Subscribe { user, cred, expires, odd_body }),
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
    /// Owner of each socket, to learn callee legs from `call` frames.
    socket_user: HashMap<SocketId, String>,
    /// (owner, sessionData) of every leg seen.
    legs: Vec<(String, String)>,
}

impl Driver {
    fn pick_sub(&self, i: usize) -> Option<&(String, String, String, String)> {
        (!self.subs.is_empty()).then(|| &self.subs[i % self.subs.len()])
    }

    fn pick_leg(&self, i: usize) -> Option<(String, String)> {
        (!self.legs.is_empty()).then(|| self.legs[i % self.legs.len()].clone())
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
                        if let Some((user, ..)) = d.pick_sub(sub) {
                            d.socket_user.insert(s, user.clone());
                        }
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
        Op::CallStart { from, to, sdp } => {
            let user = format!("{}@example.com", USERS[from]);
            let mut body =
                json!({"type": "callStart", "to": TARGETS[usize::from(to) % TARGETS.len()]});
            if let Some(s) = call_sdp(sdp) {
                body["sdp"] = s;
            }
            let resp = call_request(
                gw,
                d,
                &user,
                "POST",
                "/callControl",
                Some(json!({"callControlRequest": body})),
            );
            if resp.status == 200 {
                let b = resp.body_json().expect("json");
                let sid = b["callControlResponse"]["sessionData"]
                    .as_str()
                    .expect("sessionData");
                d.legs.push((user, sid.to_owned()));
            }
        }
        Op::CallPut {
            leg,
            kind,
            sdp,
            to,
            other,
            foreign,
        } => {
            let Some((owner, sid)) = d.pick_leg(leg) else {
                return;
            };
            let user = if foreign {
                d.pick_leg(other).map_or(owner.clone(), |l| l.0)
            } else {
                owner
            };
            let kinds = [
                "ringing",
                "callAnswer",
                "startCallUpdate",
                "respondCallUpdate",
                "audit",
                "transfer",
                "transfer",
                "frobnicate",
                "audit",
            ];
            let mut body = json!({"type": kinds[usize::from(kind) % kinds.len()]});
            if let Some(s) = call_sdp(sdp) {
                body["sdp"] = s;
            }
            if kind == 5 || kind == 6 {
                body["address"] = json!(TARGETS[usize::from(to) % TARGETS.len()]);
            }
            if kind == 6 {
                if let Some((_, other_sid)) = d.pick_leg(other) {
                    body["sessionData"] = json!(other_sid);
                }
            }
            let path = format!("/callControl/callSessions/{sid}");
            call_request(
                gw,
                d,
                &user,
                "PUT",
                &path,
                Some(json!({"callControlRequest": body})),
            );
        }
        Op::CallDelete { leg, foreign } => {
            if let Some((user, sid)) = d.pick_leg(leg) {
                let path = if foreign {
                    "/callControl".to_owned()
                } else {
                    format!("/callControl/callSessions/{sid}")
                };
                let resp = call_request(gw, d, &user, "DELETE", &path, None);
                assert!(matches!(resp.status, 200 | 401 | 404), "{}", resp.status);
            }
        }
        Op::Disposition { leg, action, to } => {
            if let Some((user, sid)) = d.pick_leg(leg) {
                let action = ["reject", "forward", "park"][usize::from(action) % 3];
                let body = json!({"callDispositionRequest": {"action": action, "sessionData": sid,
                    "address": TARGETS[usize::from(to) % TARGETS.len()]}});
                call_request(gw, d, &user, "POST", "/calldisposition", Some(body));
            }
        }
        Op::Join { a, b, sdp } => {
            if let (Some((user, first)), Some((_, second))) = (d.pick_leg(a), d.pick_leg(b)) {
                let mut body =
                    json!({"type": "join", "firstSessionData": first, "secondSessionData": second});
                if let Some(s) = call_sdp(sdp) {
                    body["sdp"] = s;
                }
                let resp = call_request(
                    gw,
                    d,
                    &user,
                    "POST",
                    "/callControl",
                    Some(json!({"callControlRequest": body})),
                );
                assert_ne!(resp.status, 200, "join is never accepted without a mixer");
            }
        }
        Op::CallAuto { leg, variant } => {
            let live: Vec<(String, String)> = d
                .legs
                .iter()
                .rev()
                .filter(|(_, s)| gw.call_leg(s).is_some_and(|l| l.state != LegState::Ended))
                .take(6)
                .cloned()
                .collect();
            if live.is_empty() {
                return;
            }
            let (user, sid) = live[leg % live.len()].clone();
            let Some(info) = gw.call_leg(&sid) else {
                return;
            };
            let calls = gw.active_calls();
            let call = calls
                .iter()
                .find(|c| c.legs.iter().any(|l| l.session_data == sid));
            let txn_open = call.is_some_and(|c| c.transaction_open);
            let sdp = call_sdp(variant % 4).unwrap_or_default();
            let body = match info.state {
                LegState::Notified => json!({"type": "ringing"}),
                LegState::Ringing if variant % 8 == 0 => {
                    let action = if variant % 16 == 0 {
                        "reject"
                    } else {
                        "forward"
                    };
                    let body = json!({"callDispositionRequest": {"action": action, "sessionData": sid,
                        "address": TARGETS[usize::from(variant / 16) % 6]}});
                    call_request(gw, d, &user, "POST", "/calldisposition", Some(body));
                    return;
                }
                LegState::Ringing => json!({"type": "callAnswer", "sdp": sdp}),
                LegState::Connected if txn_open => json!({"type": "respondCallUpdate", "sdp": sdp}),
                LegState::Connected => match variant % 5 {
                    0 | 1 => json!({"type": "startCallUpdate", "sdp": sdp}),
                    2 => {
                        json!({"type": "transfer", "address": TARGETS[usize::from(variant / 5) % 6]})
                    }
                    3 => {
                        let other = d
                            .legs
                            .iter()
                            .rev()
                            .find(|(u, s)| *u == user && *s != sid && gw.call_leg(s).is_some())
                            .map(|(_, s)| s.clone())
                            .unwrap_or_default();
                        json!({"type": "transfer", "sessionData": other, "address": "x"})
                    }
                    _ => json!({"type": "audit"}),
                },
                _ => json!({"type": "audit"}),
            };
            let path = format!("/callControl/callSessions/{sid}");
            call_request(
                gw,
                d,
                &user,
                "PUT",
                &path,
                Some(json!({"callControlRequest": body})),
            );
        }
        Op::EndCalls { user } => {
            gw.end_calls_of(d.now, &format!("{}@example.com", USERS[user]));
        }
    }
}

/// A call request as 4.8.0 sends it; checks the reply is well-formed.
fn call_request(
    gw: &mut Gateway,
    d: &Driver,
    user: &str,
    method: &str,
    suffix: &str,
    body: Option<serde_json::Value>,
) -> kandy_gateway::HttpResponse {
    let name = user.split('@').next().unwrap_or_default();
    let mut req = HttpRequest::new(method, format!("/rest/version/1/user/{user}{suffix}"))
        .with_header("content-type", "application/json")
        .with_header("authorization", basic_authorization(user, name));
    if let Some(b) = body {
        req.body = b.to_string().into_bytes();
    }
    let resp = gw.handle_http(d.now, req);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let b = resp.body_json().expect("every call reply is JSON");
    if resp.status != 200 {
        assert!(
            b["callControlResponse"]["statusCode"].is_u64(),
            "call errors use the callControlResponse wrapper: {b}"
        );
    }
    resp
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
                let m = &v["notificationMessage"];
                if m["eventType"] == "call" {
                    let sid = m["sessionParams"]["sessionData"]
                        .as_str()
                        .expect("sessionData");
                    let user = d.socket_user.get(&socket).cloned().unwrap_or_default();
                    d.legs.push((user, sid.to_owned()));
                }
                if m["sessionParams"].is_object() {
                    assert!(
                        m["sessionParams"]["sessionData"].is_string(),
                        "call notifications name their leg"
                    );
                }
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
            max_body_bytes: if seed[2] % 4 == 0 { 150 } else { 2_048 },
            notification_buffer_cap: 3,
            server_conn_check_interval_s: if seed[0] % 2 == 0 { Some(30) } else { None },
            notify_websocket_overridden: seed[1] % 2 == 0,
            calls: CallConfig {
                ringing_timeout_ms: 20_000,
                audit_timeout_ms: 50_000,
                update_timeout_ms: 5_000,
                first_notification_delay_ms: if seed[3] % 2 == 0 { 200 } else { 0 },
                cancel_hold_ms: 10_000,
                call_log_cap: 3,
                ..CallConfig::default()
            },
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
            prop_assert_eq!(stats.calls_active, gw.active_calls().len());
            prop_assert!(stats.call_legs >= 2 * stats.calls_active);
            if let Some(t) = gw.poll_timeout() {
                prop_assert!(t > d.now, "due timers were processed");
            }
        }
        // Far in the future everything has ended; only sockets the client
        // never closed after a DELETE ... were closed by the gateway too.
        // Twice: what ending the subscriptions queued (call notification
        // hold-backs, cancels waiting for a ringing PUT) runs out after.
        for _ in 0..2 {
            d.now += 10_000_000_000;
            gw.handle_timeout(d.now);
            absorb(&mut gw, &mut d);
        }
        let stats = gw.stats();
        prop_assert_eq!(stats.subscriptions, 0);
        prop_assert_eq!(stats.calls_active, 0);
        prop_assert_eq!(stats.call_legs, 0);
        prop_assert_eq!(stats.calls_created, stats.calls_ended);
        prop_assert_eq!(stats.open_sockets, 0);
        prop_assert!(d.open.is_empty());
        prop_assert_eq!(stats.timers, 0);
        prop_assert_eq!(gw.check_invariants(), Ok(()));
    }

    #[test]
    fn random_call_traffic_keeps_the_invariants(ops in proptest::collection::vec(call_op(), 10..150), seed in any::<[u8; 32]>()) {
        let config = GatewayConfig {
            calls: CallConfig {
                ringing_timeout_ms: 20_000,
                audit_timeout_ms: 50_000,
                update_timeout_ms: 5_000,
                first_notification_delay_ms: if seed[3] % 2 == 0 { 200 } else { 0 },
                cancel_hold_ms: 10_000,
                call_log_cap: 3,
                glare: if seed[4] % 3 == 0 { GlareMode::Notify } else { GlareMode::Reject },
                ..CallConfig::default()
            },
            ..GatewayConfig::default()
        };
        let mut gw = Gateway::new(config, kandy_gateway::Users::builtin(), seed);
        let mut d = Driver { now: T0, ..Driver::default() };
        for user in 0..3 {
            apply(&mut gw, &mut d, Op::Subscribe { user, cred: 0, expires: 3600, odd_body: false });
            apply(&mut gw, &mut d, Op::Upgrade { sub: user, query: 0 });
        }
        absorb(&mut gw, &mut d);
        let mut created = 0;
        for op in ops {
            apply(&mut gw, &mut d, op);
            absorb(&mut gw, &mut d);
            prop_assert_eq!(gw.check_invariants(), Ok(()));
            let stats = gw.stats();
            prop_assert_eq!(stats.pending_outputs, 0);
            prop_assert_eq!(stats.open_sockets, d.open.len());
            prop_assert_eq!(stats.calls_active, gw.active_calls().len());
            prop_assert!(stats.call_legs >= 2 * stats.calls_active);
            prop_assert!(stats.calls_created >= created, "counters only grow");
            created = stats.calls_created;
            for user in &USERS[..3] {
                let logs = gw.call_logs(&format!("{user}@example.com")).len();
                prop_assert!(logs <= 3);
            }
            if let Some(t) = gw.poll_timeout() {
                prop_assert!(t > d.now, "due timers were processed");
            }
        }
        // Everybody hangs up (or their subscriptions run out): nothing is
        // left, every call created has ended.
        for _ in 0..2 {
            d.now += 10_000_000_000;
            gw.handle_timeout(d.now);
            absorb(&mut gw, &mut d);
        }
        let stats = gw.stats();
        prop_assert_eq!(stats.call_legs, 0);
        prop_assert_eq!(stats.calls_active, 0);
        prop_assert_eq!(stats.calls_created, stats.calls_ended);
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
