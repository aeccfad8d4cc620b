//! The tile grammar shared by TRLE (15, RFC 6143 §7.7.5: 16×16 tiles, no zlib, no length
//! prefix) and ZRLE (16: 64×64 tiles inside zlib data, see [`super::zrle`]), and the TRLE
//! decoder itself.
//!
//! Each tile starts with a subencoding byte:
//!
//! | value | tile |
//! |---|---|
//! | 0 | raw CPIXELs |
//! | 1 | solid: one CPIXEL |
//! | 2–16 | packed palette of that many CPIXELs; indices of 1 (2 colours), 2 (3–4) or 4 (5–16) bits, rows padded to bytes, most significant bits first |
//! | 127 | TRLE only: packed, reusing the previous tile's palette |
//! | 128 | plain RLE: (CPIXEL, run length) until the tile is full |
//! | 129 | TRLE only: palette RLE reusing the previous palette |
//! | 130–255 | palette RLE with `sub − 128` colours: an index byte, and if its top bit is set a run length |
//!
//! Anything else is refused (libvncclient overflowed `palette[16]` on 17–127). A run length is
//! `1 + Σ bytes` where 255 means "more follows"; a run may not overflow its tile (libvncclient
//! TRLE overran its buffer on endless `FF` bytes), and a palette index must be below the
//! palette size.
//!
//! TRLE has no length prefix: a rectangle that arrives over several receives is decoded as its
//! bytes come, into a scratch canvas, and a [`Cursor`] remembers where the walk stopped.
//!
//! CPIXEL: when the format is true colour, 32 bpp, depth ≤ 24 and every colour bit lies in
//! the least or the most significant three bytes, a pixel travels as just those three bytes
//! (TigerVNC's and libvncserver's rule, including which three when both fit).

mod cursor;

pub(crate) use cursor::Cursor;

use super::canvas::{Canvas, Sink};
use super::{check_bounds, pixel_bytes, DecodeContext};
use crate::error::{Error, Stall};
use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel_format::PixelFormat;
use crate::wire::Reader;

/// Which of the two encodings the grammar is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    Trle,
    Zrle,
}

impl Flavour {
    fn tile(self) -> u16 {
        match self {
            Flavour::Trle => 16,
            Flavour::Zrle => 64,
        }
    }
}

/// How a CPIXEL is laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CPixel {
    /// A whole pixel of the format.
    Full(usize),
    /// The first three bytes of the four-byte wire pixel (the fourth is zero).
    First3,
    /// The last three bytes of the four-byte wire pixel (the first is zero).
    Last3,
}

impl CPixel {
    pub(crate) fn for_format(pf: &PixelFormat) -> Self {
        if pf.true_colour && pf.bits_per_pixel == 32 && pf.depth <= 24 {
            let bits = |max: u16, shift: u8| u32::from(max).checked_shl(shift.into()).unwrap_or(0);
            let max_pixel = bits(pf.red_max, pf.red_shift)
                | bits(pf.green_max, pf.green_shift)
                | bits(pf.blue_max, pf.blue_shift);
            let low = max_pixel < 1 << 24;
            let high = max_pixel & 0xff == 0;
            if (low && !pf.big_endian) || (high && pf.big_endian) {
                return CPixel::First3;
            }
            if (low && pf.big_endian) || (high && !pf.big_endian) {
                return CPixel::Last3;
            }
        }
        CPixel::Full(pf.bytes_per_pixel())
    }

    pub(crate) fn size(self) -> usize {
        match self {
            CPixel::Full(n) => n,
            CPixel::First3 | CPixel::Last3 => 3,
        }
    }

    fn rgba(self, b: &[u8], ctx: &DecodeContext<'_>) -> [u8; 4] {
        match (self, b) {
            (CPixel::First3, [x, y, z]) => ctx.rgba(&[*x, *y, *z, 0]),
            (CPixel::Last3, [x, y, z]) => ctx.rgba(&[0, *x, *y, *z]),
            _ => ctx.rgba(b),
        }
    }

