//! The driver against a fake gateway on 127.0.0.1: real sockets, real
//! timers, short intervals. Every test is bounded by a 10 s timeout and
//! waits on events or on what the server saw, never on sleeps.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::StreamExt;
use kandy_core::session::{ConnectionStatus, SocketStatus};
use kandy_core::{
    Config, Credentials, Effect, ErrorCode, Event, Input, InputKind, NotificationChannel, RequestId,
};
use kandy_transport_ws::{Client, Error, Limits, Recorder};
use serde_json::json;

use support::*;

fn password() -> Credentials {
    Credentials::password(USER, PASSWORD)
}

fn is_ws(status: SocketStatus) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::WsChange { status: s, .. } if *s == status)
}

fn is_auth(status: ConnectionStatus) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::AuthChange { status: s, .. } if *s == status)
}

fn is_ws_opened(s: &Seen) -> bool {
    matches!(s, Seen::WsOpened { .. })
}

fn is_ping(s: &Seen) -> bool {
    matches!(s, Seen::WsFrame { text } if text == r#"{"message_type":"ping"}"#)
}

#[test]
fn connect_reports_connected_and_opens_the_socket() {
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let client = Client::new(gw.config(json!({})), 1).unwrap();
        let mut events = client.events();

        client.connect(password()).await.unwrap();

        next_event(&mut events, is_auth(ConnectionStatus::Connecting)).await;
        next_event(&mut events, is_ws(SocketStatus::Connected)).await;
        next_event(&mut events, is_auth(ConnectionStatus::Connected)).await;
        let info = client.connection().await.unwrap();
        assert!(info.is_connected && !info.is_pending && info.error.is_none());
        let socket = client.socket_state().await.unwrap().unwrap();
        assert_eq!(socket.status, SocketStatus::Connected);
        assert_eq!(
            client.services().await.unwrap().received,
            ["call", "IM", "presence"]
        );
        assert_eq!(client.user_info().await.unwrap().unwrap().username, USER);

        gw.wait_count(1, is_ws_opened).await;
        let seen = gw.seen();
        let Seen::Http {
            method,
            path,
            authorization,
            ..
        } = &seen[0]
        else {
            panic!("first request: {:?}", seen[0]);
        };
        assert_eq!(method, "POST");
        assert_eq!(path, &format!("/rest/version/1/user/{USER}/subscription"));
        assert!(authorization.as_deref().unwrap().starts_with("basic "));
        assert_eq!(
            seen.iter().find(|s| is_ws_opened(s)),
            Some(&Seen::WsOpened {
                path: CHANNEL.into()
            })
        );
    });
}

#[test]
fn keepalive_pings_reach_the_server() {
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let config = gw.config(json!({
            "connectivity": {"checkConnectivity": true, "pingInterval": 100}
        }));
        let client = Client::new(config, 1).unwrap();
        client.connect(password()).await.unwrap();
        // One right after the open, then one per interval.
        gw.wait_count(3, is_ping).await;
    });
}

#[test]
fn checks_enabled_through_the_connectivity_namespace_start_at_once() {
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let config = gw.config(json!({"connectivity": {"pingInterval": 100}}));
        let client = Client::new(config, 1).unwrap();
        client.connect(password()).await.unwrap();
        client.connectivity().enable_checking(true).await.unwrap();
        gw.wait_count(2, is_ping).await;
        let socket = client.connectivity().socket_state().await.unwrap().unwrap();
        assert!(socket.checks_enabled);
    });
}

#[test]
fn a_socket_closed_by_the_server_is_reopened_on_the_same_channel() {
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let client = Client::new(gw.config(json!({})), 1).unwrap();
        let mut events = client.events();
        client.connect(password()).await.unwrap();
        gw.wait_count(1, is_ws_opened).await;

        gw.close_sockets();

        next_event(&mut events, is_ws(SocketStatus::Lost)).await;
        next_event(&mut events, is_ws(SocketStatus::Connecting)).await;
        next_event(&mut events, is_ws(SocketStatus::Connected)).await;
        gw.wait_count(2, is_ws_opened).await;
        let seen = gw.seen();
        assert!(seen.iter().filter(|s| is_ws_opened(s)).all(|s| *s
            == Seen::WsOpened {
                path: CHANNEL.into()
            }));
        assert_eq!(seen.iter().filter(|s| is_http("POST")(s)).count(), 1);
        assert!(client.connection().await.unwrap().is_connected);
    });
}

