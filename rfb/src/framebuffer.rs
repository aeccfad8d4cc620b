//! The client's RGBA framebuffer, its colour map, and the dirty rectangle since the last paint.

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
}

fn clamp_u16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

/// RGBA pixels, row-major, 4 bytes a pixel; invariant: `data.len() == width * height * 4`.
#[derive(Debug, Clone)]
pub struct Framebuffer {
    width: u16,
    height: u16,
    data: Vec<u8>,
    dirty: Rect,
}

impl Framebuffer {
    /// A black framebuffer. The caller has checked the size against [`crate::Limits`].
    pub fn new(width: u16, height: u16) -> Self {
        let len = usize::from(width) * usize::from(height) * 4;
        let mut data = vec![0u8; len];
        for px in data.chunks_exact_mut(4) {
            px[3] = 0xff;
        }
        Self {
            width,
            height,
            data,
            dirty: Rect {
                x: 0,
                y: 0,
                w: width,
                h: height,
            },
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

    /// Returns the region changed since the last call, and forgets it.
    pub fn take_dirty(&mut self) -> Option<Rect> {
        let d = std::mem::take(&mut self.dirty);
        (!d.is_empty()).then_some(d)
    }

    pub fn mark_dirty(&mut self, r: Rect) {
        self.dirty = self.dirty.union(&r);
    }

    /// Mutable RGBA bytes of row `y`, columns `x .. x + w`. The caller has checked bounds with
    /// [`Framebuffer::contains`]; out-of-range rows yield an empty slice, never a panic.
    pub fn row_mut(&mut self, x: u16, y: u16, w: u16) -> &mut [u8] {
        let start = (usize::from(y) * usize::from(self.width) + usize::from(x)) * 4;
        let end = start + usize::from(w) * 4;
        self.data.get_mut(start..end).unwrap_or_default()
    }

    /// Fills `r` with one colour.
    pub fn fill(&mut self, r: Rect, rgba: [u8; 4]) {
        for row in r.y..r.y.saturating_add(r.h) {
            for px in self.row_mut(r.x, row, r.w).chunks_exact_mut(4) {
                px.copy_from_slice(&rgba);
            }
        }
        self.mark_dirty(r);
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
