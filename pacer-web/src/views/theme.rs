//! Light and dark themes: the system's setting by default, or the operator's choice, kept in
//! the browser (local storage `pacer.theme`) and set as `data-theme` on the document's root,
//! which the stylesheet's `color-scheme` follows (`boot.js` applies it before the console
//! starts, so a dark page never flashes light).

use crate::api;
use dioxus::prelude::*;

/// Where the choice is kept.
const KEY: &str = "pacer.theme";

/// The operator's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Theme {
    /// Whatever the system prefers.
    System,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

impl Theme {
    /// The stored choice (`light`, `dark`; anything else is the system's).
    pub(crate) fn parse(stored: Option<&str>) -> Theme {
        match stored {
            Some("light") => Theme::Light,
            Some("dark") => Theme::Dark,
            _ => Theme::System,
        }
    }

    /// The value stored and set as `data-theme` (`None`: the system's).
    pub(crate) fn value(self) -> Option<&'static str> {
        match self {
            Theme::System => None,
            Theme::Light => Some("light"),
            Theme::Dark => Some("dark"),
        }
    }

    /// The next choice the toggle offers: system → light → dark → system.
    pub(crate) fn next(self) -> Theme {
        match self {
            Theme::System => Theme::Light,
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::System,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Theme::System => "Theme: system",
            Theme::Light => "Theme: light",
            Theme::Dark => "Theme: dark",
        }
    }
}

/// The toggle in the sidebar.
#[component]
pub(crate) fn ThemeToggle() -> Element {
    let mut theme = use_signal(|| Theme::parse(api::stored(KEY).as_deref()));
    let cycle = move |_| {
        let next = theme().next();
        api::store(KEY, next.value());
        api::set_root_attribute("data-theme", next.value());
        theme.set(next);
    };
    rsx! {
        button { class: "button small theme-toggle", r#type: "button", "data-testid": "theme-toggle",
            "data-theme": "{theme().value().unwrap_or(\"system\")}", title: "Switch between the system's theme, light and dark",
            onclick: cycle, "{theme().label()}" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_toggle_cycles_and_unknown_values_follow_the_system() {
        assert_eq!(Theme::parse(None), Theme::System);
        assert_eq!(Theme::parse(Some("sepia")), Theme::System);
        let mut seen = vec![Theme::System];
        for _ in 0..3 {
            let next = seen.last().map(|t| t.next()).expect("one");
            seen.push(next);
        }
        assert_eq!(seen, [Theme::System, Theme::Light, Theme::Dark, Theme::System]);
        for theme in [Theme::Light, Theme::Dark] {
            assert_eq!(Theme::parse(theme.value()), theme, "stored values read back");
        }
    }
}
