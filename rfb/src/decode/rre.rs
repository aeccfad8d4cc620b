//! RRE encoding (2): `U32 n`, a background pixel, then `n × (pixel, U16 x, y, w, h)` with
//! subrectangles relative to the rectangle.
//!
//! `n` is the peer's choice up to 2³²−1, so it is held to the rectangle's area (more
//! subrectangles than pixels is never useful) and the bytes it implies to `max_rect_bytes`,
//! computed in `u64` (libvncclient CVE-2018-20020 overflowed `n × (4 + Bpp)` in 32 bits). The
//! painted area is held to [`MAX_OVERDRAW`] × the rectangle's area, bounding CPU time.

use super::{check_bounds, DecodeContext};
use crate::error::{Error, LimitKind, Stall};
use crate::framebuffer::{Framebuffer, Rect};
use crate::wire::Reader;

/// How many times over, in total, subrectangles may paint the rectangle's area. Encoders send
/// disjoint subrectangles (overdraw 1).
pub const MAX_OVERDRAW: u64 = 4;

pub(crate) fn decode(
    rect: Rect,
    r: &mut Reader<'_>,
    fb: &mut Framebuffer,
    ctx: &DecodeContext<'_>,
) -> Result<(), Stall> {
    check_bounds(&rect, fb)?;
    let bpp = ctx.bytes_per_pixel();
    let n = r.u32()?;
    let area = u64::from(rect.w) * u64::from(rect.h);
    if u64::from(n) > area {
        return Err(Error::Invalid {
            field: "RRE subrectangle count",
            got: n.into(),
            why: "more subrectangles than pixels in the rectangle",
        }
        .into());
    }
    let sub_len = bpp + 8;
    let len = u64::from(n) * sub_len as u64;
    let len = match usize::try_from(len) {
        Ok(l) if l <= ctx.limits.max_rect_bytes => l,
        _ => return Err(Error::limit(LimitKind::RectBytes, len, ctx.limits.max_rect_bytes).into()),
    };
    let bg = r.bytes(bpp)?;
    let subs = r.bytes(len)?;

    // Complete: check every subrectangle before painting any.
    let mut painted = 0u64;
    for s in subs.chunks_exact(sub_len) {
        let sub = subrect(s, bpp)?;
        if u32::from(sub.x) + u32::from(sub.w) > u32::from(rect.w)
            || u32::from(sub.y) + u32::from(sub.h) > u32::from(rect.h)
        {
            return Err(Error::Invalid {
                field: "RRE subrectangle",
                got: (u64::from(sub.x) << 48)
                    | (u64::from(sub.y) << 32)
                    | (u64::from(sub.w) << 16)
                    | u64::from(sub.h),
                why: "it reaches outside its rectangle (x:y:w:h packed in 16-bit fields)",
            }
            .into());
        }
        painted += u64::from(sub.w) * u64::from(sub.h);
        if painted > area.saturating_mul(MAX_OVERDRAW) {
            return Err(Error::Invalid {
                field: "RRE painted area",
                got: painted,
                why: "subrectangles overlap far more than any encoder sends",
            }
            .into());
        }
    }
    fb.fill(rect, ctx.rgba(bg));
    for s in subs.chunks_exact(sub_len) {
        let sub = subrect(s, bpp)?;
        let at = Rect {
            x: rect.x.saturating_add(sub.x),
            y: rect.y.saturating_add(sub.y),
            w: sub.w,
            h: sub.h,
        };
        let colour = ctx.rgba(s.get(..bpp).unwrap_or_default());
        fb.fill(at, colour);
    }
    Ok(())
}

/// Reads the geometry of one subrectangle record (`pixel, x, y, w, h`), which `chunks_exact`
/// made exactly `bpp + 8` bytes long.
fn subrect(s: &[u8], bpp: usize) -> Result<Rect, Stall> {
    let mut r = Reader::new(s);
    r.skip(bpp)?;
    Ok(Rect {
        x: r.u16()?,
        y: r.u16()?,
        w: r.u16()?,
        h: r.u16()?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::error::{Error, LimitKind};
    use crate::messages::encoding::Encoding;
    use crate::PixelFormat;

    fn rre(env: &Env, bg: [u8; 3], subs: &[([u8; 3], [u16; 4])]) -> Vec<u8> {
        let mut v = (subs.len() as u32).to_be_bytes().to_vec();
        v.extend(env.px(bg));
        for (c, g) in subs {
            v.extend(env.px(*c));
            for n in g {
                v.extend_from_slice(&n.to_be_bytes());
            }
        }
        v
    }

    #[test]
    fn paints_background_and_subrects_in_every_format() {
        for pf in [PixelFormat::RGBX_LE, PF_RGB565_BE, PF_BGR233, PF_XRGB_BE] {
            let mut env = Env::new(10, 10, pf);
            let data = rre(
                &env,
                [255, 0, 0],
                &[([0, 255, 0], [1, 1, 2, 2]), ([0, 0, 255], [3, 0, 1, 4])],
            );
            env.run_all_prefixes(Encoding::Rre, rect(2, 3, 4, 4), &data);
            assert_eq!(env.pixel(2, 3), env.rgba([255, 0, 0]), "{pf:?}");
            assert_eq!(env.pixel(3, 4), env.rgba([0, 255, 0]));
            assert_eq!(env.pixel(4, 5), env.rgba([0, 255, 0]));
            assert_eq!(env.pixel(5, 6), env.rgba([0, 0, 255]));
            assert_eq!(env.pixel(6, 3), [0, 0, 0, 255], "outside untouched");
        }
    }

    #[test]
    fn subrect_outside_the_rect_is_an_error() {
        let mut env = Env::new(10, 10, PixelFormat::RGBX_LE);
        let data = rre(&env, [1, 1, 1], &[([2, 2, 2], [3, 3, 2, 1])]);
        let e = env.run_err(Encoding::Rre, rect(0, 0, 4, 4), &data);
        assert!(
            matches!(
                e,
                Error::Invalid {
                    field: "RRE subrectangle",
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(env.pixel(0, 0), [0, 0, 0, 255], "nothing painted");
    }

    #[test]
    fn cve_2018_20020_huge_counts_are_refused_before_reading() {
        let mut env = Env::new(100, 100, PixelFormat::RGBX_LE);
        // 0x20000001 × (4 + 8) wraps 32 bits; here it is just more than the area.
        let e = env.run_err(Encoding::Rre, rect(0, 0, 100, 100), &[0x20, 0, 0, 1]);
        assert!(matches!(
            e,
            Error::Invalid {
                field: "RRE subrectangle count",
                ..
            }
        ));
        // Within the area but beyond max_rect_bytes.
        env.limits.max_rect_bytes = 1000;
        let e = env.run_err(Encoding::Rre, rect(0, 0, 100, 100), &[0, 0, 1, 0]);
        assert!(matches!(
            e,
            Error::LimitExceeded {
                limit: LimitKind::RectBytes,
                ..
            }
        ));
    }

    #[test]
    fn overdraw_is_bounded() {
        let mut env = Env::new(16, 16, PixelFormat::RGBX_LE);
        let subs = vec![([9, 9, 9], [0, 0, 16, 16]); 5];
        let data = rre(&env, [0, 0, 0], &subs);
        let e = env.run_err(Encoding::Rre, rect(0, 0, 16, 16), &data);
        assert!(matches!(
            e,
            Error::Invalid {
                field: "RRE painted area",
                ..
            }
        ));
    }
}
