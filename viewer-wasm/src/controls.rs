//! The page's controls wired to the app: toolbar, forms, panels, file open and drop, window
//! resize and fragment changes. Each listener is returned to the [`crate::Viewer`], which
//! removes it on drop.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::{DragEvent, EventTarget, File};

use crate::app::App;
use crate::dom::{self, listen, show, Listener};
use crate::keys;
use crate::settings::Scale;
use crate::ui::Tone;

fn open_file(app: &App, file: File) {
    let w = app.weak();
    let name = file.name();
    wasm_bindgen_futures::spawn_local(async move {
        let read = crate::platform::read_file(file).await;
        App::with(&w, |a| match read {
            Ok(bytes) => a.open_session_file(&name, &bytes),
            Err(why) => {
                a.ui.status("error");
                a.ui.notice(
                    Tone::Error,
                    &format!("{name} cannot be used: {why}."),
                    false,
                    true,
                );
            }
        });
    });
}

fn toggle_fullscreen(app: &App) {
    let Some(doc) = dom::document() else { return };
    if doc.fullscreen_element().is_some() {
        doc.exit_fullscreen();
    } else if let Some(root) = doc.document_element() {
        let _ = root.request_fullscreen();
    }
    dom::focus(&app.ui.canvas);
}

/// Wires every control; returns the listeners.
pub fn wire(app: &Rc<RefCell<App>>) -> Vec<Listener> {
    let mut out = Vec::new();
    let w = Rc::downgrade(app);
    let mut on = |target: &EventTarget, kind: &'static str, f: fn(&mut App, web_sys::Event)| {
        let w = w.clone();
        out.extend(listen(target, kind, move |e| App::with(&w, |a| f(a, e))));
    };
    let guard = app.borrow();
    let ui = &guard.ui;
    let click = "click";

    on(&ui.retry, click, |a, _| a.connect());
    on(&ui.choose, click, |a, _| {
        a.settings.target = None;
        crate::platform::replace_fragment("");
        a.show_connect_form();
    });
    on(&ui.connect_form, "submit", |a, e| {
        e.prevent_default();
        let name = a.ui.target_name.value();
        a.choose_target(&name);
    });
    on(&ui.target_name, "input", |a, _| {
        a.ui.target_name.set_custom_validity("");
    });
    on(&ui.target_list, click, |a, e| {
        let chosen = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|el| el.closest("button[data-target]").ok().flatten())
            .and_then(|b| b.get_attribute("data-target"));
        if let Some(name) = chosen {
            a.choose_target(&name);
        }
    });
    on(&ui.session_file, "change", |a, _| {
        let file = a.ui.session_file.files().and_then(|f| f.get(0));
        // Cleared, so choosing the same file again is a change too.
        a.ui.session_file.set_value("");
        if let Some(file) = file {
            open_file(a, file);
        }
    });
    if let Some(doc) = dom::document() {
        let doc: EventTarget = doc.into();
        on(&doc, "dragover", |_, e| {
            e.prevent_default();
            if let Some(body) = dom::document().and_then(|d| d.body()) {
                let _ = body.class_list().add_1("dropping");
            }
        });
        for kind in ["dragleave", "dragend"] {
            on(&doc, kind, |_, _| {
                if let Some(body) = dom::document().and_then(|d| d.body()) {
                    let _ = body.class_list().remove_1("dropping");
                }
            });
        }
        on(&doc, "drop", |a, e| {
            e.prevent_default();
            if let Some(body) = dom::document().and_then(|d| d.body()) {
                let _ = body.class_list().remove_1("dropping");
            }
            let file = e
                .dyn_ref::<DragEvent>()
                .and_then(DragEvent::data_transfer)
                .and_then(|d| d.files())
                .and_then(|f| f.get(0));
            if let Some(file) = file {
                open_file(a, file);
            }
        });
    }
    on(&ui.password_form, "submit", |a, e| {
        e.prevent_default();
        a.submit_password();
    });
    on(&ui.password_cancel, click, |a, _| {
        a.ui.password.set_value("");
        a.disconnect();
    });
    on(&ui.cc_accept, click, |a, _| a.accept_first_use());
    on(&ui.cc_reject, click, |a, _| a.reject_first_use());
    on(&ui.ch_ack, "change", |a, _| {
        let ack = a.ui.ch_ack.checked();
        a.ui.ch_forget.set_disabled(!ack);
    });
    on(&ui.ch_forget, click, |a, _| a.forget_pin());
    on(&ui.tls_badge, click, |a, _| {
        let hidden = a.ui.cert_info.has_attribute("hidden");
        show(&a.ui.cert_info, hidden);
    });
    on(&ui.ci_close, click, |a, _| show(&a.ui.cert_info, false));
    on(&ui.b_clipboard, click, |a, _| {
        let open = a.ui.clipboard_panel.has_attribute("hidden");
        show(&a.ui.clipboard_panel, open);
        a.ui.pressed(&a.ui.b_clipboard, open);
    });
    on(&ui.clipboard_close, click, |a, _| {
        show(&a.ui.clipboard_panel, false);
        a.ui.pressed(&a.ui.b_clipboard, false);
        dom::focus(&a.ui.canvas);
    });
    on(&ui.clipboard_send, click, |a, _| {
        let text = a.ui.clipboard_text.value();
        a.send_clipboard(&text, true);
        dom::focus(&a.ui.canvas);
    });
    on(&ui.clipboard_paste, click, |a, _| a.paste_local_clipboard());
    on(&ui.b_stats, click, |a, _| a.toggle_stats());
    on(&ui.b_fullscreen, click, |a, _| toggle_fullscreen(a));
    on(&ui.b_save, click, |a, _| a.save_session_file());
    on(&ui.b_disconnect, click, |a, _| a.disconnect());
    on(&ui.k_cad, click, |a, _| a.ctrl_alt_del());
    on(&ui.k_esc, click, |a, _| a.tap_key(keys::ESCAPE));
    on(&ui.k_tab, click, |a, _| a.tap_key(keys::TAB));
    on(&ui.k_super, click, |a, _| a.tap_key(keys::SUPER));
    on(&ui.k_ctrl, click, |a, _| a.toggle_sticky(true));
    on(&ui.k_alt, click, |a, _| a.toggle_sticky(false));
    on(&ui.k_osk, click, |a, _| dom::focus(&a.ui.osk));
    on(&ui.scale, "change", |a, _| {
        let scale = Scale::parse(&a.ui.scale.value()).unwrap_or_default();
        a.set_scale(scale);
        dom::focus(&a.ui.canvas);
    });
    if let Some(win) = dom::window() {
        let win: EventTarget = win.into();
        on(&win, "hashchange", |a, _| a.begin());
    }
    drop(guard);
    out
}
