//! [`SystemClock`]: the wall clock, the one source of "now" outside tests.

use rotor_engine::{Clock, Timestamp};
use std::time::{SystemTime, UNIX_EPOCH};

/// The operating system's clock, in UTC milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        now()
    }
}

/// Now, from the system clock. A clock set before 1970 reads as negative
/// milliseconds rather than failing: a wrong clock is the operator's to fix,
/// and the windows rotor computes will show it plainly.
pub fn now() -> Timestamp {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => Timestamp(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        Err(e) => Timestamp(-i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_after_2025() {
        let t = SystemClock.now();
        assert!(t > Timestamp::parse_date("2025-01-01").unwrap());
    }
}
