//! Decoder throughput on real recorded server streams: every transcript in
//! `tests/transcripts` (320×240) and `benches/data` (1280×800, recorded by
//! `cargo test -p tests --test record_transcripts -- --ignored record_large`) is replayed
//! through [`rfb::Client`], as the viewer drives it.
//!
//! Throughput is the RGBA bytes the updates painted (the area of each update's dirty rectangle
//! × 4) per second of replay; the handshake in front of the updates is a few dozen bytes and
//! does not show. Each iteration starts a fresh client, as the zlib streams of ZRLE and Tight
//! are per connection. `cargo xtask bench decoders` runs this and the wasm/noVNC page, and
//! prints the table that `docs/benchmarks.md` keeps.
//!
//! Two feeds per transcript: `whole` hands the client the recording at once (pure decoding);
//! `64k` hands it over in 64 KiB pieces as the gateway relays them (`READ_BUF_BYTES`), which
//! adds the cost of retrying a rectangle that is not complete yet.
//!
//! No server records TRLE, so `x11vnc-1280x800-as-trle` is synthesised from the x11vnc
//! Hextile transcript's picture (see `synthetic_trle`) and fed the same two ways.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    // What `criterion_group!` and `criterion_main!` expand to, with the group behind a cfg.
    let mut c = criterion::Criterion::default().configure_from_args();
    native::decoders(&mut c);
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}

