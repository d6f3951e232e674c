//! Recording a live session to a file and replaying it: the driver against
//! the fake gateway on 127.0.0.1, then `kandy_core::replay` on the file.

mod support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine;
use futures_lite::StreamExt;
use kandy_core::call::fake::FakeEngine;
use kandy_core::call::media::MediaOptions;
use kandy_core::call::CallState;
use kandy_core::replay::{replay, Recording, Secrets};
use kandy_core::{Credentials, Event};
use kandy_transport_ws::{Client, MakeOptions, RECORD_ENV};
use serde_json::json;

use support::*;

/// A fresh scratch directory for one test (no tempfile dependency).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kandy-record-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Connect, a notification, a call made, answered and ended, disconnect;
/// then drop the client and wait for its streams to end (the recorder is
/// flushed by then).
async fn session(client: Client, gw: &FakeGateway) {
    let mut events = client.events();
    client
        .connect(Credentials::password(USER, PASSWORD))
        .await
        .unwrap();
    gw.wait_count(1, |s| matches!(s, Seen::WsOpened { .. }))
        .await;
    gw.push(r#"{"notificationMessage":{"eventType":"IM","eventId":"e-1"}}"#);
    next_event(&mut events, |e| {
        matches!(e, Event::NotificationReceived { .. })
    })
    .await;
    let id = client
        .call()
        .make("bob", MediaOptions::audio(), MakeOptions::default())
        .await
        .unwrap();
    next_event(&mut events, |e| {
        matches!(e, Event::CallStateChange { call_id, state: CallState::Connected, .. } if *call_id == id)
    })
    .await;
    client.call().end(&id).await.unwrap();
    client.disconnect().await.unwrap();
    drop(client);
    while events.next().await.is_some() {}
}

fn basic_auth() -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
}

#[test]
fn a_recorded_loopback_session_replays_without_divergence_and_keeps_no_secrets() {
    let dir = scratch("redacted");
    let path = dir.join("session.jsonl");
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let client = Client::builder(gw.config(json!({})), 5)
            .record_to(&path)
            .recorder(gw.gate())
            .media_engine(Arc::new(Mutex::new(FakeEngine::new("alice"))))
            .build()
            .unwrap();
        session(client, &gw).await;
    });
    let text = std::fs::read_to_string(&path).unwrap();
    let recording = Recording::parse(&text).unwrap();
    assert_eq!(recording.header.seed, 5);
    assert_eq!(recording.header.secrets, Secrets::Redacted);
    let names: Vec<&str> = recording
        .steps
        .iter()
        .map(|s| s.input.kind.name())
        .collect();
    assert!(
        names.contains(&"ws_frame") && names.contains(&"media"),
        "{names:?}"
    );
    let report = replay(&recording);
    assert_eq!(report.divergence, None);
    assert_eq!(report.steps, recording.steps.len());
    assert!(report.effects > 20, "{report:?}");
    // No credential in the file: not the password (in a body or as Basic
    // auth), not the channel path.
    assert!(!text.contains(&basic_auth()));
    assert!(!text.contains(&format!("\"password\":\"{PASSWORD}\"")));
    assert!(!text.contains(CHANNEL) && !text.contains("chan-1"));
    assert!(text.contains("[redacted]"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kandy_record_env_records_each_client_and_exposed_secrets_say_so() {
    let dir = scratch("env");
    // Only this test in this binary builds clients without `record_to`.
    std::env::set_var(RECORD_ENV, &dir);
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        for _ in 0..2 {
            let client = Client::builder(gw.config(json!({"logs": {"exposeSecrets": true}})), 8)
                .recorder(gw.gate())
                .media_engine(Arc::new(Mutex::new(FakeEngine::new("alice"))))
                .build()
                .unwrap();
            session(client, &gw).await;
        }
    });
    std::env::remove_var(RECORD_ENV);
    for n in 0..2 {
        let path = dir.join(format!("kandy-8-{n}.jsonl"));
        let text = std::fs::read_to_string(&path).unwrap();
        let recording = Recording::parse(&text).unwrap();
        assert_eq!(recording.header.secrets, Secrets::Exposed);
        assert!(text.contains(&basic_auth()), "exposed on request");
        assert!(replay(&recording).matched(), "{}", path.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
