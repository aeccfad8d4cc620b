//! ZRLE encoding (16): `U32 len`, then zlib data (one stream for the whole connection) holding
//! 64×64 tiles in the grammar of [`super::trle`].
//!
//! The bytes are read whole before the stream is touched. The inflated size is not sent, so
//! it is bounded by the most any valid tile grammar can take for the rectangle, and by
//! `max_inflated_bytes`; the tiles must then use the inflated bytes exactly.

use super::canvas::FbSink;
use super::inflate::Inflater;
use super::trle::{decode_tiles, CPixel, Flavour};
use super::{check_bounds, checked_len, DecodeContext};
use crate::error::{Error, LimitKind, Stall};
use crate::framebuffer::{Framebuffer, Rect};
use crate::wire::Reader;

pub(crate) fn decode(
    rect: Rect,
    r: &mut Reader<'_>,
    fb: &mut Framebuffer,
    ctx: &DecodeContext<'_>,
    stream: &mut Inflater,
    inflated: &mut Vec<u8>,
) -> Result<(), Stall> {
    check_bounds(&rect, fb)?;
    let len = checked_len(r.u32()?, LimitKind::RectBytes, ctx.limits.max_rect_bytes)?;
    let data = r.bytes(len)?;
    let limit = ctx.limits.max_inflated_bytes;
    let bound = max_inflated(rect, CPixel::for_format(ctx.pixel_format).size());
    let max = usize::try_from(bound).map_or(limit, |b| b.min(limit));
    match stream.inflate("ZRLE", data, inflated, max) {
        Err(Error::InflatedTooLong { .. }) if max == limit => {
            return Err(Error::limit(LimitKind::InflatedBytes, limit as u64 + 1, limit).into());
        }
        other => other?,
    }
    let mut tiles = Reader::new(inflated);
    let mut sink = FbSink { fb, rect };
    match decode_tiles(rect.w, rect.h, &mut tiles, ctx, &mut sink, Flavour::Zrle) {
        Ok(()) => {}
        Err(Stall::Incomplete(_)) => {
            return Err(Error::Invalid {
                field: "ZRLE data",
                got: inflated.len() as u64,
                why: "it ends inside a tile",
            }
            .into())
        }
        Err(e) => return Err(e),
    }
    if tiles.remaining() != 0 {
        return Err(Error::Invalid {
            field: "ZRLE data",
            got: tiles.remaining() as u64,
            why: "bytes are left over after the last tile",
        }
        .into());
    }
    fb.mark_dirty(rect);
    Ok(())
}

