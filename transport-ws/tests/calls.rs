//! Calls through the driver against the fake gateway on 127.0.0.1: real
//! sockets, the fake media engine (or none). Every test is bounded by the
//! 10 s timeout of `support::run` and waits on events or on what the server
//! saw, never on sleeps.

mod support;

use std::sync::{Arc, Mutex};

use kandy_core::call::fake::FakeEngine;
use kandy_core::call::media::{MediaCommand, MediaEvent, MediaOptions, TrackId, TrackKind};
use kandy_core::call::{BandwidthOptions, CallDirection, CallId, CallState};
use kandy_core::{Credentials, ErrorCode, Event};
use kandy_transport_ws::{
    Client, Error, Events, Limits, MakeOptions, MediaEngine, MediaSink, SinkError,
};
use serde_json::json;

use support::*;

type SharedEngine = Arc<Mutex<FakeEngine>>;

/// A client of the fake gateway, connected, with its events subscribed
/// before connecting and the socket known to the server (so pushes reach
/// it).
async fn connected(
    gw: &FakeGateway,
    engine: Option<SharedEngine>,
    limits: Limits,
) -> (Client, Events) {
    let mut builder = Client::builder(gw.config(json!({})), 3)
        .recorder(gw.gate())
        .limits(limits);
    if let Some(engine) = engine {
        builder = builder.media_engine(engine);
    }
    let client = builder.build().unwrap();
    let events = client.events();
    client
        .connect(Credentials::password(USER, PASSWORD))
        .await
        .unwrap();
    gw.wait_count(1, |s| matches!(s, Seen::WsOpened { .. }))
        .await;
    (client, events)
}

fn engine() -> SharedEngine {
    Arc::new(Mutex::new(FakeEngine::new("alice")))
}

/// The next `call:stateChange` of `id`, as (state, error code).
async fn next_change(events: &mut Events, id: &CallId) -> (CallState, Option<ErrorCode>, Event) {
    let e = next_event(
        events,
        |e| matches!(e, Event::CallStateChange { call_id, .. } if call_id == id),
    )
    .await;
    let Event::CallStateChange { state, error, .. } = &e else {
        unreachable!()
    };
    (*state, error.as_ref().map(|e| e.code), e)
}

