//! TRLE rectangles arriving in pieces decode as when whole, fail alike, and are read about once.

use super::*;

/// Appends a run length: `n − 1` as 255s and a final byte below 255.
fn push_run(v: &mut Vec<u8>, n: u64) {
    let mut rest = n - 1;
    while rest >= 255 {
        v.push(255);
        rest -= 255;
    }
    v.push(rest as u8);
}

/// A valid `w × h` TRLE rectangle of generated tiles, the first eight one of each kind and
/// the rest at random: raw, solid, packed palette (1-, 2- or 4-bit indices), packed reusing
/// the palette, plain RLE, palette RLE, palette RLE reusing the palette, and one run over the
/// whole tile. Returns the payload and where each tile starts in it.
fn generated(env: &Env, w: u16, h: u16, seed: u64) -> (Vec<u8>, Vec<usize>) {
    let mut next = xorshift(seed);
    let colour = |n: u64| cp(env, [n as u8, (n >> 8) as u8, (n >> 16) as u8]);
    let (mut v, mut starts) = (Vec::new(), Vec::new());
    // Colours of the last palette sent (0: none yet).
    let mut pal_len = 0u64;
    for ty in (0..h).step_by(16) {
        for tx in (0..w).step_by(16) {
            let (tw, th) = (u64::from((w - tx).min(16)), u64::from((h - ty).min(16)));
            let area = tw * th;
            let kind = match starts.len() {
                n @ 0..=7 => n as u64,
                _ => next() % 8,
            };
            starts.push(v.len());
            match kind {
                0 => {
                    v.push(0);
                    (0..area).for_each(|_| v.extend(colour(next())));
                }
                1 => {
                    v.push(1);
                    v.extend(colour(next()));
                }
                2 | 3 => {
                    let n = if kind == 3 && (2..=16).contains(&pal_len) {
                        v.push(127);
                        pal_len
                    } else {
                        let n = [2, 3, 4, 5, 16][(next() % 5) as usize];
                        v.push(n as u8);
                        (0..n).for_each(|_| v.extend(colour(next())));
                        pal_len = n;
                        n
                    };
                    let bits = match n {
                        2 => 1,
                        3 | 4 => 2,
                        _ => 4,
                    };
                    for _ in 0..th {
                        let mut row = vec![0u8; (tw * bits).div_ceil(8) as usize];
                        for x in 0..tw {
                            let bit = x * bits;
                            row[(bit / 8) as usize] |= ((next() % n) << (8 - bits - bit % 8)) as u8;
                        }
                        v.extend(row);
                    }
                }
                4 => {
                    v.push(128);
                    let mut left = area;
                    while left > 0 {
                        let run = 1 + next() % left.min(if next() % 4 == 0 { 300 } else { 6 });
                        v.extend(colour(next()));
                        push_run(&mut v, run);
                        left -= run;
                    }
                }
                _ => {
                    let n = if kind == 6 && pal_len > 0 {
                        v.push(129);
                        pal_len
                    } else {
                        let n = 2 + next() % 126;
                        v.push(128 + n as u8);
                        (0..n).for_each(|_| v.extend(colour(next())));
                        pal_len = n;
                        n
                    };
                    let mut left = area;
                    while left > 0 {
                        let run = match kind {
                            7 => left,
                            _ => 1 + next() % left.min(if next() % 4 == 0 { 300 } else { 4 }),
                        };
                        let index = (next() % n) as u8;
                        // A run of one is mostly a bare index, sometimes a run length of 1.
                        if run == 1 && next() % 4 != 0 {
                            v.push(index);
                        } else {
                            v.push(0x80 | index);
                            push_run(&mut v, run);
                        }
                        left -= run;
                    }
                }
            }
        }
    }
    (v, starts)
}

#[test]
fn pieces_decode_as_the_whole_rectangle_in_every_format() {
    for pf in [
        PixelFormat::RGBX_LE,
        PF_XRGB_BE,
        PF_RGB565_BE,
        PF_BGR233,
        PF_CMAP8,
    ] {
        let make = || {
            let mut env = Env::new(48, 48, pf);
            let colours: Vec<[u16; 3]> = (0..256u16)
                .map(|i| [i << 8, !i << 8, i.wrapping_mul(97) << 8])
                .collect();
            env.cmap.set(0, &colours);
            env
        };
        // Nine tiles, 5 and 8 pixels at the edges: every subencoding, palettes reused.
        let (data, _) = generated(&make(), 37, 40, 1);
        let r = Rect {
            x: 3,
            y: 2,
            w: 37,
            h: 40,
        };
        let fed = assert_feeds_match_whole(make, Encoding::Trle, r, &data, every_split(data.len()));
        assert_eq!(fed, Fed::Complete { used: data.len() }, "{pf:?}");
    }
}

