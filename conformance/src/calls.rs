//! The call scenarios of `02-calls.md` §6 (sequences) and §6.13 / §7.6
//! (failure paths), each returning every client's normalised events.
//!
//! Clients are `alice` (the caller, `A`), `bob` (`B`) and `carol` (`C`),
//! added in that order (engines `u0`, `u1`, `u2`). Every scenario ends
//! each call it made and waits, on every client, for the last event the
//! scenario causes there, so both harnesses stop at the same point of each
//! client's sequence. Waits are on events (virtual time in memory, at most
//! [`WAIT`](crate::WAIT) of real time over loopback), never on sleeps.

use std::sync::atomic::{AtomicU64, Ordering};

use kandy_core::call::media::MediaOptions;
use kandy_core::call::{BandwidthOptions, Call, CallCommand, CallId, CallState, Transition};
use kandy_core::session::ConnectionStatus;
use kandy_core::{Credentials, Error, ErrorCode, Event};
use kandy_gateway::CallResult;

use crate::{normalise, ClientNo, Harness, Until};

// ----- helpers ---------------------------------------------------------------

/// The built-in users, by first name.
fn credentials(name: &str) -> Credentials {
    Credentials::password(format!("{name}@example.com"), name)
}

/// A new client, connected as `name`.
async fn online(h: &mut dyn Harness, name: &str) -> ClientNo {
    let c = h.add_client(&|_| {}).await;
    h.connect(c, credentials(name))
        .await
        .unwrap_or_else(|e| panic!("{}: {name} cannot connect: {e:?}", h.name()));
    c
}

/// Waits until `done` holds for the client's events; fails the scenario
/// with the events so far when it does not in time.
async fn expect(h: &mut dyn Harness, client: ClientNo, what: &str, done: &Until) {
    if !h.wait_for(client, done).await {
        panic!(
            "{}: client {client} never saw {what}; its events:\n{:#?}",
            h.name(),
            normalise(h.events(client))
        );
    }
}

/// Issues a call command that must be accepted.
async fn cmd(h: &mut dyn Harness, client: ClientNo, command: CallCommand) {
    let name = command.name();
    if let Err(e) = h.call(client, command).await {
        panic!("{}: client {client} refused {name}: {e}", h.name());
    }
}

/// A fresh id for `make` in memory (ignored over loopback).
fn fresh_id() -> CallId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    CallId(format!(
        "scenario-call-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// `call.make(destination, audio)`; the new call's id.
async fn make(h: &mut dyn Harness, client: ClientNo, destination: &str) -> CallId {
    let command = CallCommand::Make {
        call_id: fresh_id(),
        destination: destination.into(),
        media: MediaOptions::audio(),
        bandwidth: BandwidthOptions::default(),
        display_name: None,
    };
    match h.call(client, command).await {
        Ok(Some(id)) => id,
        other => panic!("{}: make refused: {other:?}", h.name()),
    }
}

/// The `n`-th (1-based) incoming call of the client, once announced.
async fn incoming(h: &mut dyn Harness, client: ClientNo, n: usize) -> CallId {
    expect(h, client, &format!("incoming call #{n}"), &move |e| {
        received(e).len() >= n
    })
    .await;
    received(&h.events(client))[n - 1].clone()
}

/// Every `call:receive` id, in order.
pub fn received(events: &[Event]) -> Vec<CallId> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::CallReceive { call_id } => Some(call_id.clone()),
            _ => None,
        })
        .collect()
}

/// The `call:stateChange`s of one call, in order.
fn changes<'a>(events: &'a [Event], id: &'a CallId) -> impl Iterator<Item = &'a Event> + 'a {
    events
        .iter()
        .filter(move |e| matches!(e, Event::CallStateChange { call_id, .. } if call_id == id))
}

/// The states one call went through, in order.
pub fn states(events: &[Event], id: &CallId) -> Vec<CallState> {
    changes(events, id)
        .map(|e| match e {
            Event::CallStateChange { state, .. } => *state,
            _ => unreachable!(),
        })
        .collect()
}

/// How many state changes of the call reached `state`.
fn reached(events: &[Event], id: &CallId, state: CallState) -> usize {
    states(events, id).iter().filter(|s| **s == state).count()
}

/// Waits until the call has reached `state` `n` times.
async fn reach(h: &mut dyn Harness, client: ClientNo, id: &CallId, state: CallState, n: usize) {
    let what = format!("{id} {state:?} (#{n})");
    let id = id.clone();
    expect(h, client, &what, &move |e| reached(e, &id, state) >= n).await;
}

/// The last state change of a call: (state, transition, error).
fn last_change(
    events: &[Event],
    id: &CallId,
) -> (
    CallState,
    Option<Transition>,
    Option<kandy_core::BasicError>,
) {
    match changes(events, id).last() {
        Some(Event::CallStateChange {
            state,
            transition,
            error,
            ..
        }) => (*state, transition.clone(), error.clone()),
        _ => panic!("no state change of {id}"),
    }
}

/// The status code and reason of the transition that ended a call.
fn end_transition(events: &[Event], id: &CallId) -> (Option<i64>, Option<String>) {
    let (state, t, _) = last_change(events, id);
    assert_eq!(state, CallState::Ended, "{id} did not end last");
    let t = t.unwrap_or_default();
    (t.status_code, t.reason_text)
}

/// How many notifications of type `kind` the client received.
fn notified(events: &[Event], kind: &str) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(e, Event::NotificationReceived { payload, .. }
                if payload.to_value()["notificationMessage"]["eventType"] == kind)
        })
        .count()
}

/// Waits for the `n`-th notification of type `kind`.
async fn notification(h: &mut dyn Harness, client: ClientNo, kind: &'static str, n: usize) {
    expect(h, client, &format!("{kind} notification #{n}"), &move |e| {
        notified(e, kind) >= n
    })
    .await;
}

/// The far end's remote track on a call (`call:newTrack`, not local).
fn remote_tracks(events: &[Event], id: &CallId) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::CallNewTrack { call_id, local: false, .. } if call_id == id))
        .count()
}

