//! The SDP toolkit on the real Chromium SDPs of the 4.8.0 transcripts, and
//! on arbitrary input.

use kandy_core::call::sdp::{classify, RemoteOperation, Sdp};
use proptest::prelude::*;
use serde_json::Value;

/// Every SDP a real 4.8.0 client sent or received, in order, per user.
fn transcript_sdps(user: &str) -> Vec<(String, String)> {
    let path = format!(
        "{}/../gateway/tests/fixtures/{user}-4.8.0-session.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|r| {
            let (kind, sdp) = match r["kind"].as_str()? {
                "http" => (
                    r["request_body"]["callControlRequest"]["type"]
                        .as_str()?
                        .to_owned(),
                    r["request_body"]["callControlRequest"]["sdp"]
                        .as_str()?
                        .to_owned(),
                ),
                "ws-gateway-to-client" => (
                    r["frame"]["notificationMessage"]["eventType"]
                        .as_str()?
                        .to_owned(),
                    r["frame"]["notificationMessage"]["sessionParams"]["sdp"]
                        .as_str()?
                        .to_owned(),
                ),
                _ => return None,
            };
            Some((kind, sdp))
        })
        .collect()
}

#[test]
fn real_sdps_round_trip() {
    for user in ["alice", "bob"] {
        let sdps = transcript_sdps(user);
        assert!(sdps.len() >= 4, "{user}: {}", sdps.len());
        for (kind, text) in sdps {
            let sdp = Sdp::parse(&text).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(sdp.to_string(), text, "{kind} does not round-trip");
            assert!(sdp.media.iter().all(|m| m.mid().is_some()));
        }
    }
}

#[test]
fn bob_recognises_alices_hold_and_unhold() {
    // Bob's remote SDPs in order: the call offer, then alice's hold re-offer,
    // then her unhold re-offer (02-calls §6.5).
    let remote: Vec<Sdp> = transcript_sdps("bob")
        .into_iter()
        .filter(|(k, _)| k == "call" || k == "startCallUpdate")
        .map(|(_, t)| Sdp::parse(&t).unwrap())
        .collect();
    assert_eq!(remote.len(), 3);
    assert_eq!(classify(&remote[0], &remote[1]), RemoteOperation::Hold);
    assert_eq!(classify(&remote[1], &remote[2]), RemoteOperation::Unhold);
    assert!(remote[0].has_media_flowing() && !remote[1].has_media_flowing());
    assert_eq!(
        remote[0].session_id(),
        remote[1].session_id(),
        "same endpoint renegotiating"
    );
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics_and_reparses_to_itself(text in "(v=0\r\n)?([a-z]=[ -~]{0,20}\r?\n){0,12}") {
        if let Ok(sdp) = Sdp::parse(&text) {
            let again = Sdp::parse(&sdp.to_string()).expect("own output parses");
            prop_assert_eq!(again, sdp);
        }
    }

    #[test]
    fn classification_is_total(a in prop::collection::vec(0u8..4, 0..4), b in prop::collection::vec(0u8..4, 0..4)) {
        let dirs = ["sendrecv", "sendonly", "recvonly", "inactive"];
        let make = |v: &[u8]| {
            let mut t = String::from("v=0\r\n");
            for (i, d) in v.iter().enumerate() {
                t.push_str(&format!("m=audio 9 RTP/AVP 0\r\na=mid:{i}\r\na={}\r\n", dirs[*d as usize]));
            }
            Sdp::parse(&t).unwrap()
        };
        let _ = classify(&make(&a), &make(&b));
    }
}
