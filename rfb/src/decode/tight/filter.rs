//! Tight basic compression's filters, applied to the (inflated) data of one rectangle whose
//! size [`super::filtered_size`] already checked: copy, palette and gradient.
//!
//! Gradient: each colour component is predicted as `P = clamp(left + up − up-left, 0, max)`
//! (zero outside the rectangle) and the data holds `V − P` modulo `max + 1`. For 3-byte
//! TPIXELs the components are the R, G, B bytes; otherwise they are taken from the pixel
//! format's shifts and maxima.

use super::super::raw::paint_pixels;
use super::super::{paint_rgb24, DecodeContext};
use super::{tpixel, Filter};
use crate::error::{Error, Stall};
use crate::framebuffer::{Framebuffer, Rect};

pub(super) fn paint(
    rect: Rect,
    data: &[u8],
    filter: Filter<'_>,
    tpx: usize,
    fb: &mut Framebuffer,
    ctx: &DecodeContext<'_>,
) -> Result<(), Stall> {
    if rect.is_empty() {
        return Ok(());
    }
    match filter {
        Filter::Copy if tpx == 3 => paint_rgb24(rect, data, fb),
        Filter::Copy => paint_pixels(rect, data, fb, ctx),
        Filter::Palette { n, colours } => palette(rect, data, n, colours, tpx, fb, ctx)?,
        Filter::Gradient if tpx == 3 => gradient_rgb24(rect, data, fb),
        Filter::Gradient => gradient_generic(rect, data, fb, ctx),
    }
    fb.mark_dirty(rect);
    Ok(())
}

fn palette(
    rect: Rect,
    data: &[u8],
    n: usize,
    colours: &[u8],
    tpx: usize,
    fb: &mut Framebuffer,
    ctx: &DecodeContext<'_>,
) -> Result<(), Stall> {
    let table: Vec<[u8; 4]> = colours
        .chunks_exact(tpx.max(1))
        .map(|p| tpixel(p, ctx))
        .collect();
    let w = usize::from(rect.w);
    let row_len = if n == 2 { w.div_ceil(8) } else { w };
    for (dy, src) in (0..rect.h).zip(data.chunks_exact(row_len)) {
        let dst = fb.row_mut(rect.x, rect.y.saturating_add(dy), rect.w);
        for (x, d) in dst.chunks_exact_mut(4).enumerate() {
            let index = if n == 2 {
                let byte = src.get(x / 8).copied().unwrap_or(0);
                (byte >> (7 - x % 8)) & 1
            } else {
                src.get(x).copied().unwrap_or(0)
            };
            // `ok_or_else`: an eager `ok_or` built (and dropped) an Error for every pixel.
            let colour = table
                .get(usize::from(index))
                .ok_or_else(|| Error::Invalid {
                    field: "Tight palette index",
                    got: index.into(),
                    why: "not below the palette size",
                })?;
            d.copy_from_slice(colour);
        }
    }
    Ok(())
}

fn gradient_rgb24(rect: Rect, data: &[u8], fb: &mut Framebuffer) {
    let row_len = usize::from(rect.w) * 3;
    let mut prev = vec![0u8; row_len];
    let mut this = vec![0u8; row_len];
    for (dy, src) in (0..rect.h).zip(data.chunks_exact(row_len)) {
        let mut left = [0u8; 3];
        let mut upleft = [0u8; 3];
        for ((d, up), out) in src
            .chunks_exact(3)
            .zip(prev.chunks_exact(3))
            .zip(this.chunks_exact_mut(3))
        {
            let mut pix = [0u8; 3];
            for ((((p, dv), uv), l), ul) in pix.iter_mut().zip(d).zip(up).zip(&left).zip(&upleft) {
                let est = (i16::from(*l) + i16::from(*uv) - i16::from(*ul)).clamp(0, 255);
                *p = dv.wrapping_add(u8::try_from(est).unwrap_or(u8::MAX));
            }
            out.copy_from_slice(&pix);
            upleft.copy_from_slice(up);
            left = pix;
        }
        let dst = fb.row_mut(rect.x, rect.y.saturating_add(dy), rect.w);
        for (d, p) in dst.chunks_exact_mut(4).zip(this.chunks_exact(3)) {
            if let [r, g, b] = p {
                d.copy_from_slice(&[*r, *g, *b, 0xff]);
            }
        }
        std::mem::swap(&mut prev, &mut this);
    }
}

fn gradient_generic(rect: Rect, data: &[u8], fb: &mut Framebuffer, ctx: &DecodeContext<'_>) {
    let pf = ctx.pixel_format;
    let bpp = pf.bytes_per_pixel().max(1);
    let max = [pf.red_max, pf.green_max, pf.blue_max].map(u32::from);
    let shift = [pf.red_shift, pf.green_shift, pf.blue_shift].map(u32::from);
    let w = usize::from(rect.w);
    let mut prev = vec![[0u32; 3]; w];
    let mut this = vec![[0u32; 3]; w];
    for (dy, src) in (0..rect.h).zip(data.chunks_exact(w * bpp)) {
        let mut left = [0u32; 3];
        let mut upleft = [0u32; 3];
        let dst = fb.row_mut(rect.x, rect.y.saturating_add(dy), rect.w);
        for (((px, up), out), d) in src
            .chunks_exact(bpp)
            .zip(&prev)
            .zip(this.iter_mut())
            .zip(dst.chunks_exact_mut(4))
        {
            let v = pf.pixel_value(px);
            let comps: [u32; 3] = std::array::from_fn(|c| {
                let (m, s) = (max[c], shift[c]);
                let est = (i64::from(left[c]) + i64::from(up[c]) - i64::from(upleft[c]))
                    .clamp(0, i64::from(m));
                let est = u32::try_from(est).unwrap_or(0);
                v.checked_shr(s).unwrap_or(0).wrapping_add(est) & m
            });
            *out = comps;
            let value = comps
                .iter()
                .zip(shift)
                .fold(0, |acc, (c, s)| acc | c.checked_shl(s).unwrap_or(0));
            d.copy_from_slice(&pf.value_to_rgba(value));
            upleft = *up;
            left = *out;
        }
        std::mem::swap(&mut prev, &mut this);
    }
}
