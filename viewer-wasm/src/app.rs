//! The page controller: from settings to a session and back — connecting, the session's
//! events, reconnecting with backoff — and [`Viewer`], the handle JavaScript holds. Its other
//! duties live beside it as more `impl App` blocks: `prompts` (certificates to trust,
//! passwords, rfb's errors in words), `connect_form` (targets, session files), `view` (layout,
//! scaling, remote resize, painting) and `extras` (stats, clipboard).
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
use rfb::{ClientConfig, Event as RfbEvent};
use wasm_bindgen::prelude::*;

use crate::dom::{self, poisoned, show, Listener, Timer};
use crate::input::InputState;
use crate::painter::Painter;
use crate::session::{ws_url, Session};
use crate::settings::{Scale, Settings};
use crate::stats::Stats;
use crate::trust;
use crate::ui::{Panel, Tone, Ui};
use crate::{platform, status};

mod connect_form;
mod extras;
mod playback;
mod prompts;
mod view;

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
    /// The certificate a waiting session presented (fingerprint, chain), until the person
    /// decides on it.
    first_use: Option<(Fingerprint, Vec<Vec<u8>>)>,
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
    /// When the canvas was last painted (`performance.now()`, ms).
    painted_at: f64,
    remote: RemoteResize,
    stats: Stats,
    stats_on: bool,
    pub input: InputState,
    /// The clipboard text last exchanged with the server (not sent back to it).
    pub last_clipboard: Option<String>,
    /// A recording being played (`#playback=ID`), instead of a session.
    playback: Option<playback::Player>,
    /// Counts playback starts and stops: a recording that arrives for an older one is dropped.
    playback_generation: u32,
    /// The page's loader of the TLS module: returns a promise of its `TlsSession` class.
    load_tls: js_sys::Function,
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
/// form when the fragment names no desktop. `load_tls` loads the TLS module (`viewer-tls`)
/// and resolves to its `TlsSession` class; it is called only when a server asks for TLS.
#[wasm_bindgen]
pub fn start(load_tls: js_sys::Function) -> Result<Viewer, JsError> {
    dom::install_panic_hook();
    let js = |e: JsValue| JsError::new(&dom::describe(&e));
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
            painted_at: f64::NEG_INFINITY,
            remote: RemoteResize::default(),
            stats: Stats::default(),
            stats_on: false,
            input: InputState::default(),
            last_clipboard: None,
            playback: None,
            playback_generation: 0,
            load_tls,
        })
    });
    let w = Rc::downgrade(&app);
    let frame = Rc::new(Closure::<dyn FnMut()>::new(move || {
        App::with(&w, App::on_frame);
    }));
    app.borrow_mut().frame = Rc::downgrade(&frame);
    let w = Rc::downgrade(&app);
    app.borrow_mut()
        .painter
        .on_decoded(move || App::with(&w, App::image_decoded));
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
        self.stop_playback();
        let hash = dom::window()
            .and_then(|w| w.location().hash().ok())
            .unwrap_or_default();
        if let Some(id) = hash.strip_prefix("#playback=") {
            if playback::valid_id(id) {
                return self.start_playback(id.to_owned());
            }
            self.ui.status("error");
            self.ui.notice(
                Tone::Error,
                "This playback link names no recording: use an id from GET /api/recordings.",
                false,
                false,
            );
            return;
        }
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
        self.first_use = None;
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
        self.painter.forget();
        self.stop_session_timers();
        let Some(target) = self.settings.target.clone() else {
            self.show_connect_form();
            return;
        };
        let remembered = self.remembered_pin(target.as_str());
        let plan = trust::plan(&self.settings, self.confirmed, remembered);
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
            tls_source: rfb::tls::TlsSource::Application,
            // The browser's decoder draws JPEG images onto the canvas, off the main thread.
            jpeg_source: if crate::painter::decode::available() {
                rfb::client::JpegSource::Application
            } else {
                rfb::client::JpegSource::BuiltIn
            },
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
        self.painter.forget();
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
        self.ui.notice(
            Tone::Info,
            &format!("Reached the gateway; starting the VNC session with {target}…"),
            false,
            false,
        );
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
        self.decode_early();
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
                self.paint_soon();
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
            RfbEvent::CertificateDecision { sha256 } => self.ask_first_use(Fingerprint(sha256)),
            RfbEvent::CredentialsRequired { username } => self.ask_password(username),
            RfbEvent::TlsEngineNeeded => self.load_tls_engine(),
        }
    }

    /// Fetches the TLS module (once per page) and gives the waiting session an engine.
    fn load_tls_engine(&mut self) {
        let generation = self.generation;
        let Some(params) = self
            .session
            .as_ref()
            .and_then(|s| s.client.tls_parameters())
            .map(|(trust, identity)| rfb::tls::bridge::encode_params(trust, identity))
        else {
            return;
        };
        let loading = self
            .load_tls
            .call0(&JsValue::NULL)
            .map(|p| js_sys::Promise::resolve(&p));
        let w = self.weak();
        wasm_bindgen_futures::spawn_local(async move {
            let class = match loading {
                Ok(p) => wasm_bindgen_futures::JsFuture::from(p).await,
                Err(e) => Err(e),
            };
            App::with(&w, |a| a.tls_engine_loaded(generation, &params, class));
        });
    }

    fn tls_engine_loaded(
        &mut self,
        generation: u32,
        params: &[u8],
        class: Result<JsValue, JsValue>,
    ) {
        let Some(s) = self.current(generation).filter(|s| !s.ended) else {
            return;
        };
        let class = match class {
            Ok(class) => class,
            Err(e) => {
                // Not the server's doing: this page could not fetch a part of itself.
                return self.fail(&format!(
                    "The viewer's TLS module could not be loaded ({}): check the connection to the gateway and reload the page.",
                    dom::describe(&e)
                ));
            }
        };
        s.tick();
        let result = crate::tls_engine::JsTlsEngine::new(&class, params)
            .and_then(|engine| s.client.provide_tls_engine(Box::new(engine)));
        self.drain_events();
        if let Err(e) = result {
            self.on_rfb_error(&e);
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
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
