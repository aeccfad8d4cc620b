//! Rectangle decoders: each reads one rectangle's payload and writes RGBA into the framebuffer.
//!
//! A decoder either consumes its whole payload and paints, or reports that more bytes are
//! needed without touching the framebuffer, so a rectangle is retried from its header when
//! more bytes arrive.

pub mod raw;

use crate::error::{Error, LimitKind, Stall};
use crate::framebuffer::{ColourMap, Framebuffer, Rect};
use crate::limits::Limits;
use crate::pixel_format::PixelFormat;

/// What decoders need besides the bytes: the current pixel format, colour map and limits.
#[derive(Debug, Clone, Copy)]
pub struct DecodeContext<'a> {
    pub pixel_format: &'a PixelFormat,
    pub colour_map: &'a ColourMap,
    pub limits: &'a Limits,
}

impl DecodeContext<'_> {
    /// Converts `bytes_per_pixel` bytes of wire pixel to RGBA.
    pub fn rgba(&self, px: &[u8]) -> [u8; 4] {
        let v = self.pixel_format.pixel_value(px);
        if self.pixel_format.true_colour {
            self.pixel_format.value_to_rgba(v)
        } else {
            self.colour_map.rgba(v)
        }
    }
}

/// Checks a data rectangle against the framebuffer (pseudo-rectangles are not checked).
pub fn check_bounds(rect: &Rect, fb: &Framebuffer) -> Result<(), Error> {
    if fb.contains(rect) {
        Ok(())
    } else {
        Err(Error::RectOutOfBounds {
            x: rect.x,
            y: rect.y,
            w: rect.w,
            h: rect.h,
            fb_w: fb.width(),
            fb_h: fb.height(),
        })
    }
}

/// `w × h × bytes_per_pixel`, checked against `max_rect_bytes`.
pub(crate) fn pixel_bytes(rect: &Rect, bpp: usize, limits: &Limits) -> Result<usize, Stall> {
    let n = u64::from(rect.w) * u64::from(rect.h) * bpp as u64;
    match usize::try_from(n) {
        Ok(n) if n <= limits.max_rect_bytes => Ok(n),
        _ => Err(Error::limit(LimitKind::RectBytes, n, limits.max_rect_bytes).into()),
    }
}
