//! Reads `xwd -root` dumps (X Window Dump, ZPixmap, 24/32 bpp true colour) into RGBA, so tests
//! compare what a VNC client decoded with what the X server itself holds.

use anyhow::{bail, ensure, Context};

/// Where two images first differ: x, y, this image's pixel, the other's.
pub type PixelDiff = (u32, u32, [u8; 4], [u8; 4]);

/// An RGBA image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Image {
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * self.width + x) * 4) as usize;
        [
            self.rgba[i],
            self.rgba[i + 1],
            self.rgba[i + 2],
            self.rgba[i + 3],
        ]
    }

    /// Number of pixels whose RGB differs, and the first one that does.
    pub fn diff(&self, other: &Image) -> (usize, Option<PixelDiff>) {
        let mut n = 0;
        let mut first = None;
        for y in 0..self.height.min(other.height) {
            for x in 0..self.width.min(other.width) {
                let (a, b) = (self.pixel(x, y), other.pixel(x, y));
                if a[..3] != b[..3] {
                    n += 1;
                    first.get_or_insert((x, y, a, b));
                }
            }
        }
        (n, first)
    }

    /// Peak signal-to-noise ratio over RGB, in dB.
    pub fn psnr(&self, other: &Image) -> f64 {
        let mut se = 0f64;
        let mut count = 0f64;
        for (a, b) in self.rgba.chunks_exact(4).zip(other.rgba.chunks_exact(4)) {
            for c in 0..3 {
                let d = f64::from(a[c]) - f64::from(b[c]);
                se += d * d;
                count += 1.0;
            }
        }
        if se == 0.0 {
            return f64::INFINITY;
        }
        10.0 * (255.0 * 255.0 / (se / count)).log10()
    }
}

fn be32(b: &[u8], field: usize) -> anyhow::Result<u32> {
    let o = field * 4;
    let s = b.get(o..o + 4).context("XWD header is short")?;
    Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Parses an XWD file (version 7, ZPixmap).
pub fn parse(data: &[u8]) -> anyhow::Result<Image> {
    let header_size = be32(data, 0)? as usize;
    ensure!(be32(data, 1)? == 7, "not an XWD version 7 file");
    ensure!(be32(data, 2)? == 2, "only ZPixmap dumps are supported");
    let (width, height) = (be32(data, 4)?, be32(data, 5)?);
    let byte_order = be32(data, 7)?;
    let bpp = be32(data, 11)?;
    let bytes_per_line = be32(data, 12)? as usize;
    let masks = [be32(data, 14)?, be32(data, 15)?, be32(data, 16)?];
    let ncolors = be32(data, 19)? as usize;
    if bpp != 32 && bpp != 24 {
        bail!("{bpp} bits per pixel: only 24/32 bpp true colour is supported");
    }
    let start = header_size + ncolors * 12;
    let pixels = data.get(start..).context("XWD file is truncated")?;
    ensure!(
        pixels.len() >= bytes_per_line * height as usize,
        "XWD image data is truncated"
    );
    let bytes = (bpp / 8) as usize;
    let mut rgba = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..height as usize {
        let row = &pixels[y * bytes_per_line..];
        for x in 0..width as usize {
            let p = &row[x * bytes..x * bytes + bytes];
            let v = match (bytes, byte_order) {
                (4, 0) => u32::from_le_bytes([p[0], p[1], p[2], p[3]]),
                (4, _) => u32::from_be_bytes([p[0], p[1], p[2], p[3]]),
                (_, 0) => u32::from_le_bytes([p[0], p[1], p[2], 0]),
                (_, _) => u32::from_be_bytes([0, p[0], p[1], p[2]]),
            };
            for m in masks {
                let shift = m.trailing_zeros();
                let max = m >> shift;
                let c = (v & m) >> shift;
                rgba.push(if max == 255 {
                    c as u8
                } else {
                    ((c * 255 + max / 2) / max.max(1)) as u8
                });
            }
            rgba.push(255);
        }
    }
    Ok(Image {
        width,
        height,
        rgba,
    })
}

/// Decodes a PNG (as written by `vncgate snapshot`) into RGBA.
pub fn read_png(path: &std::path::Path) -> anyhow::Result<Image> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size().context("PNG too large")?];
    let info = reader.next_frame(&mut buf)?;
    ensure!(
        info.color_type == png::ColorType::Rgba,
        "expected an RGBA PNG"
    );
    buf.truncate(info.buffer_size());
    Ok(Image {
        width: info.width,
        height: info.height,
        rgba: buf,
    })
}
