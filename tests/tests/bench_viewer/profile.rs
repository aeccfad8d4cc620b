//! `cargo xtask bench viewer profile`: where each viewer's renderer spends its time, by
//! thread and, on the main thread, by function.

use std::time::{Duration, Instant};

use tests::browser::Browser;

use super::page::count_frames;
use super::{desktop, play, viewers, xsetroot, xterms, CONTENT, H, TEXT_REGION, VIDEO_REGION, W};

/// Sums a CDP `Profiler.Profile`'s samples by function: `(self ms, name)`, largest first.
fn self_times(profile: &serde_json::Value) -> Vec<(f64, String)> {
    let mut by_id = std::collections::HashMap::new();
    for n in profile["nodes"].as_array().into_iter().flatten() {
        let f = &n["callFrame"];
        let url = f["url"].as_str().unwrap_or("");
        let file = url.rsplit('/').next().unwrap_or(url);
        let name = match f["functionName"].as_str().unwrap_or("") {
            "" => format!("(anonymous) {file}"),
            n => format!("{n} {file}"),
        };
        by_id.insert(n["id"].as_u64().unwrap_or(0), name);
    }
    let samples = profile["samples"].as_array().cloned().unwrap_or_default();
    let deltas = profile["timeDeltas"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut sums: std::collections::HashMap<String, f64> = std::collections::HashMap::new();
    // A sample's time is the delta to the next sample.
    for (i, s) in samples.iter().enumerate() {
        let dt = deltas.get(i + 1).and_then(|d| d.as_f64()).unwrap_or(0.0) / 1000.0;
        let name = by_id
            .get(&s.as_u64().unwrap_or(0))
            .cloned()
            .unwrap_or_default();
        *sums.entry(name).or_default() += dt;
    }
    let mut v: Vec<(f64, String)> = sums.into_iter().map(|(k, t)| (t, k)).collect();
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    v
}

/// Where each viewer's renderer spends its time while 960×540 photo-like frames play at 60 a
/// second, and while three xterms scroll: CPU by renderer thread (from /proc), and the page's
/// main thread by function (Chromium's sampling `Profiler`).
/// `BENCH_PROFILE_WEB_ROOT` serves our viewer from another directory (a build that keeps
/// function names, as `cargo xtask bench viewer profile` makes); the report goes to
/// `BENCH_PROFILE_OUT`.
#[test]
#[ignore = "a benchmark: run with cargo xtask bench viewer profile"]
fn where_the_time_goes() -> anyhow::Result<()> {
    let (_dir, frames, desk) = desktop("bench-viewer-profile")?;
    let display = desk.display_env();
    xsetroot(&display, "#102030")?;
    let root = std::env::var("BENCH_PROFILE_WEB_ROOT").unwrap_or_default();
    let [ours, novnc] = viewers(&desk, Some(root.as_str()).filter(|r| !r.is_empty()))?;
    let mut report = String::new();
    type Start<'a> = &'a dyn Fn() -> anyhow::Result<Vec<tests::proc::Proc>>;
    let kinds: [(&str, _, Start); 2] = [
        ("photo-like 960×540 at 60 fps", VIDEO_REGION, &|| {
            Ok(vec![play(&display, &frames, "1x60")?])
        }),
        ("text scrolling in 3 xterms", TEXT_REGION, &|| {
            xterms(&display)
        }),
    ];
    for ((kind, region, start), v) in kinds.iter().flat_map(|k| [(k, &ours), (k, &novnc)]) {
        let browser = Browser::start()?;
        browser.set_window_size(W + 40, H + 200)?;
        browser.goto(&v.gate.url(v.page))?;
        std::thread::sleep(Duration::from_secs(2));
        let running = start()?;
        std::thread::sleep(Duration::from_millis(700));
        browser.cdp("Profiler.enable", serde_json::json!({}))?;
        browser.cdp(
            "Profiler.setSamplingInterval",
            serde_json::json!({"interval": 200}),
        )?;
        browser.eval(&count_frames(v.canvas, *region))?;
        let cpu0 = browser.renderer_cpu_seconds();
        let threads0 = browser.renderer_threads();
        let t0 = Instant::now();
        browser.cdp("Profiler.start", serde_json::json!({}))?;
        std::thread::sleep(CONTENT);
        let profile = browser.cdp("Profiler.stop", serde_json::json!({}))?;
        let frames = browser.eval("window.__counting = false; return window.__frames;")?;
        let secs = t0.elapsed().as_secs_f64();
        let cpu = browser.renderer_cpu_seconds() - cpu0;
        let threads = tests::browser::thread_cpu(&threads0, &browser.renderer_threads());
        drop(running);
        let times = self_times(&profile["profile"]);
        let total: f64 = times.iter().map(|t| t.0).sum();
        anyhow::ensure!(total > 0.0, "{}: the profile has no samples", v.name);
        report.push_str(&format!(
            "\n## {kind}, {}: {:.1} frames shown per second, renderer CPU {:.2} s per s, {:.1} frames per CPU second; main-thread samples {:.0} ms\n\n",
            v.name,
            frames.as_f64().unwrap_or(0.0) / secs,
            cpu / secs,
            frames.as_f64().unwrap_or(0.0) / cpu.max(0.001),
            total
        ));
        report.push_str(
            "CPU by renderer thread (while the profiler samples the main thread, which adds to it):\n\n\
             | renderer thread | CPU s per s |\n|---|---:|\n",
        );
        for (name, t) in &threads {
            report.push_str(&format!("| `{name}` | {:.3} |\n", t / secs));
        }
        report.push_str("\n| self ms | share | function |\n|---:|---:|---|\n");
        for (t, name) in times.iter().take(30) {
            report.push_str(&format!(
                "| {t:.0} | {:.1} % | `{name}` |\n",
                100.0 * t / total.max(1.0)
            ));
        }
    }
    println!("{report}");
    // Its own variable: run beside the side-by-side bench, the two must not share a report.
    if let Some(out) = std::env::var_os("BENCH_PROFILE_OUT") {
        std::fs::write(out, &report)?;
    }
    Ok(())
}
