//! Cursor pseudo-encoding (−239): the rectangle's x, y are the hotspot and w, h the size; the
//! data is `w × h` pixels in the current pixel format, then a bitmask of `⌈w/8⌉ × h` bytes
//! (most significant bit leftmost, 1 = visible). `w = 0` or `h = 0` means no data.
//!
//! The size is held to `max_cursor_side` before anything is read (libvncclient's
//! CVE-2019-15690 / CVE-2019-20788 overflowed `w × h × Bpp`).

use super::DecodeContext;
use crate::error::{Error, LimitKind, Stall};
use crate::framebuffer::Rect;
use crate::wire::Reader;

/// A cursor image: RGBA, row-major, fully transparent where the mask is clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorShape {
    pub width: u16,
    pub height: u16,
    /// The hotspot, clamped into the image.
    pub hotspot_x: u16,
    pub hotspot_y: u16,
    /// `width × height × 4` bytes; empty for an empty (invisible) cursor.
    pub rgba: Vec<u8>,
}

pub(crate) fn decode(
    rect: Rect,
    r: &mut Reader<'_>,
    ctx: &DecodeContext<'_>,
) -> Result<CursorShape, Stall> {
    let max = ctx.limits.max_cursor_side;
    if rect.w > max || rect.h > max {
        let got = rect.w.max(rect.h);
        return Err(Error::limit(LimitKind::CursorSide, got.into(), max.into()).into());
    }
    let mut shape = CursorShape {
        width: rect.w,
        height: rect.h,
        hotspot_x: rect.x.min(rect.w.saturating_sub(1)),
        hotspot_y: rect.y.min(rect.h.saturating_sub(1)),
        rgba: Vec::new(),
    };
    if rect.is_empty() {
        return Ok(shape);
    }
    let bpp = ctx.bytes_per_pixel();
    let (w, h) = (usize::from(rect.w), usize::from(rect.h));
    let mask_row = w.div_ceil(8);
    // Both bounded by max_cursor_side² × 4.
    let pixels = r.bytes(w * h * bpp)?;
    let mask = r.bytes(mask_row * h)?;
    shape.rgba.reserve_exact(w * h * 4);
    for (row_px, row_mask) in pixels
        .chunks_exact(w * bpp)
        .zip(mask.chunks_exact(mask_row))
    {
        for (x, px) in row_px.chunks_exact(bpp).enumerate() {
            let bits = row_mask.get(x / 8).copied().unwrap_or(0);
            let visible = bits & (0x80 >> (x % 8)) != 0;
            let [r, g, b, _] = ctx.rgba(px);
            shape
                .rgba
                .extend_from_slice(&[r, g, b, if visible { 0xff } else { 0 }]);
        }
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::RectOutcome;
    use super::*;
    use crate::messages::encoding::Encoding;
    use crate::PixelFormat;

    fn cursor(env: &mut Env, r: Rect, data: &[u8]) -> CursorShape {
        match env.run_all_prefixes(Encoding::Cursor, r, data) {
            RectOutcome::Cursor(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pixels_and_mask_become_rgba() {
        for pf in [PixelFormat::RGBX_LE, PF_RGB565_BE, PF_CMAP8] {
            let mut env = Env::new(1, 1, pf);
            env.cmap.set(3, &[[0xffff, 0, 0]]);
            let c = if pf.true_colour {
                [255, 0, 0]
            } else {
                [3, 0, 0]
            };
            // 9×2: the mask needs two bytes a row.
            let mut data = Vec::new();
            for _ in 0..18 {
                data.extend(env.px(c));
            }
            data.extend_from_slice(&[0x80, 0x80, 0x00, 0x00]);
            // The hotspot may lie anywhere, and the cursor outside the framebuffer.
            let shape = cursor(&mut env, rect(4, 20, 9, 2), &data);
            assert_eq!((shape.width, shape.height), (9, 2));
            assert_eq!(
                (shape.hotspot_x, shape.hotspot_y),
                (4, 1),
                "clamped into the image"
            );
            assert_eq!(shape.rgba.len(), 9 * 2 * 4);
            assert_eq!(shape.rgba[..4], [255, 0, 0, 255], "{pf:?}");
            assert_eq!(shape.rgba[4..8], [255, 0, 0, 0]);
            assert_eq!(shape.rgba[32..36], [255, 0, 0, 255], "(8, 0)");
            assert_eq!(shape.rgba[36..40], [255, 0, 0, 0], "(0, 1)");
        }
    }

    #[test]
    fn empty_cursor_has_no_data() {
        let mut env = Env::new(1, 1, PixelFormat::RGBX_LE);
        let shape = cursor(&mut env, rect(0, 0, 0, 16), &[]);
        assert!(shape.rgba.is_empty());
    }

    #[test]
    fn cve_2019_15690_oversized_cursors_are_refused() {
        let mut env = Env::new(1, 1, PixelFormat::RGBX_LE);
        for (w, h) in [(65535, 65535), (1024, 1024), (513, 1), (1, 65535)] {
            let e = env.run_err(Encoding::Cursor, rect(0, 0, w, h), &[]);
            assert!(
                matches!(
                    e,
                    Error::LimitExceeded {
                        limit: LimitKind::CursorSide,
                        ..
                    }
                ),
                "{w}x{h}"
            );
        }
        // Exactly at the limit is fine (and needs its data).
        let got = env.run(Encoding::Cursor, rect(0, 0, 512, 512), &[]);
        assert!(matches!(got, Err(Stall::Incomplete(_))));
    }
}