/// The most inflated bytes a valid rectangle can need: per tile a subencoding byte and a
/// 127-colour palette, per pixel a CPIXEL and a run-length byte (plain RLE of length 1).
fn max_inflated(rect: Rect, cpixel: usize) -> u64 {
    let tiles = u64::from(rect.w.div_ceil(64)) * u64::from(rect.h.div_ceil(64));
    let pixels = u64::from(rect.w) * u64::from(rect.h);
    let cpixel = cpixel as u64;
    tiles * (1 + 127 * cpixel) + pixels * (cpixel + 1)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::messages::encoding::Encoding;
    use crate::PixelFormat;

    fn wrap(d: &mut Deflater, tiles: &[u8]) -> Vec<u8> {
        let c = d.chunk(tiles);
        let mut v = (c.len() as u32).to_be_bytes().to_vec();
        v.extend(c);
        v
    }

    #[test]
    fn tiles_of_64_on_one_stream() {
        let mut env = Env::new(100, 70, PixelFormat::RGBX_LE);
        let mut d = Deflater::new();
        // 70×66: tiles 64×64, 6×64, 64×2, 6×2 — solid, plain RLE, palette RLE, packed.
        let mut t = vec![1, 255, 0, 0];
        t.extend_from_slice(&[128, 0, 255, 0, 200, 0, 0, 255, 182]); // 201 green + 183 blue
        t.extend_from_slice(&[130, 9, 9, 9, 7, 7, 7, 0x80, 126, 0x01]); // 127 × [9] + 1 × [7]
        t.extend_from_slice(&[2, 1, 1, 1, 2, 2, 2, 0b1010_1000, 0b0101_0000]);
        let data = wrap(&mut d, &t);
        env.run_all_prefixes(Encoding::Zrle, rect(10, 2, 70, 66), &data);
        assert_eq!(env.pixel(10, 2), [255, 0, 0, 255]);
        assert_eq!(env.pixel(73, 65), [255, 0, 0, 255]);
        assert_eq!(env.pixel(74, 2), [0, 255, 0, 255]);
        assert_eq!(env.pixel(74 + 200 % 6, 2 + 200 / 6), [0, 255, 0, 255]);
        assert_eq!(env.pixel(74 + 201 % 6, 2 + 201 / 6), [0, 0, 255, 255]);
        assert_eq!(env.pixel(79, 65), [0, 0, 255, 255]);
        assert_eq!(env.pixel(10, 66), [9, 9, 9, 255]);
        assert_eq!(env.pixel(73, 67), [7, 7, 7, 255]);
        assert_eq!(env.pixel(74, 66), [2, 2, 2, 255]);
        assert_eq!(env.pixel(75, 66), [1, 1, 1, 255]);
        assert_eq!(env.pixel(75, 67), [2, 2, 2, 255]);
        // A second rectangle on the same stream.
        let data = wrap(&mut d, &[1, 255, 0, 0]);
        env.run_all_prefixes(Encoding::Zrle, rect(0, 0, 5, 5), &data);
        assert_eq!(env.pixel(4, 4), [255, 0, 0, 255]);
    }

    #[test]
    fn short_long_and_unused() {
        let mut env = Env::new(8, 8, PixelFormat::RGBX_LE);
        let mut d = Deflater::new();
        let data = wrap(&mut d, &[1, 1, 2]);
        let e = env.run_err(Encoding::Zrle, rect(0, 0, 8, 8), &data);
        assert!(
            matches!(e, Error::Invalid { field: "ZRLE data", why, .. } if why.contains("inside"))
        );
        let mut d = Deflater::new();
        let data = wrap(&mut d, &[1, 1, 2, 3, 0]);
        let e =
            Env::new(8, 8, PixelFormat::RGBX_LE).run_err(Encoding::Zrle, rect(0, 0, 8, 8), &data);
        assert!(matches!(
            e,
            Error::Invalid {
                field: "ZRLE data",
                got: 1,
                ..
            }
        ));
        // commit 8f6b47dd shapes: subencodings 17, 127 and 129 are not ZRLE.
        for sub in [17, 127, 129] {
            let mut d = Deflater::new();
            let data = wrap(&mut d, &[sub; 64]);
            let e = Env::new(8, 8, PixelFormat::RGBX_LE).run_err(
                Encoding::Zrle,
                rect(0, 0, 8, 8),
                &data,
            );
            assert!(
                matches!(
                    e,
                    Error::Invalid {
                        field: "ZRLE subencoding",
                        ..
                    }
                ),
                "{sub}: {e}"
            );
        }
    }

    #[test]
    fn inflated_output_is_bounded() {
        let mut d = Deflater::new();
        let data = wrap(&mut d, &vec![0; 100_000]);
        let e =
            Env::new(8, 8, PixelFormat::RGBX_LE).run_err(Encoding::Zrle, rect(0, 0, 2, 2), &data);
        assert!(
            matches!(
                e,
                Error::InflatedTooLong {
                    encoding: "ZRLE",
                    ..
                }
            ),
            "{e}"
        );
        let mut env = Env::new(8, 8, PixelFormat::RGBX_LE);
        env.limits.max_inflated_bytes = 10;
        let e = env.run_err(Encoding::Zrle, rect(0, 0, 8, 8), &data);
        assert!(
            matches!(
                e,
                Error::LimitExceeded {
                    limit: LimitKind::InflatedBytes,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn cpixel_layouts() {
        assert_eq!(CPixel::for_format(&PixelFormat::RGBX_LE), CPixel::First3);
        assert_eq!(CPixel::for_format(&PF_XRGB_BE), CPixel::Last3);
        assert_eq!(CPixel::for_format(&PF_RGBX_HIGH_LE), CPixel::Last3);
        assert_eq!(CPixel::for_format(&PF_RGB565_BE), CPixel::Full(2));
        assert_eq!(CPixel::for_format(&PF_CMAP8), CPixel::Full(1));
        let mut deep = PixelFormat::RGBX_LE;
        deep.depth = 32;
        assert_eq!(CPixel::for_format(&deep), CPixel::Full(4));
        let mut be_high = PF_RGBX_HIGH_LE;
        be_high.big_endian = true;
        assert_eq!(CPixel::for_format(&be_high), CPixel::First3);
    }

    #[test]
    fn three_byte_cpixels_decode_in_each_layout() {
        for pf in [
            PixelFormat::RGBX_LE,
            PF_XRGB_BE,
            PF_RGBX_HIGH_LE,
            PF_RGB565_BE,
        ] {
            let mut env = Env::new(4, 4, pf);
            let full = env.px([10, 200, 30]);
            let cpixel = match CPixel::for_format(&pf) {
                CPixel::First3 => full[..3].to_vec(),
                CPixel::Last3 => full[1..].to_vec(),
                CPixel::Full(_) => full,
            };
            let mut tile = vec![1];
            tile.extend(cpixel);
            let data = wrap(&mut Deflater::new(), &tile);
            env.run_all_prefixes(Encoding::Zrle, rect(0, 0, 4, 4), &data);
            assert_eq!(env.pixel(3, 3), env.rgba([10, 200, 30]), "{pf:?}");
        }
    }
}
