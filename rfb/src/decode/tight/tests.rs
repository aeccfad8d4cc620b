//! Tight and TightPNG: every subencoding and filter, stream resets, and the CVE shapes.

use super::super::image::samples;
use super::super::test_util::*;
use super::*;
use crate::messages::encoding::Encoding;

fn compact(len: usize) -> Vec<u8> {
    let mut v = vec![(len & 0x7f) as u8];
    if len > 0x7f {
        v[0] |= 0x80;
        v.push(((len >> 7) & 0x7f) as u8);
        if len > 0x3fff {
            v[1] |= 0x80;
            v.push((len >> 14) as u8);
        }
    }
    v
}

/// A basic rectangle: control, optional filter bytes, then the data raw (< 12 bytes) or
/// compressed with `z`.
fn basic(control: u8, filter: &[u8], data: &[u8], z: &mut Deflater) -> Vec<u8> {
    let mut v = vec![control];
    v.extend_from_slice(filter);
    if data.len() < MIN_TO_COMPRESS {
        v.extend_from_slice(data);
    } else {
        let c = z.chunk(data);
        v.extend(compact(c.len()));
        v.extend(c);
    }
    v
}

#[test]
fn compact_lengths() {
    for (bytes, len) in [
        (&[0x00][..], 0),
        (&[0x7f], 127),
        (&[0x90, 0x4e], 10000),
        (&[0xff, 0xff, 0xff], 4_194_303),
    ] {
        assert_eq!(compact_len(&mut Reader::new(bytes)).ok(), Some(len));
        assert_eq!(compact(len), bytes);
        for cut in 0..bytes.len() {
            assert!(compact_len(&mut Reader::new(&bytes[..cut])).is_err());
        }
    }
}

#[test]
fn fill_in_888_and_other_formats() {
    for pf in [PixelFormat::RGBX_LE, PF_RGB565_BE, PF_XRGB_BE, PF_CMAP8] {
        let mut env = Env::new(8, 8, pf);
        env.cmap.set(5, &[[0, 0xffff, 0]]);
        let c = if pf.true_colour {
            [0, 255, 0]
        } else {
            [5, 0, 0]
        };
        let tpx = if tpixel_size(&pf) == 3 {
            vec![0, 255, 0]
        } else {
            env.px(c)
        };
        let data = [vec![0x8f], tpx].concat();
        env.run_all_prefixes(Encoding::Tight, rect(1, 1, 6, 6), &data);
        assert_eq!(env.pixel(6, 6), env.rgba(c), "{pf:?}");
        assert_eq!(env.pixel(7, 7), [0, 0, 0, 255]);
    }
    assert_eq!(tpixel_size(&PixelFormat::RGBX_LE), 3);
    assert_eq!(tpixel_size(&PF_XRGB_BE), 3);
    assert_eq!(tpixel_size(&PF_RGB565_BE), 2);
}

#[test]
fn copy_filter_raw_and_on_persistent_streams() {
    let mut env = Env::new(16, 16, PixelFormat::RGBX_LE);
    let mut z1 = Deflater::new();
    // 3 pixels = 9 bytes: sent raw, no length, no zlib.
    let data = basic(0x00, &[], &[1, 2, 3, 4, 5, 6, 7, 8, 9], &mut z1);
    assert_eq!(data.len(), 10);
    env.run_all_prefixes(Encoding::Tight, rect(0, 0, 3, 1), &data);
    assert_eq!(env.pixel(2, 0), [7, 8, 9, 255]);
    // Stream 1 (control 0x10), explicit copy filter (0x40 | stream 1 = 0x50), twice.
    let pixels: Vec<u8> = (0..16 * 3).map(|i| i as u8).collect();
    let first = basic(0x10, &[], &pixels, &mut z1);
    env.run_all_prefixes(Encoding::Tight, rect(0, 1, 16, 1), &first);
    let second = basic(0x50, &[0], &pixels, &mut z1);
    assert!(second.len() < first.len(), "refers back to the first");
    env.run_all_prefixes(Encoding::Tight, rect(0, 2, 16, 1), &second);
    assert_eq!(env.pixel(15, 1), [45, 46, 47, 255]);
    assert_eq!(env.pixel(15, 2), [45, 46, 47, 255]);
    // Reset stream 1 (bit 1) while using it: the new data starts a new zlib stream.
    let mut fresh = Deflater::new();
    let third = basic(0x12, &[], &pixels, &mut fresh);
    env.run_all_prefixes(Encoding::Tight, rect(0, 3, 16, 1), &third);
    assert_eq!(env.pixel(0, 3), [0, 1, 2, 255]);
    // 16-bit pixels travel whole.
    let mut env = Env::new(4, 4, PF_RGB565_BE);
    let px: Vec<u8> = (0..16).flat_map(|_| env.px([255, 0, 0])).collect();
    let data = basic(0x20, &[], &px, &mut Deflater::new());
    env.run_all_prefixes(Encoding::Tight, rect(0, 0, 4, 4), &data);
    assert_eq!(env.pixel(3, 3), [255, 0, 0, 255]);
}

