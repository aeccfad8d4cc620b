//! Server→client messages (RFC 6143 §7.6): message headers and rectangle headers. Rectangle
//! payloads are read by [`crate::decode`].

use crate::error::{Error, Stall};
use crate::framebuffer::Rect;
use crate::limits::Limits;
use crate::messages::clipboard::{
    read_cut_text_body, read_cut_text_header, CutText, CutTextHeader,
};
use crate::messages::encoding::Encoding;
use crate::wire::Reader;

/// One server message, read whole — except FramebufferUpdate, whose rectangles follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// A FramebufferUpdate header. `rects == 0xFFFF` means "until a LastRect rectangle".
    FramebufferUpdate {
        rects: u16,
    },
    SetColourMapEntries {
        first: u16,
        colours: Vec<[u16; 3]>,
    },
    Bell,
    /// Legacy cut text: Latin-1 bytes.
    ServerCutText(Vec<u8>),
    /// Extended clipboard (negative cut-text length): flags word and the rest of the payload.
    ExtendedCutText {
        flags: u32,
        payload: Vec<u8>,
    },
    /// The server supports (or ended) continuous updates.
    EndOfContinuousUpdates,
    /// A fence: `flags` (bit 31 = request) and up to 64 bytes the other side echoes.
    ServerFence {
        flags: u32,
        payload: Vec<u8>,
    },
}

impl ServerMessage {
    pub(crate) fn read(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, Stall> {
        Ok(match ServerMessageHeader::read(r, limits)? {
            ServerMessageHeader::FramebufferUpdate { rects } => Self::FramebufferUpdate { rects },
            ServerMessageHeader::SetColourMapEntries { first, count } => {
                // count ≤ 65535, so at most 393 KiB: bounded by the type itself.
                let mut colours = Vec::with_capacity(usize::from(count).min(r.remaining() / 6 + 1));
                for _ in 0..count {
                    colours.push([r.u16()?, r.u16()?, r.u16()?]);
                }
                Self::SetColourMapEntries { first, colours }
            }
            ServerMessageHeader::Bell => Self::Bell,
            ServerMessageHeader::ServerCutText(header) => match read_cut_text_body(r, header)? {
                CutText::Legacy(text) => Self::ServerCutText(text.to_vec()),
                CutText::Extended { flags, payload } => Self::ExtendedCutText {
                    flags,
                    payload: payload.to_vec(),
                },
            },
            ServerMessageHeader::EndOfContinuousUpdates => Self::EndOfContinuousUpdates,
            ServerMessageHeader::ServerFence { flags, len } => Self::ServerFence {
                flags,
                payload: r.bytes(usize::from(len))?.to_vec(),
            },
        })
    }
}

/// The fixed-size start of a server message: its type and the fields that say how many bytes
/// follow ([`ServerMessageHeader::payload_len`]) — what a follower of the stream needs without
/// reading the payload. A FramebufferUpdate's rectangles follow its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMessageHeader {
    /// `rects == 0xFFFF` means "until a LastRect rectangle".
    FramebufferUpdate {
        rects: u16,
    },
    /// `count` colours (6 bytes each) follow.
    SetColourMapEntries {
        first: u16,
        count: u16,
    },
    Bell,
    /// Type 3, legacy or extended (negative length); the payload follows.
    ServerCutText(CutTextHeader),
    EndOfContinuousUpdates,
    /// `len` (at most 64) payload bytes follow.
    ServerFence {
        flags: u32,
        len: u8,
    },
}

impl ServerMessageHeader {
    /// The RFB message type of ServerCutText (and the extended clipboard).
    pub const SERVER_CUT_TEXT: u8 = 3;

