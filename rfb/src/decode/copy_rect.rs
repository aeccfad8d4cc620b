//! CopyRect encoding (1): `U16 src-x, U16 src-y`; copy the `w × h` block from there.
//!
//! Both the source and the destination must lie inside the framebuffer (TigerVNC
//! CVE-2019-15692 was a heap overflow from an unchecked source). Overlapping blocks copy like
//! `memmove`.

use super::check_bounds;
use crate::error::{Error, Stall};
use crate::framebuffer::{Framebuffer, Rect};
use crate::wire::Reader;

pub(crate) fn decode(rect: Rect, r: &mut Reader<'_>, fb: &mut Framebuffer) -> Result<(), Stall> {
    check_bounds(&rect, fb)?;
    let src_x = r.u16()?;
    let src_y = r.u16()?;
    if !fb.copy_rect(src_x, src_y, rect) {
        return Err(Error::CopyRectSourceOutOfBounds {
            src_x,
            src_y,
            w: rect.w,
            h: rect.h,
            fb_w: fb.width(),
            fb_h: fb.height(),
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::error::Error;
    use crate::messages::encoding::Encoding;
    use crate::PixelFormat;

    fn env() -> Env {
        let mut env = Env::new(8, 8, PixelFormat::RGBX_LE);
        env.fb.fill(rect(0, 0, 2, 2), [1, 2, 3, 255]);
        env
    }

    #[test]
    fn copies_and_every_prefix_is_incomplete() {
        let mut env = env();
        env.run_all_prefixes(Encoding::CopyRect, rect(5, 6, 2, 2), &[0, 0, 0, 0]);
        assert_eq!(env.pixel(5, 6), [1, 2, 3, 255]);
        assert_eq!(env.pixel(6, 7), [1, 2, 3, 255]);
        assert_eq!(env.pixel(4, 6), [0, 0, 0, 255]);
    }

    #[test]
    fn overlapping_copy_is_memmove() {
        let mut env = Env::new(8, 8, PixelFormat::RGBX_LE);
        env.fb.fill(rect(0, 0, 1, 1), [1, 1, 1, 255]);
        env.fb.fill(rect(1, 1, 1, 1), [2, 2, 2, 255]);
        env.run_all_prefixes(Encoding::CopyRect, rect(1, 1, 2, 2), &[0, 0, 0, 0]);
        // The source as it was before the copy, even where it overlaps the destination.
        assert_eq!(env.pixel(1, 1), [1, 1, 1, 255]);
        assert_eq!(env.pixel(2, 1), [0, 0, 0, 255]);
        assert_eq!(env.pixel(1, 2), [0, 0, 0, 255]);
        assert_eq!(env.pixel(2, 2), [2, 2, 2, 255]);
    }

    #[test]
    fn cve_2019_15692_source_outside_is_refused() {
        let mut env = env();
        for src in [[0, 7, 0, 0], [0xff, 0xff, 0, 0], [0, 0, 0, 7]] {
            let e = env.run_err(Encoding::CopyRect, rect(0, 0, 2, 2), &src);
            assert!(matches!(e, Error::CopyRectSourceOutOfBounds { .. }), "{e}");
        }
        let e = env.run_err(Encoding::CopyRect, rect(7, 0, 2, 2), &[0, 0, 0, 0]);
        assert!(matches!(e, Error::RectOutOfBounds { .. }), "{e}");
        let e = env.run_err(Encoding::CopyRect, rect(0xffff, 0, 2, 1), &[0, 0, 0, 0]);
        assert!(matches!(e, Error::RectOutOfBounds { .. }), "{e}");
        assert_eq!(env.pixel(0, 0), [1, 2, 3, 255]);
    }
}
