//! The retentions in force: each kind's override from the console (`settings.retention_set`,
//! folded into [`State`]) or else its default from the configuration (`retention.*`).

use crate::config::RetentionConfig;
use pacer_domain::{RetentionKind, State};

/// The days of `kind` in force: the console's override, else the configuration's default.
pub(crate) fn days(state: &State, config: &RetentionConfig, kind: RetentionKind) -> u32 {
    state.settings.retention.get(kind).unwrap_or_else(|| config.default_days(kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_domain::{Actor, Event, Recorded, SettingsRetentionSet, Timestamp};

    #[test]
    fn an_override_wins_over_the_default_until_it_is_cleared() {
        let config = RetentionConfig::default();
        let mut state = State::default();
        assert_eq!(RetentionKind::ALL.map(|kind| days(&state, &config, kind)), [90, 7, 30]);
        for (seq, days) in [(1, Some(3)), (2, None)] {
            let event =
                Event::SettingsRetentionSet(SettingsRetentionSet { kind: RetentionKind::Webhook, days });
            let record =
                Recorded { seq, at: Timestamp(seq as i64), actor: Actor::System, request_id: None, event };
            state.evolve(&record);
            let expected = days.unwrap_or(7);
            assert_eq!(super::days(&state, &config, RetentionKind::Webhook), expected);
        }
    }
}
