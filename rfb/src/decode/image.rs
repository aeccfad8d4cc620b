//! JPEG and PNG images inside rectangles (Tight JPEG, TightPNG, JPEG encoding 21), decoded
//! with pure-Rust decoders into RGBA and painted. The image must be exactly the rectangle's
//! size (noVNC 4babdf33 "Validate decoded image dimensions"); its header is checked before
//! any pixel buffer is allocated.

use std::io::Cursor;

use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use super::pixel_bytes;
use crate::error::{Error, Stall};
use crate::framebuffer::{Framebuffer, Rect};
use crate::limits::Limits;

/// Decodes a whole JFIF image and paints it into `rect` (already checked to lie inside `fb`),
/// or, when the application draws images itself, checks its header and hands it over.
pub(crate) fn paint_jpeg(
    encoding: &'static str,
    data: &[u8],
    rect: Rect,
    fb: &mut Framebuffer,
    limits: &Limits,
) -> Result<(), Stall> {
    let out_len = pixel_bytes(&rect, 4, limits)?;
    if fb.hands_images_over() {
        // The application decodes and draws it: only the size it declares is checked here
        // (building the decoder's tables just for that cost more than the rest of the rect).
        let (w, h) = declared_size(data).ok_or(Error::ImageDecode {
            encoding,
            format: "JPEG",
            detail: "no frame header (SOF) before the scan".into(),
        })?;
        check_size(encoding, "JPEG", rect, w.into(), h.into())?;
        fb.hand_over_image(rect, data.to_vec());
        return Ok(());
    }
    let fail = |e: zune_jpeg::errors::DecodeErrors| Error::ImageDecode {
        encoding,
        format: "JPEG",
        detail: e.to_string(),
    };
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGBA)
        .set_max_width(usize::from(u16::MAX))
        .set_max_height(usize::from(u16::MAX));
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(data), options);
    decoder.decode_headers().map_err(fail)?;
    let (w, h) = decoder.dimensions().unwrap_or((0, 0));
    check_size(encoding, "JPEG", rect, w as u64, h as u64)?;
    if decoder.output_buffer_size() != Some(out_len) {
        return Err(Error::ImageDecode {
            encoding,
            format: "JPEG",
            detail: format!(
                "the decoder would produce {:?} bytes, not {out_len}",
                decoder.output_buffer_size()
            ),
        }
        .into());
    }
    let mut rgba = vec![0u8; out_len];
    decoder.decode_into(&mut rgba).map_err(fail)?;
    fb.put_rgba(rect, &rgba);
    Ok(())
}

/// Decodes a PNG image (any colour type and depth) and paints it into `rect`.
pub(crate) fn paint_png(
    encoding: &'static str,
    data: &[u8],
    rect: Rect,
    fb: &mut Framebuffer,
    limits: &Limits,
) -> Result<(), Stall> {
    let out_len = pixel_bytes(&rect, 4, limits)?;
    let fail = |e: png::DecodingError| Error::ImageDecode {
        encoding,
        format: "PNG",
        detail: e.to_string(),
    };
    let png_limits = png::Limits {
        bytes: out_len.saturating_mul(2).saturating_add(1 << 20),
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(data), png_limits);
    decoder.set_transformations(
        png::Transformations::normalize_to_color8() | png::Transformations::ALPHA,
    );
    let mut reader = decoder.read_info().map_err(fail)?;
    let (w, h) = reader.info().size();
    check_size(encoding, "PNG", rect, w.into(), h.into())?;
    let size = reader.output_buffer_size().unwrap_or(usize::MAX);
    if size > out_len {
        return Err(Error::ImageDecode {
            encoding,
            format: "PNG",
            detail: format!("the decoder would produce {size} bytes, more than {out_len}"),
        }
        .into());
    }
    let mut buf = vec![0u8; size];
    let frame = reader.next_frame(&mut buf).map_err(fail)?;
    let pixels = buf.get(..frame.buffer_size()).unwrap_or_default();
    let mut rgba = Vec::with_capacity(out_len);
    match frame.color_type {
        png::ColorType::Rgba => {
            for px in pixels.chunks_exact(4) {
                if let [r, g, b, _] = px {
                    rgba.extend_from_slice(&[*r, *g, *b, 0xff]);
                }
            }
        }
        png::ColorType::GrayscaleAlpha => {
            for px in pixels.chunks_exact(2) {
                if let [v, _] = px {
                    rgba.extend_from_slice(&[*v, *v, *v, 0xff]);
                }
            }
        }
        other => {
            return Err(Error::ImageDecode {
                encoding,
                format: "PNG",
                detail: format!("unexpected output colour type {other:?}"),
            }
            .into())
        }
    }
    if rgba.len() != out_len {
        return Err(Error::ImageDecode {
            encoding,
            format: "PNG",
            detail: format!(
                "{} bytes of pixels where {out_len} were expected",
                rgba.len()
            ),
        }
        .into());
    }
    fb.put_rgba(rect, &rgba);
    Ok(())
}

