//! Transient confirmations: toasts in the page's corner, each gone after a few seconds or when
//! clicked. A new toast of a kind (its test id: `pool-saved`, `projects-notice`, …) replaces
//! the one of that kind still shown. Errors are not toasts: they stay beside what failed.

use crate::api;
use dioxus::prelude::*;

/// How long a toast stays, in milliseconds.
const TOAST_MS: i64 = 6_000;

#[derive(Clone, Debug, PartialEq)]
struct Toast {
    kind: &'static str,
    text: String,
    until_ms: i64,
}

/// The shell's toasts, a `Copy` handle any page takes from the context.
#[derive(Clone, Copy)]
pub(crate) struct Toasts(Signal<Vec<Toast>>);

impl Toasts {
    /// Shows `text` as a toast of `kind` (its test id), in place of one of that kind.
    pub(crate) fn show(mut self, kind: &'static str, text: impl Into<String>) {
        let toast = Toast { kind, text: text.into(), until_ms: api::now().millis() + TOAST_MS };
        let mut list = self.0.write();
        list.retain(|t| t.kind != kind);
        list.push(toast);
    }
}

/// Provides the toasts to every page below (the shell calls it once).
pub(crate) fn use_toasts_provider() -> Toasts {
    use_context_provider(|| Toasts(Signal::new(Vec::new())))
}

/// The toasts the shell provides.
pub(crate) fn use_toasts() -> Toasts {
    use_context()
}

/// The stack of toasts, dropping each once its time is up.
#[component]
pub(crate) fn ToastStack() -> Element {
    let Toasts(mut list) = use_toasts();
    use_future(move || async move {
        loop {
            api::sleep_ms(500).await;
            let now = api::now().millis();
            if list.peek().iter().any(|t| t.until_ms <= now) {
                list.write().retain(|t| t.until_ms > now);
            }
        }
    });
    rsx! {
        div { class: "toasts", "aria-live": "polite",
            for toast in list() {
                div { key: "{toast.kind}-{toast.until_ms}", class: "toast", role: "status", "data-testid": "{toast.kind}",
                    title: "Dismiss",
                    onclick: move |_| list.write().retain(|t| t.kind != toast.kind),
                    "{toast.text}"
                }
            }
        }
    }
}
