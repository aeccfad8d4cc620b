//! The client's RGBA framebuffer, its colour map, and the dirty rectangle since the last paint
//! — with the fills that made it, when nothing else did, so a painter can repeat them. When
//! the application draws JPEG images itself ([`Framebuffer::hand_images_over`]), what changed
//! is a sequence of [`Paint`]s instead, and no region of it spans a place only the canvas
//! holds.

use crate::paint::{Overflow, Paint, PaintQueue};

/// A rectangle in framebuffer coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
}

impl Rect {
    pub fn is_empty(&self) -> bool {
        self.w == 0 || self.h == 0
    }

    /// The smallest rectangle holding both.
    pub fn union(&self, other: &Rect) -> Rect {
        if self.is_empty() {
            return *other;
        }
        if other.is_empty() {
            return *self;
        }
        let x0 = self.x.min(other.x);
        let y0 = self.y.min(other.y);
        let x1 =
            (u32::from(self.x) + u32::from(self.w)).max(u32::from(other.x) + u32::from(other.w));
        let y1 =
            (u32::from(self.y) + u32::from(self.h)).max(u32::from(other.y) + u32::from(other.h));
        Rect {
            x: x0,
            y: y0,
            w: clamp_u16(x1 - u32::from(x0)),
            h: clamp_u16(y1 - u32::from(y0)),
        }
    }

    fn ends(&self) -> (u32, u32) {
        (
            u32::from(self.x) + u32::from(self.w),
            u32::from(self.y) + u32::from(self.h),
        )
    }

    /// Whether every pixel of `other` is in this one (an empty one is in any).
    pub fn contains_rect(&self, other: &Rect) -> bool {
        let ((x1, y1), (ox1, oy1)) = (self.ends(), other.ends());
        other.is_empty() || (self.x <= other.x && self.y <= other.y && ox1 <= x1 && oy1 <= y1)
    }

    /// Whether the two share a pixel.
    pub fn intersects(&self, other: &Rect) -> bool {
        let ((x1, y1), (ox1, oy1)) = (self.ends(), other.ends());
        !self.is_empty()
            && !other.is_empty()
            && u32::from(self.x) < ox1
            && u32::from(other.x) < x1
            && u32::from(self.y) < oy1
            && u32::from(other.y) < y1
    }
}

/// At most this many places only the canvas holds are told apart; more, and they count as
/// the one rectangle around them all (which only makes regions smaller).
pub const MAX_HELD: usize = 64;

/// The images the application draws, and what that leaves the framebuffer without.
#[derive(Debug, Clone)]
struct Handed {
    /// Places where the canvas holds pixels this framebuffer does not: images drawn, and
    /// blocks copied from them on the canvas. Never fewer than there are; maybe more.
    held: Vec<Rect>,
    /// What the painter must do before the dirty region, in order.
    queue: PaintQueue<Vec<u8>>,
    /// A paint was refused: every paint waiting was dropped, and the client asks the
    /// server for the whole picture again.
    overflow: Option<Overflow>,
}

fn clamp_u16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

/// At most this many fills are remembered for one dirty region; more, and the region is
/// painted from its pixels.
pub const MAX_FILLS: usize = 64;

/// A rectangle filled with one colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub rect: Rect,
    pub rgba: [u8; 4],
}

/// What changed since it was last taken: the smallest rectangle holding every change, and —
/// when every change was a fill, at most [`MAX_FILLS`] of them — those fills in order.
/// Repeating the fills paints exactly the change without reading a pixel: a new background
/// or a cleared window costs a few rectangles, not a scan of the region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirty {
    pub region: Rect,
    pub fills: Option<Vec<Fill>>,
}

