//! `replay`: inputs replayed per second, parsing included, on the recording
//! of an ordinary session: connect, subscription refreshes, notifications,
//! and a call negotiated with the core's `FakeEngine` (media reports are
//! inputs too), repeated, then disconnect. Logs at the default level
//! (debug), so every input also yields its action log record to compare.
//!
//! Run: `cargo bench -p kandy-core --bench replay`. Target: ≥ 200,000
//! inputs/s (the throughput criterion prints in elements/s).

use std::collections::VecDeque;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kandy_core::call::fake::FakeEngine;
use kandy_core::call::media::MediaOptions;
use kandy_core::call::{BandwidthOptions, CallCommand, CallId};
use kandy_core::replay::{replay, Recording, Writer};
use kandy_core::{
    Client, Command, Config, Credentials, Effect, HttpOutcome, Input, InputKind, Now, RequestId,
    SocketId,
};
use serde_json::json;

const SUBSCRIBE: &str = r#"{"subscribeResponse":{"statusCode":0,"subscription":"/rest/version/1/user/alice@example.com/subscription/sub-1","subscriptionParams":{"notificationChannel":"/rest/version/1/user/alice@example.com/notification/websocket/chan-1","expires":600,"service":["call","IM","presence"],"sessionId":"sess-1"}}}"#;

/// Drives a client like a transport would, recording through [`Writer`].
struct Session {
    client: Client,
    engine: FakeEngine,
    writer: Writer,
    lines: Vec<String>,
    now: Now,
    /// Requests in flight, oldest first.
    http: VecDeque<RequestId>,
    eid: u64,
}

impl Session {
    fn new() -> Self {
        let config = Config::for_server("gw.test", true, 443);
        let (writer, header) = Writer::start(&config, 11).unwrap();
        Session {
            client: Client::new(config, 11),
            engine: FakeEngine::new("alice"),
            writer,
            lines: vec![header],
            now: Now::at(1_700_000_000_000),
            http: VecDeque::new(),
            eid: 0,
        }
    }

    /// One input, its effects recorded; media commands go to the engine,
    /// whose reports are inputs of their own.
    fn input(&mut self, kind: InputKind) {
        let mut queue = VecDeque::from([kind]);
        while let Some(kind) = queue.pop_front() {
            let input = Input::new(self.now, kind);
            self.lines.push(self.writer.input(&input).unwrap());
            let _ = self.client.handle(input);
            while let Some(e) = self.client.poll_effect() {
                self.lines.push(self.writer.effect(&e).unwrap());
                match e {
                    Effect::Http(r) => self.http.push_back(r.id),
                    Effect::Media(m) => {
                        queue.extend(self.engine.handle(m).into_iter().map(InputKind::Media))
                    }
                    _ => {}
                }
            }
        }
    }

    fn command(&mut self, c: Command) {
        self.input(InputKind::Command(c));
    }

    /// Answers every request in flight with `body`.
    fn respond_all(&mut self, body: &str) {
        while let Some(id) = self.http.pop_front() {
            self.now = self.now.plus(20);
            self.input(InputKind::HttpResponse {
                id,
                outcome: HttpOutcome::json(200, body),
            });
        }
    }

    fn notify(&mut self, message: serde_json::Value) {
        self.eid += 1;
        self.now = self.now.plus(50);
        let mut m = message;
        m["eventId"] = json!(format!("e-{}", self.eid));
        self.input(InputKind::WsFrame {
            socket: SocketId(1),
            text: json!({ "notificationMessage": m }).to_string(),
        });
    }

    /// Runs timers up to `ms` later, answering what they send.
    fn advance(&mut self, ms: u64) {
        let until = self.now.mono_ms + ms;
        while let Some(at) = self.client.poll_timeout().filter(|&t| t <= until) {
            self.now = self.now.plus(at.saturating_sub(self.now.mono_ms));
            self.input(InputKind::Timeout);
            self.respond_all(SUBSCRIBE);
        }
        self.now = self.now.plus(until.saturating_sub(self.now.mono_ms));
    }

    fn call(&mut self, n: u64) {
        let id = CallId::new(format!("c{n}"));
        let leg = format!("SA-{n}");
        self.command(Command::Call(Box::new(CallCommand::Make {
            call_id: id.clone(),
            destination: "bob".into(),
            media: MediaOptions::audio(),
            bandwidth: BandwidthOptions::default(),
            display_name: None,
        })));
        self.respond_all(
            &json!({"callControlResponse": {"statusCode": 0, "sessionData": leg}}).to_string(),
        );
        let bob = json!({"remoteName": "Bob", "remoteDisplayNumber": "bob@example.com"});
        self.notify(json!({"eventType": "ringing", "sessionParams": {"sessionData": leg}, "callNotificationParams": bob}));
        let sdp = "v=0\r\no=- 777 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 126\r\nc=IN IP4 127.0.0.1\r\na=ice-ufrag:b\r\na=ice-pwd:bpwd\r\na=fingerprint:sha-256 CC:DD\r\na=setup:active\r\na=mid:0\r\na=sendrecv\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:126 telephone-event/8000\r\n";
        self.notify(json!({"eventType": "respondCallUpdate", "sessionParams": {"sessionData": leg, "sdp": sdp}, "callNotificationParams": bob}));
        self.advance(5_000);
        self.command(Command::Call(Box::new(CallCommand::End { call_id: id })));
        self.respond_all(r#"{"callControlResponse":{"statusCode":0}}"#);
    }
}

/// The recording of an ordinary session, as a file's text.
fn ordinary_session() -> String {
    let mut s = Session::new();
    s.command(Command::Connect(Credentials::password(
        "alice@example.com",
        "alice-pw",
    )));
    s.respond_all(SUBSCRIBE);
    s.input(InputKind::WsOpened {
        socket: SocketId(1),
    });
    for round in 0..20u64 {
        for i in 0..40 {
            if i % 2 == 0 {
                s.notify(json!({"eventType": "IM", "imnotificationParams": {"msgText": format!("hello {i}"), "primaryContact": "sip:bob@example.com"}}));
            } else {
                s.notify(json!({"eventType": "presenceWatcher", "presenceWatcherNotificationParams": {"name": "bob@example.com", "status": "open", "activity": "busy"}}));
            }
        }
        s.call(round);
        // Long enough for the subscription refresh (600 s, renewed early).
        s.advance(60_000);
    }
    s.command(Command::Disconnect);
    s.respond_all("{}");
    s.lines.join("\n") + "\n"
}

fn bench(c: &mut Criterion) {
    let text = ordinary_session();
    let recording = Recording::parse(&text).unwrap();
    let report = replay(&recording);
    assert!(report.matched(), "{:?}", report.divergence);
    let inputs = recording.steps.len() as u64;
    let refreshes = recording
        .steps
        .iter()
        .filter(|s| s.input.kind.name() == "timeout")
        .count();
    println!(
        "replay: recording of {inputs} inputs, {} effects, {refreshes} timeouts, {} KiB",
        report.effects,
        text.len() / 1024
    );
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(inputs));
    group.sample_size(20);
    group.bench_function("parse_and_replay", |b| {
        b.iter(|| {
            let rec = Recording::parse(&text).unwrap();
            assert!(replay(&rec).matched());
        })
    });
    group.bench_function("replay_only", |b| b.iter(|| replay(&recording)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
