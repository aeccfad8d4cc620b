//! The server-stream filter: real sessions with clipboard messages injected, in every
//! chunking; every encoding measured as rfb's decoders consume it; hostile input.

use super::*;
use crate::client::{Client, ClientConfig};
use crate::decode::hextile::tests::generated;
use crate::decode::image::samples;
use crate::decode::test_util::*;
use crate::framebuffer::Rect;
use crate::messages::clipboard::{ACTION_CAPS, ACTION_NOTIFY, FORMAT_TEXT};
use crate::messages::encoding::Encoding;
use crate::Event;

const CHUNKINGS: [usize; 6] = [1, 2, 3, 7, 64, 4096];

/// Feeds `stream` in `chunk`-byte pieces; returns what was passed on.
fn run(f: &mut ServerStreamFilter, stream: &[u8], chunk: usize) -> Result<Vec<u8>, FollowError> {
    let mut got = Vec::with_capacity(stream.len());
    let mut segs = Vec::new();
    for part in stream.chunks(chunk.max(1)) {
        segs.clear();
        f.filter(part, &mut segs)?;
        for s in &segs {
            assert!(matches!(s, Segment::Chunk(_)), "only ranges of the chunk");
            got.extend_from_slice(s.of(part));
        }
        assert!(f.carry.len() < MAX_UNIT_BYTES && f.carry.capacity() <= MAX_UNIT_BYTES);
    }
    Ok(got)
}

fn filter(pf: PixelFormat) -> ServerStreamFilter {
    ServerStreamFilter::new(Limits::default(), pf)
}

fn legacy_cut_text(text: &[u8]) -> Vec<u8> {
    let len = u32::try_from(text.len()).expect("short");
    [&[3, 0, 0, 0][..], &len.to_be_bytes(), text].concat()
}

/// An extended-clipboard message: `flags` and `rest` after them.
fn extended_cut_text(flags: u32, rest: &[u8]) -> Vec<u8> {
    let len = -i32::try_from(rest.len() + 4).expect("short");
    [
        &[3, 0, 0, 0][..],
        &len.to_be_bytes(),
        &flags.to_be_bytes(),
        rest,
    ]
    .concat()
}

/// The cut texts injected into sessions: legacy (empty, short, long) and extended (caps,
/// notify); all of them valid, so that rfb's client follows the injected stream too.
fn cut_texts() -> Vec<Vec<u8>> {
    vec![
        legacy_cut_text(b"operator's secret"),
        extended_cut_text(ACTION_CAPS | FORMAT_TEXT, &(1u32 << 20).to_be_bytes()),
        legacy_cut_text(b""),
        extended_cut_text(ACTION_NOTIFY | FORMAT_TEXT, &[]),
        legacy_cut_text(&[b'x'; 5000]),
    ]
}

struct Session {
    name: String,
    encodings: Vec<Encoding>,
    /// The handshake up to and including ServerInit.
    head: Vec<u8>,
    server_init: Vec<u8>,
    /// The stream after ServerInit.
    stream: Vec<u8>,
}

fn sessions() -> Vec<Session> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut metas = Vec::new();
    for dir in ["tests/transcripts", "benches/data"] {
        for e in std::fs::read_dir(root.join(dir))
            .expect("transcripts")
            .flatten()
        {
            if e.path().extension().is_some_and(|x| x == "meta") {
                metas.push(e.path());
            }
        }
    }
    metas.sort();
    metas
        .into_iter()
        .map(|meta| {
            let text = std::fs::read_to_string(&meta).expect("meta");
            let encodings: Vec<Encoding> = text
                .lines()
                .find_map(|l| l.strip_prefix("encodings="))
                .expect("encodings")
                .split(',')
                .map(|n| Encoding::from_i32(n.parse().expect("number")))
                .collect();
            let bytes = std::fs::read(meta.with_extension("bin")).expect("bin");
            let mut c = Client::new_pass_through(ClientConfig::default());
            c.receive(&bytes).expect("handshake");
            let mut p = c.into_passthrough().expect("held at ServerInit");
            let stream = p.take_from_server();
            Session {
                name: meta
                    .file_stem()
                    .expect("stem")
                    .to_string_lossy()
                    .into_owned(),
                encodings,
                head: bytes[..bytes.len() - stream.len()].to_vec(),
                server_init: p.server_init().to_vec(),
                stream,
            }
        })
        .collect()
}