impl Dirty {
    /// The fills that, repeated on the canvas, paint exactly this change: all opaque and
    /// inside `fb`. Without them the region is copied from the framebuffer's pixels.
    pub fn repeatable_fills(&self, fb: &Framebuffer) -> Option<&[Fill]> {
        let fills = self.fills.as_deref()?;
        fills
            .iter()
            .all(|f| f.rgba[3] == 0xff && fb.contains(&f.rect))
            .then_some(fills)
    }
}

/// RGBA pixels, row-major, 4 bytes a pixel; invariant: `data.len() == width * height * 4`.
#[derive(Debug, Clone)]
pub struct Framebuffer {
    width: u16,
    height: u16,
    data: Vec<u8>,
    dirty: Rect,
    /// The fills that made `dirty`, in order; `None` once anything else changed a pixel or
    /// there were more than [`MAX_FILLS`].
    fills: Option<Vec<Fill>>,
    /// Set when the application draws JPEG images itself (boxed: most framebuffers never do).
    handed: Option<Box<Handed>>,
}

impl Framebuffer {
    /// A black framebuffer. The caller has checked the size against [`crate::Limits`].
    pub fn new(width: u16, height: u16) -> Self {
        let len = usize::from(width) * usize::from(height) * 4;
        let mut data = vec![0u8; len];
        for px in data.chunks_exact_mut(4) {
            px[3] = 0xff;
        }
        let whole = Rect {
            x: 0,
            y: 0,
            w: width,
            h: height,
        };
        Self {
            width,
            height,
            data,
            dirty: whole,
            fills: Some(vec![Fill {
                rect: whole,
                rgba: [0, 0, 0, 0xff],
            }]),
            handed: None,
        }
    }

    /// From now on JPEG images are not decoded into this framebuffer but handed to the
    /// application, which draws them on its canvas: [`Framebuffer::take_paints`] says what
    /// to paint, in order. Their bytes waiting for the painter are held to
    /// `max_image_bytes`.
    pub fn hand_images_over(&mut self, max_image_bytes: usize) {
        if self.handed.is_none() {
            self.handed = Some(Box::new(Handed {
                held: Vec::new(),
                queue: PaintQueue::new(max_image_bytes),
                overflow: None,
            }));
        }
    }

    /// Whether JPEG images go to the application.
    pub fn hands_images_over(&self) -> bool {
        self.handed.is_some()
    }

    /// Whether an image handed over waits to be taken ([`Framebuffer::take_paints`]): the
    /// application can start decoding it before the rest of its update has come.
    pub fn images_waiting(&self) -> bool {
        self.handed.as_ref().is_some_and(|h| h.queue.holds_image())
    }

    /// What the painter must do, in order, to show every change since the last call: with
    /// images handed over, any number of paints; otherwise at most one region.
    pub fn take_paints(&mut self) -> Vec<Paint<Vec<u8>>> {
        let last = self.take_dirty_fills().map(Paint::Region);
        let mut paints = match &mut self.handed {
            Some(h) => h.queue.take_all(),
            None => Vec::new(),
        };
        paints.extend(last);
        paints
    }

    /// The paint the queue refused since the last call, if one was. Every paint waiting was
    /// dropped then, and nothing is held any more: the whole picture must come again.
    pub fn take_paint_overflow(&mut self) -> Option<Overflow> {
        self.handed.as_mut().and_then(|h| h.overflow.take())
    }

    /// The JFIF image `image`, exactly `rect`'s size (checked by the caller), for the
    /// application to draw at `rect`. What changed before it is painted first.
    pub fn hand_over_image(&mut self, rect: Rect, image: Vec<u8>) {
        self.queue_dirty();
        let Some(h) = &mut self.handed else { return };
        let bytes = image.len();
        push(h, Paint::Image { rect, image }, bytes);
        hold(h, rect);
    }

    /// Whether `paint` reads this framebuffer's pixels when it is done (a region that is not
    /// repeatable fills).
    pub fn reads_pixels<I>(&self, paint: &Paint<I>) -> bool {
        matches!(paint, Paint::Region(d) if d.repeatable_fills(self).is_none())
    }

