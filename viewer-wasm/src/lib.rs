//! `viewer-wasm` is the browser shell around `rfb`: it owns the WebSocket, the canvas, the DOM
//! listeners and the timers, and makes no protocol decisions.
//!
//! Data flow: WebSocket message → `rfb::Client::receive` → bytes back to the WebSocket, events
//! to the page; the framebuffer's dirty rectangle is blitted to the canvas at most once per
//! animation frame. Keyboard and pointer events become `rfb` commands.
//!
//! The pure parts ([`keys`], [`settings`]) build and test natively; the rest needs a browser.

pub mod keys;
pub mod settings;

#[cfg(target_arch = "wasm32")]
mod painter;
#[cfg(target_arch = "wasm32")]
mod session;
#[cfg(target_arch = "wasm32")]
pub use painter::Painter;
#[cfg(target_arch = "wasm32")]
pub use session::{start, Viewer};
