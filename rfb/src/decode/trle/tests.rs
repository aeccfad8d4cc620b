//! TRLE decoding and the shared tile grammar's hostile-input checks; rectangles arriving in
//! pieces in [`pieces`].

use super::super::test_util::*;
use super::*;
use crate::messages::encoding::Encoding;

const R: Rect = Rect {
    x: 1,
    y: 1,
    w: 20,
    h: 3,
};

/// Two tiles (16×3 and 4×3 in `R`).
fn two_tiles(first: &[u8], second: &[u8]) -> Vec<u8> {
    [first, second].concat()
}

fn cp(env: &Env, rgb: [u8; 3]) -> Vec<u8> {
    let full = env.px(rgb);
    match CPixel::for_format(&env.pf) {
        CPixel::First3 => full[..3].to_vec(),
        CPixel::Last3 => full[1..].to_vec(),
        CPixel::Full(_) => full,
    }
}

#[test]
fn raw_solid_and_reused_palettes_in_every_format() {
    for pf in [
        PixelFormat::RGBX_LE,
        PF_XRGB_BE,
        PF_RGB565_BE,
        PF_BGR233,
        PF_CMAP8,
    ] {
        let mut env = Env::new(24, 8, pf);
        env.cmap.set(10, &[[0xffff, 0, 0], [0, 0xffff, 0]]);
        let (a, b) = if pf.true_colour {
            ([255, 0, 0], [0, 255, 0])
        } else {
            ([10, 0, 0], [11, 0, 0])
        };
        // Tile 1: packed palette [a, b], rows of 16 one-bit indices.
        let mut t1 = vec![2];
        t1.extend(cp(&env, a));
        t1.extend(cp(&env, b));
        t1.extend_from_slice(&[0x80, 0x00, 0x00, 0x00, 0x00, 0x01]);
        // Tile 2: palette RLE reusing [a, b]: b × 11, a × 1.
        let data = two_tiles(&t1, &[129, 0x81, 10, 0x00]);
        env.run_all_prefixes(Encoding::Trle, R, &data);
        let (ra, rb) = (env.rgba(a), env.rgba(b));
        assert_eq!(env.pixel(1, 1), rb, "{pf:?}");
        assert_eq!(env.pixel(2, 1), ra);
        assert_eq!(env.pixel(16, 3), rb);
        assert_eq!(env.pixel(17, 1), rb);
        assert_eq!(env.pixel(20, 3), ra);
        // Raw, then solid.
        let mut t1 = vec![0];
        for i in 0..48 {
            t1.extend(cp(&env, if i == 47 { b } else { a }));
        }
        let mut t2 = vec![1];
        t2.extend(cp(&env, b));
        env.run_all_prefixes(Encoding::Trle, R, &two_tiles(&t1, &t2));
        assert_eq!(env.pixel(1, 1), ra);
        assert_eq!(env.pixel(16, 3), rb);
        assert_eq!(env.pixel(20, 3), rb);
    }
}

#[test]
fn packed_palette_widths() {
    let mut env = Env::new(16, 2, PixelFormat::RGBX_LE);
    // 3 colours → 2 bits; 5 colours → 4 bits.
    let mut v = vec![3, 1, 0, 0, 2, 0, 0, 3, 0, 0];
    v.extend_from_slice(&[0b0001_1000, 0, 0, 0, 0, 0, 0, 0]);
    let r = Rect {
        x: 0,
        y: 0,
        w: 16,
        h: 2,
    };
    env.run_all_prefixes(Encoding::Trle, r, &v);
    assert_eq!(env.pixel(0, 0), [1, 0, 0, 255]);
    assert_eq!(env.pixel(1, 0), [2, 0, 0, 255]);
    assert_eq!(env.pixel(2, 0), [3, 0, 0, 255]);
    let mut v = vec![5];
    for i in 1..=5 {
        v.extend_from_slice(&[i, 0, 0]);
    }
    v.extend_from_slice(&[0x34]);
    v.extend_from_slice(&[0; 15]);
    env.run_all_prefixes(Encoding::Trle, r, &v);
    assert_eq!(env.pixel(0, 0), [4, 0, 0, 255]);
    assert_eq!(env.pixel(1, 0), [5, 0, 0, 255]);
    assert_eq!(env.pixel(2, 0), [1, 0, 0, 255]);
    // Index 3 in a 3-colour palette.
    let mut v = vec![3, 1, 0, 0, 2, 0, 0, 3, 0, 0, 0xc0];
    v.extend_from_slice(&[0; 7]);
    let e = env.run_err(Encoding::Trle, r, &v);
    assert!(matches!(
        e,
        Error::Invalid {
            field: "ZRLE/TRLE palette index",
            got: 3,
            ..
        }
    ));
}

