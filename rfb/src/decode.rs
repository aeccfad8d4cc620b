//! Rectangle decoders: each reads one rectangle's payload and writes RGBA into the framebuffer.
//!
//! Invariant relied on by [`crate::Client`]: a rectangle is retried from its header whenever
//! more bytes arrive, and consumed only once complete. So a decoder either reads its whole
//! payload and then changes state, or reports `Stall::Incomplete` having changed neither the
//! framebuffer nor a persistent zlib stream:
//!
//! - length-prefixed encodings (Zlib, ZRLE, Tight's compact lengths) read the length, then the
//!   bytes, and only then inflate and paint;
//! - encodings without a length (Hextile, TRLE) decode into a scratch canvas and copy it into
//!   the framebuffer only when the walk reached the end. So that a large rectangle arriving in
//!   pieces costs one pass and not one per piece, the walk keeps its place (`Partial`): the
//!   retry skips the tiles already decoded. This relies on the retry bringing the same bytes
//!   again, with more after them — the session consumes nothing of a rectangle until it is
//!   complete, and any error ends the connection;
//! - RRE's and CopyRect's sizes follow from their headers.
//!
//! Persistent per-connection state (the zlib streams: Zlib 1, ZRLE 1, Tight 4; JPEG tables
//! for encoding 21) and the place of an incomplete Hextile or TRLE rectangle live in
//! `Decoders`, owned by the session.

pub(crate) mod canvas;
pub(crate) mod copy_rect;
pub mod cursor;
pub mod desktop;
pub(crate) mod hextile;
pub(crate) mod image;
pub(crate) mod inflate;
pub(crate) mod jpeg;
pub(crate) mod partial;
pub mod raw;
pub(crate) mod rre;
pub(crate) mod tight;
pub(crate) mod trle;
pub(crate) mod zlib;
pub(crate) mod zrle;

pub use cursor::CursorShape;
pub use desktop::{ExtendedDesktopSize, Screen};

use crate::error::{Error, LimitKind, Stall};
use crate::framebuffer::{ColourMap, Framebuffer, Rect};
use crate::limits::Limits;
use crate::messages::encoding::Encoding;
use crate::messages::server::RectHeader;
use crate::pixel_format::PixelFormat;
use crate::wire::Reader;

use inflate::Inflater;
use partial::Partial;

/// What decoders need besides the bytes: the current pixel format, colour map and limits.
#[derive(Debug, Clone, Copy)]
pub struct DecodeContext<'a> {
    pub pixel_format: &'a PixelFormat,
    pub colour_map: &'a ColourMap,
    pub limits: &'a Limits,
    /// Pixels are `R G B x` in memory (the format this client asks for): no shifting needed.
    rgbx: bool,
}

impl<'a> DecodeContext<'a> {
    pub fn new(
        pixel_format: &'a PixelFormat,
        colour_map: &'a ColourMap,
        limits: &'a Limits,
    ) -> Self {
        Self {
            pixel_format,
            colour_map,
            limits,
            rgbx: pixel_format.is_rgbx(),
        }
    }

    /// Converts `bytes_per_pixel` bytes of wire pixel to RGBA. Inline: the tile decoders call
    /// it per pixel, and out of line it was 17 % of a Hextile replay in wasm.
    #[inline]
    pub fn rgba(&self, px: &[u8]) -> [u8; 4] {
        if self.rgbx {
            if let [r, g, b, _] = px {
                return [*r, *g, *b, 0xff];
            }
        }
        self.rgba_of_any_format(px)
    }

    /// Converts one row of wire pixels to RGBA (as many as both hold): for `R G B x` a copy
    /// with the alpha set.
    #[inline]
    pub fn row_to_rgba(&self, dst: &mut [u8], src: &[u8]) {
        if self.rgbx && dst.len() == src.len() {
            dst.copy_from_slice(src);
            for px in dst.chunks_exact_mut(4) {
                if let [.., alpha] = px {
                    *alpha = 0xff;
                }
            }
            return;
        }
        for (d, s) in dst
            .chunks_exact_mut(4)
            .zip(src.chunks_exact(self.bytes_per_pixel()))
        {
            d.copy_from_slice(&self.rgba(s));
        }
    }

