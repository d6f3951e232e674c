//! The recording hook, what a replay needs to reproduce a live session,
//! and [`FileRecorder`], which writes it to a file.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread::JoinHandle;

use kandy_core::replay::Writer;
use kandy_core::{Config, Effect, Input};

/// Sees everything that goes into and comes out of the core, in order.
///
/// The core is deterministic: the same `(config, seed, inputs)` always give
/// the same effects and state. A recorder that keeps [`Recorder::start`]'s
/// arguments and every [`Recorder::input`] therefore captures a session
/// completely; the effects are there to compare a replay against.
///
/// The methods run on the driver task, between two inputs, so they must be
/// quick (buffer, do not block on IO). Values arrive with secrets in clear
/// in memory; serializing them with serde redacts credentials unless the
/// code doing so runs inside [`kandy_core::secret::with_secrets_exposed`].
pub trait Recorder: Send + 'static {
    /// The driver started a core with this configuration and seed.
    fn start(&mut self, config: &Config, seed: u64) {
        let _ = (config, seed);
    }

    /// An input, with the clocks it carries, just before the core reduces
    /// it. Commands the core refuses are recorded too: replaying them gives
    /// the same refusal and changes nothing.
    fn input(&mut self, input: &Input);

    /// An effect, in the order the core produced it, before the driver
    /// carries it out.
    fn effect(&mut self, effect: &Effect);
}

/// Forwards to several recorders, in order (a [`FileRecorder`] and the
/// application's own, e.g.).
pub(crate) struct Fanout(pub(crate) Vec<Box<dyn Recorder>>);

impl Recorder for Fanout {
    fn start(&mut self, config: &Config, seed: u64) {
        for r in &mut self.0 {
            r.start(config, seed);
        }
    }
    fn input(&mut self, input: &Input) {
        for r in &mut self.0 {
            r.input(input);
        }
    }
    fn effect(&mut self, effect: &Effect) {
        for r in &mut self.0 {
            r.effect(effect);
        }
    }
}

/// What the driver hands the writer thread. Values are cloned, not
/// serialized, on the driver: serializing (and redacting) is the writer's
/// work, so the driver only pays for a clone and a queue slot.
enum Msg {
    Start(Box<Config>, u64),
    Input(Input),
    Effect(Effect),
}

/// Records a session to a file in the `kandy_core::replay` format
/// (line-delimited JSON; `docs/recording.md`).
///
/// The driver's side only clones each value into a bounded queue; a writer
/// thread serializes it and writes through a `BufWriter`. When the queue is
/// full the driver **waits** for the writer (back-pressure): a recording
/// with holes would not replay, so losing lines silently is not an option.
/// The writer flushes whenever it has caught up with the queue, and on
/// drop: the driver drops its recorder when it stops (last client handle
/// gone), and a panic unwinding through the driver drops it too, so the
/// file ends with everything the core saw.
///
/// Secrets are redacted unless the configuration given to
/// [`Recorder::start`] has `logs.exposeSecrets` set; the header says which.
///
/// If writing fails (disk full), the error is logged once, the recording
/// stops, and the client carries on: a recorder must never take the
/// session down.
pub struct FileRecorder {
    path: PathBuf,
    tx: Option<SyncSender<Msg>>,
    writer: Option<JoinHandle<()>>,
    failed: bool,
}

impl std::fmt::Debug for FileRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRecorder")
            .field("path", &self.path)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// Values queued between the driver and the writer thread. A session
/// produces a few lines per input, so this absorbs bursts (a call setup)
/// without ever making the driver wait on a healthy disk.
pub const FILE_RECORDER_QUEUE: usize = 4096;

/// The environment variable that makes every client record: its value is a
/// directory, and each client writes `kandy-<seed>-<n>.jsonl` there.
pub const RECORD_ENV: &str = "KANDY_RECORD";

impl FileRecorder {
    /// Creates (truncates) the file at `path` and starts its writer thread.
    pub fn create(path: impl AsRef<Path>) -> io::Result<FileRecorder> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path)?;
        FileRecorder::with_file(path, file)
    }

    /// Creates a new file `kandy-<seed>-<n>.jsonl` in `dir`, with the first
    /// `n` from 0 that does not exist yet (never overwrites a recording,
    /// also across processes).
    pub fn in_dir(dir: impl AsRef<Path>, seed: u64) -> io::Result<FileRecorder> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)?;
        for n in 0u32..10_000 {
            let path = dir.join(format!("kandy-{seed}-{n}.jsonl"));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => return FileRecorder::with_file(path, file),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{}: 10000 recordings for seed {seed} already",
                dir.display()
            ),
        ))
    }

    /// Where the recording goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with_file(path: PathBuf, file: File) -> io::Result<FileRecorder> {
        let (tx, rx) = mpsc::sync_channel(FILE_RECORDER_QUEUE);
        let shown = path.display().to_string();
        let writer = std::thread::Builder::new()
            .name("kandy-recorder".into())
            .spawn(move || write_all(rx, BufWriter::new(file), &shown))?;
        Ok(FileRecorder {
            path,
            tx: Some(tx),
            writer: Some(writer),
            failed: false,
        })
    }

    fn send(&mut self, msg: Msg) {
        if self.failed {
            return;
        }
        // `send` blocks while the queue is full: back-pressure, by design.
        // It fails only when the writer stopped (IO error, already logged).
        if let Some(tx) = &self.tx {
            if tx.send(msg).is_err() {
                self.failed = true;
            }
        }
    }
}

impl Recorder for FileRecorder {
    fn start(&mut self, config: &Config, seed: u64) {
        self.send(Msg::Start(Box::new(config.clone()), seed));
    }
    fn input(&mut self, input: &Input) {
        self.send(Msg::Input(input.clone()));
    }
    fn effect(&mut self, effect: &Effect) {
        self.send(Msg::Effect(effect.clone()));
    }
}

impl Drop for FileRecorder {
    /// Closes the queue and waits for the writer to drain and flush it.
    /// Runs when the driver stops and while a panic unwinds through it.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The writer thread: serialize, write, flush when caught up.
fn write_all(rx: Receiver<Msg>, mut out: BufWriter<File>, path: &str) {
    let mut writer: Option<Writer> = None;
    let mut write = |msg: Msg, out: &mut BufWriter<File>| -> io::Result<()> {
        let line = match (msg, &mut writer) {
            (Msg::Start(config, seed), _) => {
                let (w, line) = Writer::start(&config, seed)?;
                writer = Some(w);
                line
            }
            (Msg::Input(input), Some(w)) => w.input(&input)?,
            (Msg::Effect(effect), Some(w)) => w.effect(&effect)?,
            // The driver always starts first; without a header the lines
            // would not parse anyway.
            (_, None) => return Ok(()),
        };
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")
    };
    let result = (|| -> io::Result<()> {
        loop {
            let msg = match rx.try_recv() {
                Ok(msg) => msg,
                Err(TryRecvError::Empty) => {
                    // Caught up: make what we have durable before waiting.
                    out.flush()?;
                    match rx.recv() {
                        Ok(msg) => msg,
                        Err(_) => break,
                    }
                }
                Err(TryRecvError::Disconnected) => break,
            };
            write(msg, &mut out)?;
        }
        out.flush()
    })();
    if let Err(e) = result {
        tracing::error!(target: "kandy_transport_ws::record", "recording to {path} stopped: {e}");
    }
}