#[test]
fn resets_wait_for_the_whole_rectangle() {
    let mut env = Env::new(16, 16, PixelFormat::RGBX_LE);
    let mut z0 = Deflater::new();
    let pixels = [9u8; 48];
    env.run_all_prefixes(
        Encoding::Tight,
        rect(0, 0, 16, 1),
        &basic(0x00, &[], &pixels, &mut z0),
    );
    // Prefixes of a fill that resets stream 0 must leave stream 0 alone …
    let fill = [0x81, 1, 2, 3];
    for cut in 0..fill.len() {
        assert!(env
            .run(Encoding::Tight, rect(0, 0, 1, 1), &fill[..cut])
            .is_err());
    }
    let next = basic(0x00, &[], &pixels, &mut z0);
    env.run_all_prefixes(Encoding::Tight, rect(0, 1, 16, 1), &next);
    // … and the whole fill resets it, even though a fill uses no stream.
    env.run_all_prefixes(Encoding::Tight, rect(0, 0, 1, 1), &fill);
    let stale = basic(0x00, &[], &pixels, &mut z0);
    let e = env.run_err(Encoding::Tight, rect(0, 2, 16, 1), &stale);
    assert!(
        matches!(e, Error::ZlibCorrupt { .. } | Error::InflatedSize { .. }),
        "{e}"
    );
}

#[test]
fn palette_filter() {
    let mut env = Env::new(16, 16, PixelFormat::RGBX_LE);
    // Two colours, 10 wide: rows of 2 bytes, MSB first, sent raw (4 bytes).
    let filter = [1, 1, 10, 10, 10, 200, 200, 200];
    let data = basic(
        0x40,
        &filter,
        &[0b1000_0000, 0b0100_0000, 0, 1],
        &mut Deflater::new(),
    );
    env.run_all_prefixes(Encoding::Tight, rect(2, 2, 10, 2), &data);
    assert_eq!(env.pixel(2, 2), [200, 200, 200, 255]);
    assert_eq!(env.pixel(3, 2), [10, 10, 10, 255]);
    assert_eq!(env.pixel(11, 2), [200, 200, 200, 255]);
    assert_eq!(env.pixel(11, 3), [10, 10, 10, 255]);
    // Three colours, a byte each, compressed (16 bytes).
    let filter = [1, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3];
    let idx: Vec<u8> = (0..16).map(|i| (i % 3) as u8).collect();
    let data = basic(0x40, &filter, &idx, &mut Deflater::new());
    env.run_all_prefixes(Encoding::Tight, rect(0, 8, 4, 4), &data);
    assert_eq!(env.pixel(0, 8), [1, 1, 1, 255]);
    assert_eq!(env.pixel(1, 8), [2, 2, 2, 255]);
    assert_eq!(env.pixel(3, 11), [1, 1, 1, 255]);
    // An index at or above the palette size is refused.
    let data = basic(0x40, &filter, &[0, 1, 2, 3], &mut Deflater::new());
    let e = env.run_err(Encoding::Tight, rect(0, 0, 4, 1), &data);
    assert!(matches!(
        e,
        Error::Invalid {
            field: "Tight palette index",
            got: 3,
            ..
        }
    ));
    // Unknown filter.
    let e = env.run_err(Encoding::Tight, rect(0, 0, 4, 1), &[0x40, 3]);
    assert!(matches!(
        e,
        Error::Invalid {
            field: "Tight filter",
            got: 3,
            ..
        }
    ));
}

/// Gradient-filters RGB triples as an encoder would.
fn gradient_encode(w: usize, rgb: &[u8]) -> Vec<u8> {
    let at = |x: isize, y: isize, c: usize| -> i16 {
        if x < 0 || y < 0 {
            0
        } else {
            i16::from(rgb[(y as usize * w + x as usize) * 3 + c])
        }
    };
    let h = rgb.len() / 3 / w;
    let mut out = Vec::new();
    for y in 0..h as isize {
        for x in 0..w as isize {
            for c in 0..3 {
                let p = (at(x - 1, y, c) + at(x, y - 1, c) - at(x - 1, y - 1, c)).clamp(0, 255);
                out.push((at(x, y, c) - p) as u8);
            }
        }
    }
    out
}