    fn rgba_of_any_format(&self, px: &[u8]) -> [u8; 4] {
        let v = self.pixel_format.pixel_value(px);
        if self.pixel_format.true_colour {
            self.pixel_format.value_to_rgba(v)
        } else {
            self.colour_map.rgba(v)
        }
    }

    /// Whether wire pixels are `R G B x` bytes, so rows can be copied with alpha set.
    pub fn is_rgbx(&self) -> bool {
        self.rgbx
    }

    pub fn bytes_per_pixel(&self) -> usize {
        self.pixel_format.bytes_per_pixel()
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

/// A `u32` length from the wire, checked against `max` before anything is read or allocated.
pub(crate) fn checked_len(len: u32, kind: LimitKind, max: usize) -> Result<usize, Error> {
    match usize::try_from(len) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(Error::limit(kind, len.into(), max)),
    }
}

/// Paints `rect` from packed `R G B` triples (Tight's TPIXEL and ZRLE's CPIXEL fast path,
/// JPEG output).
pub(crate) fn paint_rgb24(rect: Rect, rgb: &[u8], fb: &mut Framebuffer) {
    let row_len = usize::from(rect.w) * 3;
    if row_len == 0 {
        return;
    }
    for (dy, src) in (0..rect.h).zip(rgb.chunks_exact(row_len)) {
        let y = rect.y.saturating_add(dy);
        for (d, s) in fb
            .row_mut(rect.x, y, rect.w)
            .chunks_exact_mut(4)
            .zip(src.chunks_exact(3))
        {
            if let [r, g, b] = s {
                d.copy_from_slice(&[*r, *g, *b, 0xff]);
            }
        }
    }
    fb.mark_dirty(rect);
}

/// What one rectangle did, for the session to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RectOutcome {
    /// Pixels were painted into the framebuffer.
    Painted,
    /// LastRect: the update ends here.
    LastRect,
    /// DesktopSize: re-create the framebuffer at this size.
    DesktopSize {
        width: u16,
        height: u16,
    },
    ExtendedDesktopSize(ExtendedDesktopSize),
    Cursor(CursorShape),
    /// DesktopName; `None` when the rectangle was ignored (non-zero geometry, as TigerVNC).
    DesktopName(Option<String>),
    /// The server acknowledged QEMU Extended Key Events.
    QemuExtendedKeyEvent,
}

/// The per-connection decoder state: persistent zlib streams, JPEG tables and scratch buffers.
#[derive(Debug)]
pub(crate) struct Decoders {
    zlib: Inflater,
    zrle: Inflater,
    tight: [Inflater; 4],
    jpeg_tables: jpeg::Tables,
    /// Inflated bytes of the current rectangle (kept to reuse its allocation).
    inflated: Vec<u8>,
    /// RGBA of the current Hextile/TRLE rectangle, copied to the framebuffer when complete.
    scratch: Vec<u8>,
    /// Where the walk over the current Hextile/TRLE rectangle stopped when its bytes ran out.
    partial: Partial,
}

impl Default for Decoders {
    fn default() -> Self {
        Self {
            zlib: Inflater::new(),
            zrle: Inflater::new(),
            tight: [
                Inflater::new(),
                Inflater::new(),
                Inflater::new(),
                Inflater::new(),
            ],
            jpeg_tables: jpeg::Tables::default(),
            inflated: Vec::new(),
            scratch: Vec::new(),
            partial: Partial::None,
        }
    }
}

