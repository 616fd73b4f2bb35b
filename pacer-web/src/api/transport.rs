//! The browser seam: fetch, timers, the clock, the page's origin, the document title, the
//! clipboard and the stored theme behind a few small functions, with host versions so the crate builds and its pure
//! parts test on the host. Nothing here evaluates JavaScript, so the console runs under a CSP
//! without `unsafe-eval`.

use pacer_domain::Timestamp;

#[cfg(target_arch = "wasm32")]
mod imp {
    use pacer_domain::Timestamp;

    pub(crate) async fn post(url: &str, body: String) -> Result<(u16, String), String> {
        let request = gloo_net::http::Request::post(url)
            .header("Content-Type", "application/json")
            .header("X-Pacer-Request", "1")
            .body(body)
            .map_err(|e| e.to_string())?;
        let response = request.send().await.map_err(|e| format!("the server did not answer ({e})"))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        Ok((status, text))
    }

    pub(crate) async fn sleep_ms(ms: u32) {
        gloo_timers::future::TimeoutFuture::new(ms).await;
    }

    pub(crate) fn now() -> Timestamp {
        Timestamp::from_millis(js_sys::Date::now() as i64)
    }

    pub(crate) fn set_title(title: &str) {
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            document.set_title(title);
        }
    }

    pub(crate) fn copy_text(text: &str) {
        let Some(window) = web_sys::window() else { return };
        let promise = window.navigator().clipboard().write_text(text);
        wasm_bindgen_futures::spawn_local(async move {
            // Refusals (no permission, no focus) are not worth an error: the line is on screen.
            let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        });
    }

    pub(crate) fn stored(key: &str) -> Option<String> {
        let storage = web_sys::window()?.local_storage().ok().flatten()?;
        storage.get_item(key).ok().flatten()
    }

    pub(crate) fn store(key: &str, value: Option<&str>) {
        let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) else { return };
        // Storage refused (private mode, quota): the choice lasts for this page only.
        let _ = match value {
            Some(value) => storage.set_item(key, value),
            None => storage.remove_item(key),
        };
    }

    pub(crate) fn set_root_attribute(name: &str, value: Option<&str>) {
        let Some(root) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element())
        else {
            return;
        };
        let _ = match value {
            Some(value) => root.set_attribute(name, value),
            None => root.remove_attribute(name),
        };
    }

    pub(crate) fn ws_url(path: &str) -> String {
        let location = web_sys::window().map(|w| w.location());
        let protocol = location.as_ref().and_then(|l| l.protocol().ok()).unwrap_or_default();
        let host = location.as_ref().and_then(|l| l.host().ok()).unwrap_or_default();
        let scheme = if protocol == "https:" { "wss" } else { "ws" };
        format!("{scheme}://{host}{path}")
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use pacer_domain::Timestamp;

    pub(crate) async fn post(_url: &str, _body: String) -> Result<(u16, String), String> {
        Err("the console reaches the server only from a browser".to_owned())
    }

    /// Timers exist only in the browser: on the host (component tests) a sleeping task never
    /// wakes, so nothing polls in a loop.
    pub(crate) async fn sleep_ms(_ms: u32) {
        std::future::pending::<()>().await;
    }

    pub(crate) fn set_title(_title: &str) {}

    pub(crate) fn copy_text(_text: &str) {}

    pub(crate) fn stored(_key: &str) -> Option<String> {
        None
    }

    pub(crate) fn store(_key: &str, _value: Option<&str>) {}

    pub(crate) fn set_root_attribute(_name: &str, _value: Option<&str>) {}

    pub(crate) fn now() -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Timestamp::from_millis(ms)
    }
}

/// POSTs a JSON body with the CSRF header and same-origin cookies; answers status and body.
pub(crate) async fn post(url: &str, body: String) -> Result<(u16, String), String> {
    imp::post(url, body).await
}

/// Waits `ms` milliseconds.
pub(crate) async fn sleep_ms(ms: u32) {
    imp::sleep_ms(ms).await;
}

/// The browser's clock.
pub(crate) fn now() -> Timestamp {
    imp::now()
}

/// Sets the browser tab's title.
pub(crate) fn set_title(title: &str) {
    imp::set_title(title);
}

/// What the browser keeps under `key` (local storage), if anything.
pub(crate) fn stored(key: &str) -> Option<String> {
    imp::stored(key)
}

/// Keeps `value` under `key` in local storage (`None` removes it).
pub(crate) fn store(key: &str, value: Option<&str>) {
    imp::store(key, value);
}

/// Sets (or with `None` removes) an attribute of the document's root element.
pub(crate) fn set_root_attribute(name: &str, value: Option<&str>) {
    imp::set_root_attribute(name, value);
}

/// Copies `text` to the clipboard (best effort: a browser may refuse).
pub(crate) fn copy_text(text: &str) {
    imp::copy_text(text);
}

/// The WebSocket URL of `path` on this page's origin.
#[cfg(target_arch = "wasm32")]
pub(crate) fn ws_url(path: &str) -> String {
    imp::ws_url(path)
}
