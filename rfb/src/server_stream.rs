//! `server_stream` owns following the server→client stream after ServerInit without decoding
//! it: every message and every rectangle is measured — never painted, never inflated — so that
//! a gateway can drop the desktop's clipboard (ServerCutText, legacy and extended) on its way
//! to a view-only viewer and pass everything else on unchanged, in order.
//!
//! Drive contract ([`ServerStreamFilter`]): create it from the pixel format of ServerInit
//! ([`ServerStreamFilter::from_server_init`] or [`ServerStreamFilter::new`]). Give it every
//! chunk the server sends, in order, with [`ServerStreamFilter::filter`], then write the
//! [`Segment`]s it produced for that chunk to the viewer, in order, before the next chunk.
//! When the client→server direction carries a SetPixelFormat, call
//! [`ServerStreamFilter::set_pixel_format`] as it is passed to the server. An error is final:
//! the stream can no longer be followed (an unknown message type or encoding, a size over
//! [`Limits`], malformed data), so the session must end — the filter never guesses; later
//! calls return the same error.
//!
//! Pixel format rule: a format set with `set_pixel_format` takes effect at the next
//! FramebufferUpdate header the filter reads (not in the middle of one). This matches RFB's
//! rule that a server switches formats between updates. The one ambiguity: an update that the
//! server had started before it read the SetPixelFormat, but whose header reaches the filter
//! after the gateway passed the message on, is still in the old format, and is then measured
//! with the new one (a desync that ends in an error, or in the rare worst case a mis-measured
//! rectangle). RFB clients avoid it by not changing formats with an update request
//! outstanding (the TigerVNC/droidVNC-NG "Rect too big" desync); rfb's own client sets its
//! format once, before its first request.
//!
//! Dropping: a message's first byte says what it is, and a ServerCutText (type 3) is
//! recognised there, before any of its bytes are passed on. Its header (8 bytes) is read, its
//! length held to `max_cut_text_bytes`, and its payload skipped as it arrives — counted,
//! never buffered. Everything else is passed on as soon as it has been measured, so the
//! output is always ranges of the chunk just given ([`Segment::Chunk`]).
//!
//! Memory: a carry buffer of at most [`MAX_UNIT_BYTES`] (a message, rectangle or tile header,
//! or one run, split across chunks); payloads — pixels, zlib data, palettes, JPEG scans — are
//! skipped as counts. Every size from the wire is checked (checked arithmetic, [`Limits`]).
//!
//! What is measured: the messages FramebufferUpdate (a count, or 0xFFFF until LastRect),
//! SetColourMapEntries, Bell, ServerCutText, EndOfContinuousUpdates, ServerFence; the
//! encodings Raw, CopyRect, RRE, Hextile (tile masks walked), Zlib, Tight and TightPNG
//! (control byte, filters, compact lengths, the below-12-bytes raw case), TRLE (tiles walked,
//! palettes reused), ZRLE, JPEG (markers walked up to EOI); the pseudo-encodings Cursor,
//! DesktopSize, ExtendedDesktopSize, DesktopName, LastRect, QemuExtendedKeyEvent — what
//! rfb's client decodes. The rules come from the decoders' own parsers where they can be
//! shared (message and rectangle headers, cut-text headers, CPIXEL and TPIXEL sizes, Tight's
//! filter ids, filtered sizes and compact lengths, TRLE's packed sizes and run lengths); the
//! tile walks are this module's own, because the decoders' walks resume by reading a
//! rectangle's retained bytes again, which a filter that keeps no payload cannot do.

mod measure;

use crate::error::{Error, LimitKind, Stall};
use crate::limits::Limits;
use crate::messages::server::ServerMessageHeader;
use crate::pixel_format::PixelFormat;
use crate::wire::Reader;

use measure::{Next, RectsLeft};

/// The largest unit the filter reads whole (a rectangle header is 12 bytes; a Hextile tile
/// header at most 10), and so the most it ever carries across chunks.
pub const MAX_UNIT_BYTES: usize = 16;

