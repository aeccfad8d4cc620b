//! `viewer-wasm` is the browser shell around `rfb`: it owns the WebSocket, the canvas, the DOM
//! listeners and the timers, and makes no protocol decisions.
//!
//! Data flow:
//!
//! ```text
//!  URL fragment / session file ──► settings ──► app (connect form, trust, reconnect)
//!                                                 │
//!  WebSocket bytes ──► session: rfb::Client::receive ──► events ──► app ──► page (ui)
//!                                │                                   └──► painter: dirty
//!                                └─► poll_transmit ──► WebSocket          rectangle, once per
//!  keyboard, pointer, touch, clipboard ──► input ──► rfb commands         animation frame
//! ```
//!
//! TLS to a VNC server (VeNCrypt X509) runs in a second wasm module, `viewer-tls`, which the
//! page fetches the first time a session needs it ([`tls_engine`]): most visits never pay for
//! rustls.
//!
//! The pure parts ([`keys`], [`settings`], [`layout`], [`touch`], [`trust`], [`stats`],
//! [`status`], [`trail`]) build and test natively; the rest needs a browser. The page (`web/`)
//! is static markup; this crate looks its elements up by id.

pub mod keys;
pub mod layout;
pub mod settings;
pub mod stats;
pub mod status;
pub mod touch;
pub mod trail;
pub mod trust;

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod controls;
#[cfg(target_arch = "wasm32")]
mod dom;
#[cfg(target_arch = "wasm32")]
mod input;
#[cfg(target_arch = "wasm32")]
pub mod painter;
#[cfg(target_arch = "wasm32")]
mod platform;
#[cfg(target_arch = "wasm32")]
mod session;
#[cfg(target_arch = "wasm32")]
mod tls_engine;
#[cfg(target_arch = "wasm32")]
mod ui;

#[cfg(target_arch = "wasm32")]
pub use app::{start, Viewer};
#[cfg(target_arch = "wasm32")]
pub use painter::Painter;
