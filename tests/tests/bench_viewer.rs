//! Our viewer beside noVNC, in the same headless Chromium, against the same real Xvnc through
//! a release vncgate: `cargo xtask bench viewer` (report in `target/bench-viewer/report.md`).
//! A benchmark, not a test: it measures and prints, it asserts nothing about the figures.
//!
//! noVNC is Debian's 1.3 `vnc.html`, served by a second vncgate with `--web-root`, connected
//! through its `/websockify?token=desk`; ours is vncgate's own page with `#target=desk`. Each
//! figure is measured for both, in interleaved rounds, each round with a cold browser:
//!
//! - download: what the page transferred up to a connected session (Chromium's resource
//!   timing: `transferSize` of the navigation and every resource);
//! - first complete picture: from navigation to both corners of the canvas showing the desktop;
//! - latency: from changing the X root window's colour (`xsetroot`) to the new colour on the
//!   canvas, seen by a `requestAnimationFrame` loop in the page (both clocks are this
//!   machine's wall clock, in milliseconds), 60 changes a round, each started at another phase
//!   of the page's frame clock; and the frames shown while the colour changes as fast as
//!   `xsetroot` can run;
//! - text and video-like content: frames shown per second while three xterms scroll text, and
//!   while ImageMagick's `animate` plays photo-like 960×540 frames at 25 and 60 per second;
//!   and the renderer's CPU seconds (its processes in /proc) for the same time;
//! - photo-like latency: from `display -remote` switching ImageMagick's `display` to the next
//!   of those frames to the page showing it;
//! - on a slow link (2 Mbit/s, 50 ms each way, through `tests::slow_link` between the browser
//!   and the gateway: this kernel has no `netem`, and Chromium's throttling leaves WebSockets
//!   alone): the first complete picture, the update latency and the text's frames shown.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tests::browser::Browser;
use tests::gateway::Gateway;
use tests::slow_link::{Line, SlowLink};
use tests::xvnc::Xvnc;

#[path = "bench_viewer/page.rs"]
mod page;
#[path = "bench_viewer/profile.rs"]
mod profile;
use page::{count_frames, watch, STAMP_MESSAGES};

/// The desktop's size.
const W: u32 = 1920;
const H: u32 = 1080;
/// Update latency samples per round.
const LATENCY_SAMPLES: u32 = 60;
/// One frame of the page's 60 Hz frame clock, in ms.
const FRAME_MS: f64 = 1000.0 / 60.0;
/// Photo-like update latency samples per round (see `photo_latency`).
const PHOTO_SAMPLES: usize = 30;
/// Steps of this fraction of a frame, modulo one frame, spread the samples' phases evenly.
const GOLDEN_RATIO_FRACTION: f64 = 0.618_034;
// Each sample has its own colour, every component within 0..=255 (see the latency loop).
const _: () = assert!(10 + (LATENCY_SAMPLES - 1) * 4 <= 255 && (LATENCY_SAMPLES - 1) * 3 <= 200);
/// How long each kind of content runs.
const CONTENT: Duration = Duration::from_secs(5);
/// Interleaved rounds (ours, noVNC, ours, noVNC, …).
const ROUNDS: usize = 3;
/// The slow link: a thin line to a distant gateway.
const SLOW: Line = Line {
    bits_per_second: 2_000_000,
    delay: Duration::from_millis(50),
};

/// Debian's noVNC, and the policy its page needs (inline module script and styles).
const NOVNC: &str = "/usr/share/novnc";
const NOVNC_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
                         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' wss:";

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// Whether the pages' WebSocket messages are stamped ([`STAMP_MESSAGES`]).
fn stamps() -> bool {
    std::env::var_os("BENCH_VIEWER_STAMPS").is_some()
}

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

/// One of the two viewers: its gateway, the page to open and how to find its canvas.
struct Viewer {
    name: &'static str,
    gate: Gateway,
    page: &'static str,
    canvas: &'static str,
}

