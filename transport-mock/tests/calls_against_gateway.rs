//! Two core clients call each other through the gateway model, in memory,
//! with the fake media engine: the client and gateway sides of 02-calls.md
//! must agree request by request.

use kandy_core::call::media::MediaOptions;
use kandy_core::call::{BandwidthOptions, CallCommand, CallId, CallState};
use kandy_core::{Command, Credentials, Event};
use kandy_transport_mock::{ClientId, Network};

fn connect(net: &mut Network, name: &str) -> ClientId {
    let c = net.add_client(name.len() as u64);
    net.command(
        c,
        Command::Connect(Credentials::password(format!("{name}@example.com"), name)),
    )
    .unwrap();
    assert!(net.run_until(1_000, |n| n.client(c).connection().is_connected));
    net.take_events(c);
    c
}

fn call(net: &mut Network, c: ClientId, cmd: CallCommand) {
    net.command(c, Command::Call(Box::new(cmd))).unwrap();
}

fn states(events: &[Event]) -> Vec<CallState> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::CallStateChange { state, .. } => Some(*state),
            _ => None,
        })
        .collect()
}

fn received(events: &[Event]) -> Option<CallId> {
    events.iter().find_map(|e| match e {
        Event::CallReceive { call_id } => Some(call_id.clone()),
        _ => None,
    })
}

#[test]
fn alice_calls_bob_holds_sends_dtmf_and_hangs_up() {
    let mut net = Network::with_builtin_users(3);
    let (alice, bob) = (connect(&mut net, "alice"), connect(&mut net, "bob"));
    let a = CallId::new("a1");
    call(
        &mut net,
        alice,
        CallCommand::Make {
            call_id: a.clone(),
            destination: "bob".into(),
            media: MediaOptions::audio(),
            bandwidth: BandwidthOptions::default(),
            display_name: None,
        },
    );
    assert!(net.run_until(2_000, |n| received(n.events(bob)).is_some()));
    let b = received(&net.take_events(bob)).unwrap();
    net.run_for(500);
    let ev = net.take_events(alice);
    assert!(ev.contains(&Event::CallStart {
        call_id: a.clone(),
        error: None
    }));
    assert_eq!(states(&ev), vec![CallState::Ringing]);
    assert_eq!(
        net.client(bob)
            .call(&b)
            .unwrap()
            .remote_participant
            .display_number,
        "alice@example.com"
    );

    call(
        &mut net,
        bob,
        CallCommand::Answer {
            call_id: b.clone(),
            media: MediaOptions::audio(),
            bandwidth: BandwidthOptions::default(),
        },
    );
    net.run_for(1_000);
    assert_eq!(states(&net.take_events(bob)), vec![CallState::Connected]);
    assert_eq!(states(&net.take_events(alice)), vec![CallState::Connected]);

    call(&mut net, alice, CallCommand::Hold { call_id: a.clone() });
    net.run_for(1_000);
    assert_eq!(states(&net.take_events(alice)), vec![CallState::OnHold]);
    assert_eq!(states(&net.take_events(bob)), vec![CallState::OnHold]);
    assert!(net.client(alice).call(&a).unwrap().local_hold);
    assert!(net.client(bob).call(&b).unwrap().remote_hold);

    call(&mut net, alice, CallCommand::Unhold { call_id: a.clone() });
    net.run_for(1_000);
    assert_eq!(states(&net.take_events(alice)), vec![CallState::Connected]);
    assert_eq!(states(&net.take_events(bob)), vec![CallState::Connected]);

    call(
        &mut net,
        alice,
        CallCommand::SendDtmf {
            call_id: a.clone(),
            tones: "123#".into(),
            duration_ms: 100,
            gap_ms: 70,
        },
    );
    assert_eq!(net.engine(alice).peers[&a].dtmf, "123#");

    // An hour of audits keeps both legs alive.
    net.run_for(3_600_000);
    assert_eq!(
        net.client(alice).call(&a).unwrap().state,
        CallState::Connected
    );
    assert_eq!(
        net.client(bob).call(&b).unwrap().state,
        CallState::Connected
    );

    call(&mut net, alice, CallCommand::End { call_id: a.clone() });
    net.run_for(1_000);
    assert_eq!(states(&net.take_events(alice)), vec![CallState::Ended]);
    assert_eq!(states(&net.take_events(bob)), vec![CallState::Ended]);
    assert!(net.engine(bob).peers[&b].closed);
}

#[test]
fn bob_rejects_and_alice_sees_decline() {
    let mut net = Network::with_builtin_users(3);
    let (alice, bob) = (connect(&mut net, "alice"), connect(&mut net, "bob"));
    let a = CallId::new("a1");
    call(
        &mut net,
        alice,
        CallCommand::Make {
            call_id: a.clone(),
            destination: "bob@example.com".into(),
            media: MediaOptions::audio(),
            bandwidth: BandwidthOptions::default(),
            display_name: None,
        },
    );
    assert!(net.run_until(2_000, |n| received(n.events(bob)).is_some()));
    let b = received(&net.take_events(bob)).unwrap();
    call(&mut net, bob, CallCommand::Reject { call_id: b });
    net.run_for(1_000);
    let ev = net.take_events(alice);
    let ended = ev.iter().find_map(|e| match e {
        Event::CallStateChange {
            state: CallState::Ended,
            transition,
            ..
        } => Some(transition.clone()),
        _ => None,
    });
    let t = ended
        .expect("alice's call ended")
        .expect("with a transition");
    assert_eq!(t.status_code, Some(603));
}

#[test]
fn calling_an_unknown_user_ends_with_not_found() {
    let mut net = Network::with_builtin_users(3);
    let alice = connect(&mut net, "alice");
    let a = CallId::new("a1");
    call(
        &mut net,
        alice,
        CallCommand::Make {
            call_id: a.clone(),
            destination: "nobody".into(),
            media: MediaOptions::audio(),
            bandwidth: BandwidthOptions::default(),
            display_name: None,
        },
    );
    net.run_for(2_000);
    let c = net.client(alice).call(&a).unwrap();
    assert_eq!(c.state, CallState::Ended);
}
