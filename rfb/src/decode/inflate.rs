//! A persistent zlib stream (Zlib, ZRLE and Tight keep theirs for the whole connection) and
//! bounded inflation of one rectangle's compressed bytes.
//!
//! Each rectangle's compressed data ends with a sync flush, so everything it holds can be
//! inflated at once; the dictionary carries over to the next rectangle on the same stream.
//! Callers inflate only once they hold the whole rectangle (see [`super`]), so a stream is
//! never advanced by a partial rectangle.
//!
//! The two-byte zlib header is checked here and the rest inflated as raw deflate: a zlib
//! checksum covers the whole stream and is only sent when it ends, which a VNC server never
//! does, so computing it on every byte (as a zlib decoder must) would be wasted work.

use flate2::{Decompress, FlushDecompress, Status};

use crate::error::Error;

/// Output starts this big and doubles, so a small rectangle never allocates its maximum.
const FIRST_CHUNK: usize = 16 << 10;

/// The zlib trailer (Adler-32), accepted after the last block of a stream that ends.
const TRAILER_BYTES: usize = 4;

/// One zlib stream (with its zlib header on first use).
#[derive(Debug)]
pub(crate) struct Inflater {
    z: Decompress,
    /// How much of the zlib header is still to come, and its first byte once seen.
    header: Header,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    Expected,
    HalfRead(u8),
    Done,
}

impl Inflater {
    pub(crate) fn new() -> Self {
        Self {
            z: Decompress::new(false),
            header: Header::Expected,
        }
    }

    /// Starts a new stream (Tight's reset bits).
    pub(crate) fn reset(&mut self) {
        self.z.reset(false);
        self.header = Header::Expected;
    }