const LARGE: Rect = Rect {
    x: 0,
    y: 0,
    w: 480,
    h: 320,
};

#[test]
fn a_large_rectangle_in_pieces_decodes_as_whole() {
    let make = || Env::new(480, 320, PixelFormat::RGBX_LE);
    let (data, _) = generated(&make(), 480, 320, 7);
    let feeds = [1, 4096, 65536].map(|size| pieces(data.len(), size));
    let fed = assert_feeds_match_whole(make, Encoding::Trle, LARGE, &data, feeds);
    assert_eq!(fed, Fed::Complete { used: data.len() });
}

/// A rectangle arriving in pieces is read about once: each call reads again at most the step it
/// could not finish (a subencoding byte, or a run's CPIXEL and run-length bytes), not the tiles
/// before it. Retried from its first tile on every call, as before, it would be read about
/// `len / 8 KiB` times over in 4 KiB pieces.
#[test]
fn pieces_are_read_about_once() {
    let (data, _) = generated(&Env::new(1, 1, PixelFormat::RGBX_LE), 480, 320, 11);
    let len = data.len();
    // A run in a 16×16 tile has at most two run-length bytes.
    let unfinished_step = 3 + 2;
    for size in [4096, 64, 7, 1] {
        let mut env = Env::new(480, 320, PixelFormat::RGBX_LE);
        let ends = pieces(len, size);
        let calls = ends.len();
        let (fed, read) = env.feed(Encoding::Trle, LARGE, &data, ends);
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
    let make = || Env::new(24, 8, PixelFormat::RGBX_LE);
    let r4 = Rect {
        x: 0,
        y: 0,
        w: 4,
        h: 4,
    };
    let cases = [
        // Unused subencodings; reuse with no palette before.
        (r4, vec![17]),
        (r4, vec![127, 0]),
        (r4, vec![129, 0]),
        // Index 3 of a 3-colour packed palette.
        (r4, vec![3, 1, 0, 0, 2, 0, 0, 3, 0, 0, 0x00, 0xc0, 0, 0]),
        // Runs past the tile: plain, endless FF bytes, palette; an index past the palette.
        (r4, vec![128, 1, 2, 3, 16]),
        (r4, [vec![128, 1, 2, 3], vec![0xff; 40]].concat()),
        (r4, vec![130, 1, 1, 1, 2, 2, 2, 0x81, 3, 0x81, 0xff]),
        (r4, vec![130, 1, 1, 1, 2, 2, 2, 0x81, 3, 0x02]),
        // A 17-colour palette (from palette RLE) reused for packed indices in the next tile.
        (
            R,
            [vec![128 + 17], vec![1; 17 * 3], vec![0x80, 47, 127]].concat(),
        ),
    ];
    for (r, data) in cases {
        let fed = assert_feeds_match_whole(make, Encoding::Trle, r, &data, every_split(data.len()));
        assert!(
            matches!(fed, Fed::Invalid(Error::Invalid { .. })),
            "{fed:?}"
        );
    }
    // Late in a large rectangle: an unused subencoding; the rectangle cut short.
    let make = || Env::new(480, 320, PixelFormat::RGBX_LE);
    let (data, starts) = generated(&make(), 480, 320, 3);
    assert_late_error_and_truncation(make, Encoding::Trle, LARGE, &data, starts[500], 100);
}

/// Valid rectangles with a few bytes changed end the same way however they are cut.
#[test]
fn corrupted_rectangles_end_alike_in_pieces() {
    let mut next = xorshift(0x5eed);
    let make = || Env::new(48, 40, PixelFormat::RGBX_LE);
    let r = Rect {
        x: 0,
        y: 0,
        w: 48,
        h: 40,
    };
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
        assert_feeds_match_whole(make, Encoding::Trle, r, &bad, feeds);
    }
}
