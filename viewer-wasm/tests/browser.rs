//! Tests that need a real browser: canvas painting and layout, the cursor image as a CSS
//! cursor, real `KeyboardEvent`s → keysyms and scancodes, settings from a real `URL` and a
//! session file read from a real `File`.
#![cfg(target_arch = "wasm32")]

use rfb::{Dirty, Framebuffer, Rect};
use viewer_wasm::layout::layout;
use viewer_wasm::settings::{Scale, Settings};
use viewer_wasm::Painter;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, KeyboardEvent, KeyboardEventInit};

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|w| w.document())
        .expect("document")
}

fn canvas() -> HtmlCanvasElement {
    document()
        .create_element("canvas")
        .expect("canvas")
        .dyn_into()
        .expect("is a canvas")
}

fn ctx(c: &HtmlCanvasElement) -> CanvasRenderingContext2d {
    c.get_context("2d")
        .expect("ctx")
        .expect("2d")
        .dyn_into()
        .expect("2d")
}

fn pixel(c: &HtmlCanvasElement, x: f64, y: f64) -> Vec<u8> {
    ctx(c)
        .get_image_data(x, y, 1.0, 1.0)
        .expect("read")
        .data()
        .to_vec()
}

fn rect(x: u16, y: u16, w: u16, h: u16) -> Rect {
    Rect { x, y, w, h }
}

/// A region changed by something other than fills.
fn region(x: u16, y: u16, w: u16, h: u16) -> Dirty {
    Dirty {
        region: rect(x, y, w, h),
        fills: None,
    }
}

#[wasm_bindgen_test]
fn painter_blits_only_the_dirty_rectangle() {
    let c = canvas();
    let mut painter = Painter::new(c.clone()).expect("painter");
    painter.resize(8, 4);
    assert_eq!((c.width(), c.height()), (8, 4));
    let mut fb = Framebuffer::new(8, 4);
    fb.fill(rect(0, 0, 8, 4), [200, 0, 0, 255]);
    painter.paint(&fb, &region(2, 1, 3, 2)).expect("paint");
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
    painter.paint(&fb, &region(7, 0, 5, 1)).expect("ignored");
}

#[wasm_bindgen_test]
fn painter_puts_varied_pixels_of_the_rectangle_and_none_beside_it() {
    let c = canvas();
    let mut painter = Painter::new(c.clone()).expect("painter");
    painter.resize(9, 5);
    let mut fb = Framebuffer::new(9, 5);
    // Every pixel different, so no fill: the rows are handed over and the canvas takes the
    // rectangle's columns.
    for y in 0..5u16 {
        let row: Vec<u8> = (0..9u16)
            .flat_map(|x| [(x * 25) as u8, (y * 50) as u8, 100, 255])
            .collect();
        fb.put_rgba(rect(0, y, 9, 1), &row);
    }
    painter.paint(&fb, &region(3, 1, 4, 3)).expect("paint");
    for y in 0..5u16 {
        for x in 0..9u16 {
            let inside = (3..7).contains(&x) && (1..4).contains(&y);
            let want = if inside {
                vec![(x * 25) as u8, (y * 50) as u8, 100, 255]
            } else {
                vec![0, 0, 0, 0]
            };
            assert_eq!(pixel(&c, x.into(), y.into()), want, "({x}, {y})");
        }
    }
}

#[wasm_bindgen_test]
fn fills_are_repeated_on_the_canvas_and_nothing_else_of_their_region_is_painted() {
    let c = canvas();
    let mut painter = Painter::new(c.clone()).expect("painter");
    painter.resize(8, 4);
    let mut fb = Framebuffer::new(8, 4);
    fb.put_rgba(rect(0, 0, 8, 4), &[90, 90, 90, 255].repeat(32));
    fb.take_dirty();
    fb.fill(rect(0, 0, 2, 2), [200, 0, 0, 255]);
    fb.fill(rect(1, 1, 4, 3), [0, 0, 200, 255]);
    let dirty = fb.take_dirty_fills().expect("changed");
    assert_eq!(dirty.region, rect(0, 0, 5, 4));
    painter.paint(&fb, &dirty).expect("paint");
    assert_eq!(pixel(&c, 0.0, 0.0), vec![200, 0, 0, 255]);
    assert_eq!(pixel(&c, 1.0, 1.0), vec![0, 0, 200, 255], "in order");
    assert_eq!(pixel(&c, 4.0, 3.0), vec![0, 0, 200, 255]);
    // Inside the region but outside both fills: not painted from the framebuffer's pixels.
    assert_eq!(pixel(&c, 4.0, 0.0), vec![0, 0, 0, 0]);
    assert_eq!(pixel(&c, 0.0, 3.0), vec![0, 0, 0, 0]);
}

