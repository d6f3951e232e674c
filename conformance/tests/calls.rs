//! Every call scenario, in memory and over loopback: each client sees the
//! same normalised events both ways. `KANDY_CONFORMANCE_PRINT=1` prints
//! them (with `--nocapture`).

use kandy_conformance::{calls, Harness, Loopback, Memory};

/// Compares two runs client by client, showing the first difference.
fn same(memory: &[Vec<String>], loopback: &[Vec<String>]) {
    assert_eq!(memory.len(), loopback.len(), "not the same clients");
    for (c, (m, l)) in memory.iter().zip(loopback).enumerate() {
        if m != l {
            let at = m
                .iter()
                .zip(l)
                .position(|(x, y)| x != y)
                .unwrap_or(m.len().min(l.len()));
            panic!(
                "client {c}: memory and loopback disagree at event {at}\nmemory:\n{m:#?}\nloopback:\n{l:#?}"
            );
        }
    }
}

macro_rules! both_ways {
    ($name:ident $(, #[$attr:meta])?) => {
        #[test]
        $(#[$attr])?
        fn $name() {
            let memory = smol::block_on(async {
                let mut h = Memory::new();
                let events = calls::$name(&mut h).await;
                h.finish().await;
                events
            });
            let loopback = smol::block_on(async {
                let mut h = Loopback::start();
                let events = calls::$name(&mut h).await;
                h.finish().await;
                events
            });
            if std::env::var_os("KANDY_CONFORMANCE_PRINT").is_some() {
                println!("{}: {memory:#?}", stringify!($name));
            }
            same(&memory, &loopback);
            assert!(memory.iter().all(|c| !c.is_empty()));
        }
    };
}

both_ways!(answered);
both_ways!(reject);
both_ways!(ignore);
both_ways!(remote_end);
both_ways!(local_hold_unhold);
both_ways!(remote_hold);
both_ways!(dual_hold);
both_ways!(dtmf);
both_ways!(forward);
both_ways!(direct_transfer);
both_ways!(consultative_transfer);
both_ways!(join);
both_ways!(add_video);
both_ways!(unknown_callee);
both_ways!(offline_callee);
both_ways!(no_answer);
both_ways!(glare_and_failed_transfer);
both_ways!(subscription_ends_while_ringing);
both_ways!(subscription_ends_mid_call);

// 02-calls §6.6 (dual hold): the caller that unholds while the callee
// holds stays On Hold, with remote hold set from the inactive answer.
both_ways!(unhold_while_remote_holds);