fn refused(result: Result<impl std::fmt::Debug, Error>) -> kandy_core::Error {
    match result {
        Err(Error::Refused(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn http_to(method: &'static str, path: String) -> impl Fn(&Seen) -> bool {
    move |s| matches!(s, Seen::Http { method: m, path: p, .. } if m == method && *p == path)
}

fn leg_path(leg: &str) -> String {
    format!("{CALL_SESSIONS}{leg}")
}

/// Makes a call to bob and waits for it to connect; checks the events on
/// the way.
async fn connected_call(client: &Client, events: &mut Events) -> CallId {
    let id = client
        .call()
        .make("bob", MediaOptions::audio(), MakeOptions::default())
        .await
        .unwrap();
    // Accepted, not yet connected: known at once, with the normalised
    // destination.
    let call = client.call().get_by_id(&id).await.unwrap().unwrap();
    assert_eq!(call.direction, CallDirection::Outgoing);
    assert_eq!(call.to, "sip:bob@example.com");

    let start = next_event(events, |e| matches!(e, Event::CallStart { .. })).await;
    assert_eq!(
        start,
        Event::CallStart {
            call_id: id.clone(),
            error: None
        }
    );
    assert_eq!(next_change(events, &id).await.0, CallState::Ringing);
    assert_eq!(
        next_change(events, &id).await.0,
        CallState::Connected,
        "the gateway's answer connects the call"
    );
    // The far end's track, reported by the engine right after it applied
    // the answer.
    next_event(
        events,
        |e| matches!(e, Event::CallNewTrack { call_id, local: false, .. } if *call_id == id),
    )
    .await;
    id
}

#[test]
fn an_outgoing_call_connects_holds_sends_dtmf_and_ends() {
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let engine = engine();
        let (client, mut events) = connected(&gw, Some(engine.clone()), Limits::default()).await;

        let id = connected_call(&client, &mut events).await;
        let seen = gw.seen();
        let start = seen
            .iter()
            .find_map(|s| match s {
                Seen::Http {
                    method, path, body, ..
                } if method == "POST" && path == CALL_CONTROL => Some(body.clone()),
                _ => None,
            })
            .expect("the call start reached the gateway");
        let start: serde_json::Value = serde_json::from_str(&start).unwrap();
        assert_eq!(start["callControlRequest"]["type"], "callStart");
        assert_eq!(start["callControlRequest"]["to"], "sip:bob@example.com");
        let call = client.call().get_by_id(&id).await.unwrap().unwrap();
        assert_eq!(call.leg.as_deref(), Some(OUTGOING_LEG));
        assert_eq!(call.remote_participant.display_name, "Bob");
        assert_eq!((call.local_tracks.len(), call.remote_tracks.len()), (1, 1));
        assert_eq!(client.call().get_all().await.unwrap(), vec![call.clone()]);

        // DTMF goes to the engine within the command's step.
        client
            .call()
            .send_dtmf(&id, "12#", None, None)
            .await
            .unwrap();
        client
            .call()
            .send_dtmf(&id, "*0", Some(200), Some(100))
            .await
            .unwrap();
        assert_eq!(engine.lock().unwrap().peers[&id].dtmf, "12#*0");

        // Mute and look the track up through the media namespace.
        let track = call.local_tracks[0].clone();
        client.media().mute_tracks([track.clone()]).await.unwrap();
        assert_eq!(
            next_event(&mut events, |e| matches!(e, Event::MediaMuted { .. })).await,
            Event::MediaMuted {
                tracks: vec![track.clone()]
            }
        );
        let t = client.media().get_track_by_id(&track).await.unwrap();
        assert!(t.is_some_and(|t| t.muted && t.local));
        assert_eq!(engine.lock().unwrap().peers[&id].muted, vec![track.clone()]);

        // Hold: On Hold with the local flag once the far end answered.
        client.call().hold(&id).await.unwrap();
        let hold_put = http_to("PUT", leg_path(OUTGOING_LEG));
        let (state, error, e) = next_change(&mut events, &id).await;
        assert_eq!((state, error), (CallState::OnHold, None));
        let Event::CallStateChange { previous, .. } = e else {
            unreachable!()
        };
        assert!(!previous.local_hold);
        let call = client.call().get_by_id(&id).await.unwrap().unwrap();
        assert!(call.local_hold && !call.remote_hold);
        let update = match gw.seen().into_iter().find(|s| hold_put(s)) {
            Some(Seen::Http { body, .. }) => body,
            other => panic!("no hold request: {other:?}"),
        };
        assert!(update.contains("startCallUpdate") && update.contains("a=inactive"));

        // Unhold: Connected again.
        client.call().unhold(&id).await.unwrap();
        assert_eq!(next_change(&mut events, &id).await.0, CallState::Connected);
        assert!(
            !client
                .call()
                .get_by_id(&id)
                .await
                .unwrap()
                .unwrap()
                .local_hold
        );

        // End: Ended at once, and the leg is deleted on the gateway.
        client.call().end(&id).await.unwrap();
        assert_eq!(
            next_change(&mut events, &id).await,
            (
                CallState::Ended,
                None,
                Event::CallStateChange {
                    call_id: id.clone(),
                    state: CallState::Ended,
                    previous: kandy_core::call::Previous {
                        state: CallState::Connected,
                        local_hold: false,
                        remote_hold: false
                    },
                    transition: None,
                    error: None
                }
            )
        );
        gw.wait_count(1, http_to("DELETE", leg_path(OUTGOING_LEG)))
            .await;
        assert!(engine.lock().unwrap().peers[&id].closed);
        assert!(matches!(
            refused(client.call().end(&id).await),
            kandy_core::Error::InvalidState { .. }
        ));
        assert_eq!(events.dropped(), 0);
    });
}

#[test]
fn media_operations_report_their_outcomes_as_events() {
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let (client, mut events) = connected(&gw, Some(engine()), Limits::default()).await;
        let id = connected_call(&client, &mut events).await;

        // addMedia: a video track, renegotiated with the gateway.
        let video = MediaOptions {
            video: true,
            ..MediaOptions::default()
        };
        client
            .call()
            .add_media(&id, video.clone(), BandwidthOptions::default())
            .await
            .unwrap();
        let Event::CallNewMedia { tracks, error, .. } =
            next_event(&mut events, |e| matches!(e, Event::CallNewMedia { .. })).await
        else {
            unreachable!()
        };
        assert!(error.is_none());
        assert_eq!(tracks.len(), 1);
        let added = tracks[0].clone();
        let track = client.media().get_track_by_id(&added).await.unwrap();
        assert!(track.is_some_and(|t| t.local && t.kind == TrackKind::Video));

        // removeMedia: the video track goes again.
        client
            .call()
            .remove_media(&id, [added.clone()], BandwidthOptions::default())
            .await
            .unwrap();
        let removed =
            next_event(&mut events, |e| matches!(e, Event::CallRemovedMedia { .. })).await;
        assert_eq!(
            removed,
            Event::CallRemovedMedia {
                call_id: id.clone(),
                local: true,
                tracks: vec![added],
                error: None
            }
        );

        // replaceTrack, without renegotiation.
        let audio = client
            .call()
            .get_by_id(&id)
            .await
            .unwrap()
            .unwrap()
            .local_tracks[0]
            .clone();
        client
            .call()
            .replace_track(&id, &audio, MediaOptions::audio())
            .await
            .unwrap();
        let Event::CallTrackReplaced {
            new_track_id: Some(new),
            old_track: Some(old),
            error: None,
            ..
        } = next_event(&mut events, |e| {
            matches!(e, Event::CallTrackReplaced { .. })
        })
        .await
        else {
            panic!("replaceTrack failed")
        };
        assert_eq!(old.id, audio);
        assert_eq!(
            client
                .call()
                .get_by_id(&id)
                .await
                .unwrap()
                .unwrap()
                .local_tracks,
            vec![new.clone()]
        );

        // Mute and unmute; statistics.
        client.media().mute_tracks([new.clone()]).await.unwrap();
        client.media().unmute_tracks([new.clone()]).await.unwrap();
        assert_eq!(
            next_event(&mut events, |e| matches!(e, Event::MediaUnmuted { .. })).await,
            Event::MediaUnmuted {
                tracks: vec![new.clone()]
            }
        );
        client.call().get_stats(&id, Some(&new)).await.unwrap();
        let stats = next_event(&mut events, |e| {
            matches!(e, Event::CallStatsReceived { .. })
        })
        .await;
        assert!(
            matches!(stats, Event::CallStatsReceived { track_id: Some(t), error: None, .. } if t == new)
        );
    });
}

