//! The Pools page's warm capacity dialog: off, fixed counts, a schedule of time-of-week windows
//! (added and removed in place) or a forecast, and the age at which an idle warm instance is
//! replaced; checked by the domain's `validate_warm` against the pool's cap as typed (the time zone
//! by the server, which has the time zone database), saved by `setPoolWarm`, with the server's
//! field errors next to their inputs.

use crate::api;
use crate::api::ops::config::{self as ops, Pool};
use crate::components::{Field, FieldErrors, Modal, Notice};
use crate::forms::{CountsForm, WarmChoice, WarmForm, WindowForm, errors_for, use_form};
use dioxus::prelude::*;
use pacer_domain::FieldError;

/// The days' labels and test id suffixes, Monday first.
const DAYS: [(&str, &str); 7] = [
    ("Mon", "mon"),
    ("Tue", "tue"),
    ("Wed", "wed"),
    ("Thu", "thu"),
    ("Fri", "fri"),
    ("Sat", "sat"),
    ("Sun", "sun"),
];

/// What the page tells once `pool`'s warm capacity is saved (`on`) or switched off.
pub(crate) fn warm_saved_message(pool: &Pool, on: bool) -> String {
    match (&pool.warm, on) {
        (_, false) => format!("Switched off the warm capacity of pool {}.", pool.name),
        (Some(warm), true) => format!("Saved the warm capacity of pool {}: {}.", pool.name, warm.reason),
        (None, true) => format!("Saved the warm capacity of pool {}.", pool.name),
    }
}

/// The errors of a window's `name` field (`from`, `to`, `days`, `counts`), including the
/// domain's `from_minute` and `to_minute`.
fn window_errors(i: usize, name: &str, shown: &[FieldError]) -> Vec<String> {
    let key = format!("sizing.windows[{i}].{name}");
    let mut errors = errors_for(&key, shown);
    errors.extend(errors_for(&format!("{key}_minute"), shown));
    errors
}

/// A hot and a stopped count side by side, in the field `name` (`input-{name}_hot`,
/// `input-{name}_stopped`).
#[component]
fn CountsInputs(
    name: String,
    counts: CountsForm,
    on_hot: EventHandler<String>,
    on_stopped: EventHandler<String>,
) -> Element {
    rsx! {
        div { class: "inline-inputs warm-counts",
            input { id: "input-{name}", "data-testid": "input-{name}_hot", inputmode: "numeric", title: "hot",
                value: "{counts.hot}", oninput: move |e| on_hot.call(e.value()) }
            span { "hot ·" }
            input { "data-testid": "input-{name}_stopped", inputmode: "numeric", title: "stopped",
                value: "{counts.stopped}", oninput: move |e| on_stopped.call(e.value()) }
            span { "stopped" }
        }
    }
}

