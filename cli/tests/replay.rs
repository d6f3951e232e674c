//! `kandy demo --record DIR` then `kandy replay` on each recording: exit 0;
//! a hand-mutated copy: exit 1, naming the step.

use std::process::Command;

const KANDY: &str = env!("CARGO_BIN_EXE_kandy");

#[test]
fn demo_recordings_replay_and_a_mutated_one_diverges_at_its_step() {
    let dir = std::env::temp_dir().join(format!("kandy-cli-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let demo = Command::new(KANDY)
        .args(["demo", "--record"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    for name in ["alice", "bob"] {
        let file = dir.join(format!("{name}.jsonl"));
        let out = Command::new(KANDY)
            .arg("replay")
            .arg(&file)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{name}: {stdout}");
        assert!(stdout.starts_with("ok: "), "{stdout}");
        let summary = Command::new(KANDY)
            .args(["replay", "--summary"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&summary.stdout).contains("auth:change"));
    }

    // Mutate the first `call:stateChange` alice recorded.
    let text = std::fs::read_to_string(dir.join("alice.jsonl")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let (i, step) = lines
        .iter()
        .enumerate()
        .find_map(|(i, l)| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            (v["effect"]["type"] == "call:stateChange").then(|| (i, v["step"].as_u64().unwrap()))
        })
        .expect("alice's recording has a call");
    let mut v: serde_json::Value = serde_json::from_str(&lines[i]).unwrap();
    v["effect"]["state"] = "Ended".into();
    lines[i] = v.to_string();
    let mutated = dir.join("mutated.jsonl");
    std::fs::write(&mutated, lines.join("\n") + "\n").unwrap();
    let out = Command::new(KANDY)
        .arg("replay")
        .arg(&mutated)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("DIVERGENCE at step {step} ")),
        "{stdout}"
    );
    assert!(
        stdout.contains("expected:") && stdout.contains("actual:"),
        "{stdout}"
    );
    let json = Command::new(KANDY)
        .args(["replay", "--json"])
        .arg(&mutated)
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["divergence"]["step"], step);
    // Steps before the mutation still match.
    let until = Command::new(KANDY)
        .args(["replay", "--until", &(step - 1).to_string()])
        .arg(&mutated)
        .output()
        .unwrap();
    assert_eq!(until.status.code(), Some(0));

    std::fs::write(dir.join("bad.jsonl"), "not a recording\n").unwrap();
    let bad = Command::new(KANDY)
        .arg("replay")
        .arg(dir.join("bad.jsonl"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("line 1"));
    let _ = std::fs::remove_dir_all(&dir);
}
