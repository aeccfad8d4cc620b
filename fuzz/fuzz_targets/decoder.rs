#![no_main]
//! One rectangle of a chosen encoding: byte 0 picks the encoding, bytes 1–8 the rectangle,
//! the rest is its payload (then anything after it as further messages). Bit 7 of byte 5 hands
//! JPEG images to the application, as the browser viewer does.

use libfuzzer_sys::fuzz_target;

const ENCODINGS: [i32; 13] = [0, 1, 2, 5, 6, 7, 15, 16, 21, -260, -239, -308, -223];

fuzz_target!(|data: &[u8]| {
    if data.len() < 10 {
        return;
    }
    let enc = ENCODINGS[usize::from(data[0]) % ENCODINGS.len()];
    let source = if data[5] & 0x80 != 0 {
        rfb::client::JpegSource::Application
    } else {
        rfb::client::JpegSource::BuiltIn
    };
    let mut c = rfb_fuzz::connected_with(64, 48, source);
    let mut msg = vec![0, 0, 0, 1];
    // Rectangles mostly inside the 64×48 framebuffer, sometimes not.
    let small = |b: u8| u16::from(b % 80);
    for v in [small(data[1]), small(data[2]), small(data[3]), small(data[4])] {
        msg.extend_from_slice(&v.to_be_bytes());
    }
    msg.extend_from_slice(&enc.to_be_bytes());
    msg.extend_from_slice(&data[9..]);
    rfb_fuzz::feed(&mut c, data[5], &msg);
});
