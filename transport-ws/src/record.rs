//! The recording hook: what a replay needs to reproduce a live session.

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
