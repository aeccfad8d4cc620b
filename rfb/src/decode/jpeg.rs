//! JPEG encoding (21): the rectangle is one bare JFIF image with no length prefix, so its end
//! is found by walking the JPEG markers up to EOI (`FF D9`):
//!
//! - segments after SOI carry a `U16` length, except RSTn (`D0`–`D7`) and TEM (`01`);
//! - after each SOS header comes entropy-coded data, scanned for `FF xx`: `FF 00` (stuffing) and
//!   RSTn do not end it, `FF FF …` is fill before a marker.
//!
//! The walk copies the image as it goes and is held to `max_jpeg_bytes`, so a server that never
//! sends EOI is refused rather than buffered forever. Some servers (RealVNC) omit DQT or DHT
//! segments, meaning "the previous image's tables": the last ones seen are kept per
//! connection in [`Tables`] and spliced in after SOI when an image lacks them.

use super::image::paint_jpeg;
use super::{check_bounds, DecodeContext};
use crate::error::{Error, LimitKind, Stall};
use crate::framebuffer::{Framebuffer, Rect};
use crate::limits::Limits;
use crate::wire::Reader;

const SOI: u8 = 0xd8;
const EOI: u8 = 0xd9;
const SOS: u8 = 0xda;
const DQT: u8 = 0xdb;
const DHT: u8 = 0xc4;

/// The quantisation and Huffman table segments of the last image that had them, whole
/// (marker and length included).
#[derive(Debug, Default)]
pub(crate) struct Tables {
    dqt: Vec<u8>,
    dht: Vec<u8>,
}

pub(crate) fn decode(
    rect: Rect,
    r: &mut Reader<'_>,
    fb: &mut Framebuffer,
    ctx: &DecodeContext<'_>,
    tables: &mut Tables,
) -> Result<(), Stall> {
    check_bounds(&rect, fb)?;
    let image = scan(r, ctx.limits)?;
    // Complete: splice in remembered tables where the image has none.
    let mut data = image.bytes;
    let mut splice = Vec::new();
    for (have, stored, table) in [
        (!image.dqt.is_empty(), &tables.dqt, "quantisation (DQT)"),
        (!image.dht.is_empty(), &tables.dht, "Huffman (DHT)"),
    ] {
        if !have {
            if stored.is_empty() {
                return Err(Error::JpegTablesMissing { table }.into());
            }
            splice.extend_from_slice(stored);
        }
    }
    if !splice.is_empty() {
        // After SOI, which the walk guaranteed is the first two bytes.
        data.splice(2..2, splice);
    }
    paint_jpeg("JPEG", &data, rect, fb, ctx.limits)?;
    if !image.dqt.is_empty() {
        tables.dqt = image.dqt;
    }
    if !image.dht.is_empty() {
        tables.dht = image.dht;
    }
    Ok(())
}

/// One image as walked: its bytes, and copies of its table segments.
#[derive(Debug, Default)]
struct Scanned {
    bytes: Vec<u8>,
    dqt: Vec<u8>,
    dht: Vec<u8>,
}

impl Scanned {
    fn push(&mut self, b: &[u8], limits: &Limits) -> Result<(), Stall> {
        let len = self.bytes.len().saturating_add(b.len());
        if len > limits.max_jpeg_bytes {
            return Err(
                Error::limit(LimitKind::JpegBytes, len as u64, limits.max_jpeg_bytes).into(),
            );
        }
        self.bytes.extend_from_slice(b);
        Ok(())
    }
}

/// Walks one JPEG from SOI to EOI.
fn scan(r: &mut Reader<'_>, limits: &Limits) -> Result<Scanned, Stall> {
    let mut img = Scanned::default();
    let soi = r.array::<2>()?;
    if soi != [0xff, SOI] {
        return Err(Error::Invalid {
            field: "JPEG start",
            got: u16::from_be_bytes(soi).into(),
            why: "a JPEG rectangle must start with SOI (FF D8)",
        }
        .into());
    }
    img.push(&soi, limits)?;
    let mut marker = next_marker(r)?;
    loop {
        img.push(&[0xff, marker], limits)?;
        match marker {
            EOI => return Ok(img),
            0x01 | 0xd0..=0xd7 => {
                marker = next_marker(r)?;
                continue;
            }
            _ => {}
        }
        let len_bytes = r.array::<2>()?;
        let len = usize::from(u16::from_be_bytes(len_bytes));
        if len < 2 {
            return Err(Error::Invalid {
                field: "JPEG segment length",
                got: len as u64,
                why: "it must count its own two bytes",
            }
            .into());
        }
        if img.bytes.len().saturating_add(len) > limits.max_jpeg_bytes {
            return Err(Error::limit(
                LimitKind::JpegBytes,
                (img.bytes.len() + len) as u64,
                limits.max_jpeg_bytes,
            )
            .into());
        }
        let body = r.bytes(len - 2)?;
        img.push(&len_bytes, limits)?;
        img.push(body, limits)?;
        let keep = match marker {
            DQT => Some(&mut img.dqt),
            DHT => Some(&mut img.dht),
            _ => None,
        };
        if let Some(keep) = keep {
            keep.extend_from_slice(&[0xff, marker]);
            keep.extend_from_slice(&len_bytes);
            keep.extend_from_slice(body);
        }
        marker = if marker == SOS {
            entropy_data(r, &mut img, limits)?
        } else {
            next_marker(r)?
        };
    }
}

