//! The real server over loopback: HTTP/1.1 (hyper client), WebSocket
//! (async-tungstenite client), TLS (rustls client trusting a certificate
//! made at test time). Every test starts its own server on 127.0.0.1:0,
//! stops it at the end, and is bounded by a timeout; nothing sleeps to wait
//! for a race (ordering on one socket is what proves a frame was not sent).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::{self, Message};
use async_tungstenite::WebSocketStream;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::client::conn::http1::SendRequest;
use hyper::header::HeaderMap;
use hyper::{Request, StatusCode};
use kandy_gateway::{
    basic_authorization, Gateway, GatewayConfig, Server, ServerConfig, ServerHandle,
    SubscriptionId, TlsFiles, Users,
};
use serde_json::{json, Map, Value};
use smol::io::{AsyncRead, AsyncWrite};
use smol::net::TcpStream;
use smol::{future, Timer};
use smol_hyper::rt::FuturesIo;

const TEST_TIMEOUT: Duration = Duration::from_secs(30);
const ORIGIN: &str = "http://app.example";

/// Runs a test body on smol, failing it if it takes too long.
fn run<F: std::future::Future<Output = ()>>(body: F) {
    smol::block_on(future::or(body, async {
        Timer::after(TEST_TIMEOUT).await;
        panic!("test timed out after {TEST_TIMEOUT:?}");
    }));
}

// ----- server fixture ------------------------------------------------------

struct TestServer {
    handle: ServerHandle,
    addr: SocketAddr,
    thread: std::thread::JoinHandle<()>,
}

fn start() -> TestServer {
    start_with(GatewayConfig::default(), ServerConfig::default())
}

fn start_with(gateway: GatewayConfig, mut config: ServerConfig) -> TestServer {
    // Most tests stop while their client holds a socket it no longer reads:
    // do not wait the default 2 s for its Close.
    config.shutdown_grace = Duration::from_millis(300);
    let gw = Gateway::new(gateway, Users::builtin(), [9; 32]);
    let server = Server::bind(config, gw).expect("bind 127.0.0.1:0");
    let handle = server.handle();
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    let thread = std::thread::spawn(move || server.run_blocking());
    TestServer {
        handle,
        addr,
        thread,
    }
}

impl TestServer {
    /// Shuts down and waits for `run` to resolve.
    async fn stop(self) {
        self.handle.shutdown();
        let thread = self.thread;
        smol::unblock(move || thread.join())
            .await
            .expect("server thread panicked");
    }
}

// ----- HTTP client -----------------------------------------------------------

type Body = BoxBody<Bytes, Infallible>;

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "status {} body {:?}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

async fn http_client<S>(io: S) -> SendRequest<Body>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(FuturesIo::new(io))
        .await
        .expect("HTTP handshake");
    smol::spawn(async move {
        let _ = conn.await;
    })
    .detach();
    sender
}

async fn connect(addr: SocketAddr) -> SendRequest<Body> {
    http_client(TcpStream::connect(addr).await.expect("connect")).await
}

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).boxed()
}

async fn send(client: &mut SendRequest<Body>, req: Request<Body>) -> Reply {
    client.ready().await.expect("connection ready");
    let resp = client.send_request(req).await.expect("response");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

fn sub_path(user: &str) -> String {
    format!("/rest/version/1/user/{user}/subscription")
}

fn subscribe_request(user: &str, password: &str) -> Request<Body> {
    let body = json!({"subscribeRequest": {
        "expires": 3600,
        "service": ["IM", "Presence", "call"],
        "localization": "English_US",
        "useTurn": true,
        "notificationType": "WebSocket"
    }});
    Request::post(sub_path(user))
        .header("host", "localhost")
        .header("origin", ORIGIN)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("authorization", basic_authorization(user, password))
        .body(full(body.to_string()))
        .expect("request")
}

struct Subscribed {
    id: SubscriptionId,
    path: String,
    channel: String,
}

async fn subscribe(client: &mut SendRequest<Body>, user: &str, password: &str) -> Subscribed {
    let reply = send(client, subscribe_request(user, password)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    let resp = &body["subscribeResponse"];
    let path = resp["subscription"]
        .as_str()
        .expect("subscription")
        .to_owned();
    let channel = resp["subscriptionParams"]["notificationChannel"]
        .as_str()
        .expect("channel")
        .to_owned();
    let id = SubscriptionId(path.rsplit('/').next().expect("id").to_owned());
    Subscribed { id, path, channel }
}

// ----- WebSocket client ------------------------------------------------------

async fn open_ws<S>(io: S, url: &str) -> WebSocketStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (ws, resp) = async_tungstenite::client_async(url, io)
        .await
        .expect("WebSocket handshake");
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws
}

async fn ws_connect(addr: SocketAddr, channel: &str) -> WebSocketStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    open_ws(tcp, &format!("ws://{addr}{channel}")).await
}