/// The warm capacity dialog of `pool`.
#[component]
pub(crate) fn WarmDialog(pool: Pool, on_cancel: EventHandler<()>, on_saved: EventHandler<String>) -> Element {
    let id = pool.id.clone();
    let initial = WarmForm::from_pool(&pool);
    let mut form = use_form(move || initial);
    let (shown, general) = form.errors();
    let errs = |key: &str| errors_for(key, &shown);
    let mut edit = move |field: &'static str, apply: Box<dyn FnOnce(&mut WarmForm)>| form.edit(field, apply);
    let mut edit_window = move |i: usize, apply: Box<dyn FnOnce(&mut WindowForm)>| {
        edit(
            "sizing.windows",
            Box::new(move |f| {
                if let Some(w) = f.windows.get_mut(i) {
                    apply(w);
                }
            }),
        )
    };

    let save = move |e: FormEvent| {
        e.prevent_default();
        let Some((_, spec)) = form.submit() else { return };
        let id = id.clone();
        spawn(async move {
            let result = api::run(ops::set_pool_warm(&id, spec.as_ref()))
                .await
                .map(|d| warm_saved_message(&d.set_pool_warm, spec.is_some()));
            if let Some(message) = form.finish(result) {
                on_saved.call(message);
            }
        });
    };

    let f = form.value();
    let busy = form.busy();
    let windows_errors: Vec<String> =
        shown.iter().filter(|e| e.field == "sizing.windows").map(|e| e.message.clone()).collect();
    rsx! {
        Modal { testid: "pool-warm-dialog", title: format!("Warm capacity of pool {}", pool.name), on_close: move |_| on_cancel.call(()), wide: true,
            form { class: "form", onsubmit: save, novalidate: true,
                for message in general {
                    Notice { testid: "form-error", text: message, error: true }
                }
                p { class: "muted small",
                    "Instances booted before any job asks, so a job starts in seconds: hot ones wait booted, stopped ones are started for a job (slower, and cheaper to hold). They count against the pool's cap of {f.cap}; what they cost while idle is the pool's warm cost."
                }
                Field { name: "warm_mode", label: "Warm capacity", errors: Vec::new(), hint: f.mode.describe().to_owned(),
                    select { id: "input-warm_mode", "data-testid": "input-warm_mode",
                        onchange: move |e| edit("mode", Box::new(move |f| f.mode = WarmChoice::parse(&e.value()).unwrap_or_default())),
                        for c in WarmChoice::ALL {
                            option { value: "{c.as_str()}", title: "{c.describe()}", selected: f.mode == c, "{c.label()}" }
                        }
                    }
                }
                match f.mode {
                    WarmChoice::Off => rsx! {},
                    WarmChoice::Fixed => rsx! {
                        Field { name: "warm_fixed", label: "Counts", errors: errs("sizing.fixed"),
                            CountsInputs { name: "warm_fixed", counts: f.fixed.clone(),
                                on_hot: move |v| edit("sizing.fixed", Box::new(move |f| f.fixed.hot = v)),
                                on_stopped: move |v| edit("sizing.fixed", Box::new(move |f| f.fixed.stopped = v)) }
                        }
                    },
                    WarmChoice::Schedule => rsx! {
                        Field { name: "warm_zone", label: "Time zone", errors: errs("sizing.zone"),
                            hint: "UTC or an IANA name such as Europe/Berlin (daylight saving included)",
                            input { id: "input-warm_zone", "data-testid": "input-warm_zone", value: "{f.zone}",
                                oninput: move |e| edit("sizing.zone", Box::new(move |f| f.zone = e.value())) }
                        }
                        div { class: "warm-windows", "data-testid": "warm-windows",
                            div { class: "muted small", "Windows, the first that holds winning; one whose end is not after its start runs past midnight." }
                            FieldErrors { name: "warm_windows", errors: windows_errors }
                            for (i, w) in f.windows.iter().cloned().enumerate() {
                                div { key: "{i}", class: "row warm-window", "data-testid": "warm-window", "data-index": "{i}",
                                    Field { name: format!("warm_window_{i}_days"), label: "Days", errors: window_errors(i, "days", &shown),
                                        div { class: "inline-inputs warm-days",
                                            for (d, (label, suffix)) in DAYS.into_iter().enumerate() {
                                                label { class: "check",
                                                    input { r#type: "checkbox", "data-testid": "input-warm_window_{i}_{suffix}", checked: w.days[d],
                                                        onchange: move |e: FormEvent| {
                                                            let on = e.checked();
                                                            edit_window(i, Box::new(move |w| w.days[d] = on));
                                                        } }
                                                    "{label}"
                                                }
                                            }
                                        }
                                    }
                                    Field { name: format!("warm_window_{i}_from"), label: "From", errors: window_errors(i, "from", &shown),
                                        input { id: "input-warm_window_{i}_from", "data-testid": "input-warm_window_{i}_from", placeholder: "HH:MM", value: "{w.from}",
                                            oninput: move |e| edit_window(i, Box::new(move |w| w.from = e.value())) }
                                    }
                                    Field { name: format!("warm_window_{i}_to"), label: "To", errors: window_errors(i, "to", &shown),
                                        input { id: "input-warm_window_{i}_to", "data-testid": "input-warm_window_{i}_to", placeholder: "HH:MM", value: "{w.to}",
                                            oninput: move |e| edit_window(i, Box::new(move |w| w.to = e.value())) }
                                    }
                                    Field { name: format!("warm_window_{i}_counts"), label: "Counts", errors: window_errors(i, "counts", &shown),
                                        CountsInputs { name: format!("warm_window_{i}_counts"), counts: w.counts.clone(),
                                            on_hot: move |v| edit_window(i, Box::new(move |w| w.counts.hot = v)),
                                            on_stopped: move |v| edit_window(i, Box::new(move |w| w.counts.stopped = v)) }
                                    }
                                    div { class: "field",
                                        button { class: "button small danger-text", r#type: "button", "data-testid": "warm-window-remove",
                                            onclick: move |_| edit("sizing.windows", Box::new(move |f| { if i < f.windows.len() { f.windows.remove(i); } })),
                                            "remove"
                                        }
                                    }
                                }
                            }
                            button { class: "button small", r#type: "button", "data-testid": "warm-window-add",
                                onclick: move |_| edit("sizing.windows", Box::new(|f| f.windows.push(WindowForm::default()))),
                                "+ window"
                            }
                        }
                        Field { name: "warm_otherwise", label: "Outside every window", errors: errs("sizing.otherwise"),
                            CountsInputs { name: "warm_otherwise", counts: f.otherwise.clone(),
                                on_hot: move |v| edit("sizing.otherwise", Box::new(move |f| f.otherwise.hot = v)),
                                on_stopped: move |v| edit("sizing.otherwise", Box::new(move |f| f.otherwise.stopped = v)) }
                        }
                    },
                    WarmChoice::Forecast => rsx! {
                        div { class: "row",
                            Field { name: "warm_quantile", label: "Percentile", errors: errs("sizing.quantile"),
                                hint: "1–100: of the weekly peaks, what hot instances cover",
                                input { id: "input-warm_quantile", "data-testid": "input-warm_quantile", inputmode: "numeric", value: "{f.quantile}",
                                    oninput: move |e| edit("sizing.quantile", Box::new(move |f| f.quantile = e.value())) }
                            }
                            Field { name: "warm_weeks", label: "Weeks looked back", errors: errs("sizing.weeks"), hint: "1–12",
                                input { id: "input-warm_weeks", "data-testid": "input-warm_weeks", inputmode: "numeric", value: "{f.weeks}",
                                    oninput: move |e| edit("sizing.weeks", Box::new(move |f| f.weeks = e.value())) }
                            }
                        }
                    },
                }
                if f.mode != WarmChoice::Off {
                    Field { name: "warm_max_age_minutes", label: "Max idle age (min)", errors: errs("max_age_minutes"),
                        hint: "an idle warm instance older than this is replaced; 10–10080",
                        input { id: "input-warm_max_age_minutes", "data-testid": "input-warm_max_age_minutes", inputmode: "numeric",
                            value: "{f.max_age_minutes}",
                            oninput: move |e| edit("max_age_minutes", Box::new(move |f| f.max_age_minutes = e.value())) }
                    }
                }
                div { class: "actions",
                    button { class: "button primary", r#type: "submit", disabled: busy, "data-testid": "pool-warm-save",
                        if busy { "Saving…" } else { "Save warm capacity" }
                    }
                    button { class: "button", r#type: "button", onclick: move |_| on_cancel.call(()), "Cancel" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::api::ops::config::test_pool as pool;

    fn schedule() -> Pool {
        let counts = serde_json::json!({ "hot": 2, "stopped": 1 });
        pool(serde_json::json!({"mode":"SCHEDULE","fixed":null,"zone":"Europe/Berlin",
            "windows":[{"days":["MON","FRI"],"from":"08:00","to":"18:00","counts":counts}],
            "otherwise":{"hot":0,"stopped":0},"quantile":null,"weeks":null,"maxAgeMinutes":120,
            "target":counts,"reason":"schedule: Mon 08:00–18:00 Europe/Berlin: 2 hot, 1 stopped",
            "wanted":counts,"idle":counts}))
    }

    #[test]
    fn a_save_says_what_the_pool_holds_now() {
        assert_eq!(
            warm_saved_message(&schedule(), true),
            "Saved the warm capacity of pool big: schedule: Mon 08:00–18:00 Europe/Berlin: 2 hot, 1 stopped."
        );
        assert_eq!(
            warm_saved_message(&pool(serde_json::Value::Null), false),
            "Switched off the warm capacity of pool big."
        );
    }

    #[test]
    fn the_dialog_opens_with_the_pools_schedule() {
        let mut dom = VirtualDom::new_with_props(
            |pool: Pool| rsx! { WarmDialog { pool, on_cancel: |_| {}, on_saved: |_| {} } },
            schedule(),
        );
        dom.rebuild_in_place();
        let html = dioxus_ssr::render(&dom);
        for needle in [
            r#"data-testid="pool-warm-dialog""#,
            r#"selected=true>Schedule</option>"#,
            r#"data-testid="input-warm_zone" value="Europe/Berlin""#,
            r#"data-testid="warm-window" data-index="0""#,
            r#"data-testid="input-warm_window_0_from" placeholder="HH:MM" value="08:00""#,
            r#"data-testid="input-warm_window_0_counts_hot" inputmode="numeric" title="hot" value="2""#,
            r#"data-testid="input-warm_window_0_counts_stopped" inputmode="numeric" title="stopped" value="1""#,
            r#"data-testid="input-warm_max_age_minutes" inputmode="numeric" value="120""#,
            r#"data-testid="warm-window-add""#,
            r#"data-testid="pool-warm-save""#,
        ] {
            assert!(html.contains(needle), "{needle}: {html}");
        }
        assert_eq!(html.matches(r#"data-testid="warm-window""#).count(), 1, "{html}");
        assert!(html.contains(r#"type="checkbox" data-testid="input-warm_window_0_mon" checked"#), "{html}");
        assert!(!html.contains(r#"data-testid="input-warm_window_0_tue" checked"#), "{html}");
        assert!(!html.contains("input-warm_quantile") && !html.contains("input-warm_fixed_hot"), "{html}");
        assert!(!html.contains("field-errors"), "nothing shown before an edit: {html}");
    }
}