/// A call as the client knows it now.
async fn info(h: &mut dyn Harness, client: ClientNo, id: &CallId) -> Call {
    match h.call_info(client, id).await {
        Some(c) => c,
        None => panic!("{}: client {client} does not know call {id}", h.name()),
    }
}

/// (state, local hold, remote hold) of a call.
async fn hold_flags(h: &mut dyn Harness, client: ClientNo, id: &CallId) -> (CallState, bool, bool) {
    let c = info(h, client, id).await;
    (c.state, c.local_hold, c.remote_hold)
}

fn answer(call_id: &CallId) -> CallCommand {
    CallCommand::Answer {
        call_id: call_id.clone(),
        media: MediaOptions::audio(),
        bandwidth: BandwidthOptions::default(),
    }
}

fn end(call_id: &CallId) -> CallCommand {
    CallCommand::End {
        call_id: call_id.clone(),
    }
}

fn hold(call_id: &CallId) -> CallCommand {
    CallCommand::Hold {
        call_id: call_id.clone(),
    }
}

fn unhold(call_id: &CallId) -> CallCommand {
    CallCommand::Unhold {
        call_id: call_id.clone(),
    }
}

/// `caller` calls `callee_name` on client `callee`, which answers; both
/// are connected and the caller has the far end's track. Returns (the
/// caller's id, the callee's id). `nth` counts the callee's incoming calls.
async fn connected_call(
    h: &mut dyn Harness,
    caller: ClientNo,
    callee: ClientNo,
    callee_name: &str,
    nth: usize,
) -> (CallId, CallId) {
    let a = make(h, caller, callee_name).await;
    let b = incoming(h, callee, nth).await;
    // The caller's `ringing` is held back 200 ms after its POST (§7.4 rule
    // 1), so it may come after `call:receive`; waiting for it keeps the
    // steps apart.
    reach(h, caller, &a, CallState::Ringing, 1).await;
    cmd(h, callee, answer(&b)).await;
    reach(h, callee, &b, CallState::Connected, 1).await;
    reach(h, caller, &a, CallState::Connected, 1).await;
    let a2 = a.clone();
    expect(h, caller, "the far end's track", &move |e| {
        remote_tracks(e, &a2) == 1
    })
    .await;
    (a, b)
}

/// `holder` holds call `x`, whose far end is call `y` on client `other`;
/// waits for both sides' On Hold.
async fn hold_and_wait(
    h: &mut dyn Harness,
    holder: ClientNo,
    x: &CallId,
    other: ClientNo,
    y: &CallId,
) {
    let (hx, hy) = (
        reached(&h.events(holder), x, CallState::OnHold),
        reached(&h.events(other), y, CallState::OnHold),
    );
    cmd(h, holder, hold(x)).await;
    reach(h, other, y, CallState::OnHold, hy + 1).await;
    reach(h, holder, x, CallState::OnHold, hx + 1).await;
}

/// Disconnects every client (in order) and waits for each to be
/// disconnected: the last thing of most scenarios, a barrier after which
/// no client gets anything more in either harness (what the gateway sent
/// a client before its unsubscribe arrives before the reply to it).
async fn all_offline(h: &mut dyn Harness, clients: &[ClientNo]) {
    for &c in clients {
        h.disconnect(c)
            .await
            .unwrap_or_else(|e| panic!("{}: client {c} cannot disconnect: {e:?}", h.name()));
        expect(h, c, "disconnected", &|e| {
            e.iter().any(|x| {
                matches!(
                    x,
                    Event::AuthChange {
                        status: ConnectionStatus::Disconnected,
                        ..
                    }
                )
            })
        })
        .await;
    }
}

fn all_events(h: &dyn Harness, clients: &[ClientNo]) -> Vec<Vec<String>> {
    clients.iter().map(|&c| normalise(h.events(c))).collect()
}

/// Asserts the client's engine closed the call's peer.
fn closed(h: &dyn Harness, client: ClientNo, id: &CallId) {
    let engine = h.engine(client);
    assert!(
        engine.peers.get(id).is_some_and(|p| p.closed),
        "{}: client {client}'s peer of {id} is not closed",
        h.name()
    );
}

// ----- §6.1 / §6.2 ------------------------------------------------------------

/// §6.1 (A's view) and §6.2 (B's view, regular): A calls B, B answers,
/// then A hangs up.
pub async fn answered(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let (a, b) = connected_call(h, alice, bob, "bob", 1).await;

    let ev = h.events(alice);
    assert!(ev.contains(&Event::CallStart {
        call_id: a.clone(),
        error: None
    }));
    assert_eq!(
        states(&ev, &a),
        [CallState::Ringing, CallState::Connected],
        "A: Initiated (call:start) → Ringing → Connected"
    );
    assert_eq!(states(&h.events(bob), &b), [CallState::Connected]);
    let ca = info(h, alice, &a).await;
    assert_eq!(ca.remote_participant.display_number, "bob@example.com");
    assert_eq!(ca.to, "sip:bob@example.com");
    assert!(ca.start_time.is_some());
    let cb = info(h, bob, &b).await;
    assert_eq!(cb.remote_participant.display_number, "alice@example.com");
    assert!(!cb.slow_start, "a regular incoming call carries the offer");
    h.with_gateway(Box::new(|g, _| {
        let calls = g.active_calls();
        assert_eq!(calls.len(), 1);
        assert!(calls[0]
            .legs
            .iter()
            .all(|l| l.state == kandy_gateway::LegState::Connected));
    }))
    .await;

    cmd(h, alice, end(&a)).await;
    reach(h, alice, &a, CallState::Ended, 1).await;
    reach(h, bob, &b, CallState::Ended, 1).await;
    assert_eq!(end_transition(&h.events(alice), &a), (None, None));
    assert_eq!(
        end_transition(&h.events(bob), &b),
        (Some(200), Some("Normal Clearing".into()))
    );
    closed(h, alice, &a);
    closed(h, bob, &b);
    all_offline(h, &[alice, bob]).await;
    all_events(h, &[alice, bob])
}

