//! Tight (7) and TightPNG (−260) encodings (TigerVNC `TightDecoder`, the RFB community spec).
//!
//! A rectangle starts with a control byte. Its low four bits reset zlib streams 0–3 — applied
//! even for fill and JPEG rectangles, and only once the whole rectangle is in hand. The high
//! nibble says what follows:
//!
//! - `0b0FSS` basic: stream `SS`, then with `F` a filter byte (0 copy, 1 palette, 2 gradient);
//!   the filtered data is sent raw if below 12 bytes, else as a compact length and zlib data
//!   that must inflate to exactly its size;
//! - `0x8` fill: one TPIXEL; `0x9` JPEG: compact length + JFIF; `0xA` (TightPNG only) PNG.
//!
//! A TPIXEL is 3 bytes R, G, B when the format is true colour, 32 bpp, depth 24, with 8-bit
//! byte-aligned channels (TigerVNC `is888`); otherwise a whole pixel. Basic compression is
//! accepted in TightPNG too (QEMU sends it there at 8 bpp). The spec's 2048-pixel width limit
//! is not enforced: this decoder has no fixed-size row buffers (libvncclient 5b270544,
//! TigerVNC CVE-2019-15693) and real servers exceed it; sizes are held to the limits instead.

mod filter;

use super::image::{paint_jpeg, paint_png};
use super::inflate::Inflater;
use super::{check_bounds, DecodeContext};
use crate::error::{Error, LimitKind, Stall};
use crate::framebuffer::{Framebuffer, Rect};
use crate::limits::Limits;
use crate::pixel_format::PixelFormat;
use crate::wire::Reader;

/// Below this many bytes, basic data is sent without zlib.
pub(crate) const MIN_TO_COMPRESS: usize = 12;

/// The connection's four Tight zlib streams, and the buffer they inflate into.
pub(crate) struct Streams<'a> {
    pub zlib: &'a mut [Inflater; 4],
    pub inflated: &'a mut Vec<u8>,
}

/// The filter of a basic rectangle, with what it read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Filter<'a> {
    Copy,
    /// `n` colours (1–256) as TPIXELs.
    Palette {
        n: usize,
        colours: &'a [u8],
    },
    Gradient,
}

impl Filter<'_> {
    fn id(self) -> FilterId {
        match self {
            Filter::Copy => FilterId::Copy,
            Filter::Palette { n, .. } => FilterId::Palette { n },
            Filter::Gradient => FilterId::Gradient,
        }
    }
}

/// How a TPIXEL travels for this format.
pub(crate) fn tpixel_size(pf: &PixelFormat) -> usize {
    let is888 = pf.true_colour
        && pf.bits_per_pixel == 32
        && pf.depth == 24
        && (pf.red_max, pf.green_max, pf.blue_max) == (255, 255, 255)
        && [pf.red_shift, pf.green_shift, pf.blue_shift]
            .iter()
            .all(|s| s % 8 == 0);
    if is888 {
        3
    } else {
        pf.bytes_per_pixel()
    }
}

/// TPIXEL → RGBA.
pub(crate) fn tpixel(px: &[u8], ctx: &DecodeContext<'_>) -> [u8; 4] {
    match px {
        [r, g, b] => [*r, *g, *b, 0xff],
        _ => ctx.rgba(px),
    }
}

pub(crate) fn decode(
    rect: Rect,
    r: &mut Reader<'_>,
    fb: &mut Framebuffer,
    ctx: &DecodeContext<'_>,
    streams: Streams<'_>,
    png: bool,
) -> Result<(), Stall> {
    let encoding = if png { "TightPNG" } else { "Tight" };
    check_bounds(&rect, fb)?;
    let control = r.u8()?;
    let resets = control & 0x0f;
    let tpx = tpixel_size(ctx.pixel_format);
    match control >> 4 {
        0x8 => {
            let colour = tpixel(r.bytes(tpx)?, ctx);
            reset(streams.zlib, resets);
            fb.fill(rect, colour);
        }
        kind @ (0x9 | 0xa) => {
            if kind == 0xa && !png {
                return Err(invalid_control(control, "PNG is only sent in TightPNG"));
            }
            if kind == 0x9 && ctx.bytes_per_pixel() == 1 {
                return Err(invalid_control(
                    control,
                    "JPEG is not allowed at 8 bits per pixel",
                ));
            }
            let len = compact_len(r)?;
            if len > ctx.limits.max_jpeg_bytes {
                return Err(Error::limit(
                    LimitKind::JpegBytes,
                    len as u64,
                    ctx.limits.max_jpeg_bytes,
                )
                .into());
            }
            let data = r.bytes(len)?;
            reset(streams.zlib, resets);
            if kind == 0x9 {
                paint_jpeg(encoding, data, rect, fb, ctx.limits)?;
            } else {
                paint_png(encoding, data, rect, fb, ctx.limits)?;
            }
        }
        kind @ 0x0..=0x7 => {
            let stream = usize::from(kind & 0x3);
            let filter = if kind & 0x4 != 0 {
                read_filter(r, ctx, tpx)?
            } else {
                Filter::Copy
            };
            let size = filtered_size(rect, tpx, filter.id(), ctx.limits)?;
            let compressed = size >= MIN_TO_COMPRESS;
            let payload = if compressed {
                let len = compact_len(r)?;
                if len > ctx.limits.max_rect_bytes {
                    let max = ctx.limits.max_rect_bytes;
                    return Err(Error::limit(LimitKind::RectBytes, len as u64, max).into());
                }
                r.bytes(len)?
            } else {
                r.bytes(size)?
            };
            // Complete: now the streams may change.
            reset(streams.zlib, resets);
            let data: &[u8] = if compressed {
                let z = streams
                    .zlib
                    .get_mut(stream)
                    .ok_or(Error::ZlibCorrupt { encoding })?;
                z.inflate_exact(encoding, payload, streams.inflated, size)?;
                streams.inflated.as_slice()
            } else {
                payload
            };
            filter::paint(rect, data, filter, tpx, fb, ctx)?;
        }
        _ => return Err(invalid_control(control, "unknown compression type")),
    }
    Ok(())
}