    /// A region that reads this framebuffer, as its pixels now (`None` for any other paint,
    /// and for a region of fills that can be repeated, which read nothing).
    pub fn pixels_of<I>(&self, paint: &Paint<I>) -> Option<Vec<u8>> {
        self.reads_pixels(paint)
            .then(|| self.rows(paint.target()).flatten().copied().collect())
    }

    /// `paint` as it must be kept when it is not done at once: a region that reads the
    /// framebuffer becomes its pixels as they are now.
    pub fn keep<I>(&self, paint: Paint<I>) -> Paint<I> {
        match self.pixels_of(&paint) {
            Some(rgba) => Paint::Pixels {
                rect: paint.target(),
                rgba,
            },
            None => paint,
        }
    }

    /// Before `r` changes here: the region so far is queued when taking `r` into it would
    /// make it span a place only the canvas holds; places `r` covers are held no more.
    fn before_change(&mut self, r: Rect) {
        let Some(h) = &self.handed else { return };
        let merged = self.dirty.union(&r);
        if !self.dirty.is_empty() && h.held.iter().any(|held| merged.intersects(held)) {
            self.queue_dirty();
        }
        if let Some(h) = &mut self.handed {
            h.held.retain(|held| !r.contains_rect(held));
        }
    }

    /// Moves the dirty region (with its fills) to the end of the paint queue.
    fn queue_dirty(&mut self) {
        if self.handed.is_none() {
            return;
        }
        let Some(dirty) = self.take_dirty_fills() else {
            return;
        };
        if let Some(h) = &mut self.handed {
            push(h, Paint::Region(dirty), 0);
        }
    }

    pub fn width(&self) -> u16 {
        self.width
    }

    pub fn height(&self) -> u16 {
        self.height
    }

    /// All pixels as RGBA bytes.
    pub fn rgba(&self) -> &[u8] {
        &self.data
    }

