//! The painter's work, in order, when the application draws some images itself (a browser's
//! own JPEG decoder, straight onto its canvas): the framebuffer then no longer holds every
//! pixel, so what changed is not one region any more but a sequence — regions copied from
//! the framebuffer, images drawn, and blocks of the canvas copied within it (a CopyRect
//! whose source is an image). [`PaintQueue`] keeps that sequence short: a paint that
//! another, later one paints over entirely is dropped, so a video playing in one place
//! holds one image, however long the painter waits.

use std::collections::VecDeque;

use crate::framebuffer::{Dirty, Rect};

/// Most paints waiting at once. With every covered paint dropped, a real desktop stays far
/// below this; a server that sends more separate pieces than this before the application
/// paints any is refused.
pub const MAX_PENDING_PAINTS: usize = 4096;

/// One step of bringing a canvas up to date; `I` is how an image is held (its encoded bytes
/// in rfb, whatever the application made of them in its own queue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paint<I> {
    /// Copy this region from the framebuffer, or repeat the fills that made it.
    Region(Dirty),
    /// Put these pixels (`rect.w × rect.h` RGBA): a region taken from the framebuffer when
    /// the paint could not be done at once, as the framebuffer may change before it is.
    Pixels { rect: Rect, rgba: Vec<u8> },
    /// Draw this image, which is exactly `rect`'s size, at `rect`.
    Image { rect: Rect, image: I },
    /// Copy the canvas's `dst.w × dst.h` block at (`src_x`, `src_y`) to `dst`, as if the
    /// block were read whole first (the framebuffer does not hold the source's pixels).
    Copy { src_x: u16, src_y: u16, dst: Rect },
}

impl<I> Paint<I> {
    /// The part of the canvas it writes.
    pub fn target(&self) -> Rect {
        match self {
            Self::Region(d) => d.region,
            Self::Pixels { rect, .. } | Self::Image { rect, .. } => *rect,
            Self::Copy { dst, .. } => *dst,
        }
    }

    /// The part of the canvas it paints all of: a region of fills may leave most of its
    /// rectangle alone, and a copy depends on what is there.
    fn covers(&self) -> Option<Rect> {
        match self {
            Self::Region(Dirty {
                region,
                fills: None,
            }) => Some(*region),
            Self::Pixels { rect, .. } | Self::Image { rect, .. } => Some(*rect),
            Self::Region(_) | Self::Copy { .. } => None,
        }
    }

    /// The same paint with its image held another way, or why it could not be.
    pub fn try_map_image<J, E>(self, f: impl FnOnce(I) -> Result<J, E>) -> Result<Paint<J>, E> {
        Ok(match self {
            Self::Region(d) => Paint::Region(d),
            Self::Pixels { rect, rgba } => Paint::Pixels { rect, rgba },
            Self::Image { rect, image } => Paint::Image {
                rect,
                image: f(image)?,
            },
            Self::Copy { src_x, src_y, dst } => Paint::Copy { src_x, src_y, dst },
        })
    }

    /// The bytes it holds (an image's as `image_bytes` counts them), for the queue's limit.
    pub fn held_bytes(&self, image_bytes: impl FnOnce(&I) -> usize) -> usize {
        match self {
            Self::Pixels { rgba, .. } => rgba.len(),
            Self::Image { image, .. } => image_bytes(image),
            Self::Region(_) | Self::Copy { .. } => 0,
        }
    }
}

/// More paints, or more image bytes, waited than the queue holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow {
    /// What the refused paint would have made the total.
    pub paints: usize,
    pub image_bytes: usize,
}

/// Paints in the order they must be done, with those a later paint covers dropped.
#[derive(Debug, Clone)]
pub struct PaintQueue<I> {
    paints: VecDeque<(Paint<I>, usize)>,
    /// Paints before this index stay whatever comes after: a copy reads the canvas, so what
    /// it reads must be painted first.
    fence: usize,
    image_bytes: usize,
    max_image_bytes: usize,
}

