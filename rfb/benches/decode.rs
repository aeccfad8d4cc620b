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
    use rfb::{Client, ClientConfig, Event};
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

    pub fn decoders(c: &mut Criterion) {
        keep_freed_memory();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut all = load(&root.join("tests/transcripts"));
        all.extend(load(&root.join("benches/data")));
        assert!(!all.is_empty(), "no transcripts found");
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
