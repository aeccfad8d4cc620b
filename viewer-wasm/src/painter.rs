//! The canvas: blits the framebuffer's dirty rectangle, sizes the canvas for a [`Layout`], and
//! turns the server's cursor image into a CSS cursor.

use rfb::{Client, Dirty, Fill, Framebuffer, Rect};
use wasm_bindgen::{Clamped, JsCast, JsValue};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

use crate::layout::Layout;

/// A canvas and its 2D context.
pub struct Painter {
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
}

impl Painter {
    pub fn new(canvas: HtmlCanvasElement) -> Result<Self, JsValue> {
        let ctx = context_2d(&canvas)?;
        Ok(Self { canvas, ctx })
    }

    pub fn canvas(&self) -> &HtmlCanvasElement {
        &self.canvas
    }

    /// Sets the canvas's pixel size to the framebuffer's (this clears it).
    pub fn resize(&self, width: u16, height: u16) {
        self.canvas.set_width(width.into());
        self.canvas.set_height(height.into());
    }

    /// Paints what `client` changed since the last call, if anything; a failure is told in
    /// the console (the next change paints again).
    pub fn paint_changes(&self, client: &mut Client) {
        let Some(dirty) = client.take_dirty_fills() else {
            return;
        };
        let Some(fb) = client.framebuffer() else {
            return;
        };
        if let Err(e) = self.paint(fb, &dirty) {
            crate::dom::warn(&format!(
                "vncgate: a region could not be painted: {}",
                crate::dom::describe(&e)
            ));
        }
    }

    /// Paints what changed: the fills that made it, repeated on the canvas, when nothing else
    /// did (a new background, a cleared window); otherwise its region from the framebuffer.
    pub fn paint(&self, fb: &Framebuffer, dirty: &Dirty) -> Result<(), JsValue> {
        let opaque = |f: &Fill| f.rgba[3] == 0xff && fb.contains(&f.rect);
        match dirty.fills.as_deref() {
            Some(fills) if fills.iter().all(opaque) => {
                for f in fills {
                    self.fill(f.rect, f.rgba);
                }
                Ok(())
            }
            _ => self.paint_region(fb, dirty.region),
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