    /// Converts a row of CPIXELs into RGBA, copying bytes when they are already `R G B`.
    fn row_rgba(self, src: &[u8], dst: &mut [u8], ctx: &DecodeContext<'_>) {
        if self == CPixel::First3 && ctx.is_rgbx() {
            for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(3)) {
                if let [r, g, b] = s {
                    d.copy_from_slice(&[*r, *g, *b, 0xff]);
                }
            }
        } else {
            for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(self.size())) {
                d.copy_from_slice(&self.rgba(s, ctx));
            }
        }
    }
}

/// TRLE (15): the tiles follow the rectangle header directly. Decodes the tiles that have
/// arrived into the scratch canvas, from where `cursor` stopped, and copies the canvas into the
/// framebuffer once the last tile was read. When the bytes run out the framebuffer is untouched
/// and `cursor` is where the next call — for the same rectangle, with more bytes — goes on.
pub(crate) fn decode(
    rect: Rect,
    r: &mut Reader<'_>,
    fb: &mut Framebuffer,
    ctx: &DecodeContext<'_>,
    scratch: &mut Vec<u8>,
    cursor: &mut Cursor,
) -> Result<(), Stall> {
    check_bounds(&rect, fb)?;
    pixel_bytes(&rect, 4, ctx.limits)?;
    let mut canvas = Canvas::new(rect.w, rect.h, scratch);
    cursor.walk(rect.w, rect.h, r, ctx, &mut canvas, Flavour::Trle)?;
    canvas.blit(fb, rect);
    Ok(())
}

/// The largest palette: palette RLE with subencoding 255.
pub(crate) const MAX_PALETTE: usize = 127;

/// Reads all the tiles of a `w × h` rectangle, in hand at once, into `sink`.
pub(crate) fn decode_tiles(
    w: u16,
    h: u16,
    r: &mut Reader<'_>,
    ctx: &DecodeContext<'_>,
    sink: &mut impl Sink,
    flavour: Flavour,
) -> Result<(), Stall> {
    Cursor::default().walk(w, h, r, ctx, sink, flavour)
}

fn invalid(field: &'static str, got: u8, why: &'static str) -> Stall {
    Error::Invalid {
        field,
        got: got.into(),
        why,
    }
    .into()
}

/// One tile's place in the rectangle.
#[derive(Debug, Clone, Copy)]
struct Tile {
    tx: u16,
    ty: u16,
    tw: u16,
    th: u16,
}

impl Tile {
    fn area(self) -> usize {
        usize::from(self.tw) * usize::from(self.th)
    }

    /// Paints `run` pixels from raster position `pos` (the caller keeps `pos + run ≤ area`).
    fn paint_run(self, sink: &mut impl Sink, mut pos: usize, mut run: usize, colour: [u8; 4]) {
        let tw = usize::from(self.tw).max(1);
        while run > 0 {
            let (x, y) = (pos % tw, pos / tw);
            let seg = run.min(tw - x);
            // x, y and seg are below the tile size (≤ 64).
            let fit = |v: usize| u16::try_from(v).unwrap_or(u16::MAX);
            sink.fill(self.tx + fit(x), self.ty + fit(y), fit(seg), 1, colour);
            pos += seg;
            run -= seg;
        }
    }
}

fn read_palette(
    r: &mut Reader<'_>,
    size: usize,
    palette: &mut [[u8; 4]; MAX_PALETTE],
    cp: CPixel,
    ctx: &DecodeContext<'_>,
) -> Result<usize, Stall> {
    let data = r.bytes(size * cp.size())?;
    for (slot, px) in palette.iter_mut().zip(data.chunks_exact(cp.size())) {
        *slot = cp.rgba(px, ctx);
    }
    Ok(size.min(MAX_PALETTE))
}

/// Bits per packed palette index: 1 for up to 2 colours, 2 for 3–4, 4 for 5–16.
#[inline]
fn index_bits(palette_len: usize) -> usize {
    match palette_len {
        0..=2 => 1,
        3..=4 => 2,
        _ => 4,
    }
}

