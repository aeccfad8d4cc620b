//! The units the server-stream filter reads — message headers, rectangle headers, the fixed
//! fields of each encoding, tile headers and runs — and what each says about the bytes that
//! follow it. A unit either completes, and only then changes the filter's state, or runs out
//! of bytes (`Stall::Incomplete`) having changed nothing, so it can be read again whole once
//! more bytes arrived.

use super::ServerStreamFilter;
use crate::decode::{checked_len, desktop, hextile, pixel_bytes, tight, trle};
use crate::error::{Error, LimitKind, Stall};
use crate::framebuffer::Rect;
use crate::messages::encoding::Encoding;
use crate::messages::server::{RectHeader, ServerMessageHeader};
use crate::wire::Reader;

/// Rectangles left in the current FramebufferUpdate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RectsLeft {
    Count(u16),
    UntilLastRect,
}

/// What the next unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// A message header.
    Message,
    /// A dropped cut-text message ends once its payload is skipped; then a message header.
    EndOfCutText,
    /// A rectangle header.
    Rect,
    /// RRE: the subrectangle count (the background and subrectangles are skipped).
    Rre {
        area: u64,
    },
    /// A `U32` length and that many bytes (Zlib, ZRLE, DesktopName).
    U32Length {
        limit: LimitKind,
        max: usize,
    },
    /// ExtendedDesktopSize: the screen count and padding.
    ExtendedDesktopSize,
    /// Tight: the control byte, and a basic rectangle's filter id and palette size.
    TightControl {
        rect: Rect,
        png: bool,
    },
    /// Tight basic: the compact length of the zlib data (after the palette, if any).
    TightLength,
    Hextile(HextileWalk),
    Trle(TrleWalk),
    Jpeg(JpegWalk),
}

/// Where a Hextile rectangle's walk stands: the tile, and whether a background and a
/// foreground carry over to it (the carry-over rules of [`crate::decode::hextile`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HextileWalk {
    w: u16,
    h: u16,
    tx: u16,
    ty: u16,
    background: bool,
    foreground: bool,
}

/// Where a TRLE rectangle's walk stands: the tile, the size of the palette carried over to
/// it (0: none), and what is left of the tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TrleWalk {
    w: u16,
    h: u16,
    tx: u16,
    ty: u16,
    palette_len: usize,
    tile: TrleTile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TrleTile {
    Subencoding,
    /// Plain RLE runs until `left` more pixels are covered.
    PlainRle {
        left: usize,
    },
    /// Palette RLE runs until `left` more pixels are covered.
    PaletteRle {
        left: usize,
    },
}

/// Where the walk over a JPEG's markers (encoding 21, see [`crate::decode`]'s `jpeg`) stands,
/// and how many bytes the image has had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct JpegWalk {
    at: JpegAt,
    bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JpegAt {
    /// `FF D8`.
    Soi,
    /// The `FF` of a marker.
    Marker,
    /// Fill `FF`s, then the marker byte.
    MarkerCode,
    /// A segment's `U16` length (counting itself); entropy-coded data follows SOS's.
    SegmentLength { sos: bool },
    /// Entropy-coded data up to an `FF`.
    Entropy,
    /// After an `FF` in entropy-coded data: stuffing (`00`), RSTn, fill, or a marker.
    EntropyFf,
}

const EOI: u8 = 0xd9;
const SOS: u8 = 0xda;

/// The error of a value the decoders refuse too.
fn invalid(field: &'static str, got: u64, why: &'static str) -> Stall {
    Error::Invalid { field, got, why }.into()
}

/// `a × b (+ c)` for sizes from the wire, held to `max_rect_bytes`.
fn rect_bytes(n: u64, max: usize) -> Result<usize, Stall> {
    match usize::try_from(n) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(Error::limit(LimitKind::RectBytes, n, max).into()),
    }
}

