//! What the viewer asks the person during a connection: whether to trust a certificate
//! (first use, a changed one), and a password; and how rfb's errors become what the page says.

use certs::session_file::TargetName;
use certs::Fingerprint;
use rfb::Error as RfbError;

use crate::dom::{self, set_text, show};
use crate::platform;
use crate::trust::{self, Source, Verdict};
use crate::ui::{Panel, Tone};

use super::{capitalise, App};

impl App {
    pub(super) fn on_certificate(&mut self, chain: &[Vec<u8>], presented: Fingerprint) {
        let Some(s) = &self.session else { return };
        let source = s.plan.source;
        if source == Source::AskFirst {
            // Not trusted yet: rfb waits for the person ([`App::ask_first_use`] next).
            self.first_use = Some((presented, chain.to_vec()));
            return;
        }
        if let Some(pin) = s.plan.also_pin {
            if pin != presented {
                let (hex, words) = trust::describe(&presented);
                self.fail(&format!(
                    "The VNC server's certificate was issued by the link's CA but is not the one the link pins.\nPresented: {words}\n{hex}\nAsk for a new link."
                ));
                return;
            }
        }
        if let (Source::Confirmed(fp), Some(target)) = (source, &self.settings.target) {
            if fp == presented {
                let key = trust::storage_key(&self.origin, target.as_str());
                platform::store(&key, &fp.to_hex());
            }
        }
        let words = presented.catchphrase().to_string();
        let hex = trust::hex_lines(&presented, 8);
        let mut rows = Vec::new();
        if let Some(t) = &self.settings.target {
            rows.push(("Desktop", t.as_str().to_owned()));
        }
        if let Some(info) = chain
            .first()
            .and_then(|der| certs::inspect::CertInfo::parse("server certificate", der).ok())
        {
            rows.push(("Subject", info.subject.clone()));
            rows.push(("Issuer", info.issuer.clone()));
            rows.push(("Valid until", platform::date_text(info.not_after)));
        }
        rows.push(("Catchphrase", words));
        rows.push(("SHA-256", hex));
        let why = match source {
            Source::LinkCa => self
                .link_ca_text()
                .unwrap_or_else(|| "Issued by the CA in the link.".to_owned()),
            Source::LinkPin => "The link pins this exact certificate.".to_owned(),
            Source::Remembered(_) => {
                "Remembered by this browser when you first confirmed it.".to_owned()
            }
            Source::Confirmed(_) => {
                "You confirmed it just now; this browser remembers it.".to_owned()
            }
            Source::AskFirst => String::new(),
        };
        rows.push(("Trusted because", why));
        self.ui.details(&self.ui.cert_details, &rows);
        show(&self.ui.tls_badge, true);
    }

    pub(super) fn ask_password(&mut self, username: bool) {
        self.ui.status("password");
        show(&self.ui.username_row, username);
        let target = self.settings.target.as_ref().map_or("", TargetName::as_str);
        set_text(
            &self.ui.password_why,
            &if username {
                format!("The VNC server of {target} asks for a user name and password.")
            } else {
                format!("The VNC server of {target} asks for its password.")
            },
        );
        self.ui.password.set_value("");
        self.ui.panel(Panel::Password);
        if username && self.ui.username.value().is_empty() {
            dom::focus(&self.ui.username);
        } else {
            dom::focus(&self.ui.password);
        }
    }

    /// The password form was submitted.
    pub fn submit_password(&mut self) {
        let user = self.ui.username.value();
        let password = rfb::Password::new(self.ui.password.value());
        self.ui.password.set_value("");
        let needs_user = !self.ui.username_row.has_attribute("hidden");
        let Some(s) = &mut self.session else { return };
        s.tick();
        let result = s
            .client
            .provide_credentials(needs_user.then_some(user), password);
        self.ui.status("connecting");
        self.ui
            .notice(Tone::Info, "Checking the password…", false, false);
        self.drain_events();
        if let Err(e) = result {
            self.on_rfb_error(&e);
        }
    }

