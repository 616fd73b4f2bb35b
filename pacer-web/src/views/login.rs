//! Sign in: email + password, and "Sign in with SSO" above the divider when OIDC is on. The
//! form never shows when auth is disabled or a session exists (the page forwards to the
//! Overview), and an SSO failure the server redirected back with is explained in words.

use super::util::use_title;
use crate::api::{self, LoginError, ops};
use crate::components::{Loading, Notice};
use crate::route::Route;
use dioxus::prelude::*;

/// The sign-in page.
#[component]
pub(crate) fn Login(error: Option<String>) -> Element {
    use_title("Sign in");
    let nav = navigator();
    let mut auth = use_resource(|| async { api::run(ops::auth_info()).await.map(|d| d.auth_info) });
    use_effect(move || {
        if let Some(Ok(info)) = &*auth.read()
            && (info.disabled || info.signed_in)
        {
            nav.replace(Route::Overview {});
        }
    });

    let mut email = use_signal(String::new);
    let mut password = use_signal(String::new);
    let mut busy = use_signal(|| false);
    let mut failure = use_signal(|| None::<LoginError>);

    let submit = move |evt: FormEvent| {
        evt.prevent_default();
        if busy() {
            return;
        }
        busy.set(true);
        failure.set(None);
        spawn(async move {
            let (address, secret) = (email.peek().trim().to_owned(), password.peek().clone());
            let result = api::login(&address, &secret).await;
            busy.set(false);
            match result {
                Ok(()) => {
                    nav.replace(Route::Overview {});
                }
                Err(e) => {
                    password.set(String::new());
                    failure.set(Some(e));
                }
            }
        });
    };

    let info = match &*auth.read() {
        None => return rsx! { Loading {} },
        Some(Err(e)) => {
            return rsx! {
                div { class: "login-page",
                    div { class: "login-card",
                        Notice { testid: "login-unreachable", text: format!("Cannot reach Pacer: {e}"), error: true }
                        button { class: "button", onclick: move |_| auth.restart(), "Retry" }
                    }
                }
            };
        }
        Some(Ok(info)) if info.disabled || info.signed_in => return rsx! { Loading {} },
        Some(Ok(info)) => info.clone(),
    };
    let sso_error = error.filter(|e| !e.is_empty()).map(|code| api::oidc_error_text(&code));

    rsx! {
        div { class: "login-page", "data-testid": "login-page",
            div { class: "login-card",
                div { class: "brand brand-login",
                    img { src: "/favicon.svg", alt: "", width: "28", height: "28" }
                    span { "Pacer" }
                }
                h1 { "Sign in" }
                if let Some(text) = sso_error {
                    Notice { testid: "sso-error", text, error: true }
                }
                if info.oidc_enabled {
                    a { class: "button primary wide", href: "/auth/oidc/start", "data-testid": "sso-button",
                        "Sign in with SSO"
                    }
                    if info.local_enabled {
                        div { class: "divider", span { "or" } }
                    }
                }
                if info.local_enabled {
                    form { class: "form", onsubmit: submit, "data-testid": "login-form",
                        div { class: "field",
                            label { r#for: "login-email", "Email" }
                            input {
                                id: "login-email",
                                r#type: "email",
                                autocomplete: "username",
                                required: true,
                                "data-testid": "login-email",
                                value: "{email}",
                                oninput: move |e| email.set(e.value()),
                            }
                        }
                        div { class: "field",
                            label { r#for: "login-password", "Password" }
                            input {
                                id: "login-password",
                                r#type: "password",
                                autocomplete: "current-password",
                                required: true,
                                "data-testid": "login-password",
                                value: "{password}",
                                oninput: move |e| password.set(e.value()),
                            }
                        }
                        if let Some(f) = failure() {
                            Notice { testid: "login-error", text: f.to_string(), error: true }
                        }
                        button {
                            class: "button primary wide",
                            r#type: "submit",
                            disabled: busy(),
                            "data-testid": "login-submit",
                            if busy() { "Signing in…" } else { "Sign in" }
                        }
                    }
                }
                if !info.local_enabled && !info.oidc_enabled {
                    Notice {
                        testid: "no-sign-in",
                        text: "No sign-in method is enabled on this server (see auth.local and auth.oidc).",
                        error: true,
                    }
                }
            }
        }
    }
}