impl ServerStreamFilter {
    /// Reads the unit `self.next` at the start of `buf`: the bytes it used, after which the
    /// state says what follows (`skip` payload bytes, then `next`).
    pub(super) fn unit(&mut self, buf: &[u8]) -> Result<usize, Stall> {
        let mut r = Reader::new(buf);
        match self.next {
            Next::Message | Next::EndOfCutText => self.message(&mut r)?,
            Next::Rect => self.rect(&mut r)?,
            Next::Rre { area } => {
                let n = r.u32()?;
                if u64::from(n) > area {
                    return Err(invalid(
                        "RRE subrectangle count",
                        n.into(),
                        "more subrectangles than pixels in the rectangle",
                    ));
                }
                let bpp = self.bpp();
                let len = u64::from(n) * (bpp as u64 + 8) + bpp as u64;
                self.payload(rect_bytes(len, self.limits.max_rect_bytes)?);
            }
            Next::U32Length { limit, max } => {
                let len = checked_len(r.u32()?, limit, max)?;
                self.payload(len);
            }
            Next::ExtendedDesktopSize => {
                let n = usize::from(r.u8()?);
                r.skip(3)?;
                self.payload(n * desktop::Screen::WIRE_LEN);
            }
            Next::TightControl { rect, png } => self.tight_control(&mut r, rect, png)?,
            Next::TightLength => {
                let len = tight::compact_len(&mut r)?;
                let max = self.limits.max_rect_bytes;
                if len > max {
                    return Err(Error::limit(LimitKind::RectBytes, len as u64, max).into());
                }
                self.payload(len);
            }
            Next::Hextile(walk) => self.hextile(&mut r, walk)?,
            Next::Trle(walk) => self.trle(&mut r, walk)?,
            Next::Jpeg(walk) => return self.jpeg(buf, walk),
        }
        Ok(r.position())
    }

    fn bpp(&self) -> usize {
        self.pixel_format.bytes_per_pixel()
    }

    /// The rectangle's remaining `len` bytes are payload; then the rectangle is done.
    fn payload(&mut self, len: usize) {
        self.skip = len;
        self.rect_done();
    }

    /// One rectangle is done: the next is a rectangle header, or a message once the update
    /// has had all of its rectangles.
    fn rect_done(&mut self) {
        self.rects_left = match self.rects_left {
            RectsLeft::Count(n) => RectsLeft::Count(n.saturating_sub(1)),
            RectsLeft::UntilLastRect => RectsLeft::UntilLastRect,
        };
        self.next = match self.rects_left {
            RectsLeft::Count(0) => Next::Message,
            _ => Next::Rect,
        };
    }

    fn message(&mut self, r: &mut Reader<'_>) -> Result<(), Stall> {
        let header = ServerMessageHeader::read(r, &self.limits)?;
        match header {
            ServerMessageHeader::FramebufferUpdate { rects } => {
                if let Some(pf) = self.pending_format.take() {
                    self.pixel_format = pf;
                }
                self.rects_left = match rects {
                    0xffff => RectsLeft::UntilLastRect,
                    n => RectsLeft::Count(n),
                };
                self.next = match rects {
                    0 => Next::Message,
                    _ => Next::Rect,
                };
            }
            ServerMessageHeader::ServerCutText(text) => {
                self.dropped += 1;
                self.skip = text.payload_len();
                self.next = Next::EndOfCutText;
            }
            other => {
                self.skip = other.payload_len();
                self.next = Next::Message;
            }
        }
        Ok(())
    }