    pub(super) fn on_rfb_error(&mut self, e: &RfbError) {
        let Some(s) = &mut self.session else { return };
        s.ended = true;
        s.close();
        let source = s.plan.source;
        self.stop_session_timers();
        match trust::verdict(e, source) {
            Verdict::Changed {
                remembered,
                presented,
            } => {
                let (old_hex, old_words) = trust::describe(&remembered);
                let (new_hex, new_words) = trust::describe(&presented);
                set_text(&self.ui.ch_target, &self.target_name());
                set_text(&self.ui.ch_old_words, &old_words);
                set_text(&self.ui.ch_old_fp, &old_hex);
                set_text(&self.ui.ch_new_words, &new_words);
                set_text(&self.ui.ch_new_fp, &new_hex);
                self.ui.ch_ack.set_checked(false);
                self.ui.ch_forget.set_disabled(true);
                self.ui.status("error");
                self.ui.panel(Panel::CertChanged);
            }
            Verdict::Fail => {
                let mut text = capitalise(&e.to_string());
                text.push('.');
                if let RfbError::CertificateRejected { sha256, .. } = e {
                    let (hex, words) = trust::describe(&Fingerprint(*sha256));
                    text.push_str(&format!(
                        "\nThe server presented the certificate “{words}” ({hex})."
                    ));
                }
                self.fail(&text);
            }
        }
    }

    pub(super) fn target_name(&self) -> String {
        self.settings
            .target
            .as_ref()
            .map_or("", TargetName::as_str)
            .to_owned()
    }

    /// The server presented a certificate nothing vouches for, and the session waits: show it
    /// to the person (`Event::CertificateDecision`).
    pub(super) fn ask_first_use(&mut self, presented: Fingerprint) {
        if self.first_use.as_ref().map(|(fp, _)| *fp) != Some(presented) {
            return self.fail(
                "The server's certificate could not be shown for confirmation. Connect again.",
            );
        }
        let (hex, words) = trust::describe(&presented);
        let target = self.target_name();
        set_text(&self.ui.cc_target, &target);
        set_text(&self.ui.cc_words, &words);
        set_text(&self.ui.cc_fp, &hex);
        self.ui.status("confirm");
        self.ui.panel(Panel::CertConfirm);
    }

    /// The person confirmed the certificate: remembered for this desktop, and the waiting
    /// session goes on.
    pub fn accept_first_use(&mut self) {
        let Some((fp, chain)) = self.first_use.take() else {
            return;
        };
        self.confirmed = Some(fp);
        let Some(s) = &mut self.session else { return };
        s.plan.source = Source::Confirmed(fp);
        // Shown and remembered as a confirmed certificate.
        self.on_certificate(&chain, fp);
        self.ui.panel(Panel::None);
        self.ui.status("connecting");
        let Some(s) = &mut self.session else { return };
        let result = s.client.trust_certificate(&fp.0);
        self.drain_events();
        if let Err(e) = result {
            self.on_rfb_error(&e);
        }
    }

    pub fn reject_first_use(&mut self) {
        self.first_use = None;
        if let Some(s) = &mut self.session {
            s.client.refuse_certificate();
            s.flush();
            s.ended = true;
            s.close();
        }
        self.session = None;
        self.ui.status("closed");
        self.ui.notice(
            Tone::Info,
            "Not connected: the certificate was not confirmed.",
            true,
            true,
        );
    }

    /// The person deliberately forgot a changed certificate: start over with first use.
    pub fn forget_pin(&mut self) {
        if !self.ui.ch_ack.checked() {
            return;
        }
        let key = trust::storage_key(&self.origin, &self.target_name());
        platform::remove(&key);
        self.confirmed = None;
        self.connect();
    }

    pub(super) fn remembered_pin(&self, target: &str) -> Option<Fingerprint> {
        platform::load(&trust::storage_key(&self.origin, target))?
            .parse()
            .ok()
    }
}
