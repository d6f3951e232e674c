//! Call relay (02-calls §6 sequences, §7 gateway obligations), driven the
//! way 4.8.0 clients drive it: REST requests in, notifications out on each
//! user's socket. Deterministic: virtual time, fixed seed, no IO.

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use kandy_gateway::{
    basic_authorization, CallConfig, CallDirection, CallResult, Gateway, GatewayConfig, GlareMode,
    HttpRequest, HttpResponse, LegState, Output, SocketId, Users,
};
use serde_json::{json, Value};

// ----- fixtures ---------------------------------------------------------------

/// A plausible browser SDP: one audio m-section (plus video if asked),
/// `a=mid`, explicit direction, ICE credentials and a fingerprint.
fn sdp(origin: &str, version: u32, dir: &str) -> String {
    format!(
        "v=0\r\no=- {origin} {version} IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
         a=msid-semantic: WMS s{origin}\r\n\
         m=audio 50000 UDP/TLS/RTP/SAVPF 111 126\r\nc=IN IP4 192.0.2.10\r\nb=TIAS:5000000\r\n\
         a=candidate:1 1 udp 2122260223 192.0.2.10 50000 typ host generation 0\r\n\
         a=ice-ufrag:u{origin}\r\na=ice-pwd:p{origin}0123456789abcdef\r\n\
         a=fingerprint:sha-256 4A:1F:9C:{version:02}\r\na=setup:actpass\r\na=mid:0\r\na={dir}\r\na=rtcp-mux\r\n\
         a=rtpmap:111 opus/48000/2\r\na=rtpmap:126 telephone-event/8000\r\n"
    )
}

fn with_video(base: String, dir: &str) -> String {
    format!(
        "{base}m=video 50002 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 192.0.2.10\r\n\
         a=ice-ufrag:v1\r\na=ice-pwd:v1v1v1v1v1v1v1v1v1v1v1v1\r\na=mid:1\r\na={dir}\r\na=rtcp-mux\r\n\
         a=rtpmap:96 VP8/90000\r\n"
    )
}

fn ctl(body: Value) -> Value {
    json!({ "callControlRequest": body })
}

fn disp(body: Value) -> Value {
    json!({ "callDispositionRequest": body })
}

const ALICE: (&str, &str) = ("Alice Liddell", "alice@example.com");
const BOB: (&str, &str) = ("Bob Ross", "bob@example.com");
const CAROL: (&str, &str) = ("Carol Danvers", "carol@example.com");

/// `callNotificationParams` describing `who` (both pairs, §3.10).
fn party((name, number): (&str, &str)) -> Value {
    json!({
        "callerName": name, "callerDisplayNumber": number,
        "remoteName": name, "remoteDisplayNumber": number,
    })
}

// ----- a small network of clients ----------------------------------------------

/// Notifications received per user in one step, `notificationMessage`
/// objects without their (checked) `eventId` and `time`.
#[derive(Debug, Default)]
struct Frames(HashMap<String, Vec<Value>>);

impl Frames {
    fn of(&self, name: &str) -> Vec<Value> {
        self.0.get(name).cloned().unwrap_or_default()
    }

    /// The only notification `name` got.
    fn one(&self, name: &str) -> Value {
        let got = self.of(name);
        assert_eq!(
            got.len(),
            1,
            "{name} expected exactly one notification: {got:#?}"
        );
        got.into_iter().next().unwrap_or_default()
    }