    /// Consumes the zlib header (RFC 1950 §2.2) from the front of `input`: deflate, a window
    /// of at most 32 KiB, a valid check value, no preset dictionary. Returns the rest.
    fn skip_header<'a>(&mut self, input: &'a [u8]) -> Result<&'a [u8], ()> {
        let mut rest = input;
        while self.header != Header::Done {
            let Some((&b, after)) = rest.split_first() else {
                break;
            };
            rest = after;
            self.header = match self.header {
                Header::Expected if b & 0x0f == 8 && b >> 4 <= 7 => Header::HalfRead(b),
                Header::HalfRead(cmf)
                    if (u16::from(cmf) << 8 | u16::from(b)) % 31 == 0 && b & 0x20 == 0 =>
                {
                    Header::Done
                }
                _ => return Err(()),
            };
        }
        Ok(rest)
    }

    /// Inflates all of `input` into `out` (replacing its contents). More than `max` bytes of
    /// output is an error, found by inflating one byte past `max` at most.
    pub(crate) fn inflate(
        &mut self,
        encoding: &'static str,
        input: &[u8],
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<(), Error> {
        let cap = max.saturating_add(1);
        let corrupt = || Error::ZlibCorrupt { encoding };
        let input = self.skip_header(input).map_err(|()| corrupt())?;
        out.clear();
        out.resize(FIRST_CHUNK.min(cap), 0);
        let mut pos = 0usize;
        let mut filled = 0usize;
        loop {
            let (in_before, out_before) = (self.z.total_in(), self.z.total_out());
            let rest = input.get(pos..).unwrap_or_default();
            let window = out.get_mut(filled..).unwrap_or_default();
            let status = self
                .z
                .decompress(rest, window, FlushDecompress::Sync)
                .map_err(|_| corrupt())?;
            let consumed = usize::try_from(self.z.total_in().saturating_sub(in_before))
                .map_err(|_| corrupt())?;
            let produced = usize::try_from(self.z.total_out().saturating_sub(out_before))
                .map_err(|_| corrupt())?;
            pos = pos.saturating_add(consumed);
            filled = filled.saturating_add(produced);
            if filled > max {
                return Err(Error::InflatedTooLong {
                    encoding,
                    max: max as u64,
                });
            }
            let input_done = pos >= input.len();
            let window_full = filled >= out.len();
            if status == Status::StreamEnd {
                // A server that finished its stream can send nothing more on it than the
                // checksum (not verified: see the module's note).
                if input.len().saturating_sub(pos) > TRAILER_BYTES {
                    return Err(corrupt());
                }
                break;
            }
            if window_full {
                // There may be more output pending; grow (at most to max + 1) and go on.
                let grown = out.len().saturating_mul(2).clamp(1, cap);
                out.resize(grown, 0);
                continue;
            }
            if input_done {
                break;
            }
            if consumed == 0 && produced == 0 {
                return Err(corrupt());
            }
        }
        out.truncate(filled);
        Ok(())
    }

    /// Inflates `input` into exactly `expected` bytes in `out`.
    pub(crate) fn inflate_exact(
        &mut self,
        encoding: &'static str,
        input: &[u8],
        out: &mut Vec<u8>,
        expected: usize,
    ) -> Result<(), Error> {
        self.inflate(encoding, input, out, expected)?;
        if out.len() != expected {
            return Err(Error::InflatedSize {
                encoding,
                expected: expected as u64,
                got: out.len() as u64,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::Deflater;
    use super::*;

    #[test]
    fn chunks_share_one_stream() {
        let mut d = Deflater::new();
        let mut inf = Inflater::new();
        let mut out = Vec::new();
        let a: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let b = a.clone();
        let ca = d.chunk(&a);
        let cb = d.chunk(&b);
        inf.inflate_exact("test", &ca, &mut out, a.len())
            .expect("first");
        assert_eq!(out, a);
        // The second chunk refers back to the first (it is tiny): the dictionary carried over.
        assert!(cb.len() < 1000);
        inf.inflate_exact("test", &cb, &mut out, b.len())
            .expect("second");
        assert_eq!(out, b);
    }

    #[test]
    fn size_mismatches_are_errors() {
        let mut d = Deflater::new();
        let data = [7u8; 300];
        let c = d.chunk(&data);
        let mut out = Vec::new();
        assert_eq!(
            Inflater::new().inflate_exact("Zlib", &c, &mut out, 299),
            Err(Error::InflatedTooLong {
                encoding: "Zlib",
                max: 299
            })
        );
        assert_eq!(
            Inflater::new().inflate_exact("Zlib", &c, &mut out, 301),
            Err(Error::InflatedSize {
                encoding: "Zlib",
                expected: 301,
                got: 300
            })
        );
        assert_eq!(
            Inflater::new().inflate_exact("Zlib", &[], &mut out, 0),
            Ok(())
        );
    }

    #[test]
    fn the_zlib_header_is_checked_even_when_split() {
        let mut d = Deflater::new();
        let c = d.chunk(b"split header");
        let mut out = Vec::new();
        let mut inf = Inflater::new();
        inf.inflate("Zlib", &c[..1], &mut out, 100)
            .expect("half a header");
        assert!(out.is_empty());
        inf.inflate_exact("Zlib", &c[1..], &mut out, 12)
            .expect("the rest");
        assert_eq!(out, b"split header");
        for bad in [[0x78, 0x9d], [0x79, 0x9c], [0x78, 0xbb], [0x88, 0x98]] {
            let err = Inflater::new().inflate("Zlib", &bad, &mut out, 100);
            assert_eq!(err, Err(Error::ZlibCorrupt { encoding: "Zlib" }), "{bad:?}");
        }
    }

    #[test]
    fn a_finished_stream_may_carry_its_checksum_and_nothing_more() {
        let data = b"the end".to_vec();
        let mut whole = Vec::new();
        let mut e = flate2::write::ZlibEncoder::new(&mut whole, flate2::Compression::default());
        std::io::Write::write_all(&mut e, &data).expect("deflate");
        e.finish().expect("finish");
        let mut out = Vec::new();
        Inflater::new()
            .inflate_exact("Zlib", &whole, &mut out, data.len())
            .expect("with its trailer");
        assert_eq!(out, data);
        whole.push(0);
        assert!(Inflater::new()
            .inflate_exact("Zlib", &whole, &mut out, data.len())
            .is_err());
    }

    #[test]
    fn garbage_and_resets() {
        let mut out = Vec::new();
        let err = Inflater::new().inflate("ZRLE", &[0xff; 40], &mut out, 1000);
        assert_eq!(err, Err(Error::ZlibCorrupt { encoding: "ZRLE" }));
        // A stream continued after a reset needs a new zlib header.
        let mut d = Deflater::new();
        let first = d.chunk(b"hello");
        let second = d.chunk(b"world");
        let mut inf = Inflater::new();
        inf.inflate_exact("Tight", &first, &mut out, 5)
            .expect("first");
        inf.reset();
        assert!(inf.inflate_exact("Tight", &second, &mut out, 5).is_err());
        inf.reset();
        inf.inflate_exact("Tight", &first, &mut out, 5)
            .expect("after reset");
        assert_eq!(out, b"hello");
    }
}
