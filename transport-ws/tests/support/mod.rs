//! A tiny fake Kandy Link gateway for the driver's tests: a hyper 1 server
//! on 127.0.0.1 (optionally TLS) that answers the three subscription
//! requests, upgrades the notification channel to a WebSocket, and records
//! everything it sees. It is not an emulator: it knows one user, one
//! subscription path and one channel path.
//!
//! It also answers the call requests minimally, so that one client alone can
//! complete a call: a call start gets leg [`OUTGOING_LEG`] and is followed by
//! the `ringing` and `respondCallUpdate` (answer) notifications a gateway
//! would push; a `startCallUpdate` (hold, unhold) gets its answer, inactive
//! when the offer was; other leg updates, deletes and dispositions get 200.
//!
//! A real gateway pushes those notifications at least a round trip to the
//! far end after its 200, so the client has long read the 200 (and learnt
//! the leg) when they arrive. Here they would race it: the 200 and the
//! frames reach the client's driver through different tasks. So they are
//! held until the client's driver takes the 200 in, which [`Gate`] (a
//! [`Recorder`] on the client) reports: no race, and no sleeps.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use base64::Engine;
use bytes::Bytes;
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::{future, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use kandy_core::{Config, Effect, Event, Input, InputKind, RequestId};
use kandy_transport_ws::{Events, Recorder};
use serde_json::{json, Value};
use smol::{Async, Task, Timer};
use smol_hyper::rt::FuturesIo;

pub const USER: &str = "alice@example.com";
pub const PASSWORD: &str = "alice";
pub const SUBSCRIPTION: &str = "/rest/version/1/user/alice@example.com/subscription/sub-1";
pub const CHANNEL: &str = "/rest/version/1/user/alice@example.com/notification/websocket/chan-1";
/// Where calls are started (POST).
pub const CALL_CONTROL: &str = "/rest/version/1/user/alice@example.com/callControl";
/// Call legs live under this path, by `sessionData`.
pub const CALL_SESSIONS: &str = "/rest/version/1/user/alice@example.com/callControl/callSessions/";
/// Incoming calls are rejected and forwarded here (POST).
pub const CALL_DISPOSITION: &str = "/rest/version/1/user/alice@example.com/calldisposition";
/// The leg every outgoing call gets.
pub const OUTGOING_LEG: &str = "SA-1";

pub const CA_PEM: &[u8] = include_bytes!("../certs/ca.pem");
const SERVER_PEM: &[u8] = include_bytes!("../certs/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("../certs/server.key");

/// Runs a test body on a fresh thread's executor, failing it after 10 s.
pub fn run<F: Future<Output = ()>>(test: F) {
    smol::block_on(future::or(test, async {
        Timer::after(Duration::from_secs(10)).await;
        panic!("test timed out");
    }));
}

/// What the fake gateway saw, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    Http {
        /// Which TCP connection carried it (1-based, in accept order).
        conn: usize,
        method: String,
        path: String,
        authorization: Option<String>,
        body: String,
    },
    WsOpened {
        path: String,
    },
    WsFrame {
        text: String,
    },
    /// The client closed the socket: its close code, or `None` if the
    /// connection just ended.
    WsClosedByClient {
        code: Option<u16>,
    },
}

/// How the gateway behaves.
#[derive(Clone, Debug)]
pub struct Behaviour {
    pub tls: bool,
    /// `expires` granted at subscribe.
    pub expires: u64,
    /// Delay before answering the next subscribe requests, one entry each.
    pub subscribe_delays: Vec<Duration>,
    /// Pad subscribe responses to this many bytes.
    pub pad_subscribe_to: Option<usize>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            tls: false,
            expires: 3600,
            subscribe_delays: Vec::new(),
            pad_subscribe_to: None,
        }
    }
}

enum Control {
    Send(String),
    Close,
}

/// Notifications waiting for the client to take in the answer to a
/// request.
struct Held {
    method: String,
    path: String,
    frames: Vec<String>,
}

struct Shared {
    behaviour: Mutex<Behaviour>,
    seen: Mutex<Vec<Seen>>,
    notify: async_channel::Sender<()>,
    sockets: Mutex<Vec<async_channel::Sender<Control>>>,
    connections: AtomicUsize,
    held: Mutex<Vec<Held>>,
    event_ids: AtomicUsize,
    sdp_versions: AtomicUsize,
}

impl Shared {
    fn record(&self, seen: Seen) {
        self.seen.lock().unwrap().push(seen);
        let _ = self.notify.try_send(());
    }

    fn push(&self, text: &str) {
        for s in self.sockets.lock().unwrap().iter() {
            let _ = s.try_send(Control::Send(text.to_owned()));
        }
    }

