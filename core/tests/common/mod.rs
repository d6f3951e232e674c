//! A TestStore in the spirit of The Composable Architecture: feed one input,
//! assert every effect it produced (in order), and compare the whole state
//! with the expected one the test keeps alongside. A step that leaves an
//! effect unasserted fails at the next step or when the store is dropped.

#![allow(dead_code)]

use std::collections::VecDeque;

use kandy_core::config::LogLevel;
use kandy_core::{
    Client, Command, Config, Credentials, Effect, Error, Event, HttpOutcome, HttpRequest, Input,
    InputKind, LogRecord, Now, RequestId, SocketId, State,
};

pub const REST: &str = "https://gw.test:443";
pub const WS: &str = "wss://gw.test:443";

/// The configuration the session tests run with: logs off (a dedicated test
/// looks at logs), everything else at its default.
pub fn config() -> Config {
    let mut c = Config::for_server("gw.test", true, 443);
    c.logs.log_level = LogLevel::Silent;
    c
}

pub fn alice() -> Credentials {
    Credentials::password("alice@example.com", "alice-pw")
}

pub fn subscribe_ok(expires: u64) -> HttpOutcome {
    HttpOutcome::json(
        200,
        format!(
            r#"{{"subscribeResponse":{{"statusCode":0,"subscription":"/rest/version/1/user/alice@example.com/subscription/sub-1","subscriptionParams":{{"notificationChannel":"/rest/version/1/user/alice@example.com/notification/websocket/chan-1","expires":{expires},"service":["call","IM","presence"],"sessionId":"sess-1"}}}}}}"#
        ),
    )
}

pub struct TestStore {
    pub client: Client,
    pub now: Now,
    pub expected: State,
    effects: VecDeque<Effect>,
    pub logs: Vec<LogRecord>,
}

impl TestStore {
    pub fn new(config: Config) -> Self {
        let client = Client::new(config, 7);
        let expected = client.state().clone();
        TestStore {
            client,
            now: Now::at(1_000_000),
            expected,
            effects: VecDeque::new(),
            logs: Vec::new(),
        }
    }

    fn assert_drained(&self) {
        assert!(
            self.effects.is_empty(),
            "unasserted effects from the previous step: {:#?}",
            self.effects
        );
    }

    /// Feeds an input at the current time; `update` turns the expected state
    /// into what the input should produce; the whole state is compared.
    pub fn input(&mut self, kind: InputKind, update: impl FnOnce(&mut State)) {
        self.assert_drained();
        self.client
            .handle(Input::new(self.now, kind))
            .expect("input refused");
        self.collect();
        self.expected.now = self.now;
        update(&mut self.expected);
        self.assert_state();
    }

    pub fn send(&mut self, command: Command, update: impl FnOnce(&mut State)) {
        self.input(InputKind::Command(command), update)
    }

    /// A refused command: the error, no effect, and an unchanged state.
    pub fn send_err(&mut self, command: Command, expected: impl FnOnce(&Error) -> bool) {
        self.assert_drained();
        let before = self.client.state().clone();
        let err = self
            .client
            .handle(Input::command(self.now, command))
            .expect_err("command accepted");
        assert!(expected(&err), "unexpected error {err:?}");
        assert!(
            self.client.poll_effect().is_none(),
            "a refused command produced effects"
        );
        assert_eq!(
            self.client.state(),
            &before,
            "a refused command changed the state"
        );
    }

    fn collect(&mut self) {
        while let Some(e) = self.client.poll_effect() {
            match e {
                Effect::Log(r) => self.logs.push(r),
                other => self.effects.push_back(other),
            }
        }
    }

    pub fn assert_state(&self) {
        if self.client.state() != &self.expected {
            let actual = kandy_core::secret::with_secrets_exposed(|| {
                serde_json::to_string_pretty(self.client.state()).unwrap()
            });
            let expected = kandy_core::secret::with_secrets_exposed(|| {
                serde_json::to_string_pretty(&self.expected).unwrap()
            });
            let diff: Vec<String> = actual
                .lines()
                .zip(expected.lines())
                .enumerate()
                .filter(|(_, (a, e))| a != e)
                .take(12)
                .map(|(i, (a, e))| format!("line {i}: actual {a} | expected {e}"))
                .collect();
            panic!(
                "state differs:\n{}\n(full actual state:\n{actual})",
                diff.join("\n")
            );
        }
    }

    pub fn advance(&mut self, ms: u64) {
        self.now = self.now.plus(ms);
    }

    /// Moves the clock to the client's next deadline and fires it.
    pub fn fire(&mut self, update: impl FnOnce(&mut State)) {
        let at = self.client.poll_timeout().expect("no deadline");
        assert!(at >= self.now.mono_ms, "deadline in the past");
        self.advance(at - self.now.mono_ms);
        self.input(InputKind::Timeout, update);
    }

    pub fn deadline(&self) -> Option<u64> {
        self.client.poll_timeout()
    }

    pub fn next(&mut self) -> Effect {
        self.effects.pop_front().expect("no more effects")
    }

    pub fn expect(&mut self, effect: Effect) {
        assert_eq!(self.next(), effect);
    }

    pub fn expect_event(&mut self, event: Event) {
        self.expect(Effect::Event(event));
    }

    pub fn expect_http(&mut self) -> HttpRequest {
        match self.next() {
            Effect::Http(r) => r,
            other => panic!("expected an HTTP request, got {other:?}"),
        }
    }

    pub fn expect_ws_open(&mut self) -> (SocketId, String) {
        match self.next() {
            Effect::WsOpen { socket, url } => (socket, url),
            other => panic!("expected a socket open, got {other:?}"),
        }
    }

    pub fn expect_ws_send(&mut self, socket: SocketId, text: &str) {
        self.expect(Effect::WsSend {
            socket,
            text: text.to_owned(),
        });
    }

    pub fn expect_ws_close(&mut self, socket: SocketId) {
        self.expect(Effect::WsClose { socket });
    }

    pub fn expect_none(&self) {
        self.assert_drained();
    }

    pub fn respond(
        &mut self,
        id: RequestId,
        outcome: HttpOutcome,
        update: impl FnOnce(&mut State),
    ) {
        self.input(InputKind::HttpResponse { id, outcome }, update)
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_drained();
        }
    }
}
