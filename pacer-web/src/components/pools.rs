//! The Pools page's pieces: a pool's warm capacity at a glance.

use crate::api::ops::config::{WarmCapacity, WarmMode};
use dioxus::prelude::*;

/// The mode's word (`data-mode`).
fn mode_word(mode: WarmMode) -> &'static str {
    match mode {
        WarmMode::Fixed => "fixed",
        WarmMode::Schedule => "schedule",
        WarmMode::Forecast => "forecast",
    }
}

/// A pool's warm capacity in its row: the instances it holds for now, how many are idle (and
/// how many of those are beyond what it holds, kept until a lower target has held for the
/// scale-down delay), what its sizing asks when the cap (or a disabled pool) holds less, and why.
#[component]
pub(crate) fn WarmSummary(warm: WarmCapacity) -> Element {
    let (wanted, idle, target) = (warm.wanted, warm.idle, warm.target);
    let beyond = (idle.hot - wanted.hot).max(0) + (idle.stopped - wanted.stopped).max(0);
    let delay = pacer_domain::WARM_SCALE_DOWN_DELAY_MS / pacer_domain::MINUTE_MS;
    rsx! {
        div { class: "warm", "data-testid": "pool-warm", "data-mode": mode_word(warm.mode),
            "data-hot": "{wanted.hot}", "data-stopped": "{wanted.stopped}",
            "data-target-hot": "{target.hot}", "data-target-stopped": "{target.stopped}",
            "data-idle-hot": "{idle.hot}", "data-idle-stopped": "{idle.stopped}",
            "{wanted.hot} hot · {wanted.stopped} stopped"
            if target != wanted {
                span { class: "muted", "data-testid": "pool-warm-asked",
                    " (asks {target.hot} hot · {target.stopped} stopped)"
                }
            }
            div { class: "muted small", "data-testid": "pool-warm-idle",
                "idle: {idle.hot} hot · {idle.stopped} stopped"
                if beyond > 0 {
                    span { "data-testid": "pool-warm-beyond",
                        "; {beyond} beyond, kept until the lower target has held {delay} min"
                    }
                }
            }
            div { class: "muted small", "data-testid": "pool-warm-reason", "{warm.reason}" }
        }
    }
}