#[wasm_bindgen_test]
fn layout_sets_the_css_size_and_sharpness() {
    let c = canvas();
    let mut painter = Painter::new(c.clone()).expect("painter");
    painter.resize(400, 300);
    // 2× on a 1× screen: a whole-number enlargement, drawn sharp.
    painter.apply(&layout(Scale::Fit, (400, 300), (900.0, 700.0), 1.0));
    let style = c.style();
    assert_eq!(
        style.get_property_value("width").ok().as_deref(),
        Some("800px")
    );
    assert_eq!(
        style.get_property_value("height").ok().as_deref(),
        Some("600px")
    );
    assert!(c.class_list().contains("pixelated"));
    // Shrunk: smoothed.
    painter.apply(&layout(Scale::Fit, (400, 300), (200.0, 200.0), 1.0));
    assert!(!c.class_list().contains("pixelated"));
    // 1:1 on a 2× screen: half the CSS size, one device pixel each.
    painter.apply(&layout(Scale::OneToOne, (400, 300), (200.0, 200.0), 2.0));
    assert_eq!(
        style.get_property_value("width").ok().as_deref(),
        Some("200px")
    );
}

#[wasm_bindgen_test]
async fn cursor_image_becomes_a_css_cursor() {
    // 2×2: red, green / blue, transparent.
    let rgba = [
        255, 0, 0, 255, 0, 255, 0, 255, //
        0, 0, 255, 255, 0, 0, 0, 0,
    ];
    let css = viewer_wasm::painter::cursor_css(2, 2, 1, 5, &rgba).expect("css");
    assert!(css.starts_with("url(\"data:image/png;base64,"), "{css}");
    assert!(
        css.ends_with("\") 1 1, default"),
        "hotspot clamped into the image: {css}"
    );
    // The data URL really holds the image.
    let url = css
        .strip_prefix("url(\"")
        .and_then(|s| s.split('"').next())
        .expect("url");
    let img = web_sys::HtmlImageElement::new().expect("img");
    img.set_src(url);
    JsFuture::from(img.decode()).await.expect("decodes");
    let c = canvas();
    c.set_width(2);
    c.set_height(2);
    ctx(&c)
        .draw_image_with_html_image_element(&img, 0.0, 0.0)
        .expect("draw");
    assert_eq!(pixel(&c, 0.0, 0.0), vec![255, 0, 0, 255]);
    assert_eq!(pixel(&c, 0.0, 1.0), vec![0, 0, 255, 255]);
    assert_eq!(pixel(&c, 1.0, 1.0)[3], 0, "transparent stays transparent");
    // Data that does not match the size is an error, not a panic.
    assert!(viewer_wasm::painter::cursor_css(3, 3, 0, 0, &rgba).is_err());
}

/// A JPEG made by the browser's own encoder: left half `a`, right half `b` (CSS colours).
fn jpeg(w: u16, h: u16, a: &str, b: &str) -> Vec<u8> {
    let c = canvas();
    c.set_width(w.into());
    c.set_height(h.into());
    let x = ctx(&c);
    let half = f64::from(w / 2);
    x.set_fill_style_str(a);
    x.fill_rect(0.0, 0.0, half, h.into());
    x.set_fill_style_str(b);
    x.fill_rect(half, 0.0, half, h.into());
    let url = c
        .to_data_url_with_type_and_encoder_options("image/jpeg", &0.95.into())
        .expect("JPEG");
    let base64 = url.split_once(',').expect("a data URL").1;
    let binary = web_sys::window()
        .expect("window")
        .atob(base64)
        .expect("base64");
    binary.chars().map(|c| c as u8).collect()
}

async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .expect("window")
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .expect("timer");
    });
    JsFuture::from(promise).await.expect("slept");
}

/// Whether `got` is within JPEG's loss of `want`.
fn near(got: &[u8], want: [u8; 4]) -> bool {
    got.iter().zip(want).all(|(&g, w)| g.abs_diff(w) <= 12)
}

#[wasm_bindgen_test]
async fn images_the_browser_decodes_are_drawn_in_order_with_what_changed_around_them() {
    let c = canvas();
    let mut painter = Painter::new(c.clone()).expect("painter");
    let decoded = std::rc::Rc::new(std::cell::Cell::new(0));
    let count = decoded.clone();
    painter.on_decoded(move || count.set(count.get() + 1));
    painter.resize(32, 16);
    let mut fb = Framebuffer::new(32, 16);
    fb.hand_images_over(1 << 20);
    fb.fill(rect(0, 0, 32, 16), [90, 90, 90, 255]);
    let image = jpeg(16, 16, "rgb(0, 200, 0)", "rgb(0, 0, 200)");
    fb.hand_over_image(rect(0, 0, 16, 16), image);
    // After the image, over part of it: painted after it.
    fb.fill(rect(2, 2, 2, 2), [200, 0, 0, 255]);
    // The image's left half copied to the right: the framebuffer lacks it, the canvas does it.
    assert!(fb.copy_rect(0, 0, rect(16, 0, 8, 16)));
    painter.paint_taken(fb.take_paints(), &fb);
    // What came before the image is painted at once; the rest waits for its decoding.
    assert_eq!(pixel(&c, 2.0, 2.0), vec![90, 90, 90, 255]);
    assert_eq!(pixel(&c, 28.0, 8.0), vec![90, 90, 90, 255]);
    for _ in 0..500 {
        if decoded.get() > 0 {
            break;
        }
        sleep_ms(10).await;
    }
    assert_eq!(decoded.get(), 1, "the browser decoded the image");
    painter.run(&fb);
    let green = [0, 200, 0, 255];
    let blue = [0, 0, 200, 255];
    for (x, y, want, what) in [
        (6.0, 8.0, green, "the image's left half"),
        (12.0, 8.0, blue, "its right half"),
        (20.0, 8.0, green, "the copy of its left half"),
        (28.0, 8.0, [90, 90, 90, 255], "beside the copy"),
    ] {
        let got = pixel(&c, x, y);
        assert!(near(&got, want), "{what}: {got:?}");
    }
    assert_eq!(
        pixel(&c, 3.0, 3.0),
        vec![200, 0, 0, 255],
        "the fill after it"
    );
}

