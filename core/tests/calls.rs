//! The call state machine against a scripted gateway and the fake media
//! engine: every sequence of 02-calls.md §6 from one client's side, the
//! failure paths, and the refusals of illegal operations.

use kandy_core::call::fake::FakeEngine;
use kandy_core::call::media::{MediaOptions, TrackId};
use kandy_core::call::{BandwidthOptions, CallCommand, CallId, CallState, Transition};
use kandy_core::config::LogLevel;
use kandy_core::{
    Client, Command, Config, Credentials, Effect, Error, ErrorCode, Event, HttpOutcome,
    HttpRequest, Input, InputKind, Method, Now, RequestId, SocketId,
};
use serde_json::{json, Value};

/// A connected client whose media effects are answered by a fake engine.
struct Rig {
    client: Client,
    engine: FakeEngine,
    now: Now,
    http: Vec<HttpRequest>,
    events: Vec<Event>,
    eid: u64,
}

impl Rig {
    fn new(tweak: impl FnOnce(&mut Config)) -> Self {
        let mut c = Config::for_server("gw.test", true, 443);
        c.logs.log_level = LogLevel::Silent;
        tweak(&mut c);
        let mut r = Rig {
            client: Client::new(c, 5),
            engine: FakeEngine::new("alice"),
            now: Now::at(1_000_000),
            http: Vec::new(),
            events: Vec::new(),
            eid: 0,
        };
        r.cmd(Command::Connect(Credentials::password(
            "alice@example.com",
            "pw",
        )))
        .unwrap();
        let body = r#"{"subscribeResponse":{"subscription":"/s/1","subscriptionParams":{"notificationChannel":"/n/1","expires":3600,"service":["call"]}}}"#;
        r.respond(HttpOutcome::json(200, body));
        r.input(InputKind::WsOpened {
            socket: SocketId(1),
        });
        r.take();
        r
    }

    fn input(&mut self, kind: InputKind) {
        self.client
            .handle(Input::new(self.now, kind))
            .expect("input");
        self.pump();
    }

    fn cmd(&mut self, c: Command) -> Result<(), Error> {
        let r = self.client.handle(Input::command(self.now, c));
        self.pump();
        r
    }

    fn call(&mut self, c: CallCommand) -> Result<(), Error> {
        self.cmd(Command::Call(Box::new(c)))
    }

    /// Runs media effects through the engine until none are left.
    fn pump(&mut self) {
        loop {
            let mut media = Vec::new();
            while let Some(e) = self.client.poll_effect() {
                match e {
                    Effect::Media(m) => media.push(m),
                    Effect::Http(r) => self.http.push(r),
                    // Every notification also yields notification:received;
                    // the call events are what these tests are about.
                    Effect::Event(Event::NotificationReceived { .. }) => {}
                    Effect::Event(ev) => self.events.push(ev),
                    _ => {}
                }
            }
            if media.is_empty() {
                return;
            }
            for m in media {
                for ev in self.engine.handle(m) {
                    self.client
                        .handle(Input::new(self.now, InputKind::Media(ev)))
                        .expect("media input");
                }
            }
        }
    }

    fn take(&mut self) -> (Vec<HttpRequest>, Vec<Event>) {
        (
            std::mem::take(&mut self.http),
            std::mem::take(&mut self.events),
        )
    }

    fn last_request_id(&self) -> RequestId {
        *self
            .client
            .state()
            .http
            .pending
            .keys()
            .last()
            .expect("a request in flight")
    }

    /// Answers the request in flight (the newest one).
    fn respond(&mut self, outcome: HttpOutcome) {
        let id = self.last_request_id();
        self.input(InputKind::HttpResponse { id, outcome });
    }

    fn ok(&mut self) {
        self.respond(HttpOutcome::json(
            200,
            r#"{"callControlResponse":{"statusCode":0}}"#,
        ));
    }

    fn notify(&mut self, event_type: &str, session: Value, extra: Value) {
        self.eid += 1;
        let mut m = json!({"eventType": event_type, "eventId": format!("e{}", self.eid), "sessionParams": session});
        if let (Some(o), Value::Object(x)) = (m.as_object_mut(), extra) {
            o.extend(x);
        }
        let text = json!({"notificationMessage": m}).to_string();
        self.input(InputKind::WsFrame {
            socket: SocketId(1),
            text,
        });
    }

    fn state(&self, id: &CallId) -> CallState {
        self.client.call(id).expect("call").state
    }
}

fn body(r: &HttpRequest) -> Value {
    serde_json::from_str(r.body.as_deref().unwrap_or("null")).unwrap()
}

fn peer_sdp(dir: &str) -> String {
    format!("v=0\r\no=- 777 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 126\r\nc=IN IP4 127.0.0.1\r\na=ice-ufrag:b\r\na=ice-pwd:bpwd\r\na=fingerprint:sha-256 CC:DD\r\na=setup:active\r\na=mid:0\r\na={dir}\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:126 telephone-event/8000\r\n")
}

fn bob() -> Value {
    json!({"remoteName": "Bob", "remoteDisplayNumber": "bob@example.com", "callerName": "Bob", "callerDisplayNumber": "bob@example.com"})
}

