//! One RFB session over one WebSocket: the `rfb::Client`, the socket, and the socket's
//! handlers. Dropping a [`Session`] clears the handlers and closes the socket, so a replaced
//! session can never call back into the page.
//!
//! Drive contract of the core, as this shell follows it: before every input (bytes or a
//! command) give it the time (`set_time_ms`); after it, drain `poll_transmit` into the socket
//! ([`Session::flush`]) and `poll_event` into the page.

use std::cell::RefCell;
use std::rc::Weak;

use rfb::{Client, ClientConfig};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::app::App;
use crate::dom::poisoned;
use crate::trust;

/// The socket's handlers, kept alive as long as the session.
struct Handlers {
    _open: Closure<dyn FnMut()>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _close: Closure<dyn FnMut(CloseEvent)>,
}

pub struct Session {
    pub client: Client,
    ws: WebSocket,
    _handlers: Handlers,
    /// Which attempt this is; callbacks of older attempts are ignored.
    pub generation: u32,
    /// How the server certificate is trusted in this attempt.
    pub plan: trust::Plan,
    /// The handshake completed (`Event::Connected` arrived).
    pub connected: bool,
    /// What ended the session was already shown; the socket's close adds nothing.
    pub ended: bool,
    /// The person asked to disconnect.
    pub user_closed: bool,
}

impl Session {
    /// Opens `url` and wires its events to `app`.
    pub fn open(
        url: &str,
        config: ClientConfig,
        plan: trust::Plan,
        generation: u32,
        app: Weak<RefCell<App>>,
    ) -> Result<Self, JsValue> {
        let ws = WebSocket::new(url)?;
        ws.set_binary_type(BinaryType::Arraybuffer);

        let w = app.clone();
        let open = Closure::<dyn FnMut()>::new(move || {
            App::with(&w, |a| a.on_open(generation));
        });
        let w = app.clone();
        let message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if poisoned() {
                return;
            }
            let Ok(buf) = e.data().dyn_into::<js_sys::ArrayBuffer>() else {
                return;
            };
            let bytes = js_sys::Uint8Array::new(&buf).to_vec();
            App::with(&w, |a| a.on_bytes(generation, &bytes));
        });
        let w = app;
        let close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            let (code, reason) = (e.code(), e.reason());
            App::with(&w, |a| a.on_close(generation, code, &reason));
        });
        ws.set_onopen(Some(open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(close.as_ref().unchecked_ref()));
        Ok(Self {
            client: Client::new(config),
            ws,
            _handlers: Handlers {
                _open: open,
                _message: message,
                _close: close,
            },
            generation,
            plan,
            connected: false,
            ended: false,
            user_closed: false,
        })
    }

    /// Tells the core the time; call before every input.
    pub fn tick(&mut self) {
        self.client.set_time_ms(js_sys::Date::now().max(0.0) as u64);
    }

    /// Sends what the core queued.
    pub fn flush(&mut self) {
        while let Some(bytes) = self.client.poll_transmit() {
            if self.ws.ready_state() == WebSocket::OPEN {
                let _ = self.ws.send_with_u8_array(&bytes);
            }
        }
    }

    /// Closes the socket normally; its close event still arrives.
    pub fn close(&self) {
        let _ = self.ws.close_with_code(1000);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close_with_code(1000);
    }
}

/// `wss://HOST/…/ws/TARGET[?otk=KEY]`, relative to the page so a gateway behind a path prefix
/// works too.
pub fn ws_url(target: &str, otk: Option<&str>) -> Result<String, JsValue> {
    let location = crate::dom::window().ok_or("no window")?.location();
    let page = location.href()?;
    let url = web_sys::Url::new_with_base(&format!("ws/{target}"), &page)?;
    url.set_protocol(if url.protocol() == "http:" {
        "ws:"
    } else {
        "wss:"
    });
    url.set_hash("");
    url.set_search(&match otk {
        Some(k) => format!("?otk={}", crate::settings::percent_encode(k)),
        None => String::new(),
    });
    Ok(url.href())
}
