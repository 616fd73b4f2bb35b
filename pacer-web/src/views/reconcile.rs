//! "Reconcile now" on the Jobs page: runs a full reaper pass and says what it checked and found.

use super::toast::use_toasts;
use crate::api::ops::{self, ReconcileReport};
use crate::api::run;
use crate::components::Notice;
use crate::format;
use dioxus::prelude::*;

/// What a pass found, as one sentence.
pub(crate) fn describe(report: &ReconcileReport) -> String {
    let mut found = vec![
        format!("{} reaped", report.reaped),
        format!("{} no longer running", report.gone),
        format!("{} stopped terminated", report.stopped_terminated),
        format!("{}", format::plural(i64::from(report.orphans), "untracked instance")),
    ];
    if !report.problems.is_empty() {
        found.push(format!("problems: {}", report.problems.join("; ")));
    }
    format!("Checked {}: {}.", format::plural(i64::from(report.checked), "instance"), found.join(", "))
}

/// The button; what the pass found is told in a toast, what went wrong stays beside it.
#[component]
pub(crate) fn ReconcileNow() -> Element {
    let mut busy = use_signal(|| false);
    let mut failed = use_signal(|| None::<String>);
    let toasts = use_toasts();
    let reconcile = move |_| {
        busy.set(true);
        failed.set(None);
        spawn(async move {
            let result = run(ops::reconcile_now()).await.map(|d| d.reconcile_now);
            busy.set(false);
            match result {
                Ok(report) if report.problems.is_empty() => {
                    toasts.show("reconcile-result", describe(&report))
                }
                Ok(report) => failed.set(Some(describe(&report))),
                Err(e) => failed.set(Some(e.message)),
            }
        });
    };
    rsx! {
        button { class: "button", r#type: "button", disabled: busy(), "data-testid": "reconcile-now",
            title: "Reap what overstays, record what vanished, terminate stopped and untracked instances: the reaper's pass, now",
            onclick: reconcile, if busy() { "Reconciling…" } else { "Reconcile now" } }
        if let Some(message) = failed() {
            Notice { testid: "reconcile-problem", text: message, error: true }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_as_one_sentence() {
        let report = ReconcileReport {
            checked: 3,
            reaped: 1,
            gone: 0,
            stopped_terminated: 2,
            orphans: 1,
            problems: vec!["could not terminate i-1: throttled".into()],
        };
        assert_eq!(
            describe(&report),
            "Checked 3 instances: 1 reaped, 0 no longer running, 2 stopped terminated, 1 untracked instance, problems: could not terminate i-1: throttled."
        );
    }
}
