//! `kandy demo`: the gateway emulator in-process and two users walking
//! through a session, each step shown as it happens.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{future, StreamExt};
use kandy::{
    BandwidthOptions, CallId, CallState, Client, Config, Credentials, Effect, Event, Events,
    FakeEngine, MakeOptions, MediaOptions, Recorder,
};
use kandy_gateway::server::{Server, ServerConfig, ServerHandle};
use kandy_gateway::{Gateway, GatewayConfig, Users};
use serde_json::json;
use std::sync::Mutex;

use crate::report::Report;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// One JSON object per step instead of readable lines.
    #[arg(long)]
    json: bool,
    /// Record each client's session into DIR (`alice.jsonl`, `bob.jsonl`),
    /// for `kandy replay`.
    #[arg(long, value_name = "DIR")]
    record: Option<std::path::PathBuf>,
}

pub fn run(args: Args) -> Result<(), String> {
    let report = Arc::new(Report::new(args.json));
    let gateway = Gateway::new(
        GatewayConfig::default(),
        Users::builtin(),
        crate::os_seed()?,
    );
    let server = Server::bind(ServerConfig::loopback(0), gateway).map_err(|e| e.to_string())?;
    let handle = server.handle();
    let thread = std::thread::spawn(move || server.run_blocking());
    report.step(
        "gateway",
        "listening",
        &format!("emulator listening on {} (in-process)", handle.base_url()),
        json!({"url": handle.base_url()}),
    );
    if let Some(dir) = &args.record {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let record = args.record.clone();
    let result = smol::block_on(future::or(
        session(Arc::clone(&report), &handle, record),
        async {
            smol::Timer::after(Duration::from_secs(30)).await;
            Err("the demo did not finish within 30 s".to_owned())
        },
    ));
    handle.shutdown();
    let _ = thread.join();
    report.step("gateway", "stopped", "emulator stopped", json!({}));
    result
}

/// Notes when a client sends a keepalive ping, through the recording hook
/// (the core emits no event for pings).
struct PingWatch(async_channel::Sender<Instant>);

impl Recorder for PingWatch {
    fn input(&mut self, _: &kandy::Input) {}

    fn effect(&mut self, effect: &Effect) {
        if let Effect::WsSend { text, .. } = effect {
            if text.contains("\"message_type\":\"ping\"") {
                let _ = self.0.try_send(Instant::now());
            }
        }
    }
}

struct User {
    name: &'static str,
    client: Client,
    /// For the demo's flow control (the printer has its own stream).
    waiter: Events,
    /// The scripted media engine (the real one is the str0m engine).
    engine: Arc<Mutex<FakeEngine>>,
    pings: async_channel::Receiver<Instant>,
    /// Prints the user's events as they arrive.
    printer: smol::Task<()>,
}

async fn session(
    report: Arc<Report>,
    gateway: &ServerHandle,
    record: Option<std::path::PathBuf>,
) -> Result<(), String> {
    let mut config = Config::for_server("127.0.0.1", false, gateway.local_addr().port());
    config.connectivity.check_connectivity = true;
    config.connectivity.ping_interval = 500;
    let mut users = Vec::new();
    for (seed, name) in [(1, "alice"), (2, "bob")] {
        let (tx, pings) = async_channel::bounded(16);
        let engine = Arc::new(Mutex::new(FakeEngine::new(name)));
        let mut builder = Client::builder(config.clone(), seed);
        if let Some(dir) = &record {
            builder = builder.record_to(dir.join(format!("{name}.jsonl")));
        }
        let client = builder
            .recorder(PingWatch(tx))
            .media_engine(Arc::clone(&engine))
            .build()
            .map_err(|e| e.to_string())?;
        let waiter = client.events();
        let printer = smol::spawn(print_events(Arc::clone(&report), name, client.events()));
        let username = format!("{name}@example.com");
        report.step(
            name,
            "connect",
            &format!("connecting as {username}"),
            json!({"user": username}),
        );
        client
            .connect(Credentials::password(username.as_str(), name))
            .await
            .map_err(|e| format!("{name} could not connect: {e}"))?;
        let services = client.services().await.map_err(|e| e.to_string())?;
        report.step(
            name,
            "subscribed",
            &format!(
                "subscribed to {} ({:?})",
                services.received.join(", "),
                services.status
            ),
            json!({"services": services.received, "status": services.status}),
        );
        users.push(User {
            name,
            client,
            waiter,
            engine,
            pings,
            printer,
        });
    }

    for u in &users {
        for n in 1..=2 {
            let at = u
                .pings
                .recv()
                .await
                .map_err(|_| format!("{} stopped pinging", u.name))?;
            report.step_at(
                at,
                u.name,
                "keepalive",
                &format!("keepalive ping {n} sent"),
                json!({"ping": n}),
            );
        }
    }

    let stats = gateway.with_gateway(|g, _| g.stats());
    report.step(
        "gateway",
        "sessions",
        &format!(
            "{} subscriptions, {} sockets attached",
            stats.subscriptions, stats.attached_sockets
        ),
        json!({"subscriptions": stats.subscriptions, "sockets": stats.attached_sockets}),
    );
    if stats.subscriptions != users.len() {
        return Err(format!(
            "the gateway holds {} subscriptions, expected {}",
            stats.subscriptions,
            users.len()
        ));
    }

    call_step(&report, &mut users).await?;

    for u in &users {
        u.client
            .disconnect()
            .await
            .map_err(|e| format!("{} could not disconnect: {e}", u.name))?;
    }
    // Dropping the clients ends their event streams; let the printers finish.
    for u in users {
        drop(u.client);
        u.printer.await;
    }
    let left = gateway.with_gateway(|g, _| g.stats().subscriptions);
    let expected = 2;
    report.step(
        "gateway",
        "sessions",
        &format!("{left} subscriptions left"),
        json!({"subscriptions": left}),
    );
    if left != 0 {
        return Err(format!(
            "{left} subscriptions left on the gateway after disconnect"
        ));
    }
    report.step(
        "demo",
        "done",
        &format!(
            "done: {expected} users connected, kept alive, called each other and disconnected"
        ),
        json!({}),
    );
    Ok(())
}

/// Waits for an event matching `pick` on a user's flow-control stream.
async fn wait_for<T>(
    u: &mut User,
    what: &str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> Result<T, String> {
    while let Some(e) = u.waiter.next().await {
        if let Some(t) = pick(&e) {
            return Ok(t);
        }
    }
    Err(format!(
        "{}: the event stream ended while waiting for {what}",
        u.name
    ))
}

fn state_of(e: &Event, want: CallState) -> Option<()> {
    matches!(e, Event::CallStateChange { state, error: None, .. } if *state == want).then_some(())
}

/// Alice calls bob, bob answers, alice holds and resumes, sends DTMF and
/// hangs up (signalling through the gateway; the media engine is the
/// scripted one, so no packets flow).
async fn call_step(report: &Report, users: &mut [User]) -> Result<(), String> {
    let [alice, bob] = users else {
        return Err("the demo needs two users".into());
    };
    let err = |e: kandy::Error| e.to_string();
    let a: CallId = alice
        .client
        .call()
        .make("bob", MediaOptions::audio(), MakeOptions::new())
        .await
        .map_err(err)?;
    let b = wait_for(bob, "the incoming call", |e| match e {
        Event::CallReceive { call_id } => Some(call_id.clone()),
        _ => None,
    })
    .await?;
    bob.client
        .call()
        .answer(&b, MediaOptions::audio(), BandwidthOptions::default())
        .await
        .map_err(err)?;
    wait_for(alice, "the answer", |e| state_of(e, CallState::Connected)).await?;
    wait_for(bob, "connected", |e| state_of(e, CallState::Connected)).await?;
    report.step("demo", "call", "alice and bob are in a call", json!({}));

    alice.client.call().hold(&a).await.map_err(err)?;
    wait_for(alice, "hold", |e| state_of(e, CallState::OnHold)).await?;
    wait_for(bob, "remote hold", |e| state_of(e, CallState::OnHold)).await?;
    alice.client.call().unhold(&a).await.map_err(err)?;
    wait_for(alice, "unhold", |e| state_of(e, CallState::Connected)).await?;
    wait_for(bob, "remote unhold", |e| state_of(e, CallState::Connected)).await?;

    alice
        .client
        .call()
        .send_dtmf(&a, "1234#", None, None)
        .await
        .map_err(err)?;
    let sent = alice
        .engine
        .lock()
        .map(|e| e.peers.get(&a).map(|p| p.dtmf.clone()).unwrap_or_default())
        .unwrap_or_default();
    report.step(
        "alice",
        "dtmf",
        &format!("DTMF {sent} handed to the media engine"),
        json!({"tones": sent}),
    );
    if sent != "1234#" {
        return Err(format!("DTMF tones {sent:?} instead of \"1234#\""));
    }

    alice.client.call().end(&a).await.map_err(err)?;
    wait_for(bob, "the hang-up", |e| state_of(e, CallState::Ended)).await?;
    report.step("demo", "call", "the call is over on both sides", json!({}));
    Ok(())
}

/// Prints a user's events as they arrive, until the client is dropped.
async fn print_events(report: Arc<Report>, name: &'static str, mut events: Events) {
    while let Some(event) = events.next().await {
        let (step, text) = describe(&event);
        if text.is_empty() {
            continue;
        }
        let fields = serde_json::to_value(&event).unwrap_or_default();
        report.step(name, step, &text, json!({"event": fields}));
    }
}

fn describe(event: &Event) -> (&'static str, String) {
    use kandy::{ConnectionStatus as C, SocketStatus as S};
    match event {
        Event::AuthChange {
            status: C::Connecting,
            ..
        } => ("auth:change", "connecting: subscribe request sent".into()),
        Event::AuthChange {
            status: C::Connected,
            ..
        } => ("auth:change", "connected".into()),
        Event::AuthChange {
            status: C::Disconnecting,
            ..
        } => (
            "auth:change",
            "disconnecting: unsubscribe request sent".into(),
        ),
        Event::AuthChange {
            status: C::Disconnected,
            reason,
            ..
        } => match reason {
            Some(r) => ("auth:change", format!("disconnected ({r:?})")),
            None => ("auth:change", "disconnected".into()),
        },
        Event::WsChange {
            status: S::Connecting,
            ..
        } => ("ws:change", "opening the notification socket".into()),
        Event::WsChange {
            status: S::Connected,
            ..
        } => ("ws:change", "notification socket open".into()),
        Event::WsChange {
            status: S::Closed, ..
        } => ("ws:change", "notification socket closed".into()),
        Event::WsChange {
            status: S::Lost, ..
        } => ("ws:change", "notification socket lost".into()),
        Event::AuthResub { is_failure, .. } => (
            "auth:resub",
            format!("subscription refreshed (failure: {is_failure})"),
        ),
        Event::AuthError { error } => ("auth:error", format!("error: {error}")),
        Event::CallStart { .. } => ("call:start", "calling: the gateway has the call".into()),
        Event::CallReceive { .. } => ("call:receive", "incoming call ringing".into()),
        Event::CallStateChange {
            state,
            previous,
            transition,
            error,
            ..
        } => {
            let mut text = format!("call {:?} -> {state:?}", previous.state);
            if let Some(t) = transition.as_ref().and_then(|t| t.reason_text.clone()) {
                text.push_str(&format!(" ({t})"));
            }
            if let Some(e) = error {
                text.push_str(&format!(" error {e}"));
            }
            ("call:stateChange", text)
        }
        Event::CallNewTrack { local, .. } => (
            "call:newTrack",
            format!("{} track added", if *local { "local" } else { "remote" }),
        ),
        Event::CallTrackEnded { local, .. } => (
            "call:trackEnded",
            format!("{} track ended", if *local { "local" } else { "remote" }),
        ),
        Event::NotificationReceived { .. } | Event::UnknownNotification { .. } => {
            ("notification", String::new())
        }
        other => ("event", format!("{other:?}")),
    }
}
