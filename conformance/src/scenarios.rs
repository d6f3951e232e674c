//! The session-layer scenarios of `01-session.md` §7, each returning every
//! client's normalised events.

use kandy_core::session::{ConnectionStatus, SocketStatus};
use kandy_core::{Credentials, ErrorCode, Event};
use kandy_gateway::hmac_token;

use crate::{normalise, Harness};

fn is_status(e: &Event, s: ConnectionStatus) -> bool {
    matches!(e, Event::AuthChange { status, .. } if *status == s)
}

fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

/// §7.1 + §7.5: connect with a password, then disconnect.
pub async fn connect_disconnect(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let a = h.add_client(&|_| {}).await;
    h.connect(a, Credentials::password("alice@example.com", "alice"))
        .await
        .expect("connect");
    h.disconnect(a).await.expect("disconnect");
    assert!(
        h.wait_for(a, &|e| count(e, |x| is_status(
            x,
            ConnectionStatus::Disconnected
        )) == 1)
            .await
    );
    h.with_gateway(Box::new(|g, _| {
        assert_eq!(g.stats().subscriptions, 0, "subscription left behind")
    }))
    .await;
    vec![normalise(h.events(a))]
}

/// §4.1 failure: a wrong password is `authentication:4` and nothing else.
pub async fn wrong_password(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let a = h.add_client(&|_| {}).await;
    let err = h
        .connect(a, Credentials::password("alice@example.com", "wrong"))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::LinkSubscribeFail, "{err:?}");
    assert!(
        h.wait_for(a, &|e| e
            .iter()
            .any(|x| matches!(x, Event::AuthError { .. })))
            .await
    );
    h.with_gateway(Box::new(|g, _| assert_eq!(g.stats().subscriptions, 0)))
        .await;
    vec![normalise(h.events(a))]
}

/// §7.2: HMAC token, then the session id on later requests (a refresh).
pub async fn hmac_then_refresh(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let a = h
        .add_client(&|c| {
            c.authentication.subscription.expires = 2;
            c.authentication.min_refresh_interval = 100;
        })
        .await;
    let token = hmac_token("alice-secret", "alice@example.com");
    h.connect(a, Credentials::hmac("alice@example.com", token))
        .await
        .expect("connect");
    // Granted 2 s: refreshed every second.
    assert!(
        h.wait_for(a, &|e| count(e, |x| matches!(
            x,
            Event::AuthResub {
                is_failure: false,
                ..
            }
        )) >= 2)
            .await
    );
    h.disconnect(a).await.expect("disconnect");
    assert!(
        h.wait_for(a, &|e| e
            .iter()
            .any(|x| is_status(x, ConnectionStatus::Disconnected)))
            .await
    );
    let mut events = normalise(h.events(a));
    events.dedup();
    vec![events]
}

/// §7.6: the gateway drops the socket; the client reopens the same channel
/// (no REST) and keeps its subscription.
pub async fn socket_dropped_and_reopened(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let a = h.add_client(&|c| c.connectivity.reconnect_delay = 50).await;
    h.connect(a, Credentials::password("alice@example.com", "alice"))
        .await
        .expect("connect");
    h.with_gateway(Box::new(|g, now| {
        assert_eq!(g.drop_sockets_of(now, "alice@example.com"), 1);
    }))
    .await;
    let reopened = |e: &[Event]| {
        count(e, |x| {
            matches!(
                x,
                Event::WsChange {
                    status: SocketStatus::Connected,
                    ..
                }
            )
        }) == 2
    };
    assert!(h.wait_for(a, &reopened).await);
    h.with_gateway(Box::new(|g, _| {
        let s = g.stats();
        assert_eq!(
            (s.subscriptions, s.subscriptions_created, s.attached_sockets),
            (1, 1, 1)
        );
    }))
    .await;
    h.disconnect(a).await.expect("disconnect");
    assert!(
        h.wait_for(a, &|e| e
            .iter()
            .any(|x| is_status(x, ConnectionStatus::Disconnected)))
            .await
    );
    vec![normalise(h.events(a))]
}

/// §7.8: the gateway ends the session with `gone`.
pub async fn gone(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let a = h.add_client(&|_| {}).await;
    let b = h.add_client(&|_| {}).await;
    h.connect(a, Credentials::password("alice@example.com", "alice"))
        .await
        .expect("connect");
    h.connect(b, Credentials::password("bob@example.com", "bob"))
        .await
        .expect("connect");
    h.with_gateway(Box::new(|g, now| {
        g.terminate_user(now, "alice@example.com", None);
    }))
    .await;
    assert!(
        h.wait_for(a, &|e| e
            .iter()
            .any(|x| is_status(x, ConnectionStatus::Disconnected)))
            .await
    );
    // Bob is untouched.
    h.disconnect(b).await.expect("disconnect");
    assert!(
        h.wait_for(b, &|e| e
            .iter()
            .any(|x| is_status(x, ConnectionStatus::Disconnected)))
            .await
    );
    vec![normalise(h.events(a)), normalise(h.events(b))]
}

/// Keepalives flow (checks on, short interval) and the session stays up.
pub async fn keepalive(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let a = h
        .add_client(&|c| {
            c.connectivity.check_connectivity = true;
            c.connectivity.ping_interval = 50;
            c.authentication.subscription.expires = 2;
            c.authentication.min_refresh_interval = 100;
        })
        .await;
    h.connect(a, Credentials::password("alice@example.com", "alice"))
        .await
        .expect("connect");
    // Two refreshes later (2 s), the socket is still the first one.
    assert!(
        h.wait_for(a, &|e| count(e, |x| matches!(
            x,
            Event::AuthResub {
                is_failure: false,
                ..
            }
        )) >= 2)
            .await
    );
    h.disconnect(a).await.expect("disconnect");
    assert!(
        h.wait_for(a, &|e| e
            .iter()
            .any(|x| is_status(x, ConnectionStatus::Disconnected)))
            .await
    );
    let mut events = normalise(h.events(a));
    events.dedup();
    vec![events]
}
