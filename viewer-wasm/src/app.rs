//! The page controller: from settings to a session and back — the connect form, the session's
//! events shown in the page, trust on first use, reconnecting with backoff — and [`Viewer`],
//! the handle JavaScript holds.
//!
//! Ownership: [`Viewer`] owns the one `Rc<RefCell<App>>` and every page listener; callbacks
//! hold `Weak` references and go through [`App::with`], which does nothing after a panic, after
//! the viewer was dropped, or while the state is busy (a DOM call that dispatches an event
//! synchronously, such as `focus()`, re-enters only as a no-op).

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use certs::session_file::TargetName;
use certs::Fingerprint;
use rfb::messages::encoding::Encoding;
use rfb::{ClientConfig, Error as RfbError, Event as RfbEvent};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::dom::{self, poisoned, set_text, show, Listener, Timer};
use crate::input::InputState;
use crate::layout::{self, layout};
use crate::painter::Painter;
use crate::session::{ws_url, Session};
use crate::settings::{Scale, Settings};
use crate::stats::Stats;
use crate::trust::{self, Source, Verdict};
use crate::ui::{Panel, Tone, Ui};
use crate::{platform, status};

/// Remote-resize bookkeeping.
#[derive(Debug, Default)]
struct RemoteResize {
    /// Ask at the next opportunity (after an update shows whether the server can).
    pending: bool,
    /// The size last asked for.
    requested: Option<(u16, u16)>,
    /// The server showed it cannot resize.
    unsupported: bool,
}

pub struct App {
    me: Weak<RefCell<App>>,
    pub ui: Ui,
    pub painter: Painter,
    /// The page's origin (`https://host:port`), the gateway's identity for remembered pins.
    origin: String,
    pub settings: Settings,
    pub session: Option<Session>,
    generation: u32,
    /// Warnings about the settings' source (unknown keys), shown while they apply.
    warnings: Vec<String>,
    // Trust on first use.
    confirmed: Option<Fingerprint>,
    probing: bool,
    first_use: Option<Fingerprint>,
    // Reconnecting.
    attempt: u32,
    retry_timer: Option<Timer>,
    // Timers of the live session and the view.
    tick_timer: Option<Timer>,
    ticks: u32,
    bell_timer: Option<Timer>,
    resize_timer: Option<Timer>,
    pub long_press_timer: Option<Timer>,
    // Painting: at most one animation frame in flight.
    frame: Weak<Closure<dyn FnMut()>>,
    frame_id: Option<i32>,
    remote: RemoteResize,
    stats: Stats,
    stats_on: bool,
    pub input: InputState,
    /// The clipboard text last exchanged with the server (not sent back to it).
    pub last_clipboard: Option<String>,
}

/// The JavaScript-facing handle: keep it alive as long as the page shows the viewer; dropping
/// it closes the session and removes every listener and timer.
#[wasm_bindgen]
pub struct Viewer {
    app: Rc<RefCell<App>>,
    _listeners: Vec<Listener>,
    _resize: Option<dom::ResizeWatch>,
    _frame: Rc<Closure<dyn FnMut()>>,
}

#[wasm_bindgen]
impl Viewer {
    /// Closes the session (no reconnect).
    pub fn disconnect(&self) {
        if let Ok(mut a) = self.app.try_borrow_mut() {
            a.disconnect();
        }
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        if let Ok(mut a) = self.app.try_borrow_mut() {
            a.shut_down();
        }
    }
}

