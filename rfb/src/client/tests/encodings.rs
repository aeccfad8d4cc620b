//! Transcripts with every encoding: a scripted server byte stream (handshake, then updates
//! built by hand, zlib data compressed with flate2) driven through [`Client`] whole and in
//! small chunks, asserting events, the requests sent back, and framebuffer pixels.

use super::{run, server_init};
use crate::client::{Client, ClientConfig, Event};
use crate::decode::image::samples as images;
use crate::decode::test_util::Deflater;
use crate::decode::Screen;
use crate::error::Error;
use crate::messages::encoding::Encoding;

/// Builds one FramebufferUpdate rectangle by rectangle.
#[derive(Default)]
struct Update {
    count: u16,
    body: Vec<u8>,
}

impl Update {
    fn rect(mut self, [x, y, w, h]: [u16; 4], encoding: i32, payload: &[u8]) -> Self {
        for n in [x, y, w, h] {
            self.body.extend_from_slice(&n.to_be_bytes());
        }
        self.body.extend_from_slice(&encoding.to_be_bytes());
        self.body.extend_from_slice(payload);
        self.count += 1;
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut v = vec![0, 0];
        v.extend_from_slice(&self.count.to_be_bytes());
        v.extend_from_slice(&self.body);
        v
    }

    /// The update sent with a count of 0xFFFF, ended by a LastRect rectangle.
    fn until_last_rect(self) -> Vec<u8> {
        let done = self.rect([0, 0, 0, 0], -224, &[]);
        let mut v = vec![0, 0, 0xff, 0xff];
        v.extend_from_slice(&done.body);
        v
    }
}

fn handshake(w: u16, h: u16) -> Vec<u8> {
    let mut s = b"RFB 003.008\n".to_vec();
    s.extend_from_slice(&[1, 1, 0, 0, 0, 0]);
    s.extend(server_init(w, h, "xvnc"));
    s
}

fn zlib_payload(z: &mut Deflater, data: &[u8]) -> Vec<u8> {
    let c = z.chunk(data);
    let mut v = (c.len() as u32).to_be_bytes().to_vec();
    v.extend(c);
    v
}

fn tight_compact(len: usize) -> Vec<u8> {
    assert!(len < 1 << 14);
    if len < 0x80 {
        vec![len as u8]
    } else {
        vec![(len & 0x7f) as u8 | 0x80, (len >> 7) as u8]
    }
}

fn rgbx(rgb: [u8; 3], n: usize) -> Vec<u8> {
    [rgb[0], rgb[1], rgb[2], 0].repeat(n)
}

fn screen(id: u32, w: u16, h: u16) -> Screen {
    Screen {
        id,
        x: 0,
        y: 0,
        width: w,
        height: h,
        flags: 0,
    }
}

fn eds_payload(screens: &[Screen]) -> Vec<u8> {
    let mut v = vec![screens.len() as u8, 0, 0, 0];
    for s in screens {
        s.write(&mut v);
    }
    v
}

const GREY: [u8; 3] = [50, 50, 50];
const RED: [u8; 3] = [200, 0, 0];
const GREEN: [u8; 3] = [0, 200, 0];
const BLUE: [u8; 3] = [0, 0, 200];
const YELLOW: [u8; 3] = [200, 200, 0];
const CYAN: [u8; 3] = [0, 200, 200];
const MAGENTA: [u8; 3] = [200, 0, 200];