    fn rect(&mut self, r: &mut Reader<'_>) -> Result<(), Stall> {
        let RectHeader { rect, encoding } = RectHeader::read(r)?;
        let limits = self.limits;
        let bpp = self.bpp();
        let empty = rect.w == 0 || rect.h == 0;
        match encoding {
            Encoding::Raw => self.payload(pixel_bytes(&rect, bpp, &limits)?),
            Encoding::CopyRect => self.payload(4),
            Encoding::Rre => {
                self.next = Next::Rre {
                    area: u64::from(rect.w) * u64::from(rect.h),
                }
            }
            Encoding::Hextile => {
                pixel_bytes(&rect, 4, &limits)?;
                self.next = Next::Hextile(HextileWalk {
                    w: rect.w,
                    h: rect.h,
                    tx: 0,
                    ty: 0,
                    background: false,
                    foreground: false,
                });
                if empty {
                    self.rect_done();
                }
            }
            Encoding::Zlib => {
                pixel_bytes(&rect, bpp, &limits)?;
                self.next = Next::U32Length {
                    limit: LimitKind::RectBytes,
                    max: limits.max_rect_bytes,
                };
            }
            Encoding::Zrle => {
                self.next = Next::U32Length {
                    limit: LimitKind::RectBytes,
                    max: limits.max_rect_bytes,
                }
            }
            Encoding::Tight | Encoding::TightPng => {
                self.next = Next::TightControl {
                    rect,
                    png: encoding == Encoding::TightPng,
                }
            }
            Encoding::Trle => {
                pixel_bytes(&rect, 4, &limits)?;
                self.next = Next::Trle(TrleWalk {
                    w: rect.w,
                    h: rect.h,
                    tx: 0,
                    ty: 0,
                    palette_len: 0,
                    tile: TrleTile::Subencoding,
                });
                if empty {
                    self.rect_done();
                }
            }
            Encoding::Jpeg => {
                self.next = Next::Jpeg(JpegWalk {
                    at: JpegAt::Soi,
                    bytes: 0,
                })
            }
            Encoding::LastRect => {
                self.rects_left = RectsLeft::Count(0);
                self.next = Next::Message;
            }
            Encoding::DesktopSize => {
                desktop::desktop_size(rect, &limits)?;
                self.rect_done();
            }
            Encoding::ExtendedDesktopSize => self.next = Next::ExtendedDesktopSize,
            Encoding::DesktopName => {
                self.next = Next::U32Length {
                    limit: LimitKind::StringBytes,
                    max: limits.max_string_bytes,
                }
            }
            Encoding::Cursor => {
                let max = limits.max_cursor_side;
                if rect.w > max || rect.h > max {
                    let got = rect.w.max(rect.h);
                    return Err(Error::limit(LimitKind::CursorSide, got.into(), max.into()).into());
                }
                let (w, h) = (u64::from(rect.w), u64::from(rect.h));
                let len = match empty {
                    true => 0,
                    false => w * h * bpp as u64 + w.div_ceil(8) * h,
                };
                self.payload(rect_bytes(len, limits.max_rect_bytes)?);
            }
            Encoding::QemuExtendedKeyEvent => self.rect_done(),
            other => return Err(Error::UnsupportedEncoding(other.to_i32()).into()),
        }
        Ok(())
    }

    /// Tight's control byte; for basic compression the filter id and palette size too. The
    /// palette's colours, and data below 12 bytes, are skipped; longer data has a compact
    /// length ([`Next::TightLength`]).
    fn tight_control(&mut self, r: &mut Reader<'_>, rect: Rect, png: bool) -> Result<(), Stall> {
        let control = r.u8()?;
        let pf = self.pixel_format;
        let tpx = tight::tpixel_size(&pf);
        let bad = |why| invalid("Tight compression control", control.into(), why);
        match control >> 4 {
            0x8 => self.payload(tpx),
            kind @ (0x9 | 0xa) => {
                if kind == 0xa && !png {
                    return Err(bad("PNG is only sent in TightPNG"));
                }
                if kind == 0x9 && pf.bytes_per_pixel() == 1 {
                    return Err(bad("JPEG is not allowed at 8 bits per pixel"));
                }
                let len = tight::compact_len(r)?;
                let max = self.limits.max_jpeg_bytes;
                if len > max {
                    return Err(Error::limit(LimitKind::JpegBytes, len as u64, max).into());
                }
                self.payload(len);
            }
            kind @ 0x0..=0x7 => {
                let filter = match kind & 0x4 {
                    0 => tight::FilterId::Copy,
                    _ => tight::read_filter_id(r, &pf)?,
                };
                let palette = match filter {
                    tight::FilterId::Palette { n } => n * tpx,
                    _ => 0,
                };
                let size = tight::filtered_size(rect, tpx, filter, &self.limits)?;
                if size < tight::MIN_TO_COMPRESS {
                    self.payload(palette + size);
                } else {
                    self.skip = palette;
                    self.next = Next::TightLength;
                }
            }
            _ => return Err(bad("unknown compression type")),
        }
        Ok(())
    }

