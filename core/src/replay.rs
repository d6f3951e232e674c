//! Recordings of client sessions, and their replay.
//!
//! The core is deterministic: the same `(Config, seed, inputs)` always give
//! the same effects and [`State`]. A recording therefore needs only the
//! configuration, the seed and the inputs to reproduce a session; it also
//! keeps the effects, so a replay can tell *where* today's core departs from
//! the one that recorded (a regression, or a bug report replayed against a
//! fix).
//!
//! ## The format (version 1)
//!
//! Line-delimited JSON, one object per line (see `docs/recording.md`):
//!
//! ```text
//! {"format":"kandy-recording","version":1,"kandy":"0.1.0","seed":42,"config":{…},"secrets":"redacted"}
//! {"step":1,"input":{"now":{…},"kind":"command","command":"connect",…}}
//! {"step":1,"effect":{"effect":"log",…}}
//! {"step":1,"effect":{"effect":"http",…}}
//! {"step":2,"input":{…}}
//! ```
//!
//! Steps count inputs from 1; an effect carries the step of the input that
//! produced it. Step 0 is the fresh client, before any input.
//!
//! ## Secrets
//!
//! Values are serialized with serde, which redacts credentials to stable
//! placeholders (see [`crate::secret`]) unless the header says `exposed`.
//! A redacted recording replays from redacted inputs, so the replayed client
//! computes different credentials than the live one did (`basic
//! b64("alice:[redacted]")`), but both redact to the same placeholder: the
//! replay compares effects *after* the same serialization the recording
//! went through, never the in-memory values.
//!
//! Everything here is pure: no IO, no clock. The transport writes files
//! with [`Writer`]; tools read them with [`Recording::parse`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::{Client, State};
use crate::config::Config;
use crate::effect::Effect;
use crate::input::Input;
use crate::secret::with_secrets_exposed;

/// The `format` of the header line.
pub const FORMAT: &str = "kandy-recording";

/// The format version this crate writes and reads.
pub const VERSION: u32 = 1;

/// Whether a recording's values are redacted or in clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Secrets {
    /// Credentials replaced by placeholders (the default).
    Redacted,
    /// Credentials in clear: the user set `logs.exposeSecrets`.
    Exposed,
}

impl Secrets {
    /// `Exposed` when the configuration asks for secrets in clear.
    pub fn for_config(config: &Config) -> Self {
        if config.logs.expose_secrets {
            Secrets::Exposed
        } else {
            Secrets::Redacted
        }
    }

    /// Runs `f` with the serialization switch this mode needs.
    pub fn serialize_with<R>(self, f: impl FnOnce() -> R) -> R {
        match self {
            Secrets::Redacted => f(),
            Secrets::Exposed => with_secrets_exposed(f),
        }
    }
}

/// The first line of a recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// The format version ([`VERSION`]).
    pub version: u32,
    /// The version of kandy-core that wrote it, for people: a replay
    /// diverging on another version is the expected sign of a behaviour
    /// change.
    pub kandy: String,
    /// The seed of the client's random generator.
    pub seed: u64,
    /// The configuration the client started with.
    pub config: Config,
    /// Whether values are redacted.
    pub secrets: Secrets,
}

impl Header {
    /// The header for a client started with `config` and `seed`, written by
    /// this crate.
    pub fn new(config: Config, seed: u64) -> Self {
        Header {
            format: FORMAT.to_owned(),
            version: VERSION,
            kandy: env!("CARGO_PKG_VERSION").to_owned(),
            seed,
            secrets: Secrets::for_config(&config),
            config,
        }
    }
}

/// One input and the effects it produced, as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedStep {
    /// The input, deserialized (secrets as the recording has them).
    pub input: Input,
    /// The effects, as serialized at recording time. Kept as JSON: a
    /// redacted effect cannot be turned back into the effect it was.
    pub effects: Vec<Value>,
}

/// A whole recording.
#[derive(Clone, Debug, PartialEq)]
pub struct Recording {
    /// The header line.
    pub header: Header,
    /// The steps, in order; `steps[0]` is step 1.
    pub steps: Vec<RecordedStep>,
}