fn key_event(key: &str, code: &str) -> KeyboardEvent {
    let init = KeyboardEventInit::new();
    init.set_key(key);
    init.set_code(code);
    KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).expect("event")
}

#[wasm_bindgen_test]
fn real_keyboard_events_map_to_keysyms_and_scancodes() {
    use viewer_wasm::keys::{keysym, xt_scancode};
    let cases = [
        // key, code, keysym, scancode
        ("q", "KeyA", 0x71, Some(0x1e)), // AZERTY: the key left of Z types q
        ("ä", "Quote", 0xe4, Some(0x28)), // German layout
        ("é", "Digit2", 0xe9, Some(0x03)), // French layout
        ("€", "KeyE", 0x0100_20ac, Some(0x12)), // AltGr+E
        ("Enter", "Enter", 0xff0d, Some(0x1c)),
        ("Enter", "NumpadEnter", 0xff0d, Some(0x9c)),
        ("Control", "ControlRight", 0xffe4, Some(0x9d)),
        ("AltGraph", "AltRight", 0xfe03, Some(0xb8)),
        ("ArrowUp", "ArrowUp", 0xff52, Some(0xc8)),
        ("F11", "F11", 0xffc8, Some(0x57)),
        ("ß", "", 0xdf, None), // synthetic input: no physical key
    ];
    for (key, code, sym, sc) in cases {
        let e = key_event(key, code);
        assert_eq!(keysym(&e.key(), &e.code()), Some(sym), "{key} {code}");
        assert_eq!(xt_scancode(&e.code()), sc, "{key} {code}");
    }
    let dead = key_event("Dead", "BracketLeft");
    assert_eq!(
        keysym(&dead.key(), &dead.code()),
        None,
        "dead keys compose first"
    );
}

#[wasm_bindgen_test]
fn settings_from_a_real_url_fragment() {
    let fp = "AB".repeat(32);
    let url = web_sys::Url::new(&format!(
        "https://gw.example:8443/#target=desk&otk=k%2B1&fingerprint={fp}&scale=1:1&colour=red"
    ))
    .expect("url");
    let parsed = Settings::from_fragment(&url.hash()).expect("valid");
    let s = parsed.settings;
    assert_eq!(s.target.as_ref().map(|t| t.as_str()), Some("desk"));
    assert_eq!(s.otk.as_ref().map(|k| k.expose()), Some("k+1"));
    assert_eq!(s.scale, Scale::OneToOne);
    assert_eq!(s.fingerprint.map(|f| f.0), Some([0xab; 32]));
    assert_eq!(parsed.warnings.len(), 1, "colour is unknown");
    let bad = web_sys::Url::new("https://gw/#target=desk&quality=high").expect("url");
    let e = Settings::from_fragment(&bad.hash()).expect_err("bad quality");
    assert!(e.to_string().contains("quality"), "{e}");
}

#[wasm_bindgen_test]
async fn session_file_from_a_real_file() {
    let text = "vncgate-session=1\r\n# for Alice\r\ntarget=desk1\r\nview_only=yes\r\nscaling=remote\r\nnew_key=1\r\n";
    let parts = js_sys::Array::of1(&text.into());
    let file = web_sys::File::new_with_str_sequence(&parts, "desk1.vncgate").expect("file");
    let buf = JsFuture::from(file.array_buffer()).await.expect("read");
    let bytes = js_sys::Uint8Array::new(&buf).to_vec();
    let parsed = Settings::from_session_file(&bytes).expect("valid");
    let s = &parsed.settings;
    assert_eq!(s.target.as_ref().map(|t| t.as_str()), Some("desk1"));
    assert!(s.view_only);
    assert_eq!(s.scale, Scale::Remote);
    assert_eq!(parsed.warnings.len(), 1);
    let saved = s
        .to_session_file("https://gw.example/")
        .expect("has a target");
    assert!(saved.starts_with("vncgate-session=1\n"));
    assert!(saved.contains("gateway=https://gw.example/"));
}
