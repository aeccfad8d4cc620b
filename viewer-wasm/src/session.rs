//! The viewer handle: one RFB session over one WebSocket, painted on one canvas.
//!
//! Every DOM listener is kept in [`Viewer`] and removed when it is dropped; callbacks hold
//! only weak references, so dropping the handle frees the session. At most one
//! `requestAnimationFrame` is in flight. After a panic every callback does nothing.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};

use rfb::{Client, ClientConfig, Event as RfbEvent};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    BinaryType, CloseEvent, EventTarget, HtmlCanvasElement, KeyboardEvent, MessageEvent,
    MouseEvent, WebSocket, WheelEvent,
};

use crate::keys;
use crate::painter::Painter;
use crate::settings::Settings;

static POISONED: AtomicBool = AtomicBool::new(false);

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        POISONED.store(true, Ordering::SeqCst);
        web_sys::console::error_1(
            &format!("vncgate viewer stopped after an internal error: {info}").into(),
        );
    }));
}

/// The session's state, shared by the callbacks.
struct Inner {
    client: Client,
    ws: WebSocket,
    painter: Painter,
    on_status: js_sys::Function,
    frame_pending: bool,
    buttons: u8,
    /// Keysym sent for each held physical key, so the release matches the press.
    held: HashMap<String, u32>,
    target: String,
}

impl Inner {
    fn status(&self, state: &str, message: &str) {
        let _ = self
            .on_status
            .call2(&JsValue::NULL, &state.into(), &message.into());
    }

    /// Sends what the client queued.
    fn flush(&mut self) {
        while let Some(bytes) = self.client.poll_transmit() {
            if self.ws.ready_state() == WebSocket::OPEN {
                let _ = self.ws.send_with_u8_array(&bytes);
            }
        }
    }
}

/// A DOM listener, removed from its target on drop.
struct Listener {
    target: EventTarget,
    kind: &'static str,
    closure: Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.kind, self.closure.as_ref().unchecked_ref());
    }
}

/// The JavaScript-facing handle of one viewer session.
#[wasm_bindgen]
pub struct Viewer {
    inner: Rc<RefCell<Inner>>,
    _listeners: Vec<Listener>,
    _ws_handlers: WsHandlers,
    _frame: Rc<Closure<dyn FnMut()>>,
}

#[wasm_bindgen]
impl Viewer {
    /// Closes the connection; the handle can then be dropped.
    pub fn disconnect(&self) {
        let _ = self.inner.borrow().ws.close();
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let inner = self.inner.borrow();
        inner.ws.set_onmessage(None);
        inner.ws.set_onclose(None);
        inner.ws.set_onopen(None);
        let _ = inner.ws.close();
    }
}

fn ws_url(target: &str) -> Result<String, JsValue> {
    let location = web_sys::window().ok_or("no window")?.location();
    let scheme = if location.protocol()? == "http:" {
        "ws"
    } else {
        "wss"
    };
    Ok(format!("{scheme}://{}/ws/{target}", location.host()?))
}

/// Starts the viewer from the page's URL fragment. `on_status(state, message)` is called on
/// every state change: `connecting`, `connected`, `closed`, `error`.
#[wasm_bindgen]
pub fn start(canvas: HtmlCanvasElement, on_status: js_sys::Function) -> Result<Viewer, JsError> {
    install_panic_hook();
    let hash = web_sys::window()
        .ok_or_else(|| JsError::new("no window"))?
        .location()
        .hash()
        .map_err(|_| JsError::new("cannot read the page address"))?;
    let settings = Settings::from_fragment(&hash).map_err(|e| JsError::new(&e.to_string()))?;
    let target = settings
        .target
        .clone()
        .ok_or_else(|| JsError::new("This link names no desktop. Open the link your administrator gave you (it ends in #target=…)."))?;
    let url = ws_url(&target).map_err(|_| JsError::new("cannot build the WebSocket address"))?;
    let ws = WebSocket::new(&url).map_err(|_| JsError::new(&format!("cannot open {url}")))?;
    ws.set_binary_type(BinaryType::Arraybuffer);
    let painter = Painter::new(canvas.clone())
        .map_err(|_| JsError::new("this browser gives no 2D canvas"))?;
    let config = ClientConfig {
        shared: settings.shared,
        ..ClientConfig::default()
    };
    let inner = Rc::new(RefCell::new(Inner {
        client: Client::new(config),
        ws: ws.clone(),
        painter,
        on_status,
        frame_pending: false,
        buttons: 0,
        held: HashMap::new(),
        target: target.clone(),
    }));
    inner
        .borrow()
        .status("connecting", &format!("Connecting to {target}…"));

    let frame = frame_callback(Rc::downgrade(&inner));
    let ws_handlers = wire_websocket(&ws, Rc::downgrade(&inner), Rc::downgrade(&frame));
    let mut listeners = Vec::new();
    wire_input(&canvas, &inner, &mut listeners);
    Ok(Viewer {
        inner,
        _listeners: listeners,
        _ws_handlers: ws_handlers,
        _frame: frame,
    })
}

