//! The stats overlay (round trips by fence, rates per second) and the clipboard in both
//! directions.

use crate::dom::{self, set_text, show};
use crate::platform;

use super::App;

impl App {
    // ---- stats ----

    pub fn toggle_stats(&mut self) {
        self.stats_on = !self.stats_on;
        self.ui.pressed(&self.ui.b_stats, self.stats_on);
        show(&self.ui.stats, self.stats_on);
        if self.stats_on {
            set_text(&self.ui.stats, "measuring…");
            self.stats.sample(dom::now_ms());
            self.ping();
        }
    }

    pub(super) fn ping(&mut self) {
        if let Some(s) = self.session.as_mut().filter(|s| s.connected) {
            s.tick();
            if s.client.ping() {
                s.flush();
            }
        }
    }

    pub(super) fn on_tick(&mut self) {
        self.ticks = self.ticks.wrapping_add(1);
        if !self.stats_on {
            return;
        }
        if let Some(summary) = self.stats.sample(dom::now_ms()) {
            set_text(&self.ui.stats, &summary.to_string());
        }
        if self.ticks % 2 == 0 {
            self.ping();
        }
    }

    // ---- clipboard ----

    pub(super) fn server_clipboard(&mut self, text: String) {
        self.ui.clipboard_text.set_value(&text);
        platform::write_clipboard(&text);
        self.last_clipboard = Some(text);
    }

    /// Puts `text` on the server's clipboard (not in view-only mode). `force`: even if it is
    /// what was last exchanged.
    pub fn send_clipboard(&mut self, text: &str, force: bool) {
        if self.settings.view_only || (!force && self.last_clipboard.as_deref() == Some(text)) {
            return;
        }
        let Some(s) = self.session.as_mut().filter(|s| s.connected) else {
            return;
        };
        s.tick();
        s.client.cut_text(text);
        s.flush();
        self.ui.clipboard_text.set_value(text);
        self.last_clipboard = Some(text.to_owned());
    }

    /// "Paste from this computer": reads the local clipboard (the browser may ask once) and
    /// sends it.
    pub fn paste_local_clipboard(&mut self) {
        let w = self.me.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let text = platform::read_clipboard(true).await;
            App::with(&w, |a| {
                match text {
                Some(t) => a.send_clipboard(&t, true),
                None => a.ui.clipboard_text.set_placeholder(
                    "This browser did not allow reading the clipboard. Paste here (Ctrl+V) and press Send.",
                ),
            }
            });
        });
    }

    /// The canvas got focus: where the browser allows reading the clipboard without a
    /// gesture (Chromium, once permitted), bring the local clipboard over.
    pub fn sync_clipboard_on_focus(&mut self) {
        if self.settings.view_only || !self.session.as_ref().is_some_and(|s| s.connected) {
            return;
        }
        let w = self.me.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Some(text) = platform::read_clipboard(false).await {
                App::with(&w, |a| a.send_clipboard(&text, false));
            }
        });
    }
}