    /// Pushes `frames` once the client took in the answer to this request.
    fn hold(&self, method: &str, path: &str, frames: Vec<String>) {
        self.held.lock().unwrap().push(Held {
            method: method.to_owned(),
            path: path.to_owned(),
            frames,
        });
    }

    /// The client took in an answer to `method path`: push what it held.
    fn release(&self, method: &str, path: &str) {
        let due: Vec<Held> = {
            let mut held = self.held.lock().unwrap();
            let (due, kept) = held
                .drain(..)
                .partition(|h| h.method == method && h.path == path);
            *held = kept;
            due
        };
        for h in due {
            for f in &h.frames {
                self.push(f);
            }
        }
    }

    /// A call notification, with a fresh `eventId`.
    fn notification(&self, event_type: &str, session: Value) -> String {
        let n = self.event_ids.fetch_add(1, Ordering::SeqCst) + 1;
        call_notification(event_type, &format!("gw-{n}"), session)
    }

    /// The far end's SDP, each one a new version.
    fn far_sdp(&self, direction: &str) -> String {
        let v = self.sdp_versions.fetch_add(1, Ordering::SeqCst) + 2;
        far_end_sdp(v, direction)
    }
}

/// A call notification from bob, as the gateway sends it.
pub fn call_notification(event_type: &str, event_id: &str, session: Value) -> String {
    json!({"notificationMessage": {
        "eventType": event_type,
        "eventId": event_id,
        "sessionParams": session,
        "callNotificationParams": {
            "remoteName": "Bob", "remoteDisplayNumber": "bob@example.com",
            "callerName": "Bob", "callerDisplayNumber": "bob@example.com"
        }
    }})
    .to_string()
}

/// The far end's audio SDP at `version`, with `direction` (`sendrecv`,
/// `inactive`, ...).
pub fn far_end_sdp(version: usize, direction: &str) -> String {
    format!("v=0\r\no=- 777 {version} IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 126\r\nc=IN IP4 127.0.0.1\r\na=ice-ufrag:b\r\na=ice-pwd:bpwd\r\na=fingerprint:sha-256 CC:DD\r\na=setup:active\r\na=mid:0\r\na={direction}\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:126 telephone-event/8000\r\n")
}

/// Tells the gateway when the client's driver took in the answer to a
/// request, so notifications that must follow it are pushed only then.
/// Give it to the client with `ClientBuilder::recorder`.
pub struct Gate {
    shared: Arc<Shared>,
    requests: HashMap<RequestId, (String, String)>,
}

impl Recorder for Gate {
    fn input(&mut self, input: &Input) {
        // Called before the core reduces the input: anything pushed now
        // reaches the driver after it.
        if let InputKind::HttpResponse { id, .. } = &input.kind {
            if let Some((method, path)) = self.requests.remove(id) {
                self.shared.release(&method, &path);
            }
        }
    }

    fn effect(&mut self, effect: &Effect) {
        if let Effect::Http(r) = effect {
            let path = r
                .url
                .split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
                .unwrap_or("/");
            let path = path.split('?').next().unwrap_or(path);
            self.requests
                .insert(r.id, (r.method.as_str().to_owned(), path.to_owned()));
        }
    }
}

pub struct FakeGateway {
    pub port: u16,
    shared: Arc<Shared>,
    notified: async_channel::Receiver<()>,
    _accept: Task<()>,
}