impl Decoders {
    /// Reads one rectangle's payload after its header. Data rectangles are checked against
    /// the framebuffer; pseudo-rectangles are not. The caller has checked that the encoding
    /// was requested.
    pub(crate) fn decode(
        &mut self,
        header: RectHeader,
        r: &mut Reader<'_>,
        fb: &mut Framebuffer,
        ctx: &DecodeContext<'_>,
    ) -> Result<RectOutcome, Stall> {
        let rect = header.rect;
        match header.encoding {
            Encoding::Raw => raw::decode(rect, r, fb, ctx)?,
            Encoding::CopyRect => copy_rect::decode(rect, r, fb)?,
            Encoding::Rre => rre::decode(rect, r, fb, ctx)?,
            Encoding::Hextile => {
                let mut cursor = self.partial.take_hextile(rect, &mut self.scratch);
                let done = hextile::decode(rect, r, fb, ctx, &mut self.scratch, &mut cursor);
                if let Err(Stall::Incomplete(_)) = done {
                    self.partial = Partial::Hextile { rect, cursor };
                }
                done?;
            }
            Encoding::Zlib => zlib::decode(rect, r, fb, ctx, &mut self.zlib, &mut self.inflated)?,
            Encoding::Trle => {
                let mut cursor = self.partial.take_trle(rect, &mut self.scratch);
                let done = trle::decode(rect, r, fb, ctx, &mut self.scratch, &mut cursor);
                if let Err(Stall::Incomplete(_)) = done {
                    self.partial = Partial::Trle { rect, cursor };
                }
                done?;
            }
            Encoding::Zrle => zrle::decode(rect, r, fb, ctx, &mut self.zrle, &mut self.inflated)?,
            Encoding::Tight | Encoding::TightPng => {
                let streams = tight::Streams {
                    zlib: &mut self.tight,
                    inflated: &mut self.inflated,
                };
                let png = header.encoding == Encoding::TightPng;
                tight::decode(rect, r, fb, ctx, streams, png)?;
            }
            Encoding::Jpeg => jpeg::decode(rect, r, fb, ctx, &mut self.jpeg_tables)?,
            Encoding::LastRect => return Ok(RectOutcome::LastRect),
            Encoding::DesktopSize => return desktop::desktop_size(rect, ctx.limits),
            Encoding::ExtendedDesktopSize => return desktop::extended_desktop_size(rect, r, ctx),
            Encoding::DesktopName => return desktop::desktop_name(rect, r, ctx.limits),
            Encoding::Cursor => return Ok(RectOutcome::Cursor(cursor::decode(rect, r, ctx)?)),
            Encoding::QemuExtendedKeyEvent => return Ok(RectOutcome::QemuExtendedKeyEvent),
            other => return Err(Error::UnsupportedEncoding(other.to_i32()).into()),
        }
        Ok(RectOutcome::Painted)
    }
}

