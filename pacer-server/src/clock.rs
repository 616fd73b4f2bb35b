//! Time for the hosts: the domain never reads a clock, the server passes `now` in.

use pacer_domain::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current time (UTC); every `now` a command carries comes from here.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        Timestamp::from_millis(millis)
    }
}
