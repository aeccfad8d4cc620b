//! Hextile encoding (5): 16×16 tiles, left to right then top to bottom (edge tiles smaller),
//! each led by a mask byte.
//!
//! | bit | value | meaning |
//! |---|---|---|
//! | 0 | 1 | Raw: `tw × th` pixels follow, the other bits are ignored |
//! | 1 | 2 | BackgroundSpecified: a pixel follows |
//! | 2 | 4 | ForegroundSpecified: a pixel follows |
//! | 3 | 8 | AnySubrects: a `U8` count follows, then the subrectangles |
//! | 4 | 16 | SubrectsColoured: each subrectangle is preceded by its pixel |
//!
//! A subrectangle is two bytes: x (high nibble) y (low), then w−1 and h−1. Carry-over: the
//! background and foreground carry to the next tile, but neither survives a Raw tile, the
//! foreground does not survive a SubrectsColoured tile, and the first non-raw tile must set a
//! background. Subrectangles are checked against the actual (edge) tile size.
//!
//! Hextile has no length prefix, so tiles are decoded into a scratch canvas that reaches the
//! framebuffer only when the last tile was read. A rectangle that arrives over several receives
//! is decoded as its bytes come: a [`Cursor`] remembers where the walk stopped.

mod cursor;

pub(crate) use cursor::Cursor;

use super::canvas::Canvas;
use super::{check_bounds, pixel_bytes, DecodeContext};
use crate::error::Stall;
use crate::framebuffer::{Framebuffer, Rect};
use crate::wire::Reader;

pub(crate) const RAW: u8 = 0x01;
pub(crate) const BACKGROUND: u8 = 0x02;
pub(crate) const FOREGROUND: u8 = 0x04;
pub(crate) const ANY_SUBRECTS: u8 = 0x08;
pub(crate) const SUBRECTS_COLOURED: u8 = 0x10;
pub(crate) const UNDEFINED_BITS: u8 = 0xe0;
pub(crate) const TILE: u16 = 16;

/// Decodes the tiles that have arrived into the scratch canvas, from where `cursor` stopped,
/// and copies the canvas into the framebuffer once the last tile was read. When the bytes run
/// out the framebuffer is untouched and `cursor` is where the next call — for the same
/// rectangle, with more bytes — goes on.
pub(crate) fn decode(
    rect: Rect,
    r: &mut Reader<'_>,
    fb: &mut Framebuffer,
    ctx: &DecodeContext<'_>,
    scratch: &mut Vec<u8>,
    cursor: &mut Cursor,
) -> Result<(), Stall> {
    check_bounds(&rect, fb)?;
    pixel_bytes(&rect, 4, ctx.limits)?;
    let mut canvas = Canvas::new(rect.w, rect.h, scratch);
    cursor.walk(rect.w, rect.h, r, ctx, &mut canvas)?;
    canvas.blit(fb, rect);
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
