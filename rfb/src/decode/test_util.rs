//! Test helpers shared by the decoder tests: pixel formats, pixel encoding, and a harness that
//! runs one rectangle through [`Decoders`] and checks the retry invariant on every prefix.

use super::*;

/// 8-bit colour-map pixels.
pub(crate) const PF_CMAP8: PixelFormat = PixelFormat {
    bits_per_pixel: 8,
    depth: 8,
    big_endian: false,
    true_colour: false,
    red_max: 0,
    green_max: 0,
    blue_max: 0,
    red_shift: 0,
    green_shift: 0,
    blue_shift: 0,
};

/// 8-bit true colour, BGR233 (what libvncserver clients call "8bpp").
pub(crate) const PF_BGR233: PixelFormat = PixelFormat {
    bits_per_pixel: 8,
    depth: 8,
    big_endian: false,
    true_colour: true,
    red_max: 7,
    green_max: 7,
    blue_max: 3,
    red_shift: 0,
    green_shift: 3,
    blue_shift: 6,
};

/// 16-bit RGB565, big-endian.
pub(crate) const PF_RGB565_BE: PixelFormat = PixelFormat {
    bits_per_pixel: 16,
    depth: 16,
    big_endian: true,
    true_colour: true,
    red_max: 31,
    green_max: 63,
    blue_max: 31,
    red_shift: 11,
    green_shift: 5,
    blue_shift: 0,
};

/// 32-bit xRGB, big-endian (colour in the low three bytes).
pub(crate) const PF_XRGB_BE: PixelFormat = PixelFormat {
    bits_per_pixel: 32,
    depth: 24,
    big_endian: true,
    true_colour: true,
    red_max: 255,
    green_max: 255,
    blue_max: 255,
    red_shift: 16,
    green_shift: 8,
    blue_shift: 0,
};

/// 32-bit RGBx little-endian with red in the high byte: colour in the high three bytes.
pub(crate) const PF_RGBX_HIGH_LE: PixelFormat = PixelFormat {
    bits_per_pixel: 32,
    depth: 24,
    big_endian: false,
    true_colour: true,
    red_max: 255,
    green_max: 255,
    blue_max: 255,
    red_shift: 24,
    green_shift: 16,
    blue_shift: 8,
};

/// Encodes an RGB colour as a wire pixel of a true-colour format (a colour-map index for
/// colour-map formats: the red byte).
pub(crate) fn px(pf: &PixelFormat, rgb: [u8; 3]) -> Vec<u8> {
    let v = if pf.true_colour {
        let c = |c: u8, max: u16, shift: u8| (u32::from(c) * u32::from(max) / 255) << shift;
        c(rgb[0], pf.red_max, pf.red_shift)
            | c(rgb[1], pf.green_max, pf.green_shift)
            | c(rgb[2], pf.blue_max, pf.blue_shift)
    } else {
        u32::from(rgb[0])
    };
    let bytes = v.to_be_bytes();
    let mut out = match pf.bits_per_pixel {
        8 => vec![bytes[3]],
        16 => bytes[2..].to_vec(),
        _ => bytes.to_vec(),
    };
    if !pf.big_endian {
        out.reverse();
    }
    out
}

/// The RGBA a decoder should produce for `rgb` sent in `pf` (after quantisation).
pub(crate) fn expect_rgba(pf: &PixelFormat, cmap: &ColourMap, rgb: [u8; 3]) -> [u8; 4] {
    let limits = Limits::default();
    DecodeContext::new(pf, cmap, &limits).rgba(&px(pf, rgb))
}

/// Zlib-compresses `data` as one sync-flushed chunk of a persistent stream.
pub(crate) struct Deflater(flate2::Compress);

impl Deflater {
    pub(crate) fn new() -> Self {
        Self(flate2::Compress::new(flate2::Compression::default(), true))
    }

    pub(crate) fn chunk(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 64);
        let mut pos = 0;
        loop {
            out.reserve(1024);
            let before = self.0.total_in();
            self.0
                .compress_vec(&data[pos..], &mut out, flate2::FlushCompress::Sync)
                .expect("deflate");
            pos += (self.0.total_in() - before) as usize;
            if pos == data.len() && out.len() < out.capacity() {
                return out;
            }
        }
    }
}