/// Starts the viewer on this page: reads the URL fragment and connects, or shows the connect
/// form when the fragment names no desktop.
#[wasm_bindgen]
pub fn start() -> Result<Viewer, JsError> {
    dom::install_panic_hook();
    let js = |e: JsValue| JsError::new(&e.as_string().unwrap_or_else(|| format!("{e:?}")));
    let ui = Ui::find().map_err(js)?;
    let painter = Painter::new(ui.canvas.clone()).map_err(js)?;
    let origin = dom::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    let app = Rc::new_cyclic(|me| {
        RefCell::new(App {
            me: me.clone(),
            ui,
            painter,
            origin,
            settings: Settings::default(),
            session: None,
            generation: 0,
            warnings: Vec::new(),
            confirmed: None,
            probing: false,
            first_use: None,
            attempt: 0,
            retry_timer: None,
            tick_timer: None,
            ticks: 0,
            bell_timer: None,
            resize_timer: None,
            long_press_timer: None,
            frame: Weak::new(),
            frame_id: None,
            remote: RemoteResize::default(),
            stats: Stats::default(),
            stats_on: false,
            input: InputState::default(),
            last_clipboard: None,
        })
    });
    let w = Rc::downgrade(&app);
    let frame = Rc::new(Closure::<dyn FnMut()>::new(move || {
        App::with(&w, App::on_frame);
    }));
    app.borrow_mut().frame = Rc::downgrade(&frame);
    let mut listeners = crate::input::wire(&app);
    listeners.extend(crate::controls::wire(&app));
    // The stage changes size with the window, the toolbar's wrapping, the warnings bar and
    // full screen: every change lays the canvas out again.
    let w = Rc::downgrade(&app);
    let stage = app.borrow().ui.stage.clone();
    let resize = dom::ResizeWatch::new(&stage, move || App::with(&w, App::stage_resized));
    app.borrow_mut().begin();
    Ok(Viewer {
        app,
        _listeners: listeners,
        _resize: resize,
        _frame: frame,
    })
}

impl App {
    /// Runs `f` on the app if it is alive, not poisoned and not already borrowed.
    pub fn with(weak: &Weak<RefCell<App>>, f: impl FnOnce(&mut App)) {
        if poisoned() {
            return;
        }
        let Some(rc) = weak.upgrade() else { return };
        let Ok(mut app) = rc.try_borrow_mut() else {
            return;
        };
        f(&mut app);
    }

    pub fn weak(&self) -> Weak<RefCell<App>> {
        self.me.clone()
    }

    /// Reads the fragment and connects, or shows the connect form.
    pub fn begin(&mut self) {
        self.session = None;
        self.retry_timer = None;
        let hash = dom::window()
            .and_then(|w| w.location().hash().ok())
            .unwrap_or_default();
        match Settings::from_fragment(&hash) {
            Err(e) => {
                self.settings = Settings::default();
                self.ui.warnings(&[]);
                self.ui.status("error");
                self.ui.notice(
                    Tone::Error,
                    &format!("This link cannot be used: {e}.\nFix the link, or choose a desktop."),
                    false,
                    true,
                );
            }
            Ok(p) => {
                if p.settings.otk.is_some() {
                    // The key is kept in memory only: out of the address bar, history and
                    // bookmarks (it admits one session, and a reload could not reuse it).
                    platform::replace_fragment(&p.settings.to_fragment());
                }
                self.warnings = p.warnings;
                let has_target = p.settings.target.is_some();
                self.settings = p.settings;
                if has_target {
                    self.use_settings();
                } else {
                    self.ui.warnings(&self.warnings);
                    self.show_connect_form();
                }
            }
        }
    }

    /// Connects with `self.settings` from a fresh start (new trust state, no retries yet).
    pub fn use_settings(&mut self) {
        self.confirmed = None;
        self.probing = false;
        self.attempt = 0;
        self.ui.warnings(&self.warnings);
        self.ui.scale.set_value(self.settings.scale.as_str());
        show(&self.ui.keys, !self.settings.view_only);
        self.connect();
    }

    /// A description of the CA the link trusts, so the person sees what they trust.
    fn link_ca_text(&self) -> Option<String> {
        let der = self.settings.ca.as_ref()?;
        Some(match certs::inspect::CertInfo::parse("CA data", der) {
            Ok(info) => format!(
                "The link trusts the certificate authority “{}” (catchphrase: {}).",
                info.subject,
                info.catchphrase()
            ),
            Err(_) => {
                let fp = Fingerprint::of_der(der);
                format!("The link trusts the CA with fingerprint {fp}.")
            }
        })
    }