#[test]
fn gradient_filter_888_and_16_bit() {
    let (w, h) = (7usize, 5usize);
    let rgb: Vec<u8> = (0..w * h * 3).map(|i| ((i * 37) % 256) as u8).collect();
    let mut env = Env::new(8, 8, PixelFormat::RGBX_LE);
    let data = basic(0x40, &[2], &gradient_encode(w, &rgb), &mut Deflater::new());
    env.run_all_prefixes(Encoding::Tight, rect(1, 1, w as u16, h as u16), &data);
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) * 3;
            let want = [rgb[i], rgb[i + 1], rgb[i + 2], 255];
            assert_eq!(env.pixel(1 + x as u16, 1 + y as u16), want, "({x},{y})");
        }
    }
    // RGB565: components predicted per channel, modulo max + 1.
    let mut env = Env::new(4, 4, PF_RGB565_BE);
    let comps = [[31u16, 0, 5], [30, 63, 5], [0, 1, 2], [31, 63, 31]]; // a 2×2 image
    let pred = [[0i32, 0, 0], [31, 0, 5], [31, 0, 5], [0, 63, 2]]; // clamp(l + u − ul)
    let mut data = Vec::new();
    for (c, p) in comps.iter().zip(pred) {
        let d = |i: usize, max: i32| ((i32::from(c[i]) - p[i]).rem_euclid(max + 1)) as u16;
        let v = (d(0, 31) << 11) | (d(1, 63) << 5) | d(2, 31);
        data.extend_from_slice(&v.to_be_bytes());
    }
    let data = basic(0x40, &[2], &data, &mut Deflater::new());
    env.run_all_prefixes(Encoding::Tight, rect(0, 0, 2, 2), &data);
    let pf = PF_RGB565_BE;
    for (i, c) in comps.iter().enumerate() {
        let v = (u32::from(c[0]) << 11) | (u32::from(c[1]) << 5) | u32::from(c[2]);
        let (x, y) = ((i % 2) as u16, (i / 2) as u16);
        assert_eq!(env.pixel(x, y), pf.value_to_rgba(v), "({x},{y})");
    }
    // Not at 8 bits per pixel.
    let mut env = Env::new(4, 4, PF_BGR233);
    let e = env.run_err(Encoding::Tight, rect(0, 0, 2, 2), &[0x40, 2]);
    assert!(matches!(
        e,
        Error::Invalid {
            field: "Tight filter",
            got: 2,
            ..
        }
    ));
}

#[test]
fn cve_2019_15693_and_5b270544_wide_gradients_are_safe() {
    for w in [2048u16, 2049, 4000] {
        let mut env = Env::new(w, 2, PixelFormat::RGBX_LE);
        let rgb: Vec<u8> = (0..usize::from(w) * 2 * 3)
            .map(|i| (i % 253) as u8)
            .collect();
        let data = basic(
            0x40,
            &[2],
            &gradient_encode(usize::from(w), &rgb),
            &mut Deflater::new(),
        );
        env.run(Encoding::Tight, rect(0, 0, w, 2), &data)
            .expect("decodes");
        let last = usize::from(w) * 2 * 3 - 3;
        assert_eq!(
            env.pixel(w - 1, 1),
            [rgb[last], rgb[last + 1], rgb[last + 2], 255]
        );
    }
    let mut env = Env::new(16, 16, PixelFormat::RGBX_LE);
    let e = env.run_err(Encoding::Tight, rect(0, 0, 65535, 1), &[0x40, 2]);
    assert!(matches!(e, Error::RectOutOfBounds { .. }));
}