/// A 64×32 desktop, then four updates: pseudo-encodings; one rectangle of every data
/// encoding; a LastRect-terminated update; a resize by ExtendedDesktopSize.
fn every_encoding_transcript() -> Vec<u8> {
    let mut s = handshake(64, 32);
    // Update A: what Xvnc sends after SetEncodings and the first request.
    let mut name = 4u32.to_be_bytes().to_vec();
    name.extend_from_slice(b"work");
    let mut cursor = [rgbx(RED, 2), rgbx(BLUE, 2)].concat();
    cursor.extend_from_slice(&[0x80, 0x40]);
    s.extend(
        Update::default()
            .rect([0, 0, 64, 32], -308, &eds_payload(&[screen(7, 64, 32)]))
            .rect([0, 0, 0, 0], -307, &name)
            .rect([1, 2, 2, 2], -239, &cursor)
            .rect([0, 0, 64, 32], -258, &[])
            .bytes(),
    );
    // Update B: every data encoding.
    let mut rre = 1u32.to_be_bytes().to_vec();
    rre.extend(rgbx(RED, 1));
    rre.extend(rgbx(GREEN, 1));
    rre.extend_from_slice(&[0, 2, 0, 2, 0, 2, 0, 2]);
    let mut hextile = vec![0x02 | 0x08 | 0x10];
    hextile.extend(rgbx(BLUE, 1));
    hextile.push(1);
    hextile.extend(rgbx(YELLOW, 1));
    hextile.extend_from_slice(&[0xf0, 0x0f]); // (15, 0) 1×16
    let mut zlib = Deflater::new();
    let mut zrle = Deflater::new();
    let mut tight0 = Deflater::new();
    let zrle_tile = [vec![1], CYAN.to_vec()].concat();
    let tight_pixels: Vec<u8> = (0..16).flat_map(|_| MAGENTA).collect();
    let tight_basic = [vec![0x00], {
        let c = tight0.chunk(&tight_pixels);
        [tight_compact(c.len()), c].concat()
    }]
    .concat();
    let jpeg = images::jpeg(16, 16, GREEN, BLUE);
    let tight_jpeg = [vec![0x90], tight_compact(jpeg.len()), jpeg.clone()].concat();
    let png = images::png(2, 1, png::ColorType::Rgb, &[1, 2, 3, 4, 5, 6]);
    let tight_png = [vec![0xa0], tight_compact(png.len()), png].concat();
    s.extend(
        Update::default()
            .rect([0, 0, 64, 32], 7, &[0x80, GREY[0], GREY[1], GREY[2]])
            .rect([0, 0, 8, 8], 2, &rre)
            .rect([8, 0, 16, 16], 5, &hextile)
            .rect([24, 0, 8, 8], 1, &[0, 0, 0, 0])
            .rect(
                [32, 0, 4, 4],
                6,
                &zlib_payload(&mut zlib, &rgbx(YELLOW, 16)),
            )
            .rect([36, 0, 8, 8], 16, &zlib_payload(&mut zrle, &zrle_tile))
            .rect([36, 8, 8, 8], 16, &zlib_payload(&mut zrle, &zrle_tile))
            .rect([44, 0, 8, 2], 7, &tight_basic)
            .rect([48, 8, 16, 16], 7, &tight_jpeg)
            .rect([0, 16, 4, 4], 15, &[1, MAGENTA[0], MAGENTA[1], MAGENTA[2]])
            .rect([4, 16, 2, 1], -260, &tight_png)
            .rect([16, 16, 16, 16], 21, &jpeg)
            .rect([32, 4, 4, 4], 6, &zlib_payload(&mut zlib, &rgbx(RED, 16)))
            .bytes(),
    );
    // Update C: until LastRect.
    s.extend(
        Update::default()
            .rect([0, 31, 1, 1], 0, &rgbx(CYAN, 1))
            .until_last_rect(),
    );
    // Update D: the server resizes to 80×40 and repaints.
    s.extend(
        Update::default()
            .rect([0, 0, 80, 40], -308, &eds_payload(&[screen(7, 80, 40)]))
            .rect([0, 0, 80, 40], 7, &[0x80, 255, 255, 255])
            .bytes(),
    );
    s
}

fn every_encoding_config() -> ClientConfig {
    let mut cfg = ClientConfig::default();
    cfg.encodings
        .extend([Encoding::Trle, Encoding::TightPng, Encoding::Jpeg]);
    cfg
}

fn close(got: Option<[u8; 4]>, want: [u8; 3]) -> bool {
    got.is_some_and(|p| images::close(p, want))
}

#[test]
fn every_encoding_in_any_chunking() {
    let transcript = every_encoding_transcript();
    for chunk in [1, 5, 64, transcript.len()] {
        let mut c = Client::new(every_encoding_config());
        let (sent, events) = run(&mut c, &transcript, chunk);
        let want_cursor = Event::CursorShape {
            width: 2,
            height: 2,
            hotspot_x: 1,
            hotspot_y: 1,
            rgba: vec![200, 0, 0, 255, 200, 0, 0, 0, 0, 0, 200, 0, 0, 0, 200, 255],
        };
        assert_eq!(
            events,
            vec![
                Event::Connected {
                    width: 64,
                    height: 32,
                    name: "xvnc".into()
                },
                Event::DesktopName("work".into()),
                want_cursor,
                Event::UpdateComplete,
                Event::UpdateComplete,
                Event::UpdateComplete,
                Event::Resized {
                    width: 80,
                    height: 40
                },
                Event::UpdateComplete,
            ],
            "chunk {chunk}"
        );
        assert!(c.supports_qemu_key_events());
        assert_eq!(c.screens(), &[screen(7, 80, 40)]);
        // Two non-incremental requests: the first, and one for the whole picture at the new
        // size; every other is incremental, and the last covers the resized framebuffer.
        let requests: Vec<&[u8]> = sent
            .windows(10)
            .filter(|w| w[0] == 3 && w[2..6] == [0; 4])
            .collect();
        let whole: Vec<&[u8]> = requests.iter().copied().filter(|r| r[1] == 0).collect();
        assert_eq!(whole.len(), 2, "chunk {chunk}");
        assert_eq!(whole[1], &[3, 0, 0, 0, 0, 0, 0, 80, 0, 40]);
        assert_eq!(&sent[sent.len() - 10..], &[3, 1, 0, 0, 0, 0, 0, 80, 0, 40]);
        // Update D left the resized framebuffer white.
        let fb = c.framebuffer().expect("connected");
        assert_eq!((fb.width(), fb.height()), (80, 40));
        assert_eq!(fb.pixel(79, 39), Some([255, 255, 255, 255]));
    }
}

