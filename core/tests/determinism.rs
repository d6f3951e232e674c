//! Properties over random input sequences: the same `(config, seed,
//! inputs)` always give the same effects and state, no sequence panics, a
//! refused command changes nothing, and the serialized state round-trips.

use kandy_core::config::CheckType;
use kandy_core::{
    Client, Command, Config, Credentials, Effect, HttpOutcome, Input, InputKind,
    NotificationChannel, Now, RequestId, SocketId, State, TokenUpdate, TransportFailure,
};
use proptest::prelude::*;
use serde_json::json;

fn config(variant: u8) -> Config {
    let mut c = Config::for_server("gw.test", true, 443);
    c.connectivity.check_connectivity = variant & 1 == 1;
    if variant & 2 == 2 {
        c.connectivity.method.kind = CheckType::PingPong;
    }
    c.connectivity.reconnect_limit = (variant % 4) as u32;
    c.notifications.id_cache_length = 3;
    c
}

fn bodies() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(r#"{"subscribeResponse":{"subscription":"/s/1","subscriptionParams":{"notificationChannel":"/n/1","expires":60,"service":["call"],"sessionId":"S"}}}"#.to_string()),
        Just(r#"{"subscribeResponse":{"statusCode":0}}"#.to_string()),
        Just(r#"{"subscribeResponse":{"statusCode":39}}"#.to_string()),
        Just(r#"{"success":{"access_token":"A","refresh_token":"R","expires":400}}"#.to_string()),
        Just(r#"{"eventDataResponse":{"sdp":"v=0"}}"#.to_string()),
        Just("{".to_string()),
        Just(String::new()),
        ".{0,40}",
    ]
}

fn frames() -> impl Strategy<Value = String> {
    let sdp = "v=0\\r\\no=- 1 1 IN IP4 127.0.0.1\\r\\nm=audio 9 RTP/AVP 0\\r\\na=mid:0\\r\\na=sendrecv\\r\\n";
    let call_types = prop_oneof![
        Just("call"),
        Just("ringing"),
        Just("respondCallUpdate"),
        Just("startCallUpdate"),
        Just("callEnd"),
        Just("sessionComplete"),
        Just("callCancel"),
        Just("sessionFail"),
    ];
    prop_oneof![
        (call_types, 0u8..3, any::<bool>()).prop_map(move |(t, leg, with_sdp)| {
            let sdp_field = if with_sdp { format!(r#","sdp":"{sdp}""#) } else { String::new() };
            format!(r#"{{"notificationMessage":{{"eventType":"{t}","eventId":"c{t}{leg}{with_sdp}","sessionParams":{{"sessionData":"L{leg}"{sdp_field}}},"callNotificationParams":{{"callerName":"B","callerDisplayNumber":"b@x"}}}}}}"#)
        }),
        (0u8..6).prop_map(|i| format!(r#"{{"notificationMessage":{{"eventType":"IM","eventId":"e{i}"}}}}"#)),
        Just(r#"{"notificationMessage":{"eventType":"gone","eventId":"g"}}"#.to_string()),
        Just(r#"{"connAck":{}}"#.to_string()),
        Just(r#"{"connCheck":{"interval":5}}"#.to_string()),
        Just(r#"{"notificationMessage":{"eventType":"call","eventId":"u","sessionParams":{"sdpFormat":"url","sdp":"/x"}}}"#.to_string()),
        Just(r#"{"notificationMessage":{"eventType":"call","eventId":"z","sessionParams":{"sdpFormat":"compressed","sdp":"eJwrSS0uAQAEXQHB"}}}"#.to_string()),
        ".{0,30}",
    ]
}

fn commands() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Connect(Credentials::password(
            "alice@example.com",
            "pw"
        ))),
        Just(Command::Connect(Credentials::hmac(
            "alice@example.com",
            "H"
        ))),
        Just(Command::Connect(Credentials::AccessToken {
            username: "alice@example.com".into(),
            access_token: "A".into(),
            refresh_token: Some("R".into()),
            expires: Some(400),
        })),
        Just(Command::Connect(Credentials::RefreshToken {
            username: "a@b".into(),
            refresh_token: "R".into(),
            expires: None
        })),
        Just(Command::Connect(Credentials::oauth("", "O"))),
        Just(Command::Disconnect),
        Just(Command::UpdateConnection {
            services: vec!["call".into()]
        }),
        Just(Command::UpdateToken(TokenUpdate::OAuth {
            oauth_token: "O2".into()
        })),
        Just(Command::UpdateConfig(
            json!({"connectivity": {"pingInterval": 1000}})
        )),
        Just(Command::UpdateConfig(json!({"logs": 7}))),
        any::<bool>().prop_map(Command::EnableConnectivityChecking),
        any::<bool>().prop_map(Command::EnableWebsocket),
        (
            0u8..3,
            prop_oneof![
                Just("make"),
                Just("answer"),
                Just("hold"),
                Just("unhold"),
                Just("end"),
                Just("reject"),
                Just("dtmf"),
                Just("join"),
                Just("transfer")
            ]
        )
            .prop_map(|(n, op)| {
                use kandy_core::call::{
                    media::MediaOptions, BandwidthOptions, CallCommand, CallId,
                };
                let call_id = CallId::new(format!("k{n}"));
                let other = CallId::new(format!("k{}", (n + 1) % 3));
                Command::Call(Box::new(match op {
                    "make" => CallCommand::Make {
                        call_id,
                        destination: "bob".into(),
                        media: MediaOptions::audio(),
                        bandwidth: BandwidthOptions::default(),
                        display_name: None,
                    },
                    "answer" => CallCommand::Answer {
                        call_id,
                        media: MediaOptions::audio(),
                        bandwidth: BandwidthOptions::default(),
                    },
                    "hold" => CallCommand::Hold { call_id },
                    "unhold" => CallCommand::Unhold { call_id },
                    "end" => CallCommand::End { call_id },
                    "reject" => CallCommand::Reject { call_id },
                    "dtmf" => CallCommand::SendDtmf {
                        call_id,
                        tones: "1#".into(),
                        duration_ms: 100,
                        gap_ms: 70,
                    },
                    "join" => CallCommand::Join { call_id, other },
                    _ => CallCommand::ConsultativeTransfer { call_id, other },
                }))
            }),
        frames().prop_map(|f| Command::ProcessNotification {
            payload: serde_json::from_str(&f).unwrap_or(json!({})),
            channel: NotificationChannel::External
        }),
    ]
}

/// One step: how far the clock moves, and the input at that time.
#[derive(Clone, Debug)]
enum Step {
    Command(Command),
    Http {
        id: u64,
        status: Option<u16>,
        body: String,
    },
    Opened(u64),
    Frame(u64, String),
    Closed(u64),
    Timeout,
    Media(u8, u8),
}

fn steps() -> impl Strategy<Value = Vec<(u64, Step)>> {
    let step = prop_oneof![
        3 => commands().prop_map(Step::Command),
        4 => (1u64..8, proptest::option::of(prop_oneof![Just(200u16), Just(204), Just(401), Just(404), Just(500)]), bodies())
            .prop_map(|(id, status, body)| Step::Http { id, status, body }),
        2 => (1u64..5).prop_map(Step::Opened),
        3 => (1u64..5, frames()).prop_map(|(s, f)| Step::Frame(s, f)),
        1 => (1u64..5).prop_map(Step::Closed),
        3 => Just(Step::Timeout),
        3 => (0u8..3, 0u8..8).prop_map(|(c, k)| Step::Media(c, k)),
    ];
    proptest::collection::vec((0u64..120_000, step), 1..60)
}

/// Runs the steps; returns every effect (serialized) and the final state.
fn run(variant: u8, seed: u64, steps: &[(u64, Step)]) -> (Vec<String>, State) {
    let mut client = Client::new(config(variant), seed);
    let mut now = Now::at(0);
    let mut log = Vec::new();
    for (dt, step) in steps {
        now = now.plus(*dt);
        let kind = match step.clone() {
            Step::Command(c) => InputKind::Command(c),
            Step::Http { id, status, body } => InputKind::HttpResponse {
                id: RequestId(id),
                outcome: match status {
                    Some(s) => HttpOutcome::json(s, body),
                    None => HttpOutcome::failed(TransportFailure::Connect, body),
                },
            },
            Step::Opened(s) => InputKind::WsOpened {
                socket: SocketId(s),
            },
            Step::Frame(s, text) => InputKind::WsFrame {
                socket: SocketId(s),
                text,
            },
            Step::Closed(s) => InputKind::WsClosed {
                socket: SocketId(s),
                reason: "x".into(),
            },
            Step::Media(c, k) => {
                use kandy_core::call::media::{
                    MediaEvent, MediaEventKind, SdpKind, Track, TrackId, TrackKind,
                };
                let sdp = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=sendrecv\r\n".to_string();
                let track = Track {
                    id: TrackId(format!("t{k}")),
                    kind: TrackKind::Audio,
                    label: String::new(),
                    stream_id: String::new(),
                    local: k % 2 == 0,
                    muted: false,
                };
                let kind = match k {
                    0 => MediaEventKind::Opened {
                        tracks: vec![track],
                    },
                    1 => MediaEventKind::Described {
                        kind: SdpKind::Offer,
                        sdp,
                    },
                    2 => MediaEventKind::Described {
                        kind: SdpKind::Answer,
                        sdp: "garbage".into(),
                    },
                    3 => MediaEventKind::LocalReady {
                        kind: SdpKind::Offer,
                        sdp,
                    },
                    4 => MediaEventKind::RemoteApplied,
                    5 => MediaEventKind::Failed {
                        message: "x".into(),
                    },
                    6 => MediaEventKind::TrackAdded { track },
                    _ => MediaEventKind::SdpHandled { sdp },
                };
                // Calls minted by the core have seeded ids; feed the commanded ones.
                InputKind::Media(MediaEvent {
                    call: kandy_core::call::CallId::new(format!("k{c}")),
                    kind,
                })
            }
            Step::Timeout => {
                if let Some(t) = client.poll_timeout() {
                    now = Now::at(t.max(now.mono_ms));
                }
                InputKind::Timeout
            }
        };
        let before = client.state().clone();
        let result = client.handle(Input::new(now, kind));
        let effects: Vec<Effect> = std::iter::from_fn(|| client.poll_effect()).collect();
        if result.is_err() {
            assert!(effects.is_empty(), "a refused command produced effects");
            assert_eq!(
                client.state(),
                &before,
                "a refused command changed the state"
            );
        }
        log.push(format!("{result:?}"));
        log.extend(effects.iter().map(|e| serde_json::to_string(e).unwrap()));
    }
    (log, client.state().clone())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn same_inputs_same_effects_and_state(variant in 0u8..8, seed in any::<u64>(), steps in steps()) {
        let (effects_a, state_a) = run(variant, seed, &steps);
        let (effects_b, state_b) = run(variant, seed, &steps);
        prop_assert_eq!(effects_a, effects_b);
        prop_assert_eq!(&state_a, &state_b);
        // The state serializes and (with secrets exposed) round-trips.
        let json = kandy_core::secret::with_secrets_exposed(|| serde_json::to_string(&state_a).unwrap());
        let back: State = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, state_a);
    }
}
