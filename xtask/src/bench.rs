//! `cargo xtask bench TARGET`: benchmarks that measure a goal and print it (never part of
//! `cargo xtask test`: timing is not a pass/fail test).
//!
//! `decoders`: rfb's decoders natively (criterion, `rfb/benches/decode.rs`), in wasm and
//! noVNC's JavaScript decoders side by side in headless Chromium
//! (`tests/tests/bench_decoders.rs`), on the recorded transcripts; then one table, also
//! written to `target/bench-decoders/table.md`. `docs/benchmarks.md` keeps the figures.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::{cargo, root, run_cmd};

/// noVNC 1.3 (Debian's) has no ZRLE decoder; 1.4.0 is the first with one.
const NOVNC_WITH_ZRLE: &str = "1.4.0";

/// The goal: rfb in wasm at least this many times noVNC's speed on these encodings.
const GOAL_RATIO: f64 = 4.0;
const GOAL_ENCODINGS: [&str; 3] = ["hextile", "zrle", "tight"];

pub fn run(args: &[String]) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("decoders") => decoders(&args[1..]),
        Some("gateway") => crate::bench_gateway::run(),
        Some("viewer") => viewer(&args[1..]),
        Some("soak") => crate::bench_soak::run(&args[1..]),
        Some("fleet") => crate::bench_fleet::run(&args[1..]),
        Some("native") => native(),
        Some("recording") => recording(&args[1..]),
        Some(other) => {
            bail!("unknown bench target {other:?}; known: decoders, gateway, viewer, soak, fleet, native, recording")
        }
        None => bail!(
            "usage: cargo xtask bench decoders [--report | CRITERION FILTER] | gateway | viewer [profile] \
             | soak [--minutes N] [--sessions N] | fleet [--keys N] [--sessions N] | native | recording [seek]"
        ),
    }
}

