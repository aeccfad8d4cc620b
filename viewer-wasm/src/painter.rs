//! Blits the framebuffer's dirty rectangle to a 2D canvas.

use rfb::{Framebuffer, Rect};
use wasm_bindgen::{Clamped, JsCast, JsValue};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

/// A canvas and the scratch buffer used to copy a dirty rectangle out of the framebuffer.
pub struct Painter {
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    scratch: Vec<u8>,
}

impl Painter {
    pub fn new(canvas: HtmlCanvasElement) -> Result<Self, JsValue> {
        let ctx = canvas
            .get_context("2d")?
            .ok_or_else(|| JsValue::from_str("this browser gives no 2D canvas context"))?
            .dyn_into::<CanvasRenderingContext2d>()?;
        Ok(Self {
            canvas,
            ctx,
            scratch: Vec::new(),
        })
    }

    pub fn canvas(&self) -> &HtmlCanvasElement {
        &self.canvas
    }

    /// Sets the canvas's pixel size to the framebuffer's.
    pub fn resize(&self, width: u16, height: u16) {
        self.canvas.set_width(width.into());
        self.canvas.set_height(height.into());
    }

    /// Copies `r` (already clipped to `fb`) onto the canvas at the same place.
    pub fn paint(&mut self, fb: &Framebuffer, r: Rect) -> Result<(), JsValue> {
        if r.is_empty() || !fb.contains(&r) {
            return Ok(());
        }
        let stride = usize::from(fb.width()) * 4;
        let row_bytes = usize::from(r.w) * 4;
        self.scratch.clear();
        for y in usize::from(r.y)..usize::from(r.y) + usize::from(r.h) {
            let start = y * stride + usize::from(r.x) * 4;
            if let Some(row) = fb.rgba().get(start..start + row_bytes) {
                self.scratch.extend_from_slice(row);
            }
        }
        let image = ImageData::new_with_u8_clamped_array_and_sh(
            Clamped(&self.scratch),
            r.w.into(),
            r.h.into(),
        )?;
        self.ctx.put_image_data(&image, r.x.into(), r.y.into())
    }
}
