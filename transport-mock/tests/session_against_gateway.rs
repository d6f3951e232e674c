//! The core client against the gateway model, in memory on virtual time:
//! both sides of the session protocol written from the same documents must
//! agree request by request.

use kandy_core::session::{ConnectionStatus, DisconnectReason, SocketStatus};
use kandy_core::{Command, Credentials, ErrorCode, Event};
use kandy_gateway::{hmac_token, GatewayConfig, TokenKind, Users};
use kandy_transport_mock::{ClientId, Network};

fn connected(net: &mut Network, id: ClientId) -> bool {
    net.client(id).connection().is_connected
}

fn alice(net: &mut Network) -> ClientId {
    let a = net.add_client(1);
    net.command(
        a,
        Command::Connect(Credentials::password("alice@example.com", "alice")),
    )
    .unwrap();
    assert!(net.run_until(1_000, |n| n.client(a).connection().is_connected));
    a
}

fn ws(status: SocketStatus) -> Event {
    Event::WsChange {
        platform: "link".into(),
        status,
    }
}

fn change(status: ConnectionStatus) -> Event {
    Event::AuthChange {
        status,
        reason: None,
        forced: false,
    }
}

#[test]
fn connect_refresh_for_an_hour_then_disconnect() {
    let mut net = Network::with_builtin_users(1);
    let mut config = Network::client_config();
    config.authentication.subscription.expires = 60;
    let a = net.add_client_with(config, 1);
    net.command(
        a,
        Command::Connect(Credentials::password("alice@example.com", "alice")),
    )
    .unwrap();
    net.run_for(1_000);
    assert_eq!(
        net.take_events(a),
        vec![
            change(ConnectionStatus::Connecting),
            ws(SocketStatus::Connecting),
            ws(SocketStatus::Connected),
            change(ConnectionStatus::Connected),
        ]
    );
    assert_eq!(net.gateway().stats().subscriptions, 1);
    // Granted 60 s: a refresh every 30 s keeps it alive for an hour. Each
    // wait counts from the end of the previous refresh (30 s + a 10 ms round
    // trip), so an hour holds 119 of them.
    net.run_for(3_600_000);
    let events = net.take_events(a);
    assert_eq!(events.len(), 119);
    assert!(events.iter().all(|e| matches!(
        e,
        Event::AuthResub {
            attempt_num: 1,
            is_failure: false,
            ..
        }
    )));
    assert_eq!(net.gateway().stats().subscriptions, 1);
    assert_eq!(net.gateway().stats().subscriptions_expired, 0);
    net.command(a, Command::Disconnect).unwrap();
    net.run_for(1_000);
    assert_eq!(
        net.take_events(a),
        vec![
            change(ConnectionStatus::Disconnecting),
            ws(SocketStatus::Closed),
            change(ConnectionStatus::Disconnected)
        ]
    );
    let stats = net.gateway().stats();
    assert_eq!(
        (
            stats.subscriptions,
            stats.open_sockets,
            stats.subscriptions_deleted
        ),
        (0, 0, 1)
    );
}