// ----- §6.3 reject and ignore ---------------------------------------------------

/// §6.3: B rejects; A's call ends with 603 Decline.
pub async fn reject(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let a = make(h, alice, "bob").await;
    let b = incoming(h, bob, 1).await;
    reach(h, alice, &a, CallState::Ringing, 1).await;
    cmd(h, bob, CallCommand::Reject { call_id: b.clone() }).await;
    reach(h, bob, &b, CallState::Ended, 1).await;
    reach(h, alice, &a, CallState::Ended, 1).await;
    assert_eq!(states(&h.events(bob), &b), [CallState::Ended]);
    assert_eq!(end_transition(&h.events(bob), &b), (None, None));
    assert_eq!(
        end_transition(&h.events(alice), &a),
        (Some(603), Some("Decline".into()))
    );
    closed(h, alice, &a);
    closed(h, bob, &b);
    h.with_gateway(Box::new(|g, _| {
        assert!(g.active_calls().is_empty());
        assert_eq!(
            g.call_logs("bob@example.com")[0].result,
            CallResult::Rejected
        );
    }))
    .await;
    all_offline(h, &[alice, bob]).await;
    all_events(h, &[alice, bob])
}

/// §6.3 "Ignore": B ends the call locally and nothing goes on the wire; A
/// rings until the gateway's ringing timeout ([`RINGING_TIMEOUT_MS`],
/// shortened for scenarios), then ends with 480 No Answer. B's leg gets
/// the `callCancel`, which B, having forgotten the leg, ignores.
///
/// [`RINGING_TIMEOUT_MS`]: crate::RINGING_TIMEOUT_MS
pub async fn ignore(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let a = make(h, alice, "bob").await;
    let b = incoming(h, bob, 1).await;
    reach(h, alice, &a, CallState::Ringing, 1).await;
    cmd(h, bob, CallCommand::Ignore { call_id: b.clone() }).await;
    // Ended at once, locally (the API call resolves with the call ended;
    // the event may still be on its way to the harness's collector).
    assert_eq!(info(h, bob, &b).await.state, CallState::Ended);
    reach(h, bob, &b, CallState::Ended, 1).await;
    assert_eq!(states(&h.events(bob), &b), [CallState::Ended]);
    closed(h, bob, &b);
    // The gateway still has B ringing.
    h.with_gateway(Box::new(|g, _| {
        let legs = g.call_legs_of("bob@example.com");
        assert_eq!(legs.len(), 1);
        assert_eq!(legs[0].state, kandy_gateway::LegState::Ringing);
    }))
    .await;
    reach(h, alice, &a, CallState::Ended, 1).await;
    assert_eq!(
        end_transition(&h.events(alice), &a),
        (Some(480), Some("No Answer".into()))
    );
    notification(h, bob, "callCancel", 1).await;
    assert_eq!(
        states(&h.events(bob), &b),
        [CallState::Ended],
        "B ignores the cancel"
    );
    h.with_gateway(Box::new(|g, _| {
        assert!(g.active_calls().is_empty());
        assert_eq!(
            g.call_logs("bob@example.com")[0].result,
            CallResult::NoAnswer
        );
    }))
    .await;
    all_offline(h, &[alice, bob]).await;
    all_events(h, &[alice, bob])
}

// ----- §6.4 remote end -------------------------------------------------------------

/// §6.4: B (the callee) hangs up a connected call; A's call ends with 200
/// Normal Clearing and its peer is closed.
pub async fn remote_end(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let (a, b) = connected_call(h, alice, bob, "bob", 1).await;
    cmd(h, bob, end(&b)).await;
    // B is Ended at once; the gateway is told in the background.
    assert_eq!(info(h, bob, &b).await.state, CallState::Ended);
    reach(h, bob, &b, CallState::Ended, 1).await;
    reach(h, alice, &a, CallState::Ended, 1).await;
    assert_eq!(
        end_transition(&h.events(alice), &a),
        (Some(200), Some("Normal Clearing".into()))
    );
    let ca = info(h, alice, &a).await;
    assert!(ca.end_time.is_some());
    assert!(ca.local_tracks.is_empty() && ca.remote_tracks.is_empty());
    closed(h, alice, &a);
    closed(h, bob, &b);
    // Hanging up twice is refused.
    assert!(matches!(
        h.call(bob, end(&b)).await,
        Err(Error::InvalidState { .. })
    ));
    all_offline(h, &[alice, bob]).await;
    all_events(h, &[alice, bob])
}

// ----- §6.5 / §6.6 hold ---------------------------------------------------------

/// §6.5: A holds B, then unholds.
pub async fn local_hold_unhold(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let (a, b) = connected_call(h, alice, bob, "bob", 1).await;

    hold_and_wait(h, alice, &a, bob, &b).await;
    assert_eq!(
        hold_flags(h, alice, &a).await,
        (CallState::OnHold, true, false)
    );
    assert_eq!(
        hold_flags(h, bob, &b).await,
        (CallState::OnHold, false, true)
    );
    // A's change says it was not held before.
    match changes(&h.events(alice), &a).last() {
        Some(Event::CallStateChange { previous, .. }) => {
            assert_eq!(previous.state, CallState::Connected);
            assert!(!previous.local_hold && !previous.remote_hold);
        }
        other => panic!("{other:?}"),
    }
    // Holding twice is refused.
    assert!(matches!(
        h.call(alice, hold(&a)).await,
        Err(Error::InvalidState { .. })
    ));

    cmd(h, alice, unhold(&a)).await;
    reach(h, bob, &b, CallState::Connected, 2).await;
    reach(h, alice, &a, CallState::Connected, 2).await;
    assert_eq!(
        hold_flags(h, alice, &a).await,
        (CallState::Connected, false, false)
    );
    assert_eq!(
        hold_flags(h, bob, &b).await,
        (CallState::Connected, false, false)
    );
    h.with_gateway(Box::new(|g, _| {
        assert!(!g.active_calls()[0].transaction_open);
    }))
    .await;

    cmd(h, alice, end(&a)).await;
    reach(h, bob, &b, CallState::Ended, 1).await;
    all_offline(h, &[alice, bob]).await;
    all_events(h, &[alice, bob])
}

