//! Where a walk over TRLE/ZRLE tiles stands — the tile, the palette carried over to it, how
//! far its runs got — so that a TRLE rectangle arriving over many receives is read once.

use super::super::canvas::Sink;
use super::super::DecodeContext;
use super::{
    invalid, packed, palette_run, plain_run, read_palette, runs, CPixel, Flavour, Tile, MAX_PALETTE,
};
use crate::error::Stall;
use crate::wire::Reader;

/// The walk over one rectangle's tiles. TRLE's is kept by [`crate::decode::Decoders`] while
/// the rectangle's bytes are short; ZRLE, whose tiles are inflated whole, walks with a fresh
/// one. A walk is a sequence of steps — a tile's subencoding byte with its palette or pixels,
/// a tile's packed indices, one run of an RLE tile — each bounded by a raw tile's size. A
/// step either completes, and only then moves the cursor, or runs out of bytes and leaves
/// it; the next call skips the finished steps' bytes without reading them. Pixels and
/// palettes are read whole or not at all, so every byte is read once, plus per call at most
/// the few bytes an unfinished step read before running out (a subencoding byte, or a run's
/// CPIXEL and length bytes).
pub(crate) struct Cursor {
    /// Payload bytes taken by the finished steps.
    offset: usize,
    /// The current tile's top-left corner, relative to the rectangle.
    tx: u16,
    ty: u16,
    /// The last palette read in this rectangle: its first `pal_len` entries (0: none yet),
    /// which subencodings 127 and 129 reuse.
    palette: [[u8; 4]; MAX_PALETTE],
    pal_len: usize,
    next: Next,
}

/// What the current tile has left to read.
#[derive(Debug, Clone, Copy)]
enum Next {
    /// Its subencoding byte, and the pixels or palette that follow it.
    Subencoding,
    /// The packed indices into the palette just read or reused.
    Packed,
    /// Plain RLE runs; the first `pos` pixels (raster order) are painted.
    PlainRle { pos: usize },
    /// Palette RLE runs; the first `pos` pixels are painted.
    PaletteRle { pos: usize },
}

impl Default for Cursor {
    fn default() -> Self {
        Self {
            offset: 0,
            tx: 0,
            ty: 0,
            palette: [[0; 4]; MAX_PALETTE],
            pal_len: 0,
            next: Next::Subencoding,
        }
    }
}

/// Shows only the palette's colours in use.
impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("offset", &self.offset)
            .field("tx", &self.tx)
            .field("ty", &self.ty)
            .field("palette", &self.palette())
            .field("next", &self.next)
            .finish()
    }
}

impl Cursor {
    /// Reads the tiles of a `w × h` rectangle into `sink` from where the last call stopped;
    /// `r` starts at the tiles, which hold at least the bytes they held then. `Ok` once the
    /// last tile was read, with `r` just past it.
    pub(crate) fn walk(
        &mut self,
        w: u16,
        h: u16,
        r: &mut Reader<'_>,
        ctx: &DecodeContext<'_>,
        sink: &mut impl Sink,
        flavour: Flavour,
    ) -> Result<(), Stall> {
        let cp = CPixel::for_format(ctx.pixel_format);
        let size = flavour.tile();
        let payload = r.position();
        r.skip(self.offset)?;
        if w == 0 {
            return Ok(());
        }
        while self.ty < h {
            // Invariant: tx < w and ty < h, so the edge tile is at least 1×1.
            let tile = Tile {
                tx: self.tx,
                ty: self.ty,
                tw: w.saturating_sub(self.tx).min(size),
                th: h.saturating_sub(self.ty).min(size),
            };
            let next = match self.next {
                Next::Subencoding => self.subencoding(tile, r, ctx, cp, flavour, sink)?,
                Next::Packed => {
                    packed(r, tile, self.palette(), sink)?;
                    None
                }
                Next::PlainRle { pos } => {
                    let read_run = |r: &mut Reader<'_>, left| plain_run(r, left, cp, ctx);
                    if let Err(stop) = runs(r, tile, pos, sink, read_run) {
                        self.next = Next::PlainRle { pos: stop.pos };
                        self.offset = stop.at.saturating_sub(payload);
                        return Err(stop.stall);
                    }
                    None
                }
                Next::PaletteRle { pos } => {
                    let palette = self.palette();
                    let read_run = |r: &mut Reader<'_>, left| palette_run(r, left, palette);
                    if let Err(stop) = runs(r, tile, pos, sink, read_run) {
                        self.next = Next::PaletteRle { pos: stop.pos };
                        self.offset = stop.at.saturating_sub(payload);
                        return Err(stop.stall);
                    }
                    None
                }
            };
            match next {
                Some(next) => self.next = next,
                None => self.next_tile(w, size),
            }
            self.offset = r.position().saturating_sub(payload);
        }
        Ok(())
    }

    /// A tile's subencoding byte and what follows it: a raw or solid tile whole, or the
    /// palette of a packed or RLE tile. Returns what is left of the tile (`None`: nothing).
    fn subencoding(
        &mut self,
        tile: Tile,
        r: &mut Reader<'_>,
        ctx: &DecodeContext<'_>,
        cp: CPixel,
        flavour: Flavour,
        sink: &mut impl Sink,
    ) -> Result<Option<Next>, Stall> {
        let n = cp.size();
        let sub = r.u8()?;
        let next = match (sub, flavour) {
            (0, _) => {
                let row_len = usize::from(tile.tw) * n;
                let data = r.bytes(row_len * usize::from(tile.th))?;
                for (dy, src) in (0..tile.th).zip(data.chunks_exact(row_len)) {
                    cp.row_rgba(src, sink.row(tile.tx, tile.ty + dy, tile.tw), ctx);
                }
                None
            }
            (1, _) => {
                let colour = cp.rgba(r.bytes(n)?, ctx);
                sink.fill(tile.tx, tile.ty, tile.tw, tile.th, colour);
                None
            }
            (2..=16, _) => {
                self.pal_len = read_palette(r, usize::from(sub), &mut self.palette, cp, ctx)?;
                Some(Next::Packed)
            }
            (127, Flavour::Trle) => {
                if !(2..=16).contains(&self.pal_len) {
                    return Err(invalid(
                        "TRLE subencoding",
                        sub,
                        "no previous packed palette to reuse",
                    ));
                }
                Some(Next::Packed)
            }
            (128, _) => Some(Next::PlainRle { pos: 0 }),
            (129, Flavour::Trle) => {
                if self.pal_len == 0 {
                    return Err(invalid(
                        "TRLE subencoding",
                        sub,
                        "no previous palette to reuse",
                    ));
                }
                Some(Next::PaletteRle { pos: 0 })
            }
            (130..=255, _) => {
                let size = usize::from(sub - 128);
                self.pal_len = read_palette(r, size, &mut self.palette, cp, ctx)?;
                Some(Next::PaletteRle { pos: 0 })
            }
            (_, Flavour::Trle) => return Err(invalid("TRLE subencoding", sub, "unused")),
            (_, Flavour::Zrle) => return Err(invalid("ZRLE subencoding", sub, "unused")),
        };
        Ok(next)
    }

    fn palette(&self) -> &[[u8; 4]] {
        self.palette.get(..self.pal_len).unwrap_or_default()
    }

    /// Moves to the next tile of `size`, left to right then top to bottom, in a rectangle `w`
    /// wide.
    fn next_tile(&mut self, w: u16, size: u16) {
        self.tx = self.tx.saturating_add(size);
        if self.tx >= w {
            self.tx = 0;
            self.ty = self.ty.saturating_add(size);
        }
        self.next = Next::Subencoding;
    }
}