#[test]
fn wrong_password_is_an_auth_error_and_leaves_nothing_behind() {
    let mut net = Network::with_builtin_users(1);
    let a = net.add_client(1);
    net.command(
        a,
        Command::Connect(Credentials::password("alice@example.com", "nope")),
    )
    .unwrap();
    net.run_for(1_000);
    let events = net.take_events(a);
    match &events[..] {
        [Event::AuthChange {
            status: ConnectionStatus::Connecting,
            ..
        }, Event::AuthError { error }] => {
            assert_eq!(error.code, ErrorCode::LinkSubscribeFail);
            assert_eq!(error.message, "Failed to subscribe user. Code: 4.");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(net.gateway().stats().subscriptions, 0);
    assert!(!net.client(a).connection().is_connected);
}

#[test]
fn a_dropped_socket_is_reopened_on_the_same_subscription() {
    let mut net = Network::with_builtin_users(1);
    let a = alice(&mut net);
    net.take_events(a);
    assert!(net.drop_socket(a));
    net.run_for(1_000);
    assert_eq!(
        net.take_events(a),
        vec![
            ws(SocketStatus::Lost),
            ws(SocketStatus::Connecting),
            ws(SocketStatus::Connected)
        ]
    );
    let stats = net.gateway().stats();
    assert_eq!(
        (
            stats.subscriptions,
            stats.subscriptions_created,
            stats.attached_sockets
        ),
        (1, 1, 1)
    );
    // Notifications still reach the client on the new socket.
    let params = serde_json::json!({"msgText": "hi"})
        .as_object()
        .unwrap()
        .clone();
    net.with_gateway(|g, now| g.push_notification(now, "alice@example.com", "IM", &params));
    net.run_for(100);
    assert!(net
        .take_events(a)
        .iter()
        .any(|e| matches!(e, Event::UnknownNotification { event_type, .. } if event_type == "IM")));
}

#[test]
fn the_gateway_ending_the_session_is_gone() {
    let mut net = Network::with_builtin_users(1);
    let a = alice(&mut net);
    net.take_events(a);
    net.with_gateway(|g, now| g.terminate_user(now, "alice@example.com", None));
    net.run_for(1_000);
    let events = net.take_events(a);
    assert!(events.contains(&Event::AuthChange {
        status: ConnectionStatus::Disconnected,
        reason: Some(DisconnectReason::Gone),
        forced: true
    }));
    assert!(!connected(&mut net, a));
    assert_eq!(net.client(a).poll_timeout(), None, "no refresh after gone");
}

#[test]
fn hmac_login_uses_the_granted_session_id_afterwards() {
    let mut net = Network::with_builtin_users(1);
    let mut config = Network::client_config();
    config.authentication.subscription.expires = 60;
    let a = net.add_client_with(config, 1);
    let token = hmac_token("alice-secret", "alice@example.com");
    net.command(
        a,
        Command::Connect(Credentials::hmac("alice@example.com", token)),
    )
    .unwrap();
    net.run_for(1_000);
    assert!(connected(&mut net, a));
    net.take_events(a);
    net.run_for(31_000);
    assert!(matches!(
        net.take_events(a)[..],
        [Event::AuthResub {
            is_failure: false,
            ..
        }]
    ));
    let bad = net.add_client(2);
    net.command(
        bad,
        Command::Connect(Credentials::hmac("alice@example.com", "00ff")),
    )
    .unwrap();
    net.run_for(1_000);
    assert!(net
        .take_events(bad)
        .iter()
        .any(|e| matches!(e, Event::AuthError { .. })));
}

#[test]
fn access_and_refresh_tokens_are_renewed_through_the_token_service() {
    let mut net = Network::with_builtin_users(1);
    let (access, refresh) = net.with_gateway(|g, now| {
        (
            g.mint_token(now, "alice@example.com", TokenKind::Access, Some(400))
                .unwrap(),
            g.mint_token(now, "alice@example.com", TokenKind::Refresh, None)
                .unwrap(),
        )
    });
    let a = net.add_client(1);
    net.command(
        a,
        Command::Connect(Credentials::AccessToken {
            username: "alice@example.com".into(),
            access_token: access.clone().into(),
            refresh_token: Some(refresh.into()),
            expires: Some(400),
        }),
    )
    .unwrap();
    net.run_for(1_000);
    assert!(connected(&mut net, a));
    // Refreshed at 400 - 300 = 100 s, again and again; the session lives on
    // past the first token's expiry and subscription refreshes keep working.
    net.run_for(2_000_000);
    let events = net.take_events(a);
    let renewals = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::AuthChange {
                    status: ConnectionStatus::Connected,
                    ..
                }
            )
        })
        .count();
    assert!(renewals >= 19, "{renewals} renewals in {events:?}");
    assert!(!events.iter().any(|e| matches!(
        e,
        Event::AuthError { .. }
            | Event::AuthResub {
                is_failure: true,
                ..
            }
    )));
    let token = net.client(a).user_info().unwrap().token.unwrap();
    assert_ne!(token.expose(), access);
}

#[test]
fn keepalives_flow_and_the_gateway_stays_silent() {
    let mut net = Network::with_builtin_users(1);
    let mut config = Network::client_config();
    config.connectivity.check_connectivity = true;
    config.connectivity.ping_interval = 5_000;
    let a = net.add_client_with(config.clone(), 1);
    net.command(
        a,
        Command::Connect(Credentials::password("alice@example.com", "alice")),
    )
    .unwrap();
    net.run_for(600_000);
    let events = net.take_events(a);
    assert_eq!(
        events.len(),
        4,
        "only the connect events in 10 minutes: {events:?}"
    );
    // pingPong against the gateway: connAck keeps the socket alive.
    config.connectivity.method.kind = kandy_core::config::CheckType::PingPong;
    let b = net.add_client_with(config, 2);
    net.command(
        b,
        Command::Connect(Credentials::password("bob@example.com", "bob")),
    )
    .unwrap();
    net.run_for(600_000);
    assert_eq!(net.take_events(b).len(), 4);
}

#[test]
fn many_clients_connect_and_the_gateway_counts_them() {
    let users = Users::builtin();
    let mut net = Network::new(GatewayConfig::default(), users, 9);
    let names = ["alice", "bob", "carol"];
    let ids: Vec<ClientId> = (0..30)
        .map(|i| {
            let name = names[i % 3];
            let c = net.add_client(i as u64);
            net.command(
                c,
                Command::Connect(Credentials::password(format!("{name}@example.com"), name)),
            )
            .unwrap();
            c
        })
        .collect();
    net.run_for(1_000);
    assert!(ids.iter().all(|&c| net.client(c).connection().is_connected));
    assert_eq!(net.gateway().stats().subscriptions, 30);
    for &c in &ids {
        net.command(c, Command::Disconnect).unwrap();
    }
    net.run_for(1_000);
    assert_eq!(net.gateway().stats().subscriptions, 0);
}
