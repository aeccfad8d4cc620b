//! Keyboard, pointer, wheel, touch, paste and on-screen-keyboard input on the canvas → `rfb`
//! commands. The mappings are pure ([`crate::keys`], [`crate::touch`]); this module holds what
//! is pressed and wires the listeners. In view-only mode nothing is sent.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::{
    ClipboardEvent, EventTarget, InputEvent, KeyboardEvent, PointerEvent, TouchEvent, TouchList,
    WheelEvent,
};

use crate::app::App;
use crate::dom::{self, listen, Listener, Timer};
use crate::keys::{self, ToolbarKey, WheelAccumulator};
use crate::touch::{Gestures, Point, PointerOut, LONG_PRESS_MS};

/// A key that is down on the server: what was sent for it, so the release matches.
#[derive(Debug, Clone, Copy)]
struct Held {
    keysym: u32,
    scancode: Option<u32>,
}

/// What is pressed, and partial wheel and touch gestures.
#[derive(Default)]
pub struct InputState {
    buttons: u8,
    /// By `KeyboardEvent.code` (or `key` when a synthetic event has no code).
    held: HashMap<String, Held>,
    pub sticky_ctrl: bool,
    pub sticky_alt: bool,
    wheel: WheelAccumulator,
    last_wheel_ms: f64,
    gestures: Gestures,
    last_position: (u16, u16),
    /// The last keydown's code and time, to recognise Windows' AltGr.
    last_down: Option<(String, f64)>,
    /// Ctrl+V waits for the paste event, so the server has the new clipboard before the key.
    paste_pending: Option<(String, Held)>,
}

fn held_id(e: &KeyboardEvent) -> String {
    let code = e.code();
    if code.is_empty() {
        e.key()
    } else {
        code
    }
}

impl App {
    fn input_allowed(&self) -> bool {
        !self.settings.view_only && self.session.as_ref().is_some_and(|s| s.connected)
    }

    /// Sends one key event, with its scancode when known (rfb falls back to a plain KeyEvent
    /// when the server lacks QEMU extended key events).
    fn send_key(&mut self, down: bool, k: Held) {
        let Some(s) = &mut self.session else { return };
        s.tick();
        match k.scancode {
            Some(sc) => s.client.key_event_scancode(down, k.keysym, sc),
            None => s.client.key_event(down, k.keysym),
        }
        s.flush();
    }

    fn key(&mut self, e: &KeyboardEvent, down: bool) {
        if !self.input_allowed() || e.is_composing() {
            return;
        }
        let id = held_id(e);
        if !down {
            if let Some((pid, k)) = self.input.paste_pending.take() {
                // No paste event came (nothing to paste): send the key after all.
                self.send_key(true, k);
                if pid != id {
                    self.input.held.insert(pid, k);
                } else {
                    self.send_key(false, k);
                    e.prevent_default();
                    return;
                }
            }
            if let Some(k) = self.input.held.remove(&id) {
                e.prevent_default();
                self.send_key(false, k);
            }
            return;
        }
        let Some(keysym) = keys::keysym(&e.key(), &e.code()) else {
            // Dead keys and the like: the browser composes; the composed key comes next.
            return;
        };
        let k = Held {
            keysym,
            scancode: keys::xt_scancode(&e.code()),
        };
        let prev = self.input.last_down.take();
        let now = e.time_stamp();
        self.input.last_down = Some((e.code(), now));
        let prev = prev.as_ref().map(|(c, t)| (c.as_str(), *t));
        if keys::is_windows_altgr(prev, &e.key(), now) {
            if let Some(fake) = self.input.held.remove("ControlLeft") {
                self.send_key(false, fake);
            }
        }
        let paste_chord = (e.ctrl_key() || e.meta_key()) && !e.alt_key() && (keysym | 0x20) == 0x76;
        if paste_chord && !e.repeat() {
            // Let the browser fire `paste` (no preventDefault); the key follows the text.
            self.input.paste_pending = Some((id, k));
            return;
        }
        e.prevent_default();
        self.input.held.insert(id, k);
        self.send_key(true, k);
    }

    /// Releases every key and button the server thinks is down (focus left the page).
    fn release_all(&mut self) {
        let held: Vec<Held> = self.input.held.drain().map(|(_, k)| k).collect();
        for k in held {
            self.send_key(false, k);
        }
        self.input.paste_pending = None;
        if self.input.buttons != 0 {
            self.input.buttons = 0;
            let (x, y) = self.input.last_position;
            self.send_pointer(0, x, y);
        }
    }

    /// A client (CSS) position → framebuffer pixels.
    fn fb_point(&self, client_x: f64, client_y: f64) -> (u16, u16) {
        let canvas = self.painter.canvas();
        let rect = canvas.get_bounding_client_rect();
        let to_fb = |client: f64, origin: f64, css: f64, px: u32| {
            let v = ((client - origin) * f64::from(px) / css.max(1.0)).floor();
            // Clamped into 0..=65535 first, so the conversion is exact.
            v.clamp(0.0, f64::from(px.saturating_sub(1)).min(65535.0)) as u16
        };
        (
            to_fb(client_x, rect.left(), rect.width(), canvas.width()),
            to_fb(client_y, rect.top(), rect.height(), canvas.height()),
        )
    }