fn frame_callback(weak: Weak<RefCell<Inner>>) -> Rc<Closure<dyn FnMut()>> {
    Rc::new(Closure::new(move || {
        if POISONED.load(Ordering::SeqCst) {
            return;
        }
        let Some(inner) = weak.upgrade() else { return };
        let mut guard = inner.borrow_mut();
        let s = &mut *guard;
        s.frame_pending = false;
        if let Some(dirty) = s.client.take_dirty() {
            if let Some(fb) = s.client.framebuffer() {
                let _ = s.painter.paint(fb, dirty);
            }
        }
    }))
}

fn request_frame(s: &mut Inner, frame: &Weak<Closure<dyn FnMut()>>) {
    if s.frame_pending {
        return;
    }
    let (Some(window), Some(cb)) = (web_sys::window(), frame.upgrade()) else {
        return;
    };
    if window
        .request_animation_frame(cb.as_ref().as_ref().unchecked_ref())
        .is_ok()
    {
        s.frame_pending = true;
    }
}

/// The WebSocket's handlers, kept alive by the [`Viewer`]; its `Drop` clears the slots first.
struct WsHandlers {
    _onopen: Closure<dyn FnMut()>,
    _onmessage: Closure<dyn FnMut(MessageEvent)>,
    _onclose: Closure<dyn FnMut(CloseEvent)>,
}

fn wire_websocket(
    ws: &WebSocket,
    weak: Weak<RefCell<Inner>>,
    frame: Weak<Closure<dyn FnMut()>>,
) -> WsHandlers {
    let w = weak.clone();
    let onopen = Closure::<dyn FnMut()>::new(move || {
        if let Some(inner) = w.upgrade() {
            let s = inner.borrow();
            s.status(
                "connecting",
                &format!(
                    "Reached the gateway; starting the VNC session with {}…",
                    s.target
                ),
            );
        }
    });
    ws.set_onopen(Some(onopen.as_ref().unchecked_ref()));

    let w = weak.clone();
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        if POISONED.load(Ordering::SeqCst) {
            return;
        }
        let Some(inner) = w.upgrade() else { return };
        let mut s = inner.borrow_mut();
        let Ok(buf) = e.data().dyn_into::<js_sys::ArrayBuffer>() else {
            return;
        };
        let bytes = js_sys::Uint8Array::new(&buf).to_vec();
        if let Err(err) = s.client.receive(&bytes) {
            s.status("error", &err.to_string());
            let _ = s.ws.close_with_code_and_reason(1000, "protocol error");
            return;
        }
        s.flush();
        while let Some(ev) = s.client.poll_event() {
            match ev {
                RfbEvent::Connected {
                    width,
                    height,
                    name,
                } => {
                    s.painter.resize(width, height);
                    s.status("connected", &name);
                }
                RfbEvent::Resized { width, height } => s.painter.resize(width, height),
                RfbEvent::UpdateComplete => request_frame(&mut s, &frame),
                RfbEvent::Bell | RfbEvent::ServerCutText(_) => {}
            }
        }
    });
    ws.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));

    let w = weak;
    let onclose = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
        let Some(inner) = w.upgrade() else { return };
        let s = inner.borrow();
        let reason = e.reason();
        let message = match (e.code(), reason.is_empty()) {
            (1000, true) => "The session ended.".to_owned(),
            (1006, _) => "The connection to the gateway was lost without a reason. Check that the gateway is running and that this page's address is right.".to_owned(),
            (_, true) => format!("The gateway closed the connection (code {}).", e.code()),
            (_, false) => reason,
        };
        let state = if e.code() == 1000 { "closed" } else { "error" };
        s.status(state, &message);
    });
    ws.set_onclose(Some(onclose.as_ref().unchecked_ref()));
    WsHandlers {
        _onopen: onopen,
        _onmessage: onmessage,
        _onclose: onclose,
    }
}