#[test]
fn without_a_media_engine_a_call_fails_with_call_4() {
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let (client, mut events) = connected(&gw, None, Limits::default()).await;

        let id = client
            .call()
            .make("bob", MediaOptions::audio(), MakeOptions::default())
            .await
            .expect("accepted: the failure comes as an event");
        let (state, error, _) = next_change(&mut events, &id).await;
        assert_eq!(
            (state, error),
            (CallState::Ended, Some(ErrorCode::CallUserMediaError))
        );
        assert_eq!(error.unwrap().as_str(), "call:4");
        let call = client.call().get_by_id(&id).await.unwrap().unwrap();
        assert!(call.ended());
        assert!(call
            .error
            .as_ref()
            .is_some_and(|e| e.message.contains("no media engine")));
        // Nothing reached the gateway for it.
        assert!(!gw
            .seen()
            .iter()
            .any(|s| matches!(s, Seen::Http { path, .. } if path.contains("/callControl"))));

        // An incoming call cannot be taken either: it is declined at once
        // instead of being announced.
        gw.push(&call_notification(
            "call",
            "in-1",
            json!({"sessionData": "SB-9", "sdp": far_end_sdp(2, "sendrecv")}),
        ));
        gw.wait_count(1, http_to("POST", CALL_DISPOSITION.to_owned()))
            .await;
        let calls = client.call().get_all().await.unwrap();
        assert_eq!(calls.len(), 1, "only the failed outgoing call: {calls:?}");
    });
}