/// §6.6 first bullet, seen by the caller: B (the callee) holds, so A's
/// call is On Hold with `remoteHold`; then B unholds.
pub async fn remote_hold(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let (a, b) = connected_call(h, alice, bob, "bob", 1).await;

    hold_and_wait(h, bob, &b, alice, &a).await;
    assert_eq!(
        hold_flags(h, alice, &a).await,
        (CallState::OnHold, false, true)
    );
    assert_eq!(
        hold_flags(h, bob, &b).await,
        (CallState::OnHold, true, false)
    );
    match changes(&h.events(alice), &a).last() {
        Some(Event::CallStateChange {
            previous,
            transition,
            error,
            ..
        }) => {
            assert_eq!(previous.state, CallState::Connected);
            assert!(!previous.remote_hold);
            assert!(transition.is_none() && error.is_none());
        }
        other => panic!("{other:?}"),
    }
    // A cannot unhold what it did not hold.
    assert!(matches!(
        h.call(alice, unhold(&a)).await,
        Err(Error::InvalidState { .. })
    ));

    cmd(h, bob, unhold(&b)).await;
    reach(h, alice, &a, CallState::Connected, 2).await;
    reach(h, bob, &b, CallState::Connected, 2).await;
    assert_eq!(
        hold_flags(h, alice, &a).await,
        (CallState::Connected, false, false)
    );

    cmd(h, alice, end(&a)).await;
    reach(h, bob, &b, CallState::Ended, 1).await;
    all_offline(h, &[alice, bob]).await;
    all_events(h, &[alice, bob])
}

/// §6.6 dual hold: A holds, B holds too (A sees a no-change update), A
/// unholds while B still holds (A stays On Hold: remote hold), B unholds.
pub async fn dual_hold(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let (a, b) = connected_call(h, alice, bob, "bob", 1).await;

    hold_and_wait(h, alice, &a, bob, &b).await;
    // B holds a call A holds: allowed, B's local hold is off.
    let before = h.events(alice).len();
    let bob_holds = reached(&h.events(bob), &b, CallState::OnHold);
    cmd(h, bob, hold(&b)).await;
    reach(h, bob, &b, CallState::OnHold, bob_holds + 1).await;
    assert_eq!(
        hold_flags(h, bob, &b).await,
        (CallState::OnHold, true, true)
    );
    // A answers B's all-inactive offer as NO_CHANGE: a generic update
    // that leaves it On Hold, local hold only.
    let a2 = a.clone();
    expect(h, alice, "A's change for B's hold", &move |e| {
        changes(&e[before..], &a2).count() == 1
    })
    .await;
    assert_eq!(
        hold_flags(h, alice, &a).await,
        (CallState::OnHold, true, false)
    );

    // A unholds while B holds: B stays On Hold (remote hold gone, local
    // hold kept).
    let (na, nb) = (h.events(alice).len(), h.events(bob).len());
    cmd(h, alice, unhold(&a)).await;
    let a2 = a.clone();
    expect(h, alice, "A's unhold done", &move |e| {
        changes(&e[na..], &a2).count() == 1
    })
    .await;
    let b2 = b.clone();
    expect(h, bob, "B's change for A's unhold", &move |e| {
        changes(&e[nb..], &b2).count() == 1
    })
    .await;
    assert_eq!(
        hold_flags(h, bob, &b).await,
        (CallState::OnHold, true, false)
    );
    // A's local hold is gone. §6.6 has A stay On Hold "because remoteHold
    // is true", but A never set remoteHold: it took B's all-inactive offer
    // for NO_CHANGE (§6.6 second bullet, §4.6.3 rule 7), and the core
    // completes an unhold from the hold flags alone (§4.4's unhold row),
    // so A reports Connected although B's answer is inactive and no media
    // flows. §6.6's expectation is pinned by `unhold_while_remote_holds`
    // (ignored, failing); here only what the spec and the core agree on.
    // (A's event sequence, Connected included, is still compared.)
    let (_, local_hold, _) = hold_flags(h, alice, &a).await;
    assert!(!local_hold);

    // B unholds: both connected.
    let (ca, cb) = (
        reached(&h.events(alice), &a, CallState::Connected),
        reached(&h.events(bob), &b, CallState::Connected),
    );
    cmd(h, bob, unhold(&b)).await;
    reach(h, alice, &a, CallState::Connected, ca + 1).await;
    reach(h, bob, &b, CallState::Connected, cb + 1).await;
    assert_eq!(
        hold_flags(h, alice, &a).await,
        (CallState::Connected, false, false)
    );
    assert_eq!(
        hold_flags(h, bob, &b).await,
        (CallState::Connected, false, false)
    );

    cmd(h, bob, end(&b)).await;
    reach(h, alice, &a, CallState::Ended, 1).await;
    all_offline(h, &[alice, bob]).await;
    all_events(h, &[alice, bob])
}

// ----- §6.7 DTMF ------------------------------------------------------------------