fn listen(
    target: &EventTarget,
    kind: &'static str,
    listeners: &mut Vec<Listener>,
    f: impl FnMut(web_sys::Event) + 'static,
) {
    let closure = Closure::<dyn FnMut(web_sys::Event)>::new(f);
    if target
        .add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref())
        .is_ok()
    {
        listeners.push(Listener {
            target: target.clone(),
            kind,
            closure,
        });
    }
}

/// Canvas-relative pointer position in framebuffer pixels.
fn pointer_position(canvas: &HtmlCanvasElement, e: &MouseEvent) -> (u16, u16) {
    let rect = canvas.get_bounding_client_rect();
    let sx = f64::from(canvas.width()) / rect.width().max(1.0);
    let sy = f64::from(canvas.height()) / rect.height().max(1.0);
    let x = ((f64::from(e.client_x()) - rect.left()) * sx).clamp(0.0, 65535.0);
    let y = ((f64::from(e.client_y()) - rect.top()) * sy).clamp(0.0, 65535.0);
    (x as u16, y as u16)
}

fn wire_input(
    canvas: &HtmlCanvasElement,
    inner: &Rc<RefCell<Inner>>,
    listeners: &mut Vec<Listener>,
) {
    let target: &EventTarget = canvas.as_ref();
    for (kind, down) in [("keydown", true), ("keyup", false)] {
        let w = Rc::downgrade(inner);
        listen(target, kind, listeners, move |e| {
            if POISONED.load(Ordering::SeqCst) {
                return;
            }
            let (Some(inner), Ok(e)) = (w.upgrade(), e.dyn_into::<KeyboardEvent>()) else {
                return;
            };
            let mut s = inner.borrow_mut();
            let code = e.code();
            let sym = if down {
                keys::keysym(&e.key(), &code)
            } else {
                s.held
                    .remove(&code)
                    .or_else(|| keys::keysym(&e.key(), &code))
            };
            let Some(sym) = sym else { return };
            e.prevent_default();
            if down {
                s.held.insert(code, sym);
            }
            s.client.key_event(down, sym);
            s.flush();
        });
    }
    for kind in ["mousedown", "mouseup", "mousemove"] {
        let w = Rc::downgrade(inner);
        let canvas_c = canvas.clone();
        listen(target, kind, listeners, move |e| {
            if POISONED.load(Ordering::SeqCst) {
                return;
            }
            let (Some(inner), Ok(e)) = (w.upgrade(), e.dyn_into::<MouseEvent>()) else {
                return;
            };
            if kind == "mousedown" {
                let _ = canvas_c.focus();
            }
            e.prevent_default();
            let mut s = inner.borrow_mut();
            let (x, y) = pointer_position(&canvas_c, &e);
            s.buttons = keys::rfb_buttons(e.buttons());
            let b = s.buttons;
            s.client.pointer_event(b, x, y);
            s.flush();
        });
    }
    let w = Rc::downgrade(inner);
    let canvas_c = canvas.clone();
    listen(target, "wheel", listeners, move |e| {
        let (Some(inner), Ok(e)) = (w.upgrade(), e.dyn_into::<WheelEvent>()) else {
            return;
        };
        e.prevent_default();
        let mut s = inner.borrow_mut();
        let (x, y) = pointer_position(&canvas_c, &e);
        let held = s.buttons;
        for b in keys::wheel_buttons(e.delta_x(), e.delta_y()) {
            s.client.pointer_event(held | b, x, y);
            s.client.pointer_event(held, x, y);
        }
        s.flush();
    });
    listen(target, "contextmenu", listeners, |e| e.prevent_default());
}
