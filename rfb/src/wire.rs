//! Reading and writing RFB's big-endian wire types over byte slices.
//!
//! A parser built on [`Reader`] has three outcomes: complete (a value and the bytes it used),
//! incomplete ([`Needed`]: feed more bytes and call again), or invalid ([`crate::Error`]).

/// More input is needed before a value can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needed;

/// A cursor over received bytes. Reads never panic; a short read returns [`Needed`].
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    skipped: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            skipped: 0,
        }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// How many of the bytes consumed were passed over by [`Reader::skip`] without being
    /// looked at (padding, or what a resumed decoder had finished with).
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Needed> {
        let end = self.pos.checked_add(n).ok_or(Needed)?;
        let out = self.buf.get(self.pos..end).ok_or(Needed)?;
        self.pos = end;
        Ok(out)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Needed> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub fn skip(&mut self, n: usize) -> Result<(), Needed> {
        self.bytes(n)?;
        self.skipped += n;
        Ok(())
    }

    pub fn u8(&mut self) -> Result<u8, Needed> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16, Needed> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, Needed> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn i32(&mut self) -> Result<i32, Needed> {
        Ok(i32::from_be_bytes(self.array()?))
    }
}

/// Decodes a server string (reason, desktop name): UTF-8 if valid, else Latin-1, with
/// trailing NULs removed (QEMU counts its terminating NUL in the length).
pub fn decode_text(raw: &[u8]) -> String {
    let trimmed = match raw.iter().rposition(|&b| b != 0) {
        Some(last) => &raw[..=last],
        None => &[],
    };
    match std::str::from_utf8(trimmed) {
        Ok(s) => s.to_owned(),
        Err(_) => trimmed.iter().map(|&b| char::from(b)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reads_ask_for_more() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.u16(), Err(Needed));
        assert_eq!(r.u8(), Ok(3));
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.bytes(usize::MAX), Err(Needed));
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.skip(4), Err(Needed));
        assert_eq!(r.skip(2), Ok(()));
        assert_eq!((r.position(), r.skipped()), (2, 2));
    }

    #[test]
    fn text_is_utf8_or_latin1_without_trailing_nuls() {
        assert_eq!(
            decode_text(b"Authentication failed\0"),
            "Authentication failed"
        );
        assert_eq!(decode_text("grüß".as_bytes()), "grüß");
        assert_eq!(decode_text(&[0x67, 0xfc, 0x6c]), "gül");
        assert_eq!(decode_text(&[0, 0]), "");
    }
}