#[test]
fn an_incoming_call_is_announced_answered_and_ended_and_another_rejected() {
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let (client, mut events) = connected(&gw, Some(engine()), Limits::default()).await;

        gw.push(&call_notification(
            "call",
            "in-1",
            json!({"sessionData": "SB-9", "sdp": far_end_sdp(2, "sendrecv")}),
        ));
        let Event::CallReceive { call_id: id } =
            next_event(&mut events, |e| matches!(e, Event::CallReceive { .. })).await
        else {
            unreachable!()
        };
        let call = client.call().get_by_id(&id).await.unwrap().unwrap();
        assert_eq!(
            (call.direction, call.state, call.from.as_str()),
            (
                CallDirection::Incoming,
                CallState::Ringing,
                "bob@example.com"
            )
        );
        gw.wait_count(1, http_to("PUT", leg_path("SB-9"))).await;

        client
            .call()
            .answer(&id, MediaOptions::audio(), BandwidthOptions::default())
            .await
            .unwrap();
        assert_eq!(next_change(&mut events, &id).await.0, CallState::Connected);
        client.call().end(&id).await.unwrap();
        assert_eq!(next_change(&mut events, &id).await.0, CallState::Ended);
        gw.wait_count(1, http_to("DELETE", leg_path("SB-9"))).await;

        gw.push(&call_notification(
            "call",
            "in-2",
            json!({"sessionData": "SB-10", "sdp": far_end_sdp(2, "sendrecv")}),
        ));
        let Event::CallReceive { call_id: second } =
            next_event(&mut events, |e| matches!(e, Event::CallReceive { .. })).await
        else {
            unreachable!()
        };
        client.call().reject(&second).await.unwrap();
        assert_eq!(
            next_change(&mut events, &second).await,
            (
                CallState::Ended,
                None,
                Event::CallStateChange {
                    call_id: second.clone(),
                    state: CallState::Ended,
                    previous: kandy_core::call::Previous {
                        state: CallState::Ringing,
                        local_hold: false,
                        remote_hold: false
                    },
                    transition: None,
                    error: None
                }
            )
        );
        let reject = gw
            .wait_until(|seen| {
                seen.iter().find_map(|s| match s {
                    Seen::Http {
                        method, path, body, ..
                    } if method == "POST" && path == CALL_DISPOSITION => Some(body.clone()),
                    _ => None,
                })
            })
            .await;
        assert!(reject.contains("reject") && reject.contains("SB-10"));
    });
}

#[test]
fn illegal_operations_are_refused_and_change_nothing() {
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let engine = engine();
        let offline = Client::builder(gw.config(json!({})), 3)
            .media_engine(engine.clone())
            .build()
            .unwrap();

        // Not connected.
        let e = refused(
            offline
                .call()
                .make("bob", MediaOptions::audio(), MakeOptions::default())
                .await,
        );
        assert!(matches!(e, kandy_core::Error::InvalidState { .. }), "{e}");

        let (client, mut events) = connected(&gw, Some(engine), Limits::default()).await;
        let unknown = CallId::new("nope");
        assert!(matches!(
            refused(client.call().hold(&unknown).await),
            kandy_core::Error::Unknown(_)
        ));
        assert!(matches!(
            refused(
                client
                    .call()
                    .make("bob", MediaOptions::default(), MakeOptions::default())
                    .await
            ),
            kandy_core::Error::InvalidArgument(_)
        ));
        assert!(matches!(
            refused(client.media().mute_tracks([TrackId("t".into())]).await),
            kandy_core::Error::Unknown(_)
        ));

        let id = connected_call(&client, &mut events).await;
        for result in [
            client.call().unhold(&id).await,
            client
                .call()
                .answer(&id, MediaOptions::audio(), BandwidthOptions::default())
                .await,
            client.call().reject(&id).await,
            client.call().direct_transfer(&id, "carol").await,
            client.call().join(&id, &id).await,
        ] {
            assert!(
                matches!(refused(result), kandy_core::Error::InvalidState { .. }),
                "an operation illegal on a connected outgoing call"
            );
        }
        assert!(matches!(
            refused(client.call().send_dtmf(&id, "x", None, None).await),
            kandy_core::Error::InvalidArgument(_)
        ));
        // One negotiation at a time.
        client.call().hold(&id).await.unwrap();
        assert!(matches!(
            refused(client.call().hold(&id).await),
            kandy_core::Error::InvalidState { .. }
        ));
        assert_eq!(next_change(&mut events, &id).await.0, CallState::OnHold);
        assert_eq!(client.call().get_all().await.unwrap().len(), 1);
        assert_eq!(client.call().get_by_id(&unknown).await.unwrap(), None);
    });
}

