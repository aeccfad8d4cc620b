//! FBS 001.000, the "RFB session" recording format of rfbproxy, vncrec and TightVNC's player:
//! the 12-byte header `FBS 001.000\n`, then blocks of
//!
//! ```text
//! U32 length (big-endian) │ length bytes of the server→client stream │ zero padding to a
//! multiple of 4 │ U32 timestamp: milliseconds since the recording started
//! ```
//!
//! The stream is what a viewer would have received from ProtocolVersion on. Sans-io: the
//! writer appends to a buffer; the reader walks a byte slice and says where damage stops it.

/// The file's first bytes.
pub const HEADER: &[u8; 12] = b"FBS 001.000\n";

/// The largest block a reader accepts (a writer never makes one this large).
pub const MAX_BLOCK_BYTES: usize = 64 << 20;

/// Appends one block holding `data`, stamped `at_ms`, to `out`.
pub fn write_block(data: &[u8], at_ms: u32, out: &mut Vec<u8>) {
    let frame = BlockFrame::new(data.len(), at_ms);
    out.extend_from_slice(&frame.head);
    out.extend_from_slice(data);
    out.extend_from_slice(frame.tail());
}

/// What goes around a block's data: its length before, its padding and timestamp after (for
/// a writer that hands the three parts to the system without copying the data).
#[derive(Debug, Clone, Copy)]
pub struct BlockFrame {
    pub head: [u8; 4],
    tail: [u8; 7],
    tail_len: usize,
}

impl BlockFrame {
    pub fn new(data_len: usize, at_ms: u32) -> Self {
        let len = u32::try_from(data_len).unwrap_or(u32::MAX);
        let pad = padding(data_len);
        let mut tail = [0u8; 7];
        tail[pad..pad + 4].copy_from_slice(&at_ms.to_be_bytes());
        Self {
            head: len.to_be_bytes(),
            tail,
            tail_len: pad + 4,
        }
    }

    /// The zero padding and the timestamp.
    pub fn tail(&self) -> &[u8] {
        &self.tail[..self.tail_len]
    }
}

fn padding(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// One block of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block<'a> {
    pub data: &'a [u8],
    /// Milliseconds since the recording started.
    pub at_ms: u32,
    /// Where the block starts in the file.
    pub offset: usize,
}

impl crate::client::Client {
    /// A client that plays a recorded server stream (the blocks of an FBS file, fed to
    /// [`crate::Client::receive`] in order): it takes the stream's own security and ServerInit,
    /// keeps the pixel format ServerInit names (a recording's pixels are in the format its
    /// viewer asked for, which a recorder writes there), and accepts every encoding this crate
    /// decodes. What it would send is never read.
    pub fn new_player(limits: crate::Limits) -> Self {
        use crate::messages::encoding::Encoding as E;
        let config = crate::client::ClientConfig {
            encodings: vec![
                E::Tight,
                E::TightPng,
                E::Zrle,
                E::Trle,
                E::Hextile,
                E::Zlib,
                E::CopyRect,
                E::Rre,
                E::Jpeg,
                E::Raw,
                E::DesktopSize,
                E::LastRect,
                E::ExtendedDesktopSize,
                E::DesktopName,
                E::Cursor,
                E::QemuExtendedKeyEvent,
                E::Fence,
                E::ContinuousUpdates,
                E::ExtendedClipboard,
            ],
            limits,
            ..crate::client::ClientConfig::default()
        };
        let mut c = Self::new(config);
        c.playback = true;
        c
    }
}

/// Why a recording cannot be read (further).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FbsError {
    #[error("not an FBS 001.000 recording (it starts with {got:?})")]
    Header { got: String },
    #[error("the recording stops in the middle of the block at byte {offset} (it was cut: the gateway stopped while writing, or the file was truncated)")]
    Truncated { offset: usize },
    #[error("the block at byte {offset} claims {len} bytes, more than the {MAX_BLOCK_BYTES} a recording holds per block: the file is damaged")]
    TooLarge { offset: usize, len: u64 },
}