impl FakeGateway {
    pub fn start(behaviour: Behaviour) -> FakeGateway {
        let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
        let port = listener.get_ref().local_addr().unwrap().port();
        let (notify, notified) = async_channel::bounded(1);
        let tls = behaviour.tls.then(acceptor);
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(behaviour),
            seen: Mutex::new(Vec::new()),
            notify,
            sockets: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            held: Mutex::new(Vec::new()),
            event_ids: AtomicUsize::new(0),
            sdp_versions: AtomicUsize::new(0),
        });
        let s = shared.clone();
        let accept = smol::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let conn = s.connections.fetch_add(1, Ordering::SeqCst) + 1;
                let s = s.clone();
                let tls = tls.clone();
                smol::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve(stream, s, conn).await;
                            }
                        }
                        None => serve(stream, s, conn).await,
                    }
                })
                .detach();
            }
        });
        FakeGateway {
            port,
            shared,
            notified,
            _accept: accept,
        }
    }

    /// A client configuration pointing at this gateway.
    pub fn config(&self, extra: Value) -> Config {
        let secure = self.shared.behaviour.lock().unwrap().tls;
        Config::for_server("127.0.0.1", secure, self.port)
            .merge(&extra)
            .unwrap()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Waits until `check` finds what it wants in the record so far.
    pub async fn wait_until<T>(&self, mut check: impl FnMut(&[Seen]) -> Option<T>) -> T {
        loop {
            if let Some(t) = check(&self.shared.seen.lock().unwrap()) {
                return t;
            }
            self.notified.recv().await.unwrap();
        }
    }

    /// Waits until `n` records match.
    pub async fn wait_count(&self, n: usize, f: impl Fn(&Seen) -> bool) {
        self.wait_until(|seen| (seen.iter().filter(|s| f(s)).count() >= n).then_some(()))
            .await
    }

    /// Closes every open socket from the server side (1001 going away).
    pub fn close_sockets(&self) {
        for s in self.shared.sockets.lock().unwrap().drain(..) {
            let _ = s.try_send(Control::Close);
        }
    }

    /// Sends a text frame on every open socket.
    pub fn push(&self, text: &str) {
        self.shared.push(text);
    }

    /// The recorder that lets held notifications go (see [`Gate`]).
    pub fn gate(&self) -> Gate {
        Gate {
            shared: self.shared.clone(),
            requests: HashMap::new(),
        }
    }

    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

pub fn is_http(method: &'static str) -> impl Fn(&Seen) -> bool {
    move |s| matches!(s, Seen::Http { method: m, .. } if m == method)
}

/// Reads events until one matches.
pub async fn next_event(events: &mut Events, f: impl Fn(&Event) -> bool) -> Event {
    loop {
        let e = events.next().await.expect("event stream ended");
        if f(&e) {
            return e;
        }
    }
}

fn acceptor() -> futures_rustls::TlsAcceptor {
    let certs = rustls_pemfile::certs(&mut &SERVER_PEM[..])
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut &SERVER_KEY[..])
        .unwrap()
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    futures_rustls::TlsAcceptor::from(Arc::new(config))
}

async fn serve<S>(stream: S, shared: Arc<Shared>, conn: usize)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(route(req, shared, conn).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(FuturesIo::new(stream), service)
        .with_upgrades()
        .await;
}

fn json_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

async fn route(
    mut req: Request<Incoming>,
    shared: Arc<Shared>,
    conn: usize,
) -> Response<Full<Bytes>> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    if req.headers().contains_key("upgrade") {
        return upgrade(&mut req, shared, path);
    }
    let authorization = req
        .headers()
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body).into_owned();
    shared.record(Seen::Http {
        conn,
        method: method.clone(),
        path: path.clone(),
        authorization: authorization.clone(),
        body: body.clone(),
    });
    let subscribe_path = format!("/rest/version/1/user/{USER}/subscription");
    match (method.as_str(), path.as_str()) {
        ("POST", p) if p == subscribe_path => {
            let good = format!(
                "basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
            );
            if !authorization.is_some_and(|a| a.eq_ignore_ascii_case(&good)) {
                return json_response(
                    StatusCode::UNAUTHORIZED,
                    r#"{"subscribeResponse":{"statusCode":1,"reason":"bad"}}"#.into(),
                );
            }
            let (delay, expires, pad) = {
                let mut b = shared.behaviour.lock().unwrap();
                let delay = (!b.subscribe_delays.is_empty()).then(|| b.subscribe_delays.remove(0));
                (delay, b.expires, b.pad_subscribe_to)
            };
            if let Some(d) = delay {
                Timer::after(d).await;
            }
            let services = serde_json::from_str::<Value>(&body).unwrap()["subscribeRequest"]
                ["service"]
                .clone();
            let mut response = json!({"subscribeResponse": {
                "statusCode": 0,
                "subscription": SUBSCRIPTION,
                "subscriptionParams": {
                    "notificationChannel": CHANNEL,
                    "expires": expires,
                    "service": services,
                    "sessionId": "session-1",
                }
            }});
            if let Some(n) = pad {
                response["padding"] = Value::String("x".repeat(n));
            }
            json_response(StatusCode::OK, response.to_string())
        }
        ("PUT", SUBSCRIPTION) => {
            let services = serde_json::from_str::<Value>(&body).unwrap()["subscribeRequest"]
                ["service"]
                .clone();
            let expires = shared.behaviour.lock().unwrap().expires;
            json_response(
                StatusCode::OK,
                json!({"subscribeResponse": {"statusCode": 0, "subscriptionParams": {"service": services, "expires": expires}}})
                    .to_string(),
            )
        }
        ("DELETE", SUBSCRIPTION) => json_response(
            StatusCode::OK,
            r#"{"subscribeResponse":{"statusCode":0}}"#.into(),
        ),
        ("POST", CALL_CONTROL) => {
            // A call start: the far end rings, then answers.
            let sdp = shared.far_sdp("sendrecv");
            let frames = vec![
                shared.notification("ringing", json!({"sessionData": OUTGOING_LEG})),
                shared.notification(
                    "respondCallUpdate",
                    json!({"sessionData": OUTGOING_LEG, "sdp": sdp}),
                ),
            ];
            shared.hold(&method, &path, frames);
            json_response(
                StatusCode::OK,
                json!({"callControlResponse": {"statusCode": 0, "sessionData": OUTGOING_LEG}})
                    .to_string(),
            )
        }
        ("PUT", p) if p.starts_with(CALL_SESSIONS) => {
            let leg = &p[CALL_SESSIONS.len()..];
            let request = serde_json::from_str::<Value>(&body).unwrap_or(Value::Null);
            let request = &request["callControlRequest"];
            if request["type"] == "startCallUpdate" {
                // The far end agrees to the update, mirroring a hold.
                let offer = request["sdp"].as_str().unwrap_or("");
                let direction = if offer.contains("a=inactive") {
                    "inactive"
                } else {
                    "sendrecv"
                };
                let sdp = shared.far_sdp(direction);
                let frames = vec![shared
                    .notification("respondCallUpdate", json!({"sessionData": leg, "sdp": sdp}))];
                shared.hold(&method, &path, frames);
            }
            json_response(
                StatusCode::OK,
                r#"{"callControlResponse":{"statusCode":0}}"#.into(),
            )
        }
        ("DELETE", p) if p.starts_with(CALL_SESSIONS) => json_response(
            StatusCode::OK,
            r#"{"callControlResponse":{"statusCode":0}}"#.into(),
        ),
        ("POST", CALL_DISPOSITION) => json_response(
            StatusCode::OK,
            r#"{"callDispositionResponse":{"statusCode":0}}"#.into(),
        ),
        _ => json_response(
            StatusCode::NOT_FOUND,
            r#"{"subscribeResponse":{"statusCode":404,"reason":"not found"}}"#.into(),
        ),
    }
}