/// Reports from a task of its own, later, as a real engine does: the fake
/// engine computes the events, a worker task sends them through a clone of
/// the sink, in order, waiting for room.
struct Deferred {
    inner: FakeEngine,
    worker: Option<async_channel::Sender<Vec<MediaEvent>>>,
    _task: Option<smol::Task<()>>,
}

impl MediaEngine for Deferred {
    fn command(&mut self, command: MediaCommand, sink: &MediaSink) {
        let events = self.inner.handle(command);
        if self.worker.is_none() {
            let (tx, rx) = async_channel::bounded::<Vec<MediaEvent>>(64);
            let sink = sink.clone();
            self._task = Some(smol::spawn(async move {
                while let Ok(batch) = rx.recv().await {
                    for event in batch {
                        if sink.send(event).await == Err(SinkError::Closed) {
                            return;
                        }
                    }
                }
            }));
            self.worker = Some(tx);
        }
        if let Some(worker) = &self.worker {
            worker.try_send(events).expect("the test's worker keeps up");
        }
    }
}

#[test]
fn an_engine_reporting_from_its_own_task_through_a_one_slot_queue_loses_nothing() {
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let mut limits = Limits::default();
        limits.media_queue = 1;
        let client = Client::builder(gw.config(json!({})), 3)
            .recorder(gw.gate())
            .limits(limits)
            .media_engine(Deferred {
                inner: FakeEngine::new("alice"),
                worker: None,
                _task: None,
            })
            .build()
            .unwrap();
        let mut events = client.events();
        client
            .connect(Credentials::password(USER, PASSWORD))
            .await
            .unwrap();
        gw.wait_count(1, |s| matches!(s, Seen::WsOpened { .. }))
            .await;

        let id = connected_call(&client, &mut events).await;
        client.call().hold(&id).await.unwrap();
        assert_eq!(next_change(&mut events, &id).await.0, CallState::OnHold);
        client.call().get_stats(&id, None).await.unwrap();
        let stats = next_event(&mut events, |e| {
            matches!(e, Event::CallStatsReceived { .. })
        })
        .await;
        assert!(
            matches!(stats, Event::CallStatsReceived { call_id, error: None, .. } if call_id == id)
        );
    });
}

#[test]
fn application_sdp_handlers_run_in_the_driver_and_reach_the_wire() {
    run(async {
        let gw = FakeGateway::start(Behaviour::default());
        let client = Client::builder(gw.config(json!({})), 3)
            .recorder(gw.gate())
            .media_engine(engine())
            // `createCodecRemover(['PCMU'])`, then a handler of our own.
            .sdp_handler(kandy_transport_ws::sdp_handlers::codec_remover(vec![
                kandy_core::call::sdp::CodecSpec::named("PCMU"),
            ]))
            .sdp_handler(|mut sdp, info, _original| {
                sdp.session.push(kandy_core::call::sdp::Line {
                    kind: 'a',
                    value: format!("x-app:{:?}", info.endpoint),
                });
                sdp
            })
            .build()
            .unwrap();
        let mut events = client.events();
        client
            .connect(Credentials::password(USER, PASSWORD))
            .await
            .unwrap();
        gw.wait_count(1, |s| matches!(s, Seen::WsOpened { .. }))
            .await;
        connected_call(&client, &mut events).await;
        let start_body = gw
            .seen()
            .iter()
            .find_map(|s| match s {
                Seen::Http {
                    method, path, body, ..
                } if method == "POST" && path.ends_with("/callControl") => Some(body.clone()),
                _ => None,
            })
            .expect("the start request");
        let b: serde_json::Value = serde_json::from_str(&start_body).unwrap();
        let sdp = b["callControlRequest"]["sdp"].as_str().unwrap();
        assert!(sdp.contains("a=x-app:Local"), "{sdp}");
        assert!(!sdp.contains("PCMU"), "the codec remover ran: {sdp}");
    });
}
