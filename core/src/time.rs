//! Time as the driver supplies it.
//!
//! The core never reads a clock. Every input carries a [`Now`]: a monotonic
//! reading that drives timers, and a wall-clock reading that the core only
//! copies into what the public API shows as dates. Both are part of the
//! recorded input, so a replay reproduces the same dates as the live run.

use serde::{Deserialize, Serialize};

/// The driver's clocks at the moment an input happened.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Now {
    /// Monotonic milliseconds since an arbitrary origin chosen by the driver.
    /// Deadlines from [`crate::Client::poll_timeout`] are on this scale.
    pub mono_ms: u64,
    /// Milliseconds since the Unix epoch, for dates shown to the user.
    pub wall_ms: u64,
}

impl Now {
    /// A reading where both clocks agree, convenient in tests and simulations
    /// whose virtual clock starts at the epoch.
    pub const fn at(ms: u64) -> Self {
        Now {
            mono_ms: ms,
            wall_ms: ms,
        }
    }

    /// The same reading moved `ms` milliseconds later on both clocks.
    pub const fn plus(self, ms: u64) -> Self {
        Now {
            mono_ms: self.mono_ms.saturating_add(ms),
            wall_ms: self.wall_ms.saturating_add(ms),
        }
    }
}