/// One content run: frames shown per second and the renderer's CPU seconds per second.
#[derive(Debug, Default, Clone, Copy)]
struct Content {
    fps: f64,
    cpu: f64,
}

#[derive(Debug, Default)]
struct Figures {
    download: f64,
    requests: f64,
    first_ms: f64,
    /// Update latency: the root window's colour.
    update: Latency,
    pacing_fps: f64,
    text: Content,
    video25: Content,
    video60: Content,
    /// Update latency: a new photo-like picture.
    photo: Latency,
}

/// One kind of update latency (ms).
#[derive(Debug, Default, Clone, Copy)]
struct Latency {
    p50: f64,
    p95: f64,
    /// With stamps, p50 of the part from the change to its first WebSocket message in the page.
    to_page_p50: f64,
    /// … of the part from the update's last message to the viewer's handler returning.
    handler_p50: f64,
    /// … of the part from that handler returning to the canvas showing the change.
    to_frame_p50: f64,
}

/// Latency samples as they are taken, with their parts when the messages are stamped.
#[derive(Default)]
struct Samples {
    total: Vec<f64>,
    to_page: Vec<f64>,
    handler: Vec<f64>,
    to_frame: Vec<f64>,
}

impl Samples {
    /// Just before a change: empties the page's message stamps; the change's time (wall ms).
    fn start(&mut self, browser: &Browser) -> anyhow::Result<f64> {
        if stamps() {
            browser.eval("window.__ws.length = 0; return null;")?;
        }
        Ok(now_ms())
    }

    /// The change made at `t0` showed at `seen`.
    fn seen(&mut self, browser: &Browser, t0: f64, seen: f64) -> anyhow::Result<()> {
        self.total.push(seen - t0);
        if !stamps() {
            return Ok(());
        }
        let stamps = browser.eval(&page::message_stamps(seen))?;
        if let Some([first, last, handled]) = stamps
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(serde_json::Value::as_f64)
                    .collect::<Option<Vec<_>>>()
            })
            .and_then(|a| <[f64; 3]>::try_from(a).ok())
        {
            self.to_page.push(first - t0);
            self.handler.push(handled - last);
            self.to_frame.push(seen - handled);
        }
        Ok(())
    }

    fn latency(mut self) -> Latency {
        for v in [
            &mut self.total,
            &mut self.to_page,
            &mut self.handler,
            &mut self.to_frame,
        ] {
            v.sort_by(f64::total_cmp);
        }
        Latency {
            p50: percentile(&self.total, 0.5),
            p95: percentile(&self.total, 0.95),
            to_page_p50: percentile(&self.to_page, 0.5),
            handler_p50: percentile(&self.handler, 0.5),
            to_frame_p50: percentile(&self.to_frame, 0.5),
        }
    }
}

/// Photo-like frames (ImageMagick's plasma fractal), 960×540, made once.
fn video_frames(dir: &std::path::Path) -> anyhow::Result<Vec<String>> {
    (0..12)
        .map(|i| {
            let seed = (i + 1).to_string();
            tests::proc::convert(
                &["-seed", &seed, "-size", "960x540", "plasma:fractal"],
                &dir.join(format!("frame-{i:02}.png")),
            )
        })
        .collect()
}

/// Plays `frames` in a loop at (100, 100) with ImageMagick's `animate`, `delay` between
/// frames in its notation ("4": 4/100 s, "1x60": 1/60 s).
fn play(display: &str, frames: &[String], delay: &str) -> anyhow::Result<tests::proc::Proc> {
    let mut args = vec!["-delay", delay, "-loop", "0", "-geometry", "+100+100"];
    args.extend(frames.iter().map(String::as_str));
    tests::proc::spawn_x_client(display, "animate", &args)
}

/// Where the three xterms of [`xterms`] are, and the 960×540 frames of [`play`].
const TEXT_REGION: (u32, u32, u32, u32) = (100, 100, 1700, 560);
const VIDEO_REGION: (u32, u32, u32, u32) = (100, 100, 960, 540);

