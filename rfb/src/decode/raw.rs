//! Raw encoding (0): `w × h` pixels in the current pixel format, row by row.

use super::{check_bounds, pixel_bytes, DecodeContext};
use crate::error::Stall;
use crate::framebuffer::{Framebuffer, Rect};
use crate::wire::Reader;

pub(crate) fn decode(
    rect: Rect,
    r: &mut Reader<'_>,
    fb: &mut Framebuffer,
    ctx: &DecodeContext<'_>,
) -> Result<(), Stall> {
    check_bounds(&rect, fb)?;
    let bpp = ctx.pixel_format.bytes_per_pixel();
    let len = pixel_bytes(&rect, bpp, ctx.limits)?;
    let data = r.bytes(len)?;
    paint_pixels(rect, data, fb, ctx);
    Ok(())
}

/// Paints `rect` from `data`, which holds exactly `w × h` pixels of the context's format.
pub fn paint_pixels(rect: Rect, data: &[u8], fb: &mut Framebuffer, ctx: &DecodeContext<'_>) {
    let bpp = ctx.pixel_format.bytes_per_pixel();
    let row_bytes = usize::from(rect.w) * bpp;
    if row_bytes == 0 {
        return;
    }
    for (dy, src) in (0..rect.h).zip(data.chunks_exact(row_bytes)) {
        ctx.row_to_rgba(fb.row_mut(rect.x, rect.y.saturating_add(dy), rect.w), src);
    }
    fb.mark_dirty(rect);
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::error::{Error, LimitKind};
    use crate::messages::encoding::Encoding;
    use crate::PixelFormat;

    #[test]
    fn every_format_and_every_prefix() {
        let mut be_rgbx = PixelFormat::RGBX_LE;
        be_rgbx.big_endian = true;
        (be_rgbx.red_shift, be_rgbx.green_shift, be_rgbx.blue_shift) = (24, 16, 8);
        for pf in [
            PixelFormat::RGBX_LE,
            be_rgbx,
            PF_XRGB_BE,
            PF_RGB565_BE,
            PF_BGR233,
            PF_CMAP8,
        ] {
            let mut env = Env::new(4, 4, pf);
            env.cmap.set(1, &[[0xffff, 0xffff, 0]]);
            let c = if pf.true_colour {
                [255, 255, 0]
            } else {
                [1, 0, 0]
            };
            let data: Vec<u8> = [c, [0, 0, 0]].iter().flat_map(|c| env.px(*c)).collect();
            env.run_all_prefixes(Encoding::Raw, rect(1, 2, 2, 1), &data);
            assert_eq!(env.pixel(1, 2), [255, 255, 0, 255], "{pf:?}");
            assert_eq!(env.pixel(2, 2), env.rgba([0, 0, 0]));
        }
    }

    #[test]
    fn cve_2014_6051_sizes_are_checked() {
        let mut env = Env::new(4, 4, PixelFormat::RGBX_LE);
        let e = env.run_err(Encoding::Raw, rect(3, 0, 2, 1), &[0; 8]);
        assert!(matches!(e, Error::RectOutOfBounds { .. }));
        env.limits.max_rect_bytes = 8;
        let e = env.run_err(Encoding::Raw, rect(0, 0, 3, 1), &[0; 12]);
        assert!(matches!(
            e,
            Error::LimitExceeded {
                limit: LimitKind::RectBytes,
                got: 12,
                ..
            }
        ));
        assert!(env.run(Encoding::Raw, rect(4, 4, 0, 0), &[]).is_ok());
    }
}
