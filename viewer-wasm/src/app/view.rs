//! The view: layout and scaling, asking the server for a new desktop size, painting dirty
//! rectangles on animation frames, the bell.

use wasm_bindgen::JsCast;

use crate::dom::{self, Timer};
use crate::layout::{self, layout};
use crate::settings::Scale;

use super::App;

/// A frame at 60 Hz, in milliseconds.
const FRAME_MS: f64 = 1000.0 / 60.0;

impl App {
    /// Lays the canvas out for the scaling mode and window.
    pub fn relayout(&mut self) {
        let canvas = self.painter.canvas();
        let fb = (
            u16::try_from(canvas.width()).unwrap_or(u16::MAX),
            u16::try_from(canvas.height()).unwrap_or(u16::MAX),
        );
        let stage = (
            f64::from(self.ui.stage.client_width()),
            f64::from(self.ui.stage.client_height()),
        );
        let dpr = dom::window().map_or(1.0, |w| w.device_pixel_ratio());
        let l = layout(self.settings.scale, fb, stage, dpr);
        self.painter.apply(&l);
    }

    pub fn set_scale(&mut self, scale: Scale) {
        self.settings.scale = scale;
        self.relayout();
        if scale == Scale::Remote {
            self.remote.pending = true;
            self.request_remote_size(false);
        }
    }

    /// The stage changed size: lay out now, ask the server to follow shortly after.
    pub fn stage_resized(&mut self) {
        self.relayout();
        if self.settings.scale == Scale::Remote {
            let w = self.me.clone();
            self.resize_timer = Timer::once(300, move || {
                App::with(&w, |a| {
                    a.remote.pending = true;
                    a.request_remote_size(false);
                });
            });
        }
    }

    /// Asks the server for a desktop the size of the window (`Remote` mode). `after_update`:
    /// an update has arrived, so a refusal now means the server cannot resize.
    pub(super) fn request_remote_size(&mut self, after_update: bool) {
        if self.settings.scale != Scale::Remote || self.remote.unsupported {
            self.remote.pending = false;
            return;
        }
        let stage = (
            f64::from(self.ui.stage.client_width()),
            f64::from(self.ui.stage.client_height()),
        );
        let want = layout::remote_size(stage);
        let Some(s) = self.session.as_mut().filter(|s| s.connected) else {
            return;
        };
        let current = s.client.framebuffer().map(|f| (f.width(), f.height()));
        if current == Some(want) || self.remote.requested == Some(want) {
            self.remote.pending = false;
            return;
        }
        s.tick();
        if s.client.set_desktop_size(want.0, want.1) {
            s.flush();
            self.remote.requested = Some(want);
            self.remote.pending = false;
        } else if after_update {
            self.remote.pending = false;
            self.remote.unsupported = true;
            self.warnings.push(
                "This VNC server cannot resize its desktop; it is scaled to the window instead."
                    .to_owned(),
            );
            self.ui.warnings(&self.warnings);
        }
    }

    /// Paints a completed update: at once when nothing was painted for a frame's time (an
    /// update after a quiet spell shows without waiting for the next animation frame), else
    /// on the next animation frame, so a stream of updates costs one paint per frame.
    pub(super) fn paint_soon(&mut self) {
        // A hidden page gets no animation frames: it paints as updates complete, so what the
        // server sends never piles up waiting for one.
        if dom::document().is_some_and(|d| d.hidden()) {
            self.paint_now();
        } else if self.frame_id.is_none() && dom::now_ms() - self.painted_at >= FRAME_MS {
            self.on_frame();
        } else {
            self.request_frame();
        }
    }

    /// Hands the images of an update still arriving to the browser's decoder at once (what
    /// came before them is painted first, in order), so they decode while the rest of the
    /// update arrives, as they do in noVNC: waiting for the update's end made a photo-like
    /// picture show later. The update's end paints the rest as before.
    pub(super) fn decode_early(&mut self) {
        let Some(s) = &mut self.session else { return };
        if !s.client.images_waiting() {
            return;
        }
        self.painter.paint_changes(&mut s.client);
        // A request for the whole picture, if paints were lost.
        s.flush();
    }

    pub(super) fn request_frame(&mut self) {
        if self.frame_id.is_some() {
            return;
        }
        let (Some(w), Some(cb)) = (dom::window(), self.frame.upgrade()) else {
            return;
        };
        if let Ok(id) = w.request_animation_frame(cb.as_ref().as_ref().unchecked_ref()) {
            self.frame_id = Some(id);
        }
    }

    pub(super) fn on_frame(&mut self) {
        self.frame_id = None;
        self.paint_now();
    }

    fn paint_now(&mut self) {
        self.painted_at = dom::now_ms();
        let Some(s) = &mut self.session else { return };
        self.painter.paint_changes(&mut s.client);
        // A request for the whole picture, if paints were lost.
        s.flush();
    }

    /// An image the browser decoded: it is drawn, and what waited behind it painted.
    pub(super) fn image_decoded(&mut self) {
        let Some(s) = &mut self.session else { return };
        if let Some(fb) = s.client.framebuffer() {
            self.painter.run(fb);
        }
        if self.painter.take_lost() {
            s.client.refresh();
            s.flush();
        }
    }

    pub(super) fn bell(&mut self) {
        let stage = self.ui.stage.clone();
        let _ = stage.class_list().remove_1("bell");
        // Reading a layout property restarts the animation when bells come quickly.
        let _ = stage.offset_width();
        let _ = stage.class_list().add_1("bell");
        self.bell_timer = Timer::once(400, move || {
            let _ = stage.class_list().remove_1("bell");
        });
    }
}
