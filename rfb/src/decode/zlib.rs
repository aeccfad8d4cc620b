//! Zlib encoding (6): `U32 len`, then zlib data that inflates to exactly the Raw pixels of the
//! rectangle. One zlib stream serves the whole connection and is never reset, so the bytes
//! are read whole before the stream is touched (a lost rectangle would poison the rest).

use super::inflate::Inflater;
use super::raw::paint_pixels;
use super::{check_bounds, checked_len, pixel_bytes, DecodeContext};
use crate::error::{LimitKind, Stall};
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
    let expected = pixel_bytes(&rect, ctx.bytes_per_pixel(), ctx.limits)?;
    let len = checked_len(r.u32()?, LimitKind::RectBytes, ctx.limits.max_rect_bytes)?;
    let data = r.bytes(len)?;
    stream.inflate_exact("Zlib", data, inflated, expected)?;
    paint_pixels(rect, inflated, fb, ctx);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::error::{Error, LimitKind};
    use crate::messages::encoding::Encoding;
    use crate::PixelFormat;

    fn rect_bytes(d: &mut Deflater, pixels: &[u8]) -> Vec<u8> {
        let c = d.chunk(pixels);
        let mut v = (c.len() as u32).to_be_bytes().to_vec();
        v.extend(c);
        v
    }

    #[test]
    fn one_stream_across_rectangles_in_every_format() {
        for pf in [PixelFormat::RGBX_LE, PF_RGB565_BE, PF_BGR233, PF_XRGB_BE] {
            let mut env = Env::new(8, 8, pf);
            let mut d = Deflater::new();
            let colours = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]];
            let pixels: Vec<u8> = colours.iter().flat_map(|c| env.px(*c)).collect();
            let first = rect_bytes(&mut d, &pixels);
            env.run_all_prefixes(Encoding::Zlib, rect(0, 0, 2, 2), &first);
            // The second rectangle's data refers back to the first's.
            let second = rect_bytes(&mut d, &pixels);
            env.run_all_prefixes(Encoding::Zlib, rect(4, 4, 4, 1), &second);
            assert_eq!(env.pixel(0, 0), env.rgba([255, 0, 0]), "{pf:?}");
            assert_eq!(env.pixel(1, 1), env.rgba([255, 255, 255]));
            assert_eq!(env.pixel(5, 4), env.rgba([0, 255, 0]));
        }
    }

    #[test]
    fn cve_2016_9942_output_must_match_the_rectangle() {
        let mut env = Env::new(8, 8, PixelFormat::RGBX_LE);
        let mut d = Deflater::new();
        let data = rect_bytes(&mut d, &[7; 4 * 5]);
        let e = env.run_err(Encoding::Zlib, rect(0, 0, 2, 2), &data);
        assert_eq!(
            e,
            Error::InflatedTooLong {
                encoding: "Zlib",
                max: 16
            }
        );
        let mut env = Env::new(8, 8, PixelFormat::RGBX_LE);
        let mut d = Deflater::new();
        let data = rect_bytes(&mut d, &[7; 4 * 3]);
        let e = env.run_err(Encoding::Zlib, rect(0, 0, 2, 2), &data);
        assert!(matches!(
            e,
            Error::InflatedSize {
                expected: 16,
                got: 12,
                ..
            }
        ));
    }

    #[test]
    fn huge_lengths_and_garbage() {
        let mut env = Env::new(8, 8, PixelFormat::RGBX_LE);
        let e = env.run_err(Encoding::Zlib, rect(0, 0, 1, 1), &[0xff; 4]);
        assert!(matches!(
            e,
            Error::LimitExceeded {
                limit: LimitKind::RectBytes,
                ..
            }
        ));
        let e = env.run_err(Encoding::Zlib, rect(0, 0, 1, 1), &[0, 0, 0, 3, 1, 2, 3]);
        assert_eq!(e, Error::ZlibCorrupt { encoding: "Zlib" });
    }
}