/// rfb's client replaying `head` + `stream`: its framebuffer and the updates it completed.
fn client_replay(s: &Session, stream: &[u8]) -> (Vec<u8>, usize) {
    let mut encodings = s.encodings.clone();
    encodings.push(Encoding::ExtendedClipboard);
    let mut c = Client::new(ClientConfig {
        encodings,
        ..ClientConfig::default()
    });
    let mut updates = 0;
    for part in [&s.head[..], stream] {
        c.receive(part)
            .unwrap_or_else(|e| panic!("{}: {e}", s.name));
        while c.poll_transmit().is_some() {}
        while let Some(e) = c.poll_event() {
            updates += usize::from(e == Event::UpdateComplete);
        }
    }
    (c.framebuffer().expect("connected").rgba().to_vec(), updates)
}

fn session_filter(s: &Session) -> ServerStreamFilter {
    let mut f = ServerStreamFilter::from_server_init(Limits::default(), &s.server_init)
        .expect("ServerInit");
    // What rfb's client sent right after ServerInit, before its first update request.
    f.set_pixel_format(PixelFormat::RGBX_LE);
    f
}

#[test]
fn real_sessions_lose_their_injected_clipboard_in_every_chunking() {
    let all = sessions();
    assert!(all.len() >= 16, "found {} transcripts", all.len());
    for s in &all {
        // The message boundaries, as the filter sees them one byte at a time.
        let mut f = session_filter(s);
        let mut boundaries = vec![0];
        for (i, b) in s.stream.iter().enumerate() {
            let mut segs = Vec::new();
            f.filter(std::slice::from_ref(b), &mut segs)
                .unwrap_or_else(|e| panic!("{}: {e}", s.name));
            if f.is_at_message_boundary() {
                boundaries.push(i + 1);
            }
        }
        assert_eq!(boundaries.last(), Some(&s.stream.len()), "{}", s.name);
        assert!(boundaries.len() >= 2, "{}: {boundaries:?}", s.name);
        // Cut texts at up to 24 of them, first and last included.
        let step = (boundaries.len() / 23).max(1);
        let at: Vec<usize> = boundaries
            .iter()
            .step_by(step)
            .chain(boundaries.last())
            .copied()
            .collect();
        let texts = cut_texts();
        let mut injected = Vec::new();
        let mut from = 0;
        for (n, &b) in at.iter().enumerate() {
            injected.extend_from_slice(&s.stream[from..b]);
            injected.extend_from_slice(&texts[n % texts.len()]);
            from = b;
        }
        // rfb's client follows the injected stream as the original: they were boundaries.
        assert_eq!(
            client_replay(s, &injected),
            client_replay(s, &s.stream),
            "{}",
            s.name
        );
        let big = s.stream.len() > 100_000;
        for chunk in CHUNKINGS.into_iter().chain([injected.len()]) {
            if big && chunk < 7 {
                continue; // the small sessions cover tiny pieces; these are slow in debug
            }
            let mut f = session_filter(s);
            let got = run(&mut f, &injected, chunk).unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert!(got == s.stream, "{} in chunks of {chunk}", s.name);
            assert_eq!(
                f.dropped(),
                at.len() as u64,
                "{} in chunks of {chunk}",
                s.name
            );
            assert!(f.is_at_message_boundary());
        }
    }
}

/// One FramebufferUpdate of `rects` (header, encoding, payload).
fn update(rects: &[(Rect, Encoding, Vec<u8>)]) -> Vec<u8> {
    let n = u16::try_from(rects.len()).expect("few");
    let mut v = [&[0u8, 0][..], &n.to_be_bytes()].concat();
    for (r, e, payload) in rects {
        for x in [r.x, r.y, r.w, r.h] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend_from_slice(&e.to_i32().to_be_bytes());
        v.extend_from_slice(payload);
    }
    v
}

/// The filter measures `payload` as rfb's decoder consumes it: the decoder uses exactly all
/// of it; in an update followed by a cut text and a Bell, every prefix waits for more and
/// the whole passes on without the cut text, in several chunkings.
fn check_rect(pf: PixelFormat, encoding: Encoding, r: Rect, payload: &[u8]) {
    let mut env = Env::new(64, 64, pf);
    match env.run(encoding, r, payload) {
        Ok((_, used)) => assert_eq!(used, payload.len(), "{encoding:?} in {pf:?}"),
        Err(e) => panic!("{encoding:?} in {pf:?}: {e:?}"),
    }
    check_stream(pf, &update(&[(r, encoding, payload.to_vec())]));
}

