//! The login throttle: the rules that slow down password guessing on every admin and device
//! login route.
//!
//! Failed logins are counted per login and per source address in fixed windows of
//! [`WINDOW_SECS`] seconds, read from the caller's clock. Within one window a login takes
//! at most [`LOGIN_FAILURE_LIMIT`] failures and an address at most
//! [`ADDRESS_FAILURE_LIMIT`] (over all the logins it tries); the attempt after that is
//! refused until the window ends — with the right password too, that being the point of
//! the lock — and the refusal comes *before* the password is checked, so it costs no
//! password hash and tells nothing about the password. A locked login does not lock the
//! other logins of its address: refused attempts are not counted, so only real failures
//! bring an address to its limit. A request without a known source address is counted per
//! login only.
//!
//! Each attempt first *reserves* a place in its counters, atomically (the store checks and
//! increments in one step), and gives it back if the password was right: a counter holds
//! the window's failures plus the attempts still being checked, so simultaneous wrong
//! attempts never get more than the limit through to the password check. A success does
//! not clear the failures before it. The price: while more than the limit of attempts for
//! one login are being checked at the same moment, the extra ones are refused even if
//! their password is right.
//!
//! The counters live in Redis behind the small [`ThrottleCounters`] port (the store
//! implements it), so every function instance shares them. **The throttle fails open:** a
//! counter that cannot be read or written is logged and the login goes ahead unthrottled,
//! so a Redis outage does not lock everybody out (logins that need Redis for anything else
//! fail on their own).
//!
//! Fixed windows let a patient attacker spend up to twice the limit around a window
//! boundary; over time the rate stays at the limit per window.

use async_trait::async_trait;

/// Failed logins one login may have per window; the next attempt is refused.
pub const LOGIN_FAILURE_LIMIT: u64 = 10;
/// Failed logins one source address may have per window, over all logins.
pub const ADDRESS_FAILURE_LIMIT: u64 = 50;
/// Length of a counting window, in seconds; a lock lasts until its window ends.
pub const WINDOW_SECS: u64 = 60;
/// How long the store keeps a window's counter: past the window's end, with room for clock
/// skew between instances (the window itself is decided by the caller's clock).
pub const COUNTER_TTL_SECS: u64 = 2 * WINDOW_SECS;

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Login,
    Address,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Address => "addr",
        }
    }
}

/// One counter: a login's or an address's attempts in the window starting at
/// `window_start` (seconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bucket {
    pub scope: Scope,
    pub name: String,
    pub window_start: u64,
}

/// A counter store failure (the throttle logs it and lets the login go ahead).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CounterError(pub String);

/// The counters the throttle keeps (Redis in production, a map in unit tests).
#[async_trait]
pub trait ThrottleCounters: Send + Sync {
    /// Adds one to `bucket` unless it already holds `limit`, in one atomic step; `true`
    /// when it was added. A new counter lives `ttl_secs`.
    async fn reserve(&self, bucket: &Bucket, limit: u64, ttl_secs: u64) -> Result<bool, CounterError>;

    /// Takes one back from each bucket (a counter at zero disappears).
    async fn release(&self, buckets: &[Bucket]) -> Result<(), CounterError>;
}

/// Whether a login attempt may check its password.
#[derive(Debug)]
#[must_use]
pub enum Admission {
    /// Go ahead; settle the ticket with the outcome.
    Admitted(Ticket),
    /// Refuse (429) without checking; the lock ends in `retry_after_secs`.
    Refused { retry_after_secs: u64 },
}

/// The places an admitted attempt holds in its counters.
#[derive(Debug)]
#[must_use = "settle the ticket, or the attempt counts as a failure"]
pub struct Ticket {
    held: Vec<Bucket>,
}

/// How an admitted attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Wrong credentials: the attempt stays counted.
    Failed,
    /// Right credentials, or no verdict (an internal error): the attempt is given back.
    Passed,
}

/// The window `now_secs` falls in: its start and the seconds left in it (at least 1).
pub fn window(now_secs: u64) -> (u64, u64) {
    let start = now_secs - now_secs % WINDOW_SECS;
    (start, (start + WINDOW_SECS - now_secs).max(1))
}