/// §6.7: tones go to the media engine in order; nothing on the wire and no
/// event. Invalid tones are refused.
pub async fn dtmf(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let (a, b) = connected_call(h, alice, bob, "bob", 1).await;
    let (na, nb) = (h.events(alice).len(), h.events(bob).len());
    for tones in ["123", "#*0", ",9A"] {
        cmd(
            h,
            alice,
            CallCommand::SendDtmf {
                call_id: a.clone(),
                tones: tones.into(),
                duration_ms: 100,
                gap_ms: 70,
            },
        )
        .await;
    }
    cmd(
        h,
        bob,
        CallCommand::SendDtmf {
            call_id: b.clone(),
            tones: "5".into(),
            duration_ms: 40,
            gap_ms: 30,
        },
    )
    .await;
    for bad in [
        ("12x", 100, 70),
        ("", 100, 70),
        ("1", 39, 70),
        ("1", 100, 29),
    ] {
        assert!(
            matches!(
                h.call(
                    alice,
                    CallCommand::SendDtmf {
                        call_id: a.clone(),
                        tones: bad.0.into(),
                        duration_ms: bad.1,
                        gap_ms: bad.2,
                    }
                )
                .await,
                Err(Error::InvalidArgument(_))
            ),
            "{bad:?} accepted"
        );
    }
    assert_eq!(h.engine(alice).peers[&a].dtmf, "123#*0,9A");
    assert_eq!(h.engine(bob).peers[&b].dtmf, "5");

    cmd(h, alice, end(&a)).await;
    reach(h, alice, &a, CallState::Ended, 1).await;
    reach(h, bob, &b, CallState::Ended, 1).await;
    // No event came of the tones: the next events are the hang-up's.
    assert_eq!(states(&h.events(alice)[na..], &a), [CallState::Ended]);
    assert_eq!(states(&h.events(bob)[nb..], &b), [CallState::Ended]);
    // Not on an ended call.
    assert!(matches!(
        h.call(
            alice,
            CallCommand::SendDtmf {
                call_id: a.clone(),
                tones: "1".into(),
                duration_ms: 100,
                gap_ms: 70,
            }
        )
        .await,
        Err(Error::InvalidState { .. })
    ));
    all_offline(h, &[alice, bob]).await;
    all_events(h, &[alice, bob])
}

// ----- §6.8 forward -------------------------------------------------------------

/// §6.8: B forwards A's ringing call to C, who answers; A is connected to
/// C without noticing more than the new party.
pub async fn forward(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let carol = online(h, "carol").await;
    let a = make(h, alice, "bob").await;
    let b = incoming(h, bob, 1).await;
    reach(h, alice, &a, CallState::Ringing, 1).await;
    cmd(
        h,
        bob,
        CallCommand::Forward {
            call_id: b.clone(),
            destination: "carol".into(),
        },
    )
    .await;
    reach(h, bob, &b, CallState::Ended, 1).await;
    closed(h, bob, &b);
    let c = incoming(h, carol, 1).await;
    let cc = info(h, carol, &c).await;
    assert_eq!(cc.remote_participant.display_number, "alice@example.com");
    assert!(!cc.slow_start, "C gets A's pending offer");
    cmd(h, carol, answer(&c)).await;
    reach(h, carol, &c, CallState::Connected, 1).await;
    reach(h, alice, &a, CallState::Connected, 1).await;
    // A rang once (B), and the answer came from C.
    assert_eq!(
        states(&h.events(alice), &a),
        [CallState::Ringing, CallState::Connected]
    );
    assert_eq!(
        info(h, alice, &a).await.remote_participant.display_number,
        "carol@example.com"
    );
    let a2 = a.clone();
    expect(h, alice, "C's track", &move |e| remote_tracks(e, &a2) == 1).await;
    h.with_gateway(Box::new(|g, _| {
        assert_eq!(
            g.call_logs("bob@example.com")[0].result,
            CallResult::Forwarded
        );
    }))
    .await;

    cmd(h, carol, end(&c)).await;
    reach(h, alice, &a, CallState::Ended, 1).await;
    all_offline(h, &[alice, bob, carol]).await;
    all_events(h, &[alice, bob, carol])
}

// ----- §6.9 / §6.10 transfers ------------------------------------------------------

/// §6.9: A holds B and transfers B to C directly. C is rung slow start
/// (no offer: C's view is §6.2's slow-start variant), answers with an
/// offer that reaches B as an unhold from a new party; A's call ends with
/// 9905.
pub async fn direct_transfer(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let carol = online(h, "carol").await;
    let (a, b) = connected_call(h, alice, bob, "bob", 1).await;
    // Only a held call can be transferred.
    let transfer = CallCommand::DirectTransfer {
        call_id: a.clone(),
        destination: "carol".into(),
    };
    assert!(matches!(
        h.call(alice, transfer).await,
        Err(Error::InvalidState { .. })
    ));
    hold_and_wait(h, alice, &a, bob, &b).await;
    cmd(
        h,
        alice,
        CallCommand::DirectTransfer {
            call_id: a.clone(),
            destination: "carol".into(),
        },
    )
    .await;
    let c = incoming(h, carol, 1).await;
    let cc = info(h, carol, &c).await;
    assert!(cc.slow_start, "the target is rung without an offer");
    assert_eq!(cc.remote_participant.display_number, "bob@example.com");
    cmd(h, carol, answer(&c)).await;
    reach(h, carol, &c, CallState::Connected, 1).await;
    // Slow start: C's answer PUT carried an offer; C stayed Ringing until
    // B's answer came back as `respondCallUpdate`.
    let ev = h.events(carol);
    assert_eq!(states(&ev, &c), [CallState::Connected]);
    assert_eq!(notified(&ev, "respondCallUpdate"), 1);
    reach(h, bob, &b, CallState::Connected, 2).await;
    reach(h, alice, &a, CallState::Ended, 1).await;
    assert_eq!(
        end_transition(&h.events(alice), &a),
        (Some(9905), Some("Direct Transfer Successful".into()))
    );
    let cb = info(h, bob, &b).await;
    assert_eq!(
        (cb.state, cb.local_hold, cb.remote_hold),
        (CallState::Connected, false, false)
    );
    assert_eq!(cb.remote_participant.display_number, "carol@example.com");
    assert_eq!(
        info(h, carol, &c).await.remote_participant.display_number,
        "bob@example.com"
    );
    h.with_gateway(Box::new(|g, _| {
        assert_eq!(
            g.call_logs("alice@example.com")[0].result,
            CallResult::Transferred
        );
        let calls = g.active_calls();
        assert_eq!(calls.len(), 1);
        let mut users: Vec<_> = calls[0].legs.iter().map(|l| l.user.clone()).collect();
        users.sort();
        assert_eq!(users, ["bob@example.com", "carol@example.com"]);
    }))
    .await;

    cmd(h, bob, end(&b)).await;
    reach(h, carol, &c, CallState::Ended, 1).await;
    all_offline(h, &[alice, bob, carol]).await;
    all_events(h, &[alice, bob, carol])
}

