//! The place of a Hextile or TRLE rectangle whose bytes ran out, so that the next call — for
//! the same rectangle, with more bytes — goes on where the last one stopped.

use super::{hextile, trle};
use crate::framebuffer::Rect;

/// A Hextile or TRLE rectangle whose bytes ran out: which rectangle, and the cursor of its walk
/// (the tiles decoded so far are in the decoders' scratch canvas). Taken by the next call: a
/// call for the same rectangle resumes it, any other starts afresh; the caller puts it back
/// only when that call runs out of bytes too, so a finished or invalid rectangle leaves
/// `None`.
#[derive(Debug, Default)]
pub(crate) enum Partial {
    #[default]
    None,
    Hextile {
        rect: Rect,
        cursor: hextile::Cursor,
    },
    /// Boxed: the cursor holds a 127-colour palette.
    Trle {
        rect: Rect,
        cursor: Box<trle::Cursor>,
    },
}

impl Partial {
    /// The cursor to decode Hextile `rect` with: where the last call stopped if it was for
    /// `rect`, else at the first tile of a new rectangle, whose canvas `scratch` is emptied.
    pub(crate) fn take_hextile(&mut self, rect: Rect, scratch: &mut Vec<u8>) -> hextile::Cursor {
        match std::mem::take(self) {
            Partial::Hextile { rect: at, cursor } if at == rect => cursor,
            _ => fresh(scratch),
        }
    }

    /// The cursor to decode TRLE `rect` with, as [`Partial::take_hextile`].
    pub(crate) fn take_trle(&mut self, rect: Rect, scratch: &mut Vec<u8>) -> Box<trle::Cursor> {
        match std::mem::take(self) {
            Partial::Trle { rect: at, cursor } if at == rect => cursor,
            _ => fresh(scratch),
        }
    }
}

/// A cursor at the first tile of a new rectangle; its canvas will start zeroed
/// ([`super::canvas::Canvas::new`] zeroes a buffer of the wrong size).
fn fresh<C: Default>(scratch: &mut Vec<u8>) -> C {
    scratch.clear();
    C::default()
}