/// The next text frame (the server's Pings are skipped).
async fn next_text<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) -> String {
    use smol::stream::StreamExt;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return t,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Reads until the server's Close; fails on any text frame before it.
async fn expect_close<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
) -> Option<CloseFrame<'static>> {
    use smol::stream::StreamExt;
    loop {
        match ws.next().await {
            Some(Ok(Message::Close(frame))) => return frame,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            None | Some(Err(tungstenite::Error::ConnectionClosed)) => return None,
            other => panic!("expected a Close, got {other:?}"),
        }
    }
}

async fn send_text<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>, text: &str) {
    ws.send(Message::Text(text.to_owned()))
        .await
        .expect("send frame");
}

// ----- tests -----------------------------------------------------------------

#[test]
fn subscribe_over_http_with_basic_auth() {
    run(async {
        let server = start();
        let mut client = connect(server.addr).await;
        let reply = send(&mut client, subscribe_request("alice@example.com", "alice")).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("access-control-allow-origin"), Some(ORIGIN));
        assert_eq!(
            reply.header("content-length"),
            Some(reply.body.len().to_string().as_str())
        );
        let body = reply.json();
        let params = &body["subscribeResponse"]["subscriptionParams"];
        assert_eq!(body["subscribeResponse"]["statusCode"], 0);
        assert!(params["notificationChannel"]
            .as_str()
            .is_some_and(|c| c.starts_with("/rest/version/1/notificationChannel/")));
        assert_eq!(params["expires"], 3600);

        // Keep-alive: the same connection serves the next request, and the
        // model saw both.
        let again = send(&mut client, subscribe_request("bob@example.com", "bob")).await;
        assert_eq!(again.status, StatusCode::OK);
        let subs = server.handle.with_gateway(|g, _| g.stats().subscriptions);
        assert_eq!(subs, 2);

        // A wrong password is the model's 401, CORS origin included.
        let bad = send(&mut client, subscribe_request("alice@example.com", "nope")).await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
        assert_eq!(bad.header("access-control-allow-origin"), Some(ORIGIN));
        assert_eq!(bad.json()["subscribeResponse"]["statusCode"], 4);
        server.stop().await;
    });
}

#[test]
fn options_preflight_gets_the_models_cors_answer() {
    run(async {
        let server = start();
        let mut client = connect(server.addr).await;
        let req = Request::builder()
            .method("OPTIONS")
            .uri(sub_path("alice@example.com"))
            .header("host", "localhost")
            .header("origin", ORIGIN)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .body(full(Bytes::new()))
            .expect("request");
        let reply = send(&mut client, req).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
        assert!(reply.body.is_empty());
        assert_eq!(reply.header("access-control-allow-origin"), Some(ORIGIN));
        assert_eq!(reply.header("vary"), Some("Origin"));
        let methods = reply
            .header("access-control-allow-methods")
            .expect("allow-methods");
        assert!(methods.contains("PUT") && methods.contains("DELETE"));
        let allowed = reply
            .header("access-control-allow-headers")
            .expect("allow-headers");
        assert!(allowed.contains("authorization"));
        assert_eq!(reply.header("access-control-max-age"), Some("600"));
        // One value each: the server adds nothing that conflicts.
        assert_eq!(
            reply
                .headers
                .get_all("access-control-allow-origin")
                .iter()
                .count(),
            1
        );
        server.stop().await;
    });
}

