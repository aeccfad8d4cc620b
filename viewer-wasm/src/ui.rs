//! The page's elements (static markup in `web/index.html`, looked up once by id) and the small
//! operations the viewer performs on them: the status badge, the notice, which panel shows.

use wasm_bindgen::JsValue;
use web_sys::{
    Element, HtmlButtonElement, HtmlCanvasElement, HtmlElement, HtmlFormElement, HtmlInputElement,
    HtmlSelectElement, HtmlTextAreaElement,
};

use crate::dom::{by_id, set_text, show};

/// The centre panels; at most one shows at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    None,
    Notice,
    Connect,
    Password,
    CertConfirm,
    CertChanged,
}

/// Whether a notice reports a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Info,
    Error,
}

macro_rules! elements {
    ($($field:ident: $ty:ty = $id:literal,)*) => {
        /// Every element the viewer touches.
        pub struct Ui {
            $(pub $field: $ty,)*
        }

        impl Ui {
            /// Looks every element up; fails naming the first one missing.
            pub fn find() -> Result<Self, JsValue> {
                Ok(Self {
                    $($field: by_id($id)?,)*
                })
            }
        }
    };
}

elements! {
    status: HtmlElement = "status",
    title: HtmlElement = "title",
    tls_badge: HtmlButtonElement = "b-tls",
    tools: HtmlElement = "tools",
    keys: HtmlElement = "keys",
    warnings: HtmlElement = "warnings",
    stage: HtmlElement = "stage",
    canvas: HtmlCanvasElement = "screen",
    osk: HtmlTextAreaElement = "osk",
    notice: HtmlElement = "notice",
    message: HtmlElement = "message",
    retry: HtmlButtonElement = "b-retry",
    choose: HtmlButtonElement = "b-choose",
    connect_form: HtmlFormElement = "connect-form",
    target_list: HtmlElement = "target-list",
    target_entry: HtmlElement = "target-entry",
    target_name: HtmlInputElement = "target-name",
    session_file: HtmlInputElement = "session-file",
    password_form: HtmlFormElement = "password-form",
    password_why: HtmlElement = "password-why",
    username_row: HtmlElement = "username-row",
    username: HtmlInputElement = "username",
    password: HtmlInputElement = "password",
    password_cancel: HtmlButtonElement = "password-cancel",
    cert_confirm: HtmlElement = "cert-confirm",
    cc_target: HtmlElement = "cc-target",
    cc_words: HtmlElement = "cc-words",
    cc_fp: HtmlElement = "cc-fp",
    cc_accept: HtmlButtonElement = "cc-accept",
    cc_reject: HtmlButtonElement = "cc-reject",
    cert_changed: HtmlElement = "cert-changed",
    ch_target: HtmlElement = "ch-target",
    ch_old_words: HtmlElement = "ch-old-words",
    ch_old_fp: HtmlElement = "ch-old-fp",
    ch_new_words: HtmlElement = "ch-new-words",
    ch_new_fp: HtmlElement = "ch-new-fp",
    ch_ack: HtmlInputElement = "ch-ack",
    ch_forget: HtmlButtonElement = "ch-forget",
    cert_info: HtmlElement = "cert-info",
    cert_details: HtmlElement = "cert-details",
    ci_close: HtmlButtonElement = "ci-close",
    clipboard_panel: HtmlElement = "clipboard-panel",
    clipboard_text: HtmlTextAreaElement = "clipboard-text",
    clipboard_send: HtmlButtonElement = "clipboard-send",
    clipboard_paste: HtmlButtonElement = "clipboard-paste",
    clipboard_close: HtmlButtonElement = "clipboard-close",
    stats: HtmlElement = "stats",
    k_cad: HtmlButtonElement = "k-cad",
    k_esc: HtmlButtonElement = "k-esc",
    k_tab: HtmlButtonElement = "k-tab",
    k_super: HtmlButtonElement = "k-super",
    k_ctrl: HtmlButtonElement = "k-ctrl",
    k_alt: HtmlButtonElement = "k-alt",
    k_osk: HtmlButtonElement = "k-osk",
    scale: HtmlSelectElement = "scale",
    b_clipboard: HtmlButtonElement = "b-clipboard",
    b_stats: HtmlButtonElement = "b-stats",
    b_fullscreen: HtmlButtonElement = "b-fullscreen",
    b_save: HtmlButtonElement = "b-save",
    b_disconnect: HtmlButtonElement = "b-disconnect",
}

impl Ui {
    /// Sets the status badge: `state` is its `data-state` (tests and styles read it).
    pub fn status(&self, state: &str) {
        let label = match state {
            "idle" => "Not connected",
            "connecting" => "Connecting",
            "password" => "Password needed",
            "confirm" => "Check certificate",
            "connected" => "Connected",
            "reconnecting" => "Reconnecting",
            "closed" => "Disconnected",
            "error" => "Error",
            other => other,
        };
        let _ = self.status.set_attribute("data-state", state);
        set_text(&self.status, label);
    }

    /// Shows one centre panel and hides the others.
    pub fn panel(&self, which: Panel) {
        let panels: [(&Element, Panel); 5] = [
            (&self.notice, Panel::Notice),
            (&self.connect_form, Panel::Connect),
            (&self.password_form, Panel::Password),
            (&self.cert_confirm, Panel::CertConfirm),
            (&self.cert_changed, Panel::CertChanged),
        ];
        for (el, p) in panels {
            show(el, p == which);
        }
    }

    /// Shows `text` in the notice; `retry` offers "Connect again", `choose` the connect form.
    pub fn notice(&self, tone: Tone, text: &str, retry: bool, choose: bool) {
        set_text(&self.message, text);
        let kind = match tone {
            Tone::Info => "info",
            Tone::Error => "error",
        };
        let _ = self.notice.set_attribute("data-kind", kind);
        show(&self.retry, retry);
        show(&self.choose, choose);
        self.panel(Panel::Notice);
    }

    /// Shows warnings above the desktop (none: hides the bar).
    pub fn warnings(&self, lines: &[String]) {
        set_text(&self.warnings, &lines.join("\n"));
        show(&self.warnings, !lines.is_empty());
    }

    /// The desktop's name in the bar and the tab.
    pub fn desktop_name(&self, name: &str) {
        set_text(&self.title, name);
        if let Some(d) = crate::dom::document() {
            d.set_title(&if name.is_empty() {
                "vncgate".to_owned()
            } else {
                format!("{name} — vncgate")
            });
        }
    }

    /// Fills a definition list with (term, value) rows.
    pub fn details(&self, list: &Element, rows: &[(&str, String)]) {
        list.set_inner_html("");
        let Some(doc) = crate::dom::document() else {
            return;
        };
        for (term, value) in rows {
            if let (Ok(dt), Ok(dd)) = (doc.create_element("dt"), doc.create_element("dd")) {
                set_text(&dt, term);
                set_text(&dd, value);
                if term.starts_with("SHA-256") {
                    let _ = dd.set_attribute("class", "fp");
                }
                let _ = list.append_child(&dt);
                let _ = list.append_child(&dd);
            }
        }
    }

    pub fn pressed(&self, button: &HtmlButtonElement, on: bool) {
        let _ = button.set_attribute("aria-pressed", if on { "true" } else { "false" });
    }
}
