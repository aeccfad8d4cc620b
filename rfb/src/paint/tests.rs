//! The paints, done in order on a model canvas, always end at the picture: a framebuffer
//! that decodes every image itself, given the same changes, is the reference. Images here are
//! one colour (their "bytes" are the colour), so the model canvas can draw them.

use super::*;
use crate::framebuffer::{Fill, Framebuffer};

const W: u16 = 24;
const H: u16 = 16;

fn rect(x: u16, y: u16, w: u16, h: u16) -> Rect {
    Rect { x, y, w, h }
}

/// xorshift64*: the same sequences every run; rectangles at most `.1` pixels a side.
struct Rng(u64, u16);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn rect(&mut self) -> Rect {
        let x = self.below(u64::from(W)) as u16;
        let y = self.below(u64::from(H)) as u16;
        let w = 1 + self.below(u64::from((W - x).min(self.1))) as u16;
        let h = 1 + self.below(u64::from((H - y).min(self.1))) as u16;
        rect(x, y, w, h)
    }

    fn colour(&mut self) -> [u8; 4] {
        let v = self.next().to_le_bytes();
        [v[0], v[1], v[2], 0xff]
    }
}

/// A canvas as a browser's would be: RGBA, changed only by paints.
struct Canvas(Vec<u8>);

impl Canvas {
    fn new() -> Self {
        Self(vec![0; usize::from(W) * usize::from(H) * 4])
    }

    fn at(x: u16, y: u16) -> usize {
        (usize::from(y) * usize::from(W) + usize::from(x)) * 4
    }

    fn set(&mut self, r: Rect, mut pixel: impl FnMut(u16, u16) -> [u8; 4]) {
        for y in r.y..r.y + r.h {
            for x in r.x..r.x + r.w {
                let i = Self::at(x, y);
                self.0[i..i + 4].copy_from_slice(&pixel(x, y));
            }
        }
    }

    /// Does one paint, reading the framebuffer as it is now.
    fn paint(&mut self, p: Paint<Vec<u8>>, fb: &Framebuffer) {
        match p {
            Paint::Region(d) => match d.fills {
                Some(fills) => {
                    for Fill { rect, rgba } in fills {
                        self.set(rect, |_, _| rgba);
                    }
                }
                None => self.set(d.region, |x, y| fb.pixel(x, y).expect("inside")),
            },
            Paint::Pixels { rect, rgba } => {
                let mut px = rgba.chunks_exact(4);
                self.set(rect, |_, _| {
                    px.next().expect("a pixel").try_into().expect("4")
                });
            }
            Paint::Image { rect, image } => {
                let rgba: [u8; 4] = image.try_into().expect("a colour");
                self.set(rect, |_, _| rgba);
            }
            Paint::Copy { src_x, src_y, dst } => {
                let before = self.0.clone();
                self.set(dst, |x, y| {
                    let i = Self::at(src_x + (x - dst.x), src_y + (y - dst.y));
                    before[i..i + 4].try_into().expect("4 bytes")
                });
            }
        }
    }
}

/// One random history: changes, images and copies, with the painter taking and doing paints
/// at random moments (an image's decoding can hold its queue while more changes come).
fn history(seed: u64, steps: usize, max_side: u16) {
    let mut rng = Rng(seed | 1, max_side);
    let mut fb = Framebuffer::new(W, H);
    fb.hand_images_over(1 << 20);
    let mut reference = Framebuffer::new(W, H);
    let mut canvas = Canvas::new();
    let mut painter = PaintQueue::<Vec<u8>>::new(1 << 20);
    // What happened, for the message of a failure.
    let mut log = Vec::new();
    for _ in 0..steps {
        match rng.below(10) {
            0 | 1 => {
                let (r, c) = (rng.rect(), rng.colour());
                log.push(format!("fill {r:?}"));
                fb.fill(r, c);
                reference.fill(r, c);
            }
            2 | 3 => {
                let r = rng.rect();
                let seed = rng.next();
                let pixels: Vec<u8> = (0..usize::from(r.w) * usize::from(r.h))
                    .flat_map(|i| {
                        let v = (seed.wrapping_add(i as u64 * 0x9e37)).to_le_bytes();
                        [v[0], v[1], v[2], 0xff]
                    })
                    .collect();
                log.push(format!("put {r:?}"));
                fb.put_rgba(r, &pixels);
                reference.put_rgba(r, &pixels);
            }
            4 | 5 => {
                let (r, c) = (rng.rect(), rng.colour());
                log.push(format!("image {r:?}"));
                fb.hand_over_image(r, c.to_vec());
                reference.fill(r, c);
            }
            6 => {
                let dst = rng.rect();
                let sx = rng.below(u64::from(W - dst.w) + 1) as u16;
                let sy = rng.below(u64::from(H - dst.h) + 1) as u16;
                log.push(format!("copy ({sx}, {sy}) to {dst:?}"));
                assert!(fb.copy_rect(sx, sy, dst));
                assert!(reference.copy_rect(sx, sy, dst));
            }
            7 => {
                // Kept as the painter will keep them: what waits holds its pixels.
                for p in fb.take_paints() {
                    log.push(format!("  taken {:?}", p.target()));
                    painter.push(fb.keep(p), 4).expect("room");
                }
            }
            _ => {
                for _ in 0..rng.below(4) {
                    if let Some(p) = painter.pop() {
                        log.push(format!("  done {:?}", p.target()));
                        canvas.paint(p, &fb);
                    }
                }
            }
        }
        assert_eq!(fb.take_paint_overflow(), None);
    }
    for p in fb.take_paints() {
        painter.push(p, 4).expect("room");
    }
    while let Some(p) = painter.pop() {
        canvas.paint(p, &fb);
    }
    assert!(
        canvas.0 == reference.rgba(),
        "seed {seed}: the canvas is not the picture after\n{}",
        log.join("\n")
    );
}

