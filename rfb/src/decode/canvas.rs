//! Where tile decoders write pixels: straight into the framebuffer (when the whole payload is
//! already in hand, as with ZRLE), or into a scratch [`Canvas`] that is copied over only once a
//! rectangle without a length prefix (Hextile, TRLE) turned out to be complete. Such a
//! rectangle may arrive over many receives: its canvas keeps the tiles decoded so far.

use crate::framebuffer::{Framebuffer, Rect};

/// RGBA pixels addressed relative to a rectangle's top-left corner. Writes outside the
/// rectangle are dropped, never a panic.
pub(crate) trait Sink {
    /// Fills `w × h` pixels at (`x`, `y`).
    fn fill(&mut self, x: u16, y: u16, w: u16, h: u16, rgba: [u8; 4]);
    /// The RGBA bytes of row `y`, columns `x .. x + w` (empty if outside).
    fn row(&mut self, x: u16, y: u16, w: u16) -> &mut [u8];
}

/// A scratch RGBA image the size of one rectangle, reusing a buffer across rectangles.
pub(crate) struct Canvas<'a> {
    w: u16,
    h: u16,
    data: &'a mut Vec<u8>,
}

impl<'a> Canvas<'a> {
    /// Opens `data` as a `w × h` canvas: as it is when it already has that size (the same
    /// rectangle, resumed after more bytes arrived), else zeroed to that size. Whoever starts a
    /// new rectangle empties `data` first. The caller has checked `w × h × 4` against the
    /// limits.
    pub(crate) fn new(w: u16, h: u16, data: &'a mut Vec<u8>) -> Self {
        let len = usize::from(w) * usize::from(h) * 4;
        if data.len() != len {
            data.clear();
            data.resize(len, 0);
        }
        Self { w, h, data }
    }

    /// Copies the canvas into `rect` of the framebuffer (the caller checked bounds).
    pub(crate) fn blit(&self, fb: &mut Framebuffer, rect: Rect) {
        fb.put_rgba(rect, self.data);
    }
}

// `#[inline]` on both: the tile walks call them per tile and per subrectangle, and left to
// itself the compiler took them out of line after the walks became cursors, which cost a
// full-screen Hextile replay about 20 % (criterion, `benches/decode.rs`).
impl Sink for Canvas<'_> {
    #[inline]
    fn fill(&mut self, x: u16, y: u16, w: u16, h: u16, rgba: [u8; 4]) {
        let w = w.min(self.w.saturating_sub(x));
        let y_end = y.saturating_add(h).min(self.h);
        for row in y..y_end {
            for px in self.row(x, row, w).chunks_exact_mut(4) {
                px.copy_from_slice(&rgba);
            }
        }
    }

    #[inline]
    fn row(&mut self, x: u16, y: u16, w: u16) -> &mut [u8] {
        if y >= self.h || u32::from(x) + u32::from(w) > u32::from(self.w) {
            return &mut [];
        }
        let start = (usize::from(y) * usize::from(self.w) + usize::from(x)) * 4;
        let end = start + usize::from(w) * 4;
        self.data.get_mut(start..end).unwrap_or_default()
    }
}

/// The framebuffer seen through one rectangle (already checked to lie inside it).
pub(crate) struct FbSink<'a> {
    pub fb: &'a mut Framebuffer,
    pub rect: Rect,
}

impl Sink for FbSink<'_> {
    fn fill(&mut self, x: u16, y: u16, w: u16, h: u16, rgba: [u8; 4]) {
        let w = w.min(self.rect.w.saturating_sub(x));
        let y_end = y.saturating_add(h).min(self.rect.h);
        for row in y..y_end {
            for px in self.row(x, row, w).chunks_exact_mut(4) {
                px.copy_from_slice(&rgba);
            }
        }
    }

    fn row(&mut self, x: u16, y: u16, w: u16) -> &mut [u8] {
        if y >= self.rect.h || u32::from(x) + u32::from(w) > u32::from(self.rect.w) {
            return &mut [];
        }
        self.fb.row_mut(
            self.rect.x.saturating_add(x),
            self.rect.y.saturating_add(y),
            w,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sinks_clip_and_agree() {
        let mut buf = Vec::new();
        let mut canvas = Canvas::new(3, 2, &mut buf);
        let mut fb = Framebuffer::new(5, 5);
        let rect = Rect {
            x: 1,
            y: 1,
            w: 3,
            h: 2,
        };
        let mut view = FbSink { fb: &mut fb, rect };
        for s in [&mut canvas as &mut dyn Sink, &mut view] {
            s.fill(1, 0, 5, 5, [9, 9, 9, 9]);
            assert!(s.row(2, 0, 2).is_empty());
            assert!(s.row(0, 2, 1).is_empty());
            s.row(0, 1, 1).copy_from_slice(&[1, 2, 3, 4]);
        }
        canvas.blit(&mut fb, Rect { x: 0, y: 3, ..rect });
        assert_eq!(fb.pixel(2, 1), Some([9, 9, 9, 9]));
        assert_eq!(fb.pixel(1, 2), Some([1, 2, 3, 4]));
        assert_eq!(fb.pixel(4, 1), Some([0, 0, 0, 255]));
        // The canvas landed at (0, 3).
        assert_eq!(fb.pixel(1, 3), Some([9, 9, 9, 9]));
        assert_eq!(fb.pixel(0, 4), Some([1, 2, 3, 4]));
        assert_eq!(fb.pixel(2, 4), Some([9, 9, 9, 9]));
    }
}
