//! The connect form: the target list from the gateway, choosing a target, and opening or
//! saving a session file.

use certs::session_file::TargetName;

use crate::dom::{self, set_text, show};
use crate::platform;
use crate::settings::Settings;
use crate::ui::{Panel, Tone};

use super::App;

impl App {
    pub fn show_connect_form(&mut self) {
        self.session = None;
        self.retry_timer = None;
        self.stop_session_timers();
        show(&self.ui.tools, false);
        show(&self.ui.tls_badge, false);
        self.ui.status("idle");
        self.ui.desktop_name("");
        self.ui.panel(Panel::Connect);
        let w = self.me.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let targets = platform::fetch_targets().await;
            App::with(&w, |a| a.show_targets(targets));
        });
    }

    pub(super) fn show_targets(&mut self, targets: Option<Vec<String>>) {
        let list = &self.ui.target_list;
        list.set_inner_html("");
        let targets = targets.unwrap_or_default();
        if let Some(doc) = dom::document() {
            for t in &targets {
                if let Ok(b) = doc.create_element("button") {
                    let _ = b.set_attribute("type", "button");
                    let _ = b.set_attribute("role", "listitem");
                    let _ = b.set_attribute("data-target", t);
                    set_text(&b, t);
                    let _ = list.append_child(&b);
                }
            }
        }
        // Without a list (no endpoint, or it failed) the name is typed.
        show(&self.ui.target_entry, targets.is_empty());
        if targets.is_empty() && !self.ui.connect_form.has_attribute("hidden") {
            dom::focus(&self.ui.target_name);
        }
    }

    /// A desktop was chosen in the connect form.
    pub fn choose_target(&mut self, name: &str) {
        match TargetName::parse(name.trim()) {
            Ok(t) => {
                self.settings.target = Some(t);
                self.settings.otk = None;
                platform::replace_fragment(&self.settings.to_fragment());
                self.use_settings();
            }
            Err(expected) => {
                self.ui
                    .target_name
                    .set_custom_validity(&format!("A desktop name is {expected}."));
                self.ui.target_name.report_validity();
            }
        }
    }

    pub fn open_session_file(&mut self, name: &str, bytes: &[u8]) {
        match Settings::from_session_file(bytes) {
            Err(e) => {
                self.ui.status("error");
                self.ui.notice(
                    Tone::Error,
                    &format!("{name} cannot be used: {e}."),
                    false,
                    true,
                );
            }
            Ok(p) => {
                if let Some(g) = &p.settings.gateway {
                    if !crate::settings::same_gateway(g.as_str(), &self.origin) {
                        self.ui.status("error");
                        self.ui.notice(
                            Tone::Error,
                            &format!(
                                "{name} is for the gateway {}, not this one ({}). Open {} in the browser and open the file there.",
                                g.as_str(),
                                self.origin,
                                g.as_str()
                            ),
                            false,
                            true,
                        );
                        return;
                    }
                }
                self.warnings = p.warnings;
                self.settings = p.settings;
                platform::replace_fragment(&self.settings.to_fragment());
                self.use_settings();
            }
        }
    }

    /// Downloads a session file for the current settings.
    pub fn save_session_file(&mut self) {
        let gateway = format!("{}/", self.origin);
        if let Some(text) = self.settings.to_session_file(&gateway) {
            let name = format!("{}.vncgate", self.target_name());
            platform::download(&name, &text);
        }
    }
}