/// Why the server's stream cannot be followed; the session must end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the VNC server's stream cannot be followed for a view-only viewer at byte {offset} after \
     ServerInit: {error}; the session is closed"
)]
pub struct FollowError {
    /// Bytes of the stream after ServerInit before the unit that failed.
    pub offset: u64,
    pub error: Error,
}

/// A piece of a stream to pass on, from [`ServerStreamFilter`] (the server's side) or
/// [`crate::input_filter::InputFilter`] (the viewer's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// These bytes of the chunk given to the filter.
    Chunk(std::ops::Range<usize>),
    /// Bytes held back from earlier chunks: a message split across them (only the input
    /// filter makes these; [`ServerStreamFilter`] decides at a message's first byte).
    Bytes(Vec<u8>),
}

impl Segment {
    /// The bytes, given the chunk.
    pub fn of<'a>(&'a self, chunk: &'a [u8]) -> &'a [u8] {
        match self {
            Self::Chunk(r) => chunk.get(r.clone()).unwrap_or_default(),
            Self::Bytes(b) => b,
        }
    }
}

/// Follows the server's stream after ServerInit and drops ServerCutText (see the module docs).
#[derive(Debug)]
pub struct ServerStreamFilter {
    limits: Limits,
    /// The format of the update being read, or of the next one.
    pixel_format: PixelFormat,
    /// A format set by the client, taking effect at the next FramebufferUpdate header.
    pending_format: Option<PixelFormat>,
    /// What the next unit is.
    next: Next,
    /// Rectangles left in the current update.
    rects_left: RectsLeft,
    /// Payload bytes to pass over before the next unit.
    skip: usize,
    /// Whether the bytes being consumed belong to a dropped message.
    dropping: bool,
    /// The start of a unit split across chunks (at most [`MAX_UNIT_BYTES`]).
    carry: Vec<u8>,
    dropped: u64,
    /// Bytes consumed so far (units and skipped payloads).
    offset: u64,
    failed: Option<FollowError>,
}

impl ServerStreamFilter {
    /// A filter at the first message after ServerInit, whose pixel format was `pixel_format`.
    pub fn new(limits: Limits, pixel_format: PixelFormat) -> Self {
        Self {
            limits,
            pixel_format,
            pending_format: None,
            next: Next::Message,
            rects_left: RectsLeft::Count(0),
            skip: 0,
            dropping: false,
            carry: Vec::with_capacity(MAX_UNIT_BYTES),
            dropped: 0,
            offset: 0,
            failed: None,
        }
    }

    /// A filter for the stream after `server_init` (the ServerInit message as the server sent
    /// it, e.g. [`crate::Passthrough::server_init`]): its pixel format, validated.
    pub fn from_server_init(limits: Limits, server_init: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(server_init);
        let format = (|| -> Result<PixelFormat, Stall> {
            r.skip(4)?;
            PixelFormat::read(&mut r)
        })();
        match format {
            Ok(pf) => Ok(Self::new(limits, pf)),
            Err(Stall::Invalid(e)) => Err(e),
            Err(Stall::Incomplete(_)) => Err(Error::Invalid {
                field: "ServerInit length",
                got: server_init.len() as u64,
                why: "too short to hold a pixel format",
            }),
        }
    }

    /// The client sent SetPixelFormat: `pixel_format` applies from the next FramebufferUpdate
    /// header on (see the module docs for the rule and its ambiguity). A later call before
    /// that header replaces it.
    pub fn set_pixel_format(&mut self, pixel_format: PixelFormat) {
        self.pending_format = Some(pixel_format);
    }

    /// ServerCutText messages (legacy and extended) dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether the stream so far ends exactly between two messages.
    pub fn is_at_message_boundary(&self) -> bool {
        self.failed.is_none()
            && self.skip == 0
            && self.carry.is_empty()
            && matches!(self.next, Next::Message | Next::EndOfCutText)
    }