/// `msg` is one complete message: every prefix waits for more; with a cut text and a Bell
/// after it, it passes on without the cut text.
fn check_stream(pf: PixelFormat, msg: &[u8]) {
    for cut in 0..msg.len() {
        let mut f = filter(pf);
        run(&mut f, &msg[..cut], cut).unwrap_or_else(|e| panic!("prefix {cut}: {e}"));
        assert!(!f.is_at_message_boundary() || cut == 0, "prefix {cut}");
    }
    let mut stream = msg.to_vec();
    stream.extend(legacy_cut_text(b"copied"));
    stream.push(2);
    let mut want = msg.to_vec();
    want.push(2);
    for chunk in [1, 2, 3, 5, stream.len()] {
        let mut f = filter(pf);
        let got = run(&mut f, &stream, chunk).unwrap_or_else(|e| panic!("chunks {chunk}: {e}"));
        assert_eq!(got, want, "chunks of {chunk}");
        assert_eq!(f.dropped(), 1);
        assert!(f.is_at_message_boundary());
    }
}

const FORMATS: [PixelFormat; 4] = [PixelFormat::RGBX_LE, PF_RGB565_BE, PF_CMAP8, PF_XRGB_BE];

#[test]
fn raw_copy_rect_rre_and_pseudo_rectangles_are_measured() {
    for pf in FORMATS {
        let bpp = pf.bytes_per_pixel();
        check_rect(pf, Encoding::Raw, rect(1, 2, 3, 2), &vec![7; 6 * bpp]);
        check_rect(pf, Encoding::Raw, rect(0, 0, 0, 5), &[]);
        check_rect(pf, Encoding::CopyRect, rect(0, 0, 4, 4), &[0, 8, 0, 8]);
        let mut rre = 2u32.to_be_bytes().to_vec();
        rre.extend(vec![1; bpp]);
        for sub in [[0u16, 0, 2, 2], [3, 1, 1, 2]] {
            rre.extend(vec![2; bpp]);
            sub.iter().for_each(|v| rre.extend(v.to_be_bytes()));
        }
        check_rect(pf, Encoding::Rre, rect(5, 5, 4, 3), &rre);
        let mut cursor = vec![9; 10 * 3 * bpp];
        cursor.extend([0xff, 0xc0].repeat(3));
        check_rect(pf, Encoding::Cursor, rect(2, 1, 10, 3), &cursor);
        check_rect(pf, Encoding::Cursor, rect(0, 0, 0, 0), &[]);
    }
    let pf = PixelFormat::RGBX_LE;
    check_rect(pf, Encoding::DesktopSize, rect(0, 0, 800, 600), &[]);
    let mut eds = vec![2, 0, 0, 0];
    for id in [1u32, 2] {
        eds.extend(id.to_be_bytes());
        [0u16, 0, 400, 300]
            .iter()
            .for_each(|v| eds.extend(v.to_be_bytes()));
        eds.extend(0u32.to_be_bytes());
    }
    check_rect(
        pf,
        Encoding::ExtendedDesktopSize,
        rect(0, 0, 800, 300),
        &eds,
    );
    let name = [&7u32.to_be_bytes()[..], b"desktop"].concat();
    check_rect(pf, Encoding::DesktopName, rect(0, 0, 0, 0), &name);
    check_rect(pf, Encoding::QemuExtendedKeyEvent, rect(0, 0, 64, 64), &[]);
    // LastRect ends an update of unknown length; a counted one too.
    for rects in [0xffffu16, 5] {
        let mut msg = [&[0u8, 0][..], &rects.to_be_bytes()].concat();
        let tail = update(&[
            (rect(0, 0, 1, 1), Encoding::Raw, vec![1; 4]),
            (rect(0, 0, 0, 0), Encoding::LastRect, vec![]),
        ]);
        msg.extend_from_slice(&tail[4..]);
        check_stream(pf, &msg);
    }
    check_stream(pf, &update(&[]));
}