/// Walks the blocks of a recording.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Reader<'a> {
    /// Checks the header.
    pub fn new(bytes: &'a [u8]) -> Result<Self, FbsError> {
        match bytes.get(..HEADER.len()) {
            Some(h) if h == HEADER => Ok(Self {
                bytes,
                pos: HEADER.len(),
                failed: false,
            }),
            _ => Err(FbsError::Header {
                got: String::from_utf8_lossy(bytes.get(..12).unwrap_or(bytes)).into_owned(),
            }),
        }
    }

    /// How far the blocks read so far reach.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Block<'a>, FbsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos == self.bytes.len() {
            return None;
        }
        let offset = self.pos;
        let truncated = || FbsError::Truncated { offset };
        let result = (|| {
            let rest = self.bytes.get(offset..).ok_or_else(truncated)?;
            let len_bytes: [u8; 4] = rest
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(truncated)?;
            let len64 = u64::from(u32::from_be_bytes(len_bytes));
            let len = usize::try_from(len64).unwrap_or(usize::MAX);
            if len > MAX_BLOCK_BYTES {
                return Err(FbsError::TooLarge { offset, len: len64 });
            }
            let data = rest.get(4..4 + len).ok_or_else(truncated)?;
            let stamp_at = 4 + len + padding(len);
            let stamp: [u8; 4] = rest
                .get(stamp_at..stamp_at + 4)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(truncated)?;
            self.pos = offset + stamp_at + 4;
            Ok(Block {
                data,
                at_ms: u32::from_be_bytes(stamp),
                offset,
            })
        })();
        if result.is_err() {
            self.failed = true;
        }
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording(blocks: &[(&[u8], u32)]) -> Vec<u8> {
        let mut out = HEADER.to_vec();
        for (data, at) in blocks {
            write_block(data, *at, &mut out);
        }
        out
    }

    #[test]
    fn blocks_are_padded_to_four_and_read_back() {
        let file = recording(&[(b"RFB 003.003\n", 0), (b"abcde", 40), (b"", 41)]);
        // 12 + (4 + 12 + 4) + (4 + 5 + 3 + 4) + (4 + 0 + 4)
        assert_eq!(file.len(), 12 + 20 + 16 + 8);
        let blocks: Vec<_> = Reader::new(&file)
            .expect("header")
            .collect::<Result<_, _>>()
            .expect("whole");
        assert_eq!(blocks.len(), 3);
        assert_eq!(
            (blocks[1].data, blocks[1].at_ms, blocks[1].offset),
            (&b"abcde"[..], 40, 32)
        );
        assert_eq!(&file[32 + 4 + 5..32 + 4 + 8], &[0, 0, 0], "zero padding");
    }

    #[test]
    fn a_recording_plays_in_its_own_pixel_format() {
        use crate::pixel_format::PixelFormat;
        // RFB 3.3 as rfbproxy records it: version, security type None, ServerInit (2×1,
        // 32 bpp little-endian, red at bit 16), then one Raw update.
        let mut init = vec![0, 2, 0, 1];
        let pf = PixelFormat {
            big_endian: false,
            ..crate::decode::test_util::PF_XRGB_BE
        };
        pf.write(&mut init);
        init.extend_from_slice(&[0, 0, 0, 4]);
        init.extend_from_slice(b"desk");
        let mut update = vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0];
        update.extend_from_slice(&[0x99, 0x66, 0x33, 0, 0x00, 0x00, 0xff, 0]);
        let file = recording(&[
            (b"RFB 003.003\n", 0),
            (&[0, 0, 0, 1], 0),
            (&init, 1),
            (&update, 500),
        ]);
        let mut player = crate::Client::new_player(crate::Limits::default());
        for b in Reader::new(&file).expect("header") {
            player.receive(b.expect("whole").data).expect("plays");
        }
        let fb = player.framebuffer().expect("connected");
        assert_eq!(
            &fb.rgba()[..8],
            &[0x33, 0x66, 0x99, 0xff, 0xff, 0x00, 0x00, 0xff]
        );
    }

    #[test]
    fn damage_stops_the_reader_where_it_is() {
        let file = recording(&[(b"one", 1), (b"two two", 2)]);
        assert_eq!(
            Reader::new(HEADER).expect("header").count(),
            0,
            "nothing recorded"
        );
        for cut in HEADER.len() + 1..file.len() {
            let mut r = Reader::new(&file[..cut]).expect("header");
            let mut whole = 0;
            let mut error = None;
            for b in r.by_ref() {
                match b {
                    Ok(_) => whole += 1,
                    Err(e) => error = Some(e),
                }
            }
            let first_end = HEADER.len() + 4 + 3 + 1 + 4;
            if cut == first_end {
                assert_eq!(
                    (whole, error),
                    (1, None),
                    "a cut between blocks reads clean"
                );
            } else if cut < first_end {
                assert_eq!(
                    (whole, error),
                    (0, Some(FbsError::Truncated { offset: 12 }))
                );
            } else {
                assert_eq!(
                    (whole, error),
                    (1, Some(FbsError::Truncated { offset: first_end }))
                );
            }
        }
        let mut huge = HEADER.to_vec();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        let e = Reader::new(&huge)
            .expect("header")
            .next()
            .expect("a result");
        assert!(matches!(e, Err(FbsError::TooLarge { offset: 12, .. })));
        assert!(Reader::new(b"RFB 003.008\n").is_err());
        assert!(Reader::new(b"FBS").is_err());
    }
}
