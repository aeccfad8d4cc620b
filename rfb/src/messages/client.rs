//! Client→server messages (RFC 6143 §7.5) and their encoding. Pad bytes are always zero.

use crate::framebuffer::Rect;
use crate::messages::encoding::Encoding;
use crate::pixel_format::PixelFormat;

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
                out.extend_from_slice(&n.to_be_bytes());
                for e in list.iter().take(usize::from(n)) {
                    out.extend_from_slice(&e.to_i32().to_be_bytes());
                }
            }
            Self::FramebufferUpdateRequest { incremental, area } => {
                out.extend_from_slice(&[3, u8::from(*incremental)]);
                for v in [area.x, area.y, area.w, area.h] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            Self::KeyEvent { down, keysym } => {
                out.extend_from_slice(&[4, u8::from(*down), 0, 0]);
                out.extend_from_slice(&keysym.to_be_bytes());
            }
            Self::PointerEvent { buttons, x, y } => {
                out.extend_from_slice(&[5, *buttons]);
                out.extend_from_slice(&x.to_be_bytes());
                out.extend_from_slice(&y.to_be_bytes());
            }
            Self::ClientCutText(text) => {
                let latin1: Vec<u8> = text
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                    .collect();
                let len = u32::try_from(latin1.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&[6, 0, 0, 0]);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&latin1[..len as usize]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(m: ClientMessage) -> Vec<u8> {
        let mut v = Vec::new();
        m.write(&mut v);
        v
    }

    #[test]
    fn encodes_like_rfc6143() {
        assert_eq!(
            bytes(ClientMessage::KeyEvent {
                down: true,
                keysym: 0xff0d
            }),
            [4, 1, 0, 0, 0, 0, 0xff, 0x0d]
        );
        assert_eq!(
            bytes(ClientMessage::PointerEvent {
                buttons: 1,
                x: 300,
                y: 2
            }),
            [5, 1, 1, 44, 0, 2]
        );
        assert_eq!(
            bytes(ClientMessage::FramebufferUpdateRequest {
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
            bytes(ClientMessage::SetEncodings(vec![
                Encoding::Raw,
                Encoding::DesktopSize
            ])),
            [2, 0, 0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x21]
        );
        assert_eq!(
            bytes(ClientMessage::SetPixelFormat(PixelFormat::RGBX_LE)).len(),
            20
        );
        assert_eq!(
            bytes(ClientMessage::ClientCutText("é€".into())),
            [6, 0, 0, 0, 0, 0, 0, 2, 0xe9, b'?']
        );
    }
}
