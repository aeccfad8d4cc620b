//! Playing a session recording in the page (`#playback=ID`, admins only: the recording comes
//! from `GET /api/recordings/ID`): the same decoders as a live session (`rfb::Client::new_player`),
//! play/pause, speed 1×–8×, and a seek bar. Seeking replays from the start up to the chosen
//! moment (decoding is fast; nothing is drawn until the moment is reached). A damaged
//! recording plays up to the damage and says where it stopped. The viewer's pointer, from the
//! recording's events file, is drawn over the picture with a short trail behind it.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CanvasRenderingContext2d, Element, HtmlButtonElement, HtmlCanvasElement, HtmlInputElement,
    HtmlSelectElement,
};

use super::App;
use crate::dom::{self, set_text, show, Listener, Timer};
use crate::trail::{Point, Trail, TRAIL_MS};
use crate::ui::{Panel, Tone};

/// How often the playback clock advances.
const TICK_MS: u32 = 30;
/// The seek bar's step (`#pb-seek`'s `step`).
const SEEK_STEP_MS: u32 = 100;

/// One block of the recording: where its bytes are, and when they came.
struct Block {
    start: usize,
    len: usize,
    at_ms: u32,
}

/// A recording being played.
pub(super) struct Player {
    bytes: Vec<u8>,
    blocks: Vec<Block>,
    /// Where the recording stops being readable, if it does.
    damage: Option<String>,
    client: rfb::Client,
    next: usize,
    position_ms: f64,
    duration_ms: u32,
    speed: f64,
    playing: bool,
    last_tick: f64,
    controls: Controls,
    overlay: Option<Overlay>,
    _timer: Option<Timer>,
    _listeners: Vec<Listener>,
}

struct Controls {
    bar: Element,
    play: HtmlButtonElement,
    speed: HtmlSelectElement,
    seek: HtmlInputElement,
    time: Element,
}

impl Controls {
    fn find() -> Option<Self> {
        Some(Self {
            bar: dom::by_id("playbar").ok()?,
            play: dom::by_id("pb-play").ok()?,
            speed: dom::by_id("pb-speed").ok()?,
            seek: dom::by_id("pb-seek").ok()?,
            time: dom::by_id("pb-time").ok()?,
        })
    }
}