#[test]
fn every_encoding_paints_its_pixels() {
    let mut transcript = every_encoding_transcript();
    // Stop before update D (the resize) to look at what B and C painted.
    let d = Update::default()
        .rect([0, 0, 80, 40], -308, &eds_payload(&[screen(7, 80, 40)]))
        .rect([0, 0, 80, 40], 7, &[0x80, 255, 255, 255])
        .bytes();
    transcript.truncate(transcript.len() - d.len());
    let mut c = Client::new(every_encoding_config());
    run(&mut c, &transcript, 3);
    let fb = c.framebuffer().expect("connected");
    let px = |x, y| fb.pixel(x, y);
    let rgb = |c: [u8; 3]| Some([c[0], c[1], c[2], 255]);
    assert_eq!(px(63, 31), rgb(GREY), "Tight fill");
    assert_eq!(px(0, 0), rgb(RED), "RRE background");
    assert_eq!(px(3, 3), rgb(GREEN), "RRE subrect");
    assert_eq!(px(8, 0), rgb(BLUE), "Hextile background");
    assert_eq!(px(23, 15), rgb(YELLOW), "Hextile subrect");
    assert_eq!(px(24, 0), rgb(RED), "CopyRect of the RRE");
    assert_eq!(px(27, 3), rgb(GREEN), "CopyRect of the RRE subrect");
    assert_eq!(px(32, 0), rgb(YELLOW), "Zlib");
    assert_eq!(px(35, 7), rgb(RED), "Zlib, second rectangle on the stream");
    assert_eq!(px(43, 15), rgb(CYAN), "ZRLE twice on one stream");
    assert_eq!(px(51, 1), rgb(MAGENTA), "Tight basic");
    assert!(close(px(48, 8), GREEN), "Tight JPEG left");
    assert!(close(px(63, 23), BLUE), "Tight JPEG right");
    assert_eq!(px(3, 19), rgb(MAGENTA), "TRLE");
    assert_eq!(px(5, 16), Some([4, 5, 6, 255]), "TightPNG");
    assert!(close(px(16, 16), GREEN), "JPEG 21 left");
    assert!(close(px(31, 31), BLUE), "JPEG 21 right");
    assert_eq!(px(0, 31), rgb(CYAN), "Raw until LastRect");
}

#[test]
fn unrequested_encodings_are_refused() {
    // The default list has no TRLE.
    let mut s = handshake(8, 8);
    s.extend(
        Update::default()
            .rect([0, 0, 1, 1], 15, &[1, 0, 0, 0])
            .bytes(),
    );
    let mut c = Client::new(ClientConfig::default());
    assert_eq!(c.receive(&s), Err(Error::UnsupportedEncoding(15)));
    let mut s = handshake(8, 8);
    s.extend(Update::default().rect([0, 0, 1, 1], 12345, &[]).bytes());
    let mut c = Client::new(ClientConfig::default());
    assert_eq!(c.receive(&s), Err(Error::UnsupportedEncoding(12345)));
}

#[test]
fn cve_2016_9941_rectangle_after_a_shrink() {
    let mut s = handshake(64, 64);
    s.extend(
        Update::default()
            .rect([0, 0, 16, 16], -223, &[])
            .rect([20, 20, 4, 4], 7, &[0x80, 1, 2, 3])
            .bytes(),
    );
    let mut c = Client::new(ClientConfig::default());
    assert!(matches!(
        c.receive(&s),
        Err(Error::RectOutOfBounds { fb_w: 16, .. })
    ));
}

#[test]
fn a_refused_resize_changes_nothing() {
    let mut s = handshake(32, 32);
    s.extend(
        Update::default()
            .rect([0, 0, 32, 32], -308, &eds_payload(&[screen(1, 32, 32)]))
            .rect([1, 3, 64, 64], -308, &eds_payload(&[]))
            .bytes(),
    );
    let mut c = Client::new(ClientConfig::default());
    let (_, events) = run(&mut c, &s, 9);
    assert!(!events.iter().any(|e| matches!(e, Event::Resized { .. })));
    assert_eq!(c.screens(), &[screen(1, 32, 32)]);
    assert_eq!(c.framebuffer().map(|f| f.width()), Some(32));
    assert!(!c.supports_qemu_key_events());
}