#[test]
fn websocket_keepalive_ping_gets_nothing_and_conncheck_gets_connack() {
    run(async {
        let server = start();
        let mut client = connect(server.addr).await;
        let sub = subscribe(&mut client, "alice@example.com", "alice").await;
        let mut ws = ws_connect(server.addr, &sub.channel).await;
        send_text(&mut ws, r#"{"message_type":"ping"}"#).await;
        send_text(&mut ws, r#"{"connCheck":{"interval":30}}"#).await;
        // Frames on one socket keep their order: had the ping been answered,
        // that answer would come first.
        let first = next_text(&mut ws).await;
        assert_eq!(
            serde_json::from_str::<Value>(&first).ok(),
            Some(json!({"connAck":{}}))
        );
        // Binary frames are ignored, the socket stays usable.
        ws.send(Message::Binary(vec![1, 2, 3]))
            .await
            .expect("binary");
        send_text(&mut ws, r#"{"connCheck":{"interval":30}}"#).await;
        assert_eq!(next_text(&mut ws).await, r#"{"connAck":{}}"#);
        let stats = server.handle.stats();
        assert_eq!(stats.websockets, 1);
        assert_eq!(
            server
                .handle
                .with_gateway(|g, _| g.stats().attached_sockets),
            1
        );

        // A notification pushed through the hook reaches the socket.
        let mut params = Map::new();
        params.insert("text".into(), json!("hi"));
        let reached = server
            .handle
            .with_gateway(|g, now| g.push_notification(now, "alice@example.com", "IM", &params));
        assert_eq!(reached, 1);
        let note: Value = serde_json::from_str(&next_text(&mut ws).await).expect("JSON");
        assert_eq!(note["notificationMessage"]["eventType"], "IM");
        assert_eq!(note["notificationMessage"]["text"], "hi");
        server.stop().await;
    });
}

#[test]
fn terminate_hook_sends_gone_then_closes() {
    run(async {
        let server = start();
        let mut client = connect(server.addr).await;
        let sub = subscribe(&mut client, "alice@example.com", "alice").await;
        let mut ws = ws_connect(server.addr, &sub.channel).await;
        let existed = server
            .handle
            .with_gateway(|g, now| g.terminate_subscription(now, &sub.id, Some(5)));
        assert!(existed);
        let gone: Value = serde_json::from_str(&next_text(&mut ws).await).expect("JSON");
        assert_eq!(gone["notificationMessage"]["eventType"], "gone");
        let close = expect_close(&mut ws).await;
        assert_eq!(close.map(|f| f.code), Some(CloseCode::Normal));
        // The channel is dead now: a new upgrade is refused.
        let tcp = TcpStream::connect(server.addr).await.expect("connect");
        let url = format!("ws://{}{}", server.addr, sub.channel);
        match async_tungstenite::client_async(url, tcp).await {
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 404),
            other => panic!("expected a 404 refusal, got {other:?}"),
        }
        server.stop().await;
    });
}

#[test]
fn upgrade_on_unknown_channel_is_refused_before_upgrading() {
    run(async {
        let server = start();
        let tcp = TcpStream::connect(server.addr).await.expect("connect");
        let url = format!(
            "ws://{}/rest/version/1/notificationChannel/{}",
            server.addr,
            "0".repeat(32)
        );
        match async_tungstenite::client_async(url, tcp).await {
            Err(tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), StatusCode::NOT_FOUND);
                assert_eq!(
                    resp.headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok()),
                    Some("application/json")
                );
                let body: Value =
                    serde_json::from_slice(resp.body().as_deref().unwrap_or_default())
                        .expect("JSON");
                assert_eq!(body["subscribeResponse"]["statusCode"], 39);
            }
            other => panic!("expected a 404 refusal, got {other:?}"),
        }
        assert_eq!(server.handle.stats().websockets, 0);
        assert_eq!(server.handle.with_gateway(|g, _| g.stats().open_sockets), 0);
        server.stop().await;
    });
}

