//! Browser keyboard and mouse values → RFB keysyms, XT scancodes and button masks. Pure
//! functions.

use rfb::keysym as ks;

/// The keysym for a `KeyboardEvent` given its `key` and `code`. Printable keys use `key` (so
/// non-US layouts, AltGr and dead-key compositions send what the user typed); named keys use
/// a table; `None` for keys with no meaning to a VNC server (`Dead`, `Unidentified`).
pub fn keysym(key: &str, code: &str) -> Option<u32> {
    let mut chars = key.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Some(ks::from_char(c));
    }
    let right = code.ends_with("Right");
    Some(match key {
        "Enter" => ks::RETURN,
        "Backspace" => ks::BACKSPACE,
        "Tab" => ks::TAB,
        "Escape" => ks::ESCAPE,
        "Delete" => ks::DELETE,
        "Insert" => ks::INSERT,
        "Home" => ks::HOME,
        "End" => ks::END,
        "PageUp" => ks::PAGE_UP,
        "PageDown" => ks::PAGE_DOWN,
        "ArrowLeft" => ks::LEFT,
        "ArrowUp" => ks::UP,
        "ArrowRight" => ks::RIGHT,
        "ArrowDown" => ks::DOWN,
        "Shift" if right => ks::SHIFT_R,
        "Shift" => ks::SHIFT_L,
        "Control" if right => ks::CONTROL_R,
        "Control" => ks::CONTROL_L,
        "Alt" if right => ks::ALT_R,
        "Alt" => ks::ALT_L,
        "AltGraph" => ks::ISO_LEVEL3_SHIFT,
        "Meta" | "OS" | "Super" if right => ks::SUPER_R,
        "Meta" | "OS" | "Super" => ks::SUPER_L,
        "CapsLock" => ks::CAPS_LOCK,
        "NumLock" => ks::NUM_LOCK,
        "ScrollLock" => ks::SCROLL_LOCK,
        "Pause" => ks::PAUSE,
        "PrintScreen" => ks::PRINT,
        "ContextMenu" => ks::MENU,
        f if f.starts_with('F') => return f[1..].parse().ok().and_then(ks::function_key),
        _ => return None,
    })
}

