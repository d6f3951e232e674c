//! The session layer, sequence by sequence (01-session.md §7 and the token
//! forms of 04-beyond §1), with every effect and the whole state asserted.

mod common;

use base64::Engine;
use common::*;
use kandy_core::config::{CheckType, ResponsibleParty};
use kandy_core::secret::SecretPath;
use kandy_core::session::{
    ConnectionStatus, DisconnectReason, Endpoint, ServicesInfo, SocketStatus, Subscription,
    SubscriptionStatus,
};
use kandy_core::{
    AuthCarrier, BasicError, Command, Credentials, Effect, Error, ErrorCode, Event, HttpOutcome,
    InputKind, Method, Pending, Purpose, RequestId, Secret, SocketId, State, TokenUpdate,
    TransportFailure,
};
use serde_json::{json, Value};

const CHANNEL: &str = "/rest/version/1/user/alice@example.com/notification/websocket/chan-1";
const SUB: &str = "/rest/version/1/user/alice@example.com/subscription/sub-1";

fn basic(name: &str, pw: &str) -> String {
    format!(
        "basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{name}:{pw}"))
    )
}

fn change(status: ConnectionStatus) -> Event {
    Event::AuthChange {
        status,
        reason: None,
        forced: false,
    }
}

fn ws(status: SocketStatus) -> Event {
    Event::WsChange {
        platform: "link".into(),
        status,
    }
}

fn endpoint() -> Endpoint {
    Endpoint {
        rest_origin: REST.into(),
        ws_origin: WS.into(),
        version: "1".into(),
        kind: "user".into(),
        username: "alice@example.com".into(),
    }
}

fn pending(s: &mut State, id: u64, purpose: Purpose, now: u64) {
    s.http.next_request = s.http.next_request.max(id);
    s.http.pending.insert(
        RequestId(id),
        Pending {
            purpose,
            deadline: Some(now + 30_000),
        },
    );
}

