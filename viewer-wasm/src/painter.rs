//! The canvas: does what changed in the framebuffer — its dirty rectangle, or, with JPEG
//! images drawn by the browser's own decoder ([`decode`]), the ordered paints that replace
//! it — sizes the canvas for a [`Layout`], and turns the server's cursor image into a CSS
//! cursor.

pub mod decode;

use std::rc::Rc;

use rfb::paint::{Paint, PaintQueue};
use rfb::{Client, Dirty, Framebuffer, Rect};
use wasm_bindgen::{Clamped, JsCast, JsValue};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

use crate::layout::Layout;
use decode::Decoding;

/// A canvas and its 2D context.
pub struct Painter {
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    /// Paints waiting, in order, behind an image the browser is still decoding.
    waiting: PaintQueue<Decoding>,
    /// Called when an image is decoded, to do what waited for it.
    decoded: Rc<dyn Fn()>,
    /// Paints were lost (an image the browser could not decode, a queue dropped): the whole
    /// picture must be asked for again.
    lost: bool,
}

/// Most bytes of images and kept pixels waiting for the browser's decoder.
const MAX_WAITING_BYTES: usize = 64 << 20;

impl Painter {
    pub fn new(canvas: HtmlCanvasElement) -> Result<Self, JsValue> {
        let ctx = context_2d(&canvas)?;
        Ok(Self {
            canvas,
            ctx,
            waiting: PaintQueue::new(MAX_WAITING_BYTES),
            decoded: Rc::new(|| {}),
            lost: false,
        })
    }

    /// Forgets what a session left waiting (its images, decoded or not, are released), so a
    /// next session's paints neither follow them nor ask for a picture they lost.
    pub fn forget(&mut self) {
        self.waiting.clear();
        self.lost = false;
    }

    /// What runs when an image is decoded (the app calls [`Painter::run`] from it).
    pub fn on_decoded(&mut self, f: impl Fn() + 'static) {
        self.decoded = Rc::new(f);
    }

    pub fn canvas(&self) -> &HtmlCanvasElement {
        &self.canvas
    }

    /// Sets the canvas's pixel size to the framebuffer's (a new size clears it, and what
    /// waited to be painted on it is forgotten; the same size changes nothing).
    pub fn resize(&mut self, width: u16, height: u16) {
        if (self.canvas.width(), self.canvas.height()) == (width.into(), height.into()) {
            return;
        }
        self.waiting.clear();
        self.canvas.set_width(width.into());
        self.canvas.set_height(height.into());
    }

    /// Paints what `client` changed since the last call, if anything: at once, in order,
    /// until an image the browser is still decoding; what comes after it waits, with its
    /// pixels as they are now. A failure is told in the console (the next change paints
    /// again). When paints were lost, the client asks the server for the whole picture
    /// (the caller sends what the client queued).
    pub fn paint_changes(&mut self, client: &mut Client) {
        let paints = client.take_paints();
        if let Some(fb) = client.framebuffer() {
            // A new size can come in the same receive as the end of the update before it,
            // whose completion is told first: the canvas takes the framebuffer's size first.
            self.resize(fb.width(), fb.height());
            self.paint_taken(paints, fb);
        }
        if self.take_lost() {
            client.refresh();
        }
    }

    /// Whether paints were lost since the last call (the whole picture must come again).
    pub fn take_lost(&mut self) -> bool {
        std::mem::take(&mut self.lost)
    }

    /// Does `paints`, just taken from `fb`, as [`Painter::paint_changes`] does.
    pub fn paint_taken(&mut self, paints: Vec<Paint<Vec<u8>>>, fb: &Framebuffer) {
        for paint in paints {
            let image_bytes = match &paint {
                Paint::Image { image, .. } => image.len(),
                _ => 0,
            };
            let paint = paint.try_map_image(|jpeg| Decoding::start(&jpeg, self.decoded.clone()));
            let paint = match paint {
                Ok(p) => p,
                Err(e) => {
                    warn("an image could not be handed to the browser", &e);
                    self.lost = true;
                    continue;
                }
            };
            if self.waiting.is_empty() && !matches!(paint, Paint::Image { .. }) {
                if let Err(e) = self.paint_one(fb, paint) {
                    warn("a region could not be painted", &e);
                }
                continue;
            }
            let paint = fb.keep(paint);
            let bytes = paint.held_bytes(|_| image_bytes);
            if self.waiting.push(paint, bytes).is_err() {
                // The browser decodes far slower than the server sends: what waited is
                // dropped, and the whole picture asked for again.
                warn(
                    "the browser's image decoder fell behind; the picture is asked for again",
                    &JsValue::NULL,
                );
                self.waiting.clear();
                self.lost = true;
            }
        }
        self.run(fb);
    }

