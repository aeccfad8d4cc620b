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
    let rgbx = ctx.pixel_format.is_rgbx() && !ctx.pixel_format.big_endian;
    for (dy, src) in data
        .chunks_exact(row_bytes)
        .take(usize::from(rect.h))
        .enumerate()
    {
        // dy < rect.h ≤ u16::MAX.
        let y = rect.y + dy as u16;
        let dst = fb.row_mut(rect.x, y, rect.w);
        if rgbx {
            dst.copy_from_slice(src);
            for px in dst.chunks_exact_mut(4) {
                px[3] = 0xff;
            }
        } else {
            for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(bpp)) {
                d.copy_from_slice(&ctx.rgba(s));
            }
        }
    }
    fb.mark_dirty(rect);
}
