//! Step-by-step output: readable lines by default, one JSON object per line
//! with `--json`.

use std::io::Write;
use std::time::Instant;

use serde_json::{json, Value};

/// Prints the steps of a run.
#[derive(Debug)]
pub struct Report {
    json: bool,
    start: Instant,
}

impl Report {
    pub fn new(json: bool) -> Self {
        Report {
            json,
            start: Instant::now(),
        }
    }

    /// One step: who, what, a sentence for people and fields for machines.
    pub fn step(&self, actor: &str, step: &str, text: &str, fields: Value) {
        self.step_at(Instant::now(), actor, step, text, fields)
    }

    /// A step that happened at `at` (reported later).
    pub fn step_at(&self, at: Instant, actor: &str, step: &str, text: &str, fields: Value) {
        let t = at.saturating_duration_since(self.start).as_millis() as u64;
        let mut out = std::io::stdout().lock();
        let _ = if self.json {
            let mut obj = json!({"t_ms": t, "actor": actor, "step": step});
            if let (Some(o), Value::Object(extra)) = (obj.as_object_mut(), fields) {
                o.extend(extra);
            }
            writeln!(out, "{obj}")
        } else {
            writeln!(out, "[{t:>6} ms] {actor:<8} {text}")
        };
        let _ = out.flush();
    }
}
