//! TLS from the viewer's second wasm module (`viewer-tls`, `pkg/viewer_tls.js`): rustls and
//! ring are fetched only when a VNC server asks for VeNCrypt X509. The page's bootstrap
//! (`app.js`) hands [`crate::start`] a function that loads the module and returns its
//! `TlsSession` class; [`JsTlsEngine`] drives one session as an [`rfb::tls::TlsEngine`].
//! Everything crosses in [`rfb::tls::bridge`]'s byte format.

use rfb::tls::{bridge, TlsEngine};
use rfb::Error;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    /// `viewer-tls`'s `TlsSession`.
    pub type TlsSession;
    #[wasm_bindgen(method, catch)]
    fn receive(this: &TlsSession, ciphertext: &[u8]) -> Result<Vec<u8>, JsValue>;
    #[wasm_bindgen(method)]
    fn send(this: &TlsSession, plaintext: &[u8]);
    #[wasm_bindgen(method)]
    fn transmit(this: &TlsSession) -> Vec<u8>;
    #[wasm_bindgen(method, js_name = handshakeComplete)]
    fn handshake_complete(this: &TlsSession) -> bool;
    #[wasm_bindgen(method, js_name = peerChain)]
    fn peer_chain(this: &TlsSession) -> Vec<u8>;
    #[wasm_bindgen(method)]
    fn close(this: &TlsSession);
    #[wasm_bindgen(method, js_name = setTime)]
    fn set_time(this: &TlsSession, unix_seconds: f64);
    #[wasm_bindgen(method)]
    fn free(this: &TlsSession);
}

/// An error the other module threw: its bridge bytes, or (a trap, a missing module) its text.
fn error_from(e: &JsValue) -> Error {
    match e.dyn_ref::<js_sys::Uint8Array>() {
        Some(bytes) => bridge::decode_error(&bytes.to_vec()),
        None => Error::Tls {
            detail: format!(
                "the viewer's TLS module failed ({}); reload the page",
                crate::dom::describe(e)
            ),
        },
    }
}

/// One TLS session in the other module.
pub struct JsTlsEngine {
    session: TlsSession,
    seconds: u64,
}

impl JsTlsEngine {
    /// Starts a session of `class` (the module's `TlsSession`) with bridge `params`. It has
    /// no time yet: `Client::provide_tls_engine` gives it the client's.
    pub fn new(class: &JsValue, params: &[u8]) -> Result<Self, Error> {
        let class: &js_sys::Function = class.dyn_ref().ok_or_else(|| Error::Tls {
            detail: "the viewer's TLS module has no TlsSession; reload the page".into(),
        })?;
        let args = js_sys::Array::of2(
            &js_sys::Uint8Array::from(params).into(),
            &JsValue::from_f64(0.0),
        );
        let session = js_sys::Reflect::construct(class, &args).map_err(|e| error_from(&e))?;
        Ok(Self {
            session: session.unchecked_into(),
            seconds: 0,
        })
    }
}

impl TlsEngine for JsTlsEngine {
    fn receive(&mut self, ciphertext: &[u8], plaintext: &mut Vec<u8>) -> Result<(), Error> {
        let plain = self
            .session
            .receive(ciphertext)
            .map_err(|e| error_from(&e))?;
        plaintext.extend_from_slice(&plain);
        Ok(())
    }

    fn send(&mut self, plaintext: &[u8]) {
        self.session.send(plaintext);
    }

    fn transmit(&mut self, wire: &mut Vec<u8>) {
        wire.extend_from_slice(&self.session.transmit());
    }

    fn handshake_complete(&self) -> bool {
        self.session.handshake_complete()
    }

    fn peer_chain(&self) -> Vec<Vec<u8>> {
        bridge::decode_chain(&self.session.peer_chain()).unwrap_or_default()
    }

    fn close(&mut self) {
        self.session.close();
    }

    fn set_time(&mut self, unix_seconds: u64) {
        // Called before every input; the other module needs it only when the second changes.
        if unix_seconds != self.seconds {
            self.seconds = unix_seconds;
            self.session.set_time(unix_seconds as f64);
        }
    }
}

impl Drop for JsTlsEngine {
    fn drop(&mut self) {
        self.session.free();
    }
}