/// Two connected calls of A (to B, then to C), both held by A.
async fn two_held_calls(
    h: &mut dyn Harness,
    alice: ClientNo,
    bob: ClientNo,
    carol: ClientNo,
) -> [CallId; 4] {
    let (a1, b) = connected_call(h, alice, bob, "bob", 1).await;
    hold_and_wait(h, alice, &a1, bob, &b).await;
    let (a2, c) = connected_call(h, alice, carol, "carol", 1).await;
    hold_and_wait(h, alice, &a2, carol, &c).await;
    [a1, b, a2, c]
}

/// §6.10: A connects B and C, both held; B is asked for a new offer,
/// which reaches C; both end up connected to each other and A's two calls
/// end with 9905.
pub async fn consultative_transfer(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let carol = online(h, "carol").await;
    let [a1, b, a2, c] = two_held_calls(h, alice, bob, carol).await;
    cmd(
        h,
        alice,
        CallCommand::ConsultativeTransfer {
            call_id: a1.clone(),
            other: a2.clone(),
        },
    )
    .await;
    reach(h, bob, &b, CallState::Connected, 2).await;
    reach(h, carol, &c, CallState::Connected, 2).await;
    reach(h, alice, &a1, CallState::Ended, 1).await;
    reach(h, alice, &a2, CallState::Ended, 1).await;
    for x in [&a1, &a2] {
        assert_eq!(
            end_transition(&h.events(alice), x),
            (Some(9905), Some("Transfer Successful".into()))
        );
    }
    let cb = info(h, bob, &b).await;
    assert_eq!(
        (
            cb.state,
            cb.remote_hold,
            cb.remote_participant.display_number
        ),
        (CallState::Connected, false, "carol@example.com".to_owned())
    );
    let cc = info(h, carol, &c).await;
    assert_eq!(
        (
            cc.state,
            cc.remote_hold,
            cc.remote_participant.display_number
        ),
        (CallState::Connected, false, "bob@example.com".to_owned())
    );

    cmd(h, carol, end(&c)).await;
    reach(h, bob, &b, CallState::Ended, 1).await;
    all_offline(h, &[alice, bob, carol]).await;
    all_events(h, &[alice, bob, carol])
}

// ----- §6.11 join -------------------------------------------------------------------

/// §6.11 with this gateway (no mixer): the join POST gets 501; kandy-rs
/// reports `call:join` with the error and ends the new call with -2; the
/// original calls stay held and usable.
pub async fn join(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let carol = online(h, "carol").await;
    let [a1, b, a2, c] = two_held_calls(h, alice, bob, carol).await;
    let before = h.events(alice).len();
    cmd(
        h,
        alice,
        CallCommand::Join {
            call_id: a1.clone(),
            other: a2.clone(),
        },
    )
    .await;
    expect(h, alice, "call:join", &|e| {
        e.iter().any(|x| matches!(x, Event::CallJoin { .. }))
    })
    .await;
    let (j, error) = h.events(alice)[before..]
        .iter()
        .find_map(|e| match e {
            Event::CallJoin { call_id, error } => Some((call_id.clone(), error.clone())),
            _ => None,
        })
        .expect("call:join");
    let error = error.expect("the join failed");
    assert_eq!(error.code, ErrorCode::CallGenericError);
    assert!(error.message.contains("Internal Server Error"), "{error:?}");
    reach(h, alice, &j, CallState::Ended, 1).await;
    assert_eq!(
        end_transition(&h.events(alice), &j),
        (Some(-2), Some("Join Failed".into()))
    );
    closed(h, alice, &j);
    for x in [&a1, &a2] {
        let call = info(h, alice, x).await;
        assert_eq!(
            (call.state, call.local_hold, call.local_op.is_none()),
            (CallState::OnHold, true, true),
            "the originals stay held, with no operation pending"
        );
    }
    h.with_gateway(Box::new(|g, _| assert_eq!(g.active_calls().len(), 2)))
        .await;
    // Still usable: A unholds the first and hangs both up.
    cmd(h, alice, unhold(&a1)).await;
    reach(h, alice, &a1, CallState::Connected, 2).await;
    reach(h, bob, &b, CallState::Connected, 2).await;
    cmd(h, alice, end(&a1)).await;
    cmd(h, alice, end(&a2)).await;
    reach(h, bob, &b, CallState::Ended, 1).await;
    reach(h, carol, &c, CallState::Ended, 1).await;
    all_offline(h, &[alice, bob, carol]).await;
    all_events(h, &[alice, bob, carol])
}

// ----- §6.12 video ------------------------------------------------------------------

