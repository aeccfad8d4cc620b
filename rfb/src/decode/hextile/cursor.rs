//! Where a Hextile rectangle's walk stands — the tile, the colours carried over to it, the
//! subrectangles it still owes — so that a rectangle arriving over many receives is read once.

use super::super::canvas::Sink;
use super::super::DecodeContext;
use super::{ANY_SUBRECTS, BACKGROUND, FOREGROUND, RAW, SUBRECTS_COLOURED, TILE, UNDEFINED_BITS};
use crate::error::{Error, Stall};
use crate::wire::Reader;

/// The walk over one rectangle's tiles, kept by [`crate::decode::Decoders`] while the
/// rectangle's bytes are short. A walk is a sequence of steps — a tile's header (mask,
/// colours, subrectangle count), a raw tile, one subrectangle — each bounded by a raw tile's
/// size. A step either completes, and only then moves the cursor, or runs out of bytes and
/// leaves it; the next call skips the finished steps' bytes without reading them. Pixels are
/// read whole or not at all, so every byte is read once, plus per call at most the few bytes
/// an unfinished step read before running out (a mask and two pixels).
#[derive(Debug, Default)]
pub(crate) struct Cursor {
    /// Payload bytes taken by the finished steps.
    offset: usize,
    /// The current tile's top-left corner, relative to the rectangle.
    tx: u16,
    ty: u16,
    /// The colours carried over to the current tile (see the carry-over rules in the module
    /// docs of [`super`]).
    background: Option<[u8; 4]>,
    foreground: Option<[u8; 4]>,
    next: Next,
}

/// What the current tile has left to read.
#[derive(Debug, Clone, Copy, Default)]
enum Next {
    /// Its mask byte and what the mask says follows it (everything up to the subrectangles).
    #[default]
    Header,
    /// `left` (at least 1) more subrectangles of a tile sent with `mask`.
    Subrects { mask: u8, left: u8 },
}

impl Cursor {
    /// Reads the tiles of a `w × h` rectangle into `sink` from where the last call stopped;
    /// `r` starts at the rectangle's payload, which holds at least the bytes it held then.
    /// `Ok` once the last tile was read, with `r` just past it.
    pub(super) fn walk(
        &mut self,
        w: u16,
        h: u16,
        r: &mut Reader<'_>,
        ctx: &DecodeContext<'_>,
        sink: &mut impl Sink,
    ) -> Result<(), Stall> {
        let payload = r.position();
        r.skip(self.offset)?;
        if w == 0 {
            return Ok(());
        }
        while self.ty < h {
            // Invariant: tx < w and ty < h, so the edge tile is at least 1×1.
            let tw = w.saturating_sub(self.tx).min(TILE);
            let th = h.saturating_sub(self.ty).min(TILE);
            match self.next {
                Next::Header => self.header(w, tw, th, r, ctx, sink)?,
                Next::Subrects { mask, left } => {
                    self.subrect(mask, tw, th, r, ctx, sink)?;
                    match left.checked_sub(1) {
                        Some(0) | None => self.end_tile(mask, w),
                        Some(left) => self.next = Next::Subrects { mask, left },
                    }
                }
            }
            self.offset = r.position().saturating_sub(payload);
        }
        Ok(())
    }

    /// A `tw × th` tile's mask and what follows it: the pixels of a raw tile, else the
    /// background, foreground and subrectangle count the mask announces.
    fn header(
        &mut self,
        w: u16,
        tw: u16,
        th: u16,
        r: &mut Reader<'_>,
        ctx: &DecodeContext<'_>,
        sink: &mut impl Sink,
    ) -> Result<(), Stall> {
        let (tx, ty) = (self.tx, self.ty);
        let bpp = ctx.bytes_per_pixel();
        let mask = r.u8()?;
        if mask & UNDEFINED_BITS != 0 {
            return Err(Error::Invalid {
                field: "Hextile tile mask",
                got: mask.into(),
                why: "bits 5-7 are not defined",
            }
            .into());
        }
        if mask & RAW != 0 {
            let row_len = usize::from(tw) * bpp;
            let data = r.bytes(row_len * usize::from(th))?;
            for (dy, src) in (0..th).zip(data.chunks_exact(row_len)) {
                ctx.row_to_rgba(sink.row(tx, ty + dy, tw), src);
            }
            self.background = None;
            self.foreground = None;
            self.next_tile(w);
            return Ok(());
        }
        let background = match mask & BACKGROUND {
            0 => self.background,
            _ => Some(ctx.rgba(r.bytes(bpp)?)),
        };
        let foreground = match mask & FOREGROUND {
            0 => self.foreground,
            _ => Some(ctx.rgba(r.bytes(bpp)?)),
        };
        let Some(bg) = background else {
            return Err(Error::Invalid {
                field: "Hextile tile mask",
                got: mask.into(),
                why: "the tile has no background and none carries over to it",
            }
            .into());
        };
        let left = match mask & ANY_SUBRECTS {
            0 => 0,
            _ => r.u8()?,
        };
        sink.fill(tx, ty, tw, th, bg);
        self.background = background;
        self.foreground = foreground;
        match left {
            0 => self.end_tile(mask, w),
            _ => self.next = Next::Subrects { mask, left },
        }
        Ok(())
    }

    /// One subrectangle of a `tw × th` tile sent with `mask`. Moves nothing: the caller
    /// counts it.
    fn subrect(
        &self,
        mask: u8,
        tw: u16,
        th: u16,
        r: &mut Reader<'_>,
        ctx: &DecodeContext<'_>,
        sink: &mut impl Sink,
    ) -> Result<(), Stall> {
        let colour = if mask & SUBRECTS_COLOURED != 0 {
            ctx.rgba(r.bytes(ctx.bytes_per_pixel())?)
        } else {
            self.foreground.ok_or_else(|| Error::Invalid {
                field: "Hextile tile mask",
                got: mask.into(),
                why: "single-colour subrectangles without a foreground colour",
            })?
        };
        let [xy, wh] = r.array()?;
        let (sx, sy) = (u16::from(xy >> 4), u16::from(xy & 0x0f));
        let (sw, sh) = (u16::from(wh >> 4) + 1, u16::from(wh & 0x0f) + 1);
        if sx + sw > tw || sy + sh > th {
            return Err(Error::Invalid {
                field: "Hextile subrectangle",
                got: u64::from(u16::from_be_bytes([xy, wh])),
                why: "it reaches outside its tile",
            }
            .into());
        }
        sink.fill(self.tx + sx, self.ty + sy, sw, sh, colour);
        Ok(())
    }

    /// Ends a tile sent with `mask` (not raw): a SubrectsColoured tile's foreground does not
    /// carry over.
    fn end_tile(&mut self, mask: u8, w: u16) {
        if mask & SUBRECTS_COLOURED != 0 {
            self.foreground = None;
        }
        self.next_tile(w);
    }

    /// Moves to the next tile, left to right then top to bottom, in a rectangle `w` wide.
    fn next_tile(&mut self, w: u16) {
        self.tx = self.tx.saturating_add(TILE);
        if self.tx >= w {
            self.tx = 0;
            self.ty = self.ty.saturating_add(TILE);
        }
        self.next = Next::Header;
    }
}