/// One connection's decoding state, for tests.
pub(crate) struct Env {
    pub fb: Framebuffer,
    pub pf: PixelFormat,
    pub cmap: ColourMap,
    pub limits: Limits,
    pub decoders: Decoders,
}

impl Env {
    pub(crate) fn new(w: u16, h: u16, pf: PixelFormat) -> Self {
        Self {
            fb: Framebuffer::new(w, h),
            pf,
            cmap: ColourMap::default(),
            limits: Limits::default(),
            decoders: Decoders::default(),
        }
    }

    /// Decodes one rectangle from `payload`; on success also returns the bytes consumed.
    pub(crate) fn run(
        &mut self,
        encoding: Encoding,
        rect: Rect,
        payload: &[u8],
    ) -> Result<(RectOutcome, usize), Stall> {
        let ctx = DecodeContext::new(&self.pf, &self.cmap, &self.limits);
        let mut r = Reader::new(payload);
        let header = RectHeader { rect, encoding };
        let out = self.decoders.decode(header, &mut r, &mut self.fb, &ctx)?;
        Ok((out, r.position()))
    }

    /// Checks that every strict prefix of `payload` is incomplete and changes no pixel, then
    /// decodes the whole payload, which must be consumed exactly. A later rectangle on the
    /// same zlib stream proves that the prefixes left the stream alone.
    pub(crate) fn run_all_prefixes(
        &mut self,
        encoding: Encoding,
        rect: Rect,
        payload: &[u8],
    ) -> RectOutcome {
        let before = self.fb.rgba().to_vec();
        for cut in 0..payload.len() {
            match self.run(encoding, rect, &payload[..cut]) {
                Err(Stall::Incomplete(_)) => {}
                other => panic!("{encoding:?} prefix {cut}/{}: {other:?}", payload.len()),
            }
            assert_eq!(self.fb.rgba(), &before[..], "prefix {cut} changed pixels");
        }
        let (out, used) = self
            .run(encoding, rect, payload)
            .expect("complete rectangle");
        assert_eq!(used, payload.len(), "{encoding:?} consumed");
        out
    }

    /// Feeds `payload` to a decoder that resumes (Hextile, TRLE) in pieces as a session does:
    /// after each piece (ending at each of `ends`, ascending, the last being `payload.len()`)
    /// the rectangle is decoded from every byte so far. Stops at the first call that is not
    /// incomplete; until then nothing may reach the framebuffer. Returns how the feed ended,
    /// and the payload bytes the decoder read over all the calls: a resumed walk skips what it
    /// had finished, so skipped bytes do not count, bytes read again do. After every call they
    /// may exceed the bytes fed so far only by a little per call (the unfinished steps read
    /// again) and one step: a decoder that starts over fails here fast, not slowly.
    pub(crate) fn feed(
        &mut self,
        encoding: Encoding,
        rect: Rect,
        payload: &[u8],
        ends: impl IntoIterator<Item = usize>,
    ) -> (Fed, usize) {
        let header = RectHeader { rect, encoding };
        let mut read = 0;
        self.fb.take_dirty();
        for (calls, end) in (1..).zip(ends) {
            let ctx = DecodeContext::new(&self.pf, &self.cmap, &self.limits);
            let mut r = Reader::new(payload.get(..end).expect("ends within the payload"));
            let result = self.decoders.decode(header, &mut r, &mut self.fb, &ctx);
            read += r.position() - r.skipped();
            assert!(
                read <= end + 64 * calls + 2048,
                "{encoding:?}: {calls} calls with {end} bytes read {read}"
            );
            match result {
                Err(Stall::Incomplete(_)) => {
                    assert_eq!(self.fb.take_dirty(), None, "painted before {end} bytes");
                }
                Err(Stall::Invalid(e)) => return (Fed::Invalid(e), read),
                Ok(_) => return (Fed::Complete { used: r.position() }, read),
            }
        }
        (Fed::Incomplete, read)
    }