#[test]
fn jpeg_handed_to_the_application_is_a_paint_not_pixels_and_a_full_queue_asks_for_the_picture_again(
) {
    let jpeg = images::jpeg(16, 16, GREEN, BLUE);
    let tight_jpeg = [vec![0x90], tight_compact(jpeg.len()), jpeg.clone()].concat();
    let mut cfg = every_encoding_config();
    cfg.jpeg_source = crate::client::JpegSource::Application;
    // Room for one image waiting, not two.
    cfg.limits.max_pending_image_bytes = jpeg.len() * 3 / 2;
    let mut c = Client::new(cfg);
    let mut s = handshake(64, 32);
    s.extend(
        Update::default()
            .rect([0, 0, 64, 32], 7, &[0x80, GREY[0], GREY[1], GREY[2]])
            .rect([8, 8, 16, 16], 7, &tight_jpeg)
            .bytes(),
    );
    run(&mut c, &s, s.len());
    let paints = c.take_paints();
    let rect = crate::Rect {
        x: 8,
        y: 8,
        w: 16,
        h: 16,
    };
    assert!(
        paints.contains(&crate::Paint::Image {
            rect,
            image: jpeg.clone()
        }),
        "{:?}",
        paints.iter().map(|p| p.target()).collect::<Vec<_>>()
    );
    let fb = c.framebuffer().expect("connected");
    assert_eq!(
        fb.pixel(12, 12),
        Some([GREY[0], GREY[1], GREY[2], 255]),
        "not decoded here"
    );
    // Two images in one update, both waiting: the second does not fit, every paint is dropped,
    // and the client asks for the whole picture, without ending the session.
    let other = crate::Rect { x: 40, ..rect };
    s = Update::default()
        .rect([8, 8, 16, 16], 7, &tight_jpeg)
        .rect([40, 8, 16, 16], 7, &tight_jpeg)
        .bytes();
    let (sent, _) = run(&mut c, &s, s.len());
    // (Only after the first update, the requests are incremental: 3, 1, …)
    assert!(
        sent.windows(10)
            .any(|w| w == [3, 0, 0, 0, 0, 0, 0, 64, 0, 32]),
        "a non-incremental request for the whole picture: {sent:?}"
    );
    assert!(c
        .take_paints()
        .iter()
        .all(|p| p.target() != other && p.target() != rect));
    // A wrong size is still refused.
    let small = images::jpeg(8, 8, GREEN, BLUE);
    let bad = [vec![0x90], tight_compact(small.len()), small].concat();
    s = Update::default().rect([8, 8, 16, 16], 7, &bad).bytes();
    assert!(c.receive(&s).is_err());
}

#[test]
fn an_image_handed_over_can_be_taken_before_its_update_ends() {
    let jpeg = images::jpeg(16, 16, GREEN, BLUE);
    let tight_jpeg = [vec![0x90], tight_compact(jpeg.len()), jpeg.clone()].concat();
    let mut cfg = every_encoding_config();
    cfg.jpeg_source = crate::client::JpegSource::Application;
    let mut c = Client::new(cfg);
    run(&mut c, &handshake(64, 32), usize::MAX);
    let _ = c.take_paints();
    assert!(!c.images_waiting());
    let update = Update::default()
        .rect([8, 8, 16, 16], 7, &tight_jpeg)
        .rect([40, 8, 16, 16], 7, &[0x80, GREY[0], GREY[1], GREY[2]])
        .bytes();
    // Everything up to the second rectangle's header: the image has come, its update not.
    let (_, events) = run(&mut c, &update[..update.len() - 16], usize::MAX);
    assert!(!events.contains(&Event::UpdateComplete), "{events:?}");
    assert!(c.images_waiting(), "the image waits before its update ends");
    let rect = crate::Rect {
        x: 8,
        y: 8,
        w: 16,
        h: 16,
    };
    assert_eq!(
        c.take_paints(),
        vec![crate::Paint::Image { rect, image: jpeg }]
    );
    assert!(!c.images_waiting());
    let (_, events) = run(&mut c, &update[update.len() - 16..], usize::MAX);
    assert!(events.contains(&Event::UpdateComplete), "{events:?}");
    assert!(c
        .take_paints()
        .iter()
        .all(|p| !matches!(p, crate::Paint::Image { .. })));
}
