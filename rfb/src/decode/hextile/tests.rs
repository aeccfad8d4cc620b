//! Hextile decoding: every flag, the carry-over rules, and rectangles arriving in pieces.

use super::super::test_util::*;
use super::*;
use crate::error::Error;
use crate::messages::encoding::Encoding;
use crate::PixelFormat;

const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 255, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const GREY: [u8; 3] = [128, 128, 128];

/// A 20×18 rectangle: four tiles (16×16, 4×16, 16×2, 4×2) exercising every flag.
fn sample(env: &Env) -> Vec<u8> {
    let mut v = Vec::new();
    // Tile 1: background red, foreground green, two plain subrects.
    v.push(BACKGROUND | FOREGROUND | ANY_SUBRECTS);
    v.extend(env.px(RED));
    v.extend(env.px(GREEN));
    // (1,1) 2x3, (15,15) 1x1.
    v.extend_from_slice(&[2, 0x11, 0x12, 0xff, 0x00]);
    // Tile 2 (4×16): background carries, coloured subrect.
    v.push(ANY_SUBRECTS | SUBRECTS_COLOURED);
    v.push(1);
    v.extend(env.px(BLUE));
    // (3,0) 1x16.
    v.extend_from_slice(&[0x30, 0x0f]);
    // Tile 3 (16×2): raw.
    v.push(RAW);
    for i in 0..32 {
        v.extend(env.px(if i % 2 == 0 { GREY } else { GREEN }));
    }
    // Tile 4 (4×2): after raw it must give a background.
    v.push(BACKGROUND);
    v.extend(env.px(BLUE));
    v
}

#[test]
fn decodes_every_flag_in_every_format() {
    for pf in [PixelFormat::RGBX_LE, PF_RGB565_BE, PF_BGR233, PF_CMAP8] {
        let mut env = Env::new(24, 20, pf);
        env.cmap.set(0, &[[0, 0, 0xffff]; 256]); // every index → blue for cmap
        let data = sample(&env);
        env.run_all_prefixes(Encoding::Hextile, rect(2, 1, 20, 18), &data);
        let at = |x: u16, y: u16| env.pixel(2 + x, 1 + y);
        assert_eq!(at(0, 0), env.rgba(RED), "{pf:?}");
        assert_eq!(at(1, 1), env.rgba(GREEN));
        assert_eq!(at(2, 3), env.rgba(GREEN));
        assert_eq!(at(3, 1), env.rgba(RED));
        assert_eq!(at(15, 15), env.rgba(GREEN));
        assert_eq!(at(16, 0), env.rgba(RED));
        assert_eq!(at(19, 15), env.rgba(BLUE));
        assert_eq!(at(0, 16), env.rgba(GREY));
        assert_eq!(at(1, 17), env.rgba(GREEN));
        assert_eq!(at(18, 17), env.rgba(BLUE));
        assert_eq!(env.pixel(0, 0), [0, 0, 0, 255], "outside untouched");
    }
}

#[test]
fn carry_over_rules_are_enforced() {
    let mut env = Env::new(48, 16, PixelFormat::RGBX_LE);
    let r = rect(0, 0, 16, 16);
    // The first tile must set a background.
    let e = env.run_err(Encoding::Hextile, r, &[0]);
    assert!(
        matches!(
            e,
            Error::Invalid {
                field: "Hextile tile mask",
                ..
            }
        ),
        "{e}"
    );
    // No foreground carries over a raw tile …
    let mut bad = vec![BACKGROUND | FOREGROUND];
    bad.extend(env.px(RED));
    bad.extend(env.px(GREEN));
    bad.push(RAW);
    bad.extend(std::iter::repeat_n(0, 16 * 16 * 4));
    bad.extend_from_slice(&[BACKGROUND | ANY_SUBRECTS, 1, 2, 3, 4, 1, 0x00, 0x00]);
    let e = env.run_err(Encoding::Hextile, rect(0, 0, 48, 16), &bad);
    assert!(matches!(e, Error::Invalid { why, .. } if why.contains("foreground")));
    // … nor a SubrectsColoured tile.
    let mut v = vec![BACKGROUND | FOREGROUND | SUBRECTS_COLOURED];
    v.extend(env.px(RED));
    v.extend(env.px(GREEN));
    v.extend_from_slice(&[ANY_SUBRECTS, 1, 0x00, 0x00]);
    let e = env.run_err(Encoding::Hextile, rect(0, 0, 32, 16), &v);
    assert!(matches!(e, Error::Invalid { why, .. } if why.contains("foreground")));
}

