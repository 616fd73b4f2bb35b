//! The frame around every page but sign-in: the auth gate (asks `authInfo`; sends the browser
//! to sign in unless auth is disabled or a session exists, and again whenever a call answers
//! `UNAUTHENTICATED`), the sidebar with its two groups, the signed-in user and sign-out, and
//! the red health banner kept current by the `health.changed` events.

use super::audit::AuditUrl;
use super::scope::{ScopeSwitcher, use_scope_provider};
use super::theme::ThemeToggle;
use super::toast::{ToastStack, use_toasts_provider};
use crate::api::ops::{self, AuthInfo};
use crate::api::ws::{self, LiveState};
use crate::api::{self, SESSION_LOST};
use crate::components::{HealthBanner, Loading, Notice};
use crate::route::Route;
use dioxus::prelude::*;

/// Whether this browser must sign in before seeing pages.
pub(crate) fn needs_sign_in(info: &AuthInfo) -> bool {
    !info.disabled && !info.signed_in
}

/// The layout of the signed-in console.
#[component]
pub(crate) fn Shell() -> Element {
    let nav = navigator();
    let mut auth = use_resource(|| async { api::run(ops::auth_info()).await.map(|d| d.auth_info) });

    use_effect(move || {
        if let Some(Ok(info)) = &*auth.read()
            && needs_sign_in(info)
        {
            nav.replace(Route::Login { error: None });
        }
    });
    use_effect(move || {
        if SESSION_LOST() {
            *SESSION_LOST.write() = false;
            nav.replace(Route::Login { error: None });
        }
    });

    match &*auth.read() {
        None => rsx! { Loading {} },
        Some(Err(error)) => rsx! {
            div { class: "boot",
                Notice { testid: "boot-error", text: format!("Cannot reach Pacer: {error}"), error: true }
                button { class: "button", onclick: move |_| auth.restart(), "Retry" }
            }
        },
        Some(Ok(info)) if needs_sign_in(info) => rsx! { Loading {} },
        Some(Ok(info)) => rsx! { Frame { auth_disabled: info.disabled } },
    }
}

/// Whether the sidebar entry leading to `to` is the page on screen, whatever its filter (the
/// Jobs entry also while a job's details are open). Dioxus's own `active_class` compares URLs,
/// and `/jobs?` (a route with an empty query) never equals the browser's `/jobs`.
pub(crate) fn nav_active(to: &Route, current: &Route) -> bool {
    match (to, current) {
        (Route::Jobs { .. }, Route::JobDetail { .. }) => true,
        _ => std::mem::discriminant(to) == std::mem::discriminant(current),
    }
}

#[component]
fn NavItem(to: Route, label: &'static str, testid: &'static str) -> Element {
    let current = use_route::<Route>();
    let class = if nav_active(&to, &current) { "nav-link active" } else { "nav-link" };
    rsx! {
        Link { to, class, "data-testid": "{testid}", "{label}" }
    }
}

#[component]
fn Frame(auth_disabled: bool) -> Element {
    let nav = navigator();
    let me = use_resource(move || async move {
        if auth_disabled { None } else { api::run(ops::me()).await.ok().and_then(|d| d.me) }
    });
    let mut health = use_resource(|| async { api::run(ops::health()).await.map(|d| d.health) });
    use_future(move || async move {
        ws::subscribe(
            ops::health_changed(),
            move |_| health.restart(),
            move |state| {
                if state == LiveState::Live {
                    health.restart();
                }
            },
        )
        .await;
    });
    use_future(move || async move {
        loop {
            api::sleep_ms(30_000).await;
            health.restart();
        }
    });
    use_toasts_provider();
    use_scope_provider();
    let mut signing_out = use_signal(|| false);
    let sign_out = move |_| {
        signing_out.set(true);
        spawn(async move {
            let _ = api::logout().await;
            signing_out.set(false);
            nav.replace(Route::Login { error: None });
        });
    };

    let banner = match &*health.read() {
        Some(Ok(h)) if !h.ok => Some(h.components.clone()),
        _ => None,
    };
    let user = me.read().clone().flatten();

    rsx! {
        div { class: "app",
            aside { class: "sidebar",
                div { class: "brand",
                    img { src: "/favicon.svg", alt: "", width: "22", height: "22" }
                    span { "Pacer" }
                }
                ScopeSwitcher {}
                nav { "data-testid": "sidebar",
                    div { class: "nav-group", "Control" }
                    NavItem { to: Route::Overview {}, label: "Overview", testid: "nav-overview" }
                    NavItem { to: Route::Jobs { status: None }, label: "Jobs", testid: "nav-jobs" }
                    NavItem { to: Route::Stats {}, label: "Stats", testid: "nav-stats" }
                    NavItem { to: AuditUrl::default().route(), label: "Audit", testid: "nav-audit" }
                    div { class: "nav-group", "Config" }
                    NavItem { to: Route::Projects {}, label: "Projects", testid: "nav-projects" }
                    NavItem { to: Route::Repos {}, label: "Repos", testid: "nav-repos" }
                    NavItem { to: Route::Pools {}, label: "Pools", testid: "nav-pools" }
                    NavItem { to: Route::Backup {}, label: "Backup", testid: "nav-backup" }
                    NavItem { to: Route::Settings { github_app: None, github_app_error: None }, label: "Settings", testid: "nav-settings" }
                }
                div { class: "sidebar-foot",
                    ThemeToggle {}
                    if auth_disabled {
                        div { class: "muted small", "data-testid": "auth-disabled", "Auth disabled" }
                    } else {
                        if let Some(user) = user {
                            div { class: "user", title: "signed in with {user.method}", "data-testid": "current-user",
                                "{user.email}"
                            }
                        }
                        button {
                            class: "button small",
                            r#type: "button",
                            disabled: signing_out(),
                            "data-testid": "sign-out",
                            onclick: sign_out,
                            "Sign out"
                        }
                    }
                }
            }
            main { class: "main",
                if let Some(components) = banner {
                    HealthBanner { components }
                }
                Outlet::<Route> {}
            }
            ToastStack {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_opens_when_auth_is_off_or_a_session_exists() {
        let info =
            |disabled, signed_in| AuthInfo { disabled, signed_in, local_enabled: true, oidc_enabled: false };
        assert!(needs_sign_in(&info(false, false)));
        assert!(!needs_sign_in(&info(false, true)));
        assert!(!needs_sign_in(&info(true, false)));
    }

    #[test]
    fn a_sidebar_entry_is_active_on_its_page_whatever_the_filter() {
        let jobs = Route::Jobs { status: None };
        assert!(nav_active(&jobs, &Route::Jobs { status: None }));
        assert!(nav_active(&jobs, &Route::Jobs { status: Some("failed".into()) }));
        assert!(nav_active(&jobs, &Route::JobDetail { id: "7".into() }));
        assert!(!nav_active(&jobs, &Route::Overview {}));
        let audit = AuditUrl::default().route();
        let failed = AuditUrl { action: Some("job.failed".into()), ..AuditUrl::default() };
        assert!(nav_active(&audit, &failed.route()));
        assert!(!nav_active(&Route::Overview {}, &audit));
        assert!(nav_active(
            &Route::Settings { github_app: None, github_app_error: None },
            &Route::Settings { github_app: None, github_app_error: None }
        ));
    }
}
