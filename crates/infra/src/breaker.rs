//! A circuit breaker for a Redis client (the cache's, the rate limiter's):
//! after a few failures in a row, callers skip the server for a while
//! instead of each waiting out its timeout, and one call probes it after
//! the cool-down. Opening and closing are logged once each.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// Consecutive failures that open the breaker.
const THRESHOLD: u32 = 5;
/// How long an open breaker skips the backend before letting one call probe.
const COOL_DOWN: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(crate) struct Breaker {
    /// What is skipped, for the log ("cache backend").
    name: &'static str,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    /// An invalidation was dropped while the backend was failing.
    lost_invalidation: bool,
}

impl Breaker {
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            name,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether to call the backend now. After the cool-down one call goes
    /// through (half-open); its outcome closes or re-opens the breaker.
    pub(crate) fn allow(&self) -> bool {
        let mut state = self.state();
        match state.open_until {
            Some(until) if Instant::now() < until => false,
            Some(_) => {
                // Half-open: let this call probe; keep others out meanwhile.
                state.open_until = Some(Instant::now() + COOL_DOWN);
                true
            }
            None => true,
        }
    }

    /// Records a call that reached the backend and succeeded.
    pub(crate) fn succeeded(&self) {
        let mut state = self.state();
        if state.open_until.is_some() {
            tracing::info!(what = self.name, "answers again");
        }
        state.failures = 0;
        state.open_until = None;
    }

    /// Whether an invalidation was lost (the cache's use) and the whole cache must be
    /// flushed before it is trusted again.
    pub(crate) fn flush_pending(&self) -> bool {
        self.state().lost_invalidation
    }

    /// The flush landed.
    pub(crate) fn flushed(&self) {
        self.state().lost_invalidation = false;
    }

    pub(crate) fn failed(&self) {
        let mut state = self.state();
        state.failures = state.failures.saturating_add(1);
        if state.failures >= THRESHOLD {
            if state.open_until.is_none() {
                tracing::warn!(what = self.name, cool_down = ?COOL_DOWN, "failing; skipping it for a while");
            }
            state.open_until = Some(Instant::now() + COOL_DOWN);
        }
    }

    pub(crate) fn note_lost_invalidation(&self) {
        self.state().lost_invalidation = true;
    }
}