/// The XT (PC set 1) scancode of a physical key, from `KeyboardEvent.code`, as QEMU extended
/// key events carry it: keys whose scancode has an `0xE0` prefix get the high bit instead
/// (`E0 1D`, right Control, is `0x9D`). `None` for codes with no XT key (and for `""`, which
/// synthetic and on-screen keyboards give).
pub fn xt_scancode(code: &str) -> Option<u32> {
    // Letters and digits first: their codes are regular.
    if let Some(letter) = code.strip_prefix("Key") {
        // A to Z.
        const ROW: [u32; 26] = [
            0x1e, 0x30, 0x2e, 0x20, 0x12, 0x21, 0x22, 0x23, 0x17, 0x24, 0x25, 0x26, 0x32, 0x31,
            0x18, 0x19, 0x10, 0x13, 0x1f, 0x14, 0x16, 0x2f, 0x11, 0x2d, 0x15, 0x2c,
        ];
        let mut chars = letter.bytes();
        return match (chars.next(), chars.next()) {
            (Some(c @ b'A'..=b'Z'), None) => ROW.get(usize::from(c - b'A')).copied(),
            _ => None,
        };
    }
    if let Some(d) = code.strip_prefix("Digit") {
        return match d.as_bytes() {
            [b'0'] => Some(0x0b),
            [c @ b'1'..=b'9'] => Some(u32::from(c - b'1') + 0x02),
            _ => None,
        };
    }
    if let Some(n) = code.strip_prefix('F').and_then(|n| n.parse::<u32>().ok()) {
        return match n {
            1..=10 => Some(0x3a + n),
            11 => Some(0x57),
            12 => Some(0x58),
            13..=23 => Some(0x64 + n - 13),
            24 => Some(0x76),
            _ => None,
        };
    }
    Some(match code {
        "Escape" => 0x01,
        "Minus" => 0x0c,
        "Equal" => 0x0d,
        "Backspace" => 0x0e,
        "Tab" => 0x0f,
        "BracketLeft" => 0x1a,
        "BracketRight" => 0x1b,
        "Enter" => 0x1c,
        "ControlLeft" => 0x1d,
        "Semicolon" => 0x27,
        "Quote" => 0x28,
        "Backquote" => 0x29,
        "ShiftLeft" => 0x2a,
        "Backslash" => 0x2b,
        "Comma" => 0x33,
        "Period" => 0x34,
        "Slash" => 0x35,
        "ShiftRight" => 0x36,
        "NumpadMultiply" => 0x37,
        "AltLeft" => 0x38,
        "Space" => 0x39,
        "CapsLock" => 0x3a,
        "NumLock" => 0x45,
        "ScrollLock" => 0x46,
        "Numpad7" => 0x47,
        "Numpad8" => 0x48,
        "Numpad9" => 0x49,
        "NumpadSubtract" => 0x4a,
        "Numpad4" => 0x4b,
        "Numpad5" => 0x4c,
        "Numpad6" => 0x4d,
        "NumpadAdd" => 0x4e,
        "Numpad1" => 0x4f,
        "Numpad2" => 0x50,
        "Numpad3" => 0x51,
        "Numpad0" => 0x52,
        "NumpadDecimal" => 0x53,
        "IntlBackslash" => 0x56,
        "NumpadEqual" => 0x59,
        "KanaMode" => 0x70,
        "IntlRo" => 0x73,
        "Convert" => 0x79,
        "NonConvert" => 0x7b,
        "IntlYen" => 0x7d,
        "NumpadComma" => 0x7e,
        "MediaTrackPrevious" => 0x90,
        "MediaTrackNext" => 0x99,
        "NumpadEnter" => 0x9c,
        "ControlRight" => 0x9d,
        "AudioVolumeMute" => 0xa0,
        "LaunchApp2" => 0xa1,
        "MediaPlayPause" => 0xa2,
        "MediaStop" => 0xa4,
        "AudioVolumeDown" => 0xae,
        "AudioVolumeUp" => 0xb0,
        "BrowserHome" => 0xb2,
        "NumpadDivide" => 0xb5,
        "PrintScreen" => 0xb7,
        "AltRight" => 0xb8,
        "Pause" => 0xc6,
        "Home" => 0xc7,
        "ArrowUp" => 0xc8,
        "PageUp" => 0xc9,
        "ArrowLeft" => 0xcb,
        "ArrowRight" => 0xcd,
        "End" => 0xcf,
        "ArrowDown" => 0xd0,
        "PageDown" => 0xd1,
        "Insert" => 0xd2,
        "Delete" => 0xd3,
        "MetaLeft" | "OSLeft" => 0xdb,
        "MetaRight" | "OSRight" => 0xdc,
        "ContextMenu" => 0xdd,
        "Power" => 0xde,
        "Sleep" => 0xdf,
        "WakeUp" => 0xe3,
        "BrowserSearch" => 0xe5,
        "BrowserFavorites" => 0xe6,
        "BrowserRefresh" => 0xe7,
        "BrowserStop" => 0xe8,
        "BrowserForward" => 0xe9,
        "BrowserBack" => 0xea,
        "LaunchApp1" => 0xeb,
        "LaunchMail" => 0xec,
        "MediaSelect" => 0xed,
        _ => return None,
    })
}

/// Windows reports AltGr as a left Control press followed at once by AltGr: `true` when this
/// `AltGraph` keydown follows such a Control keydown (same event time, within a few
/// milliseconds), so the Control is not a real one and must be released on the server, or
/// AltGr characters would arrive as Ctrl shortcuts.
pub fn is_windows_altgr(prev: Option<(&str, f64)>, key: &str, time_ms: f64) -> bool {
    key == "AltGraph"
        && prev.is_some_and(|(code, t)| code == "ControlLeft" && (time_ms - t).abs() < 5.0)
}