    fn send_pointer(&mut self, buttons: u8, x: u16, y: u16) {
        let Some(s) = &mut self.session else { return };
        s.tick();
        s.client.pointer_event(buttons, x, y);
        s.flush();
        self.input.last_position = (x, y);
    }

    fn pointer(&mut self, e: &PointerEvent, kind: &str) {
        if e.pointer_type() == "touch" {
            return; // touch events make gestures
        }
        if kind == "pointerdown" {
            dom::focus(&self.ui.canvas);
            let _ = self.ui.canvas.set_pointer_capture(e.pointer_id());
        }
        if !self.input_allowed() {
            return;
        }
        e.prevent_default();
        let (x, y) = self.fb_point(f64::from(e.client_x()), f64::from(e.client_y()));
        self.input.buttons = keys::rfb_buttons(e.buttons());
        self.send_pointer(self.input.buttons, x, y);
    }

    fn wheel(&mut self, e: &WheelEvent) {
        if !self.input_allowed() {
            return;
        }
        e.prevent_default();
        let now = dom::now_ms();
        if now - self.input.last_wheel_ms > 300.0 {
            self.input.wheel.reset();
        }
        self.input.last_wheel_ms = now;
        let (x, y) = self.fb_point(f64::from(e.client_x()), f64::from(e.client_y()));
        let held = self.input.buttons;
        for b in self
            .input
            .wheel
            .add(e.delta_x(), e.delta_y(), e.delta_mode())
        {
            self.send_pointer(held | b, x, y);
            self.send_pointer(held, x, y);
        }
    }

    fn touch(&mut self, e: &TouchEvent, kind: &str) {
        if !self.input_allowed() {
            return;
        }
        e.prevent_default();
        let now = dom::now_ms();
        let fingers = points(&e.touches());
        let out = match kind {
            "touchstart" => {
                dom::focus(&self.ui.canvas);
                let out = self.input.gestures.start(&fingers, now);
                let w = self.weak();
                self.long_press_timer = (fingers.len() == 1)
                    .then(|| {
                        Timer::once(LONG_PRESS_MS as u32 + 20, move || {
                            App::with(&w, |a| {
                                let out = a.input.gestures.tick(dom::now_ms());
                                a.send_touch(&out);
                            });
                        })
                    })
                    .flatten();
                out
            }
            "touchmove" => self.input.gestures.moved(&fingers),
            "touchend" => {
                self.long_press_timer = None;
                self.input.gestures.ended(&fingers, now)
            }
            _ => {
                self.long_press_timer = None;
                self.input.gestures.cancel()
            }
        };
        self.send_touch(&out);
    }

    fn send_touch(&mut self, out: &[PointerOut]) {
        for o in out {
            let (x, y) = self.fb_point(o.at.x, o.at.y);
            self.send_pointer(o.buttons, x, y);
        }
    }

    /// A toolbar key: pressed and released.
    pub fn tap_key(&mut self, k: ToolbarKey) {
        if !self.input_allowed() {
            return;
        }
        let h = Held {
            keysym: k.keysym,
            scancode: keys::xt_scancode(k.code),
        };
        self.send_key(true, h);
        self.send_key(false, h);
        dom::focus(&self.ui.canvas);
    }

    pub fn ctrl_alt_del(&mut self) {
        if !self.input_allowed() {
            return;
        }
        let chord = [keys::CONTROL, keys::ALT, keys::DELETE].map(|k| Held {
            keysym: k.keysym,
            scancode: keys::xt_scancode(k.code),
        });
        for k in chord {
            self.send_key(true, k);
        }
        for k in chord.iter().rev() {
            self.send_key(false, *k);
        }
        dom::focus(&self.ui.canvas);
    }

    /// Toggles a sticky modifier: held on the server until toggled off.
    pub fn toggle_sticky(&mut self, ctrl: bool) {
        if !self.input_allowed() {
            return;
        }
        let (k, on) = if ctrl {
            self.input.sticky_ctrl = !self.input.sticky_ctrl;
            (keys::CONTROL, self.input.sticky_ctrl)
        } else {
            self.input.sticky_alt = !self.input.sticky_alt;
            (keys::ALT, self.input.sticky_alt)
        };
        let button = if ctrl {
            self.ui.k_ctrl.clone()
        } else {
            self.ui.k_alt.clone()
        };
        self.ui.pressed(&button, on);
        self.send_key(
            on,
            Held {
                keysym: k.keysym,
                scancode: keys::xt_scancode(k.code),
            },
        );
        dom::focus(&self.ui.canvas);
    }

    /// Text from the on-screen keyboard (or an IME): each character pressed and released.
    fn typed_text(&mut self, text: &str) {
        if !self.input_allowed() {
            return;
        }
        for keysym in keys::text_keysyms(text) {
            let h = Held {
                keysym,
                scancode: None,
            };
            self.send_key(true, h);
            self.send_key(false, h);
        }
    }

