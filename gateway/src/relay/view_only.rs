//! View-only sessions in both directions: the viewer's input is dropped on its way to the
//! target ([`rfb::input_filter::InputFilter`]), and the desktop's clipboard on its way
//! to the viewer ([`rfb::ServerStreamFilter`]) — a watcher must not read what the operator
//! copies. The viewer's SetPixelFormat, seen by the first, is handed to the second, which
//! measures the server's rectangles in it.

use std::sync::{Arc, Mutex};

use rfb::server_stream::Segment as OutSegment;
use rfb::{PixelFormat, ServerStreamFilter};

use super::RelayEnd;
use crate::metrics::{Metrics, Side};
use rfb::input_filter::InputFilter;

/// What a view-only pump needs.
#[derive(Debug, Clone)]
pub struct ViewOnly {
    /// Bounds what is followed in both directions.
    pub limits: rfb::Limits,
    /// The target's ServerInit (whose pixel format the server's stream starts in).
    pub server_init: Vec<u8>,
}

/// The pixel format the viewer set, on its way from one direction to the other.
type Slot = Arc<Mutex<Option<PixelFormat>>>;

/// The viewer → target half.
#[derive(Debug)]
pub struct InputHalf {
    pub filter: InputFilter,
    slot: Slot,
}

impl InputHalf {
    /// After each filtered chunk: a SetPixelFormat passed on reaches the other half before
    /// the target can answer it.
    pub fn hand_over_pixel_format(&mut self) {
        if let Some(pf) = self.filter.take_pixel_format() {
            *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(pf);
        }
    }
}

/// The target → viewer half.
#[derive(Debug)]
pub struct OutputHalf {
    filter: ServerStreamFilter,
    slot: Slot,
    segments: Vec<OutSegment>,
}

/// Both halves of a view-only session.
pub fn halves(v: &ViewOnly) -> Result<(InputHalf, OutputHalf), RelayEnd> {
    let filter = ServerStreamFilter::from_server_init(v.limits, &v.server_init).map_err(|e| {
        RelayEnd::Failed {
            side: Side::Target,
            detail: format!("its ServerInit cannot be followed for a view-only viewer: {e}"),
        }
    })?;
    let slot = Slot::default();
    Ok((
        InputHalf {
            filter: InputFilter::new(v.limits),
            slot: slot.clone(),
        },
        OutputHalf {
            filter,
            slot,
            segments: Vec::new(),
        },
    ))
}

impl OutputHalf {
    /// What of `chunk` goes on to the viewer: `None` when nothing was dropped (all of it),
    /// else the bytes left (possibly none).
    pub fn apply(&mut self, chunk: &[u8], metrics: &Metrics) -> Result<Option<Vec<u8>>, RelayEnd> {
        if let Some(pf) = self.slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
            self.filter.set_pixel_format(pf);
        }
        let before = self.filter.dropped();
        self.segments.clear();
        self.filter
            .filter(chunk, &mut self.segments)
            .map_err(|e| RelayEnd::Failed {
                side: Side::Target,
                detail: e.to_string(),
            })?;
        let dropped = self.filter.dropped() - before;
        if dropped == 0 {
            return Ok(None);
        }
        metrics
            .view_only_clipboard_dropped
            .fetch_add(dropped, std::sync::atomic::Ordering::Relaxed);
        let mut kept = Vec::with_capacity(chunk.len());
        for s in &self.segments {
            kept.extend_from_slice(s.of(chunk));
        }
        Ok(Some(kept))
    }
}
