//! PIXEL_FORMAT: parsing, validation, encoding, and conversion of wire pixels to RGBA.

use crate::error::{Error, Stall};
use crate::wire::Reader;

/// An RFB pixel format (16 bytes on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelFormat {
    pub bits_per_pixel: u8,
    pub depth: u8,
    pub big_endian: bool,
    pub true_colour: bool,
    pub red_max: u16,
    pub green_max: u16,
    pub blue_max: u16,
    pub red_shift: u8,
    pub green_shift: u8,
    pub blue_shift: u8,
}

impl PixelFormat {
    /// The format this client asks every server for: 32 bpp, little-endian, red in the lowest
    /// byte. In memory each pixel is then `R G B x`, so Raw data becomes RGBA by setting alpha.
    pub const RGBX_LE: Self = Self {
        bits_per_pixel: 32,
        depth: 24,
        big_endian: false,
        true_colour: true,
        red_max: 255,
        green_max: 255,
        blue_max: 255,
        red_shift: 0,
        green_shift: 8,
        blue_shift: 16,
    };

    pub const WIRE_LEN: usize = 16;

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, Stall> {
        let pf = Self {
            bits_per_pixel: r.u8()?,
            depth: r.u8()?,
            big_endian: r.u8()? != 0,
            true_colour: r.u8()? != 0,
            red_max: r.u16()?,
            green_max: r.u16()?,
            blue_max: r.u16()?,
            red_shift: r.u8()?,
            green_shift: r.u8()?,
            blue_shift: r.u8()?,
        };
        r.skip(3)?;
        pf.validate()?;
        Ok(pf)
    }

    /// Checks what decoders rely on: bpp ∈ {8,16,32}; in true colour, each max is 2ⁿ−1 and
    /// fits with its shift inside the pixel.
    pub fn validate(&self) -> Result<(), Error> {
        if !matches!(self.bits_per_pixel, 8 | 16 | 32) {
            return Err(Error::Invalid {
                field: "bits-per-pixel",
                got: self.bits_per_pixel.into(),
                why: "must be 8, 16 or 32",
            });
        }
        if self.true_colour {
            for (field, max, shift) in [
                ("red-max", self.red_max, self.red_shift),
                ("green-max", self.green_max, self.green_shift),
                ("blue-max", self.blue_max, self.blue_shift),
            ] {
                if max == 0 || (u32::from(max) + 1).count_ones() != 1 {
                    return Err(Error::Invalid {
                        field,
                        got: max.into(),
                        why: "must be one less than a power of two",
                    });
                }
                let bits = (u32::from(max) + 1).trailing_zeros();
                if u32::from(shift) + bits > u32::from(self.bits_per_pixel) {
                    return Err(Error::Invalid {
                        field,
                        got: shift.into(),
                        why: "the colour's shift and bits do not fit in a pixel",
                    });
                }
            }
        }
        Ok(())
    }

    pub fn bytes_per_pixel(&self) -> usize {
        usize::from(self.bits_per_pixel / 8)
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[
            self.bits_per_pixel,
            self.depth,
            u8::from(self.big_endian),
            u8::from(self.true_colour),
        ]);
        out.extend_from_slice(&self.red_max.to_be_bytes());
        out.extend_from_slice(&self.green_max.to_be_bytes());
        out.extend_from_slice(&self.blue_max.to_be_bytes());
        out.extend_from_slice(&[self.red_shift, self.green_shift, self.blue_shift, 0, 0, 0]);
    }

    /// Reads one pixel value of this format from exactly `bytes_per_pixel` bytes.
    pub fn pixel_value(&self, px: &[u8]) -> u32 {
        match (px, self.big_endian) {
            ([a], _) => u32::from(*a),
            ([a, b], false) => u32::from(u16::from_le_bytes([*a, *b])),
            ([a, b], true) => u32::from(u16::from_be_bytes([*a, *b])),
            ([a, b, c, d], false) => u32::from_le_bytes([*a, *b, *c, *d]),
            ([a, b, c, d], true) => u32::from_be_bytes([*a, *b, *c, *d]),
            _ => 0,
        }
    }

    /// Converts a true-colour pixel value to RGBA. Colour-map formats go through
    /// [`crate::framebuffer::ColourMap`] instead.
    pub fn value_to_rgba(&self, v: u32) -> [u8; 4] {
        [
            scale(v >> self.red_shift, self.red_max),
            scale(v >> self.green_shift, self.green_max),
            scale(v >> self.blue_shift, self.blue_max),
            0xff,
        ]
    }

    /// True when pixels of this format are `R G B x` bytes in memory.
    pub fn is_rgbx(&self) -> bool {
        *self == Self::RGBX_LE
            || (self.bits_per_pixel == 32
                && self.true_colour
                && self.red_max == 255
                && self.green_max == 255
                && self.blue_max == 255
                && ((!self.big_endian
                    && (self.red_shift, self.green_shift, self.blue_shift) == (0, 8, 16))
                    || (self.big_endian
                        && (self.red_shift, self.green_shift, self.blue_shift) == (24, 16, 8))))
    }
}

fn scale(v: u32, max: u16) -> u8 {
    let max = u32::from(max);
    if max == 0 {
        return 0;
    }
    let c = v & max;
    if max == 255 {
        c as u8
    } else {
        // c ≤ max, so the result is ≤ 255 and the narrowing is exact.
        ((c * 255 + max / 2) / max) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_on_the_wire() {
        let mut out = Vec::new();
        PixelFormat::RGBX_LE.write(&mut out);
        assert_eq!(out.len(), PixelFormat::WIRE_LEN);
        let pf = PixelFormat::read(&mut Reader::new(&out)).expect("valid");
        assert_eq!(pf, PixelFormat::RGBX_LE);
        assert!(pf.is_rgbx());
    }

    #[test]
    fn rejects_bad_formats() {
        let mut bad = PixelFormat::RGBX_LE;
        bad.bits_per_pixel = 24;
        assert!(bad.validate().is_err());
        let mut bad = PixelFormat::RGBX_LE;
        bad.red_max = 256; // the QEMU CVE-2026-15578 shape
        assert!(bad.validate().is_err());
        let mut bad = PixelFormat::RGBX_LE;
        bad.blue_shift = 30;
        assert!(bad.validate().is_err());
    }

    #[test]
    fn converts_rgb565() {
        let pf = PixelFormat {
            bits_per_pixel: 16,
            depth: 16,
            big_endian: false,
            true_colour: true,
            red_max: 31,
            green_max: 63,
            blue_max: 31,
            red_shift: 11,
            green_shift: 5,
            blue_shift: 0,
        };
        pf.validate().expect("rgb565 is valid");
        let v = pf.pixel_value(&[0x1f, 0xf8]); // 0xf81f: red and blue full
        assert_eq!(pf.value_to_rgba(v), [255, 0, 255, 255]);
    }
}
