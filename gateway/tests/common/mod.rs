//! Helpers shared by the integration tests.
#![allow(dead_code)]

use kandy_gateway::{
    basic_authorization, Gateway, GatewayConfig, HttpRequest, HttpResponse, Output, SocketId, Users,
};
use serde_json::{json, Value};

/// An arbitrary fixed epoch time (2023-11-14).
pub const T0: u64 = 1_700_000_000_000;
pub const SEED: [u8; 32] = [42; 32];

pub fn gateway() -> Gateway {
    Gateway::new(GatewayConfig::default(), Users::builtin(), SEED)
}

pub fn gateway_with(config: GatewayConfig) -> Gateway {
    Gateway::new(config, Users::builtin(), SEED)
}

pub fn basic(login: &str, password: &str) -> (String, String) {
    (
        "authorization".to_owned(),
        basic_authorization(login, password),
    )
}

pub fn subscribe_body() -> Value {
    json!({"subscribeRequest": {
        "expires": 3600,
        "service": ["IM", "Presence", "call"],
        "localization": "English_US",
        "useTurn": true,
        "notificationType": "WebSocket",
        "supported": ["RingingFeedback"]
    }})
}

pub fn sub_path(user: &str) -> String {
    format!("/rest/version/1/user/{user}/subscription")
}

pub fn post_subscription(user: &str, header: (String, String)) -> HttpRequest {
    HttpRequest::new("POST", sub_path(user))
        .with_header("accept", "application/json")
        .with_header(header.0, header.1)
        .with_json(&subscribe_body())
}

pub fn json_of(resp: &HttpResponse) -> Value {
    assert_eq!(
        resp.header("content-type"),
        Some("application/json"),
        "status {} body {:?}",
        resp.status,
        String::from_utf8_lossy(&resp.body)
    );
    resp.body_json().expect("JSON body")
}

/// Asserts status and the wrapped error code; returns the body.
pub fn assert_error(resp: &HttpResponse, status: u16, code: u64) -> Value {
    let body = json_of(resp);
    assert_eq!(resp.status, status, "{body}");
    assert_eq!(
        body["subscribeResponse"]["statusCode"],
        json!(code),
        "{body}"
    );
    assert!(
        body["subscribeResponse"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{body}"
    );
    body
}

/// A live session of `user@example.com` (password = local part).
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub subscription: String,
    pub channel: String,
    pub session_id: String,
    pub auth: (String, String),
}

pub fn subscribe(gw: &mut Gateway, now: u64, name: &str) -> Session {
    let user = format!("{name}@example.com");
    let auth = basic(&user, name);
    let resp = gw.handle_http(now, post_subscription(&user, auth.clone()));
    let body = json_of(&resp);
    assert_eq!(resp.status, 200, "{body}");
    let r = &body["subscribeResponse"];
    Session {
        user,
        subscription: r["subscription"].as_str().expect("path").to_owned(),
        channel: r["subscriptionParams"]["notificationChannel"]
            .as_str()
            .expect("channel")
            .to_owned(),
        session_id: r["subscriptionParams"]["sessionId"]
            .as_str()
            .expect("session")
            .to_owned(),
        auth,
    }
}

pub fn open(gw: &mut Gateway, now: u64, s: &Session) -> SocketId {
    gw.handle_ws_upgrade(now, &s.channel, &[])
        .expect("upgrade accepted")
}

pub fn drain(gw: &mut Gateway) -> Vec<Output> {
    std::iter::from_fn(|| gw.poll_output()).collect()
}

/// The frames sent on `socket`, parsed, in order; panics on other outputs.
pub fn frames_for(outputs: &[Output], socket: SocketId) -> Vec<Value> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { socket: s, text } if *s == socket => {
                Some(serde_json::from_str(text).expect("frames are JSON"))
            }
            _ => None,
        })
        .collect()
}

pub fn closes(outputs: &[Output]) -> Vec<SocketId> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Close { socket } => Some(*socket),
            _ => None,
        })
        .collect()
}

pub fn put(path: &str, header: (String, String), body: &Value) -> HttpRequest {
    HttpRequest::new("PUT", path)
        .with_header(header.0, header.1)
        .with_json(body)
}

pub fn delete(path: &str, header: (String, String)) -> HttpRequest {
    // Bodyless, but with the content type the SDK always sends.
    HttpRequest::new("DELETE", path)
        .with_header("content-type", "application/json")
        .with_header(header.0, header.1)
}

pub fn refresh_body() -> Value {
    json!({"subscribeRequest": {
        "expires": 3600,
        "service": ["IM", "Presence", "call"],
        "localization": "English_US",
        "useTurn": true,
        "notificationType": "WebSocket"
    }})
}

pub fn check(gw: &Gateway) {
    gw.check_invariants().expect("model invariants hold");
}
