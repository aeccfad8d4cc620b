//! `cargo xtask bench recording`: what session recording costs, through a release vncgate in
//! front of a real Xvnc with the browser viewer in headless Chromium. A figure, not a
//! pass/fail test: `--ignored` only.
//!
//! - bytes of recording per minute for an office desktop (typing into an xterm, a window
//!   moving) and for full-screen changing pictures (noise images, a video-like worst case);
//! - the gateway's CPU time for the same workload with recording on and off;
//! - how long replaying a 10-minute recording to its end takes (`recordings snapshot`, what a
//!   seek to the end does in the browser too).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use tests::gateway::Gateway;
use tests::xvnc::Xvnc;
use tests::TempDir;

const TOKEN: &str = "bench-recording-token-0123456789";
const RUN: Duration = Duration::from_secs(30);

/// One step of a workload on the desktop, given when the run started.
type Work<'a> = dyn Fn(&Xvnc, Instant) -> anyhow::Result<()> + 'a;

/// The gateway's user+system CPU seconds so far (from /proc).
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .context("stat")?
        .1
        .split(' ')
        .collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

fn gateway_pid(port: u16) -> anyhow::Result<u32> {
    let out = Command::new("ss").args(["-ltnpH"]).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains(&format!(":{port} ")))
        .context("the gateway's socket")?;
    let pid = line
        .split("pid=")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .context("pid")?;
    Ok(pid.parse()?)
}

/// Runs `work` on `desk` for `run` with a browser viewer connected through `gate`; returns
/// the gateway's CPU seconds.
fn session(
    gate: &Gateway,
    desk: &Xvnc,
    run: Duration,
    work: &dyn Fn(&Xvnc, Instant) -> anyhow::Result<()>,
) -> anyhow::Result<f64> {
    let browser = tests::browser::Browser::start()?;
    let key = tests::api::issue(gate.port, TOKEN, "desk")?;
    browser.goto(&gate.url(&format!("#otk={key}&target=desk")))?;
    browser.wait_for_state("connected", Duration::from_secs(30))?;
    let pid = gateway_pid(gate.port)?;
    let before = cpu_seconds(pid)?;
    let start = Instant::now();
    while start.elapsed() < run {
        work(desk, start)?;
    }
    let cpu = cpu_seconds(pid)? - before;
    drop(browser);
    std::thread::sleep(Duration::from_secs(1));
    Ok(cpu)
}

fn office(desk: &Xvnc, start: Instant) -> anyhow::Result<()> {
    let d = desk.display_env();
    tests::proc::run_x_client(
        &d,
        "xdotool",
        &[
            "type",
            "--delay",
            "60",
            "the quick brown fox jumps over the lazy dog ",
        ],
    )?;
    let x = 100 + (start.elapsed().as_secs() % 10) * 30;
    let _ = Command::new("xdotool")
        .args([
            "search",
            "--class",
            "xterm",
            "windowmove",
            "%@",
            &x.to_string(),
            "100",
        ])
        .env("DISPLAY", &d)
        .status();
    Ok(())
}

/// Noise pictures made once (ImageMagick, as bitmaps), shown on the root window in turn with
/// `xsetroot -bitmap` in two colours: every pixel changes at random, a video-like worst case.
fn noise_frames(dir: &Path) -> anyhow::Result<Vec<String>> {
    (0..4)
        .map(|i| {
            let seed = i.to_string();
            tests::proc::convert(
                &[
                    "-size",
                    "1280x800",
                    "xc:gray",
                    "-seed",
                    &seed,
                    "+noise",
                    "Random",
                    "-monochrome",
                ],
                &dir.join(format!("noise-{i}.xbm")),
            )
        })
        .collect()
}

