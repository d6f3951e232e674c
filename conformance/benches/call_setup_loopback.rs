//! Call setup + teardown per second over loopback: the real gateway server
//! on `127.0.0.1:0` and real `kandy::Client`s (HTTP + WebSocket) with the
//! fake media engine.
//!
//! ```text
//! cargo bench -p kandy-conformance --bench call_setup_loopback
//! ```
//!
//! 100 clients in 50 pairs, so 50 calls are in flight. Each pair loops:
//! A `make`s a call to B → B gets `call:receive` (after its ringing PUT) →
//! B `answer`s → A is Connected (the answer relayed as
//! `respondCallUpdate`) → A `end`s → B is Ended (`callEnd`). One loop is
//! one call: 6 REST requests (POST callStart, PUT ringing, PUT callAnswer,
//! DELETE, and none for B's end) and 4 notifications, through the whole
//! stack (core, transport-ws driver, hyper, async-tungstenite, the server,
//! the gateway model). Figures: calls per second over the measured span,
//! and the latencies of setup (make → A Connected) and of the whole loop.
//!
//! The gateway holds a new leg's first notifications back for
//! `calls.first_notification_delay_ms` (02-calls §7.4 rule 1, default 200
//! ms) — a fixed delay per call that would cap 50 pairs at 250 calls/s
//! whatever the stack's speed. The bench sets it to 10 ms (still ahead of
//! any loopback race it guards against); `KANDY_BENCH_HOLDBACK_MS`
//! changes it. `KANDY_BENCH_PAIRS`, `KANDY_BENCH_CLIENT_THREADS` (threads
//! running the 100 clients' drivers and the pair loops, default 2) and
//! `KANDY_BENCH_SERVER_THREADS` (default 1; the model is behind one lock,
//! and on 2 cores a second server thread only takes time from the
//! clients) change the rest. Server and clients share the process and the
//! machine's cores: the figure is the whole stack's, both ends included.
//!
//! Without `--bench` (e.g. `cargo test --benches`) it runs a small smoke
//! version.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::{future, StreamExt};
use kandy::{
    BandwidthOptions, CallId, CallState, Client, Config, Credentials, Event, Events, FakeEngine,
    MakeOptions, MediaOptions,
};
use kandy_gateway::{
    CallConfig, Gateway, GatewayConfig, Server, ServerConfig, ServerHandle, UserRecord, Users,
};

