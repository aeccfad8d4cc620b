//! Touch gestures → pointer events: a tap is a left click, a long press a right click, a
//! one-finger drag a left-button drag, a two-finger drag scrolls (wheel clicks) and a
//! two-finger tap is a right click. Pure: positions in CSS pixels, times in milliseconds; the
//! browser shell feeds `touchstart`/`touchmove`/`touchend` and a timer, and sends what comes out.

/// A point in CSS pixels (client coordinates).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    fn distance(self, o: Point) -> f64 {
        ((self.x - o.x).powi(2) + (self.y - o.y).powi(2)).sqrt()
    }

    fn midpoint(points: &[Point]) -> Option<Point> {
        let n = points.len() as f64;
        (!points.is_empty()).then(|| Point {
            x: points.iter().map(|p| p.x).sum::<f64>() / n,
            y: points.iter().map(|p| p.y).sum::<f64>() / n,
        })
    }
}

/// One pointer event to send: where, and which RFB buttons are held.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointerOut {
    pub at: Point,
    pub buttons: u8,
}

/// A finger moving less than this is still a tap.
pub const TAP_SLOP_PX: f64 = 10.0;
/// A finger held this long without moving is a right click.
pub const LONG_PRESS_MS: f64 = 600.0;
/// Two fingers moving this far scroll by one wheel click.
pub const SCROLL_STEP_PX: f64 = 20.0;
/// A two-finger touch shorter than this, without scrolling, is a right click.
const TWO_FINGER_TAP_MS: f64 = 400.0;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
enum State {
    #[default]
    Idle,
    /// One finger down, not yet a tap, drag or long press.
    Pending { start: Point, since_ms: f64 },
    /// The left button is held and follows the finger.
    Dragging { last: Point },
    /// A right click was sent; wait for every finger to lift.
    LongPressed,
    /// Two fingers: their midpoint's travel becomes wheel clicks.
    Scrolling {
        start: Point,
        last: Point,
        since_ms: f64,
        scrolled: bool,
        acc_x: f64,
        acc_y: f64,
    },
    /// Something else (three fingers, a finger lifted mid-scroll); wait for every finger to lift.
    Finished,
}

/// The gesture recognizer.
#[derive(Debug, Default, Clone)]
pub struct Gestures {
    state: State,
}

fn click(at: Point, button: u8) -> Vec<PointerOut> {
    vec![
        PointerOut { at, buttons: 0 },
        PointerOut {
            at,
            buttons: button,
        },
        PointerOut { at, buttons: 0 },
    ]
}

impl Gestures {
    /// Fingers touched; `touches` are all fingers now down.
    pub fn start(&mut self, touches: &[Point], now_ms: f64) -> Vec<PointerOut> {
        self.state = match (self.state, touches) {
            (State::Idle, [one]) => State::Pending {
                start: *one,
                since_ms: now_ms,
            },
            (State::Idle | State::Pending { .. }, [_, _]) => {
                let mid = Point::midpoint(touches).unwrap_or(Point { x: 0.0, y: 0.0 });
                State::Scrolling {
                    start: mid,
                    last: mid,
                    since_ms: now_ms,
                    scrolled: false,
                    acc_x: 0.0,
                    acc_y: 0.0,
                }
            }
            // A second finger during a drag is ignored.
            (s @ State::Dragging { .. }, _) => s,
            _ => State::Finished,
        };
        Vec::new()
    }

    /// Fingers moved; `touches` are all fingers now down.
    pub fn moved(&mut self, touches: &[Point]) -> Vec<PointerOut> {
        let mut out = Vec::new();
        match (&mut self.state, touches) {
            (State::Pending { start, .. }, [now]) if now.distance(*start) > TAP_SLOP_PX => {
                out.push(PointerOut {
                    at: *start,
                    buttons: 0,
                });
                out.push(PointerOut {
                    at: *start,
                    buttons: 1,
                });
                out.push(PointerOut {
                    at: *now,
                    buttons: 1,
                });
                self.state = State::Dragging { last: *now };
            }
            (State::Dragging { last }, [now, ..]) => {
                *last = *now;
                out.push(PointerOut {
                    at: *now,
                    buttons: 1,
                });
            }
            (
                State::Scrolling {
                    last,
                    scrolled,
                    acc_x,
                    acc_y,
                    ..
                },
                [_, _],
            ) => {
                let Some(mid) = Point::midpoint(touches) else {
                    return out;
                };
                *acc_x += mid.x - last.x;
                *acc_y += mid.y - last.y;
                *last = mid;
                // Content follows the fingers: fingers moving up scroll down (wheel down).
                for (acc, toward_neg, toward_pos) in [(acc_y, 0x10, 0x08), (acc_x, 0x40, 0x20)] {
                    while acc.abs() >= SCROLL_STEP_PX && out.len() < 40 {
                        let b = if *acc < 0.0 { toward_neg } else { toward_pos };
                        out.push(PointerOut {
                            at: mid,
                            buttons: b,
                        });
                        out.push(PointerOut {
                            at: mid,
                            buttons: 0,
                        });
                        *acc -= SCROLL_STEP_PX.copysign(*acc);
                        *scrolled = true;
                    }
                }
            }
            _ => {}
        }
        out
    }