    /// Does the waiting paints in order, up to an image the browser is still decoding.
    pub fn run(&mut self, fb: &Framebuffer) {
        while let Some(front) = self.waiting.front() {
            if matches!(front, Paint::Image { image, .. } if image.is_pending()) {
                return;
            }
            let Some(paint) = self.waiting.pop() else {
                return;
            };
            let image = matches!(paint, Paint::Image { .. });
            if let Err(e) = self.paint_one(fb, paint) {
                warn("a change could not be painted", &e);
                // Only the image had those pixels.
                self.lost |= image;
            }
        }
    }

    fn paint_one(&self, fb: &Framebuffer, paint: Paint<Decoding>) -> Result<(), JsValue> {
        match paint {
            Paint::Region(dirty) => self.paint(fb, &dirty),
            // Once more if the view of wasm memory was detached (see `paint_region`).
            Paint::Pixels { rect, rgba } => self
                .put_pixels(&rgba, rect)
                .or_else(|_| self.put_pixels(&rgba, rect)),
            Paint::Image { rect, image } => image.draw(&self.ctx, rect),
            Paint::Copy { src_x, src_y, dst } => {
                let (w, h) = (f64::from(dst.w), f64::from(dst.h));
                self.ctx
                    .draw_image_with_html_canvas_element_and_sw_and_sh_and_dx_and_dy_and_dw_and_dh(
                        &self.canvas,
                        src_x.into(),
                        src_y.into(),
                        w,
                        h,
                        dst.x.into(),
                        dst.y.into(),
                        w,
                        h,
                    )
            }
        }
    }

    /// Paints what changed: the fills that made it, repeated on the canvas, when nothing else
    /// did (a new background, a cleared window); otherwise its region from the framebuffer.
    pub fn paint(&self, fb: &Framebuffer, dirty: &Dirty) -> Result<(), JsValue> {
        match dirty.repeatable_fills(fb) {
            Some(fills) => {
                for f in fills {
                    self.fill(f.rect, f.rgba);
                }
                Ok(())
            }
            None => self.paint_region(fb, dirty.region),
        }
    }

    fn fill(&self, r: Rect, [red, green, blue, _]: [u8; 4]) {
        self.ctx
            .set_fill_style_str(&format!("rgb({red}, {green}, {blue})"));
        self.ctx
            .fill_rect(r.x.into(), r.y.into(), r.w.into(), r.h.into());
    }

    /// Copies `r` onto the canvas at the same place: a region of one opaque colour as a fill,
    /// anything else as the whole rows it spans, straight from the framebuffer's memory, of
    /// which the canvas takes only `r`'s columns (no copy of the pixels on the way).
    fn paint_region(&self, fb: &Framebuffer, r: Rect) -> Result<(), JsValue> {
        if r.is_empty() || !fb.contains(&r) {
            return Ok(());
        }
        if let Some(rgba @ [.., 0xff]) = fb.uniform_colour(r) {
            self.fill(r, rgba);
            return Ok(());
        }
        let stride = usize::from(fb.width()) * 4;
        let start = usize::from(r.y) * stride;
        let rows = fb
            .rgba()
            .get(start..start + usize::from(r.h) * stride)
            .unwrap_or_default();
        // The ImageData is a view of wasm memory: if keeping its handle grew that memory, the
        // view is detached and the put fails. The memory has grown by then, so once more
        // succeeds.
        self.put_rows(rows, fb.width(), r)
            .or_else(|_| self.put_rows(rows, fb.width(), r))
    }

