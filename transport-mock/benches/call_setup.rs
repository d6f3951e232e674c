//! `call_setup` (in memory): call setup + teardown between two core
//! clients through the gateway model, on virtual time with the fake media
//! engine: make → ringing → answer → connected on both sides → end → ended
//! on both sides. What it measures is the signalling work of the core and
//! the gateway model per call, with no network in the way.
//!
//! Run: `cargo bench -p kandy-transport-mock --bench call_setup`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kandy_core::call::media::MediaOptions;
use kandy_core::call::{BandwidthOptions, CallCommand, CallId, CallState};
use kandy_core::config::LogLevel;
use kandy_core::{Command, Credentials, Event};
use kandy_transport_mock::{ClientId, Network};

fn connect(net: &mut Network, name: &str) -> ClientId {
    let mut config = Network::client_config();
    config.logs.log_level = LogLevel::Silent;
    let c = net.add_client_with(config, name.len() as u64);
    net.command(
        c,
        Command::Connect(Credentials::password(format!("{name}@example.com"), name)),
    )
    .unwrap();
    assert!(net.run_until(1_000, |n| n.client(c).connection().is_connected));
    net.take_events(c);
    c
}

/// One full call; returns when both sides have ended it.
fn one_call(net: &mut Network, alice: ClientId, bob: ClientId, n: u64) {
    let a = CallId(format!("a{n}"));
    net.command(
        alice,
        Command::Call(Box::new(CallCommand::Make {
            call_id: a.clone(),
            destination: "bob".into(),
            media: MediaOptions::audio(),
            bandwidth: BandwidthOptions::default(),
            display_name: None,
        })),
    )
    .unwrap();
    let mut incoming = None;
    net.run_until(5_000, |n| {
        incoming = n.events(bob).iter().find_map(|e| match e {
            Event::CallReceive { call_id } => Some(call_id.clone()),
            _ => None,
        });
        incoming.is_some()
    });
    let b = incoming.expect("bob rings");
    net.take_events(bob);
    net.command(
        bob,
        Command::Call(Box::new(CallCommand::Answer {
            call_id: b.clone(),
            media: MediaOptions::audio(),
            bandwidth: BandwidthOptions::default(),
        })),
    )
    .unwrap();
    assert!(net.run_until(5_000, |n| n
        .client(alice)
        .call(&a)
        .is_some_and(|c| c.state == CallState::Connected)));
    net.command(
        alice,
        Command::Call(Box::new(CallCommand::End { call_id: a })),
    )
    .unwrap();
    assert!(net.run_until(5_000, |n| n
        .client(bob)
        .call(&b)
        .is_some_and(|c| c.state == CallState::Ended)));
    net.take_events(alice);
    net.take_events(bob);
}

fn bench(c: &mut Criterion) {
    let mut net = Network::with_builtin_users(1);
    let (alice, bob) = (connect(&mut net, "alice"), connect(&mut net, "bob"));
    let mut n = 0;
    let mut group = c.benchmark_group("call_setup");
    group.throughput(Throughput::Elements(1));
    group.bench_function("in_memory", |b| {
        b.iter(|| {
            n += 1;
            one_call(&mut net, alice, bob, n)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