/// The width and height a JFIF image declares in its frame header (SOF0–SOF15, not DHT, JPG
/// or DAC), found by walking its segments from SOI; `None` if the scan or the end comes first,
/// or the data ends.
pub(crate) fn declared_size(data: &[u8]) -> Option<(u16, u16)> {
    if data.get(..2)? != [0xff, 0xd8] {
        return None;
    }
    let byte = |i: usize| data.get(i).copied();
    let word = |i: usize| Some(u16::from_be_bytes([byte(i)?, byte(i + 1)?]));
    let mut at = 2;
    loop {
        if byte(at)? != 0xff {
            return None;
        }
        // Fill bytes before a marker.
        while byte(at + 1)? == 0xff {
            at += 1;
        }
        let marker = byte(at + 1)?;
        at += 2;
        match marker {
            0x01 | 0xd0..=0xd7 => continue,
            0xd9 | 0xda => return None,
            0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                // Length, precision, then height and width.
                return Some((word(at + 5)?, word(at + 3)?));
            }
            _ => {}
        }
        let len = usize::from(word(at)?);
        if len < 2 {
            return None;
        }
        at += len;
    }
}

fn check_size(
    encoding: &'static str,
    format: &'static str,
    rect: Rect,
    got_w: u64,
    got_h: u64,
) -> Result<(), Error> {
    if got_w == u64::from(rect.w) && got_h == u64::from(rect.h) {
        Ok(())
    } else {
        Err(Error::ImageSize {
            encoding,
            format,
            w: rect.w,
            h: rect.h,
            got_w,
            got_h,
        })
    }
}

/// Test images made with pure-Rust encoders.
#[cfg(test)]
pub(crate) mod samples {
    /// A `w × h` JPEG (quality 95): left half `a`, right half `b`.
    pub(crate) fn jpeg(w: u16, h: u16, a: [u8; 3], b: [u8; 3]) -> Vec<u8> {
        let mut rgb = Vec::new();
        for _ in 0..h {
            for x in 0..w {
                rgb.extend_from_slice(if x < w / 2 { &a } else { &b });
            }
        }
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 95)
            .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
            .expect("encode JPEG");
        out
    }

    pub(crate) fn grey_jpeg(w: u16, h: u16, v: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let data = vec![v; usize::from(w) * usize::from(h)];
        jpeg_encoder::Encoder::new(&mut out, 95)
            .encode(&data, w, h, jpeg_encoder::ColorType::Luma)
            .expect("encode JPEG");
        out
    }

    pub(crate) fn png(w: u32, h: u32, colour: png::ColorType, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(colour);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().expect("PNG header");
        writer.write_image_data(data).expect("PNG data");
        writer.finish().expect("PNG end");
        out
    }

    /// Whether two colours are within JPEG's loss of each other.
    pub(crate) fn close(got: [u8; 4], want: [u8; 3]) -> bool {
        got.iter()
            .zip(want)
            .all(|(g, w)| (i16::from(*g) - i16::from(w)).abs() <= 8)
            && got[3] == 255
    }
}

#[cfg(test)]
mod tests {
    use super::samples::*;
    use super::*;

    fn fb() -> Framebuffer {
        Framebuffer::new(32, 32)
    }

    #[test]
    fn jpeg_rgb_and_grey() {
        let mut fb = fb();
        let r = Rect {
            x: 4,
            y: 4,
            w: 16,
            h: 8,
        };
        let data = jpeg(16, 8, [250, 10, 10], [10, 10, 250]);
        paint_jpeg("JPEG", &data, r, &mut fb, &Limits::default()).expect("decodes");
        assert!(close(fb.pixel(5, 5).expect("in"), [250, 10, 10]));
        assert!(close(fb.pixel(19, 11).expect("in"), [10, 10, 250]));
        assert_eq!(fb.pixel(3, 3), Some([0, 0, 0, 255]));
        let data = grey_jpeg(8, 8, 128);
        paint_jpeg(
            "Tight",
            &data,
            Rect { w: 8, ..r },
            &mut fb,
            &Limits::default(),
        )
        .expect("grey decodes");
        assert!(close(fb.pixel(5, 5).expect("in"), [128, 128, 128]));
    }