/// Why a recording could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The file is empty.
    #[error("the recording is empty (no header line)")]
    Empty,
    /// The first line is not a kandy recording header.
    #[error("line 1: not a kandy recording header: {0}")]
    BadHeader(String),
    /// A format version this build does not read.
    #[error(
        "recording format version {found} is not supported (this kandy {ours} reads version {supported}); \
         replay it with the kandy that wrote it ({writer}) or re-record it with this one"
    )]
    UnsupportedVersion {
        /// The version in the file.
        found: u64,
        /// The version this build reads.
        supported: u32,
        /// The `kandy` field of the header, if any.
        writer: String,
        /// This build's version.
        ours: &'static str,
    },
    /// A line after the header is malformed or out of order (1-based).
    #[error("line {line}: {message}")]
    BadLine {
        /// The line number, counting the header as 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// One body line: an input or an effect, with its step.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    step: u64,
    #[serde(default)]
    input: Option<Input>,
    #[serde(default)]
    effect: Option<Value>,
}

impl Recording {
    /// Reads a recording. Never panics: anything unexpected is an error
    /// naming its line (serde_json bounds nesting depth, so hostile input
    /// cannot exhaust the stack).
    pub fn parse(text: &str) -> Result<Recording, ReplayError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty());
        let (_, first) = lines.next().ok_or(ReplayError::Empty)?;
        let header = parse_header(first)?;
        let mut steps: Vec<RecordedStep> = Vec::new();
        for (n, text) in lines {
            let bad = |message: String| ReplayError::BadLine { line: n, message };
            let line: Line = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
            match (line.input, line.effect) {
                (Some(input), None) => {
                    let expected = steps.len() as u64 + 1;
                    if line.step != expected {
                        return Err(bad(format!(
                            "input of step {} where step {expected} was expected",
                            line.step
                        )));
                    }
                    steps.push(RecordedStep {
                        input,
                        effects: Vec::new(),
                    });
                }
                (None, Some(effect)) => {
                    let current = steps.len() as u64;
                    match steps.last_mut() {
                        Some(step) if line.step == current => step.effects.push(effect),
                        Some(_) => {
                            return Err(bad(format!(
                                "effect of step {} after the input of step {current}",
                                line.step
                            )))
                        }
                        None => return Err(bad("an effect before any input".into())),
                    }
                }
                _ => {
                    return Err(bad(
                        "a line must have exactly one of `input` and `effect`".into()
                    ))
                }
            }
        }
        Ok(Recording { header, steps })
    }

    /// The recording in its file format, one line per header, input and
    /// effect, each ending with `\n`.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        let mut push = |v: Result<String, serde_json::Error>| {
            // These types always serialize (string keys only); a failure
            // would be a bug, and a blank line is skipped by `parse`.
            out.push_str(&v.unwrap_or_default());
            out.push('\n');
        };
        push(serde_json::to_string(&self.header));
        for (i, step) in self.steps.iter().enumerate() {
            let n = i as u64 + 1;
            push(self.header.secrets.serialize_with(|| {
                serde_json::to_string(&serde_json::json!({"step": n, "input": step.input}))
            }));
            for e in &step.effects {
                push(serde_json::to_string(
                    &serde_json::json!({"step": n, "effect": e}),
                ));
            }
        }
        out
    }
}

fn parse_header(text: &str) -> Result<Header, ReplayError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| ReplayError::BadHeader(e.to_string()))?;
    if value.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(ReplayError::BadHeader(format!(
            "expected \"format\":\"{FORMAT}\""
        )));
    }
    let version = value.get("version").and_then(Value::as_u64);
    if version != Some(u64::from(VERSION)) {
        return Err(ReplayError::UnsupportedVersion {
            found: version.unwrap_or(0),
            supported: VERSION,
            writer: value
                .get("kandy")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned(),
            ours: env!("CARGO_PKG_VERSION"),
        });
    }
    serde_json::from_value(value).map_err(|e| ReplayError::BadHeader(e.to_string()))
}

