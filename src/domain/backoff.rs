//! The one retry schedule of labtrail: exponential, capped, optionally jittered. Each user keeps its own
//! numbers (deliveries 5 s → 1 h, check runs 30 s → 1 h, GitHub calls 1 s → 30 s jittered, file lists
//! from 10 min → 1 day) and says how its try count maps to doublings.

use std::time::Duration;

/// `base · 2ⁿ`, at most `max`; with jitter, spread into `[d/2, d]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    jitter: bool,
}

impl Backoff {
    /// Doubling from `base`, capped at `max`, without jitter.
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            jitter: false,
        }
    }

    /// The same schedule with each delay spread into `[d/2, d]`, so retries of many callers do not
    /// arrive together.
    pub const fn jittered(self) -> Self {
        Self {
            jitter: true,
            ..self
        }
    }

    /// The full delay after `doublings` doublings: `base · 2^doublings`, at most `max` (no jitter).
    pub fn full(&self, doublings: u32) -> Duration {
        self.base
            .saturating_mul(2u32.saturating_pow(doublings.min(31)))
            .min(self.max)
    }

    /// The delay after `doublings` doublings, with `jitter` in `[0, 1]` (clamped) placing it in
    /// `[d/2, d]` when the schedule is jittered; without jitter, [`Self::full`].
    pub fn delay_with(&self, doublings: u32, jitter: f64) -> Duration {
        let full = self.full(doublings);
        if self.jitter {
            full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
        } else {
            full
        }
    }

    /// The delay after `doublings` doublings, jittered at random when the schedule is.
    pub fn delay(&self, doublings: u32) -> Duration {
        let jitter = if self.jitter { rand::random() } else { 1.0 };
        self.delay_with(doublings, jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn doubles_from_the_base_up_to_the_cap() {
        // The delivery schedule: 5 s, 10 s, 20 s, … at most an hour.
        let b = Backoff::new(S(5), S(3600));
        let delays: Vec<u64> = (0..12).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(
            delays,
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
    }

    #[test]
    fn huge_try_counts_stay_at_the_cap() {
        let b = Backoff::new(Duration::from_millis(100), S(86_400));
        assert_eq!(b.delay(u32::MAX), S(86_400));
        assert_eq!(b.delay(1_000), S(86_400));
        let zero = Backoff::new(Duration::ZERO, S(10));
        assert_eq!(zero.delay(40), Duration::ZERO);
    }

    #[test]
    fn jitter_spreads_into_the_upper_half() {
        let b = Backoff::new(S(2), S(10)).jittered();
        assert_eq!(b.delay_with(0, 1.0), S(2));
        assert_eq!(b.delay_with(0, 0.0), S(1));
        assert_eq!(b.delay_with(10, 1.0), S(10));
        assert_eq!(b.delay_with(10, 0.0), S(5));
        assert_eq!(b.delay_with(1, 7.0), S(4), "jitter is clamped");
        for n in 0..8 {
            let d = b.delay(n);
            assert!(d >= b.full(n) / 2 && d <= b.full(n), "{d:?} for {n}");
        }
    }

    #[test]
    fn without_jitter_the_sample_is_ignored() {
        let b = Backoff::new(S(30), S(3600));
        assert_eq!(b.delay_with(2, 0.0), S(120));
        assert_eq!(b.delay(2), S(120));
    }
}
