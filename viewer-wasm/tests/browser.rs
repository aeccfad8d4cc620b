//! Tests that need a real browser: canvas painting and real `KeyboardEvent`s.
#![cfg(target_arch = "wasm32")]

use rfb::{Framebuffer, Rect};
use viewer_wasm::Painter;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, KeyboardEvent, KeyboardEventInit};

wasm_bindgen_test_configure!(run_in_browser);

fn canvas() -> HtmlCanvasElement {
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .expect("document");
    doc.create_element("canvas")
        .expect("canvas")
        .dyn_into()
        .expect("is a canvas")
}

fn pixel(c: &HtmlCanvasElement, x: f64, y: f64) -> Vec<u8> {
    let ctx: CanvasRenderingContext2d = c
        .get_context("2d")
        .expect("ctx")
        .expect("2d")
        .dyn_into()
        .expect("2d");
    ctx.get_image_data(x, y, 1.0, 1.0)
        .expect("read")
        .data()
        .to_vec()
}

#[wasm_bindgen_test]
fn painter_blits_only_the_dirty_rectangle() {
    let c = canvas();
    let mut painter = Painter::new(c.clone()).expect("painter");
    painter.resize(8, 4);
    assert_eq!((c.width(), c.height()), (8, 4));
    let mut fb = Framebuffer::new(8, 4);
    fb.fill(
        Rect {
            x: 0,
            y: 0,
            w: 8,
            h: 4,
        },
        [200, 0, 0, 255],
    );
    painter
        .paint(
            &fb,
            Rect {
                x: 2,
                y: 1,
                w: 3,
                h: 2,
            },
        )
        .expect("paint");
    assert_eq!(
        pixel(&c, 3.0, 2.0),
        vec![200, 0, 0, 255],
        "inside the dirty rectangle"
    );
    assert_eq!(
        pixel(&c, 0.0, 0.0),
        vec![0, 0, 0, 0],
        "outside it the canvas is untouched"
    );
    // A rectangle outside the framebuffer is ignored, not a panic.
    painter
        .paint(
            &fb,
            Rect {
                x: 7,
                y: 0,
                w: 5,
                h: 1,
            },
        )
        .expect("ignored");
}

#[wasm_bindgen_test]
fn real_keyboard_events_map_to_keysyms() {
    let ev = |key: &str, code: &str| {
        let init = KeyboardEventInit::new();
        init.set_key(key);
        init.set_code(code);
        KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).expect("event")
    };
    let cases = [
        ("q", "KeyA", 0x71),
        ("ä", "Quote", 0xe4),
        ("Enter", "Enter", 0xff0d),
        ("Control", "ControlRight", 0xffe4),
    ];
    for (key, code, want) in cases {
        let e = ev(key, code);
        assert_eq!(
            viewer_wasm::keys::keysym(&e.key(), &e.code()),
            Some(want),
            "{key}"
        );
    }
    let dead = ev("Dead", "BracketLeft");
    assert_eq!(viewer_wasm::keys::keysym(&dead.key(), &dead.code()), None);
}
