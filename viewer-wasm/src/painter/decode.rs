//! JPEG images decoded by the browser's own decoder (WebCodecs' `ImageDecoder`, native and
//! off the main thread) and drawn straight onto the canvas: the pixels never come back into
//! wasm. (`createImageBitmap` of a `Blob` was measured first: making the `Blob` alone took a
//! quarter of the main thread at 60 images a second.) The WebCodecs calls go through
//! `Reflect`, as web-sys has them only behind its unstable-API flag.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Object, Reflect};
use rfb::Rect;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::CanvasRenderingContext2d;

/// Whether this browser can decode images for the canvas (else the viewer decodes JPEG in
/// wasm, into its framebuffer).
pub fn available() -> bool {
    decoder_class().is_ok()
}

fn decoder_class() -> Result<Function, JsValue> {
    Reflect::get(&js_sys::global(), &"ImageDecoder".into())?.dyn_into::<Function>()
}

/// Calls `target.name(args…)`.
fn call(target: &JsValue, name: &str, args: &[&JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = Reflect::get(target, &name.into())?.dyn_into()?;
    f.apply(target, &args.iter().copied().collect())
}

enum State {
    Pending,
    /// A `VideoFrame`, to be closed once drawn.
    Ready(JsValue),
    Failed(String),
    Taken,
}

/// An image the browser is decoding. Dropped unused, its frame is released.
pub struct Decoding(Rc<RefCell<State>>);

impl std::fmt::Debug for Decoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_pending() {
            "Decoding(pending)"
        } else {
            "Decoding(done)"
        })
    }
}

impl Decoding {
    /// Starts decoding the JFIF image `jpeg`; `done` is called when it is decoded or failed,
    /// unless the image was dropped by then.
    pub fn start(jpeg: &[u8], done: Rc<dyn Fn()>) -> Result<Self, JsValue> {
        let class = decoder_class()?;
        let init = Object::new();
        Reflect::set(&init, &"type".into(), &"image/jpeg".into())?;
        Reflect::set(&init, &"data".into(), &js_sys::Uint8Array::from(jpeg))?;
        let decoder = Reflect::construct(&class, &js_sys::Array::of1(&init))?;
        let promise = call(&decoder, "decode", &[]).and_then(|p| p.dyn_into::<js_sys::Promise>());
        let promise = promise.inspect_err(|_| {
            let _ = call(&decoder, "close", &[]);
        })?;
        let state = Rc::new(RefCell::new(State::Pending));
        let weak = Rc::downgrade(&state);
        wasm_bindgen_futures::spawn_local(async move {
            let result = JsFuture::from(promise)
                .await
                .and_then(|r| Reflect::get(&r, &"image".into()));
            let _ = call(&decoder, "close", &[]);
            let Some(state) = weak.upgrade() else {
                if let Ok(frame) = result {
                    let _ = call(&frame, "close", &[]);
                }
                return;
            };
            *state.borrow_mut() = match result {
                Ok(frame) => State::Ready(frame),
                Err(e) => State::Failed(crate::dom::describe(&e)),
            };
            drop(state);
            done();
        });
        Ok(Self(state))
    }

    pub fn is_pending(&self) -> bool {
        matches!(*self.0.borrow(), State::Pending)
    }

    /// Draws the decoded image into `rect` (its size, as its frame header said; never
    /// outside it, whatever size the browser made of it), and releases it.
    pub fn draw(&self, ctx: &CanvasRenderingContext2d, rect: Rect) -> Result<(), JsValue> {
        match std::mem::replace(&mut *self.0.borrow_mut(), State::Taken) {
            State::Ready(frame) => {
                let at = [rect.x, rect.y, rect.w, rect.h].map(JsValue::from);
                let drawn = call(ctx, "drawImage", &[&frame, &at[0], &at[1], &at[2], &at[3]]);
                let _ = call(&frame, "close", &[]);
                drawn.map(drop)
            }
            State::Failed(why) => Err(JsValue::from_str(&format!(
                "the browser could not decode an image: {why}"
            ))),
            State::Pending | State::Taken => Err("the image is not decoded".into()),
        }
    }
}

impl Drop for Decoding {
    fn drop(&mut self) {
        if let State::Ready(frame) = std::mem::replace(&mut *self.0.borrow_mut(), State::Taken) {
            let _ = call(&frame, "close", &[]);
        }
    }
}
