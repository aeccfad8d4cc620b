//! `viewer-tls` is the browser viewer's TLS engine in a wasm module of its own: rustls and ring
//! are most of the viewer's size, and only sessions to a VNC server that asks for VeNCrypt
//! X509 need them. The viewer (`viewer-wasm`, built with rfb's `TlsSource::Application`)
//! fetches this module when rfb says [`rfb::Event::TlsEngineNeeded`] and drives one
//! [`TlsSession`] per connection through JavaScript.
//!
//! Everything crosses as bytes in [`rfb::tls::bridge`]'s format: the parameters in, the
//! server's chain and errors out. The session is [`rfb::tls::RustlsEngine`], the engine the
//! gateway and the native tests use, so the browser verifies certificates exactly as they do.

use rfb::tls::{bridge, RustlsEngine, TlsEngine};
use wasm_bindgen::prelude::*;

/// One TLS client connection. Methods mirror [`rfb::tls::TlsEngine`].
#[wasm_bindgen]
pub struct TlsSession {
    engine: RustlsEngine,
}

/// An rfb error for the other module, as a `Uint8Array` in the bridge format.
fn error_value(e: &rfb::Error) -> JsValue {
    js_sys::Uint8Array::from(bridge::encode_error(e).as_slice()).into()
}

#[wasm_bindgen]
impl TlsSession {
    /// Starts a connection from [`bridge::encode_params`] bytes; the ClientHello is ready for
    /// [`TlsSession::transmit`]. Throws a bridge-format error.
    #[wasm_bindgen(constructor)]
    pub fn new(params: &[u8], unix_seconds: f64) -> Result<TlsSession, JsValue> {
        let (trust, identity) = bridge::decode_params(params).ok_or_else(|| {
            error_value(&rfb::Error::Tls {
                detail: format!(
                    "the viewer sent TLS parameters its TLS module cannot read; {}",
                    bridge::MISMATCH
                ),
            })
        })?;
        let engine = RustlsEngine::new(&trust, identity.as_ref(), seconds(unix_seconds))
            .map_err(|e| error_value(&e))?;
        Ok(Self { engine })
    }

    /// Ciphertext in, plaintext out. Throws a bridge-format error, after which the session is
    /// over.
    pub fn receive(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, JsValue> {
        let mut plain = Vec::new();
        self.engine
            .receive(ciphertext, &mut plain)
            .map_err(|e| error_value(&e))?;
        Ok(plain)
    }

    pub fn send(&mut self, plaintext: &[u8]) {
        self.engine.send(plaintext);
    }

    /// The ciphertext ready for the wire (empty when none).
    pub fn transmit(&mut self) -> Vec<u8> {
        let mut wire = Vec::new();
        self.engine.transmit(&mut wire);
        wire
    }

    #[wasm_bindgen(js_name = handshakeComplete)]
    pub fn handshake_complete(&self) -> bool {
        self.engine.handshake_complete()
    }

    /// The server's chain in [`bridge::encode_chain`]'s format.
    #[wasm_bindgen(js_name = peerChain)]
    pub fn peer_chain(&self) -> Vec<u8> {
        bridge::encode_chain(&self.engine.peer_chain())
    }

    pub fn close(&mut self) {
        self.engine.close();
    }

    #[wasm_bindgen(js_name = setTime)]
    pub fn set_time(&mut self, unix_seconds: f64) {
        self.engine.set_time(seconds(unix_seconds));
    }
}

/// Seconds from JavaScript's number (never negative, never fractional).
fn seconds(unix_seconds: f64) -> u64 {
    if unix_seconds.is_finite() && unix_seconds > 0.0 {
        unix_seconds as u64
    } else {
        0
    }
}
