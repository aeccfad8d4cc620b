#![no_main]
//! The view-only server-stream filter on arbitrary bytes, in chunk sizes (and a pixel format)
//! chosen by the input's first byte. Beyond "no panic": the chunking does not change what is
//! passed on or dropped, and what is passed on, followed by a fresh filter, passes through
//! unchanged with nothing dropped — so it holds no message the filter classified as cut text.

use libfuzzer_sys::fuzz_target;
use rfb::server_stream::ServerStreamFilter;
use rfb::{Limits, PixelFormat};

const RGB565_BE: PixelFormat = PixelFormat {
    bits_per_pixel: 16,
    depth: 16,
    big_endian: true,
    true_colour: true,
    red_max: 31,
    green_max: 63,
    blue_max: 31,
    red_shift: 11,
    green_shift: 5,
    blue_shift: 0,
};

/// What the filter passes on, whether it followed everything, and how many it dropped.
fn run(data: &[u8], chunk: usize, pf: PixelFormat) -> (Vec<u8>, bool, u64) {
    let mut f = ServerStreamFilter::new(Limits::default(), pf);
    let mut out = Vec::new();
    let mut segs = Vec::new();
    for part in data.chunks(chunk.max(1)) {
        segs.clear();
        if f.filter(part, &mut segs).is_err() {
            return (out, false, f.dropped());
        }
        for s in &segs {
            out.extend_from_slice(s.of(part));
        }
    }
    (out, true, f.dropped())
}

fuzz_target!(|data: &[u8]| {
    let Some((&sizes, rest)) = data.split_first() else { return };
    let chunk = usize::from(sizes % 64) + 1;
    let pf = if sizes & 0x80 != 0 { RGB565_BE } else { PixelFormat::RGBX_LE };
    let (got, followed, dropped) = run(rest, chunk, pf);
    let (whole, whole_followed, whole_dropped) = run(rest, rest.len(), pf);
    assert_eq!(followed, whole_followed, "the chunking changed the outcome");
    if !followed {
        return;
    }
    assert_eq!(got, whole, "the chunking changed what passed on");
    assert_eq!(dropped, whole_dropped);
    assert!(got.len() <= rest.len());
    let (again, again_followed, again_dropped) = run(&got, got.len(), pf);
    assert!(again_followed, "what passed on cannot be followed");
    assert_eq!(again, got, "what passed on changed when followed again");
    assert_eq!(again_dropped, 0, "what passed on holds cut text");
});
