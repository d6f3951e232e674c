//! The `kandy` binary end to end over loopback: the demo, and `serve` with
//! `connect` against it. Every child process is bounded in time and killed
//! if it overstays.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const KANDY: &str = env!("CARGO_BIN_EXE_kandy");

/// Waits for a child with a deadline (no polling: a thread waits and the
/// test receives its output); kills it past the deadline.
fn wait(child: Child, limit: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("kandy did not exit within {limit:?}");
        }
    }
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(KANDY);
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    wait(cmd.spawn().expect("spawn kandy"), Duration::from_secs(40))
}

#[test]
fn demo_shows_each_step_and_exits_0() {
    let out = run(&["demo"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "emulator listening on http://127.0.0.1:",
        "alice    connected",
        "bob      connected",
        "subscribed to call, IM, presence (Full)",
        "alice    keepalive ping 2 sent",
        "bob      keepalive ping 2 sent",
        "2 subscriptions, 2 sockets attached",
        "bob      incoming call ringing",
        "alice and bob are in a call",
        "alice    call Connected -> OnHold",
        "bob      call Connected -> OnHold",
        "DTMF 1234# handed to the media engine",
        "bob      call Connected -> Ended (Normal Clearing)",
        "the call is over on both sides",
        "alice    disconnected",
        "0 subscriptions left",
        "done: 2 users connected",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}

#[test]
fn demo_json_is_one_object_per_line() {
    let out = run(&["demo", "--json"], &[]);
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(lines
        .iter()
        .all(|l| l["t_ms"].is_u64() && l["actor"].is_string() && l["step"].is_string()));
    assert!(lines
        .iter()
        .any(|l| l["step"] == "auth:change" && l["event"]["status"] == "connected"));
    assert_eq!(lines.iter().filter(|l| l["step"] == "keepalive").count(), 4);
    assert_eq!(lines.last().unwrap()["step"], "stopped");
}

/// `kandy serve --port 0`, returning the child and its port.
fn serve() -> (Child, u16) {
    let mut child = Command::new(KANDY)
        .args(["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn kandy serve");
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .expect("read");
    let port = first
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"));
    (child, port)
}

#[test]
fn connect_against_serve_then_ctrl_c_stops_the_server() {
    let (server, port) = serve();
    let url = format!("http://127.0.0.1:{port}");
    let ok = run(
        &[
            "connect",
            "--server",
            &url,
            "--user",
            "bob@example.com",
            "--duration",
            "1",
            "--json",
        ],
        &[("KANDY_PASSWORD", "bob")],
    );
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{stdout}");
    assert!(
        stdout.contains("\"step\":\"connected\"") && stdout.contains("\"step\":\"disconnected\""),
        "{stdout}"
    );

    let bad = run(
        &[
            "connect",
            "--server",
            &url,
            "--user",
            "bob@example.com",
            "--duration",
            "1",
        ],
        &[("KANDY_PASSWORD", "not-bob")],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("authentication:4"));

    // Ctrl-C: a clean stop that reports what it served.
    let status = Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = wait(server, Duration::from_secs(10));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("stopped: 1 subscriptions created, 0 still alive"));
}
