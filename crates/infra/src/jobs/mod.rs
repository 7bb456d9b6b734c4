//! Job-queue plumbing: the retry backoff, cron schedules, and the Redis
//! job store ([`redis::RedisJobs`]) behind `JOB_BACKEND=redis`. The queue
//! itself (the `jobs` table, enqueueing, the worker loop) lives with the
//! services, because a job must be enqueued in the same transaction as the
//! write that caused it.

pub mod redis;

use std::{str::FromStr as _, time::Duration};

use chrono::{DateTime, Utc};

/// Exponential backoff with jitter: retry `n` (1-based) waits a random
/// time between half and all of `min(base * 2^(n-1), max)`.
///
/// The jitter spreads the retries of many jobs that failed together (an
/// SMTP outage) so they do not return as one thundering herd; keeping at
/// least half the delay keeps the growth exponential.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    base: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max: max.max(base),
        }
    }

    /// The ceiling of the wait before retry `retry` (1-based), before jitter.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(31));
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The wait before retry `retry`, with jitter from `random` in `[0, 1)`.
    pub fn delay(&self, retry: u32, random: f64) -> Duration {
        self.ceiling(retry)
            .mul_f64(0.5 + 0.5 * random.clamp(0.0, 1.0))
    }
}

/// A cron schedule with a seconds field (`sec min hour day month weekday`,
/// e.g. `0 0 * * * *` for hourly), or `@hourly`/`@daily`.
#[derive(Debug, Clone)]
pub struct Schedule(cron::Schedule);

/// A cron expression that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("not a cron expression with a seconds field, like `0 0 * * * *` ({0})")]
pub struct ScheduleError(String);

impl Schedule {
    pub fn parse(raw: &str) -> Result<Self, ScheduleError> {
        cron::Schedule::from_str(raw)
            .map(Self)
            // The parser's message quotes the input and points at the
            // fault on lines of their own; the last line says what is wrong.
            .map_err(|err| {
                let message = err.to_string();
                let last = message.lines().rev().find(|line| !line.trim().is_empty());
                ScheduleError(last.unwrap_or(&message).trim().to_owned())
            })
    }

    /// The first tick strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.0.after(&after).next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_up_to_the_maximum() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(backoff.ceiling(1), Duration::from_millis(100));
        assert_eq!(backoff.ceiling(2), Duration::from_millis(200));
        assert_eq!(backoff.ceiling(4), Duration::from_millis(800));
        assert_eq!(backoff.ceiling(5), Duration::from_secs(1));
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn jitter_keeps_between_half_and_all_of_the_ceiling() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        assert_eq!(backoff.delay(3, 0.0), Duration::from_millis(200));
        assert_eq!(backoff.delay(3, 0.5), Duration::from_millis(300));
        assert!(backoff.delay(3, 0.999_999) < Duration::from_millis(400));
        assert_eq!(backoff.delay(3, 7.0), Duration::from_millis(400));
    }

    #[test]
    fn schedules_need_a_seconds_field_and_give_the_next_tick() {
        let hourly = Schedule::parse("0 0 * * * *").expect("hourly parses");
        let at = DateTime::parse_from_rfc3339("2026-11-24T10:15:00Z")
            .expect("valid time")
            .with_timezone(&Utc);
        let next = hourly.next_after(at).expect("a next tick");
        assert_eq!(next.to_rfc3339(), "2026-11-24T11:00:00+00:00");
        assert!(Schedule::parse("every hour").is_err());
    }
}