/// A key of the toolbar: what it sends and which physical key that is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolbarKey {
    pub keysym: u32,
    pub code: &'static str,
}

pub const CONTROL: ToolbarKey = ToolbarKey {
    keysym: ks::CONTROL_L,
    code: "ControlLeft",
};
pub const ALT: ToolbarKey = ToolbarKey {
    keysym: ks::ALT_L,
    code: "AltLeft",
};
pub const DELETE: ToolbarKey = ToolbarKey {
    keysym: ks::DELETE,
    code: "Delete",
};
pub const ESCAPE: ToolbarKey = ToolbarKey {
    keysym: ks::ESCAPE,
    code: "Escape",
};
pub const TAB: ToolbarKey = ToolbarKey {
    keysym: ks::TAB,
    code: "Tab",
};
pub const SUPER: ToolbarKey = ToolbarKey {
    keysym: ks::SUPER_L,
    code: "MetaLeft",
};

/// Keysyms for text typed on an on-screen keyboard (an `input` event's data): one press and
/// release per character; a newline is Return.
pub fn text_keysyms(text: &str) -> impl Iterator<Item = u32> + '_ {
    text.chars().map(|c| match c {
        '\n' | '\r' => ks::RETURN,
        '\t' => ks::TAB,
        c => ks::from_char(c),
    })
}

/// DOM `MouseEvent.buttons` (1 left, 2 right, 4 middle, 8 back, 16 forward) → the RFB mask
/// (1 left, 2 middle, 4 right).
pub fn rfb_buttons(dom_buttons: u16) -> u8 {
    let mut m = 0;
    if dom_buttons & 0x1 != 0 {
        m |= 0x1;
    }
    if dom_buttons & 0x4 != 0 {
        m |= 0x2;
    }
    if dom_buttons & 0x2 != 0 {
        m |= 0x4;
    }
    m
}

/// RFB wheel buttons for a wheel delta: 0x08 up, 0x10 down, 0x20 left, 0x40 right.
pub fn wheel_buttons(dx: f64, dy: f64) -> Vec<u8> {
    let mut out = Vec::new();
    if dy < 0.0 {
        out.push(0x08);
    } else if dy > 0.0 {
        out.push(0x10);
    }
    if dx < 0.0 {
        out.push(0x20);
    } else if dx > 0.0 {
        out.push(0x40);
    }
    out
}

/// Turns wheel deltas into wheel clicks: a mouse wheel's notch is one click, while a
/// touchpad's many small deltas add up to one click per [`WheelAccumulator::STEP_PX`].
#[derive(Debug, Default, Clone, Copy)]
pub struct WheelAccumulator {
    x: f64,
    y: f64,
}

impl WheelAccumulator {
    /// Pixels of scrolling per wheel click.
    pub const STEP_PX: f64 = 50.0;

    /// Adds a `WheelEvent`'s deltas (`mode` is `deltaMode`: 0 pixels, 1 lines, 2 pages) and
    /// returns the RFB wheel buttons to click, in order.
    pub fn add(&mut self, dx: f64, dy: f64, mode: u32) -> Vec<u8> {
        let unit = match mode {
            0 => 1.0,
            1 => Self::STEP_PX / 3.0,
            _ => Self::STEP_PX * 3.0,
        };
        self.x += dx * unit;
        self.y += dy * unit;
        let mut out = Vec::new();
        for (acc, neg, pos) in [(&mut self.y, 0x08, 0x10), (&mut self.x, 0x20, 0x40)] {
            while acc.abs() >= Self::STEP_PX && out.len() < 20 {
                out.push(if *acc < 0.0 { neg } else { pos });
                *acc -= Self::STEP_PX.copysign(*acc);
            }
        }
        out
    }

