//! `kandy replay FILE`: re-runs a recorded session (see `docs/recording.md`)
//! on this build's core and reports the first effect that differs.
//!
//! Exit status: 0 when every effect matches, 1 on a divergence, 2 when the
//! file cannot be read. A divergence prints the step, the expected and the
//! actual effect, and the state paths the step changed, so a regression
//! is located without a debugger.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use kandy::kandy_core::replay::{
    changed_paths, event_type, json_path, replay_until, Recording, Stepper,
};
use serde_json::{json, Value};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The recording (line-delimited JSON, as written by `KANDY_RECORD`,
    /// `ClientBuilder::record_to` or `kandy demo --record`).
    file: PathBuf,
    /// Replay steps 1..=N only.
    #[arg(long, value_name = "N")]
    until: Option<usize>,
    /// Machine-readable output (one JSON document).
    #[arg(long)]
    json: bool,
    /// Print a timeline: step, time, input kind, events produced.
    #[arg(long)]
    summary: bool,
    /// Walk the steps: an interactive prompt on a terminal, else a listing
    /// of every step.
    #[arg(long)]
    step: bool,
}

/// Runs the command; `Err` is a file that cannot be read (exit 2).
pub fn run(args: Args) -> Result<ExitCode, String> {
    let text =
        std::fs::read_to_string(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let recording = Recording::parse(&text).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let until = args.until.unwrap_or(usize::MAX);
    let mut out = std::io::stdout().lock();
    if args.step {
        if std::io::stdin().is_terminal() && !args.json {
            interactive(&recording, &mut out).map_err(|e| e.to_string())?;
        } else {
            listing(&recording, until, args.json, &mut out).map_err(|e| e.to_string())?;
        }
    }
    if args.summary {
        summary(&recording, until, args.json, &mut out).map_err(|e| e.to_string())?;
    }
    let report = replay_until(&recording, until);
    let io = |e: std::io::Error| e.to_string();
    if args.json {
        let mut v = serde_json::to_value(&report).unwrap_or(Value::Null);
        if let Some(d) = &report.divergence {
            v["divergence"]["changed"] = json!(changed_paths(&d.state_before, &d.state_after));
        }
        v["matched"] = json!(report.matched());
        writeln!(out, "{v}").map_err(io)?;
    } else if let Some(d) = &report.divergence {
        let input = recording.steps.get(d.step - 1).map(|s| &s.input);
        writeln!(
            out,
            "DIVERGENCE at step {} (input {}, t={} ms), effect #{}",
            d.step,
            input.map_or("?", |i| i.kind.name()),
            input.map_or(0, |i| i.now.mono_ms),
            d.index
        )
        .map_err(io)?;
        writeln!(out, "expected: {}", show(&d.expected)).map_err(io)?;
        writeln!(out, "actual:   {}", show(&d.actual)).map_err(io)?;
        let changed = changed_paths(&d.state_before, &d.state_after);
        writeln!(
            out,
            "state changed by step {} ({} paths):",
            d.step,
            changed.len()
        )
        .map_err(io)?;
        for path in changed {
            let get = |v: &Value| json_path(v, &path).map_or("-".to_owned(), |v| clip(v, 80));
            writeln!(
                out,
                "  {path}: {} -> {}",
                get(&d.state_before),
                get(&d.state_after)
            )
            .map_err(io)?;
        }
    } else {
        writeln!(
            out,
            "ok: {} steps replayed, {} effects match (recorded by kandy {}, seed {}, secrets {:?})",
            report.steps,
            report.effects,
            recording.header.kandy,
            recording.header.seed,
            recording.header.secrets
        )
        .map_err(io)?;
    }
    Ok(if report.matched() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn show(v: &Option<Value>) -> String {
    v.as_ref().map_or("(none)".to_owned(), |v| {
        serde_json::to_string(v).unwrap_or_default()
    })
}

/// A value on one line, cut to `max` characters.
fn clip(v: &Value, max: usize) -> String {
    let s = v.to_string();
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// The events a list of serialized effects holds.
fn events(effects: &[Value]) -> Vec<&str> {
    effects.iter().filter_map(event_type).collect()
}

fn summary(rec: &Recording, until: usize, json: bool, out: &mut impl Write) -> std::io::Result<()> {
    let start = rec.steps.first().map_or(0, |s| s.input.now.mono_ms);
    if !json {
        writeln!(
            out,
            "{:>5}  {:>9}  {:<36}  events",
            "step", "t (ms)", "input"
        )?;
    }
    for (i, step) in rec.steps.iter().take(until).enumerate() {
        let t = step.input.now.mono_ms.saturating_sub(start);
        let ev = events(&step.effects);
        if json {
            let line =
                json!({"step": i + 1, "t_ms": t, "input": step.input.kind.name(), "events": ev});
            writeln!(out, "{line}")?;
        } else {
            writeln!(
                out,
                "{:>5}  {:>9}  {:<36}  {}",
                i + 1,
                t,
                step.input.kind.name(),
                ev.join(", ")
            )?;
        }
    }
    Ok(())
}

/// Every step with its input and the effects this build produces.
fn listing(rec: &Recording, until: usize, json: bool, out: &mut impl Write) -> std::io::Result<()> {
    let mut s = Stepper::new(rec);
    while s.position() < until && s.forward() {
        describe(&s, json, out)?;
    }
    Ok(())
}

fn describe(s: &Stepper<'_>, json: bool, out: &mut impl Write) -> std::io::Result<()> {
    let Some(input) = s.input() else {
        return writeln!(out, "step 0 of {}: fresh client", s.len());
    };
    let input_json = serde_json::to_value(input).unwrap_or(Value::Null);
    if json {
        let same = s.effects() == s.recorded_effects();
        let line = json!({"step": s.position(), "input": input_json, "effects": s.effects(), "matches": same});
        return writeln!(out, "{line}");
    }
    writeln!(
        out,
        "step {}/{}  t={} ms  {}  {}",
        s.position(),
        s.len(),
        input.now.mono_ms,
        input.kind.name(),
        clip(&input_json["kind"], 160)
    )?;
    for e in s.effects() {
        let kind = e.get("effect").and_then(Value::as_str).unwrap_or("?");
        writeln!(out, "    -> {kind:<8} {}", clip(e, 140))?;
    }
    if s.effects() != s.recorded_effects() {
        writeln!(out, "    !! differs from the recording")?;
    }
    Ok(())
}

const HELP: &str = "n next | b back | g N go to step N | s PATH show state at PATH (e.g. session.status) | f EVENT find next event (e.g. call:stateChange) | q quit";

fn interactive(rec: &Recording, out: &mut impl Write) -> std::io::Result<()> {
    let mut s = Stepper::new(rec);
    writeln!(out, "{} steps. {HELP}", s.len())?;
    describe(&s, false, out)?;
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        write!(out, "[{}/{}]> ", s.position(), s.len())?;
        out.flush()?;
        let Some(line) = lines.next().transpose()? else {
            return Ok(());
        };
        let line = line.trim();
        let (cmd, arg) = line.split_once(' ').unwrap_or((line, ""));
        let arg = arg.trim();
        match cmd {
            "" | "n" => {
                if s.forward() {
                    describe(&s, false, out)?;
                } else {
                    writeln!(out, "end of recording")?;
                }
            }
            "b" => {
                s.goto(s.position().saturating_sub(1));
                describe(&s, false, out)?;
            }
            "g" => match arg.parse::<usize>() {
                Ok(n) => {
                    s.goto(n);
                    describe(&s, false, out)?;
                }
                Err(_) => writeln!(out, "usage: g N")?,
            },
            "s" => {
                let state = s.state_json();
                match json_path(&state, arg) {
                    Some(v) => writeln!(
                        out,
                        "{}",
                        serde_json::to_string_pretty(v).unwrap_or_default()
                    )?,
                    None => writeln!(out, "no value at `{arg}`")?,
                }
            }
            "f" => {
                let from = s.position();
                let mut found = false;
                while s.forward() {
                    if events(s.effects()).contains(&arg) {
                        found = true;
                        break;
                    }
                }
                if found {
                    describe(&s, false, out)?;
                } else {
                    writeln!(out, "no `{arg}` after step {from}")?;
                    s.goto(from);
                }
            }
            "q" => return Ok(()),
            _ => writeln!(out, "{HELP}")?,
        }
    }
}