    /// The RGBA pixel at (x, y), or `None` outside the framebuffer.
    pub fn pixel(&self, x: u16, y: u16) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (usize::from(y) * usize::from(self.width) + usize::from(x)) * 4;
        let p = self.data.get(i..i + 4)?;
        Some([p[0], p[1], p[2], p[3]])
    }

    /// Whether `r` lies wholly inside the framebuffer (computed without overflow).
    pub fn contains(&self, r: &Rect) -> bool {
        u32::from(r.x) + u32::from(r.w) <= u32::from(self.width)
            && u32::from(r.y) + u32::from(r.h) <= u32::from(self.height)
    }

    /// The RGBA bytes of `r`, row by row (none if `r` is not inside).
    pub fn rows(&self, r: Rect) -> impl Iterator<Item = &[u8]> + '_ {
        let stride = usize::from(self.width) * 4;
        let (x, w) = (usize::from(r.x) * 4, usize::from(r.w) * 4);
        let inside = self.contains(&r);
        (usize::from(r.y)..usize::from(r.y) + usize::from(r.h))
            .filter(move |_| inside)
            .filter_map(move |y| self.data.get(y * stride + x..y * stride + x + w))
    }

    /// The one colour every pixel of `r` has, if they all have one (a painter fills such a
    /// region instead of copying every pixel). Stops at the first pixel that differs.
    pub fn uniform_colour(&self, r: Rect) -> Option<[u8; 4]> {
        if r.is_empty() || !self.contains(&r) {
            return None;
        }
        let first: [u8; 4] = self.rows(r).next()?.get(..4)?.try_into().ok()?;
        self.rows(r)
            .all(|row| row.chunks_exact(4).all(|px| px == first))
            .then_some(first)
    }

    /// Returns the region changed since the last call (or [`Framebuffer::take_dirty_fills`]),
    /// and forgets it.
    pub fn take_dirty(&mut self) -> Option<Rect> {
        self.take_dirty_fills().map(|d| d.region)
    }

    /// Returns what changed since the last call (or [`Framebuffer::take_dirty`]), with the
    /// fills that made it when nothing else did, and forgets it.
    pub fn take_dirty_fills(&mut self) -> Option<Dirty> {
        let region = std::mem::take(&mut self.dirty);
        let fills = self.fills.replace(Vec::new());
        (!region.is_empty()).then_some(Dirty { region, fills })
    }

    /// Marks `r` as changed by something other than a fill.
    pub fn mark_dirty(&mut self, r: Rect) {
        self.before_change(r);
        self.fills = None;
        self.dirty = self.dirty.union(&r);
    }

    /// Mutable RGBA bytes of row `y`, columns `x .. x + w`, to be changed by something other
    /// than a fill. The caller has checked bounds with [`Framebuffer::contains`]; out-of-range
    /// rows yield an empty slice, never a panic.
    pub fn row_mut(&mut self, x: u16, y: u16, w: u16) -> &mut [u8] {
        self.fills = None;
        self.row_bytes(x, y, w)
    }

    fn row_bytes(&mut self, x: u16, y: u16, w: u16) -> &mut [u8] {
        let start = (usize::from(y) * usize::from(self.width) + usize::from(x)) * 4;
        let end = start + usize::from(w) * 4;
        self.data.get_mut(start..end).unwrap_or_default()
    }

    /// Fills `r` with one colour, and remembers the fill for the painter.
    pub fn fill(&mut self, r: Rect, rgba: [u8; 4]) {
        for row in r.y..r.y.saturating_add(r.h) {
            for px in self.row_bytes(r.x, row, r.w).chunks_exact_mut(4) {
                px.copy_from_slice(&rgba);
            }
        }
        let inside = self.contains(&r);
        self.before_change(r);
        if let Some(fills) = &mut self.fills {
            if fills.len() < MAX_FILLS && inside {
                fills.push(Fill { rect: r, rgba });
            } else {
                self.fills = None;
            }
        }
        self.dirty = self.dirty.union(&r);
    }

    /// Copies the `dst.w × dst.h` block at (`src_x`, `src_y`) to `dst`, like `memmove`: the
    /// result is as if the source were read whole before any pixel is written, so overlapping
    /// blocks work. Returns `false`, changing nothing, unless both blocks lie inside.
    pub fn copy_rect(&mut self, src_x: u16, src_y: u16, dst: Rect) -> bool {
        let src = Rect {
            x: src_x,
            y: src_y,
            ..dst
        };
        if !self.contains(&src) || !self.contains(&dst) {
            return false;
        }
        // A source the canvas holds is copied there; here, `dst` is then held too.
        if let Some(h) = &self.handed {
            if h.held.iter().any(|held| held.intersects(&src)) {
                self.queue_dirty();
                // The copy reads the canvas as it is by then: what is painted before it must
                // be these pixels, not what the framebuffer will hold when it is painted.
                let mut h = self.handed.take();
                if let Some(h) = &mut h {
                    if let Err(o) = h.queue.keep_pixels(self) {
                        start_over(h, o);
                    }
                }
                self.handed = h;
                if let Some(h) = &mut self.handed {
                    push(h, Paint::Copy { src_x, src_y, dst }, 0);
                    hold(h, dst);
                }
                return true;
            }
        }
        let stride = usize::from(self.width) * 4;
        let row_len = usize::from(dst.w) * 4;
        let h = usize::from(dst.h);
        // Moving down: copy the bottom row first so no source row is overwritten before it
        // is read; otherwise top first. Within a row `copy_within` is a memmove.
        let downward = dst.y > src_y;
        for i in 0..h {
            let dy = if downward { h - 1 - i } else { i };
            let s = (usize::from(src_y) + dy) * stride + usize::from(src_x) * 4;
            let d = (usize::from(dst.y) + dy) * stride + usize::from(dst.x) * 4;
            if s + row_len <= self.data.len() && d + row_len <= self.data.len() {
                self.data.copy_within(s..s + row_len, d);
            }
        }
        self.mark_dirty(dst);
        true
    }

    /// Writes `r` from `rgba`, which holds `r.w × r.h` RGBA pixels row by row. The caller has
    /// checked bounds; rows beyond the framebuffer or the data are skipped, never a panic.
    pub fn put_rgba(&mut self, r: Rect, rgba: &[u8]) {
        let row_len = usize::from(r.w) * 4;
        if row_len == 0 {
            return;
        }
        for (dy, src) in (0..r.h).zip(rgba.chunks_exact(row_len)) {
            let y = r.y.saturating_add(dy);
            let dst = self.row_mut(r.x, y, r.w);
            if dst.len() == src.len() {
                dst.copy_from_slice(src);
            }
        }
        self.mark_dirty(r);
    }
}

