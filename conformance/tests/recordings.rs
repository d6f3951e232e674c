//! The recorded corpus replays through today's core with every effect
//! unchanged: a behaviour change shows up here as a divergence at a step.

use kandy_core::replay::{replay, Recording, ReplayError};

fn corpus() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("conformance/recordings")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).expect("readable"),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_recording_replays_without_divergence() {
    let files = corpus();
    assert!(files.len() >= 2, "the corpus is missing");
    for (name, text) in files {
        let recording = Recording::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            recording.steps.len() > 10,
            "{name} is too short to mean anything"
        );
        let report = replay(&recording);
        assert!(
            report.divergence.is_none(),
            "{name}: {:#?}",
            report.divergence
        );
    }
}

#[test]
fn a_recording_from_another_format_version_is_refused_with_advice() {
    let (_, text) = corpus().remove(0);
    let bumped = text.replacen("\"version\":1", "\"version\":99", 1);
    match Recording::parse(&bumped) {
        Err(e @ ReplayError::UnsupportedVersion { .. }) => {
            assert!(e.to_string().contains("99"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_corpus_holds_no_secret() {
    for (name, text) in corpus() {
        for leak in [
            // The demo users' passwords as the connect command carries them.
            "\"password\":\"alice\"",
            "\"password\":\"bob\"",
            // The Basic values they make.
            "YWxpY2VAZXhhbXBsZS5jb206YWxpY2U",
            "Ym9iQGV4YW1wbGUuY29tOmJvYg",
            // The gateway's notification channel paths.
            "notificationChannel/",
        ] {
            assert!(!text.contains(leak), "{name} holds {leak}");
        }
        assert!(
            text.contains("[redacted]"),
            "{name} was recorded with secrets exposed"
        );
    }
}
