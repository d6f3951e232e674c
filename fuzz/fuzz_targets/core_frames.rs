//! Arbitrary WebSocket frames into a connected core client: no panic, and
//! the client stays connected (no frame can end a session except `gone`).
#![no_main]

use kandy_core::{Client, Command, Config, Credentials, HttpOutcome, Input, InputKind, Now, RequestId, SocketId};
use libfuzzer_sys::fuzz_target;

fn connected() -> Client {
    let mut c = Client::new(Config::for_server("gw.test", true, 443), 1);
    let now = Now::at(0);
    let _ = c.handle(Input::command(now, Command::Connect(Credentials::password("a@b", "pw"))));
    let body = r#"{"subscribeResponse":{"subscription":"/s/1","subscriptionParams":{"notificationChannel":"/n/1","expires":60,"service":["call"]}}}"#;
    let _ = c.handle(Input::new(now, InputKind::HttpResponse { id: RequestId(1), outcome: HttpOutcome::json(200, body) }));
    let _ = c.handle(Input::new(now, InputKind::WsOpened { socket: SocketId(1) }));
    while c.poll_effect().is_some() {}
    c
}

fuzz_target!(|data: &[u8]| {
    let mut client = connected();
    for (i, chunk) in data.split(|b| *b == 0).enumerate() {
        let text = String::from_utf8_lossy(chunk).into_owned();
        let gone = text.contains("gone");
        let _ = client.handle(Input::new(Now::at(i as u64), InputKind::WsFrame { socket: SocketId(1), text }));
        while client.poll_effect().is_some() {}
        if !gone {
            assert!(client.connection().is_connected);
        }
    }
});