    /// Opens a new session with the current settings and trust state.
    pub fn connect(&mut self) {
        self.retry_timer = None;
        self.session = None;
        self.stop_session_timers();
        let Some(target) = self.settings.target.clone() else {
            self.show_connect_form();
            return;
        };
        let remembered = self.remembered_pin(target.as_str());
        let plan = trust::plan(&self.settings, self.confirmed, remembered, self.probing);
        let mut encodings = ClientConfig::default().encodings;
        for e in &mut encodings {
            match e {
                Encoding::QualityLevel(q) => *q = self.settings.quality,
                Encoding::CompressLevel(c) => *c = self.settings.compression,
                _ => {}
            }
        }
        let config = ClientConfig {
            shared: self.settings.shared,
            tls_trust: plan.trust.clone(),
            prompt_for_credentials: true,
            encodings,
            ..ClientConfig::default()
        };
        let otk = self.settings.otk.as_ref().map(|k| k.expose().to_owned());
        self.generation = self.generation.wrapping_add(1);
        let opened = ws_url(target.as_str(), otk.as_deref())
            .and_then(|url| Session::open(&url, config, plan, self.generation, self.me.clone()));
        match opened {
            Ok(s) => self.session = Some(s),
            Err(_) => {
                self.ui.status("error");
                self.ui.notice(
                    Tone::Error,
                    "This browser could not open a WebSocket to the gateway.",
                    true,
                    false,
                );
                return;
            }
        }
        let mut text = format!("Connecting to {}…", target.as_str());
        if self.probing {
            text.push_str("\nThe desktop uses a certificate this browser does not know yet; fetching it to show you.");
        }
        if let Some(ca) = self.link_ca_text() {
            text.push('\n');
            text.push_str(&ca);
        }
        self.ui.status("connecting");
        self.ui.notice(Tone::Info, &text, false, false);
    }

    pub fn disconnect(&mut self) {
        self.retry_timer = None;
        match &mut self.session {
            Some(s) if !s.ended => {
                s.user_closed = true;
                s.close();
            }
            _ => {
                self.session = None;
                self.ui.status("closed");
                self.ui.notice(
                    Tone::Info,
                    "Disconnected.",
                    self.settings.target.is_some(),
                    true,
                );
            }
        }
    }

    fn shut_down(&mut self) {
        self.session = None;
        self.retry_timer = None;
        self.stop_session_timers();
        self.long_press_timer = None;
        self.resize_timer = None;
        if let (Some(id), Some(w)) = (self.frame_id.take(), dom::window()) {
            let _ = w.cancel_animation_frame(id);
        }
    }

    fn stop_session_timers(&mut self) {
        self.tick_timer = None;
        self.bell_timer = None;
    }

    fn current(&mut self, generation: u32) -> Option<&mut Session> {
        self.session.as_mut().filter(|s| s.generation == generation)
    }

    pub fn on_open(&mut self, generation: u32) {
        let Some(s) = self.current(generation) else {
            return;
        };
        s.tick();
        let target = self
            .settings
            .target
            .as_ref()
            .map_or("", TargetName::as_str)
            .to_owned();
        if !self.probing {
            self.ui.notice(
                Tone::Info,
                &format!("Reached the gateway; starting the VNC session with {target}…"),
                false,
                false,
            );
        }
    }

    pub fn on_bytes(&mut self, generation: u32, bytes: &[u8]) {
        // After an error was shown, bytes still in flight must not replace it.
        let Some(s) = self.current(generation).filter(|s| !s.ended) else {
            return;
        };
        let t0 = dom::now_ms();
        s.tick();
        let result = s.client.receive(bytes);
        s.flush();
        let mut events = Vec::new();
        while let Some(e) = s.client.poll_event() {
            events.push(e);
        }
        self.stats.received(bytes.len(), dom::now_ms() - t0);
        for e in events {
            self.on_event(e);
        }
        if let Err(e) = result {
            self.on_rfb_error(&e);
        }
    }

    /// Drains events queued by a command (credentials can complete the handshake).
    pub fn drain_events(&mut self) {
        let mut events = Vec::new();
        if let Some(s) = &mut self.session {
            s.flush();
            while let Some(e) = s.client.poll_event() {
                events.push(e);
            }
        }
        for e in events {
            self.on_event(e);
        }
    }

    fn on_event(&mut self, event: RfbEvent) {
        match event {
            RfbEvent::Connected {
                width,
                height,
                name,
            } => self.on_connected(width, height, &name),
            RfbEvent::Resized { width, height } => {
                self.painter.resize(width, height);
                self.relayout();
            }
            RfbEvent::UpdateComplete => {
                self.stats.frame();
                self.request_frame();
                if self.remote.pending {
                    self.request_remote_size(true);
                }
            }
            RfbEvent::Bell => self.bell(),
            RfbEvent::ServerCutText(text) => self.server_clipboard(text),
            RfbEvent::CursorShape {
                width,
                height,
                hotspot_x,
                hotspot_y,
                rgba,
            } => self
                .painter
                .set_cursor(width, height, hotspot_x, hotspot_y, &rgba),
            RfbEvent::DesktopName(name) => self.ui.desktop_name(&name),
            RfbEvent::RoundTrip { millis } => self
                .stats
                .round_trip(u32::try_from(millis).unwrap_or(u32::MAX)),
            RfbEvent::ServerCertificate { chain, sha256 } => {
                self.on_certificate(&chain, Fingerprint(sha256));
            }
            RfbEvent::CredentialsRequired { username } => self.ask_password(username),
        }
    }

