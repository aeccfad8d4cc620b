//! X11 keysyms for keys that have no character, and the Unicode → keysym rule.

pub const BACKSPACE: u32 = 0xff08;
pub const TAB: u32 = 0xff09;
pub const RETURN: u32 = 0xff0d;
pub const ESCAPE: u32 = 0xff1b;
pub const DELETE: u32 = 0xffff;
pub const HOME: u32 = 0xff50;
pub const LEFT: u32 = 0xff51;
pub const UP: u32 = 0xff52;
pub const RIGHT: u32 = 0xff53;
pub const DOWN: u32 = 0xff54;
pub const PAGE_UP: u32 = 0xff55;
pub const PAGE_DOWN: u32 = 0xff56;
pub const END: u32 = 0xff57;
pub const INSERT: u32 = 0xff63;
pub const MENU: u32 = 0xff67;
pub const F1: u32 = 0xffbe;
pub const SHIFT_L: u32 = 0xffe1;
pub const SHIFT_R: u32 = 0xffe2;
pub const CONTROL_L: u32 = 0xffe3;
pub const CONTROL_R: u32 = 0xffe4;
pub const CAPS_LOCK: u32 = 0xffe5;
pub const META_L: u32 = 0xffe7;
pub const ALT_L: u32 = 0xffe9;
pub const ALT_R: u32 = 0xffea;
pub const SUPER_L: u32 = 0xffeb;
pub const SUPER_R: u32 = 0xffec;
pub const ISO_LEVEL3_SHIFT: u32 = 0xfe03;
pub const NUM_LOCK: u32 = 0xff7f;
pub const SCROLL_LOCK: u32 = 0xff14;
pub const PAUSE: u32 = 0xff13;
pub const PRINT: u32 = 0xff61;

/// The keysym for a character: Latin-1 characters map to themselves, everything else to
/// `0x0100_0000 + code point` (the X11 Unicode keysym range).
pub fn from_char(c: char) -> u32 {
    let cp = u32::from(c);
    match cp {
        0x20..=0x7e | 0xa0..=0xff => cp,
        _ => 0x0100_0000 | cp,
    }
}

/// The keysym for function key `n` (1-based, F1–F35), or `None`.
pub fn function_key(n: u32) -> Option<u32> {
    (1..=35).contains(&n).then(|| F1 + n - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters() {
        assert_eq!(from_char('a'), 0x61);
        assert_eq!(from_char('é'), 0xe9);
        assert_eq!(from_char('€'), 0x0100_20ac);
        assert_eq!(function_key(12), Some(0xffc9));
        assert_eq!(function_key(0), None);
    }
}