/// Three xterms side by side in [`TEXT_REGION`], scrolling text as fast as they can.
fn xterms(display: &str) -> anyhow::Result<Vec<tests::proc::Proc>> {
    (0..3)
        .map(|i| {
            tests::proc::spawn_x_client(
                display,
                "xterm",
                &[
                    "-geometry",
                    &format!("80x36+{}+100", 100 + i * 580),
                    "-e",
                    "sh",
                    "-c",
                    "while :; do cat /usr/share/common-licenses/GPL-3; done",
                ],
            )
        })
        .collect()
}

/// Runs `content` on the desktop for [`CONTENT`] while the page counts the frames it shows in
/// `region`.
fn content(
    browser: &Browser,
    v: &Viewer,
    region: (u32, u32, u32, u32),
    start: &dyn Fn() -> anyhow::Result<Vec<tests::proc::Proc>>,
) -> anyhow::Result<Content> {
    let running = start()?;
    std::thread::sleep(Duration::from_millis(700));
    browser.eval(&count_frames(v.canvas, region))?;
    let cpu0 = browser.renderer_cpu_seconds();
    let t0 = Instant::now();
    std::thread::sleep(CONTENT);
    let frames = browser.eval("window.__counting = false; return window.__frames;")?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = browser.renderer_cpu_seconds() - cpu0;
    drop(running);
    std::thread::sleep(Duration::from_millis(500));
    Ok(Content {
        fps: frames.as_f64().unwrap_or(0.0) / secs,
        cpu: cpu / secs,
    })
}