/// Queues `paint`, or, when the queue refuses it, starts over.
fn push(h: &mut Handed, paint: Paint<Vec<u8>>, image_bytes: usize) {
    if let Err(o) = h.queue.push(paint, image_bytes) {
        start_over(h, o);
    }
}

/// Drops every paint waiting and forgets what the canvas holds: the whole picture is asked
/// for again, and it repaints all of it.
fn start_over(h: &mut Handed, o: Overflow) {
    h.queue.clear();
    h.held.clear();
    h.overflow.get_or_insert(o);
}

/// `r` is now held by the canvas alone.
fn hold(h: &mut Handed, r: Rect) {
    h.held.retain(|held| !r.contains_rect(held));
    h.held.push(r);
    if h.held.len() > MAX_HELD {
        let around = h.held.iter().fold(Rect::default(), |a, b| a.union(b));
        h.held = vec![around];
    }
}

/// Colour-map entries set by SetColourMapEntries, for formats that are not true colour.
#[derive(Debug, Clone)]
pub struct ColourMap {
    entries: Vec<[u8; 4]>,
}

impl Default for ColourMap {
    fn default() -> Self {
        Self {
            entries: vec![[0, 0, 0, 0xff]; 256],
        }
    }
}

impl ColourMap {
    /// Sets entries from 16-bit RGB triples; entries beyond 256 are ignored (an 8-bit pixel
    /// cannot address them).
    pub fn set(&mut self, first: u16, colours: &[[u16; 3]]) {
        for (i, c) in colours.iter().enumerate() {
            let Some(slot) = self.entries.get_mut(usize::from(first) + i) else {
                break;
            };
            *slot = [
                (c[0] >> 8) as u8,
                (c[1] >> 8) as u8,
                (c[2] >> 8) as u8,
                0xff,
            ];
        }
    }