#[test]
fn done_in_order_the_paints_always_end_at_the_picture() {
    for seed in 0..4000 {
        history(seed * 7919, 80, W);
    }
}

#[test]
fn more_images_than_are_told_apart_still_end_at_the_picture() {
    // Small rectangles, so that more than MAX_HELD images are held at once and counted as
    // the one rectangle around them.
    for seed in 0..150 {
        history(seed * 104_729, 600, 3);
    }
}

#[test]
fn without_images_a_change_is_one_region_as_before() {
    let mut fb = Framebuffer::new(W, H);
    fb.hand_images_over(1 << 20);
    fb.take_paints();
    let a = rect(1, 1, 2, 2);
    let b = rect(10, 8, 3, 1);
    fb.mark_dirty(a);
    fb.mark_dirty(b);
    assert_eq!(
        fb.take_paints(),
        vec![Paint::Region(crate::Dirty {
            region: a.union(&b),
            fills: None
        })]
    );
    assert_eq!(fb.take_paints(), vec![]);
}

#[test]
fn a_region_never_spans_an_image_and_a_later_image_drops_the_one_it_covers() {
    let mut fb = Framebuffer::new(W, H);
    fb.hand_images_over(1 << 20);
    fb.take_paints();
    let video = rect(4, 4, 8, 8);
    let left = rect(0, 0, 2, 2);
    let right = rect(20, 14, 2, 2);
    fb.hand_over_image(video, vec![1; 4]);
    fb.hand_over_image(video, vec![2; 4]);
    // Two changes either side of the image: two regions, not one across it.
    fb.mark_dirty(left);
    fb.mark_dirty(right);
    let paints = fb.take_paints();
    let region = |r: Rect| {
        Paint::Region(crate::Dirty {
            region: r,
            fills: None,
        })
    };
    assert_eq!(
        paints,
        vec![
            Paint::Image {
                rect: video,
                image: vec![2; 4]
            },
            region(left),
            region(right),
        ]
    );
    // A change that covers the image makes the framebuffer whole again: one region.
    fb.mark_dirty(rect(0, 0, W, H));
    fb.mark_dirty(left);
    fb.mark_dirty(right);
    assert_eq!(fb.take_paints(), vec![region(rect(0, 0, W, H))]);
}

#[test]
fn a_copy_of_an_image_is_done_on_the_canvas_and_what_it_reads_is_never_dropped() {
    let mut fb = Framebuffer::new(W, H);
    fb.hand_images_over(1 << 20);
    fb.take_paints();
    let image = rect(0, 0, 4, 4);
    let dst = rect(10, 0, 4, 4);
    fb.hand_over_image(image, vec![1; 4]);
    assert!(fb.copy_rect(0, 0, dst));
    // A later image over the first must not drop it: the copy reads it.
    fb.hand_over_image(image, vec![2; 4]);
    assert_eq!(
        fb.take_paints(),
        vec![
            Paint::Image {
                rect: image,
                image: vec![1; 4]
            },
            Paint::Copy {
                src_x: 0,
                src_y: 0,
                dst
            },
            Paint::Image {
                rect: image,
                image: vec![2; 4]
            },
        ]
    );
}

#[test]
fn the_queue_refuses_more_image_bytes_than_its_limit_and_counts_what_it_drops() {
    let mut q = PaintQueue::<()>::new(100);
    let r = rect(0, 0, 4, 4);
    let other = Rect { x: 8, ..r };
    q.push(Paint::Image { rect: r, image: () }, 60)
        .expect("room");
    // Covers the first, which goes, and its bytes with it.
    q.push(Paint::Image { rect: r, image: () }, 60)
        .expect("room");
    assert_eq!(q.len(), 1);
    assert_eq!(
        q.push(
            Paint::Image {
                rect: other,
                image: ()
            },
            60
        ),
        Err(Overflow {
            paints: 2,
            image_bytes: 120
        })
    );
    assert_eq!(q.len(), 1);
    q.pop();
    q.push(
        Paint::Image {
            rect: other,
            image: (),
        },
        100,
    )
    .expect("room again");
}