#[test]
fn disconnect_deletes_the_subscription_then_closes_the_socket() {
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let client = Client::new(gw.config(json!({})), 1).unwrap();
        let mut events = client.events();
        client.connect(password()).await.unwrap();
        gw.wait_count(1, is_ws_opened).await;

        client.disconnect().await.unwrap();

        next_event(&mut events, is_auth(ConnectionStatus::Disconnecting)).await;
        next_event(&mut events, is_ws(SocketStatus::Closed)).await;
        next_event(&mut events, is_auth(ConnectionStatus::Disconnected)).await;
        let (delete, closed) = gw
            .wait_until(|seen| {
                let delete = seen.iter().position(|s| {
                    matches!(s, Seen::Http { method, path, .. } if method == "DELETE" && path == SUBSCRIPTION)
                })?;
                let closed = seen
                    .iter()
                    .position(|s| matches!(s, Seen::WsClosedByClient { .. }))?;
                Some((delete, closed))
            })
            .await;
        assert!(delete < closed, "DELETE first, then the close");
        assert_eq!(
            gw.seen()[closed],
            Seen::WsClosedByClient { code: Some(1000) }
        );
        let info = client.connection().await.unwrap();
        assert!(!info.is_connected && !info.is_pending);
    });
}

#[test]
fn a_wrong_password_fails_connect_with_authentication_4() {
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let client = Client::new(gw.config(json!({})), 1).unwrap();
        let mut events = client.events();

        let err = client
            .connect(Credentials::password(USER, "wrong"))
            .await
            .unwrap_err();

        assert_eq!(err.code(), Some(ErrorCode::LinkSubscribeFail));
        assert!(err.to_string().contains("Code: 1"), "{err}");
        let e = next_event(&mut events, |e| matches!(e, Event::AuthError { .. })).await;
        assert_eq!(
            Some(&e),
            Some(&Event::AuthError {
                error: err.basic().unwrap().clone()
            })
        );
        let info = client.connection().await.unwrap();
        assert!(!info.is_connected);
        assert_eq!(
            info.error.map(|e| e.code),
            Some(ErrorCode::LinkSubscribeFail)
        );
    });
}

#[test]
fn a_refresh_happens_on_the_kept_alive_connection() {
    run(async {
        let gw = FakeGateway::start(Behaviour {
            expires: 1,
            ..Behaviour::default()
        });
        let config = gw.config(json!({
            "authentication": {"minRefreshInterval": 100, "subscription": {"expires": 1}}
        }));
        let client = Client::new(config, 1).unwrap();
        let mut events = client.events();
        client.connect(password()).await.unwrap();

        let resub = next_event(&mut events, |e| matches!(e, Event::AuthResub { .. })).await;
        assert_eq!(
            resub,
            Event::AuthResub {
                attempt_num: 1,
                is_failure: false,
                error: None
            }
        );
        client.disconnect().await.unwrap();
        let seen = gw.seen();
        let conns: Vec<(String, usize)> = seen
            .iter()
            .filter_map(|s| match s {
                Seen::Http { conn, method, .. } => Some((method.clone(), *conn)),
                _ => None,
            })
            .collect();
        let methods: Vec<&str> = conns.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(methods.first(), Some(&"POST"));
        assert!(methods.contains(&"PUT"));
        assert_eq!(methods.last(), Some(&"DELETE"));
        // Every REST request went over the first connection.
        assert!(conns.iter().all(|(_, c)| *c == conns[0].1), "{conns:?}");
    });
}

#[test]
fn tls_works_with_an_added_root_and_fails_without_it() {
    run(async {
        let gw = FakeGateway::start(Behaviour {
            tls: true,
            ..Behaviour::default()
        });
        let config = gw.config(json!({}));
        assert_eq!(config.authentication.websocket.protocol, "wss");

        let client = Client::builder(config.clone(), 1)
            .add_root_certificates_pem(CA_PEM)
            .unwrap()
            .public_roots(false)
            .build()
            .unwrap();
        client.connect(password()).await.unwrap();
        gw.wait_count(1, is_ws_opened).await;
        client.disconnect().await.unwrap();

        let untrusting = Client::new(config, 2).unwrap();
        let err = untrusting.connect(password()).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::LinkSubscribeFail));
        assert!(err.to_string().contains("TLS"), "{err}");
    });
}

