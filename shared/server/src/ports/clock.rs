//! The clock port: poll intervals, read state and page tokens all read "now" through it,
//! so tests can move time instead of sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Wall-clock time as the sync engine sees it.
pub trait Clock: Send + Sync {
    /// Microseconds since the Unix epoch.
    fn now_micros(&self) -> u64;

    /// Seconds since the Unix epoch.
    fn now_secs(&self) -> u64 {
        self.now_micros() / 1_000_000
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug, Clone)]
pub struct ManualClock {
    micros: Arc<AtomicU64>,
}

impl ManualClock {
    /// Starts at the current system time.
    pub fn new() -> Self {
        Self { micros: Arc::new(AtomicU64::new(SystemClock.now_micros())) }
    }

    /// Moves the clock forward.
    pub fn advance_secs(&self, secs: u64) {
        self.micros.fetch_add(secs * 1_000_000, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> u64 {
        // Every reading moves one microsecond so that successive tokens differ.
        self.micros.fetch_add(1, Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new();
        let start = clock.now_secs();
        assert_eq!(clock.now_secs(), start);
        clock.advance_secs(301);
        assert_eq!(clock.now_secs(), start + 301);
    }
}
