//! Public types are serde-serializable; a whole gateway can be snapshotted
//! and resumed.

mod common;

use common::*;
use kandy_gateway::{Gateway, GatewayStats, HttpResponse, Output};

#[test]
fn gateway_snapshot_round_trips_and_resumes_identically() {
    let mut gw = gateway();
    let s = subscribe(&mut gw, T0, "alice");
    let sock = open(&mut gw, T0 + 1, &s);
    let _t = gw
        .mint_token(
            T0,
            "bob@example.com",
            kandy_gateway::TokenKind::Access,
            None,
        )
        .expect("user");
    let json = serde_json::to_string(&gw).expect("serialize");
    let mut copy: Gateway = serde_json::from_str(&json).expect("deserialize");
    copy.check_invariants().expect("invariants");
    assert_eq!(copy.stats(), gw.stats());

    // Both continue with the same ids.
    let a = subscribe(&mut gw, T0 + 2, "bob");
    let b = subscribe(&mut copy, T0 + 2, "bob");
    assert_eq!(a.channel, b.channel);
    gw.handle_timeout(T0 + 3_600_000);
    copy.handle_timeout(T0 + 3_600_000);
    let (x, y) = (drain(&mut gw), drain(&mut copy));
    assert_eq!(x, y);
    assert_eq!(closes(&x), [sock]);
}

#[test]
fn debug_does_not_leak_the_generator_and_types_serialize() {
    let gw = gateway();
    let dbg = format!("{gw:?}");
    assert!(dbg.starts_with("Gateway {"));
    assert!(!dbg.contains("rng"));
    let out = Output::Close {
        socket: kandy_gateway::SocketId(3),
    };
    let v = serde_json::to_value(&out).expect("serialize");
    assert_eq!(serde_json::from_value::<Output>(v).expect("back"), out);
    let stats: GatewayStats =
        serde_json::from_str(&serde_json::to_string(&gw.stats()).expect("ser")).expect("de");
    assert_eq!(stats, gw.stats());
    let r = HttpResponse::default();
    assert_eq!(
        serde_json::from_str::<HttpResponse>(&serde_json::to_string(&r).expect("ser")).expect("de"),
        r
    );
}