#[test]
fn malformed_upgrade_requests_are_refused() {
    run(async {
        let server = start();
        let mut client = connect(server.addr).await;
        let sub = subscribe(&mut client, "alice@example.com", "alice").await;
        let upgrade = |version: &str, key: Option<&str>| {
            let mut b = Request::get(sub.channel.as_str())
                .header("host", "localhost")
                .header("connection", "Upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-version", version);
            if let Some(key) = key {
                b = b.header("sec-websocket-key", key);
            }
            b.body(full(Bytes::new())).expect("request")
        };
        let no_key = send(&mut client, upgrade("13", None)).await;
        assert_eq!(no_key.status, StatusCode::BAD_REQUEST);
        let bad_key = send(&mut client, upgrade("13", Some("short"))).await;
        assert_eq!(bad_key.status, StatusCode::BAD_REQUEST);
        let old = send(&mut client, upgrade("8", Some("dGhlIHNhbXBsZSBub25jZQ=="))).await;
        assert_eq!(old.status, StatusCode::UPGRADE_REQUIRED);
        assert_eq!(old.header("sec-websocket-version"), Some("13"));
        // None of them reached the model; the channel still works.
        assert_eq!(server.handle.with_gateway(|g, _| g.stats().open_sockets), 0);
        let mut ws = ws_connect(server.addr, &sub.channel).await;
        send_text(&mut ws, r#"{"connCheck":{"interval":30}}"#).await;
        assert_eq!(next_text(&mut ws).await, r#"{"connAck":{}}"#);
        server.stop().await;
    });
}

#[test]
fn malformed_json_is_400_and_the_server_keeps_serving() {
    run(async {
        let server = start();
        let mut client = connect(server.addr).await;
        let req = Request::post(sub_path("alice@example.com"))
            .header("host", "localhost")
            .header("content-type", "application/json")
            .header(
                "authorization",
                basic_authorization("alice@example.com", "alice"),
            )
            .body(full("{\"subscribeRequest\": {"))
            .expect("request");
        let reply = send(&mut client, req).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.json()["subscribeResponse"]["statusCode"], 37);
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
        // Not UTF-8 at all.
        let req = Request::post(sub_path("alice@example.com"))
            .header("host", "localhost")
            .header(
                "authorization",
                basic_authorization("alice@example.com", "alice"),
            )
            .body(full(vec![0xff, 0xfe, 0x00]))
            .expect("request");
        assert_eq!(send(&mut client, req).await.status, StatusCode::BAD_REQUEST);
        // The same connection and other clients are still served.
        let _ = subscribe(&mut client, "alice@example.com", "alice").await;
        let mut others = Vec::new();
        for user in ["bob", "carol"] {
            let addr = server.addr;
            others.push(smol::spawn(async move {
                let mut c = connect(addr).await;
                subscribe(&mut c, &format!("{user}@example.com"), user)
                    .await
                    .channel
            }));
        }
        for task in others {
            assert!(!task.await.is_empty());
        }
        server.stop().await;
    });
}

#[test]
fn oversized_bodies_get_the_models_413() {
    run(async {
        let gateway = GatewayConfig {
            max_body_bytes: 1024,
            ..GatewayConfig::default()
        };
        let server = start_with(gateway, ServerConfig::default());
        let post = |body: Body| {
            Request::post(sub_path("alice@example.com"))
                .header("host", "localhost")
                .header("content-type", "application/json")
                .header(
                    "authorization",
                    basic_authorization("alice@example.com", "alice"),
                )
                .body(body)
                .expect("request")
        };
        // Declared length over the limit: refused without reading it.
        let mut client = connect(server.addr).await;
        let reply = send(&mut client, post(full(vec![b' '; 4096]))).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(reply.json()["subscribeResponse"]["statusCode"], 37);
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));

        // Chunked, no length: the limit applies while reading.
        let mut client = connect(server.addr).await;
        let chunks = smol::stream::iter(vec![
            Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b' '; 700]))),
            Ok(Frame::data(Bytes::from(vec![b' '; 700]))),
        ]);
        let reply = send(&mut client, post(StreamBody::new(chunks).boxed())).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);

        // Exactly the limit is fine (as far as size goes).
        let mut body = json!({"subscribeRequest": {
            "expires": 60, "service": ["IM"], "notificationType": "WebSocket"
        }})
        .to_string();
        body.push_str(&" ".repeat(1024 - body.len()));
        let mut client = connect(server.addr).await;
        let reply = send(&mut client, post(full(body))).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        server.stop().await;
    });
}

