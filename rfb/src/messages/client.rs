//! Client→server messages (RFC 6143 §7.5 and the extensions): encoding, and parsing for
//! whoever must inspect a client's stream (the gateway, to enforce view-only). Pad bytes are
//! always sent as zero.

use crate::error::{Error, Stall};
use crate::framebuffer::Rect;
use crate::limits::Limits;
use crate::messages::clipboard::{read_cut_text, CutText};
use crate::messages::encoding::Encoding;
use crate::pixel_format::PixelFormat;
use crate::wire::Reader;

/// One screen of a SetDesktopSize layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScreenLayout {
    pub id: u32,
    pub area: Rect,
    pub flags: u32,
}

/// A message a client sends in the normal phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    SetPixelFormat(PixelFormat),
    SetEncodings(Vec<Encoding>),
    FramebufferUpdateRequest {
        incremental: bool,
        area: Rect,
    },
    KeyEvent {
        down: bool,
        keysym: u32,
    },
    PointerEvent {
        buttons: u8,
        x: u16,
        y: u16,
    },
    /// Latin-1 text (characters above U+00FF are replaced by `?`).
    ClientCutText(String),
    /// Extended clipboard: the flags word and the payload after it.
    ExtendedCutText {
        flags: u32,
        payload: Vec<u8>,
    },
    EnableContinuousUpdates {
        enable: bool,
        area: Rect,
    },
    ClientFence {
        flags: u32,
        payload: Vec<u8>,
    },
    SetDesktopSize {
        width: u16,
        height: u16,
        screens: Vec<ScreenLayout>,
    },
    /// QEMU extended key event: the keysym and the XT scancode.
    QemuKeyEvent {
        down: bool,
        keysym: u32,
        keycode: u32,
    },
}

fn be16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn be32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn rect(out: &mut Vec<u8>, r: &Rect) {
    for v in [r.x, r.y, r.w, r.h] {
        be16(out, v);
    }
}