    #[test]
    fn the_declared_size_is_the_frame_headers_whatever_comes_before_it() {
        for (w, h) in [(16, 8), (1, 1), (333, 77)] {
            let jpeg = samples::jpeg(w, h, [1, 2, 3], [4, 5, 6]);
            assert_eq!(declared_size(&jpeg), Some((w, h)));
            assert_eq!(declared_size(&samples::grey_jpeg(w, h, 9)), Some((w, h)));
            // Cut anywhere before the frame header: no size, never a panic.
            let sof = jpeg
                .windows(2)
                .position(|m| m == [0xff, 0xc0])
                .expect("baseline");
            for cut in 0..sof + 9 {
                assert_eq!(declared_size(&jpeg[..cut]), None, "cut at {cut}");
            }
        }
        assert_eq!(
            declared_size(b"\xff\xd8\xff\xda\x00\x02"),
            None,
            "scan first"
        );
        assert_eq!(declared_size(b"\xff\xd8\xff\xe0\x00\x00"), None, "length 0");
        assert_eq!(declared_size(b"GIF89a"), None);
    }

    #[test]
    fn jpeg_size_must_match_and_garbage_is_an_error() {
        let mut fb = fb();
        let data = jpeg(16, 8, [1, 2, 3], [1, 2, 3]);
        let r = Rect {
            x: 0,
            y: 0,
            w: 16,
            h: 9,
        };
        let e = paint_jpeg("Tight", &data, r, &mut fb, &Limits::default());
        assert!(
            matches!(
                e,
                Err(Stall::Invalid(Error::ImageSize {
                    got_w: 16,
                    got_h: 8,
                    h: 9,
                    ..
                }))
            ),
            "{e:?}"
        );
        let e = paint_jpeg(
            "Tight",
            &[0xff, 0xd8, 0xff, 0xd9],
            r,
            &mut fb,
            &Limits::default(),
        );
        assert!(matches!(
            e,
            Err(Stall::Invalid(Error::ImageDecode { format: "JPEG", .. }))
        ));
        let e = paint_jpeg(
            "Tight",
            &data[..data.len() / 2],
            Rect { h: 8, ..r },
            &mut fb,
            &Limits::default(),
        );
        // A truncated JPEG either fails or decodes with grey fill; it never panics.
        let _ = e;
    }

    #[test]
    fn png_colour_types() {
        let mut fb = fb();
        let r = Rect {
            x: 1,
            y: 2,
            w: 2,
            h: 1,
        };
        let rgb = png(2, 1, png::ColorType::Rgb, &[1, 2, 3, 4, 5, 6]);
        paint_png("TightPNG", &rgb, r, &mut fb, &Limits::default()).expect("rgb");
        assert_eq!(fb.pixel(1, 2), Some([1, 2, 3, 255]));
        assert_eq!(fb.pixel(2, 2), Some([4, 5, 6, 255]));
        let grey = png(2, 1, png::ColorType::Grayscale, &[7, 8]);
        paint_png("TightPNG", &grey, r, &mut fb, &Limits::default()).expect("grey");
        assert_eq!(fb.pixel(2, 2), Some([8, 8, 8, 255]));
        let rgba = png(2, 1, png::ColorType::Rgba, &[1, 2, 3, 0, 4, 5, 6, 7]);
        paint_png("TightPNG", &rgba, r, &mut fb, &Limits::default()).expect("rgba");
        assert_eq!(fb.pixel(1, 2), Some([1, 2, 3, 255]));
        let e = paint_png(
            "TightPNG",
            &rgb,
            Rect { w: 3, ..r },
            &mut fb,
            &Limits::default(),
        );
        assert!(matches!(
            e,
            Err(Stall::Invalid(Error::ImageSize { format: "PNG", .. }))
        ));
        let e = paint_png("TightPNG", &rgb[..20], r, &mut fb, &Limits::default());
        assert!(matches!(
            e,
            Err(Stall::Invalid(Error::ImageDecode { format: "PNG", .. }))
        ));
    }
}