#[test]
fn commit_01cdb045_lengths_and_sizes_disagree() {
    let mut env = Env::new(16, 16, PixelFormat::RGBX_LE);
    // Below 12 bytes there is no length: FF FF FF is the pixel itself.
    env.run_all_prefixes(Encoding::Tight, rect(0, 0, 1, 1), &[0x00, 0xff, 0xff, 0xff]);
    assert_eq!(env.pixel(0, 0), [255, 255, 255, 255]);
    // 12+ bytes with a compact length of 1: the data cannot inflate to 12 bytes.
    let e = env.run_err(Encoding::Tight, rect(0, 0, 4, 1), &[0x00, 0x01, 0x78]);
    assert!(
        matches!(
            e,
            Error::InflatedSize { expected: 12, .. } | Error::ZlibCorrupt { .. }
        ),
        "{e}"
    );
    // The largest compact length waits for its bytes, unless over the limit.
    let got = env.run(Encoding::Tight, rect(0, 0, 4, 1), &[0x00, 0xff, 0xff, 0xff]);
    assert!(matches!(got, Err(Stall::Incomplete(_))));
    env.limits.max_rect_bytes = 1 << 20;
    let e = env.run_err(Encoding::Tight, rect(0, 0, 4, 1), &[0x00, 0xff, 0xff, 0xff]);
    assert!(matches!(
        e,
        Error::LimitExceeded {
            limit: LimitKind::RectBytes,
            ..
        }
    ));
    // Inflating to more than the rectangle is refused too (on a fresh connection: an error
    // ends the session, and the one above left stream 0 mid-header).
    let mut env = Env::new(16, 16, PixelFormat::RGBX_LE);
    let data = basic(0x00, &[], &[1; 15], &mut Deflater::new());
    let e = env.run_err(Encoding::Tight, rect(0, 0, 4, 1), &data);
    assert!(matches!(e, Error::InflatedTooLong { max: 12, .. }), "{e}");
}

#[test]
fn jpeg_and_png() {
    let mut env = Env::new(40, 40, PixelFormat::RGBX_LE);
    let jpeg = samples::jpeg(16, 16, [250, 250, 0], [0, 0, 250]);
    let data = [vec![0x90], compact(jpeg.len()), jpeg.clone()].concat();
    env.run_all_prefixes(Encoding::Tight, rect(8, 8, 16, 16), &data);
    assert!(samples::close(env.pixel(8, 8), [250, 250, 0]));
    assert!(samples::close(env.pixel(23, 23), [0, 0, 250]));
    env.run_all_prefixes(Encoding::TightPng, rect(8, 8, 16, 16), &data);
    // PNG only in TightPNG.
    let png = samples::png(2, 1, png::ColorType::Rgb, &[1, 2, 3, 4, 5, 6]);
    let data = [vec![0xa0], compact(png.len()), png].concat();
    env.run_all_prefixes(Encoding::TightPng, rect(0, 0, 2, 1), &data);
    assert_eq!(env.pixel(1, 0), [4, 5, 6, 255]);
    let e = env.run_err(Encoding::Tight, rect(0, 0, 2, 1), &data);
    assert!(matches!(
        e,
        Error::Invalid {
            field: "Tight compression control",
            got: 0xa0,
            ..
        }
    ));
    // JPEG of the wrong size, and JPEG at 8 bpp.
    let data = [vec![0x90], compact(jpeg.len()), jpeg].concat();
    let e = env.run_err(Encoding::Tight, rect(0, 0, 16, 15), &data);
    assert!(matches!(
        e,
        Error::ImageSize {
            encoding: "Tight",
            ..
        }
    ));
    let mut env8 = Env::new(16, 16, PF_BGR233);
    let e = env8.run_err(Encoding::Tight, rect(0, 0, 16, 16), &data);
    assert!(matches!(
        e,
        Error::Invalid {
            field: "Tight compression control",
            ..
        }
    ));
    // Over the JPEG limit.
    env.limits.max_jpeg_bytes = 100;
    let e = env.run_err(Encoding::Tight, rect(8, 8, 16, 16), &data);
    assert!(matches!(
        e,
        Error::LimitExceeded {
            limit: LimitKind::JpegBytes,
            ..
        }
    ));
}

#[test]
fn unknown_controls() {
    let mut env = Env::new(4, 4, PixelFormat::RGBX_LE);
    for control in [0xb0, 0xc0, 0xe0, 0xf0] {
        let e = env.run_err(Encoding::Tight, rect(0, 0, 1, 1), &[control]);
        assert!(
            matches!(
                e,
                Error::Invalid {
                    field: "Tight compression control",
                    ..
                }
            ),
            "{control:x}"
        );
    }
    // Wide fill rectangles (old TigerVNC, x11vnc) are fine.
    let mut env = Env::new(4000, 1, PixelFormat::RGBX_LE);
    env.run_all_prefixes(Encoding::Tight, rect(0, 0, 4000, 1), &[0x80, 1, 2, 3]);
    assert_eq!(env.pixel(3999, 0), [1, 2, 3, 255]);
}
