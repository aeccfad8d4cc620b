//! The wasm-vs-noVNC decoder benchmark (`cargo xtask bench decoders` runs it; by hand:
//! `cargo test -p tests --test bench_decoders -- --ignored --nocapture`). A measurement, not
//! a test of speed: it fails only when the two decoders paint different pixels.
//!
//! Builds `bench-wasm` for wasm32 twice — `release` (opt-level 3) and as the viewer ships
//! (`wasm-release`: opt-level "z" with the decoders at 3, fat LTO, wasm-opt -Oz) — lays out a page in a
//! temporary directory — `bench-wasm/www`, the wasm package, noVNC's `core/` and pako from
//! the Debian package (noVNC 1.3; `$NOVNC_DIR` to use another), noVNC 1.4.0's ZRLE decoder
//! when `$NOVNC_ZRLE_JS` or `target/bench-decoders/novnc-1.4.0` has it (1.3 has none), and
//! every recorded transcript — serves it on loopback, opens it in headless Chromium and
//! collects the results into `target/bench-decoders/browser.{json,tsv}`.
//!
//! `$BENCH_ONLY` (substring of transcript names), `$BENCH_ROUNDS` and `$BENCH_ROUND_MS` are
//! passed to the page.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tests::browser::Browser;
use tests::proc::wait_until;
use tests::TempDir;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {cmd:?}");
    let st = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    anyhow::ensure!(st.success(), "{cmd:?} failed: {st}");
    Ok(())
}

/// `bench-wasm` built with cargo `profile` through wasm-bindgen into `out`; with `shrink`,
/// then `wasm-opt -Oz` as `cargo xtask build-web` does for the viewer. Returns whether
/// wasm-opt ran (it needs binaryen 116+: the system's, or the one `cargo xtask setup` puts in
/// `~/.cache/vncgate/binaryen`).
fn build_wasm(out: &Path, profile: &str, shrink: bool) -> anyhow::Result<bool> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo).current_dir(root()).args([
        "build",
        "--profile",
        profile,
        "-p",
        "bench-wasm",
        "--target",
        "wasm32-unknown-unknown",
    ]))?;
    let wasm = target_dir()
        .join("wasm32-unknown-unknown")
        .join(profile)
        .join("bench_wasm.wasm");
    run(Command::new("wasm-bindgen")
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(out)
        .arg(&wasm))?;
    let Some(wasm_opt) = shrink.then(wasm_opt).flatten() else {
        return Ok(false);
    };
    let bg = out.join("bench_wasm_bg.wasm");
    run(Command::new(wasm_opt)
        .args([
            "-Oz",
            "--enable-simd",
            "--enable-bulk-memory",
            "--enable-nontrapping-float-to-int",
        ])
        .args([
            "--enable-sign-ext",
            "--enable-mutable-globals",
            "--enable-reference-types",
        ])
        .arg("-o")
        .arg(&bg)
        .arg(&bg))?;
    Ok(true)
}

/// A wasm-opt of version 116 or later (older ones corrupt wasm-bindgen's externref table).
fn wasm_opt() -> Option<PathBuf> {
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let candidates = [
        PathBuf::from("wasm-opt"),
        home.join(".cache/vncgate/binaryen/node_modules/.bin/wasm-opt"),
    ];
    candidates.into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .find_map(|w| w.parse::<u32>().ok())
            })
            .is_some_and(|v| v >= 116)
    })
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