    /// Decodes a rectangle expected to be invalid and returns the error.
    pub(crate) fn run_err(&mut self, encoding: Encoding, rect: Rect, payload: &[u8]) -> Error {
        match self.run(encoding, rect, payload) {
            Err(Stall::Invalid(e)) => e,
            other => panic!("{encoding:?}: expected an error, got {other:?}"),
        }
    }

    pub(crate) fn pixel(&self, x: u16, y: u16) -> [u8; 4] {
        self.fb.pixel(x, y).expect("inside")
    }

    /// The RGBA this environment's format produces for `rgb`.
    pub(crate) fn rgba(&self, rgb: [u8; 3]) -> [u8; 4] {
        expect_rgba(&self.pf, &self.cmap, rgb)
    }

    pub(crate) fn px(&self, rgb: [u8; 3]) -> Vec<u8> {
        px(&self.pf, rgb)
    }
}

pub(crate) fn rect(x: u16, y: u16, w: u16, h: u16) -> Rect {
    Rect { x, y, w, h }
}

/// How feeding a rectangle ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fed {
    /// Decoded, using this many payload bytes.
    Complete {
        used: usize,
    },
    Incomplete,
    Invalid(Error),
}

/// Feeds that split a `len`-byte payload in two at every byte boundary, then one in 1-byte
/// pieces.
pub(crate) fn every_split(len: usize) -> Vec<Vec<usize>> {
    let mut feeds: Vec<Vec<usize>> = (0..len).map(|cut| vec![cut, len]).collect();
    feeds.push((0..=len).collect());
    feeds
}

/// The ends of `size`-byte pieces of a `len`-byte payload.
pub(crate) fn pieces(len: usize, size: usize) -> Vec<usize> {
    (size..len).step_by(size).chain([len]).collect()
}

/// A large valid rectangle spoiled twice, each fed in 1-byte and 4 KiB pieces: with byte
/// `at` set to `bad` it must fail as the whole does, with that value as what was wrong; cut one
/// byte short it must stay incomplete.
pub(crate) fn assert_late_error_and_truncation(
    make: impl Fn() -> Env + Copy,
    encoding: Encoding,
    rect: Rect,
    payload: &[u8],
    at: usize,
    bad: u8,
) {
    let mut spoiled = payload.to_vec();
    spoiled[at] = bad;
    let feeds = [1, 4096].map(|size| pieces(spoiled.len(), size));
    let fed = assert_feeds_match_whole(make, encoding, rect, &spoiled, feeds);
    assert!(
        matches!(fed, Fed::Invalid(Error::Invalid { got, .. }) if got == u64::from(bad)),
        "{fed:?}"
    );
    let short = &payload[..payload.len() - 1];
    let feeds = [1, 4096].map(|size| pieces(short.len(), size));
    assert_eq!(
        assert_feeds_match_whole(make, encoding, rect, short, feeds),
        Fed::Incomplete
    );
}

/// Decodes `payload` whole in a fresh environment from `make`, then in the pieces of each of
/// `feeds` in another fresh one, and asserts that every feed ends as the whole did: the same
/// bytes used and the same framebuffer, or the same error. Returns how the whole ended.
pub(crate) fn assert_feeds_match_whole(
    make: impl Fn() -> Env,
    encoding: Encoding,
    rect: Rect,
    payload: &[u8],
    feeds: impl IntoIterator<Item = Vec<usize>>,
) -> Fed {
    let mut whole = make();
    let (expected, _) = whole.feed(encoding, rect, payload, [payload.len()]);
    for ends in feeds {
        let mut env = make();
        let (got, _) = env.feed(encoding, rect, payload, ends.iter().copied());
        let feed = format!(
            "{} pieces ending at {:?}…",
            ends.len(),
            &ends[..ends.len().min(3)]
        );
        assert_eq!(got, expected, "{encoding:?} in {feed}");
        assert!(
            env.fb.rgba() == whole.fb.rgba(),
            "{encoding:?} in {feed}: the framebuffers differ"
        );
    }
    expected
}

/// A deterministic xorshift64 sequence, for generated test data.
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}
