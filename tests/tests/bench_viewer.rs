//! Viewer latency and frame pacing against a real Xvnc through vncgate, in headless Chromium:
//! `cargo xtask bench viewer` (or `cargo test -p tests --test bench_viewer -- --ignored
//! --nocapture`). A benchmark, not a test: it measures and prints, it asserts nothing about
//! the figures.
//!
//! - Latency: the time from changing the X root window's colour (`xsetroot`) to the new
//!   colour on the canvas, seen by a `requestAnimationFrame` loop in the page. Both clocks are
//!   this machine's wall clock (`Date.now()` and `SystemTime`), in milliseconds.
//! - Frame pacing: while the root colour changes as fast as `xsetroot` can run, the intervals
//!   between the colour changes the page shows.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tests::browser::Browser;
use tests::gateway::Gateway;
use tests::xvnc::Xvnc;

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// Installs a loop that records when pixel (4,4) of the canvas changes, as
/// `[time_ms, "r,g,b"]` in `window.__changes`. It looks once per frame, in a task queued from
/// `requestAnimationFrame`, so it runs after every frame callback of that frame (the viewer
/// paints in one) and sees a change in the frame that shows it, not one frame later.
const WATCH: &str = "
  window.__changes = [];
  const c = document.getElementById('screen');
  const ctx = c.getContext('2d', { willReadFrequently: true });
  let last = '';
  function check() {
    const d = ctx.getImageData(4, 4, 1, 1).data;
    const k = d[0] + ',' + d[1] + ',' + d[2];
    if (k !== last) { window.__changes.push([Date.now(), k]); last = k; }
  }
  function tick() {
    setTimeout(check, 0);
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
  return null;";

/// The server's part of the latency: a minimal RFB client straight to Xvnc (no gateway, no
/// browser) asks for incremental updates of pixel (4,4) in Raw encoding and times
/// `xsetroot` → the update's first byte, `rounds` times. Milliseconds, sorted.
fn server_latency(port: u16, display: &str, rounds: u32) -> anyhow::Result<Vec<f64>> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    let mut buf = [0u8; 64];
    s.read_exact(&mut buf[..12])?;
    s.write_all(b"RFB 003.008\n")?;
    s.read_exact(&mut buf[..1])?;
    let n = usize::from(buf[0]);
    s.read_exact(&mut buf[..n])?;
    anyhow::ensure!(buf[..n].contains(&1), "Xvnc offers no security type None");
    s.write_all(&[1])?;
    s.read_exact(&mut buf[..4])?; // SecurityResult
    s.write_all(&[1])?; // shared
    s.read_exact(&mut buf[..24])?;
    let name_len = u32::from_be_bytes([buf[20], buf[21], buf[22], buf[23]]) as usize;
    let mut name = vec![0u8; name_len];
    s.read_exact(&mut name)?;
    s.write_all(&[2, 0, 0, 1, 0, 0, 0, 0])?; // SetEncodings: Raw only
    let request = |s: &mut std::net::TcpStream, incremental: u8| {
        s.write_all(&[3, incremental, 0, 4, 0, 4, 0, 1, 0, 1])
    };
    let read_update = |s: &mut std::net::TcpStream| -> anyhow::Result<()> {
        let mut head = [0u8; 4];
        s.read_exact(&mut head)?;
        anyhow::ensure!(head[0] == 0, "message type {}", head[0]);
        for _ in 0..u16::from_be_bytes([head[2], head[3]]) {
            let mut rect = [0u8; 12];
            s.read_exact(&mut rect)?;
            let (w, h) = (
                usize::from(u16::from_be_bytes([rect[4], rect[5]])),
                usize::from(u16::from_be_bytes([rect[6], rect[7]])),
            );
            anyhow::ensure!(rect[8..12] == [0, 0, 0, 0], "not Raw");
            let mut pixels = vec![0u8; w * h * 4];
            s.read_exact(&mut pixels)?;
        }
        Ok(())
    };
    request(&mut s, 0)?;
    read_update(&mut s)?;
    let mut out = Vec::new();
    for i in 0..rounds {
        request(&mut s, 1)?;
        std::thread::sleep(Duration::from_millis(30));
        let t0 = now_ms();
        xsetroot(display, &format!("#{:02x}4060", (i * 13) % 256))?;
        read_update(&mut s)?;
        out.push(now_ms() - t0);
    }
    out.sort_by(f64::total_cmp);
    Ok(out)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn xsetroot(display: &str, colour: &str) -> anyhow::Result<()> {
    tests::proc::run_x_client(display, "xsetroot", &["-solid", colour])
}

#[test]
#[ignore = "a benchmark: run with cargo xtask bench viewer"]
fn viewer_latency_and_frame_pacing() -> anyhow::Result<()> {
    let desk = Xvnc::start(1280, 800, &["-SecurityTypes", "None"])?;
    let display = desk.display_env();
    xsetroot(&display, "#000000")?;
    let server = server_latency(desk.port, &display, 30)?;
    let gate = Gateway::start(&[
        "--target",
        &format!("desk=127.0.0.1:{}", desk.port),
        "--danger-no-auth",
    ])?;
    let browser = Browser::start()?;
    browser.goto(&gate.url("#target=desk"))?;
    browser.wait_for_state("connected", Duration::from_secs(20))?;
    // What a first visit downloads up to a connected session, as Chromium transferred it
    // (headers and compressed bodies: brotli when built, else gzip).
    let download = browser.eval(
        "const nav = performance.getEntriesByType('navigation')[0];\
         const res = performance.getEntriesByType('resource');\
         return [(nav ? nav.transferSize : 0) + res.reduce((s, e) => s + e.transferSize, 0),\
                 res.length + 1,\
                 res.filter((e) => e.name.endsWith('.wasm')).reduce((s, e) => s + e.transferSize, 0)];",
    )?;
    std::thread::sleep(Duration::from_millis(500));
    browser.eval(WATCH)?;

    // Latency: one change at a time, waiting for it to show.
    let mut latencies = Vec::new();
    let mut xsetroot_ms = Vec::new();
    for i in 0..40u32 {
        let colour = format!(
            "#{:02x}{:02x}{:02x}",
            10 + i * 5,
            200 - i * 3,
            (i * 37) % 256
        );
        let rgb = format!("{},{},{}", 10 + i * 5, 200 - i * 3, (i * 37) % 256);
        let t0 = now_ms();
        xsetroot(&display, &colour)?;
        xsetroot_ms.push(now_ms() - t0);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let v = browser.eval(&format!(
                "const f = window.__changes.find(c => c[1] === '{rgb}'); return f ? f[0] : null;"
            ))?;
            if let Some(seen) = v.as_f64() {
                latencies.push(seen - t0);
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "colour {colour} never reached the canvas"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    latencies.sort_by(f64::total_cmp);
    xsetroot_ms.sort_by(f64::total_cmp);

    // Frame pacing: changes as fast as xsetroot runs, for 5 s.
    browser.eval("window.__changes = []; return null;")?;
    let until = Instant::now() + Duration::from_secs(5);
    let mut sent = 0u32;
    while Instant::now() < until {
        xsetroot(&display, if sent % 2 == 0 { "#ff0000" } else { "#0000ff" })?;
        sent += 1;
    }
    std::thread::sleep(Duration::from_millis(300));
    let v = browser.eval("return window.__changes.map(c => c[0]);")?;
    let times: Vec<f64> = v
        .as_array()
        .map(|a| a.iter().filter_map(|t| t.as_f64()).collect())
        .unwrap_or_default();
    let mut intervals: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let span_s = (times.last().unwrap_or(&0.0) - times.first().unwrap_or(&0.0)) / 1000.0;
    intervals.sort_by(f64::total_cmp);

    println!(
        "page download up to a connected session (cold browser, Chromium's transferSize): {} bytes in {} requests, of which the wasm {} bytes",
        download[0], download[1], download[2]
    );
    println!(
        "viewer latency, server change → canvas, {} samples (ms):",
        latencies.len()
    );
    println!(
        "  p50 {:.1}  p95 {:.1}  max {:.1}  (xsetroot itself: p50 {:.1} ms, included)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies.last().copied().unwrap_or(f64::NAN),
        percentile(&xsetroot_ms, 0.5)
    );
    println!(
        "  of which the server (Xvnc, xsetroot → update at a native client, no gateway or browser): p50 {:.1}  p95 {:.1}  max {:.1}",
        percentile(&server, 0.5),
        percentile(&server, 0.95),
        server.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "frame pacing: {} changes sent in 5 s, {} shown, {:.1} frames/s; interval p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        sent,
        times.len(),
        times.len() as f64 / span_s.max(0.001),
        percentile(&intervals, 0.5),
        percentile(&intervals, 0.95),
        intervals.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}