#[test]
fn subrects_are_checked_against_the_edge_tile() {
    let mut env = Env::new(8, 8, PixelFormat::RGBX_LE);
    let mut v = vec![BACKGROUND | ANY_SUBRECTS | SUBRECTS_COLOURED];
    v.extend(env.px(RED));
    v.push(1);
    v.extend(env.px(GREEN));
    v.extend_from_slice(&[0x40, 0x00]); // x = 4 in a 4-wide tile
    let e = env.run_err(Encoding::Hextile, rect(0, 0, 4, 4), &v);
    assert!(
        matches!(
            e,
            Error::Invalid {
                field: "Hextile subrectangle",
                ..
            }
        ),
        "{e}"
    );
    let e = env.run_err(Encoding::Hextile, rect(0, 0, 4, 4), &[0x20]);
    assert!(matches!(
        e,
        Error::Invalid {
            field: "Hextile tile mask",
            got: 0x20,
            ..
        }
    ));
    assert_eq!(env.pixel(0, 0), [0, 0, 0, 255], "nothing painted");
}

#[test]
fn zero_size_and_out_of_bounds() {
    let mut env = Env::new(8, 8, PixelFormat::RGBX_LE);
    assert!(env.run(Encoding::Hextile, rect(3, 3, 0, 5), &[]).is_ok());
    let e = env.run_err(Encoding::Hextile, rect(0xffff, 0, 2, 1), &[]);
    assert!(matches!(e, Error::RectOutOfBounds { .. }));
}

/// An RGB colour from random bits.
fn rgb(n: u64) -> [u8; 3] {
    let [r, g, b, ..] = n.to_le_bytes();
    [r, g, b]
}

/// A subrectangle of a `tw × th` tile from random bits: x y, then (w−1)(h−1).
fn subrect(next: &mut impl FnMut() -> u64, tw: u16, th: u16) -> [u8; 2] {
    let (x, y) = (next() % u64::from(tw), next() % u64::from(th));
    let w = 1 + next() % (u64::from(tw) - x);
    let h = 1 + next() % (u64::from(th) - y);
    [(x << 4 | y) as u8, ((w - 1) << 4 | (h - 1)) as u8]
}

