//! View-only enforcement, viewer → server: the viewer's stream (after the handshake) is
//! followed message by message, and input — KeyEvent, PointerEvent, ClientCutText (and the
//! extended clipboard), SetDesktopSize, QEMU key events — is dropped; a SetEncodings loses
//! the ExtendedClipboard pseudo-encoding (so the server never starts the extended clipboard)
//! and every encoding the server stream's follower does not know (TigerVNC asks for
//! CursorWithAlpha, whose rectangles could not be followed);
//! everything else passes unchanged. The last SetPixelFormat passed on is kept for the other
//! direction, whose [`crate::ServerStreamFilter`] drops the desktop's clipboard. Only
//! message headers are parsed ([`crate::messages::client::ClientMessage::parse`]), and a
//! clipboard message (up to `max_cut_text_bytes`) is skipped as it arrives, never buffered. Forwarded bytes are ranges
//! of the received chunk; only a message split across chunks is copied (into a carry buffer).

use crate::limits::Limits;
use crate::messages::client::ClientMessage;

/// The RFB message type of ClientCutText (and the extended clipboard).
const CLIENT_CUT_TEXT: u8 = 6;

/// Why the stream cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("the viewer sent a message a view-only session cannot follow: {0}")]
    Unfollowable(crate::Error),
    #[error("the viewer's clipboard message of {got} bytes is over the limit of {max}")]
    CutTextTooLong { got: u64, max: usize },
}

/// Follows a viewer's message stream and drops input.
#[derive(Debug)]
pub struct InputFilter {
    limits: Limits,
    /// The start of a message whose header is not complete yet.
    carry: Vec<u8>,
    /// Bytes of a dropped message still to come.
    skip: usize,
    /// Input messages dropped so far.
    pub dropped: u64,
    /// The pixel format of the last SetPixelFormat passed on, until taken.
    pixel_format: Option<crate::PixelFormat>,
}

impl InputFilter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            carry: Vec::new(),
            skip: 0,
            dropped: 0,
            pixel_format: None,
        }
    }

    /// The pixel format the viewer asked for since the last call, if it asked.
    pub fn take_pixel_format(&mut self) -> Option<crate::PixelFormat> {
        self.pixel_format.take()
    }

    /// A complete message that passes: its replacement, if it has one (a SetEncodings without
    /// the extended clipboard); a SetPixelFormat is noted.
    fn passing(&mut self, msg: &[u8]) -> Result<Option<Vec<u8>>, FilterError> {
        match msg.first() {
            Some(0) => {
                if let Ok(Some((ClientMessage::SetPixelFormat(pf), _))) =
                    ClientMessage::parse(msg, &self.limits)
                {
                    self.pixel_format = Some(pf);
                }
                Ok(None)
            }
            Some(2) => {
                ClientMessage::for_view_only(msg, &self.limits).map_err(FilterError::Unfollowable)
            }
            _ => Ok(None),
        }
    }

    /// The length of the message at the start of `buf`, and whether it is input; `None`
    /// when more bytes are needed. A clipboard message is known by its 8-byte header alone.
    fn classify(&self, buf: &[u8]) -> Result<Option<(usize, bool)>, FilterError> {
        if buf.first() == Some(&CLIENT_CUT_TEXT) {
            let Some(len) = buf.get(4..8) else {
                return Ok(None);
            };
            let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
            let n = usize::try_from(len.unsigned_abs()).unwrap_or(usize::MAX);
            if len == i32::MIN || n > self.limits.max_cut_text_bytes {
                return Err(FilterError::CutTextTooLong {
                    got: len.unsigned_abs().into(),
                    max: self.limits.max_cut_text_bytes,
                });
            }
            return Ok(Some((8 + n, true)));
        }
        match ClientMessage::parse(buf, &self.limits) {
            Ok(Some((msg, used))) => Ok(Some((used, msg.is_input()))),
            Ok(None) => Ok(None),
            Err(e) => Err(FilterError::Unfollowable(e)),
        }
    }

    /// Filters one chunk: `out` gets what to pass on, in order — ranges of `chunk`, or (for a
    /// message split across chunks) its bytes.
    pub fn filter(&mut self, chunk: &[u8], out: &mut Vec<Segment>) -> Result<(), FilterError> {
        let mut pos = 0;
        if self.skip > 0 {
            let n = self.skip.min(chunk.len());
            self.skip -= n;
            pos = n;
        }
        if !self.carry.is_empty() {
            // Complete the split message from this chunk, a growing piece at a time.
            while pos < chunk.len() {
                let take = (chunk.len() - pos).min(self.carry.len().max(64));
                self.carry
                    .extend_from_slice(chunk.get(pos..pos + take).unwrap_or_default());
                pos += take;
                let Some((len, input)) = self.classify(&self.carry)? else {
                    continue;
                };
                // Bytes of the carry past this message go back to the chunk's walk.
                let extra = self.carry.len().saturating_sub(len);
                pos -= extra;
                self.carry.truncate(len.min(self.carry.len()));
                let have = self.carry.len();
                if input {
                    self.dropped += 1;
                    let n = (len - have).min(chunk.len() - pos);
                    self.skip = len - have - n;
                    pos += n;
                    self.carry.clear();
                } else {
                    let msg = std::mem::take(&mut self.carry);
                    let replaced = self.passing(&msg)?;
                    out.push(Segment::Bytes(replaced.unwrap_or(msg)));
                }
                break;
            }
            if !self.carry.is_empty() {
                return Ok(());
            }
        }
        let mut run_start = pos;
        let run = |out: &mut Vec<Segment>, a: usize, b: usize| {
            if b > a {
                out.push(Segment::Chunk(a..b));
            }
        };
        while pos < chunk.len() {
            let at = chunk.get(pos..).unwrap_or_default();
            match self.classify(at)? {
                Some((len, false)) if len <= at.len() => {
                    if let Some(replaced) = self.passing(at.get(..len).unwrap_or_default())? {
                        run(out, run_start, pos);
                        out.push(Segment::Bytes(replaced));
                        run_start = pos + len;
                    }
                    pos += len;
                }
                Some((len, true)) => {
                    run(out, run_start, pos);
                    self.dropped += 1;
                    let n = len.min(at.len());
                    self.skip = len - n;
                    pos += n;
                    run_start = pos;
                }
                // A message not yet complete (or not yet known), split across chunks.
                _ => {
                    run(out, run_start, pos);
                    self.carry.extend_from_slice(at);
                    return Ok(());
                }
            }
        }
        run(out, run_start, pos);
        Ok(())
    }
}

