//! Browser keyboard and mouse values → RFB keysyms and button masks. Pure functions.

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
    fn buttons() {
        assert_eq!(rfb_buttons(1), 1);
        assert_eq!(rfb_buttons(2), 4);
        assert_eq!(rfb_buttons(4), 2);
        assert_eq!(rfb_buttons(7), 7);
        assert_eq!(wheel_buttons(0.0, -3.0), vec![0x08]);
        assert_eq!(wheel_buttons(2.0, 1.0), vec![0x10, 0x40]);
    }
}