/// Decides whether a login attempt for `login` from `address` may go on to its password
/// check at `now_secs`, reserving its places in the counters if so.
pub async fn admit(counters: &dyn ThrottleCounters, now_secs: u64, login: &str, address: Option<&str>) -> Admission {
    let (window_start, retry_after_secs) = window(now_secs);
    let mut wanted = vec![(Bucket { scope: Scope::Login, name: login.to_owned(), window_start }, LOGIN_FAILURE_LIMIT)];
    if let Some(address) = address {
        wanted.push((Bucket { scope: Scope::Address, name: address.to_owned(), window_start }, ADDRESS_FAILURE_LIMIT));
    }
    let mut held = Vec::with_capacity(wanted.len());
    // One counter after the other, the login first: an attempt refused for its login never
    // touches its address's counter, not even for a moment.
    for (bucket, limit) in wanted {
        match counters.reserve(&bucket, limit, COUNTER_TTL_SECS).await {
            Ok(true) => held.push(bucket),
            Ok(false) => {
                let ticket = Ticket { held };
                ticket.settle(counters, Outcome::Passed).await;
                tracing::info!(scope = bucket.scope.as_str(), retry_after_secs, "login throttled");
                return Admission::Refused { retry_after_secs };
            }
            Err(err) => {
                tracing::error!(error = %err, scope = bucket.scope.as_str(), "login throttle unavailable; not throttling");
            }
        }
    }
    Admission::Admitted(Ticket { held })
}