/// Longest any one step may take before the bench gives up.
const STEP: Duration = Duration::from_secs(10);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn user(i: usize) -> String {
    format!("u{i}@bench.test")
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let pairs: usize = env_or("KANDY_BENCH_PAIRS", if full { 50 } else { 5 });
    let holdback: u64 = env_or("KANDY_BENCH_HOLDBACK_MS", 10);
    let client_threads: usize = env_or("KANDY_BENCH_CLIENT_THREADS", 2);
    let server_threads: usize = env_or("KANDY_BENCH_SERVER_THREADS", 1);
    let (warmup, span) = if full {
        (Duration::from_secs(3), Duration::from_secs(10))
    } else {
        (Duration::from_millis(300), Duration::from_secs(1))
    };
    println!(
        "kandy call setup + teardown over loopback ({}; {} cores, load average {})",
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
    println!(
        "{pairs} pairs ({} clients, {pairs} calls in flight), hold-back {holdback} ms, \
         {client_threads} client thread(s), {server_threads} server thread(s)",
        2 * pairs
    );

    let server = start_server(2 * pairs, holdback, server_threads);
    let port = server.local_addr().port();

    // The clients' drivers and the pair loops run on their own executor.
    let ex = Arc::new(smol::Executor::<'static>::new());
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    let threads: Vec<_> = (0..client_threads)
        .map(|_| {
            let ex = Arc::clone(&ex);
            let stop = stop_rx.clone();
            std::thread::spawn(move || smol::block_on(ex.run(stop.recv())))
        })
        .collect();

    let result = smol::block_on(run(Arc::clone(&ex), port, pairs, warmup, span));
    drop(stop_tx);
    for t in threads {
        let _ = t.join();
    }
    server.shutdown();

    let Measured {
        calls,
        elapsed,
        mut setup,
        mut cycle,
    } = result;
    let rate = calls as f64 / elapsed.as_secs_f64();
    println!(
        "calls (setup + teardown): {calls} in {:.2} s = {rate:.0} per second",
        elapsed.as_secs_f64()
    );
    println!(
        "setup (make → caller Connected): {}",
        percentiles(&mut setup)
    );
    println!(
        "whole call (make → callee Ended): {}",
        percentiles(&mut cycle)
    );
    if full && rate < 500.0 {
        println!("below the target of 500 calls per second");
    }
}

fn start_server(users: usize, holdback: u64, threads: usize) -> ServerHandle {
    let records = (0..users).map(|i| UserRecord::new(user(i), "pw")).collect();
    let users = Users::new(records).expect("distinct generated users");
    let config = GatewayConfig {
        calls: CallConfig {
            first_notification_delay_ms: holdback,
            ..CallConfig::default()
        },
        ..GatewayConfig::default()
    };
    let gateway = Gateway::new(config, users, [9; 32]);
    let server = Server::bind(
        ServerConfig {
            threads,
            ..ServerConfig::loopback(0)
        },
        gateway,
    )
    .expect("bind 127.0.0.1:0");
    let handle = server.handle();
    std::thread::spawn(move || server.run_blocking());
    handle
}

struct Measured {
    calls: u64,
    elapsed: Duration,
    setup: Vec<Duration>,
    cycle: Vec<Duration>,
}

/// Shared by the pair loops.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    measuring: AtomicBool,
    calls: AtomicU64,
    /// (setup, whole call) of the calls done while measuring.
    latencies: Mutex<Vec<(Duration, Duration)>>,
}

async fn run(
    ex: Arc<smol::Executor<'static>>,
    port: u16,
    pairs: usize,
    warmup: Duration,
    span: Duration,
) -> Measured {
    let mut clients = Vec::new();
    for i in 0..2 * pairs {
        let config = Config::for_server("127.0.0.1", false, port);
        let client = Client::builder(config, i as u64 + 1)
            .executor(Arc::clone(&ex))
            .media_engine(FakeEngine::new(format!("c{i}")))
            .build()
            .expect("client");
        let events = client.events();
        let connect = client.connect(Credentials::password(user(i), "pw"));
        bounded("connect", connect)
            .await
            .unwrap_or_else(|e| panic!("client {i} cannot connect: {e}"));
        clients.push((client, events));
    }

    let shared = Arc::new(Shared::default());
    let mut loops = Vec::new();
    let mut it = clients.into_iter().enumerate();
    while let (Some((_, a)), Some((j, b))) = (it.next(), it.next()) {
        let shared = Arc::clone(&shared);
        loops.push(ex.spawn(pair_loop(a, b, user(j), shared)));
    }

    smol::Timer::after(warmup).await;
    shared.calls.store(0, Ordering::SeqCst);
    shared.measuring.store(true, Ordering::SeqCst);
    let start = Instant::now();
    smol::Timer::after(span).await;
    let calls = shared.calls.load(Ordering::SeqCst);
    let elapsed = start.elapsed();
    shared.measuring.store(false, Ordering::SeqCst);
    shared.stop.store(true, Ordering::SeqCst);
    let mut pairs_left = Vec::new();
    for l in loops {
        pairs_left.push(bounded("a pair to stop", l).await);
    }
    for (a, b) in pairs_left {
        let _ = bounded("disconnect", a.disconnect()).await;
        let _ = bounded("disconnect", b.disconnect()).await;
    }
    let latencies = std::mem::take(&mut *shared.latencies.lock().expect("latencies"));
    let (setup, cycle) = latencies.into_iter().unzip();
    Measured {
        calls,
        elapsed,
        setup,
        cycle,
    }
}

/// One pair's loop of calls; gives the clients back when stopped.
async fn pair_loop(
    (a, mut a_events): (Client, Events),
    (b, mut b_events): (Client, Events),
    b_user: String,
    shared: Arc<Shared>,
) -> (Client, Client) {
    while !shared.stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        let id = bounded(
            "make",
            a.call()
                .make(&b_user, MediaOptions::audio(), MakeOptions::default()),
        )
        .await
        .expect("make");
        let incoming = next(&mut b_events, "call:receive", |e| match e {
            Event::CallReceive { call_id } => Some(call_id.clone()),
            _ => None,
        })
        .await;
        bounded(
            "answer",
            b.call().answer(
                &incoming,
                MediaOptions::audio(),
                BandwidthOptions::default(),
            ),
        )
        .await
        .expect("answer");
        reached(&mut a_events, &id, CallState::Connected).await;
        let setup = t0.elapsed();
        bounded("end", a.call().end(&id)).await.expect("end");
        reached(&mut b_events, &incoming, CallState::Ended).await;
        let cycle = t0.elapsed();
        if shared.measuring.load(Ordering::Relaxed) {
            shared.calls.fetch_add(1, Ordering::Relaxed);
            shared
                .latencies
                .lock()
                .expect("latencies")
                .push((setup, cycle));
        }
    }
    (a, b)
}

/// Waits for the call to reach `state`; any failure stops the bench.
async fn reached(events: &mut Events, id: &CallId, state: CallState) {
    next(events, "a call state", |e| match e {
        Event::CallStateChange {
            call_id,
            state: s,
            error,
            ..
        } if call_id == id => {
            if *s == CallState::Ended && state != CallState::Ended {
                panic!("call ended early: {e:?}");
            }
            assert!(error.is_none(), "{e:?}");
            (*s == state).then_some(())
        }
        _ => None,
    })
    .await
}

/// The first event `pick` takes, skipping the others.
async fn next<T>(events: &mut Events, what: &str, pick: impl Fn(&Event) -> Option<T>) -> T {
    bounded(what, async {
        loop {
            match events.next().await {
                Some(e) => {
                    if let Some(t) = pick(&e) {
                        return t;
                    }
                }
                None => panic!("events ended while waiting for {what}"),
            }
        }
    })
    .await
}

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match future::or(async { Some(f.await) }, async {
        smol::Timer::after(STEP).await;
        None
    })
    .await
    {
        Some(t) => t,
        None => panic!("{what} took more than {STEP:?}"),
    }
}

fn percentiles(samples: &mut [Duration]) -> String {
    if samples.is_empty() {
        return "no samples".into();
    }
    samples.sort();
    let at = |p: f64| {
        let i = ((samples.len() - 1) as f64 * p).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    };
    format!(
        "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}