/// A valid `w × h` rectangle of generated tiles, the first six one of each kind and the
/// rest at random: raw; background (and maybe foreground) only; background, foreground and
/// plain subrectangles; plain subrectangles in carried colours; coloured subrectangles; 255
/// subrectangles. Returns the payload and where each tile starts in it.
pub(crate) fn generated(env: &Env, w: u16, h: u16, seed: u64) -> (Vec<u8>, Vec<usize>) {
    let mut next = xorshift(seed);
    let (mut v, mut starts) = (Vec::new(), Vec::new());
    let (mut bg, mut fg) = (false, false);
    for ty in (0..h).step_by(16) {
        for tx in (0..w).step_by(16) {
            let (tw, th) = ((w - tx).min(16), (h - ty).min(16));
            let kind = match starts.len() {
                n @ 0..=5 => n as u64,
                _ => next() % 6,
            };
            starts.push(v.len());
            let (mask, count) = match kind {
                0 => (RAW, 0),
                1 if next() % 2 == 0 => (BACKGROUND | FOREGROUND, 0),
                1 => (BACKGROUND, 0),
                3 if bg && fg => (ANY_SUBRECTS, 1 + next() % 8),
                2 | 3 => (BACKGROUND | FOREGROUND | ANY_SUBRECTS, next() % 8),
                4 if bg && next() % 2 == 0 => (ANY_SUBRECTS | SUBRECTS_COLOURED, next() % 12),
                4 => (BACKGROUND | ANY_SUBRECTS | SUBRECTS_COLOURED, next() % 12),
                _ => (BACKGROUND | FOREGROUND | ANY_SUBRECTS, 255),
            };
            v.push(mask);
            if mask & RAW != 0 {
                for _ in 0..tw * th {
                    v.extend(env.px(rgb(next())));
                }
                (bg, fg) = (false, false);
                continue;
            }
            for flag in [BACKGROUND, FOREGROUND] {
                if mask & flag != 0 {
                    v.extend(env.px(rgb(next())));
                }
            }
            bg = true;
            fg = (fg || mask & FOREGROUND != 0) && mask & SUBRECTS_COLOURED == 0;
            if mask & ANY_SUBRECTS != 0 {
                v.push(count as u8);
                for _ in 0..count {
                    if mask & SUBRECTS_COLOURED != 0 {
                        v.extend(env.px(rgb(next())));
                    }
                    v.extend(subrect(&mut next, tw, th));
                }
            }
        }
    }
    (v, starts)
}

/// A colour map of 256 different colours, so that colour-map pixels are told apart.
fn colourful(pf: PixelFormat) -> Env {
    let mut env = Env::new(48, 40, pf);
    let colours: Vec<[u16; 3]> = (0..256u16)
        .map(|i| [i << 8, !i << 8, i.wrapping_mul(97) << 8])
        .collect();
    env.cmap.set(0, &colours);
    env
}

#[test]
fn pieces_decode_as_the_whole_rectangle_in_every_format() {
    for pf in [PixelFormat::RGBX_LE, PF_RGB565_BE, PF_BGR233, PF_CMAP8] {
        let make = || colourful(pf);
        let data = sample(&make());
        let r = rect(2, 1, 20, 18);
        let fed =
            assert_feeds_match_whole(make, Encoding::Hextile, r, &data, every_split(data.len()));
        assert_eq!(fed, Fed::Complete { used: data.len() }, "{pf:?}");
        // Every kind of tile, colours carried across tiles and rows, 5- and 4-pixel edges.
        let (data, _) = generated(&make(), 37, 20, 1);
        let r = rect(3, 2, 37, 20);
        let fed =
            assert_feeds_match_whole(make, Encoding::Hextile, r, &data, every_split(data.len()));
        assert_eq!(fed, Fed::Complete { used: data.len() }, "{pf:?}");
    }
}

#[test]
fn a_large_rectangle_in_pieces_decodes_as_whole() {
    let make = || Env::new(480, 320, PixelFormat::RGBX_LE);
    let (data, _) = generated(&make(), 480, 320, 7);
    let feeds = [1, 4096, 65536].map(|size| pieces(data.len(), size));
    let r = rect(0, 0, 480, 320);
    let fed = assert_feeds_match_whole(make, Encoding::Hextile, r, &data, feeds);
    assert_eq!(fed, Fed::Complete { used: data.len() });
}

/// A rectangle arriving in pieces is read about once: each call reads again at most the step it
/// could not finish (a mask and two pixels), not the tiles before it. Retried from its first
/// tile on every call, as before, this 480×320 rectangle of 168 KB would be read about 21 times
/// over in 4 KiB pieces, and 84 000 times over in 1-byte pieces.
#[test]
fn pieces_are_read_about_once() {
    let (data, _) = generated(&Env::new(1, 1, PixelFormat::RGBX_LE), 480, 320, 11);
    let len = data.len();
    let unfinished_step = 1 + 2 * 4;
    for size in [4096, 64, 7, 1] {
        let mut env = Env::new(480, 320, PixelFormat::RGBX_LE);
        let ends = pieces(len, size);
        let calls = ends.len();
        let (fed, read) = env.feed(Encoding::Hextile, rect(0, 0, 480, 320), &data, ends);
        assert_eq!(fed, Fed::Complete { used: len });
        assert!(
            read <= len + calls * unfinished_step,
            "{size}: read {read} of {len}"
        );
        assert!(read <= 2 * len, "{size}-byte pieces: read {read} of {len}");
        if size == 4096 {
            assert!(
                read <= len + len / 1000,
                "4 KiB pieces: read {read} of {len}"
            );
        }
    }
}

