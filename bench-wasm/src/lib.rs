//! `bench-wasm` owns one thing: rfb's client, built for wasm32 exactly as the viewer builds
//! it, with entry points that replay a recorded server stream and time it in the page. The
//! page (`www/`) times noVNC's decoders on the same bytes; `cargo xtask bench decoders` serves
//! it to headless Chromium (`tests/tests/bench_decoders.rs`).
//!
//! Each replay starts a fresh [`Client`] (the zlib streams of ZRLE and Tight live per
//! connection) and feeds it the whole transcript at once, so what is timed is the handshake
//! (a few dozen bytes) and the decoding of every update into the RGBA framebuffer.

use rfb::messages::encoding::Encoding;
use rfb::{Client, ClientConfig, Event};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The page's monotonic clock, in milliseconds.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// A finished replay: the client (holding the framebuffer) and the RGBA bytes it painted.
struct Replay {
    client: Client,
    painted_bytes: u64,
}

fn replay(transcript: &[u8], encodings: &[i32], chunk_bytes: usize) -> Result<Replay, JsError> {
    let mut client = Client::new(ClientConfig {
        encodings: encodings.iter().copied().map(Encoding::from_i32).collect(),
        ..ClientConfig::default()
    });
    let mut painted_bytes = 0u64;
    for part in transcript.chunks(chunk_bytes.max(1)) {
        client.receive(part)?;
        while client.poll_transmit().is_some() {}
        while let Some(event) = client.poll_event() {
            if event == Event::UpdateComplete {
                if let Some(d) = client.take_dirty() {
                    painted_bytes += u64::from(d.w) * u64::from(d.h) * 4;
                }
            }
        }
    }
    Ok(Replay {
        client,
        painted_bytes,
    })
}

/// Replays `transcript` `iterations` times (at least once); returns milliseconds per replay.
#[wasm_bindgen]
pub fn bench_replay(transcript: &[u8], encodings: &[i32], iterations: u32) -> Result<f64, JsError> {
    bench_replay_chunked(transcript, encodings, u32::MAX, iterations)
}

/// As [`bench_replay`], with the transcript fed in pieces of `chunk_bytes`, as WebSocket
/// messages bring it.
#[wasm_bindgen]
pub fn bench_replay_chunked(
    transcript: &[u8],
    encodings: &[i32],
    chunk_bytes: u32,
    iterations: u32,
) -> Result<f64, JsError> {
    let chunk = usize::try_from(chunk_bytes).unwrap_or(usize::MAX);
    let n = iterations.max(1);
    let start = performance_now();
    for _ in 0..n {
        replay(transcript, encodings, chunk)?;
    }
    Ok((performance_now() - start) / f64::from(n))
}

/// The framebuffer after one replay, RGBA, for comparing with noVNC's pixels.
#[wasm_bindgen]
pub fn decode_once(transcript: &[u8], encodings: &[i32]) -> Result<Vec<u8>, JsError> {
    let r = replay(transcript, encodings, usize::MAX)?;
    let fb = r
        .client
        .framebuffer()
        .ok_or_else(|| JsError::new("the transcript ends before ServerInit"))?;
    Ok(fb.rgba().to_vec())
}

/// The RGBA bytes one replay paints: each update's dirty rectangle × 4, summed. Throughput
/// figures divide this by the time of a replay.
#[wasm_bindgen]
pub fn painted_bytes(transcript: &[u8], encodings: &[i32]) -> Result<f64, JsError> {
    Ok(replay(transcript, encodings, usize::MAX)?.painted_bytes as f64)
}