    /// Forgets partial steps (after a pause, so a new gesture starts fresh).
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(keysym("a", "KeyA"), Some(0x61));
        assert_eq!(keysym("Z", "KeyZ"), Some(0x5a));
        assert_eq!(keysym("é", "Digit2"), Some(0xe9)); // French layout
        assert_eq!(keysym("€", "KeyE"), Some(0x0100_20ac)); // AltGr+E
        assert_eq!(keysym("Enter", "Enter"), Some(ks::RETURN));
        assert_eq!(keysym("Shift", "ShiftRight"), Some(ks::SHIFT_R));
        assert_eq!(keysym("F5", "F5"), Some(0xffc2));
        assert_eq!(keysym("Dead", "BracketLeft"), None);
        assert_eq!(keysym("Fn", "Fn"), None);
    }

    #[test]
    fn scancodes() {
        assert_eq!(xt_scancode("KeyA"), Some(0x1e));
        assert_eq!(xt_scancode("KeyQ"), Some(0x10));
        assert_eq!(xt_scancode("KeyZ"), Some(0x2c));
        assert_eq!(xt_scancode("KeyM"), Some(0x32));
        assert_eq!(xt_scancode("Digit1"), Some(0x02));
        assert_eq!(xt_scancode("Digit0"), Some(0x0b));
        assert_eq!(xt_scancode("F1"), Some(0x3b));
        assert_eq!(xt_scancode("F10"), Some(0x44));
        assert_eq!(xt_scancode("F12"), Some(0x58));
        assert_eq!(xt_scancode("ControlRight"), Some(0x9d));
        assert_eq!(xt_scancode("MetaLeft"), Some(0xdb));
        assert_eq!(xt_scancode("Pause"), Some(0xc6));
        assert_eq!(xt_scancode("IntlBackslash"), Some(0x56));
        for none in [
            "",
            "KeyAA",
            "Key",
            "Digit10",
            "F0",
            "F25",
            "Fn",
            "Unidentified",
        ] {
            assert_eq!(xt_scancode(none), None, "{none}");
        }
        // Every letter has its own code.
        let mut seen: Vec<u32> = ('A'..='Z')
            .filter_map(|c| xt_scancode(&format!("Key{c}")))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 26);
    }

    #[test]
    fn windows_altgr_is_recognised() {
        assert!(is_windows_altgr(
            Some(("ControlLeft", 100.0)),
            "AltGraph",
            100.5
        ));
        assert!(!is_windows_altgr(
            Some(("ControlLeft", 100.0)),
            "AltGraph",
            400.0
        ));
        assert!(!is_windows_altgr(
            Some(("ControlRight", 100.0)),
            "AltGraph",
            100.0
        ));
        assert!(!is_windows_altgr(
            Some(("ControlLeft", 100.0)),
            "Alt",
            100.0
        ));
        assert!(!is_windows_altgr(None, "AltGraph", 0.0));
    }

    #[test]
    fn wheel_accumulates_touchpad_deltas() {
        let mut w = WheelAccumulator::default();
        assert!(w.add(0.0, 20.0, 0).is_empty());
        assert!(w.add(0.0, 20.0, 0).is_empty());
        assert_eq!(w.add(0.0, 20.0, 0), vec![0x10]);
        w.reset();
        assert_eq!(w.add(0.0, -3.0, 1), vec![0x08]);
        assert_eq!(w.add(-120.0, 0.0, 0), vec![0x20, 0x20]);
        assert_eq!(w.add(0.0, 1.0e12, 0).len(), 20, "bounded");
        let typed: Vec<u32> = text_keysyms("aé\n").collect();
        assert_eq!(typed, vec![0x61, 0xe9, ks::RETURN]);
    }

    #[test]
    fn buttons() {
        assert_eq!(rfb_buttons(1), 1);
        assert_eq!(rfb_buttons(2), 4);
        assert_eq!(rfb_buttons(4), 2);
        assert_eq!(rfb_buttons(7), 7);
        assert_eq!(wheel_buttons(0.0, -3.0), vec![0x08]);
        assert_eq!(wheel_buttons(2.0, 1.0), vec![0x10, 0x40]);
    }
}
