//! Session throughput and idle-socket memory of the real server.
//!
//! ```text
//! cargo bench -p kandy-gateway --bench gateway_sessions
//! ```
//!
//! (a) New sessions per second: one session is a subscribe (POST with Basic
//!     auth, on a keep-alive HTTP connection) plus a WebSocket opened on the
//!     returned channel (new TCP connection, handshake), then closed by the
//!     client (close handshake included in the rate, not in the latency).
//!     50 connectors run at once.
//! (b) Resident memory (VmRSS) of the server process with 10 000 idle
//!     subscribed clients, each with its socket open (and one connCheck round
//!     trip done, as a live client would).
//!
//! The server runs in a **separate process** (this executable re-executed
//! with `KANDY_BENCH_SERVE=1`, printing `PORT <n>` on stdout and serving
//! until its stdin closes), so the figures are the server's alone and the
//! load generator's memory does not pollute them. Both processes raise their
//! open-file limit to the hard limit (`ulimit -Hn` must allow about 10 100).
//! Its users are generated: `u{i}@bench.test`, password `pw`.
//!
//! Without `--bench` (e.g. `cargo test --benches`) it runs a small smoke
//! version.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use kandy_gateway::{
    basic_authorization, Gateway, GatewayConfig, Server, ServerConfig, UserRecord, Users,
};
use serde_json::{json, Value};
use smol::net::TcpStream;
use smol::stream::StreamExt;
use smol_hyper::rt::FuturesIo;

const SERVE_ENV: &str = "KANDY_BENCH_SERVE";
const USERS_ENV: &str = "KANDY_BENCH_USERS";
const THREADS_ENV: &str = "KANDY_BENCH_THREADS";
const CONNECTORS: usize = 50;

fn main() {
    raise_fd_limit();
    if std::env::var_os(SERVE_ENV).is_some() {
        serve();
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let (warmup, sessions, idle) = if full {
        (1_000, 10_000, 10_000)
    } else {
        (50, 200, 200)
    };
    println!(
        "kandy-gateway server bench ({}; {} cores, load average {})",
        if full {
            "full"
        } else {
            "smoke run, pass --bench for the real one"
        },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    );
    new_sessions(warmup, sessions);
    idle_memory(idle);
}

// ----- the server process ----------------------------------------------------

fn serve() {
    let users: usize = env_or(USERS_ENV, 10_000);
    let threads: usize = env_or(THREADS_ENV, 2);
    let records = (0..users)
        .map(|i| UserRecord::new(format!("u{i}@bench.test"), "pw"))
        .collect();
    let users = Users::new(records).expect("distinct generated users");
    let gateway = Gateway::new(GatewayConfig::default(), users, seed());
    let config = ServerConfig {
        threads,
        max_connections: 100_000,
        ..ServerConfig::default()
    };
    let server = Server::bind(config, gateway).expect("bind");
    let handle = server.handle();
    println!("PORT {}", server.local_addr().port());
    // Serve until the parent closes our stdin (or dies).
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        handle.shutdown();
    });
    server.run_blocking();
}

fn seed() -> [u8; 32] {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(&nanos.to_le_bytes());
    seed
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn raise_fd_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) if n < 10_200 => eprintln!(
            "warning: open-file limit is {n}; 10 000 idle clients need ~10 100 (raise `ulimit -Hn`)"
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot raise the open-file limit: {e}"),
    }
}