/// §6.12: A adds video to an audio call; `call:newMedia` with the new
/// local track; both stay connected. Then A mutes and unmutes the new
/// track. (B gets no `call:newTrack` for A's video: the fake engine
/// reports the far end's track only once per peer, on the first answer.)
pub async fn add_video(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let (a, b) = connected_call(h, alice, bob, "bob", 1).await;
    let (na, nb) = (h.events(alice).len(), h.events(bob).len());
    cmd(
        h,
        alice,
        CallCommand::AddMedia {
            call_id: a.clone(),
            media: MediaOptions {
                video: true,
                ..MediaOptions::default()
            },
            bandwidth: BandwidthOptions::default(),
        },
    )
    .await;
    expect(h, alice, "call:newMedia", &|e| {
        e.iter().any(|x| matches!(x, Event::CallNewMedia { .. }))
    })
    .await;
    let (local, tracks, error) = h.events(alice)[na..]
        .iter()
        .find_map(|e| match e {
            Event::CallNewMedia {
                local,
                tracks,
                error,
                ..
            } => Some((*local, tracks.clone(), error.clone())),
            _ => None,
        })
        .expect("call:newMedia");
    assert!(local && error.is_none());
    assert_eq!(tracks.len(), 1);
    let ca = info(h, alice, &a).await;
    assert_eq!(ca.state, CallState::Connected);
    assert!(ca.local_tracks.contains(&tracks[0]));
    assert_eq!(
        ca.tracks[&tracks[0]].kind,
        kandy_core::call::media::TrackKind::Video
    );
    assert!(
        states(&h.events(alice)[na..], &a).is_empty(),
        "no state change"
    );
    // B answered the offer (the gateway's transaction is closed) and stays
    // connected.
    h.with_gateway(Box::new(|g, _| {
        assert!(!g.active_calls()[0].transaction_open)
    }))
    .await;
    assert_eq!(info(h, bob, &b).await.state, CallState::Connected);

    // The new track can be muted like any other (`media:muted` at once,
    // the engine told).
    let video = tracks[0].clone();
    cmd(
        h,
        alice,
        CallCommand::MuteTracks {
            tracks: vec![video.clone()],
        },
    )
    .await;
    expect(h, alice, "media:muted", &|e| {
        e.iter().any(|x| matches!(x, Event::MediaMuted { .. }))
    })
    .await;
    assert_eq!(
        h.engine(alice).peers[&a].muted,
        std::slice::from_ref(&video)
    );
    assert!(info(h, alice, &a).await.tracks[&video].muted);
    cmd(
        h,
        alice,
        CallCommand::UnmuteTracks {
            tracks: vec![video.clone()],
        },
    )
    .await;
    expect(h, alice, "media:unmuted", &|e| {
        e.iter().any(|x| matches!(x, Event::MediaUnmuted { .. }))
    })
    .await;
    assert!(h.engine(alice).peers[&a].muted.is_empty());

    cmd(h, alice, end(&a)).await;
    reach(h, bob, &b, CallState::Ended, 1).await;
    assert_eq!(states(&h.events(bob)[nb..], &b), [CallState::Ended]);
    all_offline(h, &[alice, bob]).await;
    all_events(h, &[alice, bob])
}

// ----- §6.13 / §7.6 failure paths --------------------------------------------------

/// §6.13: calling a user the gateway does not know: the POST succeeds,
/// then `callEnd` 404.
pub async fn unknown_callee(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let a = make(h, alice, "nobody").await;
    reach(h, alice, &a, CallState::Ended, 1).await;
    let ev = h.events(alice);
    assert!(ev.contains(&Event::CallStart {
        call_id: a.clone(),
        error: None
    }));
    assert_eq!(states(&ev, &a), [CallState::Ended], "Initiated, then Ended");
    assert_eq!(
        end_transition(&ev, &a),
        (Some(404), Some("Not Found".into()))
    );
    closed(h, alice, &a);
    all_offline(h, &[alice]).await;
    all_events(h, &[alice])
}

/// §6.13 / §7.6: calling a known user who is not connected: 480
/// Temporarily Unavailable; the callee's log has the missed call.
pub async fn offline_callee(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let a = make(h, alice, "bob@example.com").await;
    reach(h, alice, &a, CallState::Ended, 1).await;
    assert_eq!(states(&h.events(alice), &a), [CallState::Ended]);
    assert_eq!(
        end_transition(&h.events(alice), &a),
        (Some(480), Some("Temporarily Unavailable".into()))
    );
    h.with_gateway(Box::new(|g, _| {
        let log = g.call_logs("bob@example.com");
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].result, CallResult::Unavailable);
    }))
    .await;
    all_offline(h, &[alice]).await;
    all_events(h, &[alice])
}

/// §6.13 "no answer": nobody answers; the gateway's ringing timeout ends
/// A's call with 480 No Answer and cancels B's, which B ends 3 s later
/// (the client's callCancel delay).
pub async fn no_answer(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let a = make(h, alice, "bob").await;
    let b = incoming(h, bob, 1).await;
    reach(h, alice, &a, CallState::Ringing, 1).await;
    reach(h, alice, &a, CallState::Ended, 1).await;
    assert_eq!(
        end_transition(&h.events(alice), &a),
        (Some(480), Some("No Answer".into()))
    );
    notification(h, bob, "callCancel", 1).await;
    // Still ringing until the client's cancel delay is over.
    reach(h, bob, &b, CallState::Ended, 1).await;
    assert_eq!(states(&h.events(bob), &b), [CallState::Ended]);
    assert_eq!(end_transition(&h.events(bob), &b), (None, None));
    closed(h, bob, &b);
    h.with_gateway(Box::new(|g, _| {
        assert_eq!(
            g.call_logs("bob@example.com")[0].result,
            CallResult::NoAnswer
        );
    }))
    .await;
    all_offline(h, &[alice, bob]).await;
    all_events(h, &[alice, bob])
}