    /// Filters one chunk: `out` gets what to pass on, in order — ranges of `chunk`. An error
    /// is final (see the module docs).
    pub fn filter(&mut self, chunk: &[u8], out: &mut Vec<Segment>) -> Result<(), FollowError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut pos = 0;
        // Where the current run of passed-on bytes started (meaningless while dropping).
        let mut run_start = 0;
        let run = |out: &mut Vec<Segment>, a: usize, b: usize| {
            if b > a {
                out.push(Segment::Chunk(a..b));
            }
        };
        loop {
            if self.skip > 0 {
                let n = self.skip.min(chunk.len() - pos);
                self.skip -= n;
                pos += n;
                self.offset = self.offset.saturating_add(n as u64);
                if self.skip > 0 {
                    break;
                }
            }
            if let Next::EndOfCutText = self.next {
                self.dropping = false;
                run_start = pos;
                self.next = Next::Message;
            }
            let Some(&first) = chunk.get(pos) else {
                break;
            };
            if self.carry.is_empty()
                && matches!(self.next, Next::Message)
                && first == ServerMessageHeader::SERVER_CUT_TEXT
            {
                // Recognised by its first byte: none of it is passed on.
                run(out, run_start, pos);
                self.dropping = true;
            }
            match self.step(chunk, pos) {
                Ok(Some(used)) => pos += used,
                Ok(None) => {
                    pos = chunk.len();
                    break;
                }
                Err(error) => {
                    let e = FollowError {
                        offset: self.offset,
                        error,
                    };
                    self.failed = Some(e.clone());
                    return Err(e);
                }
            }
        }
        if !self.dropping {
            run(out, run_start, pos);
        }
        Ok(())
    }

    /// Reads one unit from `chunk[pos..]`, completing the carried start of one if there is
    /// one: `Some(bytes of the chunk used)`, or `None` when the chunk ran out first (its rest
    /// is then carried).
    fn step(&mut self, chunk: &[u8], pos: usize) -> Result<Option<usize>, Error> {
        let rest = chunk.get(pos..).unwrap_or_default();
        if self.carry.is_empty() {
            return match self.unit(rest) {
                Ok(used) => {
                    self.offset = self.offset.saturating_add(used as u64);
                    Ok(Some(used))
                }
                Err(Stall::Incomplete(_)) => {
                    self.hold(rest)?;
                    Ok(None)
                }
                Err(Stall::Invalid(e)) => Err(e),
            };
        }
        let had = self.carry.len();
        let take = rest.len().min(MAX_UNIT_BYTES.saturating_sub(had));
        self.carry
            .extend_from_slice(rest.get(..take).unwrap_or_default());
        let carry = std::mem::take(&mut self.carry);
        let done = self.unit(&carry);
        self.carry = carry;
        match done {
            Ok(used) => {
                self.offset = self.offset.saturating_add(used as u64);
                self.carry.clear();
                // The carried bytes alone were incomplete, so the unit used some of the chunk.
                Ok(Some(used.saturating_sub(had)))
            }
            Err(Stall::Incomplete(_))
                if take == rest.len() && self.carry.len() < MAX_UNIT_BYTES =>
            {
                Ok(None)
            }
            Err(Stall::Incomplete(_)) => Err(self.unit_too_long()),
            Err(Stall::Invalid(e)) => Err(e),
        }
    }

    /// Carries the start of an incomplete unit to the next chunk.
    fn hold(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if bytes.len() >= MAX_UNIT_BYTES {
            return Err(self.unit_too_long());
        }
        self.carry.extend_from_slice(bytes);
        Ok(())
    }

    /// A unit did not complete within [`MAX_UNIT_BYTES`] (no unit is that long: a bug here,
    /// reported rather than buffered).
    fn unit_too_long(&self) -> Error {
        Error::limit(
            LimitKind::BufferedBytes,
            self.carry.len().max(MAX_UNIT_BYTES) as u64,
            MAX_UNIT_BYTES,
        )
    }
}

#[cfg(test)]
mod tests;