    pub fn rgba(&self, index: u32) -> [u8; 4] {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.entries.get(i))
            .copied()
            .unwrap_or([0, 0, 0, 0xff])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_region_changed_only_by_fills_comes_with_them_in_order() {
        use super::{Dirty, Fill, Framebuffer, Rect, MAX_FILLS};
        let r = |x, y, w, h| Rect { x, y, w, h };
        let mut fb = Framebuffer::new(8, 4);
        let black = Fill {
            rect: r(0, 0, 8, 4),
            rgba: [0, 0, 0, 255],
        };
        assert_eq!(
            fb.take_dirty_fills(),
            Some(Dirty {
                region: r(0, 0, 8, 4),
                fills: Some(vec![black])
            }),
            "a new framebuffer is black"
        );
        assert_eq!(fb.take_dirty_fills(), None, "nothing changed since");

        let a = Fill {
            rect: r(0, 0, 4, 2),
            rgba: [1, 2, 3, 255],
        };
        let b = Fill {
            rect: r(2, 1, 4, 2),
            rgba: [9, 8, 7, 255],
        };
        fb.fill(a.rect, a.rgba);
        fb.fill(b.rect, b.rgba);
        assert_eq!(
            fb.take_dirty_fills(),
            Some(Dirty {
                region: r(0, 0, 6, 3),
                fills: Some(vec![a, b])
            })
        );

        // Anything else that changes pixels: no fills, the region only.
        const CORNER: Rect = Rect {
            x: 7,
            y: 3,
            w: 1,
            h: 1,
        };
        for other in [
            |fb: &mut Framebuffer| fb.put_rgba(CORNER, &[5; 4]),
            |fb: &mut Framebuffer| {
                fb.copy_rect(0, 0, CORNER);
            },
            |fb: &mut Framebuffer| fb.row_mut(7, 3, 1).copy_from_slice(&[5; 4]),
            |fb: &mut Framebuffer| fb.mark_dirty(CORNER),
        ] {
            fb.fill(a.rect, a.rgba);
            other(&mut fb);
            fb.fill(b.rect, b.rgba);
            let dirty = fb.take_dirty_fills().expect("changed");
            assert_eq!(dirty.fills, None);
            assert_eq!(dirty.region.union(&r(0, 0, 6, 3)), dirty.region);
        }

        // More fills than remembered: the region only; the next region starts afresh.
        for _ in 0..=MAX_FILLS {
            fb.fill(a.rect, a.rgba);
        }
        assert_eq!(fb.take_dirty_fills().and_then(|d| d.fills), None);
        for _ in 0..MAX_FILLS {
            fb.fill(a.rect, a.rgba);
        }
        assert_eq!(
            fb.take_dirty_fills().and_then(|d| d.fills).map(|f| f.len()),
            Some(MAX_FILLS)
        );
        // `take_dirty` forgets the fills too.
        fb.fill(a.rect, a.rgba);
        assert_eq!(fb.take_dirty(), Some(a.rect));
        fb.put_rgba(r(0, 0, 1, 1), &[5; 4]);
        fb.take_dirty();
        fb.fill(b.rect, b.rgba);
        assert_eq!(fb.take_dirty_fills().and_then(|d| d.fills), Some(vec![b]));
    }

    #[test]
    fn a_region_of_one_colour_is_known_as_such() {
        use super::{Framebuffer, Rect};
        let r = |x, y, w, h| Rect { x, y, w, h };
        let mut fb = Framebuffer::new(8, 4);
        fb.fill(r(0, 0, 8, 4), [1, 2, 3, 255]);
        assert_eq!(fb.uniform_colour(r(0, 0, 8, 4)), Some([1, 2, 3, 255]));
        fb.fill(r(7, 3, 1, 1), [9, 9, 9, 255]);
        assert_eq!(
            fb.uniform_colour(r(0, 0, 8, 4)),
            None,
            "the last pixel differs"
        );
        assert_eq!(fb.uniform_colour(r(1, 1, 6, 3)), Some([1, 2, 3, 255]));
        assert_eq!(fb.uniform_colour(r(4, 2, 8, 4)), None, "outside");
        assert_eq!(fb.uniform_colour(r(0, 0, 0, 4)), None, "empty");
        let rows: Vec<&[u8]> = fb.rows(r(6, 3, 2, 1)).collect();
        assert_eq!(rows, [&[1, 2, 3, 255, 9, 9, 9, 255][..]]);
    }

    use super::*;

    #[test]
    fn new_framebuffer_is_opaque_black_and_all_dirty() {
        let mut fb = Framebuffer::new(3, 2);
        assert_eq!(fb.pixel(2, 1), Some([0, 0, 0, 255]));
        assert_eq!(fb.pixel(3, 0), None);
        assert_eq!(
            fb.take_dirty(),
            Some(Rect {
                x: 0,
                y: 0,
                w: 3,
                h: 2
            })
        );
        assert_eq!(fb.take_dirty(), None);
    }