fn noise(desk: &Xvnc, start: Instant, frames: &[String]) -> anyhow::Result<()> {
    let d = desk.display_env();
    let i = (start.elapsed().as_millis() / 200) as usize % frames.len();
    tests::proc::run_x_client(
        &d,
        "xsetroot",
        &["-bitmap", &frames[i], "-fg", "#cc3333", "-bg", "#3366cc"],
    )
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|e| {
            e.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".fbs"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
#[ignore = "a benchmark: cargo xtask bench recording"]
fn what_recording_costs() -> anyhow::Result<()> {
    let dir = TempDir::new("bench-recording")?;
    let d = dir.path();
    std::fs::write(d.join("token"), format!("{TOKEN}\n"))?;
    let mut desk = Xvnc::start(1280, 800, &["-SecurityTypes", "None"])?;
    desk.run("xsetroot", &["-solid", "#336699"])?;
    desk.spawn("xterm", &["-geometry", "100x30+100+100"])?;
    std::thread::sleep(Duration::from_secs(1));
    let rec = d.join("rec");
    let start = |record: bool| {
        let mut args = vec![
            "--target".to_owned(),
            format!("desk=127.0.0.1:{}", desk.port),
            "--admin-token-file".to_owned(),
            d.join("token").display().to_string(),
        ];
        if record {
            args.extend(["--record-dir".to_owned(), rec.display().to_string()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        Gateway::start(&refs)
    };
    let mut report = String::from(
        "| workload (30 s, 1280×800, browser viewer) | recording per minute | gateway CPU, recording off → on |\n|---|---|---|\n",
    );
    let mut last_fbs = None;
    let frames = noise_frames(d)?;
    let noisy = |desk: &Xvnc, start: Instant| noise(desk, start, &frames);
    let workloads: [(&str, &Work<'_>); 2] = [
        ("office: typing into an xterm, moving it", &office),
        ("full-screen noise pictures", &noisy),
    ];
    for (name, work) in workloads {
        let off = session(&start(false)?, &desk, RUN, work)?;
        let before = dir_bytes(&rec);
        let on = session(&start(true)?, &desk, RUN, work)?;
        let bytes = dir_bytes(&rec) - before;
        report.push_str(&format!(
            "| {name} | {:.1} MB | {off:.2} s → {on:.2} s |\n",
            bytes as f64 * 60.0 / RUN.as_secs_f64() / 1e6
        ));
        last_fbs = std::fs::read_dir(&rec)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "fbs"))
            .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0));
    }
    // Seeking replays from the start: how fast does a replay go? (A recording cannot be made
    // longer by repeating its blocks: the zlib streams carry on from block to block; the
    // 10-minute figure is `seeking_to_the_end_of_ten_minutes`.)
    let fbs = last_fbs.context("a recording")?;
    let (length_s, took) = replay_to_end(&fbs, d)?;
    report.push_str(&format!(
        "\nReplaying the {length_s:.0} s noise recording ({:.1} MB) to its end (`recordings snapshot`, what a seek to the end does): {took:.2} s, {:.0}× real time\n",
        std::fs::metadata(&fbs)?.len() as f64 / 1e6,
        length_s / took,
    ));
    finish(&report)
}

fn finish(report: &str) -> anyhow::Result<()> {
    println!("{report}");
    if let Some(out) = std::env::var_os("BENCH_OUT") {
        std::fs::write(out, report)?;
    }
    Ok(())
}

/// The recording's length (its last timestamp, s), and how long `recordings snapshot` takes
/// to replay it to its end (s).
fn replay_to_end(fbs: &Path, scratch: &Path) -> anyhow::Result<(f64, f64)> {
    let length_s = {
        let bytes = std::fs::read(fbs)?;
        let mut pos = 12;
        let mut last = 0u32;
        while pos + 4 <= bytes.len() {
            let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into()?) as usize;
            let stamp = pos + 4 + len + (4 - len % 4) % 4;
            if stamp + 4 > bytes.len() {
                break;
            }
            last = u32::from_be_bytes(bytes[stamp..stamp + 4].try_into()?);
            pos = stamp + 4;
        }
        f64::from(last) / 1000.0
    };
    let t = Instant::now();
    let out = Command::new(tests::gateway::binary()?)
        .args(["recordings", "snapshot"])
        .arg(fbs)
        .arg(scratch.join("end.png"))
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((length_s, t.elapsed().as_secs_f64()))
}

/// Seeking to the end of a 10-minute recording of the worst case (full-screen noise, every
/// pixel changing five times a second): natively (`recordings snapshot`) and in the browser
/// (`#playback=ID`: the download, then the seek bar moved to the end).
#[test]
#[ignore = "a benchmark of 10 minutes: cargo xtask bench recording seek"]
fn seeking_to_the_end_of_ten_minutes() -> anyhow::Result<()> {
    const LONG: Duration = Duration::from_secs(600);
    let dir = TempDir::new("bench-seek")?;
    let d = dir.path();
    std::fs::write(d.join("token"), format!("{TOKEN}\n"))?;
    let pki = tests::pki::CertDir::init(&d.join("pki"), "Seek CA")?;
    pki.client("alice", Some("alice@example.com"))?;
    let desk = Xvnc::start(1280, 800, &["-SecurityTypes", "None"])?;
    let rec = d.join("rec");
    let config = d.join("vncgate.toml");
    std::fs::write(
        &config,
        format!(
            "[targets]\ndesk = \"127.0.0.1:{}\"\n[auth]\nclient_ca = \"{}\"\nclient_auth = \"optional\"\n\
             admins = [\"email:alice@example.com\"]\nadmin_token_file = \"{}\"\n[recording]\ndir = \"{}\"\n",
            desk.port,
            pki.path("ca.crt"),
            d.join("token").display(),
            rec.display()
        ),
    )?;
    let gate = Gateway::start(&["--config", &config.display().to_string()])?;
    let frames = noise_frames(d)?;
    let noisy = |desk: &Xvnc, start: Instant| noise(desk, start, &frames);
    session(&gate, &desk, LONG, &noisy)?;
    tests::proc::wait_until(Duration::from_secs(30), "the recording closed", || {
        Ok(gate.log_contains("recording closed").then_some(()))
    })?;
    let fbs = std::fs::read_dir(&rec)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "fbs"))
        .context("a recording")?;
    let id = fbs
        .file_stem()
        .context("name")?
        .to_string_lossy()
        .into_owned();
    let mb = std::fs::metadata(&fbs)?.len() as f64 / 1e6;
    let (length_s, native) = replay_to_end(&fbs, d)?;

    let admin = tests::browser::Browser::as_holder(d, &pki, "alice", gate.port, "Seek CA")?;
    let t = Instant::now();
    admin.goto(&gate.url(&format!("#playback={id}")))?;
    admin.wait_for_state("connected", Duration::from_secs(300))?;
    let loaded = t.elapsed().as_secs_f64();
    // Paused, then the bar to the end: the change handler replays everything synchronously.
    let seek_ms = admin.eval(
        "document.getElementById('pb-play').click(); \
         const s = document.getElementById('pb-seek'); s.value = s.max; \
         const t = performance.now(); s.dispatchEvent(new Event('change')); \
         return performance.now() - t",
    )?;
    let seek_s = seek_ms.as_f64().context("seek time")? / 1000.0;
    admin.wait_for_state("ended", Duration::from_secs(60))?;
    let report = format!(
        "| {length_s:.0} s of full-screen noise, {mb:.0} MB | `recordings snapshot` to the end | browser: download and start | browser: seek to the end |\n\
         |---|---|---|---|\n\
         | seek time | {native:.1} s | {loaded:.1} s | {seek_s:.1} s |\n"
    );
    finish(&report)
}
