//! The numbers of the stats overlay: frames per second, kbit/s received, decode time per
//! frame, and the round-trip time the server's fences measured. Pure: time is given.

/// Counters over the current window, and the last round-trip time.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    window_start_ms: Option<f64>,
    frames: u32,
    bytes: u64,
    decode_ms: f64,
    rtt_ms: Option<u32>,
}

/// One window's rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub fps: f64,
    pub kbit_s: f64,
    pub decode_ms_per_frame: Option<f64>,
    pub rtt_ms: Option<u32>,
}

impl Stats {
    /// `bytes` arrived and took `decode_ms` to process.
    pub fn received(&mut self, bytes: usize, decode_ms: f64) {
        self.bytes = self.bytes.saturating_add(bytes as u64);
        self.decode_ms += decode_ms.max(0.0);
    }

    /// A framebuffer update was completed.
    pub fn frame(&mut self) {
        self.frames = self.frames.saturating_add(1);
    }

    pub fn round_trip(&mut self, millis: u32) {
        self.rtt_ms = Some(millis);
    }

    /// The rates since the last sample (or since the first call), then starts a new window.
    /// `None` on the first call, which only starts the window.
    pub fn sample(&mut self, now_ms: f64) -> Option<Summary> {
        let Some(start) = self.window_start_ms.replace(now_ms) else {
            self.reset_counts();
            return None;
        };
        let secs = ((now_ms - start) / 1000.0).max(0.001);
        let s = Summary {
            fps: f64::from(self.frames) / secs,
            kbit_s: self.bytes as f64 * 8.0 / 1000.0 / secs,
            decode_ms_per_frame: (self.frames > 0).then(|| self.decode_ms / f64::from(self.frames)),
            rtt_ms: self.rtt_ms,
        };
        self.reset_counts();
        Some(s)
    }

    fn reset_counts(&mut self) {
        self.frames = 0;
        self.bytes = 0;
        self.decode_ms = 0.0;
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.0} frames/s · {:.0} kbit/s", self.fps, self.kbit_s)?;
        match self.decode_ms_per_frame {
            Some(d) => write!(f, " · decode {d:.1} ms/frame")?,
            None => f.write_str(" · decode –")?,
        }
        match self.rtt_ms {
            Some(r) => write!(f, " · round trip {r} ms"),
            None => f.write_str(" · round trip – (server has no fences)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_a_window() {
        let mut s = Stats::default();
        assert_eq!(s.sample(0.0), None);
        s.received(125_000, 8.0);
        s.frame();
        s.frame();
        s.round_trip(12);
        let got = s.sample(2000.0).expect("second sample");
        assert_eq!(got.fps, 1.0);
        assert_eq!(got.kbit_s, 500.0);
        assert_eq!(got.decode_ms_per_frame, Some(4.0));
        assert_eq!(
            got.to_string(),
            "1 frames/s · 500 kbit/s · decode 4.0 ms/frame · round trip 12 ms"
        );
        let idle = s.sample(3000.0).expect("third");
        assert_eq!((idle.fps, idle.decode_ms_per_frame), (0.0, None));
        assert_eq!(idle.rtt_ms, Some(12), "the last round trip is kept");
    }
}