fn changes(events: &[Event]) -> Vec<(CallState, Option<ErrorCode>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::CallStateChange { state, error, .. } => {
                Some((*state, error.as_ref().map(|e| e.code)))
            }
            _ => None,
        })
        .collect()
}

/// Makes a call to bob and takes it to Connected (§6.1, A's side).
fn connected_call(r: &mut Rig) -> CallId {
    let id = CallId::new("c1");
    r.call(CallCommand::Make {
        call_id: id.clone(),
        destination: "bob".into(),
        media: MediaOptions::audio(),
        bandwidth: BandwidthOptions::default(),
        display_name: None,
    })
    .unwrap();
    let (http, events) = r.take();
    assert!(events.is_empty());
    assert_eq!(http.len(), 1);
    let start = &http[0];
    assert_eq!(
        (start.method, start.url.as_str()),
        (
            Method::Post,
            "https://gw.test:443/rest/version/1/user/alice@example.com/callControl"
        )
    );
    let b = body(start);
    assert_eq!(b["callControlRequest"]["type"], "callStart");
    assert_eq!(b["callControlRequest"]["to"], "sip:bob@example.com");
    assert_eq!(b["callControlRequest"]["from"], "sip:alice@example.com");
    let sdp = b["callControlRequest"]["sdp"].as_str().unwrap();
    assert!(sdp.contains("b=AS:5000\r\nb=TIAS:5000000\r\n"), "{sdp}");
    assert!(
        !sdp.contains("a=group") && !sdp.contains("trickle"),
        "pipeline cleaned the offer"
    );
    assert_eq!(r.state(&id), CallState::Initiating);
    r.respond(HttpOutcome::json(
        200,
        r#"{"callControlResponse":{"statusCode":0,"sessionData":"SA-1"}}"#,
    ));
    let (_, events) = r.take();
    assert_eq!(
        events,
        vec![Event::CallStart {
            call_id: id.clone(),
            error: None
        }]
    );
    r.notify(
        "ringing",
        json!({"sessionData": "SA-1"}),
        json!({"callNotificationParams": bob()}),
    );
    assert_eq!(changes(&r.take().1), vec![(CallState::Ringing, None)]);
    r.notify(
        "respondCallUpdate",
        json!({"sessionData": "SA-1", "sdp": peer_sdp("sendrecv")}),
        json!({"callNotificationParams": bob()}),
    );
    let (_, events) = r.take();
    assert_eq!(changes(&events), vec![(CallState::Connected, None)]);
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::CallNewTrack { local: false, .. })));
    let call = r.client.call(&id).unwrap();
    assert_eq!(call.remote_participant.display_number, "bob@example.com");
    assert_eq!(call.remote_participant.display_name, "Bob");
    assert!(
        call.start_time.is_some() && call.local_tracks.len() == 1 && call.remote_tracks.len() == 1
    );
    id
}

#[test]
fn outgoing_call_answered() {
    let mut r = Rig::new(|_| {});
    connected_call(&mut r);
}

#[test]
fn incoming_call_answered_with_ringing_feedback() {
    let mut r = Rig::new(|_| {});
    r.notify(
        "call",
        json!({"sessionData": "SB-9", "sdp": peer_sdp("sendrecv")}),
        json!({"callNotificationParams": {"callerName": "Bob", "callerDisplayNumber": "bob@example.com"}}),
    );
    let (http, events) = r.take();
    assert!(
        events.is_empty(),
        "call:receive waits for the ringing reply"
    );
    assert_eq!(http.len(), 1);
    assert_eq!((http[0].method, http[0].url.as_str()), (Method::Put, "https://gw.test:443/rest/version/1/user/alice@example.com/callControl/callSessions/SB-9"));
    assert_eq!(
        body(&http[0]),
        json!({"callControlRequest": {"type": "ringing"}})
    );
    r.ok();
    let (_, events) = r.take();
    let Event::CallReceive { call_id } = &events[0] else {
        panic!("{events:?}")
    };
    let id = call_id.clone();
    assert_eq!(r.state(&id), CallState::Ringing);
    assert_eq!(r.client.call(&id).unwrap().from, "bob@example.com");
    r.call(CallCommand::Answer {
        call_id: id.clone(),
        media: MediaOptions::audio(),
        bandwidth: BandwidthOptions::default(),
    })
    .unwrap();
    let (http, _) = r.take();
    let b = body(&http[0]);
    assert_eq!(b["callControlRequest"]["type"], "callAnswer");
    assert!(b["callControlRequest"]["sdp"]
        .as_str()
        .unwrap()
        .contains("a=sendrecv"));
    r.ok();
    assert_eq!(changes(&r.take().1), vec![(CallState::Connected, None)]);
}

#[test]
fn slow_start_incoming_call_offers_in_the_answer() {
    let mut r = Rig::new(|_| {});
    r.notify("call", json!({"sessionData": "SB-9"}), json!({"callNotificationParams": {"callerName": "Bob", "callerDisplayNumber": "bob@example.com"}}));
    r.ok();
    let Event::CallReceive { call_id: id } = r.take().1.remove(0) else {
        panic!()
    };
    assert!(r.client.call(&id).unwrap().slow_start);
    r.call(CallCommand::Answer {
        call_id: id.clone(),
        media: MediaOptions::audio(),
        bandwidth: BandwidthOptions::default(),
    })
    .unwrap();
    r.ok();
    assert!(
        r.take().1.is_empty(),
        "still ringing until the answer arrives"
    );
    assert_eq!(r.state(&id), CallState::Ringing);
    r.notify(
        "respondCallUpdate",
        json!({"sessionData": "SB-9", "sdp": peer_sdp("sendrecv")}),
        json!({}),
    );
    assert_eq!(changes(&r.take().1), vec![(CallState::Connected, None)]);
}