fn granted(expires: u64) -> Subscription {
    let services: Vec<String> = ["call", "IM", "presence"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    Subscription {
        url: SUB.into(),
        notification_channel: SecretPath::new(CHANNEL),
        expires: Some(expires),
        service: services.clone(),
        services_info: ServicesInfo::compute(&services, &services),
        session_id: Some(Secret::new("sess-1")),
        turn_credentials: None,
        localization: None,
        use_turn: None,
        notification_type: None,
        token: None,
        params: kandy_core::secret::SecretJson(
            json!({"notificationChannel": CHANNEL, "expires": expires, "service": ["call","IM","presence"], "sessionId": "sess-1"}),
        ),
    }
}

/// Connects alice with a password, asserting every step; returns the socket.
fn connect(t: &mut TestStore, expires: u64) -> SocketId {
    let now = t.now.mono_ms;
    t.send(Command::Connect(alice()), |s| {
        s.session.status = ConnectionStatus::Connecting;
        s.session.endpoint = Some(endpoint());
        s.session.auth = Some(AuthCarrier::Basic(Secret::new(basic(
            "alice@example.com",
            "alice-pw",
        ))));
        s.session.requested_services = vec!["call".into(), "IM".into(), "presence".into()];
        pending(s, 1, Purpose::Subscribe, now);
    });
    t.expect_event(change(ConnectionStatus::Connecting));
    let req = t.expect_http();
    assert_eq!(req.id, RequestId(1));
    assert_eq!(req.method, Method::Post);
    assert_eq!(
        req.url,
        format!("{REST}/rest/version/1/user/alice@example.com/subscription")
    );
    assert_eq!(
        req.header("authorization"),
        Some(basic("alice@example.com", "alice-pw").as_str())
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("accept"), Some("application/json"));
    assert_eq!(
        req.body.as_deref(),
        Some(
            r#"{"subscribeRequest":{"expires":3600,"service":["call","IM","presence"],"localization":"English_US","useTurn":true,"notificationType":"WebSocket","supported":["RingingFeedback"]}}"#
        )
    );
    t.respond(RequestId(1), subscribe_ok(expires), |s| {
        s.http.pending.clear();
        s.http.next_socket = 1;
        s.session.subscription = Some(granted(expires));
        s.session.socket.id = Some(SocketId(1));
        s.session.socket.status = SocketStatus::Connecting;
        s.session.socket.attempt = 1;
    });
    t.expect_event(ws(SocketStatus::Connecting));
    assert_eq!(t.expect_ws_open(), (SocketId(1), format!("{WS}{CHANNEL}")));
    let now = t.now.mono_ms;
    t.input(
        InputKind::WsOpened {
            socket: SocketId(1),
        },
        |s| {
            s.session.status = ConnectionStatus::Connected;
            s.session.socket.status = SocketStatus::Connected;
            s.session.socket.attempt = 0;
            s.session.socket.last_pong = now;
            s.session.socket.last_server_ping = now;
            s.session.socket.server_interval = 120_000;
            s.session.refresh.attempt = 1;
            s.session.refresh.due = Some(now + (expires * 1000 / 2).max(30_000));
        },
    );
    t.expect_event(ws(SocketStatus::Connected));
    t.expect_event(change(ConnectionStatus::Connected));
    SocketId(1)
}

fn store() -> TestStore {
    TestStore::new(config())
}

#[test]
fn connect_with_password_is_wire_exact_and_connects() {
    let mut t = store();
    connect(&mut t, 3600);
    let info = t.client.connection();
    assert!(info.is_connected && !info.is_pending && info.error.is_none());
    assert_eq!(t.client.services().status, SubscriptionStatus::Full);
    assert_eq!(t.client.user_info().unwrap().username, "alice@example.com");
    assert!(t.client.user_info().unwrap().token.is_none());
    // Checks are off by default (the seed's default): no ping was sent.
    assert_eq!(t.deadline(), Some(t.now.mono_ms + 1_800_000));
}

#[test]
fn authname_goes_in_basic_and_username_in_the_url() {
    let mut t = store();
    t.client
        .handle(kandy_core::Input::command(
            t.now,
            Command::Connect(Credentials::Password {
                username: "alice@example.com".into(),
                password: "pw".into(),
                authname: Some("alice-auth".into()),
            }),
        ))
        .unwrap();
    let effects: Vec<Effect> = std::iter::from_fn(|| t.client.poll_effect()).collect();
    let req = effects
        .iter()
        .find_map(|e| {
            if let Effect::Http(r) = e {
                Some(r)
            } else {
                None
            }
        })
        .unwrap();
    assert!(req.url.ends_with("/user/alice@example.com/subscription"));
    assert_eq!(
        req.header("authorization"),
        Some(basic("alice-auth", "pw").as_str())
    );
}

fn drain(t: &mut TestStore) -> Vec<Effect> {
    std::iter::from_fn(|| t.client.poll_effect())
        .filter(|e| !matches!(e, Effect::Log(_)))
        .collect()
}

fn feed(t: &mut TestStore, kind: InputKind) -> Vec<Effect> {
    t.client
        .handle(kandy_core::Input::new(t.now, kind))
        .unwrap();
    drain(t)
}

fn http_of(effects: &[Effect]) -> Vec<&kandy_core::HttpRequest> {
    effects
        .iter()
        .filter_map(|e| {
            if let Effect::Http(r) = e {
                Some(r)
            } else {
                None
            }
        })
        .collect()
}

fn events_of(effects: &[Effect]) -> Vec<&Event> {
    effects
        .iter()
        .filter_map(|e| {
            if let Effect::Event(ev) = e {
                Some(ev)
            } else {
                None
            }
        })
        .collect()
}

/// Connects with any credentials through a gateway answering `body`.
fn connect_with(t: &mut TestStore, creds: Credentials, body: &str) -> (Vec<Effect>, Vec<Effect>) {
    let first = feed(t, InputKind::Command(Command::Connect(creds)));
    let id = http_of(&first).last().unwrap().id;
    let second = feed(
        t,
        InputKind::HttpResponse {
            id,
            outcome: HttpOutcome::json(200, body),
        },
    );
    (first, second)
}

const HMAC_OK: &str = r#"{"subscribeResponse":{"subscription":"/s/1","subscriptionParams":{"notificationChannel":"/n/1","expires":120,"service":["call"],"sessionId":"S-42"}}}"#;

#[test]
fn hmac_token_then_session_id_on_every_later_request() {
    let mut t = store();
    let (first, second) = connect_with(
        &mut t,
        Credentials::hmac("alice@example.com", "HMAC-T"),
        HMAC_OK,
    );
    let sub = http_of(&first)[0];
    assert_eq!(sub.header("x-token"), Some("HMAC-T"));
    assert_eq!(sub.header("authorization"), None);
    let socket = match second.iter().find(|e| matches!(e, Effect::WsOpen { .. })) {
        Some(Effect::WsOpen { socket, url }) => {
            assert_eq!(url, "wss://gw.test:443/n/1");
            *socket
        }
        _ => panic!("no socket"),
    };
    feed(&mut t, InputKind::WsOpened { socket });
    // Refresh at max(30 s, 120 s / 2) = 60 s.
    t.advance(60_000);
    let refresh = feed(&mut t, InputKind::Timeout);
    let put = http_of(&refresh)[0];
    assert_eq!(put.method, Method::Put);
    assert_eq!(put.url, "https://gw.test:443/s/1");
    assert_eq!(put.header("x-session"), Some("S-42"));
    assert_eq!(put.header("x-token"), None);
    assert_eq!(
        put.body.as_deref(),
        Some(
            r#"{"subscribeRequest":{"expires":120,"service":["call"],"localization":"English_US","useTurn":true,"notificationType":"WebSocket"}}"#
        )
    );
}

#[test]
fn hmac_without_session_id_is_a_typed_connect_error_and_cleans_up() {
    let mut t = store();
    let body = r#"{"subscribeResponse":{"subscription":"/s/1","subscriptionParams":{"notificationChannel":"/n/1","service":["call"]}}}"#;
    let (_, second) = connect_with(
        &mut t,
        Credentials::hmac("alice@example.com", "HMAC-T"),
        body,
    );
    let del = http_of(&second);
    assert_eq!(
        del.len(),
        1,
        "clean-up DELETE of the half-made subscription"
    );
    assert_eq!(del[0].method, Method::Delete);
    match events_of(&second)[..] {
        [Event::AuthError { error }] => {
            assert_eq!(error.code, ErrorCode::LinkSubscribeFail);
            assert!(error.message.contains("sessionId"));
        }
        ref other => panic!("{other:?}"),
    }
    assert_eq!(
        t.client.state().session.status,
        ConnectionStatus::Disconnected
    );
}

const TOKEN_OK: &str = r#"{"subscribeResponse":{"subscription":"/s/1","subscriptionParams":{"notificationChannel":"/n/1","expires":3600,"service":["call"]}}}"#;

#[test]
fn access_token_rides_in_the_query_and_is_refreshed_before_expiry() {
    let mut t = store();
    let creds = Credentials::AccessToken {
        username: "alice@example.com".into(),
        access_token: "A1".into(),
        refresh_token: Some("R1".into()),
        expires: Some(1000),
    };
    let (first, second) = connect_with(&mut t, creds, TOKEN_OK);
    assert_eq!(
        http_of(&first)[0].url,
        format!("{REST}/rest/version/1/user/alice@example.com/subscription?token=A1")
    );
    assert_eq!(http_of(&first)[0].header("authorization"), None);
    let Some(Effect::WsOpen { socket, url }) =
        second.iter().find(|e| matches!(e, Effect::WsOpen { .. }))
    else {
        panic!()
    };
    assert_eq!(url, "wss://gw.test:443/n/1?token=A1");
    let start = t.now.mono_ms;
    feed(&mut t, InputKind::WsOpened { socket: *socket });
    assert_eq!(t.client.user_info().unwrap().token, Some(Secret::new("A1")));
    // 1000 s token, 300 s margin: refresh at 700 s.
    assert_eq!(
        t.client.state().session.token.as_ref().unwrap().due,
        Some(start + 700_000)
    );
    t.advance(700_000);
    let refresh = feed(&mut t, InputKind::Timeout);
    let get = http_of(&refresh)[0];
    assert_eq!(get.method, Method::Get);
    assert_eq!(
        get.url,
        format!("{REST}/v2.0/auth/refresh_token?expires=1000&token=R1")
    );
    let ok = r#"{"success":{"access_token":"A2","refresh_token":"R2","expires":1000}}"#;
    let after = feed(
        &mut t,
        InputKind::HttpResponse {
            id: get.id,
            outcome: HttpOutcome::json(200, ok),
        },
    );
    assert_eq!(
        events_of(&after),
        vec![&change(ConnectionStatus::Connected)]
    );
    assert_eq!(t.client.user_info().unwrap().token, Some(Secret::new("A2")));
    // The next subscription refresh (at 1800 s) carries the new token.
    t.advance(1_800_000 - 700_000);
    let put = feed(&mut t, InputKind::Timeout);
    let reqs = http_of(&put);
    assert!(
        reqs.iter()
            .any(|r| r.method == Method::Put && r.url.ends_with("/s/1?token=A2")),
        "{reqs:?}"
    );
}

#[test]
fn a_failing_token_refresh_retries_once_then_errors_and_disconnects() {
    let mut t = store();
    let creds = Credentials::AccessToken {
        username: "alice@example.com".into(),
        access_token: "A1".into(),
        refresh_token: Some("R1".into()),
        expires: Some(1000),
    };
    let (_, second) = connect_with(&mut t, creds, TOKEN_OK);
    let Some(Effect::WsOpen { socket, .. }) =
        second.iter().find(|e| matches!(e, Effect::WsOpen { .. }))
    else {
        panic!()
    };
    feed(&mut t, InputKind::WsOpened { socket: *socket });
    t.advance(700_000);
    let get = http_of(&feed(&mut t, InputKind::Timeout))[0].id;
    let out = feed(
        &mut t,
        InputKind::HttpResponse {
            id: get,
            outcome: HttpOutcome::json(401, r#"{"error":{"code":27,"human":"bad token"}}"#),
        },
    );
    assert!(events_of(&out).is_empty(), "first failure retries silently");
    assert_eq!(t.deadline(), Some(t.now.mono_ms + 30_000));
    t.advance(30_000);
    let get = http_of(&feed(&mut t, InputKind::Timeout))[0].id;
    let out = feed(
        &mut t,
        InputKind::HttpResponse {
            id: get,
            outcome: HttpOutcome::failed(TransportFailure::Connect, "refused"),
        },
    );
    match events_of(&out)[..] {
        [Event::AuthError { error }, Event::AuthChange {
            status: ConnectionStatus::Disconnecting,
            ..
        }] => {
            assert_eq!(error.code, ErrorCode::RefreshTokenFail)
        }
        ref other => panic!("{other:?}"),
    }
    assert_eq!(http_of(&out)[0].method, Method::Delete);
}

#[test]
fn refresh_token_alone_is_exchanged_before_subscribing() {
    let mut t = store();
    let first = feed(
        &mut t,
        InputKind::Command(Command::Connect(Credentials::RefreshToken {
            username: "alice@example.com".into(),
            refresh_token: "R1".into(),
            expires: Some(600),
        })),
    );
    let get = http_of(&first)[0];
    assert_eq!(
        get.url,
        format!("{REST}/v2.0/auth/refresh_token?expires=600&token=R1")
    );
    let ok = r#"{"success":{"access_token":"A1","refresh_token":"R2","expires":600}}"#;
    let second = feed(
        &mut t,
        InputKind::HttpResponse {
            id: get.id,
            outcome: HttpOutcome::json(200, ok),
        },
    );
    assert!(http_of(&second)[0].url.ends_with("/subscription?token=A1"));
    // And a refused refresh token is authentication:9, nothing else sent.
    let mut t = store();
    let first = feed(
        &mut t,
        InputKind::Command(Command::Connect(Credentials::RefreshToken {
            username: "alice@example.com".into(),
            refresh_token: "R1".into(),
            expires: None,
        })),
    );
    assert_eq!(
        http_of(&first)[0].url,
        format!("{REST}/v2.0/auth/refresh_token?token=R1")
    );
    let id = http_of(&first)[0].id;
    let out = feed(
        &mut t,
        InputKind::HttpResponse {
            id,
            outcome: HttpOutcome::json(401, r#"{"error":{"code":27,"human":"no"}}"#),
        },
    );
    assert!(http_of(&out).is_empty());
    assert!(
        matches!(events_of(&out)[..], [Event::AuthError { error }] if error.code == ErrorCode::CreateTokenFail)
    );
}

#[test]
fn oauth_token_is_a_bearer_header_and_an_access_token_query_on_the_socket() {
    let mut t = store();
    let (first, second) = connect_with(
        &mut t,
        Credentials::oauth("alice@example.com", "O1"),
        TOKEN_OK,
    );
    assert_eq!(
        http_of(&first)[0].header("authorization"),
        Some("Bearer O1")
    );
    assert!(second.iter().any(|e| matches!(e, Effect::WsOpen { url, .. } if url == "wss://gw.test:443/n/1?access_token=O1")));
    // updateToken: nothing on the wire, auth:change, new token from now on.
    let Some(Effect::WsOpen { socket, .. }) =
        second.iter().find(|e| matches!(e, Effect::WsOpen { .. }))
    else {
        panic!()
    };
    feed(&mut t, InputKind::WsOpened { socket: *socket });
    let out = feed(
        &mut t,
        InputKind::Command(Command::UpdateToken(TokenUpdate::OAuth {
            oauth_token: "O2".into(),
        })),
    );
    assert_eq!(
        out,
        vec![Effect::Event(change(ConnectionStatus::Connected))]
    );
    t.advance(1_800_000);
    let put = feed(&mut t, InputKind::Timeout);
    assert_eq!(http_of(&put)[0].header("authorization"), Some("Bearer O2"));

    let mut c = config();
    c.connectivity.websocket_oauth_mode = kandy_core::config::WebSocketOAuthMode::None;
    let mut t = TestStore::new(c);
    let (_, second) = connect_with(
        &mut t,
        Credentials::oauth("alice@example.com", "O1"),
        TOKEN_OK,
    );
    assert!(second
        .iter()
        .any(|e| matches!(e, Effect::WsOpen { url, .. } if url == "wss://gw.test:443/n/1")));
}

#[test]
fn update_token_is_refused_in_a_password_session_and_when_disconnected() {
    let mut t = store();
    t.send_err(
        Command::UpdateToken(TokenUpdate::OAuth {
            oauth_token: "x".into(),
        }),
        |e| matches!(e, Error::InvalidState { .. }),
    );
    connect(&mut t, 3600);
    t.send_err(
        Command::UpdateToken(TokenUpdate::OAuth {
            oauth_token: "x".into(),
        }),
        |e| matches!(e, Error::InvalidState { .. }),
    );
}

#[test]
fn anonymous_path_custom_body_fields_and_websocket_params() {
    let mut c = config();
    c.authentication.subscription.is_anonymous = true;
    c.authentication.subscription.service = vec!["call".into()];
    c.authentication.subscription.expires = 60;
    c.authentication.subscription.use_turn = false;
    c.authentication.websocket.params = Some(
        [
            ("z".to_string(), "1".to_string()),
            ("a".to_string(), "x y".to_string()),
        ]
        .into(),
    );
    let mut t = TestStore::new(c);
    let (first, second) = connect_with(&mut t, alice(), TOKEN_OK);
    let post = http_of(&first)[0];
    assert!(post
        .url
        .ends_with("/rest/version/1/anonymous/alice@example.com/subscription"));
    let body: Value = serde_json::from_str(post.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["subscribeRequest"]["expires"], 60);
    assert_eq!(body["subscribeRequest"]["useTurn"], false);
    assert_eq!(body["subscribeRequest"]["service"], json!(["call"]));
    assert!(second.iter().any(
        |e| matches!(e, Effect::WsOpen { url, .. } if url == "wss://gw.test:443/n/1?a=x%20y&z=1")
    ));
}

fn subscribe_failure(outcome: HttpOutcome) -> BasicError {
    let mut t = store();
    let first = feed(&mut t, InputKind::Command(Command::Connect(alice())));
    let id = http_of(&first)[0].id;
    let out = feed(&mut t, InputKind::HttpResponse { id, outcome });
    assert!(
        !out.iter()
            .any(|e| matches!(e, Effect::WsOpen { .. } | Effect::Http(_))),
        "{out:?}"
    );
    let err = match events_of(&out)[..] {
        [Event::AuthError { error }] => error.clone(),
        ref other => panic!("{other:?}"),
    };
    let s = &t.client.state().session;
    assert_eq!(s.status, ConnectionStatus::Disconnected);
    assert_eq!(s.error.as_ref(), Some(&err));
    assert!(s.subscription.is_none() && s.socket.id.is_none());
    assert!(t.client.state().http.pending.is_empty());
    assert_eq!(t.deadline(), None);
    err
}

#[test]
fn subscribe_failures_are_typed_auth_errors() {
    let e = subscribe_failure(HttpOutcome::json(
        401,
        r#"{"subscribeResponse":{"statusCode":4,"reason":"bad password"}}"#,
    ));
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            ErrorCode::LinkSubscribeFail,
            "Failed to subscribe user. Code: 4."
        )
    );
    let e = subscribe_failure(HttpOutcome::json(403, r#"{"statusCode":27,"reason":"no"}"#));
    assert_eq!(e.message, "Failed to subscribe user. Code: 27.");
    let e = subscribe_failure(HttpOutcome::json(503, "{}"));
    assert_eq!(e.message, "Failed to subscribe user. HTTP status 503.");
    let e = subscribe_failure(HttpOutcome::Response(kandy_core::HttpResponse {
        status: 403,
        content_type: Some("text/html".into()),
        body: "<html>Forbidden</html>".into(),
    }));
    assert_eq!(e.message, "Failed to subscribe user. HTTP status 403.");
    let e = subscribe_failure(HttpOutcome::failed(
        TransportFailure::Connect,
        "connection refused",
    ));
    assert_eq!(e.message, "Subscribe request failed: connection refused.");
    let e = subscribe_failure(HttpOutcome::json(200, "{not json"));
    assert!(
        e.message
            .starts_with("Subscribe request failed: invalid JSON"),
        "{e:?}"
    );
    let e = subscribe_failure(HttpOutcome::json(302, ""));
    assert_eq!(e.message, "Failed to subscribe user. HTTP status 302.");
    let e = subscribe_failure(HttpOutcome::json(
        200,
        r#"{"subscribeResponse":{"statusCode":0}}"#,
    ));
    assert_eq!(
        e.message,
        "Malformed subscribe response: subscription is not a path."
    );
    let e = subscribe_failure(HttpOutcome::json(204, ""));
    assert_eq!(
        e.message,
        "Malformed subscribe response: no subscribeResponse object."
    );
}

#[test]
fn a_subscribe_that_never_answers_times_out_and_a_late_answer_is_ignored() {
    let mut t = store();
    let first = feed(&mut t, InputKind::Command(Command::Connect(alice())));
    let id = http_of(&first)[0].id;
    assert_eq!(t.deadline(), Some(t.now.mono_ms + 30_000));
    t.advance(30_000);
    let out = feed(&mut t, InputKind::Timeout);
    assert!(
        matches!(events_of(&out)[..], [Event::AuthError { error }] if error.message == "Subscribe request failed: no response within 30000 ms.")
    );
    let late = feed(
        &mut t,
        InputKind::HttpResponse {
            id,
            outcome: subscribe_ok(3600),
        },
    );
    assert!(late.is_empty());
    assert_eq!(
        t.client.state().session.status,
        ConnectionStatus::Disconnected
    );
}

#[test]
fn keepalive_pings_on_open_and_every_interval_when_enabled() {
    let mut c = config();
    c.connectivity.check_connectivity = true;
    c.connectivity.ping_interval = 10_000;
    let mut t = TestStore::new(c);
    let first = feed(&mut t, InputKind::Command(Command::Connect(alice())));
    let id = http_of(&first)[0].id;
    feed(
        &mut t,
        InputKind::HttpResponse {
            id,
            outcome: subscribe_ok(3600),
        },
    );
    let opened = feed(
        &mut t,
        InputKind::WsOpened {
            socket: SocketId(1),
        },
    );
    assert_eq!(opened[0], Effect::Event(ws(SocketStatus::Connected)));
    assert_eq!(
        opened[1],
        Effect::WsSend {
            socket: SocketId(1),
            text: r#"{"message_type":"ping"}"#.into()
        }
    );
    assert!(t.client.socket_state().unwrap().pinging());
    for _ in 0..3 {
        t.advance(10_000);
        let out = feed(&mut t, InputKind::Timeout);
        assert_eq!(
            out,
            vec![Effect::WsSend {
                socket: SocketId(1),
                text: r#"{"message_type":"ping"}"#.into()
            }]
        );
    }
    // connAck in keepAlive mode is ignored (4.8.0 pings again at once).
    assert!(feed(
        &mut t,
        InputKind::WsFrame {
            socket: SocketId(1),
            text: r#"{"connAck":{}}"#.into()
        }
    )
    .is_empty());
    // Turning checks off stops them; on again resumes at once.
    assert!(feed(
        &mut t,
        InputKind::Command(Command::EnableConnectivityChecking(false))
    )
    .is_empty());
    assert!(!t.client.socket_state().unwrap().pinging());
    let out = feed(
        &mut t,
        InputKind::Command(Command::EnableConnectivityChecking(true)),
    );
    assert_eq!(
        out,
        vec![Effect::WsSend {
            socket: SocketId(1),
            text: r#"{"message_type":"ping"}"#.into()
        }]
    );
}

fn connected_with(c: kandy_core::Config) -> TestStore {
    let mut t = TestStore::new(c);
    let first = feed(&mut t, InputKind::Command(Command::Connect(alice())));
    let id = http_of(&first)[0].id;
    feed(
        &mut t,
        InputKind::HttpResponse {
            id,
            outcome: subscribe_ok(3600),
        },
    );
    feed(
        &mut t,
        InputKind::WsOpened {
            socket: SocketId(1),
        },
    );
    t
}

#[test]
fn ping_pong_declares_the_socket_lost_after_max_missed_pings_and_recovers() {
    let mut c = config();
    c.connectivity.check_connectivity = true;
    c.connectivity.method.kind = CheckType::PingPong;
    let mut t = connected_with(c);
    // pings at 0 (on open), 30, 60 s unanswered; lost at 90 s.
    for _ in 0..2 {
        t.advance(30_000);
        assert_eq!(
            feed(&mut t, InputKind::Timeout),
            vec![Effect::WsSend {
                socket: SocketId(1),
                text: r#"{"connCheck":{"interval":30.0}}"#.into()
            }]
        );
    }
    // A connAck now pushes the loss back by a full 90 s.
    feed(
        &mut t,
        InputKind::WsFrame {
            socket: SocketId(1),
            text: r#"{"connAck":{}}"#.into(),
        },
    );
    let acked = t.now.mono_ms;
    for _ in 0..2 {
        t.advance(30_000);
        assert_eq!(feed(&mut t, InputKind::Timeout).len(), 1);
    }
    t.advance(30_000);
    assert_eq!(t.now.mono_ms - acked, 90_000);
    let out = feed(&mut t, InputKind::Timeout);
    assert_eq!(
        out,
        vec![
            Effect::WsClose {
                socket: SocketId(1)
            },
            Effect::Event(ws(SocketStatus::Lost)),
            Effect::Event(ws(SocketStatus::Connecting)),
            Effect::WsOpen {
                socket: SocketId(2),
                url: format!("{WS}{CHANNEL}")
            },
        ]
    );
}

#[test]
fn server_driven_checks_answer_conn_check_and_detect_silence() {
    let mut c = config();
    c.connectivity.check_connectivity = true;
    c.connectivity.method.responsible_party = ResponsibleParty::Server;
    let mut t = connected_with(c);
    // Nothing is sent on our own.
    assert_eq!(t.deadline(), Some(t.now.mono_ms + 120_000));
    let out = feed(
        &mut t,
        InputKind::WsFrame {
            socket: SocketId(1),
            text: r#"{"connCheck":{"interval":10}}"#.into(),
        },
    );
    assert_eq!(
        out,
        vec![Effect::WsSend {
            socket: SocketId(1),
            text: r#"{"connAck":{}}"#.into()
        }]
    );
    assert_eq!(t.client.state().session.socket.server_interval, 10_000);
    // The check loop still wakes at its old time; it then adopts 10 s.
    t.advance(120_000);
    let out = feed(&mut t, InputKind::Timeout);
    assert_eq!(
        out[0],
        Effect::WsClose {
            socket: SocketId(1)
        },
        "120 s of silence > 3 × 10 s"
    );
}

#[test]
fn a_dropped_socket_reopens_the_same_channel_with_backoff_and_no_rest() {
    let mut c = config();
    c.connectivity.reconnect_delay = 1_000;
    c.connectivity.reconnect_time_multiplier = 2.0;
    c.connectivity.reconnect_time_limit = 3_000;
    c.connectivity.reconnect_limit = 4;
    let mut t = connected_with(c);
    let out = feed(
        &mut t,
        InputKind::WsClosed {
            socket: SocketId(1),
            reason: "reset".into(),
        },
    );
    assert_eq!(
        out,
        vec![
            Effect::Event(ws(SocketStatus::Lost)),
            Effect::Event(ws(SocketStatus::Connecting)),
            Effect::WsOpen {
                socket: SocketId(2),
                url: format!("{WS}{CHANNEL}")
            },
        ]
    );
    // Attempts 2, 3, 4 after 1 s, 2 s, 3 s (capped); then the session ends.
    let mut socket = 2;
    for wait in [1_000, 2_000, 3_000] {
        let failed = feed(
            &mut t,
            InputKind::WsClosed {
                socket: SocketId(socket),
                reason: "refused: HTTP 404".into(),
            },
        );
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(t.deadline(), Some(t.now.mono_ms + wait));
        t.advance(wait);
        socket += 1;
        assert_eq!(
            feed(&mut t, InputKind::Timeout),
            vec![Effect::WsOpen {
                socket: SocketId(socket),
                url: format!("{WS}{CHANNEL}")
            }]
        );
    }
    let out = feed(
        &mut t,
        InputKind::WsClosed {
            socket: SocketId(socket),
            reason: "refused".into(),
        },
    );
    let del = http_of(&out);
    assert_eq!(
        (del.len(), del[0].method),
        (1, Method::Delete),
        "clean-up DELETE"
    );
    assert_eq!(
        events_of(&out),
        vec![&Event::AuthChange {
            status: ConnectionStatus::Disconnected,
            reason: Some(DisconnectReason::LostConnection),
            forced: false
        }]
    );
    assert_eq!(
        t.client.state().session.status,
        ConnectionStatus::Disconnected
    );
}

#[test]
fn a_socket_reopened_within_the_limit_keeps_the_session() {
    let mut t = connected_with(config());
    feed(
        &mut t,
        InputKind::WsClosed {
            socket: SocketId(1),
            reason: "reset".into(),
        },
    );
    let due = t.client.state().session.refresh.due;
    let out = feed(
        &mut t,
        InputKind::WsOpened {
            socket: SocketId(2),
        },
    );
    assert_eq!(
        out,
        vec![Effect::Event(ws(SocketStatus::Connected))],
        "no auth:change, no REST"
    );
    assert_eq!(t.client.state().session.status, ConnectionStatus::Connected);
    assert_eq!(
        t.client.state().session.refresh.due,
        due,
        "refresh timer unaffected"
    );
    // Frames on the old socket are stale.
    assert!(feed(
        &mut t,
        InputKind::WsFrame {
            socket: SocketId(1),
            text: r#"{"notificationMessage":{"eventType":"gone","eventId":"g"}}"#.into()
        }
    )
    .is_empty());
    assert_eq!(t.client.state().session.status, ConnectionStatus::Connected);
}

#[test]
fn without_auto_reconnect_a_lost_socket_ends_the_session() {
    let mut c = config();
    c.connectivity.auto_reconnect = false;
    let mut t = connected_with(c);
    let out = feed(
        &mut t,
        InputKind::WsClosed {
            socket: SocketId(1),
            reason: "reset".into(),
        },
    );
    assert!(events_of(&out).contains(&&Event::AuthChange {
        status: ConnectionStatus::Disconnected,
        reason: Some(DisconnectReason::LostConnection),
        forced: false
    }));
}

#[test]
fn connect_fails_when_the_socket_never_opens_and_deletes_the_subscription() {
    let mut c = config();
    c.connectivity.reconnect_limit = 2;
    let mut t = TestStore::new(c);
    let first = feed(&mut t, InputKind::Command(Command::Connect(alice())));
    let id = http_of(&first)[0].id;
    feed(
        &mut t,
        InputKind::HttpResponse {
            id,
            outcome: subscribe_ok(3600),
        },
    );
    assert!(feed(
        &mut t,
        InputKind::WsClosed {
            socket: SocketId(1),
            reason: "refused".into()
        }
    )
    .is_empty());
    t.advance(5_000);
    assert_eq!(feed(&mut t, InputKind::Timeout).len(), 1);
    let out = feed(
        &mut t,
        InputKind::WsClosed {
            socket: SocketId(2),
            reason: "refused".into(),
        },
    );
    assert_eq!(http_of(&out)[0].url, format!("{REST}{SUB}"));
    assert!(
        matches!(events_of(&out)[..], [Event::AuthError { error }] if error.code == ErrorCode::ConnectFailWsError)
    );
}

#[test]
fn refresh_halves_per_failure_never_below_the_floor_and_recovers() {
    let mut t = store();
    connect(&mut t, 400);
    // E = 400 s: success cycle 200 s; failures 100 s, 50 s, then the 30 s floor.
    let mut expect_wait = 200_000;
    for (attempt, outcome) in [
        (
            1,
            HttpOutcome::json(500, r#"{"subscribeResponse":{"statusCode":9}}"#),
        ),
        (2, HttpOutcome::failed(TransportFailure::Connect, "refused")),
        (
            3,
            HttpOutcome::json(200, r#"{"subscribeResponse":{"statusCode":5}}"#),
        ),
        (
            4,
            HttpOutcome::json(
                200,
                r#"{"subscribeResponse":{"statusCode":0,"subscriptionParams":{"service":["call"]}}}"#,
            ),
        ),
    ] {
        assert_eq!(t.deadline(), Some(t.now.mono_ms + expect_wait));
        t.advance(expect_wait);
        let out = feed(&mut t, InputKind::Timeout);
        let put = http_of(&out)[0];
        assert_eq!(put.method, Method::Put);
        assert_eq!(put.url, format!("{REST}{SUB}"));
        assert_eq!(
            put.header("authorization"),
            Some(basic("alice@example.com", "alice-pw").as_str())
        );
        let out = feed(
            &mut t,
            InputKind::HttpResponse {
                id: put.id,
                outcome,
            },
        );
        let evs = events_of(&out);
        match (attempt, &evs[..]) {
            (
                1,
                [Event::AuthResub {
                    attempt_num: 1,
                    is_failure: true,
                    error: Some(e),
                }],
            ) => {
                assert_eq!(e.message, "Failed to update user subscription. Code: 9.");
                expect_wait = 100_000;
            }
            (
                2,
                [Event::AuthResub {
                    attempt_num: 2,
                    is_failure: true,
                    error: Some(e),
                }],
            ) => {
                assert_eq!(e.message, "Update subscription request failed: refused.");
                expect_wait = 50_000;
            }
            (
                3,
                [Event::AuthResub {
                    attempt_num: 3,
                    is_failure: true,
                    error: Some(e),
                }],
            ) => {
                assert_eq!(e.message, "Unknown error; statusCode: 5.");
                assert_eq!(e.code, ErrorCode::LinkUpdateSubscriptionFail);
                expect_wait = 30_000;
            }
            (
                4,
                [Event::AuthResub {
                    attempt_num: 4,
                    is_failure: false,
                    error: None,
                }],
            ) => expect_wait = 200_000,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(t.deadline(), Some(t.now.mono_ms + expect_wait));
    assert_eq!(
        t.client.state().session.status,
        ConnectionStatus::Connected,
        "failures never disconnect"
    );
}

#[test]
fn the_refresh_floor_is_configuration() {
    let mut c = config();
    c.authentication.min_refresh_interval = 1_000;
    let t = connected_with(c);
    // subscribe_ok(3600) → 1800 s; the floor only matters for short expiries.
    assert_eq!(t.deadline(), Some(t.now.mono_ms + 1_800_000));
    let mut c = config();
    c.authentication.min_refresh_interval = 1_000;
    let mut t = TestStore::new(c);
    let first = feed(&mut t, InputKind::Command(Command::Connect(alice())));
    feed(
        &mut t,
        InputKind::HttpResponse {
            id: http_of(&first)[0].id,
            outcome: subscribe_ok(2),
        },
    );
    feed(
        &mut t,
        InputKind::WsOpened {
            socket: SocketId(1),
        },
    );
    assert_eq!(t.deadline(), Some(t.now.mono_ms + 1_000));
}

#[test]
fn refresh_answered_404_39_means_the_subscription_is_gone() {
    let mut t = connected_with(config());
    t.advance(1_800_000);
    let put = http_of(&feed(&mut t, InputKind::Timeout))[0].id;
    let out = feed(
        &mut t,
        InputKind::HttpResponse {
            id: put,
            outcome: HttpOutcome::json(404, r#"{"subscribeResponse":{"statusCode":39}}"#),
        },
    );
    assert_eq!(
        out,
        vec![
            Effect::WsClose {
                socket: SocketId(1)
            },
            Effect::Event(ws(SocketStatus::Closed)),
            Effect::Event(Event::AuthChange {
                status: ConnectionStatus::Disconnected,
                reason: Some(DisconnectReason::Gone),
                forced: true
            }),
        ]
    );
}

#[test]
fn gone_ends_the_session_without_a_delete() {
    let mut t = store();
    let socket = connect(&mut t, 3600);
    let gone = r#"{"notificationMessage":{"eventType":"gone","eventId":"ev-gone"}}"#;
    t.input(
        InputKind::WsFrame {
            socket,
            text: gone.into(),
        },
        |s| {
            s.session = Default::default();
            s.notifications.ids.insert("\"ev-gone\"", 100);
        },
    );
    t.expect_ws_close(socket);
    t.expect_event(ws(SocketStatus::Closed));
    t.expect_event(Event::AuthChange {
        status: ConnectionStatus::Disconnected,
        reason: Some(DisconnectReason::Gone),
        forced: true,
    });
    t.expect_event(Event::NotificationReceived {
        channel: kandy_core::NotificationChannel::Websocket,
        payload: serde_json::from_str(gone).unwrap(),
    });
    assert_eq!(t.deadline(), None, "refresh timer stopped");
}

#[test]
fn disconnect_deletes_then_closes_the_socket() {
    let mut t = store();
    let socket = connect(&mut t, 3600);
    let now = t.now.mono_ms;
    t.send(Command::Disconnect, |s| {
        s.session.status = ConnectionStatus::Disconnecting;
        s.session.refresh.due = None;
        pending(s, 2, Purpose::Unsubscribe, now);
    });
    t.expect_event(change(ConnectionStatus::Disconnecting));
    let del = t.expect_http();
    assert_eq!(
        (del.method, del.url.as_str(), del.body.as_deref()),
        (Method::Delete, format!("{REST}{SUB}").as_str(), None)
    );
    assert_eq!(
        del.header("authorization"),
        Some(basic("alice@example.com", "alice-pw").as_str())
    );
    t.send_err(Command::Disconnect, |e| {
        matches!(e, Error::InvalidState { .. })
    });
    t.respond(
        RequestId(2),
        HttpOutcome::json(200, r#"{"subscribeResponse":{"statusCode":0}}"#),
        |s| {
            s.session = Default::default();
            s.http.pending.clear();
        },
    );
    t.expect_ws_close(socket);
    t.expect_event(ws(SocketStatus::Closed));
    t.expect_event(change(ConnectionStatus::Disconnected));
    t.send_err(Command::Disconnect, |e| {
        matches!(e, Error::InvalidState { .. })
    });
}

#[test]
fn a_failed_delete_still_disconnects_with_an_auth_error() {
    let mut t = connected_with(config());
    let del = http_of(&feed(&mut t, InputKind::Command(Command::Disconnect)))[0].id;
    let out = feed(
        &mut t,
        InputKind::HttpResponse {
            id: del,
            outcome: HttpOutcome::json(404, r#"{"subscribeResponse":{"statusCode":39}}"#),
        },
    );
    let evs = events_of(&out);
    assert!(
        matches!(evs[..], [Event::WsChange { .. }, Event::AuthError { error }, Event::AuthChange { status: ConnectionStatus::Disconnected, .. }]
        if error.code == ErrorCode::LinkUnsubscribeFail && error.message == "Failed to unsubscribe user. Code: 39.")
    );
    assert!(t.client.connection().error.is_some());
}

#[test]
fn disconnect_during_connect_abandons_it_and_cleans_up() {
    let mut t = store();
    let first = feed(&mut t, InputKind::Command(Command::Connect(alice())));
    feed(
        &mut t,
        InputKind::HttpResponse {
            id: http_of(&first)[0].id,
            outcome: subscribe_ok(3600),
        },
    );
    let out = feed(&mut t, InputKind::Command(Command::Disconnect));
    assert_eq!(http_of(&out)[0].method, Method::Delete);
    assert!(out.contains(&Effect::WsClose {
        socket: SocketId(1)
    }));
    assert_eq!(
        events_of(&out).last(),
        Some(&&change(ConnectionStatus::Disconnected))
    );
    // The socket opening late is closed, not adopted.
    assert_eq!(
        feed(
            &mut t,
            InputKind::WsOpened {
                socket: SocketId(1)
            }
        ),
        vec![Effect::WsClose {
            socket: SocketId(1)
        }]
    );
    assert_eq!(
        t.client.state().session.status,
        ConnectionStatus::Disconnected
    );
}

#[test]
fn commands_in_the_wrong_state_are_refused_without_change() {
    let mut t = store();
    t.send_err(Command::Disconnect, |e| {
        matches!(e, Error::InvalidState { .. })
    });
    t.send_err(
        Command::UpdateConnection {
            services: vec!["call".into()],
        },
        |e| matches!(e, Error::InvalidState { .. }),
    );
    t.send_err(Command::Connect(Credentials::password("", "x")), |e| {
        matches!(e, Error::InvalidCredentials(_))
    });
    t.send_err(Command::Connect(Credentials::password("a@b", "")), |e| {
        matches!(e, Error::InvalidCredentials(_))
    });
    let mut bare = config();
    bare.authentication.subscription.server = None;
    let mut t2 = TestStore::new(bare);
    t2.send_err(Command::Connect(alice()), |e| {
        matches!(e, Error::InvalidConfig(_))
    });
    connect(&mut t, 3600);
    t.send_err(Command::Connect(alice()), |e| {
        matches!(e, Error::InvalidState { .. })
    });
    t.send_err(
        Command::UpdateConnection {
            services: vec![" ".into()],
        },
        |e| matches!(e, Error::InvalidArgument(_)),
    );
    t.send_err(
        Command::UpdateConfig(json!({"connectivity": {"pingInterval": "x"}})),
        |e| matches!(e, Error::InvalidArgument(_)),
    );
    t.send_err(
        Command::ProcessNotification {
            payload: json!("x"),
            channel: kandy_core::NotificationChannel::External,
        },
        |e| matches!(e, Error::InvalidArgument(_)),
    );
}

#[test]
fn update_connection_sends_an_array_and_later_refreshes_use_it() {
    let mut t = connected_with(config());
    let out = feed(
        &mut t,
        InputKind::Command(Command::UpdateConnection {
            services: vec!["call".into(), "IM".into()],
        }),
    );
    let put = http_of(&out)[0];
    let body: Value = serde_json::from_str(put.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["subscribeRequest"]["service"], json!(["call", "IM"]));
    let ok = feed(
        &mut t,
        InputKind::HttpResponse {
            id: put.id,
            outcome: HttpOutcome::json(
                200,
                r#"{"subscribeResponse":{"statusCode":0,"subscriptionParams":{"service":["call","IM"]}}}"#,
            ),
        },
    );
    assert_eq!(events_of(&ok), vec![&change(ConnectionStatus::Connected)]);
    t.advance(1_800_000);
    let refresh = feed(&mut t, InputKind::Timeout);
    let body: Value = serde_json::from_str(http_of(&refresh)[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(body["subscribeRequest"]["service"], json!(["call", "IM"]));
    // A refused update is authentication:6 and changes nothing.
    let out = feed(
        &mut t,
        InputKind::Command(Command::UpdateConnection {
            services: vec!["x".into()],
        }),
    );
    let id = http_of(&out)[0].id;
    let bad = feed(
        &mut t,
        InputKind::HttpResponse {
            id,
            outcome: HttpOutcome::json(400, r#"{"subscribeResponse":{"statusCode":37}}"#),
        },
    );
    assert!(
        matches!(events_of(&bad)[..], [Event::AuthError { error }] if error.code == ErrorCode::LinkUpdateSubscriptionFail)
    );
    assert_eq!(
        t.client
            .state()
            .session
            .subscription
            .as_ref()
            .unwrap()
            .service,
        ["call", "IM"]
    );
}

fn note(id: &str, kind: &str) -> String {
    format!(
        r#"{{"notificationMessage":{{"eventType":"{kind}","eventId":"{id}","imnotificationParams":{{"msgText":"hi"}}}}}}"#
    )
}

#[test]
fn notifications_are_deduplicated_within_the_id_cache_and_unknown_types_are_events() {
    let mut c = config();
    c.notifications.id_cache_length = 2;
    let mut t = connected_with(c);
    let ws_frame = |text: String| InputKind::WsFrame {
        socket: SocketId(1),
        text,
    };
    let out = feed(&mut t, ws_frame(note("a", "IM")));
    assert!(
        matches!(&events_of(&out)[..], [Event::UnknownNotification { event_type, event_id: Some(id) }, Event::NotificationReceived { .. }] if event_type == "IM" && id == "a")
    );
    assert!(
        feed(&mut t, ws_frame(note("a", "IM"))).is_empty(),
        "duplicate dropped"
    );
    feed(&mut t, ws_frame(note("b", "IM")));
    feed(&mut t, ws_frame(note("c", "IM")));
    assert_eq!(
        feed(&mut t, ws_frame(note("a", "IM"))).len(),
        2,
        "a fell out of the 2-id cache"
    );
    assert_eq!(t.client.state().notifications.ids.len(), 2);
    // No eventId: processed every time (4.8.0 drops all but the first).
    let no_id = r#"{"notificationMessage":{"eventType":"IM"}}"#;
    assert_eq!(feed(&mut t, ws_frame(no_id.into())).len(), 2);
    assert_eq!(feed(&mut t, ws_frame(no_id.into())).len(), 2);
    // Junk: non-JSON, no envelope, numbers and other JSON: dropped, no panic.
    for junk in [
        "not json",
        "{}",
        "[1,2]",
        "42",
        r#"{"notificationMessage":3}"#,
        r#"{"connCheck":false}"#,
    ] {
        assert!(feed(&mut t, ws_frame(junk.into())).is_empty(), "{junk}");
    }
    assert_eq!(t.client.state().session.status, ConnectionStatus::Connected);
}

#[test]
fn the_websocket_channel_can_be_disabled_and_external_notifications_processed() {
    let mut t = connected_with(config());
    let out = feed(&mut t, InputKind::Command(Command::EnableWebsocket(false)));
    assert_eq!(
        out,
        vec![Effect::Event(Event::NotificationsChange {
            channel: kandy_core::NotificationChannel::Websocket,
            enabled: false
        })]
    );
    assert!(feed(
        &mut t,
        InputKind::WsFrame {
            socket: SocketId(1),
            text: note("x", "IM")
        }
    )
    .is_empty());
    let out = feed(
        &mut t,
        InputKind::Command(Command::ProcessNotification {
            payload: serde_json::from_str(&note("x", "IM")).unwrap(),
            channel: kandy_core::NotificationChannel::External,
        }),
    );
    assert!(matches!(
        events_of(&out).last(),
        Some(Event::NotificationReceived {
            channel: kandy_core::NotificationChannel::External,
            ..
        })
    ));
    // The push channel is closed until a push registration.
    let push = feed(
        &mut t,
        InputKind::Command(Command::ProcessNotification {
            payload: serde_json::from_str(&note("y", "IM")).unwrap(),
            channel: kandy_core::NotificationChannel::Push,
        }),
    );
    assert!(push.is_empty());
    // A gone from outside ends the session too.
    let out = feed(
        &mut t,
        InputKind::Command(Command::ProcessNotification {
            payload: json!({"notificationMessage":{"eventType":"gone","eventId":"g1"}}),
            channel: kandy_core::NotificationChannel::External,
        }),
    );
    assert!(events_of(&out).iter().any(|e| matches!(
        e,
        Event::AuthChange {
            reason: Some(DisconnectReason::Gone),
            ..
        }
    )));
}

#[test]
fn compressed_and_url_sdp_are_normalised_in_order() {
    use std::io::Write;
    let mut t = connected_with(config());
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n").unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap());
    let frame = json!({"notificationMessage":{"eventType":"custom","eventId":"c1","sessionParams":{"sdpFormat":"compressed","sdp":b64}}});
    let out = feed(
        &mut t,
        InputKind::WsFrame {
            socket: SocketId(1),
            text: frame.to_string(),
        },
    );
    let Some(Event::NotificationReceived { payload, .. }) = events_of(&out).last().copied() else {
        panic!()
    };
    assert_eq!(
        payload.to_value()["notificationMessage"]["sessionParams"]["sdp"],
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"
    );
    // By URL: fetched, and the next notification waits behind it.
    let frame = json!({"notificationMessage":{"eventType":"custom","eventId":"c2","sessionParams":{"sdpFormat":"url","sdp":"/sdp/c2"}}});
    let out = feed(
        &mut t,
        InputKind::WsFrame {
            socket: SocketId(1),
            text: frame.to_string(),
        },
    );
    let get = http_of(&out)[0];
    assert_eq!(
        (get.method, get.url.as_str()),
        (Method::Get, "https://gw.test:443/sdp/c2")
    );
    assert!(events_of(&out).is_empty());
    assert!(
        feed(
            &mut t,
            InputKind::WsFrame {
                socket: SocketId(1),
                text: note("after", "IM")
            }
        )
        .is_empty(),
        "queued"
    );
    let out = feed(
        &mut t,
        InputKind::HttpResponse {
            id: get.id,
            outcome: HttpOutcome::json(200, r#"{"eventDataResponse":{"sdp":"v=0\r\n"}}"#),
        },
    );
    let evs = events_of(&out);
    assert_eq!(evs.len(), 4, "{evs:?}");
    assert!(
        matches!(evs[1], Event::NotificationReceived { payload, .. } if payload.to_value()["notificationMessage"]["sessionParams"]["sdp"] == "v=0\r\n")
    );
    assert!(
        matches!(evs[3], Event::NotificationReceived { payload, .. } if payload.to_value()["notificationMessage"]["eventId"] == "after")
    );
    // A bad compressed SDP is dropped, not a crash.
    let frame = json!({"notificationMessage":{"eventType":"custom","eventId":"c3","sessionParams":{"sdpFormat":"compressed","sdp":"!!"}}});
    assert!(feed(
        &mut t,
        InputKind::WsFrame {
            socket: SocketId(1),
            text: frame.to_string()
        }
    )
    .is_empty());
}

#[test]
fn update_config_merges_and_applies_to_the_next_lifecycle() {
    let mut t = connected_with(config());
    feed(
        &mut t,
        InputKind::Command(Command::UpdateConfig(
            json!({"connectivity": {"reconnectDelay": 50}, "authentication": {"subscription": {"service": ["call"]}}}),
        )),
    );
    assert_eq!(t.client.config().connectivity.reconnect_delay, 50);
    assert_eq!(
        t.client.config().authentication.subscription.service,
        ["call"]
    );
    assert_eq!(t.client.config().connectivity.ping_interval, 30_000);
    feed(
        &mut t,
        InputKind::WsClosed {
            socket: SocketId(1),
            reason: "x".into(),
        },
    );
    feed(
        &mut t,
        InputKind::WsClosed {
            socket: SocketId(2),
            reason: "x".into(),
        },
    );
    assert_eq!(t.deadline(), Some(t.now.mono_ms + 50));
}

#[test]
fn stale_inputs_are_ignored() {
    let mut t = store();
    assert!(feed(
        &mut t,
        InputKind::WsFrame {
            socket: SocketId(9),
            text: note("a", "IM")
        }
    )
    .is_empty());
    assert!(feed(
        &mut t,
        InputKind::WsClosed {
            socket: SocketId(9),
            reason: "x".into()
        }
    )
    .is_empty());
    assert!(feed(
        &mut t,
        InputKind::HttpResponse {
            id: RequestId(77),
            outcome: subscribe_ok(1)
        }
    )
    .is_empty());
    assert!(feed(&mut t, InputKind::Timeout).is_empty());
    assert_eq!(
        feed(
            &mut t,
            InputKind::WsOpened {
                socket: SocketId(9)
            }
        ),
        vec![Effect::WsClose {
            socket: SocketId(9)
        }]
    );
    assert_eq!(t.client.state().session, Default::default());
}