/// Formats the lines of a recording as it is made: the transport's
/// recorder feeds it the header, then each input and effect in order, and
/// writes the returned lines (each without its `\n`).
///
/// It numbers the steps, and applies the header's secrets mode to every
/// line, so a recorder cannot mix redacted and clear lines.
#[derive(Clone, Copy, Debug)]
pub struct Writer {
    secrets: Secrets,
    step: u64,
}

impl Writer {
    /// A writer and the header line for a client started with `config`
    /// and `seed`. Secrets are exposed iff `config.logs.exposeSecrets`.
    pub fn start(config: &Config, seed: u64) -> Result<(Writer, String), serde_json::Error> {
        let header = Header::new(config.clone(), seed);
        let line = serde_json::to_string(&header)?;
        Ok((
            Writer {
                secrets: header.secrets,
                step: 0,
            },
            line,
        ))
    }

    /// The secrets mode of every line.
    pub fn secrets(&self) -> Secrets {
        self.secrets
    }

    /// The line of the next input (it starts a new step).
    pub fn input(&mut self, input: &Input) -> Result<String, serde_json::Error> {
        self.step += 1;
        #[derive(Serialize)]
        struct L<'a> {
            step: u64,
            input: &'a Input,
        }
        let step = self.step;
        self.secrets
            .serialize_with(|| serde_json::to_string(&L { step, input }))
    }

    /// The line of an effect of the current step.
    pub fn effect(&mut self, effect: &Effect) -> Result<String, serde_json::Error> {
        #[derive(Serialize)]
        struct L<'a> {
            step: u64,
            effect: &'a Effect,
        }
        let step = self.step;
        self.secrets
            .serialize_with(|| serde_json::to_string(&L { step, effect }))
    }
}

/// The first place a replay departs from its recording.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Divergence {
    /// The step (1-based) whose effects differ.
    pub step: usize,
    /// The index of the first differing effect within the step.
    pub index: usize,
    /// The recorded effect; `None` when the replay produced more effects.
    pub expected: Option<Value>,
    /// The replayed effect; `None` when the replay produced fewer.
    pub actual: Option<Value>,
    /// The state before the step, serialized like the recording.
    pub state_before: Value,
    /// The state after the step (as replayed).
    pub state_after: Value,
}

/// What a replay found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplayReport {
    /// Steps replayed (up to and including the diverging one).
    pub steps: usize,
    /// Effects compared and found equal.
    pub effects: usize,
    /// The first difference, if any.
    pub divergence: Option<Divergence>,
}

impl ReplayReport {
    /// Whether every effect matched.
    pub fn matched(&self) -> bool {
        self.divergence.is_none()
    }
}

/// Re-runs every input from a fresh client and compares the effects.
pub fn replay(recording: &Recording) -> ReplayReport {
    replay_until(recording, usize::MAX)
}

/// [`replay`], stopping after step `last` (1-based; 0 replays nothing).
pub fn replay_until(recording: &Recording, last: usize) -> ReplayReport {
    let secrets = recording.header.secrets;
    let mut client = Client::new(recording.header.config.clone(), recording.header.seed);
    let mut compared = 0;
    for (i, step) in recording.steps.iter().take(last).enumerate() {
        // The state is serialized only when needed: on a divergence it is
        // recomputed from a second run, which keeps the common path fast.
        let _ = client.handle(step.input.clone());
        let mut index = 0;
        let mut differs = None;
        while let Some(effect) = client.poll_effect() {
            if differs.is_none() {
                let actual = secrets.serialize_with(|| serde_json::to_value(&effect));
                let actual = actual.unwrap_or_else(|e| Value::String(format!("<{e}>")));
                match step.effects.get(index) {
                    Some(expected) if *expected == actual => compared += 1,
                    expected => differs = Some((index, expected.cloned(), Some(actual))),
                }
            }
            index += 1;
        }
        if differs.is_none() && index < step.effects.len() {
            differs = Some((index, step.effects.get(index).cloned(), None));
        }
        if let Some((index, expected, actual)) = differs {
            let n = i + 1;
            let mut stepper = Stepper::new(recording);
            stepper.goto(n - 1);
            let state_before = stepper.state_json();
            stepper.forward();
            return ReplayReport {
                steps: n,
                effects: compared,
                divergence: Some(Divergence {
                    step: n,
                    index,
                    expected,
                    actual,
                    state_before,
                    state_after: stepper.state_json(),
                }),
            };
        }
    }
    ReplayReport {
        steps: recording.steps.len().min(last),
        effects: compared,
        divergence: None,
    }
}