fn ringing_incoming(r: &mut Rig) -> CallId {
    r.notify("call", json!({"sessionData": "SB-9", "sdp": peer_sdp("sendrecv")}), json!({"callNotificationParams": {"callerName": "Bob", "callerDisplayNumber": "bob@example.com"}}));
    r.ok();
    let Event::CallReceive { call_id } = r.take().1.remove(0) else {
        panic!()
    };
    call_id
}

#[test]
fn reject_ignore_and_forward() {
    let mut r = Rig::new(|_| {});
    let id = ringing_incoming(&mut r);
    r.call(CallCommand::Reject {
        call_id: id.clone(),
    })
    .unwrap();
    let (http, events) = r.take();
    assert!(events.is_empty());
    assert_eq!(
        http[0].url,
        "https://gw.test:443/rest/version/1/user/alice@example.com/calldisposition"
    );
    assert_eq!(
        body(&http[0]),
        json!({"callDispositionRequest": {"action": "reject", "sessionData": "SB-9"}})
    );
    r.respond(HttpOutcome::json(
        200,
        r#"{"callDispositionResponse":{"statusCode":0}}"#,
    ));
    assert_eq!(changes(&r.take().1), vec![(CallState::Ended, None)]);

    let mut r = Rig::new(|_| {});
    let id = ringing_incoming(&mut r);
    r.call(CallCommand::Ignore {
        call_id: id.clone(),
    })
    .unwrap();
    let (http, events) = r.take();
    assert!(http.is_empty(), "ignore sends nothing");
    assert_eq!(changes(&events), vec![(CallState::Ended, None)]);

    let mut r = Rig::new(|_| {});
    let id = ringing_incoming(&mut r);
    r.call(CallCommand::Forward {
        call_id: id.clone(),
        destination: "carol".into(),
    })
    .unwrap();
    let (http, _) = r.take();
    assert_eq!(
        body(&http[0])["callDispositionRequest"]["address"],
        "sip:carol@example.com"
    );
    r.respond(HttpOutcome::json(
        500,
        r#"{"callControlResponse":{"statusCode":26}}"#,
    ));
    assert_eq!(
        changes(&r.take().1),
        vec![(CallState::Ringing, Some(ErrorCode::CallGenericError))]
    );
    assert_eq!(
        r.state(&id),
        CallState::Ringing,
        "a failed forward leaves the call ringing"
    );
}