/// The bytes of a `tw × th` tile's packed indices into a palette of `palette_len` colours.
pub(crate) fn packed_len(tw: u16, th: u16, palette_len: usize) -> usize {
    (usize::from(tw) * index_bits(palette_len)).div_ceil(8) * usize::from(th)
}

/// Packed palette indices, rows padded to whole bytes.
fn packed(
    r: &mut Reader<'_>,
    tile: Tile,
    palette: &[[u8; 4]],
    sink: &mut impl Sink,
) -> Result<(), Stall> {
    let bits = index_bits(palette.len());
    let row_len = (usize::from(tile.tw) * bits).div_ceil(8);
    let data = r.bytes(row_len * usize::from(tile.th))?;
    let mask = (1u8 << bits) - 1;
    for (dy, src) in (0..tile.th).zip(data.chunks_exact(row_len.max(1))) {
        let dst = sink.row(tile.tx, tile.ty + dy, tile.tw);
        for (x, d) in dst.chunks_exact_mut(4).enumerate() {
            let bit = x * bits;
            let byte = src.get(bit / 8).copied().unwrap_or(0);
            // The shift is at most 7.
            let index = (byte >> (8 - bits - bit % 8)) & mask;
            let colour = palette.get(usize::from(index)).ok_or_else(|| {
                invalid(
                    "ZRLE/TRLE palette index",
                    index,
                    "not below the palette size",
                )
            })?;
            d.copy_from_slice(colour);
        }
    }
    Ok(())
}

/// Where a tile's runs stopped for lack of bytes (or on invalid input): the pixels the whole
/// runs painted, and the reader position after the last of them.
struct RunsStopped {
    stall: Stall,
    pos: usize,
    at: usize,
}

/// Paints a tile's runs from raster position `pos` until the tile is full, each read by
/// `read_run` (given the pixels left, it returns the run's length, at most that, and colour).
fn runs(
    r: &mut Reader<'_>,
    tile: Tile,
    mut pos: usize,
    sink: &mut impl Sink,
    mut read_run: impl FnMut(&mut Reader<'_>, usize) -> Result<(usize, [u8; 4]), Stall>,
) -> Result<(), RunsStopped> {
    let area = tile.area();
    while pos < area {
        let at = r.position();
        match read_run(r, area - pos) {
            Ok((run, colour)) => {
                tile.paint_run(sink, pos, run, colour);
                pos += run;
            }
            Err(stall) => return Err(RunsStopped { stall, pos, at }),
        }
    }
    Ok(())
}

/// One plain RLE run: a CPIXEL and a run length.
fn plain_run(
    r: &mut Reader<'_>,
    left: usize,
    cp: CPixel,
    ctx: &DecodeContext<'_>,
) -> Result<(usize, [u8; 4]), Stall> {
    let colour = cp.rgba(r.bytes(cp.size())?, ctx);
    Ok((run_length(r, left)?, colour))
}

/// One palette RLE run: an index byte, and if its top bit is set a run length.
fn palette_run(
    r: &mut Reader<'_>,
    left: usize,
    palette: &[[u8; 4]],
) -> Result<(usize, [u8; 4]), Stall> {
    let b = r.u8()?;
    let index = b & 0x7f;
    let colour = *palette.get(usize::from(index)).ok_or_else(|| {
        invalid(
            "ZRLE/TRLE palette index",
            index,
            "not below the palette size",
        )
    })?;
    let run = if b & 0x80 != 0 {
        run_length(r, left)?
    } else {
        1
    };
    Ok((run, colour))
}

/// `1 + Σ bytes`, 255 meaning "more follows"; refused as soon as it exceeds `left`.
pub(crate) fn run_length(r: &mut Reader<'_>, left: usize) -> Result<usize, Stall> {
    let mut len = 1usize;
    loop {
        let b = r.u8()?;
        len += usize::from(b);
        if len > left {
            return Err(Error::Invalid {
                field: "ZRLE/TRLE run length",
                got: len as u64,
                why: "the run overflows its tile",
            }
            .into());
        }
        if b != 0xff {
            return Ok(len);
        }
    }
}

#[cfg(test)]
mod tests;