    /// Fingers lifted; `remaining` are the fingers still down.
    pub fn ended(&mut self, remaining: &[Point], now_ms: f64) -> Vec<PointerOut> {
        let (out, next) = match (self.state, remaining.is_empty()) {
            (State::Pending { start, .. }, true) => (click(start, 1), State::Idle),
            (State::Dragging { last }, true) => (
                vec![PointerOut {
                    at: last,
                    buttons: 0,
                }],
                State::Idle,
            ),
            (
                State::Scrolling {
                    start,
                    since_ms,
                    scrolled,
                    ..
                },
                _,
            ) => {
                let next = if remaining.is_empty() {
                    State::Idle
                } else {
                    State::Finished
                };
                if !scrolled && now_ms - since_ms < TWO_FINGER_TAP_MS {
                    (click(start, 4), next)
                } else {
                    (Vec::new(), next)
                }
            }
            (s @ (State::Dragging { .. } | State::Pending { .. }), false) => (Vec::new(), s),
            (_, true) => (Vec::new(), State::Idle),
            (s, false) => (Vec::new(), s),
        };
        self.state = next;
        out
    }

    /// The long-press timer fired (the shell sets it for [`LONG_PRESS_MS`] after a start).
    pub fn tick(&mut self, now_ms: f64) -> Vec<PointerOut> {
        match self.state {
            State::Pending { start, since_ms } if now_ms - since_ms >= LONG_PRESS_MS => {
                self.state = State::LongPressed;
                click(start, 4)
            }
            _ => Vec::new(),
        }
    }

    /// The touch was cancelled by the browser: release anything held.
    pub fn cancel(&mut self) -> Vec<PointerOut> {
        let out = match self.state {
            State::Dragging { last } => vec![PointerOut {
                at: last,
                buttons: 0,
            }],
            _ => Vec::new(),
        };
        self.state = State::Idle;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: f64, y: f64) -> Point {
        Point { x, y }
    }

    fn buttons(out: &[PointerOut]) -> Vec<u8> {
        out.iter().map(|o| o.buttons).collect()
    }

    #[test]
    fn tap_is_a_left_click_where_the_finger_was() {
        let mut g = Gestures::default();
        assert!(g.start(&[p(10.0, 20.0)], 0.0).is_empty());
        assert!(g.moved(&[p(12.0, 21.0)]).is_empty(), "within the slop");
        let out = g.ended(&[], 120.0);
        assert_eq!(buttons(&out), vec![0, 1, 0]);
        assert!(out.iter().all(|o| o.at == p(10.0, 20.0)));
    }

    #[test]
    fn long_press_is_a_right_click() {
        let mut g = Gestures::default();
        g.start(&[p(5.0, 5.0)], 0.0);
        assert!(g.tick(300.0).is_empty(), "too early");
        assert_eq!(buttons(&g.tick(650.0)), vec![0, 4, 0]);
        assert!(g.ended(&[], 900.0).is_empty(), "no click on release");
        assert!(g.tick(2000.0).is_empty());
    }

    #[test]
    fn drag_holds_the_left_button() {
        let mut g = Gestures::default();
        g.start(&[p(0.0, 0.0)], 0.0);
        let out = g.moved(&[p(30.0, 0.0)]);
        assert_eq!(buttons(&out), vec![0, 1, 1]);
        assert_eq!(out[0].at, p(0.0, 0.0), "the press is where the drag began");
        assert_eq!(buttons(&g.moved(&[p(40.0, 5.0)])), vec![1]);
        assert!(g.tick(5000.0).is_empty(), "a drag is no long press");
        let out = g.ended(&[], 5000.0);
        assert_eq!(
            out,
            vec![PointerOut {
                at: p(40.0, 5.0),
                buttons: 0
            }]
        );
    }

    #[test]
    fn two_fingers_scroll_with_the_content() {
        let mut g = Gestures::default();
        g.start(&[p(0.0, 100.0)], 0.0);
        g.start(&[p(0.0, 100.0), p(20.0, 100.0)], 10.0);
        // Fingers move up by 45 px: two wheel-down clicks.
        let out = g.moved(&[p(0.0, 55.0), p(20.0, 55.0)]);
        assert_eq!(buttons(&out), vec![0x10, 0, 0x10, 0]);
        assert_eq!(out[0].at, p(10.0, 55.0));
        let out = g.moved(&[p(30.0, 55.0), p(50.0, 55.0)]);
        assert_eq!(buttons(&out), vec![0x20, 0], "fingers right: wheel left");
        assert!(g.ended(&[p(30.0, 55.0)], 500.0).is_empty());
        assert!(
            g.moved(&[p(90.0, 90.0)]).is_empty(),
            "one finger left: nothing"
        );
        assert!(g.ended(&[], 600.0).is_empty());
    }

    #[test]
    fn two_finger_tap_is_a_right_click() {
        let mut g = Gestures::default();
        g.start(&[p(0.0, 0.0), p(10.0, 0.0)], 0.0);
        assert_eq!(buttons(&g.ended(&[], 100.0)), vec![0, 4, 0]);
        let mut g = Gestures::default();
        g.start(&[p(0.0, 0.0), p(10.0, 0.0)], 0.0);
        assert!(g.ended(&[], 1000.0).is_empty(), "held too long");
    }

    #[test]
    fn cancel_releases_a_drag() {
        let mut g = Gestures::default();
        g.start(&[p(0.0, 0.0)], 0.0);
        g.moved(&[p(50.0, 0.0)]);
        assert_eq!(buttons(&g.cancel()), vec![0]);
        assert!(g.ended(&[], 10.0).is_empty());
    }
}
