//! Every session scenario, in memory and over loopback: same events.

use kandy_conformance::{scenarios, Harness, Loopback, Memory};

macro_rules! both_ways {
    ($name:ident) => {
        #[test]
        fn $name() {
            let memory = smol::block_on(async {
                let mut h = Memory::new();
                let events = scenarios::$name(&mut h).await;
                h.finish().await;
                events
            });
            let loopback = smol::block_on(async {
                let mut h = Loopback::start();
                let events = scenarios::$name(&mut h).await;
                h.finish().await;
                events
            });
            assert_eq!(memory, loopback, "memory and loopback disagree");
            assert!(memory.iter().all(|c| !c.is_empty()));
        }
    };
}

both_ways!(connect_disconnect);
both_ways!(wrong_password);
both_ways!(hmac_then_refresh);
both_ways!(socket_dropped_and_reopened);
both_ways!(gone);
both_ways!(keepalive);