/// Walks a recording step by step, for interactive tools.
///
/// Going back re-runs from the start: the core is cheap (hundreds of
/// thousands of inputs a second), and it keeps the stepper free of
/// snapshots.
#[derive(Debug)]
pub struct Stepper<'a> {
    recording: &'a Recording,
    client: Client,
    position: usize,
    effects: Vec<Value>,
}

impl<'a> Stepper<'a> {
    /// At step 0: a fresh client, no input yet.
    pub fn new(recording: &'a Recording) -> Self {
        Stepper {
            recording,
            client: Client::new(recording.header.config.clone(), recording.header.seed),
            position: 0,
            effects: Vec::new(),
        }
    }

    /// The recording walked.
    pub fn recording(&self) -> &'a Recording {
        self.recording
    }

    /// The last step applied (0 before any).
    pub fn position(&self) -> usize {
        self.position
    }

    /// The number of steps in the recording.
    pub fn len(&self) -> usize {
        self.recording.steps.len()
    }

    /// Whether the recording has no steps.
    pub fn is_empty(&self) -> bool {
        self.recording.steps.is_empty()
    }

    /// Applies the next step; false at the end.
    pub fn forward(&mut self) -> bool {
        let Some(step) = self.recording.steps.get(self.position) else {
            return false;
        };
        let _ = self.client.handle(step.input.clone());
        let secrets = self.recording.header.secrets;
        self.effects.clear();
        while let Some(e) = self.client.poll_effect() {
            let v = secrets.serialize_with(|| serde_json::to_value(&e));
            self.effects
                .push(v.unwrap_or_else(|e| Value::String(format!("<{e}>"))));
        }
        self.position += 1;
        true
    }

    /// Goes to step `n` (clamped to the last step), re-running from the
    /// start when `n` is behind.
    pub fn goto(&mut self, n: usize) {
        let n = n.min(self.len());
        if n < self.position {
            *self = Stepper::new(self.recording);
        }
        while self.position < n && self.forward() {}
    }

    /// The input of the current step (`None` at step 0).
    pub fn input(&self) -> Option<&'a Input> {
        self.position
            .checked_sub(1)
            .and_then(|i| self.recording.steps.get(i))
            .map(|s| &s.input)
    }

    /// The effects the current step produced in this replay.
    pub fn effects(&self) -> &[Value] {
        &self.effects
    }

    /// The effects recorded for the current step.
    pub fn recorded_effects(&self) -> &'a [Value] {
        self.position
            .checked_sub(1)
            .and_then(|i| self.recording.steps.get(i))
            .map_or(&[], |s| &s.effects)
    }

    /// The client's state.
    pub fn state(&self) -> &State {
        self.client.state()
    }

    /// The state serialized like the recording's values.
    pub fn state_json(&self) -> Value {
        self.recording
            .header
            .secrets
            .serialize_with(|| serde_json::to_value(self.client.state()))
            .unwrap_or(Value::Null)
    }
}

/// The value at a dotted path (`session.status`, `calls.list.0`); array
/// elements by index. The empty path is the value itself.
pub fn json_path<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .filter(|p| !p.is_empty())
        .try_fold(value, |v, key| match v {
            Value::Object(m) => m.get(key),
            Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        })
}

/// The dotted paths whose values differ between `before` and `after`, at
/// the deepest level where both are objects or arrays.
pub fn changed_paths(before: &Value, after: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff(before, after, String::new(), &mut out);
    out
}

