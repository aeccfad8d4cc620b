//! Hextile encoding (5): 16×16 tiles, left to right then top to bottom (edge tiles smaller),
//! each led by a mask byte.
//!
//! | bit | value | meaning |
//! |---|---|---|
//! | 0 | 1 | Raw: `tw × th` pixels follow, the other bits are ignored |
//! | 1 | 2 | BackgroundSpecified: a pixel follows |
//! | 2 | 4 | ForegroundSpecified: a pixel follows |
//! | 3 | 8 | AnySubrects: a `U8` count follows, then the subrectangles |
//! | 4 | 16 | SubrectsColoured: each subrectangle is preceded by its pixel |
//!
//! A subrectangle is two bytes: x (high nibble) y (low), then w−1 and h−1. Carry-over: the
//! background and foreground carry to the next tile, but neither survives a Raw tile, the
//! foreground does not survive a SubrectsColoured tile, and the first non-raw tile must set a
//! background. Subrectangles are checked against the actual (edge) tile size.
//!
//! Hextile has no length prefix, so tiles are decoded into a scratch canvas that reaches the
//! framebuffer only when the last tile was read.

use super::canvas::{Canvas, Sink};
use super::{check_bounds, pixel_bytes, DecodeContext};
use crate::error::{Error, Stall};
use crate::framebuffer::{Framebuffer, Rect};
use crate::wire::Reader;

const RAW: u8 = 0x01;
const BACKGROUND: u8 = 0x02;
const FOREGROUND: u8 = 0x04;
const ANY_SUBRECTS: u8 = 0x08;
const SUBRECTS_COLOURED: u8 = 0x10;
const UNDEFINED_BITS: u8 = 0xe0;
const TILE: u16 = 16;

pub(crate) fn decode(
    rect: Rect,
    r: &mut Reader<'_>,
    fb: &mut Framebuffer,
    ctx: &DecodeContext<'_>,
    scratch: &mut Vec<u8>,
) -> Result<(), Stall> {
    check_bounds(&rect, fb)?;
    pixel_bytes(&rect, 4, ctx.limits)?;
    let mut canvas = Canvas::new(rect.w, rect.h, scratch);
    decode_tiles(rect.w, rect.h, r, ctx, &mut canvas)?;
    canvas.blit(fb, rect);
    Ok(())
}

fn decode_tiles(
    w: u16,
    h: u16,
    r: &mut Reader<'_>,
    ctx: &DecodeContext<'_>,
    sink: &mut impl Sink,
) -> Result<(), Stall> {
    let bpp = ctx.bytes_per_pixel();
    let mut background: Option<[u8; 4]> = None;
    let mut foreground: Option<[u8; 4]> = None;
    for ty in (0..h).step_by(usize::from(TILE)) {
        let th = (h - ty).min(TILE);
        for tx in (0..w).step_by(usize::from(TILE)) {
            let tw = (w - tx).min(TILE);
            let mask = r.u8()?;
            if mask & UNDEFINED_BITS != 0 {
                return Err(Error::Invalid {
                    field: "Hextile tile mask",
                    got: mask.into(),
                    why: "bits 5-7 are not defined",
                }
                .into());
            }
            if mask & RAW != 0 {
                let row_len = usize::from(tw) * bpp;
                let data = r.bytes(row_len * usize::from(th))?;
                for (dy, src) in (0..th).zip(data.chunks_exact(row_len)) {
                    let dst = sink.row(tx, ty + dy, tw);
                    for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(bpp)) {
                        d.copy_from_slice(&ctx.rgba(s));
                    }
                }
                background = None;
                foreground = None;
                continue;
            }
            if mask & BACKGROUND != 0 {
                background = Some(ctx.rgba(r.bytes(bpp)?));
            }
            if mask & FOREGROUND != 0 {
                foreground = Some(ctx.rgba(r.bytes(bpp)?));
            }
            let Some(bg) = background else {
                return Err(Error::Invalid {
                    field: "Hextile tile mask",
                    got: mask.into(),
                    why: "the tile has no background and none carries over to it",
                }
                .into());
            };
            sink.fill(tx, ty, tw, th, bg);
            if mask & ANY_SUBRECTS != 0 {
                let coloured = mask & SUBRECTS_COLOURED != 0;
                for _ in 0..r.u8()? {
                    let colour = if coloured {
                        ctx.rgba(r.bytes(bpp)?)
                    } else {
                        foreground.ok_or_else(|| Error::Invalid {
                            field: "Hextile tile mask",
                            got: mask.into(),
                            why: "single-colour subrectangles without a foreground colour",
                        })?
                    };
                    let [xy, wh] = r.array()?;
                    let (sx, sy) = (u16::from(xy >> 4), u16::from(xy & 0x0f));
                    let (sw, sh) = (u16::from(wh >> 4) + 1, u16::from(wh & 0x0f) + 1);
                    if sx + sw > tw || sy + sh > th {
                        return Err(Error::Invalid {
                            field: "Hextile subrectangle",
                            got: u64::from(u16::from_be_bytes([xy, wh])),
                            why: "it reaches outside its tile",
                        }
                        .into());
                    }
                    sink.fill(tx + sx, ty + sy, sw, sh, colour);
                }
            }
            if mask & SUBRECTS_COLOURED != 0 {
                foreground = None;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
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
        v.extend_from_slice(&[2, 0x11, 0x12, 0xff, 0x00]); // (1,1) 2x3, (15,15) 1x1
                                                           // Tile 2 (4×16): background carries, coloured subrect.
        v.push(ANY_SUBRECTS | SUBRECTS_COLOURED);
        v.push(1);
        v.extend(env.px(BLUE));
        v.extend_from_slice(&[0x30, 0x0f]); // (3,0) 1x16
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
}