impl Ticket {
    /// Records the outcome: a failure stays counted until its window ends, anything else
    /// gives its places back.
    pub async fn settle(self, counters: &dyn ThrottleCounters, outcome: Outcome) {
        if outcome == Outcome::Failed || self.held.is_empty() {
            return;
        }
        if let Err(err) = counters.release(&self.held).await {
            tracing::error!(error = %err, "login throttle: giving back a reservation failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Counters in a map; `broken` makes every call fail.
    #[derive(Default)]
    struct Memory {
        counts: Mutex<HashMap<Bucket, u64>>,
        broken: AtomicBool,
    }

    impl Memory {
        fn count(&self, scope: Scope, name: &str, now: u64) -> u64 {
            let bucket = Bucket { scope, name: name.to_owned(), window_start: window(now).0 };
            self.counts.lock().map(|c| c.get(&bucket).copied().unwrap_or(0)).unwrap_or(0)
        }

        fn check(&self) -> Result<(), CounterError> {
            if self.broken.load(Ordering::SeqCst) {
                return Err(CounterError("connection refused".into()));
            }
            Ok(())
        }
    }

    #[async_trait]
    impl ThrottleCounters for Memory {
        async fn reserve(&self, bucket: &Bucket, limit: u64, _ttl_secs: u64) -> Result<bool, CounterError> {
            self.check()?;
            let mut counts = self.counts.lock().map_err(|e| CounterError(e.to_string()))?;
            let n = counts.entry(bucket.clone()).or_default();
            if *n >= limit {
                return Ok(false);
            }
            *n += 1;
            Ok(true)
        }

        async fn release(&self, buckets: &[Bucket]) -> Result<(), CounterError> {
            self.check()?;
            let mut counts = self.counts.lock().map_err(|e| CounterError(e.to_string()))?;
            for bucket in buckets {
                if let Some(n) = counts.get_mut(bucket) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        counts.remove(bucket);
                    }
                }
            }
            Ok(())
        }
    }

    /// A time 7 s into a window.
    const NOW: u64 = 1_700_000_040 - 1_700_000_040 % WINDOW_SECS + 7;

    async fn attempt(m: &Memory, now: u64, login: &str, address: Option<&str>, outcome: Outcome) -> Option<u64> {
        match admit(m, now, login, address).await {
            Admission::Admitted(ticket) => {
                ticket.settle(m, outcome).await;
                None
            }
            Admission::Refused { retry_after_secs } => Some(retry_after_secs),
        }
    }

    #[tokio::test]
    async fn the_attempt_after_the_limit_is_refused_until_the_window_ends() {
        let m = Memory::default();
        for i in 0..LOGIN_FAILURE_LIMIT {
            assert_eq!(attempt(&m, NOW + i, "rhoadmin", Some("a"), Outcome::Failed).await, None, "failure {i}");
        }
        let later = NOW + 20;
        assert_eq!(attempt(&m, later, "rhoadmin", Some("a"), Outcome::Failed).await, Some(WINDOW_SECS - 27));
        // The right password too, and refusals are not counted.
        assert_eq!(attempt(&m, later, "rhoadmin", Some("a"), Outcome::Passed).await, Some(WINDOW_SECS - 27));
        assert_eq!(m.count(Scope::Login, "rhoadmin", NOW), LOGIN_FAILURE_LIMIT);
        assert_eq!(m.count(Scope::Address, "a", NOW), LOGIN_FAILURE_LIMIT);
        // Another login from the same address passes; the next window starts afresh.
        assert_eq!(attempt(&m, later, "alice", Some("a"), Outcome::Passed).await, None);
        assert_eq!(attempt(&m, NOW - 7 + WINDOW_SECS, "rhoadmin", Some("a"), Outcome::Passed).await, None);
    }

    #[tokio::test]
    async fn successes_are_given_back_and_never_lock() {
        let m = Memory::default();
        for _ in 0..3 * LOGIN_FAILURE_LIMIT {
            assert_eq!(attempt(&m, NOW, "bob", Some("a"), Outcome::Passed).await, None);
        }
        assert_eq!(m.count(Scope::Login, "bob", NOW), 0);
        assert_eq!(m.count(Scope::Address, "a", NOW), 0);
    }

    #[tokio::test]
    async fn an_address_is_locked_after_its_limit_over_many_logins() {
        let m = Memory::default();
        let per_login = LOGIN_FAILURE_LIMIT / 2;
        let logins = ADDRESS_FAILURE_LIMIT / per_login;
        for l in 0..logins {
            for _ in 0..per_login {
                assert_eq!(attempt(&m, NOW, &format!("u{l}"), Some("a"), Outcome::Failed).await, None);
            }
        }
        assert!(attempt(&m, NOW, "fresh", Some("a"), Outcome::Passed).await.is_some());
        // Refused for its address: the fresh login's counter was given back.
        assert_eq!(m.count(Scope::Login, "fresh", NOW), 0);
        assert_eq!(attempt(&m, NOW, "fresh", Some("b"), Outcome::Passed).await, None);
        assert_eq!(attempt(&m, NOW, "fresh", None, Outcome::Passed).await, None);
    }

    #[tokio::test]
    async fn simultaneous_attempts_never_get_more_than_the_limit_through() {
        let m = Arc::new(Memory::default());
        let tickets: Vec<Admission> =
            futures::future::join_all((0..30).map(|_| admit(m.as_ref(), NOW, "carol", Some("a")))).await;
        let admitted = tickets.iter().filter(|a| matches!(a, Admission::Admitted(_))).count();
        assert_eq!(admitted as u64, LOGIN_FAILURE_LIMIT);
        for a in tickets {
            if let Admission::Admitted(t) = a {
                t.settle(m.as_ref(), Outcome::Failed).await;
            }
        }
    }

    #[tokio::test]
    async fn a_broken_store_lets_every_login_through() {
        let m = Memory::default();
        m.broken.store(true, Ordering::SeqCst);
        for _ in 0..3 * LOGIN_FAILURE_LIMIT {
            assert_eq!(attempt(&m, NOW, "dave", Some("a"), Outcome::Failed).await, None);
        }
    }

    #[test]
    fn windows_are_aligned_and_never_say_zero() {
        assert_eq!(window(NOW), (NOW - 7, WINDOW_SECS - 7));
        assert_eq!(window(NOW - 7), (NOW - 7, WINDOW_SECS));
        assert_eq!(window(NOW - 8), (NOW - 7 - WINDOW_SECS, 1));
    }
}