/// Copies every `*.bin` with a `.meta` from `dirs` into `out`; returns the page's manifest.
fn transcripts(dirs: &[PathBuf], out: &Path) -> anyhow::Result<Vec<Value>> {
    std::fs::create_dir_all(out)?;
    let mut list = Vec::new();
    for dir in dirs {
        let mut metas: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "meta"))
            .collect();
        metas.sort();
        for meta in metas {
            let text = std::fs::read_to_string(&meta)?;
            let field = |k: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                    .map(str::to_owned)
                    .with_context(|| format!("{} has no {k}=", meta.display()))
            };
            let name = meta
                .file_stem()
                .context("file stem")?
                .to_string_lossy()
                .into_owned();
            let encodings: Vec<i32> = field("encodings")?
                .split(',')
                .map(|n| n.parse::<i32>())
                .collect::<Result<_, _>>()?;
            std::fs::copy(meta.with_extension("bin"), out.join(format!("{name}.bin")))?;
            list.push(json!({
                "name": name,
                "file": format!("{name}.bin"),
                "encodings": encodings,
                "width": field("width")?.parse::<u32>()?,
                "height": field("height")?.parse::<u32>()?,
                "sha256": field("sha256")?,
                "lossy": field("lossy").is_ok_and(|v| v == "1"),
            }));
        }
    }
    Ok(list)
}

/// A static file server on loopback for one directory; stops when dropped.
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start(dir: PathBuf) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(conn) = conn {
                    let dir = dir.clone();
                    std::thread::spawn(move || {
                        let _ = serve(conn, &dir);
                    });
                }
            }
        });
        Ok(Self { port, stop })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Answers GET requests on one connection (keep-alive) with files under `dir`.