/// `bench viewer`: our viewer beside Debian's noVNC in headless Chromium, against a real Xvnc
/// through release vncgates (tests/tests/bench_viewer.rs; report in
/// `target/bench-viewer/report.md`). `bench viewer profile`: where each page's renderer
/// spends its time on photo-like content and on scrolling text, by thread and by function
/// on the main thread, our viewer built with its function names
/// (`target/bench-viewer-profile/report.md`).
fn viewer(args: &[String]) -> anyhow::Result<()> {
    let profile = match args {
        [] => false,
        [one] if one == "profile" => true,
        _ => bail!("unknown: bench viewer {args:?}; known: bench viewer [profile]"),
    };
    crate::setup::run()?;
    crate::tasks::build_web()?;
    if !profile {
        return release_bench_only(
            "bench_viewer",
            Some("our_viewer_beside_novnc"),
            "bench-viewer",
            &[],
        );
    }
    let out = target_dir().join("bench-viewer-profile");
    let web = out.join("web");
    let _ = std::fs::remove_dir_all(&web);
    std::fs::create_dir_all(&out)?;
    crate::run_cmd(
        Command::new("cp")
            .arg("-r")
            .arg(root().join("web"))
            .arg(&web),
    )?;
    // The precompressed forms (if brotli made any) are of the shipped module, not this one.
    match std::fs::remove_dir_all(web.join("pkg/br")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    crate::tasks::build_module("viewer-wasm", &web.join("pkg"), Some(&out.join("cargo")))?;
    release_bench_only(
        "bench_viewer",
        Some("where_the_time_goes"),
        "bench-viewer-profile",
        &[
            ("BENCH_PROFILE_WEB_ROOT", web.into_os_string()),
            ("BENCH_PROFILE_OUT", out.join("report.md").into_os_string()),
        ],
    )
}

/// `bench native`: TigerVNC's viewer from start to first picture, through a release vncgate
/// (VeNCrypt X509Plain) and direct to an X509 Xvnc (tests/tests/bench_native.rs).
fn native() -> anyhow::Result<()> {
    crate::setup::run()?;
    release_bench_only("bench_native", None, "bench-native", &[])
}

/// `bench recording`: what recording costs (tests/tests/bench_recording.rs), through a release
/// vncgate with the browser viewer; `bench recording seek`: seeking in a 10-minute recording.
fn recording(args: &[String]) -> anyhow::Result<()> {
    let (test, out) = match args.first().map(String::as_str) {
        None => ("what_recording_costs", "bench-recording"),
        Some("seek") => ("seeking_to_the_end_of_ten_minutes", "bench-recording-seek"),
        Some(other) => bail!("unknown: bench recording {other:?}; known: bench recording [seek]"),
    };
    crate::setup::run()?;
    crate::tasks::build_web()?;
    release_bench_only("bench_recording", Some(test), out, &[])
}

/// Builds the release vncgate and runs the ignored tests of `test` whose names contain
/// `filter` (all without one) against it, with `envs`; the report goes to
/// `target/OUT/report.md` (`BENCH_OUT`).
fn release_bench_only(
    test: &str,
    filter: Option<&str>,
    out: &str,
    envs: &[(&str, std::ffi::OsString)],
) -> anyhow::Result<()> {
    crate::run_cmd(crate::cargo().args(["build", "--release", "-p", "gateway", "--bins"]))?;
    let out = target_dir().join(out);
    std::fs::create_dir_all(&out)?;
    crate::run_cmd(
        crate::cargo()
            .args([
                "test",
                "-p",
                "tests",
                "--test",
                test,
                "--",
                "--ignored",
                "--nocapture",
            ])
            .args(filter)
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .env("VNCGATE_BIN", target_dir().join("release/vncgate"))
            .env("BENCH_OUT", out.join("report.md")),
    )?;
    println!("report: {}", out.join("report.md").display());
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// `bench decoders [FILTER]`: measure (a criterion filter also limits the page to matching
/// transcripts) and print; `bench decoders --report`: print the last results again.
fn decoders(filter: &[String]) -> anyhow::Result<()> {
    let out = target_dir().join("bench-decoders");
    if filter.first().map(String::as_str) == Some("--report") {
        println!("{}", table(&out)?);
        return Ok(());
    }
    std::fs::create_dir_all(&out)?;
    let load_before = load_average();
    run_cmd(
        cargo()
            .args(["bench", "-p", "rfb", "--bench", "decode", "--"])
            .args(filter),
    )?;
    fetch_novnc_zrle(&out);
    let mut test = cargo();
    test.args([
        "test",
        "-p",
        "tests",
        "--test",
        "bench_decoders",
        "--",
        "--ignored",
        "--nocapture",
    ]);
    if let Some(only) = filter.first() {
        test.env("BENCH_ONLY", only);
    }
    run_cmd(&mut test)?;
    let load_after = load_average();

    let table = table(&out)?;
    let mut report = String::new();
    writeln!(report, "machine: {}", machine())?;
    writeln!(
        report,
        "load average (1/5/15 min): before {load_before}, after {load_after}"
    )?;
    writeln!(report)?;
    report.push_str(&table);
    std::fs::write(out.join("table.md"), &report)?;
    println!("\n{report}");
    eprintln!("(also in {})", out.join("table.md").display());
    Ok(())
}

/// Puts noVNC 1.4.0's package (for its `zrle.js`) under `out` with npm, once. Without npm
/// the ZRLE rows have no noVNC figure.
fn fetch_novnc_zrle(out: &Path) {
    let dir = out.join(format!("novnc-{NOVNC_WITH_ZRLE}"));
    if dir.join("package/core/decoders/zrle.js").exists() {
        return;
    }
    let fetched = std::fs::create_dir_all(&dir).is_ok()
        && run_cmd(
            Command::new("npm")
                .args(["pack", &format!("@novnc/novnc@{NOVNC_WITH_ZRLE}")])
                .arg("--pack-destination")
                .arg(&dir),
        )
        .is_ok()
        && run_cmd(
            Command::new("tar")
                .arg("xzf")
                .arg(dir.join(format!("novnc-novnc-{NOVNC_WITH_ZRLE}.tgz")))
                .arg("-C")
                .arg(&dir),
        )
        .is_ok();
    if !fetched {
        eprintln!("note: no noVNC {NOVNC_WITH_ZRLE} (npm); ZRLE is compared with nothing");
    }
}

/// A rate in MB (10⁶ bytes) of painted RGBA per second: from the median and from the fastest
/// of the repeated measurements. The fastest is the steadier figure on a machine shared with
/// other builds (interference only ever slows a run down); both are shown.
#[derive(Clone, Copy)]
struct Rate {
    median: f64,
    best: f64,
}

/// One transcript's figures.
struct Row {
    name: String,
    native: Option<Rate>,
    native_64k: Option<Rate>,
    wasm: Option<Rate>,
    /// The same module built as the viewer ships (`wasm-release`, wasm-opt -Oz).
    shipped: Option<Rate>,
    novnc: Option<Rate>,
    note: String,
}

impl Row {
    /// The encoding the transcript forced, from its name (`server[-WxH]-encoding`).
    fn encoding(&self) -> &str {
        let rest = self.name.split_once('-').map_or("", |(_, r)| r);
        match rest.split_once('-') {
            Some((size, enc))
                if size.contains('x') && size.starts_with(|c: char| c.is_ascii_digit()) =>
            {
                enc
            }
            _ => rest,
        }
    }

    fn is_goal(&self) -> bool {
        // `tight` and its variants (`tight-jpeg`), not TightPNG (another encoding number).
        let enc = self.encoding();
        GOAL_ENCODINGS
            .iter()
            .any(|g| enc == *g || enc.strip_prefix(g).is_some_and(|v| v.starts_with('-')))
    }
}

fn table(out: &Path) -> anyhow::Result<String> {
    let tsv = std::fs::read_to_string(out.join("browser.tsv"))
        .context("no browser results (target/bench-decoders/browser.tsv)")?;
    let mut rows = Vec::new();
    for line in tsv.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let [name, painted, wasm_median, novnc_median, wasm_best, novnc_best, shipped_median, shipped_best, note] =
            f[..]
        else {
            continue;
        };
        let painted: f64 = painted.parse().unwrap_or(0.0);
        let rate = |median_ms: &str, best_ms: &str| {
            let per_s = |ms: &str| {
                ms.parse::<f64>()
                    .ok()
                    .filter(|ms| *ms > 0.0)
                    .map(|ms| painted / 1e6 / (ms / 1e3))
            };
            Some(Rate {
                median: per_s(median_ms)?,
                best: per_s(best_ms)?,
            })
        };
        let criterion = target_dir().join("criterion/decode").join(name);
        rows.push(Row {
            name: name.to_owned(),
            native: criterion_rate(&criterion.join("whole")),
            native_64k: criterion_rate(&criterion.join("64k")),
            wasm: rate(wasm_median, wasm_best),
            shipped: rate(shipped_median, shipped_best),
            novnc: rate(novnc_median, novnc_best),
            note: note.to_owned(),
        });
    }
    let fmt = |v: Option<Rate>| v.map_or("–".to_owned(), |v| format!("{:.0}", v.best));
    let ratio = |a: Option<Rate>, b: Option<Rate>| {
        a.zip(b).map(|(a, b)| Rate {
            median: a.median / b.median,
            best: a.best / b.best,
        })
    };
    let fmt_ratio = |x: Option<Rate>| {
        x.map_or("–".to_owned(), |x| {
            format!("{:.2}× ({:.2}×)", x.best, x.median)
        })
    };
    let verdict = |x: Option<Rate>| match x {
        Some(x) if x.best >= GOAL_RATIO && x.median >= GOAL_RATIO => "met",
        Some(x) if x.best < GOAL_RATIO && x.median < GOAL_RATIO => "**not met**",
        Some(_) => "borderline",
        None => "no baseline",
    };
    let mut s = String::new();
    writeln!(
        s,
        "MB/s: 10⁶ bytes of painted RGBA per second, fastest of the repeated measurements \
         (criterion samples; browser rounds). Ratios to noVNC from the fastest rounds, and (in \
         brackets) from the median rounds. wasm: `release` profile (opt-level 3); shipped: as \
         the viewer ships (`wasm-release`: opt-level \"z\" with the decoding crates at 3, fat LTO, \
         wasm-opt -Oz); both with 128-bit SIMD.\n"
    )?;
    writeln!(
        s,
        "| transcript | encoding | native MB/s | native, 64 KiB pieces | wasm MB/s | shipped MB/s | noVNC MB/s | wasm/noVNC | shipped/noVNC | goal ≥{GOAL_RATIO}× (wasm; shipped) |"
    )?;
    writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|")?;
    for r in &rows {
        let (wasm, shipped) = (ratio(r.wasm, r.novnc), ratio(r.shipped, r.novnc));
        let goal = if !r.is_goal() {
            String::new()
        } else if verdict(wasm) == verdict(shipped) {
            verdict(wasm).to_owned()
        } else {
            format!("{}; {}", verdict(wasm), verdict(shipped))
        };
        writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {goal} |",
            r.name,
            r.encoding(),
            fmt(r.native),
            fmt(r.native_64k),
            fmt(r.wasm),
            fmt(r.shipped),
            fmt(r.novnc),
            fmt_ratio(wasm),
            fmt_ratio(shipped),
        )?;
    }
    let notes: Vec<String> = rows
        .iter()
        .filter(|r| !r.note.is_empty())
        .map(|r| format!("- {}: {}", r.name, r.note))
        .collect();
    if !notes.is_empty() {
        writeln!(s, "\n{}", notes.join("\n"))?;
    }
    Ok(s)
}