#[test]
fn remote_end_and_local_end() {
    let mut r = Rig::new(|_| {});
    let id = connected_call(&mut r);
    r.notify(
        "callEnd",
        json!({"sessionData": "SA-1", "statusCode": 200, "reasonText": "Normal Clearing"}),
        json!({}),
    );
    let (_, events) = r.take();
    match &events[..] {
        [Event::CallStateChange {
            state: CallState::Ended,
            transition: Some(t),
            ..
        }] => {
            assert_eq!(
                (t.status_code, t.reason_text.as_deref()),
                (Some(200), Some("Normal Clearing"))
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(r.engine.peers[&id].closed);
    assert!(r.client.call(&id).unwrap().end_time.is_some());

    let mut r = Rig::new(|_| {});
    let id = connected_call(&mut r);
    r.call(CallCommand::End {
        call_id: id.clone(),
    })
    .unwrap();
    let (http, events) = r.take();
    assert_eq!((http[0].method, http[0].url.as_str()), (Method::Delete, "https://gw.test:443/rest/version/1/user/alice@example.com/callControl/callSessions/SA-1"));
    assert_eq!(changes(&events), vec![(CallState::Ended, None)]);
    assert!(matches!(
        r.call(CallCommand::End { call_id: id }),
        Err(Error::InvalidState { .. })
    ));
}

#[test]
fn local_hold_and_unhold() {
    let mut r = Rig::new(|_| {});
    let id = connected_call(&mut r);
    r.call(CallCommand::Hold {
        call_id: id.clone(),
    })
    .unwrap();
    let (http, _) = r.take();
    let b = body(&http[0]);
    assert_eq!(b["callControlRequest"]["type"], "startCallUpdate");
    assert!(b["callControlRequest"]["sdp"]
        .as_str()
        .unwrap()
        .contains("a=inactive"));
    assert!(
        matches!(
            r.call(CallCommand::Hold {
                call_id: id.clone()
            }),
            Err(Error::InvalidState { .. })
        ),
        "one negotiation at a time"
    );
    r.ok();
    assert_eq!(
        r.state(&id),
        CallState::Connected,
        "held only once answered"
    );
    r.notify(
        "respondCallUpdate",
        json!({"sessionData": "SA-1", "sdp": peer_sdp("inactive")}),
        json!({}),
    );
    let (_, events) = r.take();
    match &events[..] {
        [Event::CallStateChange {
            state: CallState::OnHold,
            previous,
            ..
        }] => assert!(!previous.local_hold),
        other => panic!("{other:?}"),
    }
    assert!(r.client.call(&id).unwrap().local_hold);
    r.call(CallCommand::Unhold {
        call_id: id.clone(),
    })
    .unwrap();
    let (http, _) = r.take();
    assert!(body(&http[0])["callControlRequest"]["sdp"]
        .as_str()
        .unwrap()
        .contains("a=sendrecv"));
    r.ok();
    r.notify(
        "respondCallUpdate",
        json!({"sessionData": "SA-1", "sdp": peer_sdp("sendrecv")}),
        json!({}),
    );
    assert_eq!(changes(&r.take().1), vec![(CallState::Connected, None)]);
}

#[test]
fn remote_hold_unhold_and_dual_hold() {
    let mut r = Rig::new(|_| {});
    let id = connected_call(&mut r);
    r.notify(
        "startCallUpdate",
        json!({"sessionData": "SA-1", "sdp": peer_sdp("inactive")}),
        json!({}),
    );
    let (http, events) = r.take();
    assert!(
        events.is_empty(),
        "state changes once the answer is accepted"
    );
    let b = body(&http[0]);
    assert_eq!(b["callControlRequest"]["type"], "respondCallUpdate");
    assert!(b["callControlRequest"]["sdp"]
        .as_str()
        .unwrap()
        .contains("a=inactive"));
    r.ok();
    assert_eq!(changes(&r.take().1), vec![(CallState::OnHold, None)]);
    assert!(r.client.call(&id).unwrap().remote_hold);
    // We hold too (dual hold), then the far end unholds: still on hold.
    r.call(CallCommand::Hold {
        call_id: id.clone(),
    })
    .unwrap();
    r.ok();
    r.notify(
        "respondCallUpdate",
        json!({"sessionData": "SA-1", "sdp": peer_sdp("inactive")}),
        json!({}),
    );
    r.take();
    let c = r.client.call(&id).unwrap();
    assert!(c.local_hold && c.remote_hold);
    r.notify(
        "startCallUpdate",
        json!({"sessionData": "SA-1", "sdp": peer_sdp("sendrecv")}),
        json!({}),
    );
    let (http, _) = r.take();
    assert!(
        body(&http[0])["callControlRequest"]["sdp"]
            .as_str()
            .unwrap()
            .contains("a=inactive"),
        "held locally: the answer stays inactive"
    );
    r.ok();
    assert_eq!(changes(&r.take().1), vec![(CallState::OnHold, None)]);
    let c = r.client.call(&id).unwrap();
    assert!(c.local_hold && !c.remote_hold);
}

#[test]
fn dtmf_stats_mute_and_replace_track() {
    let mut r = Rig::new(|_| {});
    let id = connected_call(&mut r);
    r.call(CallCommand::SendDtmf {
        call_id: id.clone(),
        tones: "12#".into(),
        duration_ms: 100,
        gap_ms: 70,
    })
    .unwrap();
    r.call(CallCommand::SendDtmf {
        call_id: id.clone(),
        tones: "*0".into(),
        duration_ms: 100,
        gap_ms: 70,
    })
    .unwrap();
    assert_eq!(r.engine.peers[&id].dtmf, "12#*0");
    assert!(matches!(
        r.call(CallCommand::SendDtmf {
            call_id: id.clone(),
            tones: "x".into(),
            duration_ms: 100,
            gap_ms: 70
        }),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        r.call(CallCommand::SendDtmf {
            call_id: id.clone(),
            tones: "1".into(),
            duration_ms: 1,
            gap_ms: 70
        }),
        Err(Error::InvalidArgument(_))
    ));
    r.take();
    r.call(CallCommand::GetStats {
        call_id: id.clone(),
        track: None,
    })
    .unwrap();
    assert!(matches!(&r.take().1[..], [Event::CallStatsReceived { .. }]));
    let track = r.client.call(&id).unwrap().local_tracks[0].clone();
    r.call(CallCommand::MuteTracks {
        tracks: vec![track.clone()],
    })
    .unwrap();
    assert_eq!(
        r.take().1,
        vec![Event::MediaMuted {
            tracks: vec![track.clone()]
        }]
    );
    assert!(r.client.call(&id).unwrap().tracks[&track].muted);
    assert!(matches!(
        r.call(CallCommand::MuteTracks {
            tracks: vec![TrackId("nope".into())]
        }),
        Err(Error::Unknown(_))
    ));
    r.call(CallCommand::ReplaceTrack {
        call_id: id.clone(),
        track: track.clone(),
        media: MediaOptions::audio(),
    })
    .unwrap();
    let (_, events) = r.take();
    let Event::CallTrackReplaced {
        new_track_id: Some(new),
        old_track: Some(old),
        ..
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(old.id, track);
    assert_eq!(r.client.call(&id).unwrap().local_tracks, vec![new.clone()]);
}

#[test]
fn add_and_remove_video() {
    let mut r = Rig::new(|_| {});
    let id = connected_call(&mut r);
    r.call(CallCommand::AddMedia {
        call_id: id.clone(),
        media: MediaOptions {
            video: true,
            ..Default::default()
        },
        bandwidth: BandwidthOptions {
            audio: None,
            video: Some(800),
        },
    })
    .unwrap();
    let (http, _) = r.take();
    let sdp = body(&http[0])["callControlRequest"]["sdp"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sdp.contains("m=video") && sdp.contains("b=AS:800"), "{sdp}");
    assert!(!sdp.contains("H264"), "H264 removed by default");
    r.ok();
    r.notify(
        "respondCallUpdate",
        json!({"sessionData": "SA-1", "sdp": peer_sdp("sendrecv")}),
        json!({}),
    );
    let (_, events) = r.take();
    let Event::CallNewMedia {
        tracks,
        error: None,
        ..
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(tracks.len(), 1);
    let video = tracks[0].clone();
    r.call(CallCommand::RemoveMedia {
        call_id: id.clone(),
        tracks: vec![video.clone()],
        bandwidth: BandwidthOptions::default(),
    })
    .unwrap();
    r.ok();
    r.notify(
        "respondCallUpdate",
        json!({"sessionData": "SA-1", "sdp": peer_sdp("sendrecv")}),
        json!({}),
    );
    let (_, events) = r.take();
    assert!(events.contains(&Event::CallRemovedMedia {
        call_id: id.clone(),
        local: true,
        tracks: vec![video.clone()],
        error: None
    }));
    assert!(!r.client.call(&id).unwrap().local_tracks.contains(&video));
    assert!(matches!(
        r.call(CallCommand::RemoveMedia {
            call_id: id,
            tracks: vec![video],
            bandwidth: BandwidthOptions::default()
        }),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn glare_fails_the_operation_instead_of_hanging() {
    let mut r = Rig::new(|_| {});
    let id = connected_call(&mut r);
    r.call(CallCommand::Hold {
        call_id: id.clone(),
    })
    .unwrap();
    r.ok();
    r.take();
    r.notify(
        "respondCallUpdate",
        json!({"sessionData": "SA-1", "retryAfter": 2, "reasonText": "Glare"}),
        json!({"statusCode": 49}),
    );
    assert_eq!(
        changes(&r.take().1),
        vec![(CallState::Connected, Some(ErrorCode::CallGenericError))]
    );
    // The call can be held again.
    r.call(CallCommand::Hold { call_id: id }).unwrap();
}

#[test]
fn audits_run_every_25_s_and_a_forgotten_leg_ends_the_call() {
    let mut r = Rig::new(|_| {});
    let id = connected_call(&mut r);
    r.now = r.now.plus(25_000);
    r.input(InputKind::Timeout);
    let (http, _) = r.take();
    assert_eq!(
        body(&http[0]),
        json!({"callControlRequest": {"type": "audit"}})
    );
    r.ok();
    assert_eq!(r.client.poll_timeout(), Some(r.now.mono_ms + 25_000));
    r.now = r.now.plus(25_000);
    r.input(InputKind::Timeout);
    r.respond(HttpOutcome::json(500, "{}"));
    assert_eq!(
        r.client.poll_timeout(),
        Some(r.now.mono_ms + 5_000),
        "retried after 5 s"
    );
    r.now = r.now.plus(5_000);
    r.input(InputKind::Timeout);
    r.respond(HttpOutcome::json(
        404,
        r#"{"callControlResponse":{"statusCode":42}}"#,
    ));
    assert_eq!(
        changes(&r.take().1),
        vec![(CallState::Ended, Some(ErrorCode::CallStateDesync))]
    );
    assert!(r.client.call(&id).unwrap().ended());
}

#[test]
fn call_cancel_takes_effect_after_3_s() {
    let mut r = Rig::new(|_| {});
    let id = ringing_incoming(&mut r);
    r.notify("callCancel", json!({"sessionData": "SB-9"}), json!({}));
    assert!(r.take().1.is_empty());
    r.now = r.now.plus(3_000);
    r.input(InputKind::Timeout);
    assert_eq!(changes(&r.take().1), vec![(CallState::Ended, None)]);
    assert!(r.client.call(&id).unwrap().ended());
}

fn held(r: &mut Rig, id: &CallId) {
    r.call(CallCommand::Hold {
        call_id: id.clone(),
    })
    .unwrap();
    r.ok();
    let leg = r.client.call(id).unwrap().leg.clone().unwrap();
    r.notify(
        "respondCallUpdate",
        json!({"sessionData": leg, "sdp": peer_sdp("inactive")}),
        json!({}),
    );
    r.take();
}

#[test]
fn direct_transfer_success_and_failure() {
    let mut r = Rig::new(|_| {});
    let id = connected_call(&mut r);
    assert!(
        matches!(
            r.call(CallCommand::DirectTransfer {
                call_id: id.clone(),
                destination: "carol".into()
            }),
            Err(Error::InvalidState { .. })
        ),
        "must be held"
    );
    held(&mut r, &id);
    r.call(CallCommand::DirectTransfer {
        call_id: id.clone(),
        destination: "carol".into(),
    })
    .unwrap();
    let (http, _) = r.take();
    assert_eq!(
        body(&http[0]),
        json!({"callControlRequest": {"type": "transfer", "address": "sip:carol@example.com"}})
    );
    r.ok();
    r.notify(
        "sessionFail",
        json!({"sessionData": "SA-1", "statusCode": 486, "reasonText": "Busy Here"}),
        json!({}),
    );
    let (_, events) = r.take();
    match &events[..] {
        [Event::CallStateChange {
            state: CallState::OnHold,
            transition: Some(t),
            error: Some(e),
            ..
        }] => {
            assert_eq!(
                (t.status_code, e.code),
                (Some(-1), ErrorCode::CallGenericError)
            )
        }
        other => panic!("{other:?}"),
    }
    r.call(CallCommand::DirectTransfer {
        call_id: id.clone(),
        destination: "carol".into(),
    })
    .unwrap();
    r.ok();
    r.notify(
        "sessionComplete",
        json!({"sessionData": "SA-1", "reasonText": "Direct Transfer Successful"}),
        json!({}),
    );
    let (_, events) = r.take();
    let expected = Transition {
        status_code: Some(9905),
        reason_text: Some("Direct Transfer Successful".into()),
        prev_state: None,
    };
    assert!(
        matches!(&events[..], [Event::CallStateChange { state: CallState::Ended, transition: Some(t), .. }] if *t == expected)
    );
}

/// Two calls to bob and carol, both held.
fn two_held_calls(r: &mut Rig) -> (CallId, CallId) {
    let a = connected_call(r);
    held(r, &a);
    let b = CallId::new("c2");
    r.call(CallCommand::Make {
        call_id: b.clone(),
        destination: "carol".into(),
        media: MediaOptions::audio(),
        bandwidth: BandwidthOptions::default(),
        display_name: None,
    })
    .unwrap();
    r.respond(HttpOutcome::json(
        200,
        r#"{"callControlResponse":{"sessionData":"SA-2"}}"#,
    ));
    r.notify(
        "respondCallUpdate",
        json!({"sessionData": "SA-2", "sdp": peer_sdp("sendrecv")}),
        json!({}),
    );
    held(r, &b);
    r.take();
    (a, b)
}

#[test]
fn consultative_transfer() {
    let mut r = Rig::new(|_| {});
    let (a, b) = two_held_calls(&mut r);
    r.call(CallCommand::ConsultativeTransfer {
        call_id: a.clone(),
        other: b.clone(),
    })
    .unwrap();
    let (http, _) = r.take();
    assert_eq!(
        http[0].url,
        "https://gw.test:443/rest/version/1/user/alice@example.com/callControl/callSessions/SA-1"
    );
    assert_eq!(
        body(&http[0]),
        json!({"callControlRequest": {"type": "transfer", "sessionData": "SA-2", "address": "sip:carol@example.com"}})
    );
    r.ok();
    r.notify(
        "sessionComplete",
        json!({"sessionData": "SA-1", "reasonText": "Transfer Successful"}),
        json!({}),
    );
    r.notify(
        "sessionComplete",
        json!({"sessionData": "SA-2", "reasonText": "Transfer Successful"}),
        json!({}),
    );
    let (_, events) = r.take();
    assert_eq!(
        changes(&events),
        vec![(CallState::Ended, None), (CallState::Ended, None)]
    );
}

#[test]
fn join_creates_an_audio_call_and_ends_the_originals() {
    let mut r = Rig::new(|_| {});
    let (a, b) = two_held_calls(&mut r);
    r.call(CallCommand::Join {
        call_id: a.clone(),
        other: b.clone(),
    })
    .unwrap();
    let (http, _) = r.take();
    let jb = body(&http[0]);
    assert_eq!(
        (
            jb["callControlRequest"]["type"].as_str(),
            jb["callControlRequest"]["firstSessionData"].as_str(),
            jb["callControlRequest"]["secondSessionData"].as_str()
        ),
        (Some("join"), Some("SA-1"), Some("SA-2"))
    );
    assert!(
        !jb["callControlRequest"]["sdp"]
            .as_str()
            .unwrap()
            .contains("b=AS"),
        "no bandwidth lines on a join offer"
    );
    r.respond(HttpOutcome::json(
        200,
        r#"{"callControlResponse":{"statusCode":0,"sessionData":"SJ-1"}}"#,
    ));
    let (_, events) = r.take();
    let Event::CallJoin {
        call_id: joined,
        error: None,
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    let joined = joined.clone();
    r.notify(
        "respondCallUpdate",
        json!({"sessionData": "SJ-1", "sdp": peer_sdp("sendrecv")}),
        json!({}),
    );
    r.notify(
        "callEnd",
        json!({"sessionData": "SA-1", "reasonText": "Join Successful"}),
        json!({}),
    );
    r.notify(
        "callEnd",
        json!({"sessionData": "SA-2", "reasonText": "Join Successful"}),
        json!({}),
    );
    r.take();
    assert_eq!(r.state(&joined), CallState::Connected);
    assert!(r.client.call(&a).unwrap().ended() && r.client.call(&b).unwrap().ended());
    assert!(r.client.call(&joined).unwrap().joined);

    // A gateway without a mixer refuses: the join reports it (4.8.0 does not).
    let mut r = Rig::new(|_| {});
    let (a, b) = two_held_calls(&mut r);
    r.call(CallCommand::Join {
        call_id: a.clone(),
        other: b,
    })
    .unwrap();
    r.respond(HttpOutcome::json(
        501,
        r#"{"callControlResponse":{"statusCode":26}}"#,
    ));
    let (_, events) = r.take();
    assert!(
        matches!(&events[0], Event::CallJoin { error: Some(e), .. } if e.code == ErrorCode::CallGenericError)
    );
    assert_eq!(r.state(&a), CallState::OnHold, "the originals stay held");
}

#[test]
fn illegal_operations_are_refused_and_change_nothing() {
    let mut r = Rig::new(|_| {});
    let in_call = ringing_incoming(&mut r);
    let before = r.client.state().clone();
    for c in [
        CallCommand::Hold {
            call_id: in_call.clone(),
        },
        CallCommand::Unhold {
            call_id: in_call.clone(),
        },
        CallCommand::AddMedia {
            call_id: in_call.clone(),
            media: MediaOptions::audio(),
            bandwidth: BandwidthOptions::default(),
        },
        CallCommand::DirectTransfer {
            call_id: in_call.clone(),
            destination: "x".into(),
        },
        CallCommand::Answer {
            call_id: CallId::new("nope"),
            media: MediaOptions::audio(),
            bandwidth: BandwidthOptions::default(),
        },
        CallCommand::Answer {
            call_id: in_call.clone(),
            media: MediaOptions::default(),
            bandwidth: BandwidthOptions::default(),
        },
        CallCommand::Make {
            call_id: in_call.clone(),
            destination: "bob".into(),
            media: MediaOptions::audio(),
            bandwidth: BandwidthOptions::default(),
            display_name: None,
        },
        CallCommand::Make {
            call_id: CallId::new("v"),
            destination: "bob".into(),
            media: MediaOptions {
                video: true,
                ..Default::default()
            },
            bandwidth: BandwidthOptions::default(),
            display_name: None,
        },
        CallCommand::Make {
            call_id: CallId::new("w"),
            destination: " ".into(),
            media: MediaOptions::audio(),
            bandwidth: BandwidthOptions::default(),
            display_name: None,
        },
    ] {
        assert!(r.call(c.clone()).is_err(), "{c:?} accepted");
        assert!(r.take() == (vec![], vec![]), "{c:?} had effects");
        assert_eq!(r.client.state(), &before, "{c:?} changed the state");
    }
    let mut off = Rig::new(|_| {});
    off.cmd(Command::Disconnect).unwrap();
    off.respond(HttpOutcome::json(
        200,
        r#"{"subscribeResponse":{"statusCode":0}}"#,
    ));
    assert!(matches!(
        off.call(CallCommand::Make {
            call_id: CallId::new("x"),
            destination: "bob".into(),
            media: MediaOptions::audio(),
            bandwidth: BandwidthOptions::default(),
            display_name: None
        }),
        Err(Error::InvalidState { .. })
    ));
}

#[test]
fn application_sdp_handlers_run_in_the_driver_before_the_built_ins() {
    let mut r = Rig::new(|c| c.call.sdp_handlers = 1);
    let id = CallId::new("h");
    r.call(CallCommand::Make {
        call_id: id,
        destination: "bob".into(),
        media: MediaOptions::audio(),
        bandwidth: BandwidthOptions::default(),
        display_name: Some("Alice Smith".into()),
    })
    .unwrap();
    let (http, _) = r.take();
    let b = body(&http[0]);
    assert!(b["callControlRequest"]["sdp"]
        .as_str()
        .unwrap()
        .contains("a=x-app-handler:alice"));
    assert_eq!(
        b["callControlRequest"]["from"],
        "Alice Smith<sip:alice@example.com>"
    );
}

#[test]
fn a_hostile_offer_is_declined_not_announced() {
    let mut r = Rig::new(|_| {});
    r.notify(
        "call",
        json!({"sessionData": "SB-X", "sdp": "not an sdp"}),
        json!({}),
    );
    let (http, events) = r.take();
    assert!(events.is_empty());
    assert_eq!(
        body(&http[0]),
        json!({"callDispositionRequest": {"action": "reject", "sessionData": "SB-X"}})
    );
    assert!(r.client.calls().is_empty());
    // Notifications for unknown legs and without sessionParams are ignored.
    r.notify("callEnd", json!({"sessionData": "nobody"}), json!({}));
    r.input(InputKind::WsFrame {
        socket: SocketId(1),
        text: r#"{"notificationMessage":{"eventType":"ringing","eventId":"z"}}"#.into(),
    });
    assert_eq!(r.take(), (vec![], vec![]));
}

#[test]
fn ending_before_the_gateway_answered_hangs_up_the_leg_later() {
    let mut r = Rig::new(|_| {});
    let id = CallId::new("early");
    r.call(CallCommand::Make {
        call_id: id.clone(),
        destination: "bob".into(),
        media: MediaOptions::audio(),
        bandwidth: BandwidthOptions::default(),
        display_name: None,
    })
    .unwrap();
    let start = r.last_request_id();
    r.take();
    r.call(CallCommand::End {
        call_id: id.clone(),
    })
    .unwrap();
    assert_eq!(changes(&r.take().1), vec![(CallState::Ended, None)]);
    r.input(InputKind::HttpResponse {
        id: start,
        outcome: HttpOutcome::json(200, r#"{"callControlResponse":{"sessionData":"SA-late"}}"#),
    });
    let (http, events) = r.take();
    assert!(events.is_empty(), "no call:start for an ended call");
    assert_eq!(
        (
            http[0].method,
            http[0].url.ends_with("/callSessions/SA-late")
        ),
        (Method::Delete, true)
    );
}

#[test]
fn a_failed_start_ends_the_call_with_the_gateways_error() {
    let mut r = Rig::new(|_| {});
    let id = CallId::new("f");
    r.call(CallCommand::Make {
        call_id: id.clone(),
        destination: "bob".into(),
        media: MediaOptions::audio(),
        bandwidth: BandwidthOptions::default(),
        display_name: None,
    })
    .unwrap();
    r.respond(HttpOutcome::json(
        400,
        r#"{"callControlResponse":{"statusCode":5}}"#,
    ));
    let (_, events) = r.take();
    match &events[..] {
        [Event::CallStateChange {
            state: CallState::Ended,
            error: Some(e),
            ..
        }] => assert_eq!(
            e.message,
            "Request failed: Invalid or missing request body."
        ),
        other => panic!("{other:?}"),
    }
    // No microphone: the call ends before anything is sent.
    r.engine.fail_next_open = true;
    r.call(CallCommand::Make {
        call_id: CallId::new("g"),
        destination: "bob".into(),
        media: MediaOptions::audio(),
        bandwidth: BandwidthOptions::default(),
        display_name: None,
    })
    .unwrap();
    let (http, events) = r.take();
    assert!(http.is_empty());
    assert_eq!(
        changes(&events),
        vec![(CallState::Ended, Some(ErrorCode::CallUserMediaError))]
    );
}

#[test]
fn anonymous_call_me_calls_use_their_own_paths_and_wrapper() {
    let mut r = Rig::new(|_| {});
    let id = CallId::new("anon");
    r.call(CallCommand::MakeAnonymous {
        call_id: id.clone(),
        destination: "sip:support@example.com".into(),
        media: MediaOptions::audio(),
        bandwidth: BandwidthOptions::default(),
        anonymous: kandy_core::call::Anonymous {
            account: "acme".into(),
            from: "sip:guest@example.com".into(),
        },
    })
    .unwrap();
    let (http, _) = r.take();
    assert_eq!(
        http[0].url,
        "https://gw.test:443/rest/version/1/anonymous/acme/callMe"
    );
    let b = body(&http[0]);
    assert_eq!(b["callMeRequest"]["type"], "callStart");
    assert_eq!(b["callMeRequest"]["from"], "sip:guest@example.com");
    assert_eq!(
        b["callMeRequest"]["notifyChannelId"], "1",
        "the channel path's last segment (/n/1)"
    );
    r.respond(HttpOutcome::json(
        200,
        r#"{"callMeResponse":{"statusCode":0,"sessionData":"SM-1"}}"#,
    ));
    assert_eq!(
        r.take().1,
        vec![Event::CallStart {
            call_id: id.clone(),
            error: None
        }]
    );
    r.notify(
        "respondCallUpdate",
        json!({"sessionData": "SM-1", "sdp": peer_sdp("sendrecv")}),
        json!({}),
    );
    assert_eq!(changes(&r.take().1), vec![(CallState::Connected, None)]);
    r.call(CallCommand::Hold {
        call_id: id.clone(),
    })
    .unwrap();
    let (http, _) = r.take();
    assert_eq!(
        http[0].url,
        "https://gw.test:443/rest/version/1/anonymous/acme/callMe/callSessions/SM-1"
    );
    assert_eq!(body(&http[0])["callMeRequest"]["type"], "startCallUpdate");
    r.ok();
    r.notify(
        "respondCallUpdate",
        json!({"sessionData": "SM-1", "sdp": peer_sdp("inactive")}),
        json!({}),
    );
    r.call(CallCommand::End { call_id: id }).unwrap();
    let (http, _) = r.take();
    assert_eq!(
        (http[0].method, http[0].url.as_str()),
        (
            Method::Delete,
            "https://gw.test:443/rest/version/1/anonymous/acme/callMe/callSessions/SM-1"
        )
    );
    // Without an account it is refused.
    assert!(matches!(
        r.call(CallCommand::MakeAnonymous {
            call_id: CallId::new("x"),
            destination: "bob".into(),
            media: MediaOptions::audio(),
            bandwidth: BandwidthOptions::default(),
            anonymous: kandy_core::call::Anonymous {
                account: " ".into(),
                from: "a".into()
            },
        }),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn calls_end_when_the_session_ends() {
    let mut r = Rig::new(|_| {});
    let id = connected_call(&mut r);
    r.input(InputKind::WsFrame {
        socket: SocketId(1),
        text: r#"{"notificationMessage":{"eventType":"gone","eventId":"g1"}}"#.into(),
    });
    let (_, events) = r.take();
    assert_eq!(
        changes(&events),
        vec![(CallState::Ended, Some(ErrorCode::CallStateDesync))]
    );
    assert!(r.engine.peers[&id].closed, "media released");
    assert_eq!(r.client.state().calls.live(), 0);
}