/// criterion does not build for wasm32, where `cargo xtask test` checks every target of rfb;
/// the wasm figures come from `bench-wasm`.
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use criterion::{BenchmarkId, Criterion, Throughput};
    use rfb::messages::encoding::Encoding;
    use rfb::{Client, ClientConfig, Event, PixelFormat};
    use sha2::{Digest, Sha256};

    /// One recorded session and what it should decode to.
    struct Transcript {
        name: String,
        bytes: Vec<u8>,
        encodings: Vec<Encoding>,
        /// The X server's pixels; a lossy (JPEG) transcript only approximates them.
        sha256: String,
        lossy: bool,
    }

    fn load(dir: &Path) -> Vec<Transcript> {
        let mut metas: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        metas.retain(|p| p.extension().is_some_and(|e| e == "meta"));
        metas.sort();
        metas
            .into_iter()
            .map(|meta| {
                let text = std::fs::read_to_string(&meta).expect("readable .meta");
                let field = |k: &str| {
                    text.lines()
                        .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                        .map(str::to_owned)
                };
                Transcript {
                    name: meta
                        .file_stem()
                        .expect("file stem")
                        .to_string_lossy()
                        .into_owned(),
                    bytes: std::fs::read(meta.with_extension("bin")).expect("readable .bin"),
                    encodings: field("encodings")
                        .expect("encodings= in .meta")
                        .split(',')
                        .map(|n| Encoding::from_i32(n.parse().expect("encoding number")))
                        .collect(),
                    sha256: field("sha256").expect("sha256= in .meta"),
                    lossy: field("lossy").is_some_and(|v| v == "1"),
                }
            })
            .collect()
    }

    /// Replays `t` in pieces of `chunk` bytes; returns the client and the RGBA bytes painted.
    fn replay(t: &Transcript, chunk: usize) -> (Client, u64) {
        let mut c = Client::new(ClientConfig {
            encodings: t.encodings.clone(),
            ..ClientConfig::default()
        });
        let mut painted = 0u64;
        for part in t.bytes.chunks(chunk) {
            c.receive(part)
                .unwrap_or_else(|e| panic!("{}: {e}", t.name));
            while c.poll_transmit().is_some() {}
            while let Some(e) = c.poll_event() {
                if e == Event::UpdateComplete {
                    if let Some(d) = c.take_dirty() {
                        painted += u64::from(d.w) * u64::from(d.h) * 4;
                    }
                }
            }
        }
        (c, painted)
    }

    fn hex(d: &[u8]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Keeps freed memory in the process, as wasm's allocator does. Every replay builds a fresh
    /// client: a 1280×800 framebuffer and Hextile's scratch canvas are 4 MB each, and glibc would
    /// hand such blocks back to the kernel on drop and fault them in again, zeroed, on the next
    /// replay — 70 % of a replay of one full-screen Hextile rectangle. A session allocates them
    /// once, so that is not decoding.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn keep_freed_memory() {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        // 32 MiB: the most glibc accepts for the mmap threshold on 64-bit.
        #[allow(unsafe_code)]
        // SAFETY: mallopt only tunes glibc's allocator; called before the benchmarks allocate.
        let ok = unsafe {
            mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1
        };
        if !ok {
            eprintln!("note: mallopt failed; replays include page faults of fresh framebuffers");
        }
    }

    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    fn keep_freed_memory() {}

    /// No recorded server sends TRLE (15): TigerVNC and libvncserver have no encoder for it. So
    /// the TRLE case is made here from `src`'s final picture: one full-screen TRLE rectangle,
    /// each tile in its smallest form (solid, packed palette, plain RLE, palette RLE, palette
    /// reuse or raw), behind an RFB 3.8 None handshake.
    fn synthetic_trle(src: &Transcript, name: &str) -> Transcript {
        let (client, _) = replay(src, src.bytes.len());
        let fb = client.framebuffer().expect("connected");
        let (w, h) = (fb.width(), fb.height());
        let mut s = b"RFB 003.008\n\x01\x01\x00\x00\x00\x00".to_vec();
        s.extend(w.to_be_bytes());
        s.extend(h.to_be_bytes());
        PixelFormat::RGBX_LE.write(&mut s);
        s.extend([0, 0, 0, 4]);
        s.extend(b"trle");
        // FramebufferUpdate with one rectangle: 0,0 w×h, encoding 15.
        s.extend([0, 0, 0, 1]);
        for v in [0, 0, w, h] {
            s.extend(v.to_be_bytes());
        }
        s.extend(15i32.to_be_bytes());
        let mut previous = Vec::new();
        for ty in (0..usize::from(h)).step_by(16) {
            for tx in (0..usize::from(w)).step_by(16) {
                let (tw, th) = (16.min(usize::from(w) - tx), 16.min(usize::from(h) - ty));
                let tile: Vec<[u8; 3]> = (ty..ty + th)
                    .flat_map(|y| (tx..tx + tw).map(move |x| (y * usize::from(w) + x) * 4))
                    .map(|i| [fb.rgba()[i], fb.rgba()[i + 1], fb.rgba()[i + 2]])
                    .collect();
                trle_tile(&tile, tw, &mut previous, &mut s);
            }
        }
        Transcript {
            name: name.to_owned(),
            bytes: s,
            encodings: vec![Encoding::Trle],
            sha256: src.sha256.clone(),
            lossy: src.lossy,
        }
    }

    /// Appends one TRLE tile of `px` (rows of `tw` CPIXELs) in its smallest subencoding.
    fn trle_tile(px: &[[u8; 3]], tw: usize, previous: &mut Vec<[u8; 3]>, out: &mut Vec<u8>) {
        // Distinct colours, counted up to 128 (one more than a palette holds).
        let mut palette: Vec<[u8; 3]> = Vec::new();
        let mut runs: Vec<([u8; 3], usize)> = Vec::new();
        for p in px {
            if palette.len() <= 127 && !palette.contains(p) {
                palette.push(*p);
            }
            match runs.last_mut() {
                Some((c, n)) if c == p => *n += 1,
                _ => runs.push((*p, 1)),
            }
        }
        let run_bytes = |n: usize| (n - 1) / 255 + 1;
        let push_run = |out: &mut Vec<u8>, n: usize| {
            let mut rest = n - 1;
            while rest >= 255 {
                out.push(255);
                rest -= 255;
            }
            out.push(rest as u8);
        };
        let index = |p: &[u8; 3]| palette.iter().position(|c| c == p).unwrap_or(0) as u8;
        if let [only] = palette[..] {
            out.push(1);
            out.extend(only);
            return;
        }
        let reuse = *previous == palette;
        let palette_bytes = if reuse { 0 } else { 3 * palette.len() };
        let bits = match palette.len() {
            2 => 1,
            3..=4 => 2,
            _ => 4,
        };
        let th = px.len() / tw;
        let packed = (palette.len() <= 16).then(|| palette_bytes + th * (tw * bits).div_ceil(8));
        let palette_rle = (palette.len() <= 127).then(|| {
            let runs: usize = runs
                .iter()
                .map(|&(_, n)| if n == 1 { 1 } else { 1 + run_bytes(n) })
                .sum();
            palette_bytes + runs
        });
        let plain_rle: usize = runs.iter().map(|&(_, n)| 3 + run_bytes(n)).sum();
        let raw = 3 * px.len();
        let best = [packed, palette_rle, Some(plain_rle), Some(raw)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(raw);
        if Some(best) == packed {
            out.push(if reuse { 127 } else { palette.len() as u8 });
            if !reuse {
                palette.iter().for_each(|c| out.extend(c));
            }
            for row in px.chunks(tw) {
                let mut acc = 0u16;
                let mut used = 0;
                for p in row {
                    acc = acc << bits | u16::from(index(p));
                    used += bits;
                    if used == 8 {
                        out.push(acc as u8);
                        (acc, used) = (0, 0);
                    }
                }
                if used > 0 {
                    out.push((acc << (8 - used)) as u8);
                }
            }
        } else if Some(best) == palette_rle {
            out.push(if reuse {
                129
            } else {
                128 + palette.len() as u8
            });
            if !reuse {
                palette.iter().for_each(|c| out.extend(c));
            }
            for (c, n) in &runs {
                if *n == 1 {
                    out.push(index(c));
                } else {
                    out.push(0x80 | index(c));
                    push_run(out, *n);
                }
            }
        } else if best == plain_rle {
            out.push(128);
            for (c, n) in &runs {
                out.extend(c);
                push_run(out, *n);
            }
            return;
        } else {
            out.push(0);
            px.iter().for_each(|c| out.extend(c));
            return;
        }
        *previous = palette;
    }

    pub fn decoders(c: &mut Criterion) {
        keep_freed_memory();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut all = load(&root.join("tests/transcripts"));
        all.extend(load(&root.join("benches/data")));
        assert!(!all.is_empty(), "no transcripts found");
        if let Some(src) = all.iter().find(|t| t.name == "x11vnc-1280x800-hextile") {
            let trle = synthetic_trle(src, "x11vnc-1280x800-as-trle");
            all.push(trle);
        }
        let mut group = c.benchmark_group("decode");
        group
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        for t in &all {
            // Correctness before timing: lossless transcripts decode to the X server's pixels.
            let (client, painted) = replay(t, t.bytes.len());
            let fb = client.framebuffer().expect("connected");
            if !t.lossy {
                assert_eq!(hex(&Sha256::digest(fb.rgba())), t.sha256, "{}", t.name);
            }
            group.throughput(Throughput::Bytes(painted));
            for (feed, chunk) in [("whole", t.bytes.len()), ("64k", 64 * 1024)] {
                // The small transcripts fit in one piece: `64k` would repeat `whole`.
                if chunk < t.bytes.len() || feed == "whole" {
                    group.bench_with_input(BenchmarkId::new(&t.name, feed), t, |b, t| {
                        b.iter(|| replay(t, chunk))
                    });
                }
            }
        }
        group.finish();
    }
}