/// MB/s from criterion's files: `estimates.json` (median ns per iteration), `sample.json`
/// (the fastest sample: its time over its iterations) and `benchmark.json` (bytes).
fn criterion_rate(dir: &Path) -> Option<Rate> {
    let read = |f: &str| std::fs::read_to_string(dir.join("new").join(f)).ok();
    let (estimates, sample, benchmark) = (
        read("estimates.json")?,
        read("sample.json")?,
        read("benchmark.json")?,
    );
    let median_ns = number_after(&estimates, &["\"median\":", "\"point_estimate\":"])?;
    let iters = numbers_after(&sample, "\"iters\":[");
    let times = numbers_after(&sample, "\"times\":[");
    let best_ns = iters
        .iter()
        .zip(&times)
        .filter(|(i, _)| **i > 0.0)
        .map(|(i, t)| t / i)
        .reduce(f64::min)?;
    let bytes = number_after(&benchmark, &["\"throughput\"", "\"Bytes\":"])?;
    let per_s = |ns: f64| bytes / 1e6 / (ns / 1e9);
    (median_ns > 0.0 && best_ns > 0.0).then(|| Rate {
        median: per_s(median_ns),
        best: per_s(best_ns),
    })
}

/// The numbers of the JSON array that starts right after `key`.
fn numbers_after(text: &str, key: &str) -> Vec<f64> {
    let Some(at) = text.find(key) else {
        return Vec::new();
    };
    let rest = &text[at + key.len()..];
    rest[..rest.find(']').unwrap_or(rest.len())]
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

/// The number after each of `keys` in turn (a tiny JSON lookup: xtask has no JSON parser).
fn number_after(text: &str, keys: &[&str]) -> Option<f64> {
    let mut rest = text;
    for k in keys {
        rest = &rest[rest.find(k)? + k.len()..];
    }
    let rest = rest.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, m)| m.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "?".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let browser = Command::new("chromium")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores; {browser}")
}