    #[test]
    fn dirty_region_is_the_union() {
        let mut fb = Framebuffer::new(100, 100);
        fb.take_dirty();
        fb.fill(
            Rect {
                x: 10,
                y: 10,
                w: 5,
                h: 5,
            },
            [1, 2, 3, 255],
        );
        fb.fill(
            Rect {
                x: 50,
                y: 2,
                w: 1,
                h: 1,
            },
            [1, 2, 3, 255],
        );
        assert_eq!(
            fb.take_dirty(),
            Some(Rect {
                x: 10,
                y: 2,
                w: 41,
                h: 13
            })
        );
        assert_eq!(fb.pixel(12, 12), Some([1, 2, 3, 255]));
    }

    fn numbered(w: u16, h: u16) -> Framebuffer {
        let mut fb = Framebuffer::new(w, h);
        for y in 0..h {
            for x in 0..w {
                fb.fill(Rect { x, y, w: 1, h: 1 }, [x as u8, y as u8, 0, 255]);
            }
        }
        fb
    }

    #[test]
    fn copy_rect_overlaps_like_memmove() {
        // Down-right by one, overlapping.
        let mut fb = numbered(5, 5);
        let dst = Rect {
            x: 1,
            y: 1,
            w: 3,
            h: 3,
        };
        assert!(fb.copy_rect(0, 0, dst));
        for y in 0..3u16 {
            for x in 0..3u16 {
                assert_eq!(fb.pixel(x + 1, y + 1), Some([x as u8, y as u8, 0, 255]));
            }
        }
        // Up-left by one, overlapping.
        let mut fb = numbered(5, 5);
        assert!(fb.copy_rect(
            1,
            1,
            Rect {
                x: 0,
                y: 0,
                w: 3,
                h: 3
            }
        ));
        for y in 0..3u16 {
            for x in 0..3u16 {
                assert_eq!(fb.pixel(x, y), Some([x as u8 + 1, y as u8 + 1, 0, 255]));
            }
        }
        // Same row, moving right.
        let mut fb = numbered(5, 1);
        assert!(fb.copy_rect(
            0,
            0,
            Rect {
                x: 1,
                y: 0,
                w: 4,
                h: 1
            }
        ));
        let row: Vec<_> = (0..5).map(|x| fb.pixel(x, 0).map(|p| p[0])).collect();
        assert_eq!(row, [Some(0), Some(0), Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn copy_rect_refuses_outside_blocks() {
        let mut fb = numbered(4, 4);
        let before = fb.rgba().to_vec();
        let dst = Rect {
            x: 0,
            y: 0,
            w: 2,
            h: 2,
        };
        assert!(!fb.copy_rect(3, 0, dst));
        assert!(!fb.copy_rect(u16::MAX, 0, dst));
        assert!(!fb.copy_rect(
            0,
            0,
            Rect {
                x: 3,
                y: 3,
                w: 2,
                h: 2
            }
        ));
        assert_eq!(fb.rgba(), &before[..]);
    }

    #[test]
    fn put_rgba_writes_rows() {
        let mut fb = Framebuffer::new(3, 3);
        let data: Vec<u8> = (0..16).collect();
        fb.put_rgba(
            Rect {
                x: 1,
                y: 1,
                w: 2,
                h: 2,
            },
            &data,
        );
        assert_eq!(fb.pixel(1, 1), Some([0, 1, 2, 3]));
        assert_eq!(fb.pixel(2, 2), Some([12, 13, 14, 15]));
        assert_eq!(fb.pixel(0, 0), Some([0, 0, 0, 255]));
    }

    #[test]
    fn contains_does_not_overflow() {
        let fb = Framebuffer::new(10, 10);
        assert!(!fb.contains(&Rect {
            x: u16::MAX,
            y: 0,
            w: 2,
            h: 1
        }));
        assert!(fb.contains(&Rect {
            x: 0,
            y: 0,
            w: 10,
            h: 10
        }));
    }
}