    fn types(&self, name: &str) -> Vec<String> {
        self.of(name)
            .iter()
            .map(|m| m["eventType"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    fn is_empty(&self) -> bool {
        self.0.values().all(Vec::is_empty)
    }
}

struct Net {
    gw: Gateway,
    now: u64,
    sockets: HashMap<SocketId, String>,
    sessions: HashMap<String, Session>,
    event_ids: HashSet<String>,
}

impl Net {
    /// alice, bob and carol subscribed with sockets open.
    fn new() -> Self {
        Self::with(GatewayConfig::default(), &["alice", "bob", "carol"])
    }

    fn with(config: GatewayConfig, online: &[&str]) -> Self {
        let mut net = Net {
            gw: Gateway::new(config, Users::builtin(), SEED),
            now: T0,
            sockets: HashMap::new(),
            sessions: HashMap::new(),
            event_ids: HashSet::new(),
        };
        for name in online {
            net.login(name);
        }
        net
    }

    fn login(&mut self, name: &str) {
        let s = subscribe(&mut self.gw, self.now, name);
        let sock = open(&mut self.gw, self.now, &s);
        self.sockets.insert(sock, name.to_owned());
        self.sessions.insert(name.to_owned(), s);
        assert!(drain(&mut self.gw).is_empty());
    }

    fn base(name: &str) -> String {
        format!("/rest/version/1/user/{name}@example.com")
    }

    fn auth(name: &str) -> (String, String) {
        (
            "authorization".into(),
            basic_authorization(&format!("{name}@example.com"), name),
        )
    }

    /// One request as the 4.8.0 SDK sends it (JSON content type even on
    /// DELETE, basic auth with the lower-case scheme).
    fn send(&mut self, name: &str, method: &str, path: &str, body: Option<&Value>) -> HttpResponse {
        let (h, v) = Self::auth(name);
        let mut req = HttpRequest::new(method, path)
            .with_header("content-type", "application/json")
            .with_header("accept", "application/json")
            .with_header(h, v);
        if let Some(b) = body {
            req.body = b.to_string().into_bytes();
        }
        let resp = self.gw.handle_http(self.now, req);
        check(&self.gw);
        resp
    }

    fn post_control(&mut self, name: &str, body: &Value) -> HttpResponse {
        let path = format!("{}/callControl", Self::base(name));
        self.send(name, "POST", &path, Some(body))
    }

    /// A successful start call; returns the caller leg.
    fn call(&mut self, from: &str, to: &str, offer: &str) -> String {
        let resp = self.post_control(from, &ctl(json!({"type": "callStart", "to": to, "sdp": offer, "from": format!("sip:{from}@example.com")})));
        let body = assert_ok(&resp);
        let sid = body["callControlResponse"]["sessionData"]
            .as_str()
            .expect("sessionData")
            .to_owned();
        assert!(
            (16..=64).contains(&sid.len())
                && sid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "URL-safe sessionData {sid}"
        );
        sid
    }

    fn put(&mut self, name: &str, sid: &str, body: Value) -> HttpResponse {
        let path = format!("{}/callControl/callSessions/{sid}", Self::base(name));
        self.send(name, "PUT", &path, Some(&ctl(body)))
    }

    fn del(&mut self, name: &str, sid: &str) -> HttpResponse {
        let path = format!("{}/callControl/callSessions/{sid}", Self::base(name));
        self.send(name, "DELETE", &path, None)
    }

    fn disposition(&mut self, name: &str, body: Value) -> HttpResponse {
        let path = format!("{}/calldisposition", Self::base(name));
        self.send(name, "POST", &path, Some(&disp(body)))
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.gw.handle_timeout(self.now);
        check(&self.gw);
    }

    /// Everything sent so far, per user.
    fn take(&mut self) -> Frames {
        let mut frames = Frames::default();
        while let Some(out) = self.gw.poll_output() {
            let Output::Send { socket, text } = out else {
                panic!("unexpected output {out:?}");
            };
            let v: Value = serde_json::from_str(&text).expect("JSON frame");
            let mut msg = v["notificationMessage"].clone();
            let id = msg["eventId"].as_str().expect("eventId").to_owned();
            assert!(self.event_ids.insert(id), "eventIds are unique");
            assert!(msg["time"].is_u64(), "time is ms");
            if let Some(m) = msg.as_object_mut() {
                m.remove("eventId");
                m.remove("time");
            }
            let user = self.sockets.get(&socket).cloned().expect("known socket");
            frames.0.entry(user).or_default().push(msg);
        }
        frames
    }

    /// Past every hold-back, then what was sent.
    fn settle(&mut self) -> Frames {
        self.advance(1_000);
        self.take()
    }

    /// A answers B's incoming call: the `call` notification gives the
    /// callee leg; ringing; answer. Returns `(caller leg, callee leg)`.
    fn connect(&mut self, from: &str, to: &str, offer: &str, answer: &str) -> (String, String) {
        let sa = self.call(from, &format!("sip:{to}@example.com"), offer);
        let f = self.take();
        let sb = leg_of(&f.one(to));
        assert_ok(&self.put(to, &sb, json!({"type": "ringing"})));
        assert_ok(&self.put(to, &sb, json!({"type": "callAnswer", "sdp": answer})));
        let f = self.settle();
        assert_eq!(f.types(from), ["ringing", "respondCallUpdate"]);
        (sa, sb)
    }
}

fn leg_of(msg: &Value) -> String {
    msg["sessionParams"]["sessionData"]
        .as_str()
        .expect("sessionData")
        .to_owned()
}

/// 200 `{"callControlResponse":{"statusCode":0, ...}}`; returns the body.
fn assert_ok(resp: &HttpResponse) -> Value {
    let body = json_of(resp);
    assert_eq!(resp.status, 200, "{body}");
    let wrapper = body
        .as_object()
        .and_then(|o| o.values().next())
        .cloned()
        .unwrap_or_default();
    assert_eq!(wrapper["statusCode"], 0, "{body}");
    body
}

fn assert_call_error(resp: &HttpResponse, status: u16, code: u64) {
    let body = json_of(resp);
    assert_eq!(resp.status, status, "{body}");
    assert_eq!(
        body["callControlResponse"]["statusCode"],
        json!(code),
        "{body}"
    );
}

fn end_note(sid: &str, code: u64, text: &str, who: (&str, &str)) -> Value {
    json!({
        "eventType": "callEnd",
        "sessionParams": {"sessionData": sid, "statusCode": code, "reasonText": text},
        "callNotificationParams": party(who),
    })
}

fn cancel_note(sid: &str, who: (&str, &str)) -> Value {
    json!({"eventType": "callCancel", "sessionParams": {"sessionData": sid}, "callNotificationParams": party(who)})
}

fn sdp_note(event: &str, sid: &str, sdp: &str, who: (&str, &str)) -> Value {
    json!({"eventType": event, "sessionParams": {"sessionData": sid, "sdp": sdp}, "callNotificationParams": party(who)})
}

fn log_json(net: &Net, user: &str) -> Vec<Value> {
    net.gw
        .call_logs(user)
        .iter()
        .map(|r| serde_json::to_value(r).expect("serialize"))
        .collect()
}

// ----- §6.1 / §7.8 outgoing call answered ----------------------------------------

#[test]
fn outgoing_call_answered_with_ringing_feedback() {
    let mut n = Net::new();
    let offer = sdp("7012985345001234567", 2, "sendrecv");
    let answer = sdp("3492795541206304352", 2, "sendrecv");

    // 1-2: the POST, with a display name in `from` (§2.1).
    let resp = n.post_control(
        "alice",
        &ctl(json!({
        "type": "callStart", "to": "sip:bob@example.com", "sdp": offer,
        "from": "Alice Smith<sip:alice@example.com>"})),
    );
    let body = assert_ok(&resp);
    let sa = body["callControlResponse"]["sessionData"]
        .as_str()
        .expect("sid")
        .to_owned();
    assert_eq!(
        body,
        json!({"callControlResponse": {"statusCode": 0, "sessionData": sa}})
    );

    // 3: `call` to bob at once, with A's offer verbatim.
    let f = n.take();
    assert!(f.of("alice").is_empty());
    let call = f.one("bob");
    let sb = leg_of(&call);
    assert_ne!(sa, sb);
    let alice_smith = ("Alice Smith", "alice@example.com");
    assert_eq!(call, sdp_note("call", &sb, &offer, alice_smith));
    let legs = n.gw.active_calls();
    assert_eq!(legs.len(), 1);
    assert_eq!(legs[0].legs[0].state, LegState::Offered);
    assert_eq!(legs[0].legs[1].state, LegState::Notified);

    // 4-6: ringing PUT; A is told, but not before 200 ms after its POST
    // reply (§7.4 rule 1).
    n.advance(50);
    let resp = n.put("bob", &sb, json!({"type": "ringing"}));
    assert_eq!(
        json_of(&resp),
        json!({"callControlResponse": {"statusCode": 0}})
    );
    assert!(n.take().is_empty(), "ringing held back after the POST");
    n.advance(150);
    let f = n.take();
    assert_eq!(
        f.one("alice"),
        json!({"eventType": "ringing", "sessionParams": {"sessionData": sa}, "callNotificationParams": party(BOB)})
    );
    assert!(f.of("bob").is_empty());
    // A second ringing is a harmless 200 and tells nobody.
    assert_ok(&n.put("bob", &sb, json!({"type": "ringing"})));
    assert!(n.settle().is_empty());

    // 7-9: answer; A gets it as respondCallUpdate right away (rule 4).
    let answered_at = n.now;
    assert_ok(&n.put("bob", &sb, json!({"type": "callAnswer", "sdp": answer})));
    let f = n.take();
    assert_eq!(
        f.one("alice"),
        sdp_note("respondCallUpdate", &sa, &answer, BOB)
    );
    assert!(f.of("bob").is_empty());
    let info = &n.gw.active_calls()[0];
    assert!(info.legs.iter().all(|l| l.state == LegState::Connected));
    let stats = n.gw.stats();
    assert_eq!(
        (
            stats.calls_active,
            stats.call_legs,
            stats.calls_created,
            stats.calls_ended
        ),
        (1, 2, 1, 0)
    );

    // 10: audits every 25 s keep both legs.
    for _ in 0..4 {
        n.advance(25_000);
        assert_ok(&n.put("alice", &sa, json!({"type": "audit"})));
        assert_ok(&n.put("bob", &sb, json!({"type": "audit"})));
    }
    assert!(n.take().is_empty());

    // 11-12: A hangs up; B gets callEnd.
    assert_eq!(
        json_of(&n.del("alice", &sa)),
        json!({"callControlResponse": {"statusCode": 0}})
    );
    let f = n.take();
    assert_eq!(
        f.one("bob"),
        end_note(&sb, 200, "Normal Clearing", alice_smith)
    );
    assert!(f.of("alice").is_empty());

    // 13: later audits (and a repeated DELETE) get 404/42.
    assert_call_error(&n.put("alice", &sa, json!({"type": "audit"})), 404, 42);
    assert_call_error(&n.put("bob", &sb, json!({"type": "audit"})), 404, 42);
    assert_call_error(&n.del("alice", &sa), 404, 42);
    assert_call_error(&n.del("bob", &sb), 404, 42);
    let stats = n.gw.stats();
    assert_eq!(
        (
            stats.calls_active,
            stats.call_legs,
            stats.calls_created,
            stats.calls_ended
        ),
        (0, 0, 1, 1)
    );
    assert_eq!(stats.timers, 3, "only the subscription expiries remain");

    // Call logs, shaped as logHistory items (03-services §4.1).
    let duration = (n.now - answered_at).to_string();
    assert_eq!(
        log_json(&n, "alice@example.com"),
        [json!({
            "recordId": "1", "direction": "outgoing",
            "startTime": answered_at.to_string(), "duration": duration,
            "callerName": "Alice Smith", "callerDisplayNumber": "alice@example.com",
            "calleeName": "Bob Ross", "calleeDisplayNumber": "bob@example.com",
            "resourceLocation": "/rest/version/1/user/alice@example.com/logRecord/1",
            "result": "answered"})]
    );
    assert_eq!(
        log_json(&n, "BOB@example.com"),
        [json!({
            "recordId": "1", "direction": "incoming",
            "startTime": answered_at.to_string(), "duration": duration,
            "callerName": "Alice Smith", "callerDisplayNumber": "alice@example.com",
            "calleeName": "Bob Ross", "calleeDisplayNumber": "bob@example.com",
            "resourceLocation": "/rest/version/1/user/bob@example.com/logRecord/1",
            "result": "answered"})]
    );
}

#[test]
fn destinations_resolve_like_the_spec_says() {
    let mut n = Net::new();
    let offer = sdp("1", 2, "sendrecv");
    // Bare user in the caller's domain, no scheme, any case, a phone number.
    for to in [
        "bob",
        "bob@example.com",
        "sips:BOB@Example.com",
        "sip:+15550101@example.com",
        "tel:+15550101",
    ] {
        let sa = n.call("alice", to, &offer);
        let f = n.take();
        assert_eq!(f.types("bob"), ["call"], "{to}");
        assert_ok(&n.del("alice", &sa));
        n.settle();
    }
}

// ----- §6.3 reject, ignore ------------------------------------------------------

#[test]
fn reject() {
    let mut n = Net::new();
    let sa = n.call("alice", "sip:bob@example.com", &sdp("1", 2, "sendrecv"));
    let sb = leg_of(&n.take().one("bob"));
    assert_ok(&n.put("bob", &sb, json!({"type": "ringing"})));
    n.settle();
    let resp = n.disposition("bob", json!({"action": "reject", "sessionData": sb}));
    assert_eq!(
        json_of(&resp),
        json!({"callDispositionResponse": {"statusCode": 0}})
    );
    let f = n.settle();
    assert_eq!(f.one("alice"), end_note(&sa, 603, "Decline", BOB));
    assert!(
        f.of("bob").is_empty(),
        "the rejecting client ended the call itself"
    );
    assert_call_error(&n.put("bob", &sb, json!({"type": "audit"})), 404, 42);
    // Rejecting again: the leg is gone.
    assert_call_error(
        &n.disposition("bob", json!({"action": "reject", "sessionData": sb})),
        404,
        42,
    );
    let a = &n.gw.call_logs("alice@example.com")[0];
    assert_eq!(
        (a.direction, a.result, a.duration.as_str()),
        (CallDirection::Outgoing, CallResult::Rejected, "0")
    );
    let b = &n.gw.call_logs("bob@example.com")[0];
    assert_eq!(
        (b.direction, b.result),
        (CallDirection::Missed, CallResult::Rejected)
    );
    assert_eq!(n.gw.stats().calls_active, 0);
}

/// Ignore has no wire (§2.6): the gateway's ring timer ends the call
/// (§6.3, §7.6), which is also the "no answer → missed call log" path.
#[test]
fn ignore_then_ringing_timeout_leaves_a_missed_call() {
    let config = GatewayConfig {
        calls: CallConfig {
            ringing_timeout_ms: 5_000,
            ..CallConfig::default()
        },
        ..GatewayConfig::default()
    };
    let mut n = Net::with(config, &["alice", "bob"]);
    let t_call = n.now;
    let sa = n.call("alice", "bob", &sdp("1", 2, "sendrecv"));
    let sb = leg_of(&n.take().one("bob"));
    assert_ok(&n.put("bob", &sb, json!({"type": "ringing"})));
    n.advance(1_000);
    assert_eq!(n.take().types("alice"), ["ringing"]);
    // (bob's app calls ignore(): nothing is sent)
    n.advance(3_000);
    assert!(n.take().is_empty());
    n.advance(1_000);
    let f = n.take();
    assert_eq!(f.one("alice"), end_note(&sa, 480, "No Answer", BOB));
    assert_eq!(f.one("bob"), cancel_note(&sb, ALICE));
    let missed = &n.gw.call_logs("bob@example.com")[0];
    assert_eq!(missed.direction, CallDirection::Missed);
    assert_eq!(missed.result, CallResult::NoAnswer);
    assert_eq!(missed.start_time, t_call.to_string());
    assert_eq!(missed.duration, "0");
    assert_eq!(
        (
            missed.caller_display_number.as_str(),
            missed.callee_name.as_str()
        ),
        ("alice@example.com", "Bob Ross")
    );
    assert_eq!(
        n.gw.call_logs("alice@example.com")[0].result,
        CallResult::NoAnswer
    );
    assert_eq!(n.gw.stats().call_legs, 0);
}

// ----- §6.4 remote end -------------------------------------------------------------

#[test]
fn remote_end() {
    let mut n = Net::new();
    let (sa, sb) = n.connect(
        "alice",
        "bob",
        &sdp("1", 2, "sendrecv"),
        &sdp("2", 2, "sendrecv"),
    );
    n.advance(30_000);
    assert_ok(&n.del("bob", &sb));
    let f = n.take();
    assert_eq!(f.one("alice"), end_note(&sa, 200, "Normal Clearing", BOB));
    assert!(f.of("bob").is_empty());
    // The client may DELETE a leg it already ended (§2.7).
    assert_call_error(&n.del("alice", &sa), 404, 42);
    let logs = n.gw.call_logs("alice@example.com");
    assert_eq!(logs[0].duration, "31000");
}

// ----- cancel before answer ------------------------------------------------------

#[test]
fn caller_cancels_while_callee_rings() {
    let mut n = Net::new();
    let sa = n.call("alice", "bob", &sdp("1", 2, "sendrecv"));
    let sb = leg_of(&n.take().one("bob"));
    assert_ok(&n.put("bob", &sb, json!({"type": "ringing"})));
    n.advance(1_000);
    n.take();
    assert_ok(&n.del("alice", &sa));
    let f = n.take();
    assert_eq!(f.one("bob"), cancel_note(&sb, ALICE));
    assert!(f.of("alice").is_empty());
    assert_call_error(
        &n.put(
            "bob",
            &sb,
            json!({"type": "callAnswer", "sdp": sdp("2", 2, "sendrecv")}),
        ),
        404,
        42,
    );
    assert_eq!(
        n.gw.call_logs("alice@example.com")[0].result,
        CallResult::Cancelled
    );
    let b = &n.gw.call_logs("bob@example.com")[0];
    assert_eq!(
        (b.direction, b.result),
        (CallDirection::Missed, CallResult::Cancelled)
    );
}

/// §7.4 rule 2: the cancel of a call whose `ringing` PUT has not arrived is
/// held until that PUT is answered (the client knows the leg only then).
#[test]
fn cancel_before_the_ringing_put_waits_for_it() {
    let mut n = Net::new();
    let sa = n.call("alice", "bob", &sdp("1", 2, "sendrecv"));
    let sb = leg_of(&n.take().one("bob"));
    assert_ok(&n.del("alice", &sa));
    assert!(
        n.settle().is_empty(),
        "nothing for bob before his ringing PUT"
    );
    // The late ringing PUT gets its 200 and releases the cancel.
    assert_ok(&n.put("bob", &sb, json!({"type": "ringing"})));
    assert!(n.take().is_empty(), "held for the ringing reply");
    let f = n.settle();
    assert_eq!(f.one("bob"), cancel_note(&sb, ALICE));
    assert!(n.gw.call_leg(&sb).is_none(), "forgotten once delivered");
    assert_call_error(&n.put("bob", &sb, json!({"type": "ringing"})), 404, 42);

    // A client that dropped the call never sends ringing: the cancel is
    // discarded after `cancel_hold_ms`.
    let sa = n.call("alice", "bob", &sdp("1", 2, "sendrecv"));
    let sb = leg_of(&n.take().one("bob"));
    assert_ok(&n.del("alice", &sa));
    assert!(n.gw.call_leg(&sb).is_some());
    n.advance(CallConfig::default().cancel_hold_ms);
    assert!(n.take().is_empty());
    assert!(n.gw.call_leg(&sb).is_none());
    assert_eq!(n.gw.stats().timers, 3, "subscription expiries only");
}

// ----- §6.5 / §6.6 hold, unhold, both holding --------------------------------------

#[test]
fn local_hold_and_unhold_reoffer() {
    let mut n = Net::new();
    let (sa, sb) = n.connect(
        "alice",
        "bob",
        &sdp("1", 2, "sendrecv"),
        &sdp("2", 2, "sendrecv"),
    );
    for (v, dir) in [(3, "inactive"), (4, "sendrecv")] {
        let offer = sdp("1", v, dir);
        let answer = sdp("2", v, dir);
        assert_ok(&n.put(
            "alice",
            &sa,
            json!({"type": "startCallUpdate", "sdp": offer}),
        ));
        assert!(n.gw.active_calls()[0].transaction_open);
        let f = n.take();
        assert_eq!(
            f.one("bob"),
            sdp_note("startCallUpdate", &sb, &offer, ALICE)
        );
        assert!(f.of("alice").is_empty());
        assert_ok(&n.put(
            "bob",
            &sb,
            json!({"type": "respondCallUpdate", "sdp": answer}),
        ));
        let f = n.take();
        assert_eq!(
            f.one("alice"),
            sdp_note("respondCallUpdate", &sa, &answer, BOB)
        );
        assert!(f.of("bob").is_empty());
        assert!(!n.gw.active_calls()[0].transaction_open);
    }
    // No transaction open: a respondCallUpdate is out of place.
    assert_call_error(
        &n.put(
            "bob",
            &sb,
            json!({"type": "respondCallUpdate", "sdp": sdp("2", 5, "sendrecv")}),
        ),
        409,
        1004,
    );
    // Nor may the offerer answer its own offer.
    assert_ok(&n.put(
        "alice",
        &sa,
        json!({"type": "startCallUpdate", "sdp": sdp("1", 5, "inactive")}),
    ));
    assert_call_error(
        &n.put(
            "alice",
            &sa,
            json!({"type": "respondCallUpdate", "sdp": sdp("1", 6, "inactive")}),
        ),
        409,
        1004,
    );
}

#[test]
fn both_holding() {
    let mut n = Net::new();
    let (sa, sb) = n.connect(
        "alice",
        "bob",
        &sdp("1", 2, "sendrecv"),
        &sdp("2", 2, "sendrecv"),
    );
    // A holds, then B holds too, then A unholds, then B unholds: each is its
    // own transaction, relayed to the other side verbatim.
    let steps = [
        ("alice", &sa, "bob", &sb, "1", 3, "inactive"),
        ("bob", &sb, "alice", &sa, "2", 3, "inactive"),
        ("alice", &sa, "bob", &sb, "1", 4, "sendrecv"),
        ("bob", &sb, "alice", &sa, "2", 4, "sendrecv"),
    ];
    for (who, mine, other, theirs, origin, v, dir) in steps {
        let offer = sdp(origin, v, dir);
        // The held side answers inactive to an unhold while it holds (§6.6).
        let answer = sdp(if origin == "1" { "2" } else { "1" }, v + 10, "inactive");
        assert_ok(&n.put(who, mine, json!({"type": "startCallUpdate", "sdp": offer})));
        let me = if who == "alice" { ALICE } else { BOB };
        let them = if who == "alice" { BOB } else { ALICE };
        assert_eq!(
            n.take().one(other),
            sdp_note("startCallUpdate", theirs, &offer, me)
        );
        assert_ok(&n.put(
            other,
            theirs,
            json!({"type": "respondCallUpdate", "sdp": answer}),
        ));
        assert_eq!(
            n.take().one(who),
            sdp_note("respondCallUpdate", mine, &answer, them)
        );
    }
    assert_eq!(n.gw.active_calls().len(), 1);
}

/// DTMF has no signalling in 4.8.0 (§2.15, §6.7): tones go on the media
/// path as RFC 4733 events (the relayed SDPs offer telephone-event/8000)
/// or in-band. There is nothing for the gateway to do, and nothing goes
/// over REST or the websocket; this only shows the call stays quiet.
#[test]
fn dtmf_has_no_wire() {
    let mut n = Net::new();
    let offer = sdp("1", 2, "sendrecv");
    assert!(offer.contains("telephone-event/8000"));
    n.connect("alice", "bob", &offer, &sdp("2", 2, "sendrecv"));
    assert!(n.settle().is_empty());
}

// ----- §6.8 forward ------------------------------------------------------------------

#[test]
fn forward_rings_the_new_target_with_the_pending_offer() {
    let mut n = Net::new();
    let offer = sdp("1", 2, "sendrecv");
    let sa = n.call("alice", "bob", &offer);
    let sb = leg_of(&n.take().one("bob"));
    assert_ok(&n.put("bob", &sb, json!({"type": "ringing"})));
    assert_eq!(n.settle().types("alice"), ["ringing"]);

    let resp = n.disposition(
        "bob",
        json!({"action": "forward", "sessionData": sb, "address": "sip:carol@example.com"}),
    );
    assert_eq!(
        json_of(&resp),
        json!({"callDispositionResponse": {"statusCode": 0}})
    );
    let f = n.take();
    assert!(f.of("bob").is_empty() && f.of("alice").is_empty());
    let sc = leg_of(&f.one("carol"));
    assert_eq!(f.one("carol"), sdp_note("call", &sc, &offer, ALICE));
    assert_call_error(&n.put("bob", &sb, json!({"type": "audit"})), 404, 42);

    assert_ok(&n.put("carol", &sc, json!({"type": "ringing"})));
    assert!(
        n.settle().is_empty(),
        "alice already rings: no second ringing"
    );
    let answer = sdp("3", 2, "sendrecv");
    assert_ok(&n.put("carol", &sc, json!({"type": "callAnswer", "sdp": answer})));
    let f = n.take();
    assert_eq!(
        f.one("alice"),
        sdp_note("respondCallUpdate", &sa, &answer, CAROL)
    );
    let b = &n.gw.call_logs("bob@example.com")[0];
    assert_eq!(
        (b.direction, b.result),
        (CallDirection::Missed, CallResult::Forwarded)
    );
    assert_ok(&n.del("carol", &sc));
    assert_eq!(
        n.take().one("alice"),
        end_note(&sa, 200, "Normal Clearing", CAROL)
    );
    let a = &n.gw.call_logs("alice@example.com")[0];
    assert_eq!(
        (a.callee_display_number.as_str(), a.result),
        ("carol@example.com", CallResult::Answered)
    );
    assert_eq!(
        n.gw.call_logs("carol@example.com")[0].direction,
        CallDirection::Incoming
    );
}

#[test]
fn forward_to_nobody_ends_the_caller() {
    let mut n = Net::new();
    let sa = n.call("alice", "bob", &sdp("1", 2, "sendrecv"));
    let sb = leg_of(&n.take().one("bob"));
    assert_ok(&n.put("bob", &sb, json!({"type": "ringing"})));
    n.settle();
    assert_ok(&n.disposition(
        "bob",
        json!({"action": "forward", "sessionData": sb, "address": "nobody"}),
    ));
    let f = n.settle();
    assert_eq!(
        f.one("alice"),
        end_note(&sa, 404, "Not Found", ("nobody", "nobody@example.com"))
    );
    assert_eq!(n.gw.stats().calls_active, 0);
}

// ----- §6.9 direct transfer --------------------------------------------------------

fn hold(n: &mut Net, who: &str, mine: &str, other: &str, theirs: &str) {
    assert_ok(&n.put(
        who,
        mine,
        json!({"type": "startCallUpdate", "sdp": sdp("9", 3, "inactive")}),
    ));
    n.take();
    assert_ok(&n.put(
        other,
        theirs,
        json!({"type": "respondCallUpdate", "sdp": sdp("8", 3, "inactive")}),
    ));
    n.take();
}

#[test]
fn direct_transfer() {
    let mut n = Net::new();
    let (sa, sb) = n.connect(
        "alice",
        "bob",
        &sdp("1", 2, "sendrecv"),
        &sdp("2", 2, "sendrecv"),
    );
    hold(&mut n, "alice", &sa, "bob", &sb);

    assert_ok(&n.put(
        "alice",
        &sa,
        json!({"type": "transfer", "address": "sip:carol@example.com"}),
    ));
    let f = n.take();
    let sc = leg_of(&f.one("carol"));
    // C is rung slow start (no sdp), as if B called.
    assert_eq!(
        f.one("carol"),
        json!({"eventType": "call", "sessionParams": {"sessionData": sc}, "callNotificationParams": party(BOB)})
    );
    assert!(f.of("alice").is_empty() && f.of("bob").is_empty());
    // The held call is locked while C rings.
    assert_call_error(
        &n.put(
            "bob",
            &sb,
            json!({"type": "startCallUpdate", "sdp": sdp("2", 5, "sendrecv")}),
        ),
        409,
        49,
    );

    assert_ok(&n.put("carol", &sc, json!({"type": "ringing"})));
    assert!(n.settle().is_empty());
    let offer_c = sdp("3", 2, "sendrecv");
    assert_ok(&n.put("carol", &sc, json!({"type": "callAnswer", "sdp": offer_c})));
    let f = n.take();
    assert_eq!(
        f.one("bob"),
        sdp_note("startCallUpdate", &sb, &offer_c, CAROL)
    );
    assert!(f.of("carol").is_empty() && f.of("alice").is_empty());

    let answer_b = sdp("2", 6, "sendrecv");
    assert_ok(&n.put(
        "bob",
        &sb,
        json!({"type": "respondCallUpdate", "sdp": answer_b}),
    ));
    let f = n.take();
    assert_eq!(
        f.one("carol"),
        sdp_note("respondCallUpdate", &sc, &answer_b, BOB)
    );
    assert_eq!(
        f.one("alice"),
        json!({"eventType": "sessionComplete", "sessionParams": {"sessionData": sa, "reasonText": "Direct Transfer Successful"}})
    );
    assert_call_error(&n.put("alice", &sa, json!({"type": "audit"})), 404, 42);
    let calls = n.gw.active_calls();
    assert_eq!(calls.len(), 1);
    let users: Vec<&str> = calls[0].legs.iter().map(|l| l.user.as_str()).collect();
    assert_eq!(users, ["bob@example.com", "carol@example.com"]);
    assert_eq!(
        n.gw.call_logs("alice@example.com")[0].result,
        CallResult::Transferred
    );

    // B and C talk on; C hangs up.
    assert_ok(&n.del("carol", &sc));
    assert_eq!(
        n.take().one("bob"),
        end_note(&sb, 200, "Normal Clearing", CAROL)
    );
    let b = &n.gw.call_logs("bob@example.com")[0];
    assert_eq!(
        (b.direction, b.caller_display_number.as_str()),
        (CallDirection::Incoming, "carol@example.com")
    );
    let s = n.gw.stats();
    assert_eq!(
        (s.calls_active, s.call_legs, s.calls_created, s.calls_ended),
        (0, 0, 2, 2)
    );
}

#[test]
fn direct_transfer_failures_send_session_fail() {
    let mut n = Net::with(GatewayConfig::default(), &["alice", "bob", "carol"]);
    let (sa, sb) = n.connect(
        "alice",
        "bob",
        &sdp("1", 2, "sendrecv"),
        &sdp("2", 2, "sendrecv"),
    );
    hold(&mut n, "alice", &sa, "bob", &sb);
    let fail = |sid: &str, code: u64, text: &str| json!({"eventType": "sessionFail", "sessionParams": {"sessionData": sid, "statusCode": code, "reasonText": text}});

    // Target rejects.
    assert_ok(&n.put(
        "alice",
        &sa,
        json!({"type": "transfer", "address": "carol@example.com"}),
    ));
    let sc = leg_of(&n.take().one("carol"));
    assert_ok(&n.put("carol", &sc, json!({"type": "ringing"})));
    assert_ok(&n.disposition("carol", json!({"action": "reject", "sessionData": sc})));
    assert_eq!(n.settle().one("alice"), fail(&sa, 603, "Decline"));
    // Target unknown, or already in the call.
    for (to, code, text) in [
        ("sip:nobody@example.com", 404, "Not Found"),
        ("bob", 486, "Busy Here"),
        ("alice", 486, "Busy Here"),
    ] {
        assert_ok(&n.put("alice", &sa, json!({"type": "transfer", "address": to})));
        assert!(n.take().is_empty(), "sessionFail must not overtake the 200");
        assert_eq!(n.settle().one("alice"), fail(&sa, code, text));
    }
    // Bad address.
    assert_call_error(
        &n.put("alice", &sa, json!({"type": "transfer", "address": "a b"})),
        400,
        1004,
    );
    assert_call_error(&n.put("alice", &sa, json!({"type": "transfer"})), 400, 5);
    // The held call is intact and usable.
    hold(&mut n, "alice", &sa, "bob", &sb);
    assert_eq!(n.gw.active_calls().len(), 1);

    // Transferor hangs up while the target rings: B gets callEnd, C callCancel.
    assert_ok(&n.put(
        "alice",
        &sa,
        json!({"type": "transfer", "address": "carol"}),
    ));
    let sc = leg_of(&n.take().one("carol"));
    assert_ok(&n.put("carol", &sc, json!({"type": "ringing"})));
    n.settle();
    assert_ok(&n.del("alice", &sa));
    let f = n.settle();
    assert_eq!(f.one("bob"), end_note(&sb, 200, "Normal Clearing", ALICE));
    assert_eq!(f.one("carol"), cancel_note(&sc, BOB));
    assert_eq!(n.gw.stats().call_legs, 0);
}

#[test]
fn direct_transfer_to_an_offline_user_fails() {
    let mut n = Net::with(GatewayConfig::default(), &["alice", "bob"]);
    let (sa, sb) = n.connect(
        "alice",
        "bob",
        &sdp("1", 2, "sendrecv"),
        &sdp("2", 2, "sendrecv"),
    );
    hold(&mut n, "alice", &sa, "bob", &sb);
    assert_ok(&n.put(
        "alice",
        &sa,
        json!({"type": "transfer", "address": "carol"}),
    ));
    assert_eq!(
        n.settle().one("alice"),
        json!({"eventType": "sessionFail", "sessionParams": {"sessionData": sa, "statusCode": 480, "reasonText": "Temporarily Unavailable"}})
    );
    assert_eq!(
        n.gw.call_logs("carol@example.com")[0].direction,
        CallDirection::Missed
    );
}

// ----- §6.10 consultative transfer ---------------------------------------------------

#[test]
fn consultative_transfer() {
    let mut n = Net::new();
    let (sa1, sb) = n.connect(
        "alice",
        "bob",
        &sdp("1", 2, "sendrecv"),
        &sdp("2", 2, "sendrecv"),
    );
    hold(&mut n, "alice", &sa1, "bob", &sb);
    let (sa2, sc) = n.connect(
        "alice",
        "carol",
        &sdp("11", 2, "sendrecv"),
        &sdp("3", 2, "sendrecv"),
    );
    hold(&mut n, "alice", &sa2, "carol", &sc);

    // The other call's address as 4.8.0 sends it: the raw callerDisplayNumber
    // or the normalized `to` (§2.12). A wrong-state second leg is refused.
    assert_call_error(
        &n.put(
            "alice",
            &sa1,
            json!({"type": "transfer", "sessionData": sa1, "address": "x"}),
        ),
        409,
        1004,
    );
    assert_call_error(
        &n.put(
            "alice",
            &sa1,
            json!({"type": "transfer", "sessionData": sb, "address": "x"}),
        ),
        404,
        42,
    );
    assert_ok(&n.put(
        "alice",
        &sa1,
        json!({"type": "transfer", "sessionData": sa2, "address": "sip:carol@example.com"}),
    ));
    let f = n.take();
    assert_eq!(
        f.one("bob"),
        json!({"eventType": "startCallUpdate", "sessionParams": {"sessionData": sb}, "callNotificationParams": party(CAROL)})
    );
    assert!(f.of("carol").is_empty() && f.of("alice").is_empty());

    let offer_b = sdp("22", 2, "sendrecv");
    assert_ok(&n.put(
        "bob",
        &sb,
        json!({"type": "respondCallUpdate", "sdp": offer_b}),
    ));
    assert_eq!(
        n.take().one("carol"),
        sdp_note("startCallUpdate", &sc, &offer_b, BOB)
    );
    // Glare on the new call while its transaction is open.
    assert_call_error(
        &n.put(
            "bob",
            &sb,
            json!({"type": "startCallUpdate", "sdp": sdp("22", 3, "sendrecv")}),
        ),
        409,
        49,
    );
    let answer_c = sdp("33", 2, "sendrecv");
    assert_ok(&n.put(
        "carol",
        &sc,
        json!({"type": "respondCallUpdate", "sdp": answer_c}),
    ));
    let f = n.take();
    assert_eq!(
        f.one("bob"),
        sdp_note("respondCallUpdate", &sb, &answer_c, CAROL)
    );
    let complete = |sid: &str| json!({"eventType": "sessionComplete", "sessionParams": {"sessionData": sid, "reasonText": "Transfer Successful"}});
    assert_eq!(f.of("alice"), [complete(&sa1), complete(&sa2)]);
    assert!(f.of("carol").is_empty());
    assert_eq!(n.gw.active_calls().len(), 1);
    assert_eq!(n.gw.call_legs_of("alice@example.com").len(), 0);
    assert_eq!(n.gw.call_logs("alice@example.com").len(), 2);
}

#[test]
fn consultative_transfer_that_times_out_ends_everyone() {
    let mut n = Net::new();
    let (sa1, sb) = n.connect(
        "alice",
        "bob",
        &sdp("1", 2, "sendrecv"),
        &sdp("2", 2, "sendrecv"),
    );
    let (sa2, sc) = n.connect(
        "alice",
        "carol",
        &sdp("11", 2, "sendrecv"),
        &sdp("3", 2, "sendrecv"),
    );
    assert_ok(&n.put(
        "alice",
        &sa1,
        json!({"type": "transfer", "sessionData": sa2, "address": "carol@example.com"}),
    ));
    n.take();
    // Bob's client never answers the SDP-less startCallUpdate.
    n.advance(CallConfig::default().update_timeout_ms);
    let f = n.take();
    assert_eq!(
        f.one("bob"),
        end_note(&sb, 500, "Renegotiation Timeout", CAROL)
    );
    assert_eq!(
        f.one("carol"),
        end_note(&sc, 500, "Renegotiation Timeout", BOB)
    );
    let alice = f.of("alice");
    assert_eq!(alice.len(), 2);
    assert!(alice
        .iter()
        .all(|m| m["eventType"] == "callEnd" && m["sessionParams"]["statusCode"] == 500));
    assert_eq!(n.gw.stats().call_legs, 0);
}

// ----- §6.11 join -------------------------------------------------------------------

/// A relay-only gateway has no mixer: join is refused with 501/26 (§6.11
/// emulator choice) after the usual validation, and both calls go on.
#[test]
fn join_without_a_mixer_is_refused() {
    let mut n = Net::new();
    let (sa1, _) = n.connect(
        "alice",
        "bob",
        &sdp("1", 2, "sendrecv"),
        &sdp("2", 2, "sendrecv"),
    );
    let (sa2, _) = n.connect(
        "alice",
        "carol",
        &sdp("11", 2, "sendrecv"),
        &sdp("3", 2, "sendrecv"),
    );
    let join = |first: &str, second: &str, sdp: &str| {
        ctl(
            json!({"type": "join", "firstSessionData": first, "secondSessionData": second, "sdp": sdp}),
        )
    };
    let offer = sdp("44", 2, "sendrecv");
    assert_call_error(&n.post_control("alice", &join(&sa1, &sa2, &offer)), 501, 26);
    assert_call_error(
        &n.post_control(
            "alice",
            &ctl(json!({"type": "join", "firstSessionData": sa1, "sdp": offer})),
        ),
        400,
        5,
    );
    assert_call_error(
        &n.post_control("alice", &join(&sa1, "nope", &offer)),
        404,
        42,
    );
    assert_call_error(
        &n.post_control("alice", &join(&sa1, &sa1, &offer)),
        409,
        1004,
    );
    assert_call_error(
        &n.post_control("alice", &join(&sa1, &sa2, "v=0\r\n")),
        400,
        1004,
    );
    assert!(n.settle().is_empty());
    assert_eq!(n.gw.active_calls().len(), 2);
}

// ----- §6.12 video added mid-call -----------------------------------------------------

#[test]
fn video_added_mid_call_is_a_plain_renegotiation() {
    let mut n = Net::new();
    let (sa, sb) = n.connect(
        "alice",
        "bob",
        &sdp("1", 2, "sendrecv"),
        &sdp("2", 2, "sendrecv"),
    );
    let offer = with_video(sdp("1", 3, "sendrecv"), "sendrecv");
    let answer = with_video(sdp("2", 3, "sendrecv"), "recvonly");
    assert_ok(&n.put(
        "alice",
        &sa,
        json!({"type": "startCallUpdate", "sdp": offer}),
    ));
    assert_eq!(
        n.take().one("bob"),
        sdp_note("startCallUpdate", &sb, &offer, ALICE)
    );
    assert_ok(&n.put(
        "bob",
        &sb,
        json!({"type": "respondCallUpdate", "sdp": answer}),
    ));
    assert_eq!(
        n.take().one("alice"),
        sdp_note("respondCallUpdate", &sa, &answer, BOB)
    );
}

// ----- §7.5 glare -----------------------------------------------------------------------

#[test]
fn glare_is_refused_with_49() {
    let mut n = Net::new();
    let (sa, sb) = n.connect(
        "alice",
        "bob",
        &sdp("1", 2, "sendrecv"),
        &sdp("2", 2, "sendrecv"),
    );
    assert_ok(&n.put(
        "alice",
        &sa,
        json!({"type": "startCallUpdate", "sdp": sdp("1", 3, "inactive")}),
    ));
    n.take();
    // B offers at the same time; A double-clicks: both refused.
    assert_call_error(
        &n.put(
            "bob",
            &sb,
            json!({"type": "startCallUpdate", "sdp": sdp("2", 3, "inactive")}),
        ),
        409,
        49,
    );
    assert_call_error(
        &n.put(
            "alice",
            &sa,
            json!({"type": "startCallUpdate", "sdp": sdp("1", 4, "inactive")}),
        ),
        409,
        49,
    );
    assert!(n.take().is_empty());
    assert_ok(&n.put(
        "bob",
        &sb,
        json!({"type": "respondCallUpdate", "sdp": sdp("2", 3, "inactive")}),
    ));
    assert_eq!(n.take().types("alice"), ["respondCallUpdate"]);
    // Now B may offer.
    assert_ok(&n.put(
        "bob",
        &sb,
        json!({"type": "startCallUpdate", "sdp": sdp("2", 4, "inactive")}),
    ));
    assert_eq!(n.take().types("alice"), ["startCallUpdate"]);
}

#[test]
fn glare_notification_mode() {
    let config = GatewayConfig {
        calls: CallConfig {
            glare: GlareMode::Notify,
            ..CallConfig::default()
        },
        ..GatewayConfig::default()
    };
    let mut n = Net::with(config, &["alice", "bob"]);
    let (sa, sb) = n.connect(
        "alice",
        "bob",
        &sdp("1", 2, "sendrecv"),
        &sdp("2", 2, "sendrecv"),
    );
    assert_ok(&n.put(
        "alice",
        &sa,
        json!({"type": "startCallUpdate", "sdp": sdp("1", 3, "inactive")}),
    ));
    n.take();
    assert_ok(&n.put(
        "bob",
        &sb,
        json!({"type": "startCallUpdate", "sdp": sdp("2", 3, "inactive")}),
    ));
    let f = n.take();
    assert_eq!(
        f.one("bob"),
        json!({"eventType": "respondCallUpdate", "statusCode": 49,
               "sessionParams": {"sessionData": sb, "retryAfter": 2, "reasonText": "Glare"}})
    );
    assert!(f.of("alice").is_empty());
}

// ----- §6.13 / §7.6 / §7.7 failure paths ------------------------------------------------

#[test]
fn unknown_callee_gets_200_then_call_end_404() {
    let mut n = Net::new();
    let sa = n.call("alice", "sip:nobody@example.com", &sdp("1", 2, "sendrecv"));
    assert!(
        n.take().is_empty(),
        "held until the POST reply is processed"
    );
    assert!(
        n.gw.call_leg(&sa).is_some(),
        "known while its callEnd waits"
    );
    let f = n.settle();
    assert_eq!(
        f.one("alice"),
        end_note(&sa, 404, "Not Found", ("nobody", "nobody@example.com"))
    );
    assert_call_error(&n.put("alice", &sa, json!({"type": "audit"})), 404, 42);
    let a = &n.gw.call_logs("alice@example.com")[0];
    assert_eq!(
        (a.direction, a.result),
        (CallDirection::Outgoing, CallResult::NotFound)
    );
    let s = n.gw.stats();
    assert_eq!((s.calls_active, s.calls_created, s.calls_ended), (0, 1, 1));
}

#[test]
fn offline_callee_gets_480_and_a_missed_call() {
    let mut n = Net::with(GatewayConfig::default(), &["alice"]);
    // carol has no subscription; bob has one without the call service.
    let s = subscribe(&mut n.gw, n.now, "bob");
    let resp = n.gw.handle_http(
        n.now,
        put(
            &s.subscription,
            Net::auth("bob"),
            &json!({"subscribeRequest": {"service": ["IM"]}}),
        ),
    );
    assert_eq!(resp.status, 200);
    for (to, who) in [("carol", CAROL), ("bob", BOB)] {
        let sa = n.call("alice", to, &sdp("1", 2, "sendrecv"));
        assert_eq!(
            n.settle().one("alice"),
            end_note(&sa, 480, "Temporarily Unavailable", who)
        );
        let missed = &n.gw.call_logs(&format!("{to}@example.com"))[0];
        assert_eq!(
            (missed.direction, missed.result),
            (CallDirection::Missed, CallResult::Unavailable)
        );
        assert_eq!(missed.caller_display_number, "alice@example.com");
    }
}

#[test]
fn calling_yourself_is_busy() {
    let mut n = Net::new();
    let sa = n.call("alice", "alice", &sdp("1", 2, "sendrecv"));
    assert_eq!(
        n.settle().one("alice"),
        end_note(&sa, 486, "Busy Here", ALICE)
    );
}

#[test]
fn malformed_start_requests() {
    let config = GatewayConfig {
        calls: CallConfig {
            max_sdp_bytes: 2_000,
            ..CallConfig::default()
        },
        ..GatewayConfig::default()
    };
    let mut n = Net::with(config, &["alice", "bob"]);
    let good = sdp("1", 2, "sendrecv");
    let start = |to: Value, s: Value| ctl(json!({"type": "callStart", "to": to, "sdp": s}));
    let cases: Vec<(Value, u16, u64)> = vec![
        (json!({}), 400, 5),
        (json!([1]), 400, 5),
        (json!({"callControlRequest": "x"}), 400, 5),
        (json!({"callMeRequest": {"type": "callStart"}}), 400, 5),
        (ctl(json!({})), 400, 5),
        (ctl(json!({"type": "hangup"})), 400, 5),
        (ctl(json!({"type": "callStart", "sdp": good})), 400, 5),
        (ctl(json!({"type": "callStart", "to": "bob"})), 400, 5),
        (start(json!("bob"), json!(5)), 400, 5),
        (start(json!("bob"), json!("")), 400, 5),
        (start(json!(7), json!(good)), 400, 5),
        (start(json!("bob"), json!("hello")), 400, 1004),
        (start(json!("bob"), json!("v=0\r\ns=-\r\n")), 400, 1004),
        (
            start(json!("bob"), json!(good.replace("a=mid:0\r\n", ""))),
            400,
            1004,
        ),
        (
            start(json!("bob"), json!(good.replace("a=sendrecv\r\n", ""))),
            400,
            1004,
        ),
        (
            start(
                json!("bob"),
                json!(good.replace("a=fingerprint", "a=fingerprin")),
            ),
            400,
            1004,
        ),
        (
            start(
                json!("bob"),
                json!(format!("{good}{}", "a=x\r\n".repeat(400))),
            ),
            400,
            1004,
        ),
        (start(json!("b ob"), json!(good)), 400, 1004),
        (
            start(json!("Bob<sip:bob@example.com"), json!(good)),
            400,
            1004,
        ),
        (start(json!("sip:@example.com"), json!(good)), 400, 1004),
    ];
    for (body, status, code) in cases {
        let resp = n.post_control("alice", &body);
        assert_call_error(&resp, status, code);
        assert!(json_of(&resp)["callControlResponse"]["reason"].is_string());
    }
    for raw in [&b""[..], b"not json", b"\xff"] {
        let path = format!("{}/callControl", Net::base("alice"));
        let (h, v) = Net::auth("alice");
        let resp = n.gw.handle_http(
            n.now,
            HttpRequest::new("POST", &path)
                .with_header(h, v)
                .with_body(raw),
        );
        assert_call_error(&resp, 400, 5);
    }
    assert!(n.settle().is_empty());
    assert_eq!(n.gw.stats().calls_created, 0);
}

#[test]
fn oversized_bodies_auth_and_paths() {
    let config = GatewayConfig {
        max_body_bytes: 4_000,
        ..GatewayConfig::default()
    };
    let mut n = Net::with(config, &["alice", "bob"]);
    let big = "x".repeat(5_000);
    assert_call_error(
        &n.post_control(
            "alice",
            &ctl(json!({"type": "callStart", "to": "bob", "sdp": big})),
        ),
        413,
        5,
    );
    // Another user's path: 403/1004 (§7.1).
    let path = format!("{}/callControl", Net::base("bob"));
    let resp = n.send(
        "alice",
        "POST",
        &path,
        Some(&ctl(
            json!({"type": "callStart", "to": "bob", "sdp": sdp("1", 2, "sendrecv")}),
        )),
    );
    assert_call_error(&resp, 403, 1004);
    // No credentials: 401 in the call wrapper.
    let resp =
        n.gw.handle_http(n.now, HttpRequest::new("POST", &path).with_json(&json!({})));
    assert_eq!(resp.status, 401);
    assert!(json_of(&resp)["callControlResponse"]["statusCode"].is_u64());
    // DELETE without a leg (a client ending an Initiating call, §2.7).
    let path = format!("{}/callControl", Net::base("alice"));
    assert_call_error(&n.send("alice", "DELETE", &path, None), 404, 42);
    assert_call_error(&n.send("alice", "GET", &path, None), 405, 1004);
    let path = format!("{}/calldisposition", Net::base("alice"));
    assert_call_error(&n.send("alice", "PUT", &path, None), 405, 1004);
    // Unknown leg, and a leg of another user.
    assert_call_error(
        &n.put(
            "alice",
            "0123456789abcdef0123456789abcdef",
            json!({"type": "audit"}),
        ),
        404,
        42,
    );
    let sa = n.call("alice", "bob", &sdp("1", 2, "sendrecv"));
    let sb = leg_of(&n.take().one("bob"));
    assert_call_error(&n.put("bob", &sa, json!({"type": "audit"})), 404, 42);
    assert_call_error(&n.put("alice", &sb, json!({"type": "ringing"})), 404, 42);
    assert_call_error(&n.del("bob", &sa), 404, 42);
    // `%40` in the user segment works like `@`.
    let path = format!("/rest/version/1/user/alice%40example.com/callControl/callSessions/{sa}");
    assert_ok(&n.send("alice", "PUT", &path, Some(&ctl(json!({"type": "audit"})))));
}

#[test]
fn requests_in_the_wrong_state() {
    let mut n = Net::new();
    let offer = sdp("1", 2, "sendrecv");
    let answer = sdp("2", 2, "sendrecv");
    let sa = n.call("alice", "bob", &offer);
    let sb = leg_of(&n.take().one("bob"));
    // Caller-side requests that only a callee may send.
    assert_call_error(&n.put("alice", &sa, json!({"type": "ringing"})), 409, 1004);
    assert_call_error(
        &n.put("alice", &sa, json!({"type": "callAnswer", "sdp": answer})),
        409,
        1004,
    );
    assert_call_error(
        &n.disposition("alice", json!({"action": "reject", "sessionData": sa})),
        409,
        1004,
    );
    // hold() on an Initiated/Ringing outgoing call is allowed by 4.8.0 and
    // must be refused by the gateway (§4.5).
    assert_call_error(
        &n.put(
            "alice",
            &sa,
            json!({"type": "startCallUpdate", "sdp": offer}),
        ),
        409,
        1004,
    );
    assert_call_error(
        &n.put(
            "bob",
            &sb,
            json!({"type": "respondCallUpdate", "sdp": answer}),
        ),
        409,
        1004,
    );
    assert_call_error(
        &n.put(
            "alice",
            &sa,
            json!({"type": "transfer", "address": "carol"}),
        ),
        409,
        1004,
    );
    assert_call_error(&n.put("bob", &sb, json!({"type": "frobnicate"})), 400, 5);
    assert_call_error(&n.put("bob", &sb, json!({})), 400, 5);
    // Audits of a ringing leg are fine (an answer() that failed keeps auditing).
    assert_ok(&n.put("bob", &sb, json!({"type": "audit"})));
    assert_ok(&n.put("bob", &sb, json!({"type": "ringing"})));
    assert_ok(&n.put("bob", &sb, json!({"type": "callAnswer", "sdp": answer})));
    // Answered: no second answer, no ringing, no reject/forward.
    assert_call_error(
        &n.put("bob", &sb, json!({"type": "callAnswer", "sdp": answer})),
        409,
        1004,
    );
    assert_call_error(&n.put("bob", &sb, json!({"type": "ringing"})), 409, 1004);
    assert_call_error(
        &n.disposition("bob", json!({"action": "reject", "sessionData": sb})),
        409,
        1004,
    );
    assert_call_error(
        &n.disposition(
            "bob",
            json!({"action": "forward", "sessionData": sb, "address": "carol"}),
        ),
        409,
        1004,
    );
    // Disposition bodies.
    assert_call_error(
        &n.disposition("bob", json!({"action": "forward", "sessionData": sb})),
        400,
        5,
    );
    assert_call_error(
        &n.disposition("bob", json!({"action": "drop", "sessionData": sb})),
        400,
        5,
    );
    assert_call_error(&n.disposition("bob", json!({"action": "reject"})), 400, 5);
    assert_call_error(
        &n.disposition("bob", json!({"action": "reject", "sessionData": "nope"})),
        404,
        42,
    );
    let resp = n.send(
        "bob",
        "POST",
        &format!("{}/calldisposition", Net::base("bob")),
        Some(&ctl(json!({"action": "reject"}))),
    );
    assert_call_error(&resp, 400, 5);
    // Malformed SDP on an update: refused, the call goes on.
    assert_call_error(
        &n.put(
            "alice",
            &sa,
            json!({"type": "startCallUpdate", "sdp": "v=0"}),
        ),
        400,
        1004,
    );
    assert_call_error(
        &n.put("alice", &sa, json!({"type": "startCallUpdate"})),
        400,
        5,
    );
    assert!(!n.gw.active_calls()[0].transaction_open);
    let f = n.settle();
    assert_eq!(f.types("alice"), ["ringing", "respondCallUpdate"]);
}

#[test]
fn forward_with_a_bad_address() {
    let mut n = Net::new();
    n.call("alice", "bob", &sdp("1", 2, "sendrecv"));
    let sb = leg_of(&n.take().one("bob"));
    assert_ok(&n.put("bob", &sb, json!({"type": "ringing"})));
    assert_call_error(
        &n.disposition(
            "bob",
            json!({"action": "forward", "sessionData": sb, "address": "<>"}),
        ),
        400,
        1004,
    );
    assert_eq!(n.gw.active_calls().len(), 1, "still ringing");
}

/// §7.6: an unusable answer ends both legs (the 4.8.0 client cannot answer
/// twice).
#[test]
fn unusable_answer_ends_both_legs() {
    let mut n = Net::new();
    let sa = n.call("alice", "bob", &sdp("1", 2, "sendrecv"));
    let sb = leg_of(&n.take().one("bob"));
    assert_ok(&n.put("bob", &sb, json!({"type": "ringing"})));
    n.settle();
    assert_call_error(
        &n.put("bob", &sb, json!({"type": "callAnswer", "sdp": "garbage"})),
        400,
        1004,
    );
    let f = n.settle();
    assert_eq!(
        f.one("alice"),
        end_note(&sa, 488, "Not Acceptable Here", BOB)
    );
    assert_eq!(
        f.one("bob"),
        end_note(&sb, 488, "Not Acceptable Here", ALICE)
    );
    assert_eq!(
        n.gw.call_logs("bob@example.com")[0].result,
        CallResult::Failed
    );
}

/// §6.13 "remote answer unusable" / "websocket lost": a leg that stops
/// auditing is ended and the other side told.
#[test]
fn audit_timeout_ends_the_call_for_the_auditing_side() {
    let mut n = Net::new();
    let (sa, sb) = n.connect(
        "alice",
        "bob",
        &sdp("1", 2, "sendrecv"),
        &sdp("2", 2, "sendrecv"),
    );
    // Only alice audits.
    for _ in 0..2 {
        n.advance(25_000);
        assert_ok(&n.put("alice", &sa, json!({"type": "audit"})));
    }
    assert!(n.take().is_empty());
    n.advance(24_000);
    let f = n.take();
    assert_eq!(
        f.one("alice"),
        end_note(&sa, 408, "Session Audit Timeout", BOB)
    );
    assert!(f.of("bob").is_empty());
    assert_call_error(&n.put("bob", &sb, json!({"type": "audit"})), 404, 42);
}

#[test]
fn renegotiation_timeout_ends_both_legs() {
    let config = GatewayConfig {
        calls: CallConfig {
            update_timeout_ms: 3_000,
            ..CallConfig::default()
        },
        ..GatewayConfig::default()
    };
    let mut n = Net::with(config, &["alice", "bob"]);
    let (sa, sb) = n.connect(
        "alice",
        "bob",
        &sdp("1", 2, "sendrecv"),
        &sdp("2", 2, "sendrecv"),
    );
    assert_ok(&n.put(
        "alice",
        &sa,
        json!({"type": "startCallUpdate", "sdp": sdp("1", 3, "inactive")}),
    ));
    n.take();
    n.advance(2_999);
    assert!(n.take().is_empty());
    n.advance(1);
    let f = n.take();
    assert_eq!(
        f.one("alice"),
        end_note(&sa, 500, "Renegotiation Timeout", BOB)
    );
    assert_eq!(
        f.one("bob"),
        end_note(&sb, 500, "Renegotiation Timeout", ALICE)
    );
}

// ----- subscriptions ending mid-call -----------------------------------------------------

#[test]
fn subscription_deleted_mid_call_ends_it_for_the_other_party() {
    let mut n = Net::new();
    let (sa, _) = n.connect(
        "alice",
        "bob",
        &sdp("1", 2, "sendrecv"),
        &sdp("2", 2, "sendrecv"),
    );
    let bob = n.sessions["bob"].clone();
    let resp =
        n.gw.handle_http(n.now, delete(&bob.subscription, bob.auth.clone()));
    assert_eq!(resp.status, 200);
    check(&n.gw);
    let f = n.take();
    assert_eq!(f.one("alice"), end_note(&sa, 200, "Normal Clearing", BOB));
    assert!(f.of("bob").is_empty());
    assert_eq!(n.gw.stats().call_legs, 0);
    assert_eq!(
        n.gw.call_logs("bob@example.com")[0].result,
        CallResult::Answered
    );
}

#[test]
fn subscription_ending_while_ringing() {
    // The callee's subscription is terminated: the caller gets 480.
    let mut n = Net::new();
    let sa = n.call("alice", "bob", &sdp("1", 2, "sendrecv"));
    let sb = leg_of(&n.take().one("bob"));
    assert_ok(&n.put("bob", &sb, json!({"type": "ringing"})));
    n.settle();
    n.gw.terminate_user(n.now, "bob@example.com", None);
    check(&n.gw);
    let outs: Vec<Output> = std::iter::from_fn(|| n.gw.poll_output()).collect();
    let alice_sock = n
        .sockets
        .iter()
        .find(|(_, u)| *u == "alice")
        .map(|(s, _)| *s)
        .expect("alice");
    let to_alice = frames_for(&outs, alice_sock);
    assert_eq!(to_alice.len(), 1);
    assert_eq!(to_alice[0]["notificationMessage"]["eventType"], "callEnd");
    assert_eq!(
        to_alice[0]["notificationMessage"]["sessionParams"]["statusCode"],
        480
    );
    assert_eq!(
        to_alice[0]["notificationMessage"]["sessionParams"]["sessionData"],
        json!(sa)
    );

    // The caller's subscription expires: the ringing callee gets callCancel.
    let config = GatewayConfig {
        min_expires_s: 60,
        max_expires_s: 60,
        ..GatewayConfig::default()
    };
    let mut n = Net::with(config, &["alice", "bob"]);
    n.call("alice", "bob", &sdp("1", 2, "sendrecv"));
    let sb = leg_of(&n.take().one("bob"));
    assert_ok(&n.put("bob", &sb, json!({"type": "ringing"})));
    n.settle();
    n.now = T0 + 60_000;
    n.gw.handle_timeout(n.now);
    check(&n.gw);
    let outs: Vec<Output> = std::iter::from_fn(|| n.gw.poll_output()).collect();
    let bob_sock = n
        .sockets
        .iter()
        .find(|(_, u)| *u == "bob")
        .map(|(s, _)| *s)
        .expect("bob");
    let to_bob: Vec<String> = frames_for(&outs, bob_sock)
        .iter()
        .map(|v| {
            v["notificationMessage"]["eventType"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    // Both expire at once; whichever goes first, bob hears of the call's
    // end before his own `gone`, or gets only `gone`.
    assert!(
        to_bob.last().map(String::as_str) == Some("gone"),
        "{to_bob:?}"
    );
    assert_eq!(n.gw.stats().call_legs, 0);
}

#[test]
fn end_calls_of_hook() {
    let mut n = Net::new();
    let (sa, sb) = n.connect(
        "alice",
        "bob",
        &sdp("1", 2, "sendrecv"),
        &sdp("2", 2, "sendrecv"),
    );
    let sa2 = n.call("alice", "carol", &sdp("5", 2, "sendrecv"));
    let sc = leg_of(&n.take().one("carol"));
    assert_ok(&n.put("carol", &sc, json!({"type": "ringing"})));
    n.settle();
    assert_eq!(n.gw.end_calls_of(n.now, "ALICE@example.com"), 2);
    let f = n.settle();
    let mut alice = f.of("alice");
    alice.sort_by_key(|m| {
        m["sessionParams"]["sessionData"]
            .as_str()
            .map(str::to_owned)
    });
    let mut expected = vec![
        end_note(&sa, 487, "Request Terminated", BOB),
        end_note(&sa2, 487, "Request Terminated", CAROL),
    ];
    expected.sort_by_key(|m| {
        m["sessionParams"]["sessionData"]
            .as_str()
            .map(str::to_owned)
    });
    assert_eq!(alice, expected);
    assert_eq!(
        f.one("bob"),
        end_note(&sb, 487, "Request Terminated", ALICE)
    );
    assert_eq!(f.one("carol"), cancel_note(&sc, ALICE));
    assert_eq!(n.gw.end_calls_of(n.now, "alice@example.com"), 0);
    assert_eq!(n.gw.end_calls_of(n.now, "nobody"), 0);
}

// ----- anonymous callMe (§2.14) ----------------------------------------------------------

#[test]
fn anonymous_call_me_variant() {
    let mut n = Net::new();
    let base = "/rest/version/1/anonymous/alice@example.com/callMe";
    let offer = sdp("1", 2, "sendrecv");
    let body = json!({"callMeRequest": {"type": "callStart", "to": "sip:bob@example.com", "sdp": offer,
                                        "from": "Guest<sip:guest@example.com>", "notifyChannelId": "x"}});
    let resp = n.send("alice", "POST", base, Some(&body));
    let reply = assert_ok(&resp);
    let sa = reply["callMeResponse"]["sessionData"]
        .as_str()
        .expect("callMeResponse.sessionData")
        .to_owned();
    let call = n.take().one("bob");
    assert_eq!(call["callNotificationParams"]["callerName"], "Guest");
    let sb = leg_of(&call);
    assert_ok(&n.put("bob", &sb, json!({"type": "ringing"})));
    assert_ok(&n.put(
        "bob",
        &sb,
        json!({"type": "callAnswer", "sdp": sdp("2", 2, "sendrecv")}),
    ));
    assert_eq!(n.settle().types("alice"), ["ringing", "respondCallUpdate"]);
    let leg = format!("{base}/callSessions/{sa}");
    let resp = n.send(
        "alice",
        "PUT",
        &leg,
        Some(&json!({"callMeRequest": {"type": "audit"}})),
    );
    assert_eq!(json_of(&resp), json!({"callMeResponse": {"statusCode": 0}}));
    let resp = n.send("alice", "DELETE", &leg, None);
    assert_eq!(json_of(&resp), json!({"callMeResponse": {"statusCode": 0}}));
    assert_eq!(n.take().types("bob"), ["callEnd"]);
    // join is not part of the anonymous tree.
    assert_call_error(
        &n.send(
            "alice",
            "POST",
            base,
            Some(&json!({"callMeRequest": {"type": "join"}})),
        ),
        400,
        5,
    );
}

// ----- determinism and snapshots ---------------------------------------------------------

#[test]
fn snapshot_mid_call_resumes_identically() {
    let mut n = Net::new();
    let (sa, sb) = n.connect(
        "alice",
        "bob",
        &sdp("1", 2, "sendrecv"),
        &sdp("2", 2, "sendrecv"),
    );
    assert_ok(&n.put(
        "alice",
        &sa,
        json!({"type": "startCallUpdate", "sdp": sdp("1", 3, "inactive")}),
    ));
    n.take();
    let text = serde_json::to_string(&n.gw).expect("serialize");
    let mut copy: Gateway = serde_json::from_str(&text).expect("deserialize");
    copy.check_invariants().expect("invariants");
    assert_eq!(copy.active_calls(), n.gw.active_calls());
    let req = |g: &mut Gateway, now| {
        let (h, v) = Net::auth("bob");
        g.handle_http(
            now,
            HttpRequest::new(
                "PUT",
                format!("{}/callControl/callSessions/{sb}", Net::base("bob")),
            )
            .with_header(h, v)
            .with_json(&ctl(
                json!({"type": "respondCallUpdate", "sdp": sdp("2", 3, "inactive")}),
            )),
        )
    };
    assert_eq!(req(&mut n.gw, n.now), req(&mut copy, n.now));
    let (x, y) = (drain(&mut n.gw), drain(&mut copy));
    assert_eq!(x, y);
    assert_eq!(x.len(), 1);
}

// ----- transcripts of a real 4.8.0 client ------------------------------------------------

const ALICE_T: &str = include_str!("fixtures/alice-4.8.0-session.jsonl");
const BOB_T: &str = include_str!("fixtures/bob-4.8.0-session.jsonl");
const USERS_T: &str = include_str!("fixtures/users-kandy-test.json");

/// Replays every callControl request of both transcripts, in the order they
/// happened (bob's clock is shifted so that his `call` notification follows
/// alice's start-call POST), through the model with both users subscribed.
/// Each gets the status the transcript recorded, and every call
/// notification the recorded gateway sent has its counterpart here, with
/// the same SDP (relayed verbatim).
#[test]
fn transcript_call_requests_replay() {
    let lines = |t: &str| -> Vec<Value> {
        t.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    };
    let (alice, bob) = (lines(ALICE_T), lines(BOB_T));
    let is_call = |r: &Value| {
        r["kind"] == "http"
            && r["path"]
                .as_str()
                .is_some_and(|p| p.contains("/callControl"))
    };
    let start = alice
        .iter()
        .find(|r| is_call(r))
        .and_then(|r| r["t_ms"].as_u64())
        .expect("callStart");
    let notified = bob
        .iter()
        .find(|r| {
            r["kind"] == "ws-gateway-to-client"
                && r["frame"]["notificationMessage"]["eventType"] == "call"
        })
        .and_then(|r| r["t_ms"].as_u64())
        .expect("call notification");
    let shift = start - notified + 1;
    let mut steps: Vec<(u64, &str, &Value)> = alice
        .iter()
        .filter(|r| is_call(r))
        .map(|r| (r["t_ms"].as_u64().unwrap_or(0), "alice", r))
        .chain(
            bob.iter()
                .filter(|r| is_call(r))
                .map(|r| (r["t_ms"].as_u64().unwrap_or(0) + shift, "bob", r)),
        )
        .collect();
    steps.sort_by_key(|(t, _, _)| *t);
    assert_eq!(steps.len(), 8);

    let users = Users::from_json(USERS_T).expect("fixture users");
    let mut gw = Gateway::new(GatewayConfig::default(), users, SEED);
    let mut sockets = HashMap::new();
    for name in ["alice", "bob"] {
        let user = format!("{name}@kandy.test");
        let first = lines(if name == "alice" { ALICE_T } else { BOB_T }).remove(0);
        let req = HttpRequest::new("POST", first["path"].as_str().expect("path"))
            .with_header("authorization", basic_authorization(&user, name))
            .with_json(&first["request_body"]);
        let body = json_of(&gw.handle_http(T0, req));
        let channel = body["subscribeResponse"]["subscriptionParams"]["notificationChannel"]
            .as_str()
            .expect("ch");
        sockets.insert(
            gw.handle_ws_upgrade(T0, channel, &[]).expect("upgrade"),
            name,
        );
    }
    let mut ours: HashMap<&str, String> = HashMap::new(); // transcript leg -> ours
    let mut got: HashMap<&str, Vec<Value>> = HashMap::new();
    let mut collect = |gw: &mut Gateway, ours: &mut HashMap<&str, String>| {
        while let Some(Output::Send { socket, text }) = gw.poll_output() {
            let v: Value = serde_json::from_str(&text).expect("json");
            let who = sockets[&socket];
            if v["notificationMessage"]["eventType"] == "call" {
                ours.insert("bob-leg", leg_of(&v["notificationMessage"]));
            }
            got.entry(who)
                .or_default()
                .push(v["notificationMessage"].clone());
        }
    };
    for (t, who, rec) in steps {
        let now = T0 + 2_000 + t;
        gw.handle_timeout(now);
        collect(&mut gw, &mut ours);
        let path = rec["path"].as_str().expect("path");
        let path = match path.rsplit_once("/callSessions/") {
            Some((head, _)) => {
                let key = if who == "alice" {
                    "alice-leg"
                } else {
                    "bob-leg"
                };
                format!("{head}/callSessions/{}", ours[key])
            }
            None => path.to_owned(),
        };
        let user = format!("{who}@kandy.test");
        let mut req = HttpRequest::new(rec["method"].as_str().expect("method"), path)
            .with_header("content-type", "application/json")
            .with_header("accept", "application/json")
            .with_header("authorization", basic_authorization(&user, who))
            .with_header("origin", "http://127.0.0.1:8080");
        if !rec["request_body"].is_null() {
            req.body = rec["request_body"].to_string().into_bytes();
        }
        let resp = gw.handle_http(now, req);
        assert_eq!(
            u64::from(resp.status),
            rec["status"].as_u64().expect("status"),
            "{rec}: {:?}",
            resp.body_json()
        );
        assert_eq!(
            resp.header("access-control-allow-origin"),
            Some("http://127.0.0.1:8080")
        );
        if let Some(sid) = resp.body_json().and_then(|b| {
            b["callControlResponse"]["sessionData"]
                .as_str()
                .map(str::to_owned)
        }) {
            ours.insert("alice-leg", sid);
        }
        gw.check_invariants().expect("invariants");
        collect(&mut gw, &mut ours);
    }
    gw.handle_timeout(T0 + 100_000);
    collect(&mut gw, &mut ours);
    gw.check_invariants().expect("invariants");

    // The recorded gateway's call notifications, per user: same types in the
    // same order, same SDPs.
    for (name, t) in [("alice", &alice), ("bob", &bob)] {
        let recorded: Vec<(Value, Value)> = t
            .iter()
            .filter(|r| r["kind"] == "ws-gateway-to-client")
            .map(|r| &r["frame"]["notificationMessage"])
            .filter(|m| m["sessionParams"].is_object())
            .map(|m| (m["eventType"].clone(), m["sessionParams"]["sdp"].clone()))
            .collect();
        let mine: Vec<(Value, Value)> = got
            .get(name)
            .map(|v| {
                v.iter()
                    .map(|m| (m["eventType"].clone(), m["sessionParams"]["sdp"].clone()))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(mine, recorded, "{name}");
    }
    assert_eq!(gw.stats().calls_active, 0);
    assert_eq!(
        gw.call_logs("alice@kandy.test")[0].direction,
        CallDirection::Outgoing
    );
    assert_eq!(
        gw.call_logs("bob@kandy.test")[0].direction,
        CallDirection::Incoming
    );
}