#[test]
fn an_oversized_response_fails_the_request() {
    run(async {
        let gw = FakeGateway::start(Behaviour {
            pad_subscribe_to: Some(10_000),
            ..Behaviour::default()
        });
        let mut limits = Limits::default();
        limits.max_response_body = 4096;
        let client = Client::builder(gw.config(json!({})), 1)
            .limits(limits)
            .build()
            .unwrap();
        let err = client.connect(password()).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::LinkSubscribeFail));
        assert!(err.to_string().contains("larger than 4096 bytes"), "{err}");
    });
}

/// Forwards what it sees to the test.
#[derive(Clone, Default)]
struct Log {
    start: Arc<Mutex<Option<u64>>>,
    inputs: Arc<Mutex<Vec<Input>>>,
    effects: Arc<Mutex<Vec<Effect>>>,
    notify: Option<async_channel::Sender<()>>,
}

impl Recorder for Log {
    fn start(&mut self, _config: &Config, seed: u64) {
        *self.start.lock().unwrap() = Some(seed);
    }
    fn input(&mut self, input: &Input) {
        self.inputs.lock().unwrap().push(input.clone());
        if let Some(n) = &self.notify {
            let _ = n.try_send(());
        }
    }
    fn effect(&mut self, effect: &Effect) {
        self.effects.lock().unwrap().push(effect.clone());
    }
}

#[test]
fn a_late_response_after_the_core_timed_out_is_dropped_harmlessly() {
    run(async {
        let gw = FakeGateway::start(Behaviour {
            subscribe_delays: vec![Duration::from_millis(600)],
            ..Behaviour::default()
        });
        let (notify, notified) = async_channel::bounded(1);
        let log = Log {
            notify: Some(notify),
            ..Log::default()
        };
        let client = Client::builder(gw.config(json!({"http": {"timeout": 200}})), 1)
            .recorder(log.clone())
            .build()
            .unwrap();

        let err = client.connect(password()).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::LinkSubscribeFail));
        assert!(
            err.to_string().contains("no response within 200 ms"),
            "{err}"
        );

        // Connect again while the first answer is still on its way.
        client.connect(password()).await.unwrap();

        // The late answer to request 1 arrives and changes nothing.
        let is_late = |i: &Input| matches!(&i.kind, InputKind::HttpResponse { id, .. } if *id == RequestId(1));
        while !log.inputs.lock().unwrap().iter().any(is_late) {
            notified.recv().await.unwrap();
        }
        let info = client.connection().await.unwrap();
        assert!(info.is_connected && info.error.is_none());
        assert!(client
            .state_snapshot()
            .await
            .unwrap()
            .http
            .pending
            .is_empty());
    });
}

#[test]
fn the_recorder_sees_every_input_and_effect_and_state_changes_fire() {
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let log = Log::default();
        let client = Client::builder(gw.config(json!({})), 7)
            .recorder(log.clone())
            .build()
            .unwrap();
        let mut changes = client.state_changes();
        assert_eq!(changes.generation(), 0);

        client.connect(password()).await.unwrap();

        let generation = changes.next().await.unwrap();
        assert!(generation >= 1);
        assert_eq!(*log.start.lock().unwrap(), Some(7));
        let inputs = log.inputs.lock().unwrap().clone();
        assert_eq!(inputs[0].kind.name(), "command:connect");
        let names: Vec<&str> = inputs.iter().map(|i| i.kind.name()).collect();
        assert!(
            names.contains(&"http_response") && names.contains(&"ws_opened"),
            "{names:?}"
        );
        // The driver's monotonic clock never goes back.
        assert!(inputs
            .windows(2)
            .all(|w| w[0].now.mono_ms <= w[1].now.mono_ms));
        let effects = log.effects.lock().unwrap().clone();
        assert!(
            matches!(effects.iter().find(|e| matches!(e, Effect::Http(_))), Some(Effect::Http(r)) if r.url.ends_with("/subscription"))
        );
        assert!(effects.iter().any(|e| matches!(e, Effect::WsOpen { .. })));
        assert!(effects.iter().any(|e| matches!(
            e,
            Effect::Event(Event::AuthChange {
                status: ConnectionStatus::Connected,
                ..
            })
        )));
    });
}