/// The server child and its port.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    fn start() -> Self {
        let exe = std::env::current_exe().expect("current_exe");
        let mut child = Command::new(exe)
            .env(SERVE_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the server process");
        let stdout = child.stdout.take().expect("child stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the port");
        let port: u16 = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected server output {line:?}"));
        Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// User + system CPU time consumed so far.
    fn cpu(&self) -> Duration {
        cpu_of(&format!("/proc/{}/stat", self.child.id()))
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmRSS")
    }

    /// Closes its stdin, then waits (bounded) for it to exit.
    fn stop(mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("warning: the server process did not stop; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime + stime of a process (fields 14 and 15 of `stat`, in clock ticks,
/// 100 per second on Linux).
fn cpu_of(stat_path: &str) -> Duration {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    // The command name may contain spaces: count fields after its `)`.
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

// ----- the client side -------------------------------------------------------

type Client = SendRequest<Full<Bytes>>;

async fn http_client(addr: SocketAddr) -> Client {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) = hyper::client::conn::http1::handshake(FuturesIo::new(tcp))
        .await
        .expect("HTTP handshake");
    smol::spawn(async move {
        let _ = conn.await;
    })
    .detach();
    sender
}

/// POST a subscription for `u{user}@bench.test`; returns its channel.
async fn subscribe(client: &mut Client, user: usize) -> String {
    let name = format!("u{user}@bench.test");
    let body = json!({"subscribeRequest": {
        "expires": 3600, "service": ["IM", "call"], "notificationType": "WebSocket"
    }});
    let req = Request::post(format!("/rest/version/1/user/{name}/subscription"))
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("authorization", basic_authorization(&name, "pw"))
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    client.ready().await.expect("HTTP connection");
    let resp = client.send_request(req).await.expect("subscribe response");
    assert_eq!(resp.status(), 200, "subscribe failed");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    body["subscribeResponse"]["subscriptionParams"]["notificationChannel"]
        .as_str()
        .expect("notificationChannel")
        .to_owned()
}

async fn open_socket(addr: SocketAddr, channel: &str) -> WebSocketStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let _ = tcp.set_nodelay(true);
    let (ws, _) = async_tungstenite::client_async(format!("ws://{addr}{channel}"), tcp)
        .await
        .expect("WebSocket handshake");
    ws
}

/// `count` sessions split over the connectors; returns each one's latency.
async fn run_sessions(
    addr: SocketAddr,
    first_user: usize,
    count: usize,
    users: usize,
) -> Vec<Duration> {
    let per = count.div_ceil(CONNECTORS);
    let tasks: Vec<_> = (0..CONNECTORS)
        .map(|c| {
            smol::spawn(async move {
                let mut client = http_client(addr).await;
                let mut latencies = Vec::with_capacity(per);
                for i in 0..per {
                    let n = c * per + i;
                    if n >= count {
                        break;
                    }
                    let started = Instant::now();
                    let channel = subscribe(&mut client, (first_user + n) % users).await;
                    let mut ws = open_socket(addr, &channel).await;
                    latencies.push(started.elapsed());
                    // A proper close: wait for the server's Close and its
                    // TCP close, so TIME_WAIT lands on the server side and
                    // does not slow down this side's next connects.
                    let _ = ws.close(None).await;
                    while let Some(Ok(_)) = ws.next().await {}
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::with_capacity(count);
    for t in tasks {
        all.extend(t.await);
    }
    all
}

fn new_sessions(warmup: usize, count: usize) {
    let server = ServerProcess::start();
    let users = env_or(USERS_ENV, 10_000);
    smol::block_on(async {
        run_sessions(server.addr, 0, warmup, users).await;
        let (server_cpu0, client_cpu0) = (server.cpu(), cpu_of("/proc/self/stat"));
        let started = Instant::now();
        let mut latencies = run_sessions(server.addr, warmup, count, users).await;
        let elapsed = started.elapsed();
        let server_cpu = server.cpu().saturating_sub(server_cpu0);
        let client_cpu = cpu_of("/proc/self/stat").saturating_sub(client_cpu0);
        latencies.sort();
        let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
        println!();
        println!("(a) new sessions (subscribe POST + WebSocket open), {CONNECTORS} concurrent connectors");
        println!(
            "    {} sessions in {:.2} s = {:.0} sessions/s",
            latencies.len(),
            elapsed.as_secs_f64(),
            latencies.len() as f64 / elapsed.as_secs_f64()
        );
        println!(
            "    latency per session: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            pct(50).as_secs_f64() * 1e3,
            pct(99).as_secs_f64() * 1e3,
            latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
        );
        println!(
            "    CPU: server process {:.2} s ({:.0} us/session), load generator {:.2} s (same 2 cores)",
            server_cpu.as_secs_f64(),
            server_cpu.as_secs_f64() * 1e6 / latencies.len() as f64,
            client_cpu.as_secs_f64()
        );
    });
    server.stop();
}

fn idle_memory(clients: usize) {
    let server = ServerProcess::start();
    let addr = server.addr;
    let before = server.rss_kib();
    let started = Instant::now();
    let sockets = smol::block_on(async {
        let per = clients.div_ceil(CONNECTORS);
        let tasks: Vec<_> = (0..CONNECTORS)
            .map(|c| {
                smol::spawn(async move {
                    let mut client = http_client(addr).await;
                    let mut sockets = Vec::with_capacity(per);
                    for n in (c * per..(c + 1) * per).take_while(|n| *n < clients) {
                        let channel = subscribe(&mut client, n).await;
                        let mut ws = open_socket(addr, &channel).await;
                        // One round trip, as a live client's connCheck: the
                        // server-side session is then fully set up.
                        ws.send(Message::Text(r#"{"connCheck":{"interval":30}}"#.into()))
                            .await
                            .expect("connCheck");
                        loop {
                            match ws.next().await {
                                Some(Ok(Message::Text(t))) => {
                                    assert_eq!(t, r#"{"connAck":{}}"#);
                                    break;
                                }
                                Some(Ok(_)) => {}
                                other => panic!("socket {n} failed: {other:?}"),
                            }
                        }
                        sockets.push(ws);
                    }
                    sockets
                })
            })
            .collect();
        let mut all = Vec::with_capacity(clients);
        for t in tasks {
            all.extend(t.await);
        }
        all
    });
    let setup = started.elapsed();
    let after = server.rss_kib();
    let delta = after.saturating_sub(before);
    println!();
    println!(
        "(b) server resident memory with {} idle subscribed clients (socket open)",
        sockets.len()
    );
    println!(
        "    VmRSS before {:.1} MiB, after {:.1} MiB, delta {:.1} MiB = {:.1} KiB per client (set up in {:.1} s)",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        delta as f64 / 1024.0,
        delta as f64 / sockets.len().max(1) as f64,
        setup.as_secs_f64()
    );
    drop(sockets);
    server.stop();
}
