//! `core_session`: the cost of reducing one WebSocket notification on a
//! connected client (a mix of IM and presence notifications with distinct
//! ids), and the memory held after 1,000,000 of them (flat once the id cache
//! is full: the process's resident set is read after 100,000 and after
//! 1,000,000).
//!
//! Run: `cargo bench -p kandy-core --bench core_session`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kandy_core::config::LogLevel;
use kandy_core::{
    Client, Command, Config, Credentials, HttpOutcome, Input, InputKind, Now, RequestId, SocketId,
};

fn connected(logs: LogLevel) -> Client {
    let mut config = Config::for_server("gw.test", true, 443);
    config.logs.log_level = logs;
    let mut c = Client::new(config, 1);
    let now = Now::at(0);
    c.handle(Input::command(
        now,
        Command::Connect(Credentials::password("alice@example.com", "pw")),
    ))
    .unwrap();
    let body = r#"{"subscribeResponse":{"subscription":"/s/1","subscriptionParams":{"notificationChannel":"/n/1","expires":3600,"service":["call","IM","presence"]}}}"#;
    c.handle(Input::new(
        now,
        InputKind::HttpResponse {
            id: RequestId(1),
            outcome: HttpOutcome::json(200, body),
        },
    ))
    .unwrap();
    c.handle(Input::new(
        now,
        InputKind::WsOpened {
            socket: SocketId(1),
        },
    ))
    .unwrap();
    while c.poll_effect().is_some() {}
    c
}

fn frame(i: u64) -> String {
    if i.is_multiple_of(2) {
        format!(
            r#"{{"notificationMessage":{{"eventType":"IM","eventId":"6f1c2d3e-0000-4000-8000-{i:012}","time":1569600000000,"imnotificationParams":{{"msgText":"hello number {i}","primaryContact":"sip:bob@example.com","charset":"UTF-8"}}}}}}"#
        )
    } else {
        format!(
            r#"{{"notificationMessage":{{"eventType":"presenceWatcher","eventId":"6f1c2d3e-0000-4000-8000-{i:012}","presenceWatcherNotificationParams":{{"name":"bob@example.com","status":"open","activity":"busy","note":"in a meeting"}}}}}}"#
        )
    }
}

fn feed(c: &mut Client, i: u64, text: String) {
    c.handle(Input::new(
        Now::at(i),
        InputKind::WsFrame {
            socket: SocketId(1),
            text,
        },
    ))
    .unwrap();
    while c.poll_effect().is_some() {}
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_session");
    group.throughput(Throughput::Elements(1));
    for (name, level) in [
        ("notification/logs_debug", LogLevel::Debug),
        ("notification/logs_info", LogLevel::Info),
    ] {
        let mut client = connected(level);
        let mut i = 0u64;
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    i += 1;
                    (i, frame(i))
                },
                |(n, text)| feed(&mut client, n, text),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();

    // Memory: one client, 1,000,000 distinct notifications.
    let mut client = connected(LogLevel::Info);
    let mut at_100k = None;
    for i in 0..1_000_000u64 {
        feed(&mut client, i, frame(i));
        if i == 100_000 {
            at_100k = rss_kib();
        }
    }
    let at_1m = rss_kib();
    println!(
        "core_session/memory: id cache holds {} ids after 1,000,000 notifications; RSS {:?} KiB at 100k, {:?} KiB at 1M",
        client.state().notifications.ids.len(),
        at_100k,
        at_1m
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
