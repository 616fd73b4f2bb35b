//! Sliding-window throttles for the doors strangers reach before signing in (password sign-in,
//! SSO start). An attempt is counted before any work, under its client address first: a refused
//! address touches no other key, so rotating emails costs nothing. A key's refusals are recorded
//! once a window: a run of refusals ends a window after its first, and is then recorded once
//! with its count. Keys are bounded in number; past the bound the longest-idle go.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

/// The throttling window.
pub(crate) const WINDOW_MS: i64 = 15 * 60 * 1_000;
/// Keys kept at most; past it, idle keys are dropped, then the longest-idle ones.
const MAX_KEYS: usize = 10_000;

/// What a throttle counts, each with its own limit per window.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// Password sign-ins from one client.
    SignIn { source: String },
    /// Password sign-ins as one account from one client: a stranger elsewhere cannot lock the
    /// real user out.
    Account { email: String, source: String },
    /// SSO sign-ins started by one client.
    SsoStart { source: String },
}

impl Key {
    fn limit(&self) -> usize {
        match self {
            Key::SignIn { .. } => 20,
            Key::Account { .. } => 5,
            Key::SsoStart { .. } => 30,
        }
    }
}

/// The client a throttle counts: its IPv4 address, or its IPv6 /64 (one subscriber's network,
/// whose addresses cost nothing to rotate).
pub(crate) fn client_source(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// A throttle's answer to an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Go on.
    Allowed,
    /// Refused (counted in the key's run of refusals).
    Refused,
}

#[derive(Default)]
struct Window {
    /// The newest attempts, at most the key's limit.
    at: VecDeque<i64>,
    /// When the current run of refusals began, and how many there were since.
    refused_since: Option<i64>,
    refused: u64,
}

/// Attempts per key.
#[derive(Default)]
pub(crate) struct Throttle {
    keys: Mutex<HashMap<Key, Window>>,
}

impl Throttle {
    /// Counts an attempt under `keys` in order, stopping at the first that refuses it (so a
    /// refused address counts under nothing else).
    pub(crate) fn attempt(&self, keys: &[Key], now: i64) -> Verdict {
        let mut windows = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= MAX_KEYS {
            shrink(&mut windows, now);
        }
        for key in keys {
            let window = windows.entry(key.clone()).or_default();
            while window.at.front().is_some_and(|t| now - t >= WINDOW_MS) {
                window.at.pop_front();
            }
            let refused = window.at.len() >= key.limit();
            window.at.push_back(now);
            if window.at.len() > key.limit() {
                window.at.pop_front();
            }
            if refused {
                window.refused += 1;
                window.refused_since.get_or_insert(now);
                return Verdict::Refused;
            }
        }
        Verdict::Allowed
    }

    /// Forgets a key (a successful sign-in clears its account's count).
    pub(crate) fn forget(&self, key: &Key) {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// The keys whose run of refusals began a window ago or more, with how many attempts they
    /// refused since; their runs start over with the next refusal.
    pub(crate) fn ended_runs(&self, now: i64) -> Vec<(Key, u64)> {
        let mut windows = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let mut ended = Vec::new();
        for (key, window) in windows.iter_mut() {
            if window.refused_since.is_some_and(|since| now - since >= WINDOW_MS) {
                ended.push((key.clone(), window.refused));
                window.refused_since = None;
                window.refused = 0;
            }
        }
        ended
    }

    /// Every run of refusals under way, ended now (at shutdown, so no count is lost).
    pub(crate) fn all_runs(&self) -> Vec<(Key, u64)> {
        self.ended_runs(i64::MAX)
    }
}

/// Drops idle keys, then the longest-idle ones, down to 90 % of [`MAX_KEYS`]. Keys with a run of
/// refusals under way stay unless nothing else is left to drop.
fn shrink(windows: &mut HashMap<Key, Window>, now: i64) {
    windows.retain(|_, w| w.refused_since.is_some() || w.at.back().is_some_and(|t| now - t < WINDOW_MS));
    let keep = MAX_KEYS * 9 / 10;
    if windows.len() > keep {
        let mut idle: Vec<(i64, Key)> =
            windows.iter().map(|(k, w)| (w.at.back().copied().unwrap_or(i64::MIN), k.clone())).collect();
        idle.sort_unstable_by_key(|(last, _)| *last);
        for (_, key) in idle.into_iter().take(windows.len() - keep) {
            windows.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign_in(source: &str) -> Key {
        Key::SignIn { source: source.into() }
    }

    fn account(email: &str, source: &str) -> Key {
        Key::Account { email: email.into(), source: source.into() }
    }

    #[test]
    fn an_address_is_refused_before_any_account_is_counted() {
        let throttle = Throttle::default();
        for i in 0..20 {
            let keys = [sign_in("a"), account(&format!("u{i}@x.test"), "a")];
            assert_eq!(throttle.attempt(&keys, i), Verdict::Allowed, "attempt {i}");
        }
        let refused = throttle.attempt(&[sign_in("a"), account("new@x.test", "a")], 20);
        assert_eq!(refused, Verdict::Refused);
        assert_eq!(throttle.attempt(&[sign_in("a")], 21), Verdict::Refused);
        assert!(!throttle.keys.lock().expect("lock").contains_key(&account("new@x.test", "a")));
        // Another address is untouched, and the window slides.
        assert_eq!(throttle.attempt(&[sign_in("b")], 22), Verdict::Allowed);
        assert_eq!(throttle.attempt(&[sign_in("a")], 21 + WINDOW_MS), Verdict::Allowed);
    }

    #[test]
    fn runs_of_refusals_are_summed_once_a_window() {
        let throttle = Throttle::default();
        let key = account("admin@x.test", "a");
        for t in 0..5 {
            assert_eq!(throttle.attempt(std::slice::from_ref(&key), t), Verdict::Allowed);
        }
        for t in 5..100 {
            assert_eq!(throttle.attempt(std::slice::from_ref(&key), t), Verdict::Refused);
        }
        assert_eq!(throttle.ended_runs(WINDOW_MS), vec![]);
        assert_eq!(throttle.ended_runs(5 + WINDOW_MS), vec![(key.clone(), 95)]);
        assert_eq!(throttle.ended_runs(5 + 2 * WINDOW_MS), vec![]);
        // Still hammering: the next refusal starts a new run.
        assert_eq!(throttle.attempt(std::slice::from_ref(&key), 100), Verdict::Refused);
        assert_eq!(throttle.all_runs(), vec![(key, 1)]);
    }

    #[test]
    fn keys_stay_bounded() {
        let throttle = Throttle::default();
        for i in 0..(MAX_KEYS as i64 + 10) {
            throttle.attempt(&[sign_in(&i.to_string())], i);
        }
        assert!(throttle.keys.lock().expect("lock").len() <= MAX_KEYS);
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        assert_eq!(client_source(a), client_source(b));
        assert_eq!(client_source("::ffff:10.0.0.1".parse().expect("ip")), "10.0.0.1");
    }
}