fn serve(conn: TcpStream, dir: &Path) -> anyhow::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header == "\r\n" {
                break;
            }
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/");
        let path = path
            .split('?')
            .next()
            .unwrap_or("/")
            .trim_start_matches('/');
        let path = if path.is_empty() { "index.html" } else { path };
        let file = dir.join(path);
        let body = if path.split('/').any(|p| p == "..") {
            None
        } else {
            std::fs::read(&file).ok()
        };
        let Some(body) = body else {
            out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
            continue;
        };
        let mime = match file.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript",
            Some("wasm") => "application/wasm",
            Some("json") => "application/json",
            _ => "application/octet-stream",
        };
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\r\n",
            body.len()
        )?;
        out.write_all(&body)?;
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[test]
#[ignore = "a benchmark: cargo xtask bench decoders"]
fn rfb_wasm_against_novnc() -> anyhow::Result<()> {
    let site = TempDir::new("bench-decoders")?;
    let www = root().join("bench-wasm/www");
    copy_dir(&www, site.path())?;
    // Two builds of the same code: `release` (opt-level 3, thin LTO) and the viewer's
    // shipping build (`wasm-release`: opt-level "z" with the decoders at 3, fat LTO, then wasm-opt -Oz).
    build_wasm(&site.path().join("pkg"), "release", false)?;
    let shrunk = build_wasm(&site.path().join("pkg-viewer"), "wasm-release", true)?;
    if !shrunk {
        eprintln!("note: no wasm-opt 116+: the viewer-build column is without wasm-opt");
    }

    let novnc = PathBuf::from(env_or("NOVNC_DIR", "/usr/share/novnc"));
    copy_dir(&novnc.join("core"), &site.path().join("novnc/core"))
        .context("noVNC not found: apt-get install novnc, or set $NOVNC_DIR")?;
    copy_dir(
        &novnc.join("vendor/pako"),
        &site.path().join("novnc/vendor/pako"),
    )?;
    let zrle_dest = site.path().join("novnc/core/decoders/zrle.js");
    let zrle_src = std::env::var_os("NOVNC_ZRLE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            target_dir().join("bench-decoders/novnc-1.4.0/package/core/decoders/zrle.js")
        });
    let zrle_from_14 = !zrle_dest.exists() && zrle_src.exists();
    if zrle_from_14 {
        std::fs::copy(&zrle_src, &zrle_dest)?;
        eprintln!("ZRLE: noVNC 1.4.0's decoder from {}", zrle_src.display());
    }

    let dirs = [
        root().join("rfb/tests/transcripts"),
        root().join("rfb/benches/data"),
    ];
    let manifest = transcripts(&dirs, &site.path().join("transcripts"))?;
    std::fs::write(
        site.path().join("transcripts.json"),
        serde_json::to_vec(&manifest)?,
    )?;

    let server = Server::start(site.path().to_path_buf())?;
    let browser = Browser::start()?;
    let url = format!(
        "http://127.0.0.1:{}/index.html?only={}&rounds={}&round_ms={}",
        server.port,
        env_or("BENCH_ONLY", ""),
        env_or("BENCH_ROUNDS", "7"),
        env_or("BENCH_ROUND_MS", "300"),
    );
    browser.goto(&url)?;
    let mut shown = 0;
    wait_until(
        Duration::from_secs(40 * 60),
        "the benchmark page to finish",
        || {
            std::thread::sleep(Duration::from_secs(1));
            let v = browser.eval(
            "return [window.benchState, window.benchError || null, (window.benchResults || []).length];",
        )?;
            if v[2].as_u64().unwrap_or(0) > shown as u64 {
                let r = browser.eval(&format!("return window.benchResults.slice({shown});"))?;
                for r in r.as_array().into_iter().flatten() {
                    eprintln!("  {}", summary(r));
                    shown += 1;
                }
            }
            match v[0].as_str() {
                Some("done") => Ok(Some(())),
                Some("error") => bail!("the page failed: {}", v[1]),
                _ => Ok(None),
            }
        },
    )?;
    let results = browser.eval("return window.benchResults;")?;
    let meta = browser.eval("return window.benchMeta;")?;
    let report = json!({
        "meta": meta,
        "zrle_from_novnc_1_4_0": zrle_from_14,
        "viewer_build_wasm_opt": shrunk,
        "results": results,
    });

    let out = target_dir().join("bench-decoders");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("browser.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    // Per replay: the median round and the fastest round (steadier on a shared machine).
    let mut tsv = String::from(
        "# name\tpainted_bytes\twasm_median_ms\tnovnc_median_ms\twasm_best_ms\tnovnc_best_ms\t\
         viewer_build_median_ms\tviewer_build_best_ms\tnote\n",
    );
    let mut errors = Vec::new();
    for r in results.as_array().into_iter().flatten() {
        let num = |k: &str| r[k].as_f64().map_or("-".to_owned(), |v| format!("{v}"));
        let best = |k: &str| {
            r[k].as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_f64)
                .reduce(f64::min)
                .map_or("-".to_owned(), |v| format!("{v}"))
        };
        let note = r["error"]
            .as_str()
            .or(r["novnc_note"].as_str())
            .unwrap_or("");
        tsv.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            r["name"].as_str().unwrap_or("?"),
            num("painted_bytes"),
            num("wasm_ms"),
            num("novnc_ms"),
            best("wasm_ms_rounds"),
            best("novnc_ms_rounds"),
            num("viewer_build_ms"),
            best("viewer_build_ms_rounds"),
            note.replace(['\t', '\n'], " "),
        ));
        if let Some(e) = r["error"].as_str() {
            errors.push(format!("{}: {e}", r["name"]));
        }
    }
    std::fs::write(out.join("browser.tsv"), tsv)?;
    eprintln!("wrote {}", out.join("browser.json").display());
    drop(browser);
    drop(server);
    anyhow::ensure!(errors.is_empty(), "pixels differ:\n{}", errors.join("\n"));
    Ok(())
}

/// One line per transcript for the console.
fn summary(r: &Value) -> String {
    let mbps = |ms: Option<f64>| match (r["painted_bytes"].as_f64(), ms) {
        (Some(b), Some(ms)) if ms > 0.0 => format!("{:8.1} MB/s", b / 1e6 / (ms / 1e3)),
        _ => format!("{:>13}", "n/a"),
    };
    let (w, n) = (r["wasm_ms"].as_f64(), r["novnc_ms"].as_f64());
    let ratio = match (w, n) {
        (Some(w), Some(n)) if w > 0.0 => format!("{:5.2}×", n / w),
        _ => "   - ".to_owned(),
    };
    format!(
        "{:<28} wasm {}  viewer build {}  noVNC {}  {ratio}  {}",
        r["name"].as_str().unwrap_or("?"),
        mbps(w),
        mbps(r["viewer_build_ms"].as_f64()),
        mbps(n),
        r["error"]
            .as_str()
            .or(r["novnc_note"].as_str())
            .unwrap_or("same pixels"),
    )
}
