//! `cargo xtask bench native`: how long TigerVNC's own viewer takes from its start to the
//! first picture of the desktop on its screen — through the gateway (VeNCrypt X509Plain with a
//! one-time key, the gateway logging in to a security-None Xvnc) against a direct connection
//! to an Xvnc speaking VeNCrypt X509None itself (TLS, no password: the nearest a stock Xvnc
//! comes without PAM users). A figure, not a pass/fail test: `--ignored` only.
//!
//! Both go through the same steps a person sees: the process starts, connects, negotiates TLS,
//! maps its window, and draws the first update; the time ends when `xwd` finds the desktop's
//! colour on most of the viewer's window. Rounds are interleaved.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use tests::gateway::Gateway;
use tests::pki::CertDir;
use tests::proc::{start_x_server, Proc};
use tests::xvnc::Xvnc;
use tests::TempDir;

const TOKEN: &str = "bench-native-token-0123456789";
const ROUNDS: usize = 7;
const ROOT: [u8; 3] = [0x33, 0x66, 0x99];

fn coloured(display: &str) -> anyhow::Result<usize> {
    let out = Command::new("xwd")
        .args(["-root", "-silent", "-display", display])
        .output()
        .context("xwd")?;
    let img = tests::xwd::parse(&out.stdout)?;
    Ok(img.rgba.chunks(4).filter(|p| p[..3] == ROOT).count())
}

/// Starts `vncviewer ARGS` on `display` with `env`; the time until the desktop shows.
fn time_to_picture(
    display: &str,
    args: &[String],
    env: &[(&str, &str)],
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut cmd = Command::new("vncviewer");
    cmd.args(args)
        .env("DISPLAY", display)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let _viewer = Proc::new("vncviewer", cmd.spawn().context("vncviewer")?);
    loop {
        // Most of a 640×480 window in the desktop's colour.
        if coloured(display)? > 250_000 {
            return Ok(start.elapsed());
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(30),
            "no picture in 30 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[test]
#[ignore = "a benchmark: cargo xtask bench native"]
fn tigervnc_time_to_first_picture_through_the_gateway_and_direct() -> anyhow::Result<()> {
    let dir = TempDir::new("bench-native")?;
    let d = dir.path();
    let pki = CertDir::init(&d.join("pki"), "Bench CA")?;
    pki.run(&["issue", "server", "xvnc", "--san", "127.0.0.1"])?;
    let plain = Xvnc::start(640, 480, &["-SecurityTypes", "None"])?;
    plain.run("xsetroot", &["-solid", "#336699"])?;
    let x509 = Xvnc::start_x509(
        640,
        480,
        std::path::Path::new(&pki.path("xvnc.crt")),
        std::path::Path::new(&pki.path("xvnc.key")),
    )?;
    x509.run("xsetroot", &["-solid", "#336699"])?;
    std::fs::write(d.join("token"), format!("{TOKEN}\n"))?;
    let start_gate = |extra: &[&str]| {
        let mut args = vec![
            "--target".to_owned(),
            format!("desk=127.0.0.1:{}", plain.port),
            "--admin-token-file".to_owned(),
            d.join("token").display().to_string(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        Gateway::start(&refs)
    };
    let gate = start_gate(&[])?;
    let quick = start_gate(&["--limit", "detect_timeout_ms=250"])?;
    let args: Vec<String> = ["-screen", "0", "700x560x24", "-nolisten", "tcp"]
        .map(str::to_owned)
        .into();
    let (_x, n) = start_x_server("Xvfb", &args)?;
    let display = format!(":{n}");

    let through = |g: &Gateway| -> anyhow::Result<Duration> {
        let key = tests::api::issue(g.port, TOKEN, "desk")?;
        let ca = g.state.path().join("tls/self-signed.crt");
        let args = vec![
            "-SecurityTypes".to_owned(),
            "X509Plain".to_owned(),
            "-X509CA".to_owned(),
            ca.display().to_string(),
            format!("127.0.0.1::{}", g.port),
        ];
        time_to_picture(
            &display,
            &args,
            &[
                ("VNC_USERNAME", "desk"),
                ("VNC_PASSWORD", &key),
                ("HOME", &d.display().to_string()),
            ],
        )
    };
    let direct = || -> anyhow::Result<Duration> {
        let args = vec![
            "-SecurityTypes".to_owned(),
            "X509None".to_owned(),
            "-X509CA".to_owned(),
            pki.path("ca.crt"),
            format!("127.0.0.1::{}", x509.port),
        ];
        time_to_picture(&display, &args, &[("HOME", &d.display().to_string())])
    };
    let (mut via, mut via_quick, mut straight) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        straight.push(direct()?);
        via.push(through(&gate)?);
        via_quick.push(through(&quick)?);
    }
    let (s, v, q) = (median(straight), median(via), median(via_quick));
    let report = format!(
        "# TigerVNC vncviewer 1.12: start → first picture ({ROUNDS} interleaved rounds, median)\n\n\
         | path | time | ÷ direct |\n|---|---|---|\n\
         | direct to Xvnc, VeNCrypt X509None | {} | 1.00 |\n\
         | through vncgate, VeNCrypt X509Plain + one-time key (detect_timeout_ms 1000, the default) | {} | {:.2} |\n\
         | the same with `--limit detect_timeout_ms=250` | {} | {:.2} |\n",
        ms(s),
        ms(v),
        v.as_secs_f64() / s.as_secs_f64(),
        ms(q),
        q.as_secs_f64() / s.as_secs_f64(),
    );
    println!("{report}");
    let out = std::env::var_os("BENCH_OUT").map_or_else(|| d.join("report.md"), Into::into);
    std::fs::write(Path::new(&out), report)?;
    Ok(())
}