#[test]
fn notifications_from_the_socket_and_the_application_reach_subscribers() {
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let client = Client::new(gw.config(json!({})), 1).unwrap();
        let mut events = client.events();
        client.connect(password()).await.unwrap();
        gw.wait_count(1, is_ws_opened).await;

        gw.push(r#"{"notificationMessage":{"eventType":"IM","eventId":"e-1"}}"#);
        let e = next_event(&mut events, |e| {
            matches!(e, Event::NotificationReceived { .. })
        })
        .await;
        assert!(matches!(
            e,
            Event::NotificationReceived {
                channel: NotificationChannel::Websocket,
                ..
            }
        ));

        client
            .notification()
            .process(
                json!({"notificationMessage": {"eventType": "IM", "eventId": "e-2"}}),
                NotificationChannel::External,
            )
            .await
            .unwrap();
        let e = next_event(&mut events, |e| {
            matches!(e, Event::NotificationReceived { .. })
        })
        .await;
        assert!(matches!(
            e,
            Event::NotificationReceived {
                channel: NotificationChannel::External,
                ..
            }
        ));

        client.notification().enable_websocket(false).await.unwrap();
        next_event(&mut events, |e| {
            matches!(
                e,
                Event::NotificationsChange {
                    channel: NotificationChannel::Websocket,
                    enabled: false
                }
            )
        })
        .await;
    });
}

#[test]
fn update_connection_puts_the_services_and_bad_commands_are_refused() {
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let client = Client::new(gw.config(json!({})), 1).unwrap();
        assert!(matches!(
            client.update_connection(["call"]).await,
            Err(Error::Refused(kandy_core::Error::InvalidState { .. }))
        ));
        client.connect(password()).await.unwrap();

        client.update_connection(["call"]).await.unwrap();
        let body = gw
            .wait_until(|seen| {
                seen.iter().find_map(|s| match s {
                    Seen::Http { method, body, .. } if method == "PUT" => Some(body.clone()),
                    _ => None,
                })
            })
            .await;
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["subscribeRequest"]["service"], json!(["call"]));

        assert!(matches!(
            client.connect(password()).await,
            Err(Error::Refused(kandy_core::Error::InvalidState { .. }))
        ));
        assert!(matches!(
            client
                .update_config(json!({"connectivity": {"pingInterval": "soon"}}))
                .await,
            Err(Error::Refused(kandy_core::Error::InvalidArgument(_)))
        ));
        client
            .update_config(json!({"connectivity": {"pingInterval": 1234}}))
            .await
            .unwrap();
        assert_eq!(
            client.config().await.unwrap().connectivity.ping_interval,
            1234
        );
    });
}

#[test]
fn disconnect_while_connecting_interrupts_connect() {
    run(async {
        let gw = FakeGateway::start(Behaviour {
            subscribe_delays: vec![Duration::from_millis(300)],
            ..Behaviour::default()
        });
        let client = Client::new(gw.config(json!({})), 1).unwrap();
        let connecting = {
            let client = client.clone();
            smol::spawn(async move { client.connect(password()).await })
        };
        gw.wait_count(1, is_http("POST")).await;
        client.disconnect().await.unwrap();
        assert_eq!(connecting.await, Err(Error::Interrupted { reason: None }));
    });
}

#[test]
fn dropping_the_last_handle_closes_the_socket_and_ends_the_streams() {
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let client = Client::new(gw.config(json!({})), 1).unwrap();
        let mut events = client.events();
        let second = client.clone();
        client.connect(password()).await.unwrap();
        gw.wait_count(1, is_ws_opened).await;

        drop(client);
        assert!(second.is_running());
        drop(second);

        gw.wait_count(1, |s| *s == Seen::WsClosedByClient { code: Some(1000) })
            .await;
        while events.next().await.is_some() {}
    });
}

#[test]
fn a_client_runs_on_an_executor_of_its_own() {
    let ex = Arc::new(smol::Executor::new());
    run(ex.clone().run(async move {
        let gw = FakeGateway::start(Behaviour::default());
        let client = Client::builder(gw.config(json!({})), 1)
            .executor(ex.clone())
            .build()
            .unwrap();
        client.connect(password()).await.unwrap();
        client.disconnect().await.unwrap();
    }));
}