    /// One Hextile tile's mask, colours and subrectangle count; its raw pixels or its
    /// subrectangles are skipped.
    fn hextile(&mut self, r: &mut Reader<'_>, mut walk: HextileWalk) -> Result<(), Stall> {
        let bpp = self.bpp();
        let tw = walk.w.saturating_sub(walk.tx).min(hextile::TILE);
        let th = walk.h.saturating_sub(walk.ty).min(hextile::TILE);
        let mask = r.u8()?;
        let bad = |why| invalid("Hextile tile mask", mask.into(), why);
        if mask & hextile::UNDEFINED_BITS != 0 {
            return Err(bad("bits 5-7 are not defined"));
        }
        let skip = if mask & hextile::RAW != 0 {
            walk.background = false;
            walk.foreground = false;
            usize::from(tw) * usize::from(th) * bpp
        } else {
            let background = mask & hextile::BACKGROUND != 0;
            let foreground = mask & hextile::FOREGROUND != 0;
            r.skip(if background { bpp } else { 0 })?;
            r.skip(if foreground { bpp } else { 0 })?;
            if !background && !walk.background {
                return Err(bad(
                    "the tile has no background and none carries over to it",
                ));
            }
            let subrects = match mask & hextile::ANY_SUBRECTS {
                0 => 0,
                _ => usize::from(r.u8()?),
            };
            let coloured = mask & hextile::SUBRECTS_COLOURED != 0;
            if subrects > 0 && !coloured && !foreground && !walk.foreground {
                return Err(bad(
                    "single-colour subrectangles without a foreground colour",
                ));
            }
            walk.background = true;
            walk.foreground = (foreground || walk.foreground) && !coloured;
            subrects * (2 + if coloured { bpp } else { 0 })
        };
        walk.tx = walk.tx.saturating_add(hextile::TILE);
        if walk.tx >= walk.w {
            walk.tx = 0;
            walk.ty = walk.ty.saturating_add(hextile::TILE);
        }
        if walk.ty >= walk.h {
            self.payload(skip);
        } else {
            self.skip = skip;
            self.next = Next::Hextile(walk);
        }
        Ok(())
    }

    /// One TRLE tile's subencoding byte (its pixels, palette and packed indices are
    /// skipped), or one run of an RLE tile.
    fn trle(&mut self, r: &mut Reader<'_>, mut walk: TrleWalk) -> Result<(), Stall> {
        const TILE: u16 = 16;
        let cp = trle::CPixel::for_format(&self.pixel_format).size();
        let tw = walk.w.saturating_sub(walk.tx).min(TILE);
        let th = walk.h.saturating_sub(walk.ty).min(TILE);
        let area = usize::from(tw) * usize::from(th);
        let mut skip = 0;
        walk.tile = match walk.tile {
            TrleTile::Subencoding => {
                let sub = r.u8()?;
                let bad = |why| invalid("TRLE subencoding", sub.into(), why);
                match sub {
                    0 => {
                        skip = area * cp;
                        TrleTile::Subencoding
                    }
                    1 => {
                        skip = cp;
                        TrleTile::Subencoding
                    }
                    2..=16 => {
                        walk.palette_len = usize::from(sub);
                        skip = walk.palette_len * cp + trle::packed_len(tw, th, walk.palette_len);
                        TrleTile::Subencoding
                    }
                    127 => {
                        if !(2..=16).contains(&walk.palette_len) {
                            return Err(bad("no previous packed palette to reuse"));
                        }
                        skip = trle::packed_len(tw, th, walk.palette_len);
                        TrleTile::Subencoding
                    }
                    128 => TrleTile::PlainRle { left: area },
                    129 => {
                        if walk.palette_len == 0 {
                            return Err(bad("no previous palette to reuse"));
                        }
                        TrleTile::PaletteRle { left: area }
                    }
                    130..=255 => {
                        walk.palette_len = usize::from(sub - 128).min(trle::MAX_PALETTE);
                        skip = walk.palette_len * cp;
                        TrleTile::PaletteRle { left: area }
                    }
                    _ => return Err(bad("unused")),
                }
            }
            TrleTile::PlainRle { left } => {
                r.skip(cp)?;
                match left.saturating_sub(trle::run_length(r, left)?) {
                    0 => TrleTile::Subencoding,
                    left => TrleTile::PlainRle { left },
                }
            }
            TrleTile::PaletteRle { left } => {
                let b = r.u8()?;
                let index = b & 0x7f;
                if usize::from(index) >= walk.palette_len {
                    return Err(invalid(
                        "ZRLE/TRLE palette index",
                        index.into(),
                        "not below the palette size",
                    ));
                }
                let run = match b & 0x80 {
                    0 => 1,
                    _ => trle::run_length(r, left)?,
                };
                match left.saturating_sub(run) {
                    0 => TrleTile::Subencoding,
                    left => TrleTile::PaletteRle { left },
                }
            }
        };
        if walk.tile == TrleTile::Subencoding {
            walk.tx = walk.tx.saturating_add(TILE);
            if walk.tx >= walk.w {
                walk.tx = 0;
                walk.ty = walk.ty.saturating_add(TILE);
            }
        }
        if walk.ty >= walk.h {
            self.payload(skip);
        } else {
            self.skip = skip;
            self.next = Next::Trle(walk);
        }
        Ok(())
    }