    fn osk_input(&mut self, e: &InputEvent) {
        if e.is_composing() {
            return;
        }
        match e.input_type().as_str() {
            "deleteContentBackward" => self.typed_keysym(rfb::keysym::BACKSPACE),
            "deleteContentForward" => self.typed_keysym(rfb::keysym::DELETE),
            "insertLineBreak" | "insertParagraph" => self.typed_keysym(rfb::keysym::RETURN),
            _ => {
                if let Some(text) = e.data() {
                    self.typed_text(&text);
                }
            }
        }
        self.ui.osk.set_value("");
    }

    fn typed_keysym(&mut self, keysym: u32) {
        if !self.input_allowed() {
            return;
        }
        let h = Held {
            keysym,
            scancode: None,
        };
        self.send_key(true, h);
        self.send_key(false, h);
    }

    fn paste(&mut self, e: &ClipboardEvent) {
        let text = e
            .clipboard_data()
            .and_then(|d| d.get_data("text/plain").ok())
            .unwrap_or_default();
        let pending = self.input.paste_pending.take();
        if !self.input_allowed() {
            return;
        }
        e.prevent_default();
        if !text.is_empty() {
            self.send_clipboard(&text, true);
        }
        if let Some((id, k)) = pending {
            self.send_key(true, k);
            self.input.held.insert(id, k);
        }
    }
}

fn points(list: &TouchList) -> Vec<Point> {
    (0..list.length())
        .filter_map(|i| list.item(i))
        .map(|t| Point {
            x: f64::from(t.client_x()),
            y: f64::from(t.client_y()),
        })
        .collect()
}

/// Wires the canvas, the on-screen keyboard input and the document's paste to `app`.
pub fn wire(app: &Rc<RefCell<App>>) -> Vec<Listener> {
    let a = app.borrow();
    let canvas: EventTarget = a.ui.canvas.clone().into();
    let osk: EventTarget = a.ui.osk.clone().into();
    let doc: Option<EventTarget> = dom::document().map(Into::into);
    drop(a);
    let mut out = Vec::new();
    let w = Rc::downgrade(app);
    let mut on = |target: &EventTarget, kind: &'static str, f: fn(&mut App, web_sys::Event)| {
        let w = w.clone();
        out.extend(listen(target, kind, move |e| App::with(&w, |a| f(a, e))));
    };
    for target in [&canvas, &osk] {
        on(target, "keydown", |a, e| {
            if let Ok(k) = e.dyn_into::<KeyboardEvent>() {
                a.key_from(&k, true);
            }
        });
        on(target, "keyup", |a, e| {
            if let Ok(k) = e.dyn_into::<KeyboardEvent>() {
                a.key_from(&k, false);
            }
        });
    }
    for kind in ["pointerdown", "pointermove", "pointerup"] {
        on(&canvas, kind, |a, e| {
            let kind = e.type_();
            if let Ok(p) = e.dyn_into::<PointerEvent>() {
                a.pointer(&p, &kind);
            }
        });
    }
    on(&canvas, "wheel", |a, e| {
        if let Ok(w) = e.dyn_into::<WheelEvent>() {
            a.wheel(&w);
        }
    });
    for kind in ["touchstart", "touchmove", "touchend", "touchcancel"] {
        on(&canvas, kind, |a, e| {
            let kind = e.type_();
            if let Ok(t) = e.dyn_into::<TouchEvent>() {
                a.touch(&t, &kind);
            }
        });
    }
    on(&canvas, "contextmenu", |_, e| e.prevent_default());
    on(&canvas, "blur", |a, _| a.release_all());
    on(&canvas, "focus", |a, _| a.sync_clipboard_on_focus());
    on(&osk, "input", |a, e| {
        if let Ok(i) = e.dyn_into::<InputEvent>() {
            a.osk_input(&i);
        }
    });
    on(&osk, "compositionend", |a, e| {
        if let Some(text) = e
            .dyn_ref::<web_sys::CompositionEvent>()
            .and_then(web_sys::CompositionEvent::data)
        {
            a.typed_text(&text);
        }
        a.ui.osk.set_value("");
    });
    if let Some(doc) = &doc {
        on(doc, "paste", |a, e| {
            let on_canvas = dom::document()
                .and_then(|d| d.active_element())
                .is_some_and(|el| AsRef::<web_sys::Element>::as_ref(&a.ui.canvas) == &el);
            if on_canvas {
                if let Ok(c) = e.dyn_into::<ClipboardEvent>() {
                    a.paste(&c);
                }
            }
        });
    }
    out
}

impl App {
    /// Keys typed into the on-screen keyboard's input: named keys go as keys; characters come
    /// through its `input` events (so IMEs and mobile keyboards work).
    fn key_from(&mut self, e: &KeyboardEvent, down: bool) {
        let from_osk = e
            .target()
            .is_some_and(|t| AsRef::<EventTarget>::as_ref(&self.ui.osk) == &t);
        if from_osk {
            let key = e.key();
            let named = key.chars().count() > 1 && key != "Unidentified" && key != "Process";
            if !named || key == "Dead" {
                return;
            }
        }
        self.key(e, down);
    }
}