fn invalid_control(control: u8, why: &'static str) -> Stall {
    Error::Invalid {
        field: "Tight compression control",
        got: control.into(),
        why,
    }
    .into()
}

fn reset(zlib: &mut [Inflater; 4], bits: u8) {
    for (i, z) in zlib.iter_mut().enumerate() {
        if bits & (1 << i) != 0 {
            z.reset();
        }
    }
}

fn read_filter<'a>(
    r: &mut Reader<'a>,
    ctx: &DecodeContext<'_>,
    tpx: usize,
) -> Result<Filter<'a>, Stall> {
    Ok(match read_filter_id(r, ctx.pixel_format)? {
        FilterId::Copy => Filter::Copy,
        FilterId::Palette { n } => Filter::Palette {
            n,
            colours: r.bytes(n * tpx)?,
        },
        FilterId::Gradient => Filter::Gradient,
    })
}

/// A basic rectangle's filter as its id byte (and, for a palette, its size byte) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FilterId {
    Copy,
    /// `n` colours (1–256) follow as TPIXELs.
    Palette {
        n: usize,
    },
    Gradient,
}

/// Reads the filter id (and a palette's size), without the palette's colours.
pub(crate) fn read_filter_id(r: &mut Reader<'_>, pf: &PixelFormat) -> Result<FilterId, Stall> {
    match r.u8()? {
        0 => Ok(FilterId::Copy),
        1 => Ok(FilterId::Palette {
            n: usize::from(r.u8()?) + 1,
        }),
        2 if pf.bytes_per_pixel() == 1 || !pf.true_colour => Err(Error::Invalid {
            field: "Tight filter",
            got: 2,
            why: "the gradient filter needs a true-colour format of 16 or 32 bits per pixel",
        }
        .into()),
        2 => Ok(FilterId::Gradient),
        other => Err(Error::Invalid {
            field: "Tight filter",
            got: other.into(),
            why: "unknown filter",
        }
        .into()),
    }
}

/// The size of the filtered data: rows of TPIXELs, of 1-bit indices padded to bytes (two
/// colours), or of 8-bit indices.
pub(crate) fn filtered_size(
    rect: Rect,
    tpx: usize,
    filter: FilterId,
    limits: &Limits,
) -> Result<usize, Stall> {
    let w = u64::from(rect.w);
    let row = match filter {
        FilterId::Palette { n: 2 } => w.div_ceil(8),
        FilterId::Palette { .. } => w,
        FilterId::Copy | FilterId::Gradient => w * tpx as u64,
    };
    let size = row * u64::from(rect.h);
    match usize::try_from(size) {
        Ok(s) if s <= limits.max_rect_bytes => Ok(s),
        _ => Err(Error::limit(LimitKind::RectBytes, size, limits.max_rect_bytes).into()),
    }
}

/// Tight's compact length: 7 bits a byte, low first, bit 7 = more; the third byte gives 8.
pub(crate) fn compact_len(r: &mut Reader<'_>) -> Result<usize, Stall> {
    let b0 = r.u8()?;
    let mut len = usize::from(b0 & 0x7f);
    if b0 & 0x80 != 0 {
        let b1 = r.u8()?;
        len |= usize::from(b1 & 0x7f) << 7;
        if b1 & 0x80 != 0 {
            len |= usize::from(r.u8()?) << 14;
        }
    }
    Ok(len)
}

#[cfg(test)]
mod tests;