#[test]
fn runs_may_not_overflow_the_tile() {
    let mut env = Env::new(16, 16, PixelFormat::RGBX_LE);
    let r = Rect {
        x: 0,
        y: 0,
        w: 4,
        h: 4,
    };
    // Plain RLE of 17 in a 16-pixel tile.
    let e = env.run_err(Encoding::Trle, r, &[128, 1, 2, 3, 16]);
    assert!(matches!(
        e,
        Error::Invalid {
            field: "ZRLE/TRLE run length",
            got: 17,
            ..
        }
    ));
    // commits 2d6da39f / e33d9c93: endless FF run bytes stop at the tile size.
    let mut v = vec![128, 1, 2, 3];
    v.extend_from_slice(&[0xff; 1000]);
    let e = env.run_err(Encoding::Trle, r, &v);
    assert!(matches!(
        e,
        Error::Invalid {
            field: "ZRLE/TRLE run length",
            ..
        }
    ));
    // Palette RLE index beyond the palette, and an overflowing palette run.
    let e = env.run_err(Encoding::Trle, r, &[130, 1, 1, 1, 2, 2, 2, 0x02]);
    assert!(matches!(
        e,
        Error::Invalid {
            field: "ZRLE/TRLE palette index",
            got: 2,
            ..
        }
    ));
    let e = env.run_err(Encoding::Trle, r, &[130, 1, 1, 1, 2, 2, 2, 0x81, 0xff]);
    assert!(matches!(
        e,
        Error::Invalid {
            field: "ZRLE/TRLE run length",
            ..
        }
    ));
    // An exact fill is fine: 16 = 1 + 15.
    env.run_all_prefixes(Encoding::Trle, r, &[128, 1, 2, 3, 15]);
    assert_eq!(env.pixel(3, 3), [1, 2, 3, 255]);
}

#[test]
fn unused_and_unreusable_subencodings() {
    let r = Rect {
        x: 0,
        y: 0,
        w: 4,
        h: 4,
    };
    for sub in [17, 100, 126] {
        let e = Env::new(4, 4, PixelFormat::RGBX_LE).run_err(Encoding::Trle, r, &[sub]);
        assert!(
            matches!(
                e,
                Error::Invalid {
                    field: "TRLE subencoding",
                    ..
                }
            ),
            "{sub}"
        );
    }
    for sub in [127, 129] {
        let e = Env::new(4, 4, PixelFormat::RGBX_LE).run_err(Encoding::Trle, r, &[sub, 0]);
        assert!(
            matches!(e, Error::Invalid { why, .. } if why.contains("previous")),
            "{sub}: {e}"
        );
    }
    // A 17-colour palette (from palette RLE) cannot be reused for packed indices.
    let mut v = vec![128 + 17];
    v.extend(std::iter::repeat_n(1u8, 17 * 3));
    v.extend_from_slice(&[0x80, 63]);
    let big = Rect {
        x: 0,
        y: 0,
        w: 20,
        h: 4,
    };
    let mut env = Env::new(20, 4, PixelFormat::RGBX_LE);
    let e = env.run_err(Encoding::Trle, big, &[v.clone(), vec![127]].concat());
    assert!(
        matches!(e, Error::Invalid { why, .. } if why.contains("packed")),
        "{e}"
    );
    // Out of bounds and zero size.
    let e = env.run_err(Encoding::Trle, Rect { x: 5, ..big }, &v);
    // … but a palette RLE tile may reuse it (129).
    let data = [v.clone(), vec![129, 0x90, 15]].concat();
    env.run_all_prefixes(Encoding::Trle, big, &data);
    assert_eq!(env.pixel(19, 3), [1, 1, 1, 255]);
    assert!(matches!(e, Error::RectOutOfBounds { .. }));
    assert!(env.run(Encoding::Trle, Rect { w: 0, ..big }, &[]).is_ok());
}

#[test]
fn cpixel_rows_convert_like_single_pixels() {
    let mut be_rgbx = PixelFormat::RGBX_LE;
    be_rgbx.big_endian = true;
    (be_rgbx.red_shift, be_rgbx.green_shift, be_rgbx.blue_shift) = (24, 16, 8);
    let cmap = crate::framebuffer::ColourMap::default();
    let limits = crate::Limits::default();
    // The first two take the copying path.
    for (i, pf) in [PixelFormat::RGBX_LE, be_rgbx, PF_XRGB_BE, PF_RGB565_BE]
        .into_iter()
        .enumerate()
    {
        let ctx = DecodeContext::new(&pf, &cmap, &limits);
        let cp = CPixel::for_format(&pf);
        assert_eq!(ctx.is_rgbx() && cp == CPixel::First3, i < 2, "{pf:?}");
        let src: Vec<u8> = (0..5 * cp.size()).map(|i| (i * 37 + 11) as u8).collect();
        let mut row = vec![0; 5 * 4];
        cp.row_rgba(&src, &mut row, &ctx);
        let each: Vec<u8> = src
            .chunks_exact(cp.size())
            .flat_map(|s| cp.rgba(s, &ctx))
            .collect();
        assert_eq!(row, each, "{pf:?}");
    }
}

mod pieces;