fn upgrade(
    req: &mut Request<Incoming>,
    shared: Arc<Shared>,
    path: String,
) -> Response<Full<Bytes>> {
    let key = req.headers().get("sec-websocket-key").cloned();
    let (Some(key), true) = (key, path == CHANNEL) else {
        return json_response(StatusCode::NOT_FOUND, "{}".into());
    };
    let on_upgrade = hyper::upgrade::on(req);
    smol::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut ws = WebSocketStream::from_raw_socket(HyperIo(upgraded), Role::Server, None).await;
        let (tx, rx) = async_channel::bounded(16);
        shared.sockets.lock().unwrap().push(tx);
        shared.record(Seen::WsOpened { path });
        enum Step {
            In(Option<Result<Message, async_tungstenite::tungstenite::Error>>),
            Ctl(Option<Control>),
        }
        loop {
            let step = future::or(async { Step::In(ws.next().await) }, async {
                Step::Ctl(rx.recv().await.ok())
            })
            .await;
            match step {
                Step::In(Some(Ok(Message::Text(text)))) => shared.record(Seen::WsFrame { text }),
                Step::In(Some(Ok(Message::Close(frame)))) => {
                    shared.record(Seen::WsClosedByClient {
                        code: frame.map(|f| u16::from(f.code)),
                    });
                    while let Some(Ok(_)) = ws.next().await {}
                    return;
                }
                Step::In(Some(Ok(_))) => {}
                Step::In(_) => {
                    shared.record(Seen::WsClosedByClient { code: None });
                    return;
                }
                Step::Ctl(Some(Control::Send(text))) => {
                    let _ = ws.send(Message::Text(text)).await;
                }
                Step::Ctl(Some(Control::Close)) | Step::Ctl(None) => {
                    let _ = ws
                        .close(Some(CloseFrame {
                            code: CloseCode::Away,
                            reason: "bye".into(),
                        }))
                        .await;
                    while let Some(Ok(_)) = ws.next().await {}
                    return;
                }
            }
        }
    })
    .detach();
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", derive_accept_key(key.as_bytes()))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// hyper's upgraded connection as a futures-io stream, for tungstenite.
struct HyperIo(hyper::upgrade::Upgraded);

impl AsyncRead for HyperIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut rb = hyper::rt::ReadBuf::new(buf);
        match hyper::rt::Read::poll_read(Pin::new(&mut self.0), cx, rb.unfilled()) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for HyperIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_shutdown(Pin::new(&mut self.0), cx)
    }
}