/// Whether `id` can name a recording (the gateway's names: letters, digits, `-`, `_`, `.`).
pub fn valid_id(id: &str) -> bool {
    (1..=200).contains(&id.len())
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let js = |e: wasm_bindgen::JsValue| dom::describe(&e);
    let w = dom::window().ok_or("no window")?;
    let resp: web_sys::Response = JsFuture::from(w.fetch_with_str(url))
        .await
        .map_err(js)?
        .dyn_into()
        .map_err(js)?;
    if !resp.ok() {
        let status = resp.status();
        let text = match resp.text() {
            Ok(p) => JsFuture::from(p)
                .await
                .ok()
                .and_then(|t| t.as_string())
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        // The API's errors are {"error": "…"}.
        let why = text
            .split_once("\"error\":\"")
            .and_then(|(_, rest)| rest.rsplit_once('"').map(|(m, _)| m.to_owned()))
            .unwrap_or(text);
        return Err(format!("the gateway answered {status}: {why}"));
    }
    let buf = JsFuture::from(resp.array_buffer().map_err(js)?)
        .await
        .map_err(js)?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

/// The canvas over the picture that shows the viewer's pointer and its trail.
struct Overlay {
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    trail: Trail,
}

impl Overlay {
    fn new(trail: Trail) -> Option<Self> {
        if trail.is_empty() {
            return None;
        }
        let canvas: HtmlCanvasElement = dom::by_id("trail").ok()?;
        let ctx = crate::painter::context_2d(&canvas).ok()?;
        Some(Self { canvas, ctx, trail })
    }

    /// Lays the overlay over `screen` and draws the pointer as it was at `at_ms`.
    fn draw(&self, screen: &HtmlCanvasElement, at_ms: u32) {
        let (w, h) = (screen.width(), screen.height());
        if self.canvas.width() != w || self.canvas.height() != h {
            self.canvas.set_width(w);
            self.canvas.set_height(h);
        }
        let style = self.canvas.style();
        for (name, v) in [
            ("left", screen.offset_left()),
            ("top", screen.offset_top()),
            ("width", screen.offset_width()),
            ("height", screen.offset_height()),
        ] {
            let _ = style.set_property(name, &format!("{v}px"));
        }
        show(&self.canvas, w > 0);
        let ctx = &self.ctx;
        ctx.clear_rect(0.0, 0.0, f64::from(w), f64::from(h));
        let (recent, now) = self.trail.at(at_ms);
        let xy = |p: &Point| (f64::from(p.x) + 0.5, f64::from(p.y) + 0.5);
        ctx.set_line_width(3.0);
        ctx.set_line_cap("round");
        for pair in recent.windows(2) {
            let age = at_ms.saturating_sub(pair[1].at_ms);
            let alpha = 1.0 - f64::from(age) / f64::from(TRAIL_MS);
            ctx.set_stroke_style_str(&format!("rgba(255, 193, 7, {:.2})", alpha.max(0.1)));
            ctx.begin_path();
            let ((x0, y0), (x1, y1)) = (xy(&pair[0]), xy(&pair[1]));
            ctx.move_to(x0, y0);
            ctx.line_to(x1, y1);
            ctx.stroke();
        }
        let Some(p) = now else {
            let _ = self.canvas.remove_attribute("data-pointer");
            return;
        };
        let (x, y) = xy(&p);
        ctx.begin_path();
        let _ = ctx.arc(x, y, 7.0, 0.0, std::f64::consts::TAU);
        // A pressed button fills the ring.
        ctx.set_fill_style_str(if p.buttons != 0 {
            "rgba(229, 57, 53, 0.85)"
        } else {
            "rgba(255, 193, 7, 0.35)"
        });
        ctx.fill();
        ctx.set_line_width(2.0);
        ctx.set_stroke_style_str("rgba(0, 0, 0, 0.8)");
        ctx.stroke();
        let _ = self
            .canvas
            .set_attribute("data-pointer", &format!("{},{},{}", p.x, p.y, p.buttons));
    }
}

fn seconds(ms: f64) -> String {
    format!("{:.1} s", ms / 1000.0)
}

impl App {
    /// `#playback=ID`: fetches the recording and plays it.
    pub(super) fn start_playback(&mut self, id: String) {
        self.ui.status("connecting");
        self.ui.desktop_name(&format!("Recording {id}"));
        self.ui.panel(Panel::None);
        self.playback_generation = self.playback_generation.wrapping_add(1);
        let generation = self.playback_generation;
        let w = self.weak();
        wasm_bindgen_futures::spawn_local(async move {
            let got = fetch_bytes(&format!("/api/recordings/{id}")).await;
            // The events file gives the pointer trail; without it the pictures still play.
            let trail = match &got {
                Ok(_) => fetch_bytes(&format!("/api/recordings/{id}/events"))
                    .await
                    .map(|b| Trail::parse(&String::from_utf8_lossy(&b)))
                    .unwrap_or_default(),
                Err(_) => Trail::default(),
            };
            App::with(&w, move |app| match got {
                // The fragment changed while it loaded: not this page's recording any more.
                _ if app.playback_generation != generation => {}
                Ok(bytes) => app.playback_loaded(bytes, trail),
                Err(e) => app.playback_failed(&format!("The recording cannot be played: {e}.")),
            });
        });
    }

    /// Ends a playback (the fragment changed): its clock stops, its controls and pointer go.
    pub(super) fn stop_playback(&mut self) {
        self.playback_generation = self.playback_generation.wrapping_add(1);
        if let Some(p) = self.playback.take() {
            show(&p.controls.bar, false);
            if let Some(o) = &p.overlay {
                show(&o.canvas, false);
            }
        }
    }

    fn playback_failed(&mut self, text: &str) {
        self.ui.status("error");
        self.ui.notice(Tone::Error, text, false, false);
    }

    fn playback_loaded(&mut self, bytes: Vec<u8>, trail: Trail) {
        let Some(controls) = Controls::find() else {
            return self.playback_failed("This page has no playback controls.");
        };
        let reader = match rfb::fbs::Reader::new(&bytes) {
            Ok(r) => r,
            Err(e) => {
                return self.playback_failed(&format!("The recording cannot be played: {e}."))
            }
        };
        let mut blocks = Vec::new();
        let mut damage = None;
        for b in reader {
            match b {
                Ok(b) => blocks.push(Block {
                    start: b.offset + 4,
                    len: b.data.len(),
                    at_ms: b.at_ms,
                }),
                Err(e) => {
                    damage = Some(e.to_string());
                    break;
                }
            }
        }
        let duration_ms = blocks.last().map_or(0, |b| b.at_ms);
        show(&controls.bar, true);
        // The bar moves in steps of SEEK_STEP_MS: its end is the recording's end rounded up,
        // so that the bar at its end reaches the last block.
        controls.seek.set_max(
            &duration_ms
                .div_ceil(SEEK_STEP_MS)
                .saturating_mul(SEEK_STEP_MS)
                .to_string(),
        );
        let w = self.weak();
        let mut listeners = Vec::new();
        listeners.extend(dom::listen(&controls.play, "click", {
            let w = w.clone();
            move |_| App::with(&w, App::playback_toggle)
        }));
        listeners.extend(dom::listen(&controls.speed, "change", {
            let w = w.clone();
            move |_| App::with(&w, App::playback_speed)
        }));
        // On release, not on every step of a drag: each seek replays from the start.
        listeners.extend(dom::listen(&controls.seek, "change", {
            let w = w.clone();
            move |_| App::with(&w, App::playback_seek)
        }));
        let timer = Timer::every(TICK_MS, move || App::with(&w, App::playback_tick));
        self.playback = Some(Player {
            bytes,
            blocks,
            damage,
            client: rfb::Client::new_player(rfb::Limits::default()),
            next: 0,
            position_ms: 0.0,
            duration_ms,
            speed: 1.0,
            playing: true,
            last_tick: dom::now_ms(),
            controls,
            overlay: Overlay::new(trail),
            _timer: timer,
            _listeners: listeners,
        });
        self.ui.status("connected");
        self.playback_feed();
    }

    /// Feeds every block up to the position, then paints what changed.
    fn playback_feed(&mut self) {
        let Some(p) = &mut self.playback else { return };
        let mut failed = None;
        while let Some(b) = p.blocks.get(p.next) {
            if f64::from(b.at_ms) > p.position_ms {
                break;
            }
            let data = p.bytes.get(b.start..b.start + b.len).unwrap_or_default();
            if let Err(e) = p.client.receive(data) {
                failed = Some(format!(
                    "the stream cannot be followed past byte {}: {e}",
                    b.start - 4
                ));
                p.next = p.blocks.len();
                break;
            }
            p.next += 1;
        }
        if let Some(f) = failed {
            p.damage.get_or_insert(f);
        }
        let mut resized = None;
        while let Some(e) = p.client.poll_event() {
            if let rfb::Event::Connected { width, height, .. }
            | rfb::Event::Resized { width, height } = e
            {
                resized = Some((width, height));
            }
        }
        let _ = p.client.poll_transmit();
        if let Some((w, h)) = resized {
            self.painter.resize(w, h);
            self.relayout();
        }
        let Some(p) = &mut self.playback else { return };
        self.painter.paint_changes(&mut p.client);
        let at_end = p.next >= p.blocks.len();
        if at_end && p.playing {
            p.playing = false;
            p.position_ms = f64::from(p.duration_ms);
        }
        if let Some(o) = &p.overlay {
            // Positions are whole milliseconds, within the recording's u32 timestamps.
            o.draw(self.painter.canvas(), p.position_ms as u32);
        }
        p.controls.seek.set_value(&format!("{:.0}", p.position_ms));
        set_text(
            &p.controls.time,
            &format!(
                "{} / {}",
                seconds(p.position_ms),
                seconds(f64::from(p.duration_ms))
            ),
        );
        set_text(&p.controls.play, if p.playing { "Pause" } else { "Play" });
        if at_end {
            let state = if p.damage.is_some() { "error" } else { "ended" };
            let _ = self.ui.status.set_attribute("data-state", state);
            let note = match &p.damage {
                Some(d) => format!("Stopped where the recording is damaged: {d}"),
                None => "End of the recording".to_owned(),
            };
            set_text(&self.ui.status, &note);
        }
    }

    fn playback_tick(&mut self) {
        let Some(p) = &mut self.playback else { return };
        let now = dom::now_ms();
        if !p.playing {
            // Paused: nothing moves (play and seek feed and redraw themselves).
            p.last_tick = now;
            return;
        }
        p.position_ms =
            (p.position_ms + (now - p.last_tick) * p.speed).min(f64::from(p.duration_ms));
        p.last_tick = now;
        self.playback_feed();
    }

    fn playback_toggle(&mut self) {
        let Some(p) = &mut self.playback else { return };
        if !p.playing && p.next >= p.blocks.len() {
            // At the end: play again from the start.
            p.position_ms = 0.0;
            p.next = 0;
            p.client = rfb::Client::new_player(rfb::Limits::default());
        }
        p.playing = !p.playing;
        p.last_tick = dom::now_ms();
        self.ui.status("connected");
        self.playback_feed();
    }

    fn playback_speed(&mut self) {
        let Some(p) = &mut self.playback else { return };
        p.speed = p.controls.speed.value().parse().unwrap_or(1.0);
    }

    /// Moves to where the bar was moved: forward by decoding on from here, back by replaying
    /// from the start.
    fn playback_seek(&mut self) {
        let Some(p) = &mut self.playback else { return };
        let to = p
            .controls
            .seek
            .value()
            .parse::<f64>()
            .unwrap_or(0.0)
            .clamp(0.0, f64::from(p.duration_ms));
        if to < p.position_ms {
            p.client = rfb::Client::new_player(rfb::Limits::default());
            p.next = 0;
        }
        p.position_ms = to;
        p.last_tick = dom::now_ms();
        self.ui.status("connected");
        self.playback_feed();
    }
}