#[test]
fn malformed_rectangles_fail_alike_in_pieces() {
    let make = || Env::new(48, 16, PixelFormat::RGBX_LE);
    let env = make();
    let mut cases = vec![
        // No background in the first tile; undefined mask bits.
        (rect(0, 0, 16, 16), vec![ANY_SUBRECTS, 1, 0x00]),
        (rect(0, 0, 4, 4), vec![0x20]),
    ];
    // A plain subrectangle after a raw tile, and after a SubrectsColoured tile.
    let mut v = vec![BACKGROUND | FOREGROUND];
    v.extend(env.px(RED));
    v.extend(env.px(GREEN));
    v.push(RAW);
    v.extend(std::iter::repeat_n(0, 16 * 16 * 4));
    v.extend_from_slice(&[BACKGROUND | ANY_SUBRECTS, 1, 2, 3, 4, 1, 0x00, 0x00]);
    cases.push((rect(0, 0, 48, 16), v));
    let mut v = vec![BACKGROUND | FOREGROUND | SUBRECTS_COLOURED];
    v.extend(env.px(RED));
    v.extend(env.px(GREEN));
    v.extend_from_slice(&[ANY_SUBRECTS, 1, 0x00, 0x00]);
    cases.push((rect(0, 0, 32, 16), v));
    // A subrectangle outside a 4×4 edge tile, after one inside it.
    let mut v = vec![BACKGROUND];
    v.extend(env.px(RED));
    v.extend_from_slice(&[ANY_SUBRECTS | SUBRECTS_COLOURED, 2]);
    v.extend(env.px(GREEN));
    v.extend_from_slice(&[0x00, 0x33]);
    v.extend(env.px(GREEN));
    v.extend_from_slice(&[0x40, 0x00]);
    cases.push((rect(0, 0, 20, 4), v));
    for (r, data) in cases {
        let fed =
            assert_feeds_match_whole(make, Encoding::Hextile, r, &data, every_split(data.len()));
        assert!(
            matches!(fed, Fed::Invalid(Error::Invalid { .. })),
            "{fed:?}"
        );
    }
    // Late in a large rectangle: an undefined mask bit; the rectangle cut short.
    let make = || Env::new(480, 320, PixelFormat::RGBX_LE);
    let (data, starts) = generated(&make(), 480, 320, 3);
    let r = rect(0, 0, 480, 320);
    assert_late_error_and_truncation(make, Encoding::Hextile, r, &data, starts[500], 0x21);
}

/// Valid rectangles with a few bytes changed end the same way however they are cut.
#[test]
fn corrupted_rectangles_end_alike_in_pieces() {
    let mut next = xorshift(0x5eed);
    let make = || Env::new(48, 40, PixelFormat::RGBX_LE);
    let r = rect(0, 0, 48, 40);
    let (data, _) = generated(&make(), 48, 40, 5);
    for _ in 0..60 {
        let mut bad = data.clone();
        for _ in 0..1 + next() % 3 {
            let at = (next() % bad.len() as u64) as usize;
            bad[at] = next() as u8;
        }
        let len = bad.len();
        let cut = |n: u64| (n % len as u64) as usize;
        let mut two = [cut(next()), cut(next())];
        two.sort();
        let feeds = [pieces(len, 1), vec![two[0], two[1], len]];
        assert_feeds_match_whole(make, Encoding::Hextile, r, &bad, feeds);
    }
}