impl<I> PaintQueue<I> {
    /// An empty queue whose images may hold at most `max_image_bytes` (as the caller counts
    /// them in [`PaintQueue::push`]).
    pub fn new(max_image_bytes: usize) -> Self {
        Self {
            paints: VecDeque::new(),
            fence: 0,
            image_bytes: 0,
            max_image_bytes,
        }
    }

    /// Adds `paint` (whose image counts `image_bytes`), dropping the waiting paints it covers
    /// entirely — unless a copy comes between, which reads what they paint. Over the limits,
    /// `paint` is not added (the covered ones are gone all the same: the caller starts over).
    pub fn push(&mut self, paint: Paint<I>, image_bytes: usize) -> Result<(), Overflow> {
        if let Some(target) = paint.covers().filter(|r| !r.is_empty()) {
            let (fence, mut at, mut freed) = (self.fence, 0, 0);
            self.paints.retain(|(p, bytes)| {
                let covered = at >= fence && target.contains_rect(&p.target());
                at += 1;
                if covered {
                    freed += *bytes;
                }
                !covered
            });
            self.image_bytes -= freed;
        }
        let total = self.image_bytes.saturating_add(image_bytes);
        if self.paints.len() >= MAX_PENDING_PAINTS || total > self.max_image_bytes {
            return Err(Overflow {
                paints: self.paints.len() + 1,
                image_bytes: total,
            });
        }
        let copy = matches!(paint, Paint::Copy { .. });
        self.paints.push_back((paint, image_bytes));
        self.image_bytes = total;
        if copy {
            self.fence = self.paints.len();
        }
        Ok(())
    }

    /// The next paint, if any.
    pub fn front(&self) -> Option<&Paint<I>> {
        self.paints.front().map(|(p, _)| p)
    }

    /// Takes the next paint.
    pub fn pop(&mut self) -> Option<Paint<I>> {
        let (p, bytes) = self.paints.pop_front()?;
        self.fence = self.fence.saturating_sub(1);
        self.image_bytes -= bytes;
        Some(p)
    }

    /// Turns every region that reads the framebuffer into its pixels as they are now (before a
    /// copy on the canvas, which must find them as they were). Their bytes count as images';
    /// over the limit, nothing is taken.
    pub fn keep_pixels(&mut self, fb: &crate::Framebuffer) -> Result<(), Overflow> {
        let more: usize = self
            .paints
            .iter()
            .filter(|(p, _)| fb.reads_pixels(p))
            .map(|(p, _)| usize::from(p.target().w) * usize::from(p.target().h) * 4)
            .sum();
        let total = self.image_bytes.saturating_add(more);
        if total > self.max_image_bytes {
            return Err(Overflow {
                paints: self.paints.len(),
                image_bytes: total,
            });
        }
        for (p, bytes) in &mut self.paints {
            if let Some(kept) = fb.pixels_of(p) {
                *bytes = kept.len();
                self.image_bytes += kept.len();
                *p = Paint::Pixels {
                    rect: p.target(),
                    rgba: kept,
                };
            }
        }
        Ok(())
    }

    /// Takes every paint, in order.
    pub fn take_all(&mut self) -> Vec<Paint<I>> {
        self.fence = 0;
        self.image_bytes = 0;
        self.paints.drain(..).map(|(p, _)| p).collect()
    }

    pub fn len(&self) -> usize {
        self.paints.len()
    }

    /// Whether an image waits among the paints.
    pub fn holds_image(&self) -> bool {
        self.paints
            .iter()
            .any(|(p, _)| matches!(p, Paint::Image { .. }))
    }

    pub fn is_empty(&self) -> bool {
        self.paints.is_empty()
    }

    /// Forgets every paint (the canvas was cleared).
    pub fn clear(&mut self) {
        self.take_all();
    }
}

#[cfg(test)]
mod tests;