fn diff(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => diff(p, q, join(k), out),
                    _ => out.push(join(k)),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                match (x.get(i), y.get(i)) {
                    (Some(p), Some(q)) => diff(p, q, join(&i.to_string()), out),
                    _ => out.push(join(&i.to_string())),
                }
            }
        }
        _ if a != b => out.push(if path.is_empty() { ".".into() } else { path }),
        _ => {}
    }
}

/// The public event type of a serialized effect (`call:stateChange`), if
/// it is an event.
pub fn event_type(effect: &Value) -> Option<&str> {
    if effect.get("effect").and_then(Value::as_str) == Some("event") {
        effect.get("type").and_then(Value::as_str)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Command, Credentials, HttpOutcome, InputKind, RequestId, SocketId};
    use crate::time::Now;

    const BODY: &str = r#"{"subscribeResponse":{"statusCode":0,"subscription":"/rest/version/1/user/alice@example.com/subscription/sub-1","subscriptionParams":{"notificationChannel":"/rest/version/1/user/alice@example.com/notification/websocket/chan-1","expires":3600,"service":["call","IM","presence"],"sessionId":"sess-1"}}}"#;

    /// Runs a short session and records it through [`Writer`], as the
    /// transport does.
    fn record(expose: bool) -> String {
        let mut config = Config::for_server("gw.test", true, 443);
        config.logs.expose_secrets = expose;
        let (mut w, header) = Writer::start(&config, 9).unwrap();
        let mut lines = vec![header];
        let mut client = Client::new(config, 9);
        let inputs = [
            Input::command(
                Now::at(0),
                Command::Connect(Credentials::password("alice@example.com", "hunter2")),
            ),
            Input::new(
                Now::at(10),
                InputKind::HttpResponse {
                    id: RequestId(1),
                    outcome: HttpOutcome::json(200, BODY),
                },
            ),
            Input::new(
                Now::at(20),
                InputKind::WsOpened {
                    socket: SocketId(1),
                },
            ),
            Input::new(
                Now::at(30),
                InputKind::WsFrame {
                    socket: SocketId(1),
                    text: r#"{"notificationMessage":{"eventType":"IM","eventId":"e-1"}}"#.into(),
                },
            ),
            // Refused (already connected): recorded, no effects.
            Input::command(
                Now::at(40),
                Command::Connect(Credentials::password("alice@example.com", "hunter2")),
            ),
            Input::command(Now::at(50), Command::Disconnect),
        ];
        for input in inputs {
            lines.push(w.input(&input).unwrap());
            let _ = client.handle(input);
            while let Some(e) = client.poll_effect() {
                lines.push(w.effect(&e).unwrap());
            }
        }
        lines.join("\n") + "\n"
    }

    #[test]
    fn a_redacted_recording_round_trips_and_replays_without_divergence() {
        let text = record(false);
        assert!(!text.contains("hunter2") && !text.contains("chan-1") && !text.contains("sess-1"));
        let rec = Recording::parse(&text).unwrap();
        assert_eq!(rec.header.secrets, Secrets::Redacted);
        assert_eq!(rec.steps.len(), 6);
        assert!(rec.steps[4].effects.is_empty());
        assert_eq!(Recording::parse(&rec.to_jsonl()).unwrap(), rec);
        let report = replay(&rec);
        assert_eq!(report.divergence, None);
        assert_eq!(report.steps, 6);
        assert!(report.effects > 5);
    }

    #[test]
    fn an_exposed_recording_replays_in_clear() {
        let text = record(true);
        assert!(text.contains("hunter2") && text.contains("\"secrets\":\"exposed\""));
        let rec = Recording::parse(&text).unwrap();
        assert_eq!(Recording::parse(&rec.to_jsonl()).unwrap(), rec);
        assert!(replay(&rec).matched());
    }

    #[test]
    fn a_mutated_effect_is_found_at_its_step() {
        let mut rec = Recording::parse(&record(false)).unwrap();
        let last = rec.steps[2].effects.len() - 1;
        rec.steps[2].effects[last] = serde_json::json!({"effect": "ws_close", "socket": 99});
        let report = replay(&rec);
        let d = report.divergence.expect("a divergence");
        assert_eq!((d.step, d.index), (3, last));
        assert_eq!(d.expected.unwrap()["socket"], 99);
        assert!(d.actual.is_some());
        assert_ne!(d.state_before, d.state_after);
        assert!(!changed_paths(&d.state_before, &d.state_after).is_empty());
        // A missing effect is a divergence too.
        let mut rec2 = Recording::parse(&record(false)).unwrap();
        rec2.steps[1]
            .effects
            .push(serde_json::json!({"effect": "ws_close", "socket": 1}));
        let d = replay(&rec2).divergence.unwrap();
        assert_eq!(d.step, 2);
        assert!(d.actual.is_none());
        // `--until` stops before it.
        assert!(replay_until(&rec2, 1).matched());
    }

    #[test]
    fn parse_errors_are_typed_and_name_the_line() {
        assert_eq!(Recording::parse(""), Err(ReplayError::Empty));
        assert!(matches!(
            Recording::parse("{\"format\":\"other\"}"),
            Err(ReplayError::BadHeader(_))
        ));
        assert!(matches!(
            Recording::parse("not json"),
            Err(ReplayError::BadHeader(_))
        ));
        let text = record(false);
        let v2 = text.replacen("\"version\":1", "\"version\":2", 1);
        let err = Recording::parse(&v2).unwrap_err();
        assert!(matches!(
            err,
            ReplayError::UnsupportedVersion { found: 2, .. }
        ));
        assert!(err.to_string().contains("re-record"), "{err}");
        let mut lines: Vec<&str> = text.lines().collect();
        lines[2] = "{\"step\":1,\"effect\":";
        let err = Recording::parse(&lines.join("\n")).unwrap_err();
        assert!(matches!(err, ReplayError::BadLine { line: 3, .. }), "{err}");
        let header = text.lines().next().unwrap();
        for (body, line) in [
            ("{\"step\":1,\"effect\":{}}", 2),
            ("{\"step\":2,\"input\":{\"now\":{\"mono_ms\":0,\"wall_ms\":0},\"kind\":\"timeout\"}}", 2),
            ("{\"step\":1}", 2),
            ("[1,2]", 2),
            ("{\"step\":-1,\"input\":null}", 2),
        ] {
            let err = Recording::parse(&format!("{header}\n{body}\n")).unwrap_err();
            assert!(matches!(err, ReplayError::BadLine { line: l, .. } if l == line), "{body}: {err}");
        }
        // Deep nesting is an error, not a stack overflow.
        let deep = format!(
            "{header}\n{{\"step\":1,\"effect\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(Recording::parse(&deep).is_err());
    }

    #[test]
    fn a_media_input_round_trips() {
        use crate::call::media::{MediaEvent, MediaEventKind, SdpKind};
        use crate::call::CallId;
        // `Described` has a `kind` field of its own, like `InputKind`'s tag.
        let input = Input::new(
            Now::at(1),
            InputKind::Media(MediaEvent {
                call: CallId("c-1".into()),
                kind: MediaEventKind::Described {
                    kind: SdpKind::Offer,
                    sdp: "v=0\r\n".into(),
                },
            }),
        );
        let text = serde_json::to_string(&input).unwrap();
        assert_eq!(
            serde_json::from_str::<Input>(&text).unwrap(),
            input,
            "{text}"
        );
    }

    #[test]
    fn the_stepper_goes_forward_back_and_to_a_step() {
        let rec = Recording::parse(&record(false)).unwrap();
        let mut s = Stepper::new(&rec);
        assert_eq!(s.position(), 0);
        assert!(s.input().is_none());
        assert!(s.forward());
        assert_eq!(s.effects(), s.recorded_effects());
        s.goto(3);
        let at3 = s.state_json();
        assert_eq!(
            json_path(&at3, "session.socket.status"),
            Some(&Value::String("connected".into()))
        );
        s.goto(6);
        assert!(!s.forward());
        s.goto(3);
        assert_eq!(s.position(), 3);
        assert_eq!(s.state_json(), at3);
        assert_eq!(s.effects(), s.recorded_effects());
    }
}
