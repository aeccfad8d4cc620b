//! Shared set-up for the fuzz targets: a client already past the handshake, and feeding input
//! in chunk sizes chosen by the input itself (so partial-read paths are explored too).

use rfb::messages::encoding::Encoding;
use rfb::{Client, ClientConfig, PixelFormat};

/// Every encoding the client implements, as the default list plus the rest.
pub fn all_encodings() -> Vec<Encoding> {
    let mut v = ClientConfig::default().encodings;
    for e in [Encoding::Raw, Encoding::Trle, Encoding::Zlib, Encoding::TightPng, Encoding::Jpeg, Encoding::LastRect] {
        if !v.contains(&e) {
            v.push(e);
        }
    }
    v
}

/// A client that has completed an RFB 3.8 None handshake with a `w`×`h` server.
pub fn connected(w: u16, h: u16) -> Client {
    connected_with(w, h, rfb::client::JpegSource::BuiltIn)
}

/// A connected client whose JPEG images go to `jpeg_source`.
pub fn connected_with(w: u16, h: u16, jpeg_source: rfb::client::JpegSource) -> Client {
    let config = ClientConfig { encodings: all_encodings(), jpeg_source, ..ClientConfig::default() };
    let mut c = Client::new(config);
    let mut s = b"RFB 003.008\n\x01\x01\x00\x00\x00\x00".to_vec();
    s.extend_from_slice(&w.to_be_bytes());
    s.extend_from_slice(&h.to_be_bytes());
    PixelFormat::RGBX_LE.write(&mut s);
    s.extend_from_slice(&[0, 0, 0, 1, b'f']);
    let _ = c.receive(&s);
    c
}

/// Feeds `data` in chunks whose sizes come from `sizes`; stops at the first error.
pub fn feed(c: &mut Client, sizes: u8, data: &[u8]) {
    let chunk = usize::from(sizes % 64) + 1;
    for part in data.chunks(chunk) {
        if c.receive(part).is_err() {
            return;
        }
        while c.poll_transmit().is_some() {}
        while c.poll_event().is_some() {}
        // What a painter would take: every paint within the framebuffer.
        if let Some((w, h)) = c.framebuffer().map(|fb| (fb.width(), fb.height())) {
            for p in c.take_paints() {
                let t = p.target();
                assert!(t.is_empty() || (u32::from(t.x) + u32::from(t.w) <= u32::from(w) && u32::from(t.y) + u32::from(t.h) <= u32::from(h)), "a paint outside the framebuffer: {t:?}");
            }
        }
    }
}
