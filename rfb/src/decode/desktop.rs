//! Desktop pseudo-encodings: DesktopSize (−223), ExtendedDesktopSize (−308) and DesktopName
//! (−307). Their rectangles are not checked against the framebuffer: x, y, w, h carry other
//! meanings (reason, status, the new size).

use super::{checked_len, DecodeContext, RectOutcome};
use crate::error::{Error, LimitKind, Stall};
use crate::framebuffer::Rect;
use crate::limits::Limits;
use crate::wire::{decode_text, Reader};

/// One screen of an ExtendedDesktopSize layout (the SCREEN structure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Screen {
    pub id: u32,
    pub x: u16,
    pub y: u16,
    pub width: u16,
    pub height: u16,
    pub flags: u32,
}

impl Screen {
    pub const WIRE_LEN: usize = 16;

    /// Appends the 16-byte SCREEN structure (for SetDesktopSize).
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.to_be_bytes());
        for v in [self.x, self.y, self.width, self.height] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&self.flags.to_be_bytes());
    }
}

/// An ExtendedDesktopSize rectangle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedDesktopSize {
    /// 0 server-side change, 1 this client's request, 2 another client's request.
    pub reason: u16,
    /// 0 OK, 1 prohibited, 2 out of resources, 3 invalid layout, 4 forwarded.
    pub status: u16,
    pub width: u16,
    pub height: u16,
    pub screens: Vec<Screen>,
}

impl ExtendedDesktopSize {
    /// A refused SetDesktopSize from this client: the size and layout did not change.
    pub fn is_refusal(&self) -> bool {
        self.reason == 1 && self.status != 0
    }
}

fn check_side(w: u16, h: u16, limits: &Limits) -> Result<(), Error> {
    let max = limits.max_framebuffer_side;
    if w > max || h > max {
        return Err(Error::limit(
            LimitKind::FramebufferSide,
            w.max(h).into(),
            max.into(),
        ));
    }
    Ok(())
}

/// DesktopSize: no data; w, h are the new framebuffer size.
pub(crate) fn desktop_size(rect: Rect, limits: &Limits) -> Result<RectOutcome, Stall> {
    check_side(rect.w, rect.h, limits)?;
    Ok(RectOutcome::DesktopSize {
        width: rect.w,
        height: rect.h,
    })
}

/// ExtendedDesktopSize: `U8 n`, 3 bytes padding, `n` SCREENs.
pub(crate) fn extended_desktop_size(
    rect: Rect,
    r: &mut Reader<'_>,
    ctx: &DecodeContext<'_>,
) -> Result<RectOutcome, Stall> {
    let n = usize::from(r.u8()?);
    r.skip(3)?;
    let data = r.bytes(n * Screen::WIRE_LEN)?;
    let mut screens = Vec::with_capacity(n);
    for s in data.chunks_exact(Screen::WIRE_LEN) {
        let mut sr = Reader::new(s);
        screens.push(Screen {
            id: sr.u32()?,
            x: sr.u16()?,
            y: sr.u16()?,
            width: sr.u16()?,
            height: sr.u16()?,
            flags: sr.u32()?,
        });
    }
    let eds = ExtendedDesktopSize {
        reason: rect.x,
        status: rect.y,
        width: rect.w,
        height: rect.h,
        screens,
    };
    if !eds.is_refusal() {
        check_side(eds.width, eds.height, ctx.limits)?;
    }
    Ok(RectOutcome::ExtendedDesktopSize(eds))
}

/// DesktopName: `U32 len` + the name. Like TigerVNC, a rectangle with non-zero geometry is
/// read and ignored.
pub(crate) fn desktop_name(
    rect: Rect,
    r: &mut Reader<'_>,
    limits: &Limits,
) -> Result<RectOutcome, Stall> {
    let len = checked_len(r.u32()?, LimitKind::StringBytes, limits.max_string_bytes)?;
    let raw = r.bytes(len)?;
    if rect != Rect::default() {
        return Ok(RectOutcome::DesktopName(None));
    }
    Ok(RectOutcome::DesktopName(Some(decode_text(raw))))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::messages::encoding::Encoding;
    use crate::PixelFormat;

    #[test]
    fn extended_desktop_size_with_screens() {
        let mut env = Env::new(4, 4, PixelFormat::RGBX_LE);
        let screens = [
            Screen {
                id: 1,
                x: 0,
                y: 0,
                width: 1920,
                height: 1080,
                flags: 0,
            },
            Screen {
                id: 2,
                x: 1920,
                y: 0,
                width: 1280,
                height: 1080,
                flags: 0,
            },
        ];
        let mut data = vec![2, 0, 0, 0];
        for s in &screens {
            s.write(&mut data);
        }
        let got =
            env.run_all_prefixes(Encoding::ExtendedDesktopSize, rect(0, 0, 3200, 1080), &data);
        let RectOutcome::ExtendedDesktopSize(eds) = got else {
            panic!("{got:?}")
        };
        assert_eq!(
            (eds.reason, eds.status, eds.width, eds.height),
            (0, 0, 3200, 1080)
        );
        assert_eq!(eds.screens, screens);
        assert!(!eds.is_refusal());
        // A refusal may carry any size; it changes nothing.
        let got = env.run_all_prefixes(
            Encoding::ExtendedDesktopSize,
            rect(1, 3, 0xffff, 0xffff),
            &[0; 4],
        );
        let RectOutcome::ExtendedDesktopSize(eds) = got else {
            panic!("{got:?}")
        };
        assert!(eds.is_refusal());
        // A real resize beyond the limit is an error.
        let e = env.run_err(
            Encoding::ExtendedDesktopSize,
            rect(0, 0, 20000, 10),
            &[0; 4],
        );
        assert!(matches!(
            e,
            Error::LimitExceeded {
                limit: LimitKind::FramebufferSide,
                ..
            }
        ));
        let e = env.run_err(Encoding::DesktopSize, rect(0, 0, 10, 65535), &[]);
        assert!(matches!(
            e,
            Error::LimitExceeded {
                limit: LimitKind::FramebufferSide,
                ..
            }
        ));
    }

    #[test]
    fn desktop_name() {
        let mut env = Env::new(4, 4, PixelFormat::RGBX_LE);
        let mut data = 7u32.to_be_bytes().to_vec();
        data.extend_from_slice(b"d\xc3\xa9sk\0\0");
        let got = env.run_all_prefixes(Encoding::DesktopName, rect(0, 0, 0, 0), &data);
        assert_eq!(got, RectOutcome::DesktopName(Some("désk".into())));
        let got = env.run_all_prefixes(Encoding::DesktopName, rect(0, 0, 1, 1), &data);
        assert_eq!(got, RectOutcome::DesktopName(None));
        // CVE-2017-18635 / CVE-2019-15679 shapes: markup passes through as text (the viewer
        // must not treat it as HTML), huge lengths are refused before reading.
        let mut data = 22u32.to_be_bytes().to_vec();
        data.extend_from_slice(b"<img src=x onerror=1>\0");
        let got = env.run_all_prefixes(Encoding::DesktopName, rect(0, 0, 0, 0), &data);
        assert_eq!(
            got,
            RectOutcome::DesktopName(Some("<img src=x onerror=1>".into()))
        );
        for len in [0xffff_ffffu32, 0x8000_0000, 0x7fff_ffff] {
            let e = env.run_err(Encoding::DesktopName, rect(0, 0, 0, 0), &len.to_be_bytes());
            assert!(matches!(
                e,
                Error::LimitExceeded {
                    limit: LimitKind::StringBytes,
                    ..
                }
            ));
        }
    }
}
