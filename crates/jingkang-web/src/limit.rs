//! A small fixed-window rate limiter keyed by client address (login attempts). In memory: a
//! restart forgets it, which is acceptable — the per-account lockout is in the database.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimiter {
    max: u32,
    window: Duration,
    seen: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(max: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            max,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Count one attempt by `key`; false when it is over the limit.
    pub fn allow(&self, key: &str) -> bool {
        let now = Instant::now();
        let Ok(mut seen) = self.seen.lock() else {
            return true;
        };
        if seen.len() > 100_000 {
            seen.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = seen.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_within_the_window() {
        let l = RateLimiter::new(3, Duration::from_secs(60));
        assert!(l.allow("a") && l.allow("a") && l.allow("a"));
        assert!(!l.allow("a"));
        assert!(l.allow("b"));
        let short = RateLimiter::new(1, Duration::from_millis(1));
        assert!(short.allow("x"));
        std::thread::sleep(Duration::from_millis(5));
        assert!(short.allow("x"));
    }
}