#[cfg(test)]
pub(crate) mod test_util;

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    #[test]
    fn rgbx_fast_path_matches_the_general_conversion() {
        let cmap = ColourMap::default();
        let limits = Limits::default();
        let fast = DecodeContext::new(&PixelFormat::RGBX_LE, &cmap, &limits);
        assert!(fast.is_rgbx());
        let px = [10, 20, 30, 99];
        let v = PixelFormat::RGBX_LE.pixel_value(&px);
        assert_eq!(fast.rgba(&px), PixelFormat::RGBX_LE.value_to_rgba(v));
        assert_eq!(fast.rgba(&px), [10, 20, 30, 255]);
    }

    #[test]
    fn colour_map_and_16_bit_pixels_convert() {
        let mut cmap = ColourMap::default();
        cmap.set(7, &[[0xffff, 0x8000, 0]]);
        let limits = Limits::default();
        let ctx = DecodeContext::new(&PF_CMAP8, &cmap, &limits);
        assert_eq!(ctx.rgba(&[7]), [255, 128, 0, 255]);
        let ctx = DecodeContext::new(&PF_RGB565_BE, &cmap, &limits);
        assert_eq!(ctx.rgba(&[0xf8, 0x00]), [255, 0, 0, 255]);
    }

    /// A malformed-input sweep: random bytes, and valid rectangles with a few bytes changed,
    /// through every decoder in several formats. Any outcome but a panic is fine.
    #[test]
    fn hostile_bytes_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let encodings = [
            Encoding::Raw,
            Encoding::CopyRect,
            Encoding::Rre,
            Encoding::Hextile,
            Encoding::Zlib,
            Encoding::Trle,
            Encoding::Zrle,
            Encoding::Tight,
            Encoding::TightPng,
            Encoding::Jpeg,
            Encoding::Cursor,
            Encoding::DesktopName,
            Encoding::ExtendedDesktopSize,
        ];
        let formats = [PixelFormat::RGBX_LE, PF_RGB565_BE, PF_CMAP8, PF_XRGB_BE];
        for enc in encodings {
            for i in 0..200u16 {
                let len = usize::try_from(next() % 300).unwrap_or(0);
                let bytes: Vec<u8> = (0..len).map(|_| next().to_le_bytes()[0]).collect();
                let mut env = Env::new(40, 40, formats[usize::from(i) % formats.len()]);
                let r = rect(i % 7, i % 5, 1 + i % 33, 1 + (i / 3) % 33);
                let _ = env.run(enc, r, &bytes);
            }
        }
        let mut zlib = test_util::Deflater::new();
        let zrle_tiles = [130, 1, 2, 3, 4, 5, 6, 0x81, 20, 0x00, 0x80, 41];
        let zrle = [
            u32::try_from(zlib.chunk(&zrle_tiles).len())
                .unwrap_or(0)
                .to_be_bytes()
                .to_vec(),
            test_util::Deflater::new().chunk(&zrle_tiles),
        ]
        .concat();
        let jpeg = image::samples::jpeg(16, 16, [200, 10, 10], [10, 10, 200]);
        let png = image::samples::png(4, 4, png::ColorType::Rgb, &[77; 48]);
        let tight_jpeg = [
            vec![
                0x90,
                0x80 | (jpeg.len() & 0x7f) as u8,
                (jpeg.len() >> 7) as u8,
            ],
            jpeg.clone(),
        ]
        .concat();
        let tight_png = [vec![0xa0, png.len() as u8], png].concat();
        let samples = [
            (Encoding::Jpeg, rect(0, 0, 16, 16), jpeg),
            (Encoding::Tight, rect(0, 0, 16, 16), tight_jpeg),
            (Encoding::TightPng, rect(0, 0, 4, 4), tight_png),
            (Encoding::Zrle, rect(0, 0, 8, 8), zrle),
        ];
        for (enc, r, data) in samples {
            assert!(
                Env::new(40, 40, PixelFormat::RGBX_LE)
                    .run(enc, r, &data)
                    .is_ok(),
                "{enc:?}"
            );
            for _ in 0..300 {
                let mut d = data.clone();
                for _ in 0..1 + next() % 4 {
                    let at = usize::try_from(next()).unwrap_or(0) % d.len();
                    d[at] = next().to_le_bytes()[0];
                }
                let _ = Env::new(40, 40, PixelFormat::RGBX_LE).run(enc, r, &d);
            }
        }
    }

    #[test]
    fn unknown_encodings_are_refused() {
        let mut fb = Framebuffer::new(4, 4);
        let cmap = ColourMap::default();
        let limits = Limits::default();
        let ctx = DecodeContext::new(&PixelFormat::RGBX_LE, &cmap, &limits);
        let header = RectHeader {
            rect: Rect::default(),
            encoding: Encoding::Unknown(99),
        };
        let got = Decoders::default().decode(header, &mut Reader::new(&[]), &mut fb, &ctx);
        assert!(matches!(
            got,
            Err(Stall::Invalid(Error::UnsupportedEncoding(99)))
        ));
    }
}
