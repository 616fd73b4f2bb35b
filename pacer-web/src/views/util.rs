//! Small hooks and helpers shared by the pages.

use crate::api;
use dioxus::prelude::*;

/// The browser clock in milliseconds, refreshed every `period_ms` (for relative times and
/// durations that tick).
pub(crate) fn use_now(period_ms: u32) -> Signal<i64> {
    let mut now = use_signal(|| api::now().millis());
    use_future(move || async move {
        loop {
            api::sleep_ms(period_ms).await;
            now.set(api::now().millis());
        }
    });
    now
}

/// Copies `text` to the clipboard (best effort: browsers may refuse without a user gesture).
pub(crate) fn copy_to_clipboard(text: &str) {
    api::copy_text(text);
}

/// Sets the tab title to `<page> · Pacer` while the page is shown.
pub(crate) fn use_title(page: &'static str) {
    use_hook(move || api::set_title(&format!("{page} · Pacer")));
}
