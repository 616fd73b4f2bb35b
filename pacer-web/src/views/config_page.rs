//! What the projects, pools and repos pages keep besides their data: which editor is open, the
//! item whose removal (delete, unbind) is being confirmed, and the last outcome told to the
//! operator, with the one confirmation dialog they share.

use super::toast::{Toasts, use_toasts};
use crate::api::{self, ApiError};
use crate::components::Confirm;
use crate::forms::Editor;
use dioxus::prelude::*;

/// A `Copy` handle to a configuration page's editor, removal and outcome signals: what went
/// well is told as a toast of the page's kind, what failed stays above the table.
pub(crate) struct ConfigPage<T: 'static> {
    editor: Signal<Editor<T>>,
    removing: Signal<Option<T>>,
    busy: Signal<bool>,
    error: Signal<Option<String>>,
    problem: Signal<Option<String>>,
    toasts: Toasts,
    kind: &'static str,
}

impl<T> Clone for ConfigPage<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ConfigPage<T> {}

/// The page state hook of the projects, pools and repos pages; `kind` is the test id of the
/// page's toasts.
pub(crate) fn use_config_page<T>(kind: &'static str) -> ConfigPage<T> {
    ConfigPage {
        editor: use_signal(Editor::default),
        removing: use_signal(|| None),
        busy: use_signal(|| false),
        error: use_signal(|| None),
        problem: use_signal(|| None),
        toasts: use_toasts(),
        kind,
    }
}

/// What the confirmation of a removal says.
pub(crate) struct RemovalText {
    /// The dialog's title ("Delete pool").
    pub title: &'static str,
    /// The question, naming the item and what its removal does.
    pub message: String,
    /// The confirming button ("Delete", "Unbind").
    pub confirm_label: &'static str,
}

impl<T: Clone + 'static> ConfigPage<T> {
    /// Opens an empty editor for a new item.
    pub(crate) fn create(mut self) {
        self.editor.set(Editor::New);
    }

    /// A handler that opens the editor on `item`.
    pub(crate) fn edits(mut self, item: T) -> impl FnMut(()) + 'static {
        move |_| self.editor.set(Editor::Editing(item.clone()))
    }

    /// A handler that asks whether to remove `item`.
    pub(crate) fn asks_removal(mut self, item: T) -> impl FnMut(()) + 'static {
        move |_| {
            self.error.set(None);
            self.removing.set(Some(item.clone()));
        }
    }

    /// Whether an editor is shown.
    pub(crate) fn editor_open(&self) -> bool {
        self.editor.read().is_open()
    }

    /// The item being edited (none when the editor is new or closed).
    pub(crate) fn editing(&self) -> Option<T> {
        self.editor.read().editing().cloned()
    }

    /// Closes the editor.
    pub(crate) fn close_editor(mut self) {
        self.editor.set(Editor::Closed);
    }

    /// Closes the editor after a save and tells the operator `message`.
    pub(crate) fn saved(self, message: String) {
        self.close_editor();
        self.tell(message);
    }

    /// Tells the operator `message` (an outcome that went well) in a toast.
    pub(crate) fn tell(mut self, message: String) {
        self.problem.set(None);
        self.toasts.show(self.kind, message);
    }

    /// Tells the operator what failed, above the table until the next outcome.
    pub(crate) fn warn(mut self, message: String) {
        self.problem.set(Some(message));
    }

    /// What failed last, if nothing went well since.
    pub(crate) fn problem(&self) -> Option<String> {
        (self.problem)()
    }

    /// The confirmation of the removal asked about, if any: `text` words it, `remove` runs it
    /// (answering what to tell the operator, or why it failed), and after a removal the
    /// dialog closes, the outcome is told and `reload` runs.
    pub(crate) fn removal_dialog<Fut>(
        mut self,
        text: impl FnOnce(&T) -> RemovalText,
        remove: impl Fn(T) -> Fut + Copy + 'static,
        reload: impl FnMut() + Copy + 'static,
    ) -> Element
    where
        Fut: std::future::Future<Output = Result<String, String>> + 'static,
    {
        let Some(item) = (self.removing)() else { return rsx! {} };
        let RemovalText { title, message, confirm_label } = text(&item);
        rsx! {
            Confirm {
                title,
                message,
                confirm_label,
                busy: (self.busy)(),
                error: (self.error)(),
                on_confirm: move |_| self.confirm_removal(remove, reload),
                on_cancel: move |_| self.removing.set(None),
            }
        }
    }

    fn confirm_removal<Fut>(
        mut self,
        remove: impl FnOnce(T) -> Fut + 'static,
        mut reload: impl FnMut() + 'static,
    ) where
        Fut: std::future::Future<Output = Result<String, String>> + 'static,
    {
        let Some(item) = self.removing.peek().clone() else { return };
        if *self.busy.peek() {
            return;
        }
        self.busy.set(true);
        spawn(async move {
            let result = remove(item).await;
            self.busy.set(false);
            match result {
                Ok(message) => {
                    self.removing.set(None);
                    self.tell(message);
                    reload();
                }
                Err(reason) => self.error.set(Some(reason)),
            }
        });
    }
}

/// Runs a removal mutation and words its outcome: `done` when `removed` finds that the server
/// removed the item, `refused` when it did not, the API's message on an error.
pub(crate) async fn run_removal<D, V>(
    operation: cynic::Operation<D, V>,
    removed: impl FnOnce(&D) -> bool,
    done: String,
    refused: String,
) -> Result<String, String>
where
    D: serde::de::DeserializeOwned,
    V: serde::Serialize,
{
    match api::run(operation).await {
        Ok(data) if removed(&data) => Ok(done),
        Ok(_) => Err(refused),
        Err(ApiError { message, .. }) => Err(message),
    }
}