/// Measures `v`: everything on loopback, or through `slow` only what a slow link changes
/// (the first picture, the latency and the text; the rest stays zero).
fn measure(
    v: &Viewer,
    desk: &Xvnc,
    frames: &[String],
    slow: Option<&SlowLink>,
) -> anyhow::Result<Figures> {
    let display = desk.display_env();
    xsetroot(&display, "#102030")?;
    let browser = Browser::start()?;
    browser.set_window_size(W + 40, H + 200)?;
    let mut f = Figures::default();

    // First complete picture: both corners of the canvas show the desktop's colour.
    let corners = format!(
        "const c = {canvas}; if (!c || c.width < {W} || c.height < {H}) return null;\
         const x = c.getContext('2d'); const a = x.getImageData(4, 4, 1, 1).data;\
         const b = x.getImageData({}, {}, 1, 1).data;\
         return [a[0], a[1], a[2], b[0], b[1], b[2]].join(',');",
        W - 5,
        H - 5,
        canvas = v.canvas
    );
    let url = match slow {
        None => v.gate.url(v.page),
        Some(link) => format!("https://127.0.0.1:{}/{}", link.port, v.page),
    };
    if stamps() {
        browser.cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            serde_json::json!({ "source": STAMP_MESSAGES }),
        )?;
    }
    let t0 = Instant::now();
    browser.goto(&url)?;
    loop {
        if browser.eval(&corners)?.as_str() == Some("16,32,48,16,32,48") {
            break;
        }
        anyhow::ensure!(
            t0.elapsed() < Duration::from_secs(60),
            "{}: no complete picture in 60 s",
            v.name
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    f.first_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let download = browser.eval(
        "const nav = performance.getEntriesByType('navigation')[0];\
         const res = performance.getEntriesByType('resource');\
         return [(nav ? nav.transferSize : 0) + res.reduce((s, e) => s + e.transferSize, 0),\
                 res.length + 1];",
    )?;
    f.download = download[0].as_f64().unwrap_or(0.0);
    f.requests = download[1].as_f64().unwrap_or(0.0);
    std::thread::sleep(Duration::from_millis(500));
    browser.eval(&watch(v.canvas, "__changes", (4, 4)))?;

    // Latency: one change at a time, waiting for it to show.
    let mut samples = Samples::default();
    for i in 0..LATENCY_SAMPLES {
        // Changes spaced by whole frames would all reach the page at one phase of its frame
        // clock, and a viewer's p50 would be that phase's luck: each change waits a further
        // fraction of a frame, spread evenly over the samples (golden-ratio steps).
        let phase = (f64::from(i) * GOLDEN_RATIO_FRACTION).fract() * FRAME_MS;
        std::thread::sleep(Duration::from_secs_f64((50.0 + phase) / 1000.0));
        let (r, g, b) = (10 + i * 4, 200 - i * 3, (i * 37) % 256);
        let colour = format!("#{r:02x}{g:02x}{b:02x}");
        let rgb = format!("{r},{g},{b}");
        let t0 = samples.start(&browser)?;
        xsetroot(&display, &colour)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let seen = browser.eval(&format!(
                "const f = window.__changes.find(c => c[1] === '{rgb}'); return f ? f[0] : null;"
            ))?;
            if let Some(seen) = seen.as_f64() {
                samples.seen(&browser, t0, seen)?;
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{}: colour {colour} never reached the canvas",
                v.name
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    f.update = samples.latency();

    // Frame pacing: changes as fast as xsetroot runs.
    if slow.is_none() {
        browser.eval("window.__changes = []; return null;")?;
        let until = Instant::now() + CONTENT;
        let mut sent = 0u32;
        while Instant::now() < until {
            xsetroot(&display, if sent % 2 == 0 { "#ff0000" } else { "#0000ff" })?;
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(300));
        let shown = browser.eval("return window.__changes.length;")?;
        f.pacing_fps = shown.as_f64().unwrap_or(0.0) / CONTENT.as_secs_f64();
        xsetroot(&display, "#102030")?;
    }

    // Text: three xterms scrolling as fast as they can.
    f.text = content(&browser, v, TEXT_REGION, &|| xterms(&display))?;
    // Video-like: photo-like frames at 25 and at 60 a second.
    if slow.is_some() {
        return Ok(f);
    }
    for (rate, slot) in [("4", &mut f.video25), ("1x60", &mut f.video60)] {
        let d = display.clone();
        *slot = content(&browser, v, VIDEO_REGION, &|| {
            Ok(vec![play(&d, frames, rate)?])
        })?;
    }
    f.photo = photo_latency(&browser, v, &display, frames)?;
    Ok(f)
}

/// The colours of the marks [`photo_latency`] puts in the frames' centres, far apart.
const MARKS: [(u8, u8, u8); 4] = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40)];

/// Photo-like update latency, p50 and p95 (ms): ImageMagick's `display` shows one of the
/// 960×540 frames at a time in [`VIDEO_REGION`], and `display -remote` switches it to the
/// next; the time runs from that command to the page showing the new picture at the
/// region's centre. A single pixel of photo-like content comes out of JPEG too far from the
/// original to tell two frames apart, so each frame carries a mark in its centre: a soft
/// gradient (JPEG keeps it close, and it is no solid area a server could send as a fill) of
/// its own colour. The new picture is the first change nearer the new mark than the old.
fn photo_latency(
    browser: &Browser,
    v: &Viewer,
    display: &str,
    frames: &[String],
) -> anyhow::Result<Latency> {
    let (x, y, w, h) = VIDEO_REGION;
    let probe = (x + w / 2, y + h / 2);
    let frames = marked(frames, (w / 2, h / 2))?;
    let expected = frames
        .iter()
        .map(|f| centre_colour(f, (w / 2, h / 2)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let geometry = format!("+{x}+{y}");
    let _shown =
        tests::proc::spawn_x_client(display, "display", &["-geometry", &geometry, &frames[0]])?;
    std::thread::sleep(Duration::from_millis(1500));
    browser.eval(&watch(v.canvas, "__photo", probe))?;
    let mut samples = Samples::default();
    for i in 1..=PHOTO_SAMPLES {
        let (old, new) = ((i - 1) % frames.len(), i % frames.len());
        let phase = (i as f64 * GOLDEN_RATIO_FRACTION).fract() * FRAME_MS;
        std::thread::sleep(Duration::from_secs_f64((150.0 + phase) / 1000.0));
        let t0 = samples.start(browser)?;
        // `display -remote` exits with 1 even when the window took the command: its status
        // says nothing; the picture reaching the page (or the deadline) does.
        std::process::Command::new("display")
            .args(["-remote", &frames[new]])
            .env("DISPLAY", display)
            .status()
            .context("cannot run ImageMagick's display")?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let seen = browser.eval(&format!(
                "return window.__photo.filter(c => c[0] >= {t0}).map(c => [c[0], ...c[1].split(',').map(Number)]);"
            ))?;
            let nearer_new = seen.as_array().into_iter().flatten().find_map(|c| {
                let c: Vec<f64> = c.as_array()?.iter().filter_map(|n| n.as_f64()).collect();
                let rgb = [*c.get(1)?, *c.get(2)?, *c.get(3)?];
                (distance(rgb, expected[new]) < distance(rgb, expected[old])).then_some(c[0])
            });
            if let Some(seen) = nearer_new {
                samples.seen(browser, t0, seen)?;
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{}: photo-like frame {new} never reached the canvas (at {probe:?} it should be \
                 near {:?}, was near {:?}; changes since: {seen})",
                v.name,
                expected[new],
                expected[old]
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(samples.latency())
}

/// The colour of `frame`'s pixel at `(x, y)`, from ImageMagick.
fn centre_colour(frame: &str, (x, y): (u32, u32)) -> anyhow::Result<[f64; 3]> {
    let out = std::process::Command::new("convert")
        .args([
            frame,
            "-format",
            &format!("%[fx:255*p{{{x},{y}}}.r] %[fx:255*p{{{x},{y}}}.g] %[fx:255*p{{{x},{y}}}.b]"),
            "info:",
        ])
        .output()
        .context("cannot run ImageMagick's convert")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = text
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    match v[..] {
        [r, g, b] => Ok([r, g, b]),
        _ => anyhow::bail!("convert gave no colour for {frame}: {text:?}"),
    }
}

/// The first frames, each with a mark of [`MARKS`] centred on `(cx, cy)`, made once beside
/// them.
fn marked(frames: &[String], (cx, cy): (u32, u32)) -> anyhow::Result<Vec<String>> {
    const SIDE: u32 = 96;
    frames
        .iter()
        .zip(MARKS)
        .enumerate()
        .map(|(i, (frame, (r, g, b)))| {
            let out = std::path::Path::new(frame).with_file_name(format!("marked-{i}.png"));
            if out.exists() {
                return Ok(out.to_string_lossy().into_owned());
            }
            let gradient = format!(
                "gradient:rgb({r},{g},{b})-rgb({},{},{})",
                r + 20,
                g + 20,
                b + 20
            );
            let size = format!("{SIDE}x{SIDE}");
            let at = format!("+{}+{}", cx - SIDE / 2, cy - SIDE / 2);
            tests::proc::convert(
                &[
                    frame,
                    "(",
                    "-size",
                    &size,
                    &gradient,
                    ")",
                    "-geometry",
                    &at,
                    "-composite",
                ],
                &out,
            )
        })
        .collect()
}

fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum()
}

/// The bench's desktop: the photo-like frames (in a temporary directory, kept as long as the
/// first value) and an Xvnc at W×H without authentication.
fn desktop(name: &str) -> anyhow::Result<(tests::TempDir, Vec<String>, Xvnc)> {
    let dir = tests::TempDir::new(name)?;
    let frames = video_frames(dir.path())?;
    let desk = Xvnc::start(
        u16::try_from(W)?,
        u16::try_from(H)?,
        &["-SecurityTypes", "None"],
    )?;
    Ok((dir, frames, desk))
}

/// Our viewer and noVNC, each through its own release vncgate in front of `desk`; ours served
/// from `our_web_root` when given (a build with function names, for profiles).
fn viewers(desk: &Xvnc, our_web_root: Option<&str>) -> anyhow::Result<[Viewer; 2]> {
    let target = format!("desk=127.0.0.1:{}", desk.port);
    let mut ours = vec!["--target", &target, "--danger-no-auth"];
    if let Some(root) = our_web_root {
        ours.extend(["--web-root", root]);
    }
    Ok([
        Viewer {
            name: "vncgate viewer",
            gate: Gateway::start(&ours)?,
            page: "#target=desk",
            canvas: "document.getElementById('screen')",
        },
        Viewer {
            name: "noVNC 1.3",
            gate: Gateway::start(&[
                "--target",
                &target,
                "--danger-no-auth",
                "--web-root",
                NOVNC,
                "--web-root-csp",
                NOVNC_CSP,
            ])?,
            page: "vnc.html?autoconnect=true&path=websockify%3Ftoken%3Ddesk&resize=off",
            canvas: "document.querySelector('#noVNC_container canvas')",
        },
    ])
}

/// A report row: each viewer's median of `pick` and their ratio.
fn report_row(
    report: &mut String,
    results: &[Vec<Figures>; 2],
    name: &str,
    pick: &dyn Fn(&Figures) -> f64,
    digits: usize,
) {
    let (a, b) = (median(&results[0], pick), median(&results[1], pick));
    report.push_str(&format!(
        "| {name} | {a:.digits$} | {b:.digits$} | {:.2} |\n",
        a / b
    ));
}

/// The rows measured on a slow link too: the first picture and the latency (split in three
/// when the messages were stamped).
fn picture_and_latency_rows(report: &mut String, results: &[Vec<Figures>; 2], stamps: bool) {
    report_row(
        report,
        results,
        "first complete picture, cold browser (ms)",
        &|f| f.first_ms,
        0,
    );
    latency_rows(report, results, "update latency", &|f| f.update, stamps);
}

/// The rows of one kind of latency, `what`.
fn latency_rows(
    report: &mut String,
    results: &[Vec<Figures>; 2],
    what: &str,
    pick: &dyn Fn(&Figures) -> Latency,
    stamps: bool,
) {
    let mut row = |name: &str, part: &dyn Fn(&Latency) -> f64, digits: usize| {
        report_row(report, results, name, &|f| part(&pick(f)), digits);
    };
    row(&format!("{what} p50 (ms)"), &|l| l.p50, 1);
    row(&format!("{what} p95 (ms)"), &|l| l.p95, 1);
    if stamps {
        row(
            &format!("{what}, p50 of: change → its first message in the page (ms)"),
            &|l| l.to_page_p50,
            1,
        );
        row(
            &format!("{what}, p50 of: last message → the viewer's handler returned (ms)"),
            &|l| l.handler_p50,
            2,
        );
        row(
            &format!(
                "{what}, p50 of: handler returned → canvas: later tasks and the wait for a frame (ms)"
            ),
            &|l| l.to_frame_p50,
            1,
        );
    }
}

/// The median of `pick` over the rounds.
fn median(all: &[Figures], pick: impl Fn(&Figures) -> f64) -> f64 {
    let mut v: Vec<f64> = all.iter().map(pick).collect();
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

#[test]
#[ignore = "a benchmark: run with cargo xtask bench viewer"]
fn our_viewer_beside_novnc() -> anyhow::Result<()> {
    anyhow::ensure!(
        std::path::Path::new(NOVNC).join("vnc.html").exists(),
        "noVNC is not installed (cargo xtask setup installs the novnc package)"
    );
    let (_dir, frames, desk) = desktop("bench-viewer")?;
    let display = desk.display_env();
    xsetroot(&display, "#000000")?;
    let server = server_latency(desk.port, &display, 30)?;
    let [ours, novnc] = viewers(&desk, None)?;
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut results: [Vec<Figures>; 2] = [Vec::new(), Vec::new()];
    for round in 1..=ROUNDS {
        for (i, v) in [&ours, &novnc].into_iter().enumerate() {
            eprintln!("round {round}/{ROUNDS}: {}", v.name);
            let f = measure(v, &desk, &frames, None).with_context(|| v.name)?;
            eprintln!("  {f:?}");
            results[i].push(f);
        }
    }
    // The same two gateways, each behind its own slow link.
    let links = [ours.gate.port, novnc.gate.port]
        .map(|port| SlowLink::start(std::net::SocketAddr::from(([127, 0, 0, 1], port)), SLOW));
    let [Ok(our_link), Ok(novnc_link)] = links else {
        anyhow::bail!("cannot start the slow links");
    };
    let mut slow: [Vec<Figures>; 2] = [Vec::new(), Vec::new()];
    for round in 1..=ROUNDS {
        for (i, (v, link)) in [(&ours, &our_link), (&novnc, &novnc_link)]
            .into_iter()
            .enumerate()
        {
            eprintln!("round {round}/{ROUNDS} on the slow link: {}", v.name);
            let f = measure(v, &desk, &frames, Some(link)).with_context(|| v.name)?;
            eprintln!("  {f:?}");
            slow[i].push(f);
        }
    }
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let stamps = stamps();

    let mut report = format!(
        "Xvnc {W}×{H}, one release vncgate per viewer, headless Chromium, {ROUNDS} interleaved rounds (medians); load before: {}; after: {}\n\n\
         | figure | vncgate viewer | noVNC 1.3 | ours ÷ noVNC |\n|---|---:|---:|---:|\n",
        load_before.trim(),
        load_after.trim()
    );
    let mut row = |name: &str, pick: &dyn Fn(&Figures) -> f64, digits: usize| {
        report_row(&mut report, &results, name, pick, digits);
    };
    row("page download as transferred (bytes)", &|f| f.download, 0);
    row("requests", &|f| f.requests, 0);
    picture_and_latency_rows(&mut report, &results, stamps);
    let mut row = |name: &str, pick: &dyn Fn(&Figures) -> f64, digits: usize| {
        report_row(&mut report, &results, name, pick, digits);
    };
    row("colour changes shown per second", &|f| f.pacing_fps, 1);
    for (name, pick) in [
        (
            "text scrolling in 3 xterms",
            &(|f: &Figures| f.text) as &dyn Fn(&Figures) -> Content,
        ),
        ("photo-like 960×540 at 25 fps", &|f: &Figures| f.video25),
        ("photo-like 960×540 at 60 fps", &|f: &Figures| f.video60),
    ] {
        row(
            &format!("{name}: frames shown per second"),
            &|f| pick(f).fps,
            1,
        );
        row(
            &format!("{name}: renderer CPU (s per s)"),
            &|f| pick(f).cpu,
            2,
        );
        row(
            &format!("{name}: frames per renderer CPU second"),
            &|f| pick(f).fps / pick(f).cpu.max(0.001),
            1,
        );
    }
    latency_rows(
        &mut report,
        &results,
        "photo-like 960×540, one new picture at a time: latency",
        &|f| f.photo,
        stamps,
    );
    report.push_str(&format!(
        "\nOn a slow link ({} Mbit/s, {} ms each way, a user-space shaper with a {} KiB queue between the browser and each gateway), the same {ROUNDS} rounds:\n\n\
         | figure | vncgate viewer | noVNC 1.3 | ours ÷ noVNC |\n|---|---:|---:|---:|\n",
        SLOW.bits_per_second / 1_000_000,
        SLOW.delay.as_millis(),
        tests::slow_link::QUEUE_BYTES / 1024
    ));
    picture_and_latency_rows(&mut report, &slow, stamps);
    report_row(
        &mut report,
        &slow,
        "text scrolling in 3 xterms: frames shown per second",
        &|f| f.text.fps,
        1,
    );
    report.push_str(&format!(
        "\nOf the latency, the desktop's own part (Xvnc: xsetroot → update at a native client, no gateway or browser): p50 {:.1} ms, p95 {:.1} ms.\n",
        percentile(&server, 0.5),
        percentile(&server, 0.95)
    ));
    println!("{report}");
    if let Some(out) = std::env::var_os("BENCH_OUT") {
        std::fs::write(out, &report)?;
    }
    Ok(())
}