    /// One step of the walk over a JPEG's markers; entropy-coded data is passed over up to
    /// its next `FF` without a reader. The image's bytes are held to `max_jpeg_bytes`.
    fn jpeg(&mut self, buf: &[u8], mut walk: JpegWalk) -> Result<usize, Stall> {
        let mut r = Reader::new(buf);
        let mut skip = 0;
        let mut done = false;
        let marker = |m: u8, done: &mut bool| match m {
            EOI => {
                *done = true;
                JpegAt::Soi
            }
            0x01 | 0xd0..=0xd7 => JpegAt::Marker,
            m => JpegAt::SegmentLength { sos: m == SOS },
        };
        walk.at = match walk.at {
            JpegAt::Soi => {
                let soi = r.array::<2>()?;
                if soi != [0xff, 0xd8] {
                    return Err(invalid(
                        "JPEG start",
                        u16::from_be_bytes(soi).into(),
                        "a JPEG rectangle must start with SOI (FF D8)",
                    ));
                }
                JpegAt::Marker
            }
            JpegAt::Marker => match r.u8()? {
                0xff => JpegAt::MarkerCode,
                b => {
                    return Err(invalid(
                        "JPEG marker",
                        b.into(),
                        "a segment must start with FF",
                    ))
                }
            },
            JpegAt::MarkerCode => match r.u8()? {
                0xff => JpegAt::MarkerCode,
                0x00 => {
                    return Err(invalid(
                        "JPEG marker",
                        0,
                        "FF 00 outside entropy-coded data",
                    ))
                }
                m => marker(m, &mut done),
            },
            JpegAt::SegmentLength { sos } => {
                let len = usize::from(r.u16()?);
                if len < 2 {
                    return Err(invalid(
                        "JPEG segment length",
                        len as u64,
                        "it must count its own two bytes",
                    ));
                }
                skip = len - 2;
                if sos {
                    JpegAt::Entropy
                } else {
                    JpegAt::Marker
                }
            }
            JpegAt::Entropy => match buf.iter().position(|&b| b == 0xff) {
                Some(i) => {
                    r.skip(i + 1)?;
                    JpegAt::EntropyFf
                }
                None => {
                    // Never empty: the filter reads a unit only when a byte is there.
                    r.skip(buf.len().max(1))?;
                    JpegAt::Entropy
                }
            },
            JpegAt::EntropyFf => match r.u8()? {
                0xff => JpegAt::EntropyFf,
                0x00 | 0xd0..=0xd7 => JpegAt::Entropy,
                m => marker(m, &mut done),
            },
        };
        let used = r.position();
        walk.bytes = walk.bytes.saturating_add(used).saturating_add(skip);
        let max = self.limits.max_jpeg_bytes;
        if walk.bytes > max {
            return Err(Error::limit(LimitKind::JpegBytes, walk.bytes as u64, max).into());
        }
        if done {
            self.payload(skip);
        } else {
            self.skip = skip;
            self.next = Next::Jpeg(walk);
        }
        Ok(used)
    }
}
