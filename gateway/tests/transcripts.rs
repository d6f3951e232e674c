//! Replays the session-layer lines of the real 4.8.0 client transcripts
//! (fixtures copied from shared/protocol/transcripts): POST subscription,
//! ws-open of the returned channel, the keepAlive ping, DELETE, ws-closed.
//! The gateway must accept every request as it stands.

mod common;

use common::*;
use kandy_gateway::{basic_authorization, Gateway, GatewayConfig, HttpRequest, Users};
use serde_json::{json, Value};

const ALICE: &str = include_str!("fixtures/alice-4.8.0-session.jsonl");
const BOB: &str = include_str!("fixtures/bob-4.8.0-session.jsonl");
const USERS: &str = include_str!("fixtures/users-kandy-test.json");

/// The headers a browser puts on every 4.8.0 request (01-session §2.1, §3).
fn sdk_headers(user: &str) -> Vec<(String, String)> {
    let password = user.split('@').next().unwrap_or_default();
    vec![
        ("content-type".into(), "application/json".into()),
        ("accept".into(), "application/json".into()),
        ("authorization".into(), basic_authorization(user, password)),
        ("origin".into(), "http://127.0.0.1:8080".into()),
    ]
}

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or_default()
}

fn without_last_segment(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(head, _)| head)
}

/// Returns how many session-layer lines were replayed.
fn replay(transcript: &str, user: &str) -> usize {
    let users = Users::from_json(USERS).expect("fixture users");
    let mut gw = Gateway::new(GatewayConfig::default(), users, SEED);
    let mut subscription: Option<String> = None;
    let mut channel: Option<String> = None;
    let mut socket = None;
    let mut replayed = 0;

    for line in transcript.lines().filter(|l| !l.trim().is_empty()) {
        let rec: Value = serde_json::from_str(line).expect("transcript line is JSON");
        let now = T0 + rec["t_ms"].as_u64().expect("t_ms");
        let kind = rec["kind"].as_str().expect("kind");
        let path = rec["path"].as_str().unwrap_or_default();
        match kind {
            "http" => {
                let method = rec["method"].as_str().expect("method");
                let is_subscribe = method == "POST" && path.ends_with("/subscription");
                let is_unsubscribe = method == "DELETE" && path.contains("/subscription/");
                if !is_subscribe && !is_unsubscribe {
                    continue; // calls, presence, IM, ...: later features
                }
                let target = if is_unsubscribe {
                    // Same layout as the recorded gateway's; only the id is ours.
                    let ours = subscription.clone().expect("subscribed before DELETE");
                    assert_eq!(without_last_segment(&ours), without_last_segment(path));
                    ours
                } else {
                    path.to_owned()
                };
                let mut req = HttpRequest::new(method, target);
                req.headers = sdk_headers(user);
                if !rec["request_body"].is_null() {
                    req.body = rec["request_body"].to_string().into_bytes();
                }
                let resp = gw.handle_http(now, req);
                assert_eq!(
                    u64::from(resp.status),
                    rec["status"].as_u64().expect("status"),
                    "{line}: {:?}",
                    resp.body_json()
                );
                let body = json_of(&resp);
                assert_eq!(
                    resp.header("access-control-allow-origin"),
                    Some("http://127.0.0.1:8080")
                );
                if is_subscribe {
                    let r = &body["subscribeResponse"];
                    subscription = r["subscription"].as_str().map(str::to_owned);
                    channel = r["subscriptionParams"]["notificationChannel"]
                        .as_str()
                        .map(str::to_owned);
                    assert_eq!(
                        r["subscriptionParams"]["service"],
                        json!(["IM", "Presence", "call"])
                    );
                    assert_eq!(r["subscriptionParams"]["expires"], 3600);
                } else {
                    assert_eq!(body, json!({"subscribeResponse": {"statusCode": 0}}));
                    assert!(drain(&mut gw).is_empty(), "no gone, no close on DELETE");
                }
                replayed += 1;
            }
            "ws-open" => {
                let ours = channel.clone().expect("channel known before ws-open");
                assert_eq!(without_last_segment(&ours), without_last_segment(path));
                assert!(!last_segment(&ours).is_empty());
                let headers = [("origin".to_owned(), "http://127.0.0.1:8080".to_owned())];
                socket = Some(gw.handle_ws_upgrade(now, &ours, &headers).expect("upgrade"));
                replayed += 1;
            }
            "ws-client-to-gateway" => {
                let s = socket.expect("socket open");
                gw.handle_ws_frame(now, s, &rec["frame"].to_string());
                assert!(drain(&mut gw).is_empty(), "keepAlive ping gets no reply");
                replayed += 1;
            }
            "ws-closed" => {
                gw.handle_ws_closed(now, socket.take().expect("socket open"));
                replayed += 1;
            }
            _ => {} // gateway-to-client frames: not requests
        }
        gw.check_invariants().expect("invariants");
    }
    let stats = gw.stats();
    assert_eq!(stats.subscriptions, 0);
    assert_eq!(stats.open_sockets, 0);
    assert_eq!(stats.timers, 0);
    assert_eq!(stats.pending_outputs, 0);
    replayed
}

#[test]
fn alice_session_layer_replays() {
    assert_eq!(replay(ALICE, "alice@kandy.test"), 5);
}

#[test]
fn bob_session_layer_replays() {
    assert_eq!(replay(BOB, "bob@kandy.test"), 5);
}

#[test]
fn fixture_users_log_in() {
    let users = Users::from_json(USERS).expect("fixture users");
    for name in ["alice", "bob", "carol"] {
        let u = users.get(&format!("{name}@kandy.test")).expect("user");
        assert_eq!(u.password.as_deref(), Some(name));
    }
}