/// §7.5 glare, made deterministic: while A's direct transfer of B to C is
/// ringing, the gateway locks the A–B call, so B's hold (a
/// `startCallUpdate`) gets 409 with statusCode 49 exactly as in glare,
/// whatever the timing. (Two parties updating at once is a race over a
/// real network: which offer reaches the gateway first is not
/// deterministic.) Then C declines: the transfer fails (§6.9 failure,
/// `sessionFail`), A and B stay held, and A can take B back.
pub async fn glare_and_failed_transfer(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let carol = online(h, "carol").await;
    let (a, b) = connected_call(h, alice, bob, "bob", 1).await;
    hold_and_wait(h, alice, &a, bob, &b).await;
    cmd(
        h,
        alice,
        CallCommand::DirectTransfer {
            call_id: a.clone(),
            destination: "carol".into(),
        },
    )
    .await;
    // C rings: the gateway has taken the transfer and locked A–B.
    let c = incoming(h, carol, 1).await;

    let nb = h.events(bob).len();
    cmd(h, bob, hold(&b)).await;
    let b2 = b.clone();
    expect(h, bob, "B's hold failing", &move |e| {
        changes(&e[nb..], &b2).count() == 1
    })
    .await;
    let (state, transition, error) = last_change(&h.events(bob), &b);
    let error = error.expect("the hold failed");
    assert_eq!(error.code, ErrorCode::CallGenericError);
    assert!(error.message.contains("glare"), "{error:?}");
    assert!(transition.is_none());
    assert_eq!(state, CallState::OnHold);
    assert_eq!(
        hold_flags(h, bob, &b).await,
        (CallState::OnHold, false, true)
    );

    cmd(h, carol, CallCommand::Reject { call_id: c.clone() }).await;
    reach(h, carol, &c, CallState::Ended, 1).await;
    let na = h.events(alice).len();
    let a2 = a.clone();
    expect(h, alice, "the transfer failing", &move |e| {
        changes(&e[na..], &a2).count() == 1
    })
    .await;
    let (state, transition, error) = last_change(&h.events(alice), &a);
    assert_eq!(state, CallState::OnHold);
    let t = transition.expect("a transition");
    assert_eq!(
        (t.status_code, t.reason_text.as_deref()),
        (Some(-1), Some("Direct Transfer Failed"))
    );
    assert_eq!(
        error.map(|e| e.message),
        Some("Operation DIRECT_TRANSFER failed.".to_owned())
    );
    assert_eq!(
        hold_flags(h, alice, &a).await,
        (CallState::OnHold, true, false)
    );
    assert_eq!(info(h, alice, &a).await.local_op, None);

    // The call is free again: A takes B back.
    cmd(h, alice, unhold(&a)).await;
    reach(h, alice, &a, CallState::Connected, 2).await;
    reach(h, bob, &b, CallState::Connected, 2).await;
    cmd(h, alice, end(&a)).await;
    reach(h, bob, &b, CallState::Ended, 1).await;
    all_offline(h, &[alice, bob, carol]).await;
    all_events(h, &[alice, bob, carol])
}

/// The callee's subscription ends (the gateway terminates it) while the
/// call rings: A's call ends with 480 Temporarily Unavailable.
pub async fn subscription_ends_while_ringing(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let a = make(h, alice, "bob").await;
    let b = incoming(h, bob, 1).await;
    reach(h, alice, &a, CallState::Ringing, 1).await;
    h.with_gateway(Box::new(|g, now| {
        assert_eq!(g.terminate_user(now, "bob@example.com", None), 1);
    }))
    .await;
    reach(h, alice, &a, CallState::Ended, 1).await;
    assert_eq!(
        end_transition(&h.events(alice), &a),
        (Some(480), Some("Temporarily Unavailable".into()))
    );
    expect(h, bob, "B disconnected", &|e| {
        e.iter().any(|x| {
            matches!(
                x,
                Event::AuthChange {
                    status: ConnectionStatus::Disconnected,
                    forced: true,
                    ..
                }
            )
        })
    })
    .await;
    // B's session is over, so is its call: the core ends live calls when
    // the session ends (4.8.0 leaves them up with nothing to signal them).
    let call = info(h, bob, &b).await;
    assert_eq!(call.state, CallState::Ended);
    assert_eq!(
        call.error.map(|e| e.code),
        Some(kandy_core::ErrorCode::CallStateDesync)
    );
    all_offline(h, &[alice]).await;
    all_events(h, &[alice, bob])
}

/// The callee's subscription ends mid-call: A's call ends with 200 Normal
/// Clearing (the gateway hangs up B's leg for it); B's session ends with
/// `gone`.
pub async fn subscription_ends_mid_call(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let (a, b) = connected_call(h, alice, bob, "bob", 1).await;
    h.with_gateway(Box::new(|g, now| {
        assert_eq!(g.terminate_user(now, "bob@example.com", None), 1);
    }))
    .await;
    reach(h, alice, &a, CallState::Ended, 1).await;
    assert_eq!(
        end_transition(&h.events(alice), &a),
        (Some(200), Some("Normal Clearing".into()))
    );
    expect(h, bob, "B disconnected", &|e| {
        e.iter().any(|x| {
            matches!(
                x,
                Event::AuthChange {
                    status: ConnectionStatus::Disconnected,
                    forced: true,
                    ..
                }
            )
        })
    })
    .await;
    h.with_gateway(Box::new(|g, _| {
        assert!(g.active_calls().is_empty());
        assert!(g.call_legs_of("bob@example.com").is_empty());
    }))
    .await;
    // B's call ends with its session (see above).
    assert_eq!(info(h, bob, &b).await.state, CallState::Ended);
    all_offline(h, &[alice]).await;
    all_events(h, &[alice, bob])
}

/// §6.6 third bullet (see [`dual_hold`]): in dual hold, A unholds while B
/// still holds; B's answer is inactive, so A stays On Hold with
/// `remoteHold` set from that answer. (§4.4's unhold row alone, with B's
/// hold offer read as NO_CHANGE by §4.6.3 rule 7, would say Connected; the
/// core follows §6.6.)
pub async fn unhold_while_remote_holds(h: &mut dyn Harness) -> Vec<Vec<String>> {
    let alice = online(h, "alice").await;
    let bob = online(h, "bob").await;
    let (a, b) = connected_call(h, alice, bob, "bob", 1).await;
    hold_and_wait(h, alice, &a, bob, &b).await;
    let n = h.events(alice).len();
    cmd(h, bob, hold(&b)).await;
    let a2 = a.clone();
    expect(h, alice, "A's change for B's hold", &move |e| {
        changes(&e[n..], &a2).count() == 1
    })
    .await;
    let n = h.events(alice).len();
    cmd(h, alice, unhold(&a)).await;
    let a2 = a.clone();
    expect(h, alice, "A's unhold done", &move |e| {
        changes(&e[n..], &a2).count() == 1
    })
    .await;
    assert_eq!(
        hold_flags(h, alice, &a).await,
        (CallState::OnHold, false, true),
        "{}: B still holds, and its answer to A's unhold is inactive",
        h.name()
    );
    all_events(h, &[alice, bob])
}