/// A piece of the viewer's stream to pass on: the same as the server's side.
pub use crate::server_stream::Segment;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framebuffer::Rect;
    use crate::messages::encoding::Encoding;

    fn bytes(msgs: &[ClientMessage]) -> Vec<u8> {
        let mut v = Vec::new();
        for m in msgs {
            m.write(&mut v);
        }
        v
    }

    fn stream() -> (Vec<u8>, Vec<u8>) {
        let update = ClientMessage::FramebufferUpdateRequest {
            incremental: true,
            area: Rect {
                x: 0,
                y: 0,
                w: 640,
                h: 480,
            },
        };
        let all = [
            ClientMessage::SetEncodings(vec![Encoding::Tight, Encoding::Raw]),
            ClientMessage::KeyEvent {
                down: true,
                keysym: 0x61,
            },
            update.clone(),
            ClientMessage::PointerEvent {
                buttons: 1,
                x: 5,
                y: 6,
            },
            ClientMessage::ClientCutText("x".repeat(300)),
            ClientMessage::QemuKeyEvent {
                down: true,
                keysym: 0x61,
                keycode: 0x1e,
            },
            ClientMessage::SetDesktopSize {
                width: 800,
                height: 600,
                screens: vec![],
            },
            update.clone(),
            ClientMessage::ExtendedCutText {
                flags: 1,
                payload: vec![1, 2, 3],
            },
            ClientMessage::ClientFence {
                flags: 0,
                payload: vec![],
            },
        ];
        let kept: Vec<ClientMessage> = all.iter().filter(|m| !m.is_input()).cloned().collect();
        (bytes(&all), bytes(&kept))
    }

    /// `all` through a new filter in chunks of `size`: the filter, and what it passed on.
    fn filtered(all: &[u8], size: usize) -> (InputFilter, Vec<u8>) {
        let mut f = InputFilter::new(Limits::default());
        let mut got = Vec::new();
        for chunk in all.chunks(size) {
            let mut segs = Vec::new();
            f.filter(chunk, &mut segs).expect("valid");
            for s in &segs {
                got.extend_from_slice(s.of(chunk));
            }
        }
        (f, got)
    }
    #[test]
    fn input_is_dropped_in_every_chunking() {
        let (all, want) = stream();
        for size in [1, 2, 3, 7, 8, 13, 64, 65, 500, all.len()] {
            let (f, got) = filtered(&all, size);
            assert_eq!(got, want, "chunks of {size}");
            assert_eq!(f.dropped, 6, "chunks of {size}");
        }
    }

    #[test]
    fn the_extended_clipboard_is_not_asked_for_and_pixel_formats_are_noted_in_every_chunking() {
        let pf = crate::PixelFormat::RGBX_LE;
        let all = bytes(&[
            ClientMessage::SetPixelFormat(pf),
            ClientMessage::SetEncodings(vec![
                Encoding::Tight,
                Encoding::ExtendedClipboard,
                Encoding::Raw,
            ]),
            ClientMessage::KeyEvent {
                down: true,
                keysym: 0x61,
            },
        ]);
        let want = bytes(&[
            ClientMessage::SetPixelFormat(pf),
            ClientMessage::SetEncodings(vec![Encoding::Tight, Encoding::Raw]),
        ]);
        for size in [1, 2, 5, 19, 20, 21, 64, all.len()] {
            let (mut f, got) = filtered(&all, size);
            assert_eq!(got, want, "chunks of {size}");
            assert_eq!(f.take_pixel_format(), Some(pf), "chunks of {size}");
            assert_eq!(f.take_pixel_format(), None);
        }
    }

    #[test]
    fn unfollowable_streams_end_the_session() {
        let mut f = InputFilter::new(Limits::default());
        assert!(matches!(
            f.filter(&[7, 0, 0], &mut Vec::new()),
            Err(FilterError::Unfollowable(_))
        ));
        let mut f = InputFilter::new(Limits::default());
        let huge = [6, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(
            f.filter(&huge, &mut Vec::new()),
            Err(FilterError::CutTextTooLong { .. })
        ));
    }
}
