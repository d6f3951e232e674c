//! `kandy demo`: the gateway emulator in-process and two users walking
//! through a session, each step shown as it happens.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{future, StreamExt};
use kandy::{Client, Config, Credentials, Effect, Event, Events, Recorder};
use kandy_gateway::server::{Server, ServerConfig, ServerHandle};
use kandy_gateway::{Gateway, GatewayConfig, Users};
use serde_json::json;

use crate::report::Report;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// One JSON object per step instead of readable lines.
    #[arg(long)]
    json: bool,
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
    let result = smol::block_on(future::or(session(Arc::clone(&report), &handle), async {
        smol::Timer::after(Duration::from_secs(30)).await;
        Err("the demo did not finish within 30 s".to_owned())
    }));
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
    pings: async_channel::Receiver<Instant>,
    /// Prints the user's events as they arrive.
    printer: smol::Task<()>,
}

async fn session(report: Arc<Report>, gateway: &ServerHandle) -> Result<(), String> {
    let mut config = Config::for_server("127.0.0.1", false, gateway.local_addr().port());
    config.connectivity.check_connectivity = true;
    config.connectivity.ping_interval = 500;
    let mut users = Vec::new();
    for (seed, name) in [(1, "alice"), (2, "bob")] {
        let (tx, pings) = async_channel::bounded(16);
        let client = Client::builder(config.clone(), seed)
            .recorder(PingWatch(tx))
            .build()
            .map_err(|e| e.to_string())?;
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
        &format!("done: {expected} users connected, kept alive and disconnected"),
        json!({}),
    );
    Ok(())
}

/// Prints a user's events as they arrive, until the client is dropped.
async fn print_events(report: Arc<Report>, name: &'static str, mut events: Events) {
    while let Some(event) = events.next().await {
        let (step, text) = describe(&event);
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
        other => ("event", format!("{other:?}")),
    }
}
