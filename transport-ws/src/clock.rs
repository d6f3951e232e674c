//! The driver's clocks: the one place in kandy-rs where time is read.
//!
//! The core never reads a clock; every input carries a [`Now`] taken here.
//! Reading both clocks at the moment the driver dequeues an input (rather
//! than when the IO task saw it) keeps `mono_ms` non-decreasing across
//! inputs without any coordination between tasks.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kandy_core::Now;

/// Monotonic milliseconds since the driver started, plus the wall clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    origin: Instant,
}

impl Clock {
    /// A clock whose monotonic origin is now.
    pub(crate) fn start() -> Self {
        Clock {
            origin: Instant::now(),
        }
    }

    /// Both readings, now.
    pub(crate) fn now(&self) -> Now {
        let mono_ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        // A wall clock set before 1970 reads as 0: the core only copies it
        // into dates shown to people.
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Now { mono_ms, wall_ms }
    }

    /// The instant of a monotonic deadline, or `None` if it is too far away
    /// to represent (then it never fires, which is what such a deadline
    /// means in practice).
    pub(crate) fn instant_of(&self, mono_ms: u64) -> Option<Instant> {
        self.origin.checked_add(Duration::from_millis(mono_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_reading_maps_back_to_its_instant() {
        let clock = Clock::start();
        let now = clock.now();
        let at = clock.instant_of(now.mono_ms).unwrap();
        assert!(at <= Instant::now());
        assert!(now.wall_ms > 1_600_000_000_000);
    }
}