    /// Puts `rgba`, `r.w × r.h` pixels, at `r`.
    fn put_pixels(&self, rgba: &[u8], r: Rect) -> Result<(), JsValue> {
        let image =
            ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), r.w.into(), r.h.into())?;
        self.ctx.put_image_data(&image, r.x.into(), r.y.into())
    }

    /// Puts `r`'s columns of `rows` (whole framebuffer rows, `width` pixels each, from `r.y`).
    fn put_rows(&self, rows: &[u8], width: u16, r: Rect) -> Result<(), JsValue> {
        let image =
            ImageData::new_with_u8_clamped_array_and_sh(Clamped(rows), width.into(), r.h.into())?;
        self.ctx
            .put_image_data_with_dirty_x_and_dirty_y_and_dirty_width_and_dirty_height(
                &image,
                0.0,
                r.y.into(),
                r.x.into(),
                0.0,
                r.w.into(),
                r.h.into(),
            )
    }

    /// Gives the canvas its CSS size and rendering for `layout`.
    pub fn apply(&self, layout: &Layout) {
        let style = self.canvas.style();
        let _ = style.set_property("width", &format!("{}px", layout.css_width));
        let _ = style.set_property("height", &format!("{}px", layout.css_height));
        let _ = self
            .canvas
            .class_list()
            .toggle_with_force("pixelated", layout.pixelated);
    }

    /// Shows the server's cursor image as the canvas's CSS cursor. For an empty image (the
    /// server shows no cursor) a small dot stays, so the pointer is never lost.
    pub fn set_cursor(&self, width: u16, height: u16, hot_x: u16, hot_y: u16, rgba: &[u8]) {
        let css = if width == 0 || height == 0 {
            cursor_css(DOT_SIDE, DOT_SIDE, 2, 2, &dot_rgba())
        } else {
            cursor_css(width, height, hot_x, hot_y, rgba)
        };
        // A cursor that cannot be drawn leaves the arrow: still usable.
        let css = css.unwrap_or_else(|_| "default".to_owned());
        let _ = self.canvas.style().set_property("cursor", &css);
    }
}

fn warn(what: &str, e: &JsValue) {
    let why = if e.is_null() {
        String::new()
    } else {
        format!(": {}", crate::dom::describe(e))
    };
    crate::dom::warn(&format!("vncgate: {what}{why}"));
}

pub(crate) fn context_2d(canvas: &HtmlCanvasElement) -> Result<CanvasRenderingContext2d, JsValue> {
    canvas
        .get_context("2d")?
        .ok_or_else(|| JsValue::from_str("this browser gives no 2D canvas context"))?
        .dyn_into::<CanvasRenderingContext2d>()
        .map_err(JsValue::from)
}

const DOT_SIDE: u16 = 5;

/// A 5×5 dot: black, ringed in white so it shows on any background.
fn dot_rgba() -> Vec<u8> {
    let mut out = Vec::with_capacity(usize::from(DOT_SIDE * DOT_SIDE) * 4);
    for y in 0..DOT_SIDE {
        for x in 0..DOT_SIDE {
            let edge = x == 0 || y == 0 || x == DOT_SIDE - 1 || y == DOT_SIDE - 1;
            let corner = (x == 0 || x == DOT_SIDE - 1) && (y == 0 || y == DOT_SIDE - 1);
            out.extend_from_slice(match (corner, edge) {
                (true, _) => &[0, 0, 0, 0],
                (false, true) => &[255, 255, 255, 255],
                (false, false) => &[0, 0, 0, 255],
            });
        }
    }
    out
}

/// A PNG `data:` URL of an RGBA image, drawn on an offscreen canvas.
pub fn rgba_data_url(width: u16, height: u16, rgba: &[u8]) -> Result<String, JsValue> {
    let expected = usize::from(width) * usize::from(height) * 4;
    if rgba.len() != expected || expected == 0 {
        return Err(JsValue::from_str(
            "cursor image size does not match its data",
        ));
    }
    let canvas: HtmlCanvasElement = crate::dom::document()
        .ok_or("no document")?
        .create_element("canvas")?
        .dyn_into()?;
    canvas.set_width(width.into());
    canvas.set_height(height.into());
    let image =
        ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), width.into(), height.into())?;
    context_2d(&canvas)?.put_image_data(&image, 0.0, 0.0)?;
    canvas.to_data_url_with_type("image/png")
}

/// The CSS `cursor` value for a cursor image with its hotspot (clamped into the image, as
/// browsers ignore a cursor whose hotspot lies outside it).
pub fn cursor_css(
    width: u16,
    height: u16,
    hot_x: u16,
    hot_y: u16,
    rgba: &[u8],
) -> Result<String, JsValue> {
    let url = rgba_data_url(width, height, rgba)?;
    let hx = hot_x.min(width.saturating_sub(1));
    let hy = hot_y.min(height.saturating_sub(1));
    Ok(format!("url(\"{url}\") {hx} {hy}, default"))
}
