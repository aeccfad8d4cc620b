//! Where the remote framebuffer goes on the page: the canvas's CSS size for a scaling mode,
//! the device-pixel ratio and the space available, and whether to draw pixels sharp. Pure.
//!
//! The canvas always holds the framebuffer at its own resolution; only its CSS size changes.
//! Whole-number device-pixel scales are drawn with `image-rendering: pixelated` (every remote
//! pixel exactly n×n device pixels: crisp text); other scales are smoothed.

use crate::settings::Scale;

/// The canvas's CSS size and rendering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layout {
    pub css_width: f64,
    pub css_height: f64,
    /// Draw with `image-rendering: pixelated` (a whole-number enlargement).
    pub pixelated: bool,
}

/// A fit scale this close to the whole number below it is rounded down to it (sharper).
const SNAP_LOSS: f64 = 0.8;

/// Lays out a `fb_w`×`fb_h` framebuffer in a `stage_w`×`stage_h` CSS-pixel area.
pub fn layout(scale: Scale, fb: (u16, u16), stage: (f64, f64), dpr: f64) -> Layout {
    let dpr = if dpr.is_finite() && dpr > 0.0 {
        dpr
    } else {
        1.0
    };
    let (fw, fh) = (f64::from(fb.0.max(1)), f64::from(fb.1.max(1)));
    let (sw, sh) = (stage.0.max(1.0), stage.1.max(1.0));
    // Device pixels per remote pixel.
    let fit = (sw / fw).min(sh / fh) * dpr;
    let device_scale = match scale {
        Scale::OneToOne => 1.0,
        Scale::Fit => {
            let whole = fit.floor();
            if fit >= 1.0 && whole / fit >= SNAP_LOSS {
                whole
            } else {
                fit
            }
        }
        // One remote pixel per CSS pixel, as the server was asked; shrunk if it is larger.
        Scale::Remote => dpr.min(fit),
    };
    let whole = (device_scale - device_scale.round()).abs() < 1e-9 && device_scale >= 1.0;
    Layout {
        css_width: fw * device_scale / dpr,
        css_height: fh * device_scale / dpr,
        pixelated: whole,
    }
}

/// The desktop size to ask the server for in `Remote` mode: the area in CSS pixels, within
/// what servers accept.
pub fn remote_size(stage: (f64, f64)) -> (u16, u16) {
    let clamp = |v: f64| {
        if v.is_finite() {
            // Clamped to 64..=8192, so the conversion is exact.
            v.floor().clamp(64.0, 8192.0) as u16
        } else {
            64
        }
    };
    (clamp(stage.0), clamp(stage.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_to_one_is_one_device_pixel() {
        let l = layout(Scale::OneToOne, (1024, 768), (800.0, 600.0), 2.0);
        assert_eq!((l.css_width, l.css_height), (512.0, 384.0));
        assert!(l.pixelated);
    }

    #[test]
    fn fit_snaps_to_whole_scales_and_shrinks_smoothly() {
        // 1.25× on a 1× screen: rounded down to 1×, sharp.
        let l = layout(Scale::Fit, (1024, 768), (1280.0, 1000.0), 1.0);
        assert_eq!(
            (l.css_width, l.css_height, l.pixelated),
            (1024.0, 768.0, true)
        );
        // The same window on a 2× screen: 2.5 device pixels → 2, still sharp.
        let l = layout(Scale::Fit, (1024, 768), (1280.0, 1000.0), 2.0);
        assert_eq!((l.css_width, l.pixelated), (1024.0, true));
        // Too large: shrunk to fit exactly, smoothed.
        let l = layout(Scale::Fit, (2000, 1000), (1000.0, 800.0), 1.0);
        assert_eq!(
            (l.css_width, l.css_height, l.pixelated),
            (1000.0, 500.0, false)
        );
        // Much smaller than the window: enlarged smoothly rather than left tiny.
        let l = layout(Scale::Fit, (600, 300), (1000.0, 1000.0), 1.0);
        assert_eq!((l.css_width, l.pixelated), (1000.0, false));
    }

    #[test]
    fn remote_mode_is_one_css_pixel() {
        let l = layout(Scale::Remote, (800, 600), (800.0, 600.0), 2.0);
        assert_eq!(
            (l.css_width, l.css_height, l.pixelated),
            (800.0, 600.0, true)
        );
        let l = layout(Scale::Remote, (1600, 1200), (800.0, 600.0), 1.0);
        assert_eq!(
            l.css_width, 800.0,
            "shrunk while the server has not resized yet"
        );
        assert_eq!(remote_size((1279.6, 20.0)), (1279, 64));
        assert_eq!(remote_size((f64::NAN, 1e9)), (64, 8192));
    }
}