impl ClientMessage {
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::SetPixelFormat(pf) => {
                out.extend_from_slice(&[0, 0, 0, 0]);
                pf.write(out);
            }
            Self::SetEncodings(list) => {
                let n = u16::try_from(list.len()).unwrap_or(u16::MAX);
                out.extend_from_slice(&[2, 0]);
                be16(out, n);
                for e in list.iter().take(usize::from(n)) {
                    out.extend_from_slice(&e.to_i32().to_be_bytes());
                }
            }
            Self::FramebufferUpdateRequest { incremental, area } => {
                out.extend_from_slice(&[3, u8::from(*incremental)]);
                rect(out, area);
            }
            Self::KeyEvent { down, keysym } => {
                out.extend_from_slice(&[4, u8::from(*down), 0, 0]);
                be32(out, *keysym);
            }
            Self::PointerEvent { buttons, x, y } => {
                out.extend_from_slice(&[5, *buttons]);
                be16(out, *x);
                be16(out, *y);
            }
            Self::ClientCutText(text) => {
                let latin1: Vec<u8> = text
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                    .collect();
                out.extend_from_slice(&[6, 0, 0, 0]);
                be32(out, u32::try_from(latin1.len()).unwrap_or(u32::MAX));
                out.extend_from_slice(&latin1);
            }
            Self::ExtendedCutText { flags, payload } => {
                // The length is negative: the extended format, abs(len) bytes including flags.
                let len = i32::try_from(payload.len() + 4).unwrap_or(i32::MAX);
                out.extend_from_slice(&[6, 0, 0, 0]);
                out.extend_from_slice(&(-len).to_be_bytes());
                be32(out, *flags);
                out.extend_from_slice(payload);
            }
            Self::EnableContinuousUpdates { enable, area } => {
                out.extend_from_slice(&[150, u8::from(*enable)]);
                rect(out, area);
            }
            Self::ClientFence { flags, payload } => {
                let n = payload.len().min(64);
                out.extend_from_slice(&[248, 0, 0, 0]);
                be32(out, *flags);
                out.push(n as u8); // n ≤ 64
                out.extend_from_slice(&payload[..n]);
            }
            Self::SetDesktopSize {
                width,
                height,
                screens,
            } => {
                let n = screens.len().min(255);
                out.extend_from_slice(&[251, 0]);
                be16(out, *width);
                be16(out, *height);
                out.extend_from_slice(&[n as u8, 0]); // n ≤ 255
                for s in &screens[..n] {
                    be32(out, s.id);
                    rect(out, &s.area);
                    be32(out, s.flags);
                }
            }
            Self::QemuKeyEvent {
                down,
                keysym,
                keycode,
            } => {
                out.extend_from_slice(&[255, 0]);
                be16(out, u16::from(*down));
                be32(out, *keysym);
                be32(out, *keycode);
            }
        }
    }

    /// Parses the first client message in `buf`: `Ok(Some((message, bytes used)))` when
    /// complete, `Ok(None)` when more bytes are needed, `Err` when invalid. For a gateway that
    /// inspects what a browser sends; lengths are checked against `limits`.
    pub fn parse(buf: &[u8], limits: &Limits) -> Result<Option<(Self, usize)>, Error> {
        let mut r = Reader::new(buf);
        match Self::read(&mut r, limits) {
            Ok(m) => Ok(Some((m, r.position()))),
            Err(Stall::Incomplete(_)) => Ok(None),
            Err(Stall::Invalid(e)) => Err(e),
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, Stall> {
        let rect = |r: &mut Reader<'_>| -> Result<Rect, Stall> {
            Ok(Rect {
                x: r.u16()?,
                y: r.u16()?,
                w: r.u16()?,
                h: r.u16()?,
            })
        };
        Ok(match r.u8()? {
            0 => {
                r.skip(3)?;
                Self::SetPixelFormat(PixelFormat::read(r)?)
            }
            2 => {
                r.skip(1)?;
                let n = r.u16()?;
                let mut list = Vec::with_capacity(usize::from(n).min(r.remaining() / 4 + 1));
                for _ in 0..n {
                    list.push(Encoding::from_i32(r.i32()?));
                }
                Self::SetEncodings(list)
            }
            3 => Self::FramebufferUpdateRequest {
                incremental: r.u8()? != 0,
                area: rect(r)?,
            },
            4 => {
                let down = r.u8()? != 0;
                r.skip(2)?;
                Self::KeyEvent {
                    down,
                    keysym: r.u32()?,
                }
            }
            5 => Self::PointerEvent {
                buttons: r.u8()?,
                x: r.u16()?,
                y: r.u16()?,
            },
            6 => match read_cut_text(r, limits)? {
                CutText::Legacy(text) => {
                    Self::ClientCutText(text.iter().map(|&b| char::from(b)).collect())
                }
                CutText::Extended { flags, payload } => Self::ExtendedCutText {
                    flags,
                    payload: payload.to_vec(),
                },
            },
            150 => Self::EnableContinuousUpdates {
                enable: r.u8()? != 0,
                area: rect(r)?,
            },
            248 => {
                r.skip(3)?;
                let flags = r.u32()?;
                let n = r.u8()?;
                if n > 64 {
                    return Err(Error::Invalid {
                        field: "fence payload length",
                        got: n.into(),
                        why: "must be at most 64",
                    }
                    .into());
                }
                Self::ClientFence {
                    flags,
                    payload: r.bytes(usize::from(n))?.to_vec(),
                }
            }
            251 => {
                r.skip(1)?;
                let (width, height) = (r.u16()?, r.u16()?);
                let n = r.u8()?;
                r.skip(1)?;
                let mut screens = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    screens.push(ScreenLayout {
                        id: r.u32()?,
                        area: rect(r)?,
                        flags: r.u32()?,
                    });
                }
                Self::SetDesktopSize {
                    width,
                    height,
                    screens,
                }
            }
            255 => match r.u8()? {
                0 => Self::QemuKeyEvent {
                    down: r.u16()? != 0,
                    keysym: r.u32()?,
                    keycode: r.u32()?,
                },
                sub => {
                    return Err(Error::Invalid {
                        field: "QEMU client message subtype",
                        got: sub.into(),
                        why: "only extended key events (0) are relayed",
                    }
                    .into())
                }
            },
            other => {
                return Err(Error::Invalid {
                    field: "client message type",
                    got: other.into(),
                    why: "unknown; the stream cannot be followed past it",
                }
                .into())
            }
        })
    }

    /// Whether this message is user input (what view-only sessions must not send).
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            Self::KeyEvent { .. }
                | Self::PointerEvent { .. }
                | Self::QemuKeyEvent { .. }
                | Self::ClientCutText(_)
                | Self::ExtendedCutText { .. }
                | Self::SetDesktopSize { .. }
        )
    }

    /// For a view-only session: `message` — exactly one complete client message, as the
    /// gateway's input filter delimits them — rewritten, when it is a SetEncodings, without
    /// - the ExtendedClipboard pseudo-encoding, so the server never starts the extended
    ///   clipboard with a viewer that may not use it (no caps, no notify/provide messages);
    /// - any encoding this crate does not know (TigerVNC's CursorWithAlpha, VMware's and
    ///   QEMU's pseudo-encodings, …), whose rectangles
    ///   [`crate::server_stream::ServerStreamFilter`] could not follow.
    ///
    /// `Ok(None)` when it passes unchanged (any other message, or not exactly one message).
    /// Defence in depth: the server may still send legacy ServerCutText, which the server
    /// stream filter drops, as it drops extended ones.
    pub fn for_view_only(message: &[u8], limits: &Limits) -> Result<Option<Vec<u8>>, Error> {
        match Self::parse(message, limits)? {
            Some((Self::SetEncodings(mut list), used)) if used == message.len() => {
                let before = list.len();
                list.retain(|e| !matches!(e, Encoding::ExtendedClipboard | Encoding::Unknown(_)));
                if list.len() == before {
                    return Ok(None);
                }
                let mut out = Vec::with_capacity(4 + 4 * list.len());
                Self::SetEncodings(list).write(&mut out);
                Ok(Some(out))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_only_set_encodings_lose_the_extended_clipboard_and_what_cannot_be_followed() {
        let limits = Limits::default();
        let with = bytes(&ClientMessage::SetEncodings(vec![
            Encoding::Tight,
            Encoding::ExtendedClipboard,
            Encoding::QualityLevel(6),
            // VMware's cursor, and TigerVNC's CursorWithAlpha.
            Encoding::Unknown(0x574d_5664),
            Encoding::Unknown(-314),
            Encoding::ExtendedClipboard,
            Encoding::Fence,
        ]));
        let want = [
            &[2u8, 0, 0, 3, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xe6][..],
            &(-312i32).to_be_bytes(),
        ]
        .concat();
        assert_eq!(
            ClientMessage::for_view_only(&with, &limits),
            Ok(Some(want.clone()))
        );
        // Unchanged: without it, other messages, more or less than one message.
        for unchanged in [
            want.clone(),
            bytes(&ClientMessage::KeyEvent {
                down: true,
                keysym: 1,
            }),
            with[..with.len() - 1].to_vec(),
            [with.clone(), vec![2]].concat(),
        ] {
            assert_eq!(ClientMessage::for_view_only(&unchanged, &limits), Ok(None));
        }
        assert!(ClientMessage::for_view_only(&[9], &limits).is_err());
    }

    fn bytes(m: &ClientMessage) -> Vec<u8> {
        let mut v = Vec::new();
        m.write(&mut v);
        v
    }

    #[test]
    fn encodes_like_rfc6143() {
        assert_eq!(
            bytes(&ClientMessage::KeyEvent {
                down: true,
                keysym: 0xff0d
            }),
            [4, 1, 0, 0, 0, 0, 0xff, 0x0d]
        );
        assert_eq!(
            bytes(&ClientMessage::PointerEvent {
                buttons: 1,
                x: 300,
                y: 2
            }),
            [5, 1, 1, 44, 0, 2]
        );
        assert_eq!(
            bytes(&ClientMessage::FramebufferUpdateRequest {
                incremental: true,
                area: Rect {
                    x: 0,
                    y: 0,
                    w: 640,
                    h: 480
                }
            }),
            [3, 1, 0, 0, 0, 0, 2, 128, 1, 224]
        );
        assert_eq!(
            bytes(&ClientMessage::SetEncodings(vec![
                Encoding::Raw,
                Encoding::DesktopSize
            ])),
            [2, 0, 0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x21]
        );
        assert_eq!(
            bytes(&ClientMessage::SetPixelFormat(PixelFormat::RGBX_LE)).len(),
            20
        );
        assert_eq!(
            bytes(&ClientMessage::ClientCutText("é€".into())),
            [6, 0, 0, 0, 0, 0, 0, 2, 0xe9, b'?']
        );
        assert_eq!(
            bytes(&ClientMessage::QemuKeyEvent {
                down: true,
                keysym: 0x61,
                keycode: 0x1e
            }),
            [255, 0, 0, 1, 0, 0, 0, 0x61, 0, 0, 0, 0x1e]
        );
        assert_eq!(
            bytes(&ClientMessage::ExtendedCutText {
                flags: 0x0800_0001,
                payload: vec![]
            }),
            [6, 0, 0, 0, 0xff, 0xff, 0xff, 0xfc, 0x08, 0, 0, 1]
        );
    }

    #[test]
    fn every_message_parses_back_and_every_prefix_is_incomplete() {
        let all = [
            ClientMessage::SetPixelFormat(PixelFormat::RGBX_LE),
            ClientMessage::SetEncodings(vec![Encoding::Tight, Encoding::Cursor]),
            ClientMessage::FramebufferUpdateRequest {
                incremental: false,
                area: Rect {
                    x: 1,
                    y: 2,
                    w: 3,
                    h: 4,
                },
            },
            ClientMessage::KeyEvent {
                down: false,
                keysym: 0x20ac,
            },
            ClientMessage::PointerEvent {
                buttons: 4,
                x: 9,
                y: 8,
            },
            ClientMessage::ClientCutText("hi".into()),
            ClientMessage::ExtendedCutText {
                flags: 0x1000_0001,
                payload: vec![1, 2, 3],
            },
            ClientMessage::EnableContinuousUpdates {
                enable: true,
                area: Rect {
                    x: 0,
                    y: 0,
                    w: 5,
                    h: 5,
                },
            },
            ClientMessage::ClientFence {
                flags: 0x8000_0001,
                payload: vec![7; 8],
            },
            ClientMessage::SetDesktopSize {
                width: 1024,
                height: 768,
                screens: vec![ScreenLayout {
                    id: 1,
                    area: Rect {
                        x: 0,
                        y: 0,
                        w: 1024,
                        h: 768,
                    },
                    flags: 0,
                }],
            },
            ClientMessage::QemuKeyEvent {
                down: true,
                keysym: 0x61,
                keycode: 0x1e,
            },
        ];
        let limits = Limits::default();
        for m in all {
            let b = bytes(&m);
            for cut in 0..b.len() {
                assert!(
                    matches!(
                        ClientMessage::read(&mut Reader::new(&b[..cut]), &limits),
                        Err(Stall::Incomplete(_))
                    ),
                    "{m:?} at {cut}"
                );
            }
            let mut r = Reader::new(&b);
            assert_eq!(ClientMessage::read(&mut r, &limits).ok(), Some(m.clone()));
            assert_eq!(r.position(), b.len());
        }
    }

    #[test]
    fn hostile_client_messages_are_errors() {
        let limits = Limits::default();
        for bad in [
            &[7u8][..],
            &[6, 0, 0, 0, 0x80, 0, 0, 0],
            &[6, 0, 0, 0, 0xff, 0xff, 0xff, 0xfd, 0, 0, 0],
            &[6, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff],
            &[248, 0, 0, 0, 0, 0, 0, 0, 200],
            &[255, 1, 0, 0],
        ] {
            assert!(
                matches!(
                    ClientMessage::read(&mut Reader::new(bad), &limits),
                    Err(Stall::Invalid(_))
                ),
                "{bad:?}"
            );
        }
    }
}