    /// Reads a message's type and fixed fields. Lengths are checked (cut text against
    /// `max_cut_text_bytes`, a fence's payload against 64); an unknown type is
    /// [`Error::UnknownMessage`].
    pub(crate) fn read(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, Stall> {
        match r.u8()? {
            0 => {
                r.skip(1)?;
                Ok(Self::FramebufferUpdate { rects: r.u16()? })
            }
            1 => {
                r.skip(1)?;
                Ok(Self::SetColourMapEntries {
                    first: r.u16()?,
                    count: r.u16()?,
                })
            }
            2 => Ok(Self::Bell),
            Self::SERVER_CUT_TEXT => Ok(Self::ServerCutText(read_cut_text_header(r, limits)?)),
            150 => Ok(Self::EndOfContinuousUpdates),
            248 => {
                r.skip(3)?;
                let flags = r.u32()?;
                let len = r.u8()?;
                if len > 64 {
                    return Err(Error::Invalid {
                        field: "fence payload length",
                        got: len.into(),
                        why: "must be at most 64",
                    }
                    .into());
                }
                Ok(Self::ServerFence { flags, len })
            }
            other => Err(Error::UnknownMessage(other).into()),
        }
    }

    /// Bytes that follow the header (for a FramebufferUpdate: 0, its rectangles are read
    /// one by one).
    pub fn payload_len(self) -> usize {
        match self {
            Self::FramebufferUpdate { .. } | Self::Bell | Self::EndOfContinuousUpdates => 0,
            Self::SetColourMapEntries { count, .. } => usize::from(count) * 6,
            Self::ServerCutText(header) => header.payload_len(),
            Self::ServerFence { len, .. } => usize::from(len),
        }
    }
}

/// The 12-byte header in front of every rectangle of a FramebufferUpdate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RectHeader {
    pub rect: Rect,
    pub encoding: Encoding,
}

impl RectHeader {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, Stall> {
        let rect = Rect {
            x: r.u16()?,
            y: r.u16()?,
            w: r.u16()?,
            h: r.u16()?,
        };
        Ok(Self {
            rect,
            encoding: Encoding::from_i32(r.i32()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LimitKind;

    fn parse(bytes: &[u8]) -> Result<ServerMessage, Stall> {
        ServerMessage::read(&mut Reader::new(bytes), &Limits::default())
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let msgs: [&[u8]; 7] = [
            &[0, 0, 0, 3],
            &[1, 0, 0, 1, 0, 1, 0xff, 0xff, 0, 0, 0x80, 0],
            &[2],
            &[3, 0, 0, 0, 0, 0, 0, 2, b'h', b'i'],
            &[3, 0, 0, 0, 0xff, 0xff, 0xff, 0xfa, 0x01, 0, 0, 0, 0, 0],
            &[150],
            &[248, 0, 0, 0, 0x80, 0, 0, 0, 2, 7, 7],
        ];
        for m in msgs {
            for cut in 0..m.len() {
                assert!(
                    matches!(parse(&m[..cut]), Err(Stall::Incomplete(_))),
                    "{m:?} cut at {cut}"
                );
            }
            assert!(parse(m).is_ok());
        }
    }

    #[test]
    fn extended_clipboard_fences_and_their_bad_shapes() {
        assert_eq!(
            parse(&[3, 0, 0, 0, 0xff, 0xff, 0xff, 0xfa, 0x01, 0, 0, 1, 9, 9]).ok(),
            Some(ServerMessage::ExtendedCutText {
                flags: 0x0100_0001,
                payload: vec![9, 9]
            })
        );
        // abs(INT32_MIN) overflows; a negative length below 4 has no flags word.
        assert!(matches!(
            parse(&[3, 0, 0, 0, 0x80, 0, 0, 0]),
            Err(Stall::Invalid(_))
        ));
        assert!(matches!(
            parse(&[3, 0, 0, 0, 0xff, 0xff, 0xff, 0xfe, 0, 0]),
            Err(Stall::Invalid(_))
        ));
        assert!(matches!(
            parse(&[248, 0, 0, 0, 0, 0, 0, 0, 65]),
            Err(Stall::Invalid(_))
        ));
    }

    #[test]
    fn rejects_unknown_types_and_huge_cut_text() {
        assert!(matches!(
            parse(&[7]),
            Err(Stall::Invalid(Error::UnknownMessage(7)))
        ));
        assert!(matches!(
            parse(&[3, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]),
            Err(Stall::Invalid(Error::LimitExceeded {
                limit: LimitKind::CutTextBytes,
                ..
            }))
        ));
    }
}