#[test]
fn other_messages_are_measured_as_the_client_reads_them() {
    let msgs: [&[u8]; 5] = [
        &[1, 0, 0, 3, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        &[2],
        &[150],
        &[248, 0, 0, 0, 0x80, 0, 0, 1, 3, 7, 7, 7],
        &[248, 0, 0, 0, 0, 0, 0, 0, 0],
    ];
    for m in msgs {
        let mut r = Reader::new(m);
        crate::messages::server::ServerMessage::read(&mut r, &Limits::default()).expect("valid");
        assert_eq!(r.position(), m.len());
        check_stream(PixelFormat::RGBX_LE, m);
    }
}

#[test]
fn hextile_is_walked_tile_by_tile() {
    for pf in FORMATS {
        let env = Env::new(64, 64, pf);
        for (i, (w, h)) in [(16, 16), (20, 18), (33, 47), (64, 64), (1, 40)]
            .into_iter()
            .enumerate()
        {
            let (payload, _) = generated(&env, w, h, 0x5eed + i as u64);
            check_rect(pf, Encoding::Hextile, rect(0, 0, w, h), &payload);
        }
        check_rect(pf, Encoding::Hextile, rect(0, 0, 0, 9), &[]);
    }
}

/// A valid TRLE rectangle with every subencoding, tiles chosen at random.
fn trle_rect(env: &Env, w: u16, h: u16, seed: u64) -> Vec<u8> {
    let mut next = xorshift(seed);
    let cp = crate::decode::trle::CPixel::for_format(&env.pf).size();
    let pixel = |n: u64| vec![u8::try_from(n % 200).unwrap_or(0); cp];
    let mut v = Vec::new();
    let mut palette = 0usize;
    let mut tiles = 0u64;
    for ty in (0..h).step_by(16) {
        for tx in (0..w).step_by(16) {
            let (tw, th) = (usize::from((w - tx).min(16)), usize::from((h - ty).min(16)));
            let area = tw * th;
            let kind = if tiles < 7 { tiles } else { next() % 7 };
            tiles += 1;
            let packed = |n: usize, v: &mut Vec<u8>, next: &mut dyn FnMut() -> u64| {
                let len = crate::decode::trle::packed_len(tw as u16, th as u16, n);
                let bits = match n {
                    0..=2 => 1,
                    3..=4 => 2,
                    _ => 4,
                };
                // Index 0 everywhere is valid for any palette; noise in some bits below n.
                for _ in 0..len {
                    v.push(if bits == 1 {
                        u8::try_from(next() % 256).unwrap_or(0)
                    } else {
                        0
                    });
                }
            };
            match kind {
                0 => {
                    v.push(0);
                    (0..area).for_each(|i| v.extend(pixel(i as u64)));
                }
                1 => {
                    v.push(1);
                    v.extend(pixel(next()));
                }
                2 => {
                    palette = 2 + usize::try_from(next() % 15).unwrap_or(0);
                    v.push(u8::try_from(palette).unwrap_or(2));
                    (0..palette).for_each(|i| v.extend(pixel(i as u64)));
                    packed(palette, &mut v, &mut next);
                }
                3 if (2..=16).contains(&palette) => {
                    v.push(127);
                    packed(palette, &mut v, &mut next);
                }
                3 | 4 => {
                    v.push(128);
                    let mut left = area;
                    while left > 0 {
                        let run = 1 + usize::try_from(next()).unwrap_or(0) % left.min(300);
                        v.extend(pixel(next()));
                        let mut rest = run - 1;
                        while rest >= 255 {
                            v.push(255);
                            rest -= 255;
                        }
                        v.push(u8::try_from(rest).unwrap_or(0));
                        left -= run;
                    }
                }
                5 if palette > 0 => {
                    v.push(129);
                    palette_runs(&mut v, area, palette, &mut next);
                }
                _ => {
                    palette = 1 + usize::try_from(next() % 127).unwrap_or(0);
                    v.push(u8::try_from(128 + palette).unwrap_or(255));
                    (0..palette).for_each(|i| v.extend(pixel(i as u64)));
                    palette_runs(&mut v, area, palette, &mut next);
                }
            }
        }
    }
    v
}

fn palette_runs(v: &mut Vec<u8>, area: usize, palette: usize, next: &mut impl FnMut() -> u64) {
    let mut left = area;
    while left > 0 {
        let index = u8::try_from(next() % palette as u64).unwrap_or(0);
        if next() % 2 == 0 {
            v.push(index);
            left -= 1;
            continue;
        }
        let run = 1 + usize::try_from(next()).unwrap_or(0) % left;
        v.push(0x80 | index);
        let mut rest = run - 1;
        while rest >= 255 {
            v.push(255);
            rest -= 255;
        }
        v.push(u8::try_from(rest).unwrap_or(0));
        left -= run;
    }
}

#[test]
fn trle_is_walked_tile_by_tile() {
    let formats = [
        PixelFormat::RGBX_LE,
        PF_RGB565_BE,
        PF_CMAP8,
        PF_XRGB_BE,
        PF_RGBX_HIGH_LE,
    ];
    for pf in formats {
        let env = Env::new(64, 64, pf);
        for (i, (w, h)) in [(16, 16), (20, 18), (33, 47), (64, 64), (1, 40), (64, 3)]
            .into_iter()
            .enumerate()
        {
            let payload = trle_rect(&env, w, h, 0xbeef + i as u64);
            check_rect(pf, Encoding::Trle, rect(0, 0, w, h), &payload);
        }
        check_rect(pf, Encoding::Trle, rect(0, 0, 5, 0), &[]);
    }
}

fn with_u32_len(data: &[u8]) -> Vec<u8> {
    let len = u32::try_from(data.len()).expect("short");
    [&len.to_be_bytes()[..], data].concat()
}

fn compact(len: usize) -> Vec<u8> {
    let b = |v: usize| u8::try_from(v & 0xff).unwrap_or(0);
    match len {
        0..=0x7f => vec![b(len)],
        0x80..=0x3fff => vec![b(len) | 0x80, b(len >> 7)],
        _ => vec![b(len) | 0x80, b(len >> 7) | 0x80, b(len >> 14)],
    }
}

#[test]
fn zlib_zrle_and_jpeg_lengths_are_measured_without_inflating() {
    for pf in FORMATS {
        let bpp = pf.bytes_per_pixel();
        let r = rect(0, 0, 9, 7);
        let zlib = Deflater::new().chunk(&vec![5; 63 * bpp]);
        check_rect(pf, Encoding::Zlib, r, &with_u32_len(&zlib));
        let cp = crate::decode::trle::CPixel::for_format(&pf).size();
        let tiles = [&[1u8][..], &vec![3; cp]].concat();
        let zrle = Deflater::new().chunk(&tiles);
        check_rect(pf, Encoding::Zrle, r, &with_u32_len(&zrle));
    }
    let pf = PixelFormat::RGBX_LE;
    let jpeg = samples::jpeg(16, 16, [200, 10, 10], [10, 10, 200]);
    check_rect(pf, Encoding::Jpeg, rect(0, 0, 16, 16), &jpeg);
    check_rect(PF_RGB565_BE, Encoding::Jpeg, rect(8, 8, 16, 16), &jpeg);
}

#[test]
fn jpeg_markers_fill_stuffing_and_restarts_are_walked() {
    // SOI, a fill FF before APP0, TEM, SOS, entropy data with stuffing, RST3, fill FFs
    // before EOI: not decodable, but the walk is the decoder's.
    let jpeg = [
        &[0xff, 0xd8, 0xff, 0xff, 0xe0, 0, 4, 1, 2][..],
        &[0xff, 0x01],
        &[0xff, 0xda, 0, 3, 9],
        &[1, 2, 0xff, 0x00, 3, 0xff, 0xd3, 4, 5, 0xff, 0xff, 0xd9],
    ]
    .concat();
    let msg = update(&[(rect(0, 0, 8, 8), Encoding::Jpeg, jpeg.clone())]);
    check_stream(PixelFormat::RGBX_LE, &msg);
    // A JPEG without EOI is held to max_jpeg_bytes.
    let mut f = ServerStreamFilter::new(
        Limits {
            max_jpeg_bytes: 100,
            ..Limits::default()
        },
        PixelFormat::RGBX_LE,
    );
    let endless = [&msg[..msg.len() - 2], &[7u8; 200][..]].concat();
    let e = run(&mut f, &endless, 13).expect_err("too long");
    assert!(matches!(
        e.error,
        Error::LimitExceeded {
            limit: LimitKind::JpegBytes,
            ..
        }
    ));
}

#[test]
fn tight_and_tight_png_are_measured_in_every_form() {
    let cases = |pf: PixelFormat| {
        let tpx = crate::decode::tight::tpixel_size(&pf);
        let mut z = Deflater::new();
        let mut v: Vec<(Encoding, Rect, Vec<u8>)> = vec![
            // Fill.
            (
                Encoding::Tight,
                rect(0, 0, 40, 30),
                [vec![0x80], vec![9; tpx]].concat(),
            ),
            // Copy, under 12 bytes: raw.
            (
                Encoding::Tight,
                rect(0, 0, 1, 2),
                [vec![0x00], vec![4; 2 * tpx]].concat(),
            ),
            // Copy with an explicit filter byte, compressed, stream 2 reset too.
            (Encoding::Tight, rect(0, 0, 6, 5), {
                let d = z.chunk(&vec![4; 30 * tpx]);
                [vec![0x64, 0x00], compact(d.len()), d].concat()
            }),
            // Two-colour palette: 1 bit per pixel, rows of 2 bytes, 6 bytes raw.
            (Encoding::Tight, rect(0, 0, 9, 3), {
                [
                    vec![0x40, 1, 1],
                    vec![1; 2 * tpx],
                    vec![0xaa, 0x80, 0x55, 0, 1, 2],
                ]
                .concat()
            }),
            // Five colours: a byte per pixel, compressed on stream 1.
            (Encoding::Tight, rect(0, 0, 20, 20), {
                let d = Deflater::new().chunk(&[3; 400]);
                [vec![0x50, 1, 4], vec![2; 5 * tpx], compact(d.len()), d].concat()
            }),
        ];
        if pf.true_colour && pf.bytes_per_pixel() > 1 {
            let d = Deflater::new().chunk(&vec![0; 300 * 300 * tpx]);
            v.push((
                Encoding::Tight,
                rect(0, 0, 300, 300),
                [vec![0x60, 2], compact(d.len()), d].concat(),
            ));
            let jpeg = samples::jpeg(16, 16, [200, 10, 10], [10, 10, 200]);
            v.push((
                Encoding::Tight,
                rect(0, 0, 16, 16),
                [vec![0x9f], compact(jpeg.len()), jpeg].concat(),
            ));
        }
        let png = samples::png(4, 4, png::ColorType::Rgb, &[77; 48]);
        v.push((
            Encoding::TightPng,
            rect(0, 0, 4, 4),
            [vec![0xa0], compact(png.len()), png].concat(),
        ));
        v.push((
            Encoding::TightPng,
            rect(0, 0, 2, 2),
            [vec![0x80], vec![1; tpx]].concat(),
        ));
        v
    };
    for pf in FORMATS {
        for (enc, r, payload) in cases(pf) {
            if r.w > 64 || r.h > 64 {
                // Larger than the test framebuffer: measured, and decoded in a larger one.
                let mut env = Env::new(300, 300, pf);
                let (_, used) = env.run(enc, r, &payload).expect("decodes");
                assert_eq!(used, payload.len());
                let msg = update(&[(r, enc, payload)]);
                let mut f = filter(pf);
                assert_eq!(run(&mut f, &msg, 4096).expect("valid"), msg);
                assert!(f.is_at_message_boundary());
            } else {
                check_rect(pf, enc, r, &payload);
            }
        }
    }
}

#[test]
fn one_update_with_every_encoding_and_a_pixel_format_change() {
    let pf = PixelFormat::RGBX_LE;
    let env = Env::new(64, 64, pf);
    let (hextile, _) = generated(&env, 30, 20, 1);
    let rects = vec![
        (rect(0, 0, 2, 2), Encoding::Raw, vec![1; 16]),
        (rect(0, 0, 2, 2), Encoding::CopyRect, vec![0, 1, 0, 1]),
        (rect(0, 0, 30, 20), Encoding::Hextile, hextile),
        (
            rect(0, 0, 30, 20),
            Encoding::Trle,
            trle_rect(&env, 30, 20, 2),
        ),
        (rect(0, 0, 4, 4), Encoding::Tight, vec![0x80, 1, 2, 3]),
        (rect(0, 0, 0, 0), Encoding::DesktopName, with_u32_len(b"d")),
    ];
    let first = update(&rects);
    // The client switches to 16 bpp while the first update is on its way: the second
    // update is in the new format.
    let second = update(&[(rect(0, 0, 2, 2), Encoding::Raw, vec![1; 8])]);
    let stream = [first.clone(), legacy_cut_text(b"pw"), second.clone()].concat();
    for split in [5, first.len() - 1, first.len()] {
        let mut f = filter(pf);
        let mut got = run(&mut f, &stream[..split], split).expect("valid");
        f.set_pixel_format(PixelFormat::RGBX_LE);
        f.set_pixel_format(PF_RGB565_BE);
        got.extend(run(&mut f, &stream[split..], 3).expect("valid"));
        assert_eq!(
            got,
            [first.clone(), second.clone()].concat(),
            "split {split}"
        );
        assert!(f.is_at_message_boundary());
    }
}

fn assert_fails(pf: PixelFormat, limits: Limits, stream: &[u8], check: impl Fn(&Error) -> bool) {
    for chunk in [1, 7, stream.len()] {
        let mut f = ServerStreamFilter::new(limits, pf);
        let e = run(&mut f, stream, chunk).expect_err("invalid");
        assert!(check(&e.error), "{e}");
        // Final: the same error again.
        assert_eq!(f.filter(&[2], &mut Vec::new()), Err(e));
    }
}

#[test]
fn unknown_types_encodings_and_huge_sizes_end_the_session() {
    let pf = PixelFormat::RGBX_LE;
    let l = Limits::default();
    let limit = |kind: LimitKind| move |e: &Error| matches!(e, Error::LimitExceeded { limit, .. } if *limit == kind);
    assert_fails(pf, l, &[2, 7, 0, 0], |e| *e == Error::UnknownMessage(7));
    for enc in [
        Encoding::Unknown(99),
        Encoding::Fence,
        Encoding::ContinuousUpdates,
        Encoding::ExtendedClipboard,
        Encoding::CompressLevel(3),
        Encoding::Unknown(-240),
    ] {
        let msg = update(&[(rect(0, 0, 1, 1), enc, vec![0; 64])]);
        assert_fails(pf, l, &msg, |e| {
            *e == Error::UnsupportedEncoding(enc.to_i32())
        });
    }
    // Cut text: over the limit, i32::MIN, an extended body without its flags.
    assert_fails(
        pf,
        l,
        &[3, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff],
        limit(LimitKind::CutTextBytes),
    );
    assert_fails(
        pf,
        l,
        &[3, 0, 0, 0, 0x80, 0, 0, 0],
        limit(LimitKind::CutTextBytes),
    );
    assert_fails(pf, l, &[3, 0, 0, 0, 0xff, 0xff, 0xff, 0xfe, 0, 0], |e| {
        matches!(e, Error::Invalid { .. })
    });
    assert_fails(pf, l, &[248, 0, 0, 0, 0, 0, 0, 0, 65], |e| {
        matches!(e, Error::Invalid { .. })
    });
    let huge = |enc: Encoding, r: Rect, payload: &[u8]| update(&[(r, enc, payload.to_vec())]);
    let big = rect(0, 0, 0xffff, 0xffff);
    for enc in [
        Encoding::Raw,
        Encoding::Hextile,
        Encoding::Trle,
        Encoding::Zlib,
    ] {
        assert_fails(pf, l, &huge(enc, big, &[]), limit(LimitKind::RectBytes));
    }
    for enc in [Encoding::Zlib, Encoding::Zrle] {
        let payload = [0xff; 4];
        assert_fails(
            pf,
            l,
            &huge(enc, rect(0, 0, 1, 1), &payload),
            limit(LimitKind::RectBytes),
        );
    }
    let name = huge(Encoding::DesktopName, rect(0, 0, 0, 0), &[0, 0x10, 0, 0]);
    assert_fails(pf, l, &name, limit(LimitKind::StringBytes));
    let cursor = huge(Encoding::Cursor, rect(0, 0, 600, 1), &[]);
    assert_fails(pf, l, &cursor, limit(LimitKind::CursorSide));
    let desktop = huge(Encoding::DesktopSize, rect(0, 0, 20000, 1), &[]);
    assert_fails(pf, l, &desktop, limit(LimitKind::FramebufferSide));
    let rre = huge(Encoding::Rre, rect(0, 0, 2, 2), &[0, 0, 0, 5]);
    assert_fails(pf, l, &rre, |e| matches!(e, Error::Invalid { .. }));
    let small = Limits {
        max_rect_bytes: 1000,
        max_jpeg_bytes: 1000,
        ..Limits::default()
    };
    for control in [0x00, 0x90] {
        let tight = huge(
            Encoding::Tight,
            rect(0, 0, 64, 64),
            &[control, 0xff, 0xff, 0x7f],
        );
        assert_fails(pf, small, &tight, |e| {
            matches!(e, Error::LimitExceeded { .. })
        });
    }
    // Malformed tiles, controls and filters fail as the decoders fail.
    for (enc, payload) in [
        (Encoding::Hextile, vec![0x20]),
        (Encoding::Hextile, vec![0x08, 1]),
        (Encoding::Trle, vec![17]),
        (Encoding::Trle, vec![127]),
        (Encoding::Trle, vec![129]),
        (Encoding::Trle, vec![130, 1, 1, 1, 2, 2, 2, 5]),
        (Encoding::Trle, vec![128, 1, 1, 1, 0xff, 0xff]),
        (Encoding::Tight, vec![0xa0, 0]),
        (Encoding::Tight, vec![0xb0]),
        (Encoding::Tight, vec![0x40, 3]),
        (Encoding::TightPng, vec![0x40, 7]),
        (Encoding::Jpeg, vec![0xff, 0xd9]),
        (Encoding::Jpeg, vec![0xff, 0xd8, 0x00]),
        (Encoding::Jpeg, vec![0xff, 0xd8, 0xff, 0x00]),
        (Encoding::Jpeg, vec![0xff, 0xd8, 0xff, 0xe0, 0, 1]),
    ] {
        let msg = huge(enc, rect(0, 0, 4, 4), &payload);
        assert_fails(pf, l, &msg, |e| matches!(e, Error::Invalid { .. }));
        // The decoder refuses it too.
        let mut env = Env::new(64, 64, pf);
        assert!(
            matches!(
                env.run(enc, rect(0, 0, 4, 4), &payload),
                Err(Stall::Invalid(_))
            ),
            "{enc:?} {payload:?}"
        );
    }
    // Gradient and JPEG at 8 bits per pixel.
    for payload in [[0x40u8, 2], [0x90, 0]] {
        let msg = huge(Encoding::Tight, rect(0, 0, 4, 4), &payload);
        assert_fails(PF_CMAP8, l, &msg, |e| matches!(e, Error::Invalid { .. }));
    }
}

#[test]
fn random_bytes_and_chunkings_never_panic_nor_buffer() {
    let mut next = xorshift(0x0123_4567_89ab_cdef);
    let mut byte = || next().to_le_bytes()[0];
    for i in 0..3000u32 {
        let len = 1 + usize::from(byte()) * 4;
        let mut data: Vec<u8> = (0..len).map(|_| byte()).collect();
        // Mostly plausible starts: a FramebufferUpdate or a cut text.
        match i % 3 {
            0 => data[..4.min(len)].copy_from_slice(&[0, 0, 0, 3][..4.min(len)]),
            1 => data[0] = 3,
            _ => {}
        }
        let pf = FORMATS[usize::try_from(i).unwrap_or(0) % FORMATS.len()];
        let chunk = 1 + usize::from(byte()) % 40;
        let mut f = filter(pf);
        let chunked = run(&mut f, &data, chunk);
        let mut whole = filter(pf);
        let at_once = run(&mut whole, &data, data.len());
        assert_eq!(
            chunked.is_ok(),
            at_once.is_ok(),
            "{data:?} in chunks of {chunk}"
        );
        if let (Ok(got), Ok(all)) = (&chunked, &at_once) {
            assert_eq!(got, all);
            assert_eq!(f.dropped(), whole.dropped());
        }
        if let Ok(got) = chunked {
            // What passed on is followed alike and holds no cut text.
            let mut again = filter(pf);
            let twice = run(&mut again, &got, 4096).expect("forwarded bytes follow");
            assert_eq!(twice, got);
            assert_eq!(again.dropped(), 0);
        }
    }
}

#[test]
fn from_server_init_reads_and_checks_the_pixel_format() {
    let mut init = vec![0, 4, 0, 3];
    PF_RGB565_BE.write(&mut init);
    init.extend([0, 0, 0, 0]);
    let f = ServerStreamFilter::from_server_init(Limits::default(), &init).expect("valid");
    assert_eq!(f.pixel_format, PF_RGB565_BE);
    assert!(ServerStreamFilter::from_server_init(Limits::default(), &init[..10]).is_err());
    init[4] = 12;
    assert!(ServerStreamFilter::from_server_init(Limits::default(), &init).is_err());
}