    fn on_connected(&mut self, width: u16, height: u16, name: &str) {
        let Some(s) = &mut self.session else { return };
        s.connected = true;
        self.attempt = 0;
        self.painter.resize(width, height);
        self.ui.status("connected");
        self.ui.desktop_name(name);
        self.ui.panel(Panel::None);
        show(&self.ui.tools, true);
        show(&self.ui.keys, !self.settings.view_only);
        self.remote = RemoteResize {
            pending: self.settings.scale == Scale::Remote,
            ..RemoteResize::default()
        };
        self.relayout();
        let w = self.me.clone();
        self.tick_timer = Timer::every(1000, move || App::with(&w, App::on_tick));
        dom::focus(&self.ui.canvas);
    }

    fn on_certificate(&mut self, chain: &[Vec<u8>], presented: Fingerprint) {
        let Some(s) = &self.session else { return };
        let source = s.plan.source;
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
            Source::Probe | Source::Nothing => String::new(),
        };
        rows.push(("Trusted because", why));
        self.ui.details(&self.ui.cert_details, &rows);
        show(&self.ui.tls_badge, true);
    }

    fn ask_password(&mut self, username: bool) {
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

    /// Shows an error that ends the session (no retry) and closes the socket.
    fn fail(&mut self, text: &str) {
        if let Some(s) = &mut self.session {
            s.ended = true;
            s.close();
        }
        self.stop_session_timers();
        self.ui.status("error");
        self.ui.notice(Tone::Error, text, true, false);
    }

    fn on_rfb_error(&mut self, e: &RfbError) {
        let Some(s) = &mut self.session else { return };
        s.ended = true;
        s.close();
        let source = s.plan.source;
        self.stop_session_timers();
        match trust::verdict(e, source) {
            Verdict::Probe => {
                self.probing = true;
                self.connect();
            }
            Verdict::FirstUse(fp) => {
                self.probing = false;
                self.first_use = Some(fp);
                let (hex, words) = trust::describe(&fp);
                let target = self.target_name();
                set_text(&self.ui.cc_target, &target);
                set_text(&self.ui.cc_words, &words);
                set_text(&self.ui.cc_fp, &hex);
                self.ui.status("confirm");
                self.ui.panel(Panel::CertConfirm);
            }
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

    fn target_name(&self) -> String {
        self.settings
            .target
            .as_ref()
            .map_or("", TargetName::as_str)
            .to_owned()
    }

    /// The person confirmed the certificate shown after a probe.
    pub fn accept_first_use(&mut self) {
        if let Some(fp) = self.first_use.take() {
            self.confirmed = Some(fp);
            self.probing = false;
            self.connect();
        }
    }

    pub fn reject_first_use(&mut self) {
        self.first_use = None;
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
        self.probing = true;
        self.connect();
    }

    fn remembered_pin(&self, target: &str) -> Option<Fingerprint> {
        platform::load(&trust::storage_key(&self.origin, target))?
            .parse()
            .ok()
    }

    pub fn on_close(&mut self, generation: u32, code: u16, reason: &str) {
        let Some(s) = self.current(generation) else {
            return;
        };
        if s.ended {
            return;
        }
        s.ended = true;
        let (was_connected, user_closed) = (s.connected, s.user_closed);
        self.stop_session_timers();
        if user_closed {
            self.ui.status("closed");
            self.ui.notice(Tone::Info, "Disconnected.", true, true);
            return;
        }
        let text = status::close_message(code, reason, was_connected);
        if status::should_retry(code, self.settings.reconnect, was_connected) {
            self.schedule_retry(&text);
        } else {
            self.ui
                .status(if code == 1000 { "closed" } else { "error" });
            let tone = if code == 1000 {
                Tone::Info
            } else {
                Tone::Error
            };
            self.ui.notice(tone, &text, true, !was_connected);
        }
    }

    fn schedule_retry(&mut self, why: &str) {
        let delay = status::reconnect_delay_ms(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        self.ui.status("reconnecting");
        self.ui.notice(
            Tone::Error,
            &format!(
                "{why}\nReconnecting in {} s (attempt {})…",
                delay / 1000,
                self.attempt
            ),
            false,
            false,
        );
        show(&self.ui.retry, true);
        let w = self.me.clone();
        self.retry_timer = Timer::once(delay, move || App::with(&w, App::connect));
    }

    // ---- the connect form and session files ----

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

    fn show_targets(&mut self, targets: Option<Vec<String>>) {
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

    // ---- the view ----

    /// Lays the canvas out for the scaling mode and window.
    pub fn relayout(&mut self) {
        let canvas = self.painter.canvas();
        let fb = (
            u16::try_from(canvas.width()).unwrap_or(u16::MAX),
            u16::try_from(canvas.height()).unwrap_or(u16::MAX),
        );
        let stage = (
            f64::from(self.ui.stage.client_width()),
            f64::from(self.ui.stage.client_height()),
        );
        let dpr = dom::window().map_or(1.0, |w| w.device_pixel_ratio());
        let l = layout(self.settings.scale, fb, stage, dpr);
        self.painter.apply(&l);
    }

    pub fn set_scale(&mut self, scale: Scale) {
        self.settings.scale = scale;
        self.relayout();
        if scale == Scale::Remote {
            self.remote.pending = true;
            self.request_remote_size(false);
        }
    }

    /// The stage changed size: lay out now, ask the server to follow shortly after.
    pub fn stage_resized(&mut self) {
        self.relayout();
        if self.settings.scale == Scale::Remote {
            let w = self.me.clone();
            self.resize_timer = Timer::once(300, move || {
                App::with(&w, |a| {
                    a.remote.pending = true;
                    a.request_remote_size(false);
                });
            });
        }
    }

    /// Asks the server for a desktop the size of the window (`Remote` mode). `after_update`:
    /// an update has arrived, so a refusal now means the server cannot resize.
    fn request_remote_size(&mut self, after_update: bool) {
        if self.settings.scale != Scale::Remote || self.remote.unsupported {
            self.remote.pending = false;
            return;
        }
        let stage = (
            f64::from(self.ui.stage.client_width()),
            f64::from(self.ui.stage.client_height()),
        );
        let want = layout::remote_size(stage);
        let Some(s) = self.session.as_mut().filter(|s| s.connected) else {
            return;
        };
        let current = s.client.framebuffer().map(|f| (f.width(), f.height()));
        if current == Some(want) || self.remote.requested == Some(want) {
            self.remote.pending = false;
            return;
        }
        s.tick();
        if s.client.set_desktop_size(want.0, want.1) {
            s.flush();
            self.remote.requested = Some(want);
            self.remote.pending = false;
        } else if after_update {
            self.remote.pending = false;
            self.remote.unsupported = true;
            self.warnings.push(
                "This VNC server cannot resize its desktop; it is scaled to the window instead."
                    .to_owned(),
            );
            self.ui.warnings(&self.warnings);
        }
    }

    fn request_frame(&mut self) {
        if self.frame_id.is_some() {
            return;
        }
        let (Some(w), Some(cb)) = (dom::window(), self.frame.upgrade()) else {
            return;
        };
        if let Ok(id) = w.request_animation_frame(cb.as_ref().as_ref().unchecked_ref()) {
            self.frame_id = Some(id);
        }
    }

    fn on_frame(&mut self) {
        self.frame_id = None;
        let Some(s) = &mut self.session else { return };
        if let Some(dirty) = s.client.take_dirty() {
            if let Some(fb) = s.client.framebuffer() {
                let _ = self.painter.paint(fb, dirty);
            }
        }
    }

    fn bell(&mut self) {
        let stage = self.ui.stage.clone();
        let _ = stage.class_list().remove_1("bell");
        // Reading a layout property restarts the animation when bells come quickly.
        let _ = stage.offset_width();
        let _ = stage.class_list().add_1("bell");
        self.bell_timer = Timer::once(400, move || {
            let _ = stage.class_list().remove_1("bell");
        });
    }

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

    fn ping(&mut self) {
        if let Some(s) = self.session.as_mut().filter(|s| s.connected) {
            s.tick();
            if s.client.ping() {
                s.flush();
            }
        }
    }

    fn on_tick(&mut self) {
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

    fn server_clipboard(&mut self, text: String) {
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

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