/// Reads `FF` (then any fill `FF`s) and returns the marker byte.
fn next_marker(r: &mut Reader<'_>) -> Result<u8, Stall> {
    let b = r.u8()?;
    if b != 0xff {
        return Err(Error::Invalid {
            field: "JPEG marker",
            got: b.into(),
            why: "a segment must start with FF",
        }
        .into());
    }
    loop {
        match r.u8()? {
            0xff => continue,
            0x00 => {
                return Err(Error::Invalid {
                    field: "JPEG marker",
                    got: 0,
                    why: "FF 00 outside entropy-coded data",
                }
                .into())
            }
            m => return Ok(m),
        }
    }
}

/// Copies entropy-coded data up to the next marker that ends it, and returns that marker.
fn entropy_data(r: &mut Reader<'_>, img: &mut Scanned, limits: &Limits) -> Result<u8, Stall> {
    loop {
        let b = r.u8()?;
        if b != 0xff {
            img.push(&[b], limits)?;
            continue;
        }
        let mut m = r.u8()?;
        while m == 0xff {
            m = r.u8()?;
        }
        match m {
            0x00 | 0xd0..=0xd7 => img.push(&[0xff, m], limits)?,
            _ => return Ok(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::image::samples::{close, jpeg};
    use super::super::test_util::*;
    use super::*;
    use crate::messages::encoding::Encoding;
    use crate::PixelFormat;

    /// Removes every segment with marker `m` from a JPEG's header.
    fn without(data: &[u8], m: u8) -> Vec<u8> {
        let mut out = data[..2].to_vec();
        let mut i = 2;
        while data[i + 1] != SOS {
            let len = usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]]));
            if data[i + 1] != m {
                out.extend_from_slice(&data[i..i + 2 + len]);
            }
            i += 2 + len;
        }
        out.extend_from_slice(&data[i..]);
        out
    }

    #[test]
    fn whole_jfif_every_prefix_incomplete() {
        let mut env = Env::new(40, 20, PixelFormat::RGBX_LE);
        let data = jpeg(32, 16, [240, 20, 20], [20, 240, 20]);
        env.run_all_prefixes(Encoding::Jpeg, rect(4, 2, 32, 16), &data);
        assert!(close(env.pixel(5, 3), [240, 20, 20]));
        assert!(close(env.pixel(35, 17), [20, 240, 20]));
        // Trailing bytes (the next message) are left alone.
        let mut more = data.clone();
        more.extend_from_slice(&[0, 0, 0, 1]);
        let (_, used) = env
            .run(Encoding::Jpeg, rect(4, 2, 32, 16), &more)
            .expect("ok");
        assert_eq!(used, data.len());
    }

    #[test]
    fn omitted_tables_come_from_the_previous_image() {
        let mut env = Env::new(16, 16, PixelFormat::RGBX_LE);
        let first = jpeg(16, 16, [200, 200, 200], [200, 200, 200]);
        let bare = without(&without(&first, DQT), DHT);
        assert!(bare.len() < first.len() - 100);
        let e = env.run_err(Encoding::Jpeg, rect(0, 0, 16, 16), &bare);
        assert_eq!(
            e,
            Error::JpegTablesMissing {
                table: "quantisation (DQT)"
            }
        );
        env.run_all_prefixes(Encoding::Jpeg, rect(0, 0, 16, 16), &first);
        env.fb.fill(rect(0, 0, 16, 16), [0, 0, 0, 255]);
        env.run_all_prefixes(Encoding::Jpeg, rect(0, 0, 16, 16), &bare);
        assert!(close(env.pixel(8, 8), [200, 200, 200]));
    }

    #[test]
    fn never_ending_jpeg_is_capped() {
        let mut env = Env::new(16, 16, PixelFormat::RGBX_LE);
        env.limits.max_jpeg_bytes = 1000;
        let data = jpeg(16, 16, [1, 1, 1], [1, 1, 1]);
        let mut endless = data[..data.len() - 2].to_vec();
        endless.extend(std::iter::repeat_n(0x12, 2000));
        let e = env.run_err(Encoding::Jpeg, rect(0, 0, 16, 16), &endless);
        assert!(
            matches!(
                e,
                Error::LimitExceeded {
                    limit: LimitKind::JpegBytes,
                    ..
                }
            ),
            "{e}"
        );
        let e = env.run_err(
            Encoding::Jpeg,
            rect(0, 0, 16, 16),
            &[0xff, 0xd8, 0xff, 0xe0, 0xff, 0xff],
        );
        assert!(
            matches!(
                e,
                Error::LimitExceeded {
                    limit: LimitKind::JpegBytes,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn malformed_markers() {
        let mut env = Env::new(16, 16, PixelFormat::RGBX_LE);
        let r = rect(0, 0, 16, 16);
        let e = env.run_err(Encoding::Jpeg, r, &[0x89, b'P']);
        assert!(matches!(
            e,
            Error::Invalid {
                field: "JPEG start",
                ..
            }
        ));
        let e = env.run_err(Encoding::Jpeg, r, &[0xff, 0xd8, 0x00]);
        assert!(matches!(
            e,
            Error::Invalid {
                field: "JPEG marker",
                ..
            }
        ));
        let e = env.run_err(Encoding::Jpeg, r, &[0xff, 0xd8, 0xff, 0xe0, 0, 1]);
        assert!(matches!(
            e,
            Error::Invalid {
                field: "JPEG segment length",
                ..
            }
        ));
        // An image of the wrong size.
        let data = jpeg(8, 8, [1, 1, 1], [1, 1, 1]);
        let e = env.run_err(Encoding::Jpeg, r, &data);
        assert!(matches!(e, Error::ImageSize { got_w: 8, .. }));
    }
}