#[test]
fn delete_leaves_the_socket_open_until_the_grace_ends() {
    run(async {
        let gateway = GatewayConfig {
            delete_grace_ms: 300,
            ..GatewayConfig::default()
        };
        let server = start_with(gateway, ServerConfig::default());
        let mut client = connect(server.addr).await;
        let sub = subscribe(&mut client, "alice@example.com", "alice").await;
        let mut ws = ws_connect(server.addr, &sub.channel).await;
        let req = Request::delete(sub.path.as_str())
            .header("host", "localhost")
            .header("content-type", "application/json")
            .header(
                "authorization",
                basic_authorization("alice@example.com", "alice"),
            )
            .body(full(Bytes::new()))
            .expect("request");
        let reply = send(&mut client, req).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json(), json!({"subscribeResponse":{"statusCode":0}}));
        let deleted_at = std::time::Instant::now();
        // No `gone`, and the socket still answers until the grace is over.
        send_text(&mut ws, r#"{"connCheck":{"interval":30}}"#).await;
        assert_eq!(next_text(&mut ws).await, r#"{"connAck":{}}"#);
        let close = expect_close(&mut ws).await;
        assert_eq!(close.map(|f| f.code), Some(CloseCode::Normal));
        assert!(deleted_at.elapsed() >= Duration::from_millis(250));
        assert_eq!(server.handle.with_gateway(|g, _| g.stats().open_sockets), 0);
        server.stop().await;
    });
}

#[test]
fn expiry_is_driven_by_the_timer_task() {
    run(async {
        let gateway = GatewayConfig {
            min_expires_s: 1,
            max_expires_s: 1,
            ..GatewayConfig::default()
        };
        let server = start_with(gateway, ServerConfig::default());
        let mut client = connect(server.addr).await;
        let sub = subscribe(&mut client, "alice@example.com", "alice").await;
        let mut ws = ws_connect(server.addr, &sub.channel).await;
        // Nothing but the timer task can produce this.
        let gone: Value = serde_json::from_str(&next_text(&mut ws).await).expect("JSON");
        assert_eq!(gone["notificationMessage"]["eventType"], "gone");
        assert!(expect_close(&mut ws).await.is_some());
        assert_eq!(
            server
                .handle
                .with_gateway(|g, _| g.stats().subscriptions_expired),
            1
        );
        server.stop().await;
    });
}

#[test]
fn a_client_that_does_not_read_is_dropped_and_the_model_told() {
    run(async {
        let config = ServerConfig {
            ws_send_queue: 2,
            ..ServerConfig::default()
        };
        let server = start_with(GatewayConfig::default(), config);
        let mut client = connect(server.addr).await;
        let sub = subscribe(&mut client, "alice@example.com", "alice").await;
        let ws = ws_connect(server.addr, &sub.channel).await;
        // The client never reads: once the kernel buffers are full, the
        // socket's queue fills and the server drops the socket.
        let mut params = Map::new();
        params.insert("blob".into(), json!("x".repeat(64 * 1024)));
        let mut pushed = 0;
        while server.handle.with_gateway(|g, _| g.stats().open_sockets) == 1 {
            assert!(pushed < 5_000, "the slow client was never dropped");
            server
                .handle
                .with_gateway(|g, now| g.push_notification_to(now, &sub.id, "IM", &params));
            pushed += 1;
        }
        // The subscription survives and buffers for a reconnect.
        let info = server
            .handle
            .with_gateway(|g, _| g.subscription(&sub.id))
            .expect("subscription alive");
        assert_eq!(info.socket, None);
        drop(ws);
        server.stop().await;
    });
}

#[test]
fn many_clients_at_once() {
    run(async {
        let server = start_with(
            GatewayConfig::default(),
            ServerConfig {
                threads: 2,
                ..ServerConfig::default()
            },
        );
        let tasks: Vec<_> = (0..24)
            .map(|i| {
                let addr = server.addr;
                smol::spawn(async move {
                    let (user, pw) = [
                        ("alice@example.com", "alice"),
                        ("bob@example.com", "bob"),
                        ("carol@example.com", "carol"),
                    ][i % 3];
                    let mut client = connect(addr).await;
                    let sub = subscribe(&mut client, user, pw).await;
                    let mut ws = ws_connect(addr, &sub.channel).await;
                    send_text(&mut ws, r#"{"connCheck":{"interval":30}}"#).await;
                    assert_eq!(next_text(&mut ws).await, r#"{"connAck":{}}"#);
                    ws
                })
            })
            .collect();
        let mut sockets = Vec::new();
        for t in tasks {
            sockets.push(t.await);
        }
        assert_eq!(server.handle.stats().websockets, 24);
        assert_eq!(
            server
                .handle
                .with_gateway(|g, _| g.stats().attached_sockets),
            24
        );
        server.stop().await;
    });
}

#[test]
fn shutdown_closes_sockets_and_run_resolves() {
    run(async {
        let server = start();
        let mut client = connect(server.addr).await;
        let sub = subscribe(&mut client, "alice@example.com", "alice").await;
        let mut ws = ws_connect(server.addr, &sub.channel).await;
        let addr = server.addr;
        let handle = server.handle.clone();
        let stopping = smol::spawn(server.stop());
        let close = expect_close(&mut ws).await;
        assert_eq!(close.map(|f| f.code), Some(CloseCode::Away));
        drop(ws);
        stopping.await;
        assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
        assert_eq!(handle.stats().websockets, 0);
    });
}

#[test]
fn pings_are_rfc6455_control_frames() {
    run(async {
        let config = ServerConfig {
            ws_ping_interval: Some(Duration::from_millis(100)),
            ..ServerConfig::default()
        };
        let server = start_with(GatewayConfig::default(), config);
        let mut client = connect(server.addr).await;
        let sub = subscribe(&mut client, "alice@example.com", "alice").await;
        let mut ws = ws_connect(server.addr, &sub.channel).await;
        use smol::stream::StreamExt;
        match ws.next().await {
            Some(Ok(Message::Ping(payload))) => assert!(payload.is_empty()),
            other => panic!("expected a Ping, got {other:?}"),
        }
        // Silence at the application level closes nothing: the socket is
        // still attached after a few pings (answered by the client library).
        for _ in 0..3 {
            assert!(matches!(ws.next().await, Some(Ok(Message::Ping(_)))));
        }
        assert_eq!(
            server
                .handle
                .with_gateway(|g, _| g.stats().attached_sockets),
            1
        );
        server.stop().await;
    });
}

// ----- TLS -----------------------------------------------------------------

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn tls_serves_https_and_wss() {
    run(async {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("self-signed certificate");
        let dir = TempDir(std::env::temp_dir().join(format!(
            "kandy-gateway-tls-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        )));
        std::fs::create_dir_all(&dir.0).expect("temp dir");
        let cert_path = dir.0.join("cert.pem");
        let key_path = dir.0.join("key.pem");
        std::fs::write(&cert_path, certified.cert.pem()).expect("write cert");
        std::fs::write(&key_path, certified.key_pair.serialize_pem()).expect("write key");

        let config = ServerConfig {
            tls: Some(TlsFiles::new(&cert_path, &key_path)),
            ..ServerConfig::default()
        };
        let server = start_with(GatewayConfig::default(), config);
        assert!(server.handle.base_url().starts_with("https://"));

        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(certified.cert.der().clone())
            .expect("trust anchor");
        let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = futures_rustls::TlsConnector::from(Arc::new(client_config));
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let tls_connect = || async {
            let tcp = TcpStream::connect(server.addr).await.expect("connect");
            connector
                .connect(name.clone(), tcp)
                .await
                .expect("TLS handshake")
        };

        let mut client = http_client(tls_connect().await).await;
        let sub = subscribe(&mut client, "alice@example.com", "alice").await;
        let url = format!("wss://localhost:{}{}", server.addr.port(), sub.channel);
        let mut ws = open_ws(tls_connect().await, &url).await;
        send_text(&mut ws, r#"{"connCheck":{"interval":30}}"#).await;
        assert_eq!(next_text(&mut ws).await, r#"{"connAck":{}}"#);

        // A plain-text client gets nothing useful from a TLS port.
        let mut plain = TcpStream::connect(server.addr).await.expect("connect");
        use smol::io::{AsyncReadExt, AsyncWriteExt};
        let _ = plain
            .write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
            .await;
        let mut buf = Vec::new();
        let _ = plain.read_to_end(&mut buf).await;
        assert!(!buf.starts_with(b"HTTP/1.1"));
        server.stop().await;
    });
}

#[test]
fn bad_tls_files_fail_at_bind() {
    let config = ServerConfig {
        tls: Some(TlsFiles::new(
            "/nonexistent/cert.pem",
            "/nonexistent/key.pem",
        )),
        ..ServerConfig::default()
    };
    let gw = Gateway::new(GatewayConfig::default(), Users::builtin(), [9; 32]);
    let err = Server::bind(config, gw).expect_err("missing files");
    assert!(matches!(err, kandy_gateway::ServerError::ReadFile { .. }));
}
