//! `cargo xtask bench soak [--minutes N] [--sessions N]`: the hardening soak. A release
//! vncgate with the credentials of a real deployment — a client CA and its CRL, an admin
//! token, an access list with a view-only rule, an audit log — in front of four real `Xvnc`
//! desktops, while `wsbench soak` keeps N sessions opening and closing for the given minutes
//! (one-time keys and client certificates, full control and view-only, in turn). Every 30 s a
//! certificate is revoked, the CRL re-signed and vncgate sent SIGHUP.
//!
//! Printed, and written to `target/bench-soak/report.md` (`docs/benchmarks.md` keeps the
//! figures): sessions, failures, vncgate's RSS after warm-up and at the end, its descriptors
//! before and after, the audit log's check (every session exactly once) and the CRL reloads.
//! Never part of `cargo xtask test`.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::bench_gateway::procs::{free_port, run_scenario_with, Procs};

/// Desktops behind the gateway: three for full control and view-only keys, one that the
/// access list gives the certificate view-only.
const FULL_TARGETS: [&str; 3] = ["desk1", "desk2", "desk3"];
const VIEW_TARGET: &str = "lobby";
const CRL_EVERY: Duration = Duration::from_secs(30);
/// RSS is compared with the first sample after this much load: in the first 90 s the
/// connections open at once, and with them RSS, are still climbing to their plateau.
const WARMUP_SECS: u32 = 120;
/// The goal: RSS at the end within this of RSS after warm-up.
const GOAL_RSS_PCT: f64 = 10.0;
const CLIENT: &str = "soak-user";

struct Options {
    minutes: f64,
    sessions: usize,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut o = Self {
            minutes: 10.0,
            sessions: 2000,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().with_context(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--minutes" => {
                    o.minutes = value
                        .parse()
                        .ok()
                        .filter(|m: &f64| *m >= 1.5 && *m <= 120.0)
                        .with_context(|| {
                            format!(
                                "--minutes {value}: expected 1.5 to 120 (RSS is compared \
                                 from the {WARMUP_SECS} s mark on: give it 3 or more)"
                            )
                        })?;
                }
                "--sessions" => {
                    o.sessions = value
                        .parse()
                        .ok()
                        .filter(|n: &usize| (1..=10_000).contains(n))
                        .with_context(|| format!("--sessions {value}: expected 1 to 10000"))?;
                }
                _ => bail!("unknown flag {flag}; usage: cargo xtask bench soak [--minutes N] [--sessions N]"),
            }
        }
        Ok(o)
    }
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let options = Options::parse(args)?;
    crate::setup::run()?;
    crate::bench_gateway::build_release()?;
    let out = crate::bench_gateway::target_dir().join("bench-soak");
    let work = out.join("run");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let release = crate::bench_gateway::target_dir().join("release");
    let soak = Soak {
        vncgate: release.join("vncgate"),
        wsbench: release.join("examples/wsbench"),
        work,
    };
    let load_before = crate::bench_gateway::uptime();
    let (figures, reloads) = soak.run(&options)?;
    let load_after = crate::bench_gateway::uptime();

    let report = report(&options, &figures, reloads, &load_before, &load_after)?;
    std::fs::write(out.join("report.md"), &report)?;
    println!("\n{report}");
    eprintln!("(also in {})", out.join("report.md").display());
    Ok(())
}

struct Soak {
    vncgate: PathBuf,
    wsbench: PathBuf,
    work: PathBuf,
}

type Figures = std::collections::BTreeMap<String, String>;

impl Soak {
    fn certs(&self, args: &[&str]) -> anyhow::Result<Vec<u8>> {
        let mut cmd = Command::new(&self.vncgate);
        cmd.arg("certs")
            .arg("--dir")
            .arg(self.work.join("certs"))
            .args(args)
            .stderr(Stdio::null());
        let what = crate::describe(&cmd);
        let out = cmd.output().with_context(|| format!("cannot run {what}"))?;
        if !out.status.success() {
            bail!("{what} failed ({})", out.status);
        }
        Ok(out.stdout)
    }

    /// Writes the CA's current CRL where vncgate reads it (whole, by rename).
    fn publish_crl(&self) -> anyhow::Result<()> {
        let pem = self.certs(&["crl"])?;
        let tmp = self.work.join("crl.pem.new");
        std::fs::write(&tmp, pem)?;
        std::fs::rename(&tmp, self.work.join("crl.pem"))?;
        Ok(())
    }

    fn run(&self, options: &Options) -> anyhow::Result<(Figures, usize)> {
        let work = &self.work;
        let mut procs = Procs::default();
        self.certs(&["init-ca", "--name", "vncgate soak CA"])?;
        self.certs(&["issue", "client", CLIENT])?;
        self.publish_crl()?;
        let mut random = [0u8; 24];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut random))
            .context("cannot read /dev/urandom")?;
        let token: String = random.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(work.join("admin-token"), format!("{token}\n"))?;

        let mut targets = String::new();
        for name in FULL_TARGETS.iter().chain([&VIEW_TARGET]) {
            let port = self.start_xvnc(&mut procs)?;
            writeln!(targets, "{name} = \"127.0.0.1:{port}\"")?;
        }
        let port = free_port()?;
        let config = format!(
            "listen = \"127.0.0.1:{port}\"\n\
             state_dir = \"state\"\n\
             audit_log = \"audit.jsonl\"\n\n\
             [targets]\n{targets}\n\
             [auth]\n\
             client_ca = \"certs/ca.crt\"\n\
             crl = [\"crl.pem\"]\n\
             client_auth = \"optional\"\n\
             admin_token_file = \"admin-token\"\n\n\
             [[acl.allow]]\n\
             who = [\"cn:{CLIENT}\"]\n\
             targets = [{full}]\n\
             mode = \"full\"\n\n\
             [[acl.allow]]\n\
             who = [\"cn:{CLIENT}\"]\n\
             targets = [\"{VIEW_TARGET}\"]\n\
             mode = \"view-only\"\n\n\
             [limits]\n\
             max_connections = {max}\n\
             max_connections_per_address = {max}\n",
            full = FULL_TARGETS.map(|t| format!("\"{t}\"")).join(", "),
            max = options.sessions * 3 + 100,
        );
        let config_path = work.join("vncgate.toml");
        std::fs::write(&config_path, config)?;

        let log = work.join("vncgate.log");
        let mut cmd = Command::new(&self.wsbench);
        cmd.arg("exec")
            .arg(&self.vncgate)
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env(
                "RUST_LOG",
                "warn,gateway::auth=info,gateway::cli::serve=info",
            );
        procs.start_logged(cmd, &log)?;
        let pid = procs.last_pid();
        procs.wait_listening(port, &log)?;

        let mut cmd = Command::new(&self.wsbench);
        cmd.arg("soak")
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .arg("--cert")
            .arg(work.join("state/tls/self-signed.crt"))
            .arg("--client-cert")
            .arg(work.join(format!("certs/{CLIENT}.crt")))
            .arg("--client-key")
            .arg(work.join(format!("certs/{CLIENT}.key")))
            .arg("--admin-token-file")
            .arg(work.join("admin-token"));
        for t in FULL_TARGETS {
            cmd.args(["--target", t]);
        }
        cmd.args(["--view-target", VIEW_TARGET])
            .args(["--workers", &options.sessions.to_string()])
            .args(["--secs", &format!("{}", options.minutes * 60.0)])
            .args(["--warmup-secs", &WARMUP_SECS.to_string()])
            .args(["--pid", &pid.to_string()])
            .arg("--audit")
            .arg(work.join("audit.jsonl"));
        eprintln!("$ {}", crate::describe(&cmd));
        // The soak, its drain and settling, and some slack.
        let limit = Duration::from_secs_f64(options.minutes * 60.0 + 180.0);
        let mut next_crl = Instant::now() + CRL_EVERY;
        let mut revoked = 0usize;
        let mut figures = run_scenario_with(cmd, limit, || {
            if Instant::now() < next_crl {
                return Ok(());
            }
            next_crl += CRL_EVERY;
            revoked += 1;
            let name = format!("revoked-{revoked}");
            self.certs(&["issue", "client", &name])?;
            self.certs(&["revoke", &name])?;
            self.publish_crl()?;
            let _ = Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status();
            Ok(())
        })
        .with_context(|| format!("vncgate's log: {}", log.display()))?;
        figures.insert("revocations".into(), revoked.to_string());
        procs.end_all();
        let log_text = std::fs::read_to_string(&log).unwrap_or_default();
        let reloads = log_text.matches("client CRLs reloaded").count();
        let panics = log_text.matches("panicked").count();
        figures.insert("panics".into(), panics.to_string());
        Ok((figures, reloads))
    }

    /// Starts an `Xvnc` (security type None: the gateway authenticates) on loopback; its port.
    fn start_xvnc(&self, procs: &mut Procs) -> anyhow::Result<u16> {
        let port = free_port()?;
        let mut cmd = Command::new("Xvnc");
        // `-displayfd 1`: Xvnc picks a display it can lock and prints it once ready.
        cmd.args(["-displayfd", "1", "-geometry", "640x480", "-depth", "24"])
            .args(["-localhost", "-AlwaysShared", "-SecurityTypes", "None"])
            // Sessions that close right after the greeting must not get 127.0.0.1 blacklisted.
            .args(["-BlacklistThreshold", "1000000000"])
            .args(["-desktop", "vncgate soak", "-rfbport", &port.to_string()])
            .stderr(Stdio::null());
        let display = procs.start_and_read_line(cmd)?;
        display
            .parse::<u16>()
            .with_context(|| format!("Xvnc printed {display:?}, not a display"))?;
        procs.wait_listening(port, Path::new("/dev/null"))?;
        Ok(port)
    }
}

fn report(
    options: &Options,
    f: &Figures,
    reloads: usize,
    load_before: &str,
    load_after: &str,
) -> anyhow::Result<String> {
    let get = |k: &str| f.get(k).map_or("?", String::as_str);
    let num = |k: &str| f.get(k).and_then(|v| v.parse::<f64>().ok());
    let mib = |k: &str| num(k).map_or("?".to_owned(), |v| format!("{:.1} MiB", v / 1024.0));
    let rss_pct = num("rss_end_vs_warm_pct");
    let verdict = |ok: bool| if ok { "yes" } else { "**no**" };
    let mut r = String::new();
    writeln!(
        r,
        "- command: `cargo xtask bench soak --minutes {} --sessions {}`",
        options.minutes, options.sessions
    )?;
    writeln!(r, "- machine: {}", crate::bench_gateway::machine())?;
    writeln!(r, "- load before: {load_before}")?;
    writeln!(r, "- load after: {load_after}")?;
    writeln!(r)?;
    writeln!(r, "| figure | value |")?;
    writeln!(r, "|---|---|")?;
    writeln!(r, "| time under load | {} s |", get("secs"))?;
    writeln!(r, "| sessions kept going at once | {} |", get("workers"))?;
    writeln!(
        r,
        "| sessions completed (greeting received, closed) | {} ({}/s) |",
        get("sessions"),
        get("per_sec")
    )?;
    writeln!(r, "| sessions failed | {} |", get("failed"))?;
    for (k, what) in [
        ("key_full", "one-time key, full control"),
        ("cert_full", "client certificate, full control"),
        ("key_view", "one-time key, view-only"),
        ("cert_view", "client certificate, view-only (access list)"),
    ] {
        writeln!(r, "| {what}: completed/failed | {} |", get(k))?;
    }
    writeln!(r, "| RSS before the load | {} |", mib("rss_before_kib"))?;
    writeln!(
        r,
        "| RSS after warm-up ({} s) | {} |",
        get("warm_at_s"),
        mib("rss_warm_kib")
    )?;
    writeln!(r, "| RSS at the end of the load | {} |", mib("rss_end_kib"))?;
    writeln!(r, "| RSS peak | {} |", mib("rss_peak_kib"))?;
    writeln!(
        r,
        "| RSS 5 s after the last session | {} |",
        mib("rss_after_kib")
    )?;
    writeln!(
        r,
        "| end vs warm-up (goal within ±{GOAL_RSS_PCT} %) | {} % — {} |",
        get("rss_end_vs_warm_pct"),
        verdict(rss_pct.is_some_and(|p| p.abs() <= GOAL_RSS_PCT))
    )?;
    let fds_ok = num("fds_after") <= num("fds_before") && num("fds_after").is_some();
    writeln!(
        r,
        "| descriptors: before / at the end / after (no leak: after ≤ before) | {} / {} / {} — {} |",
        get("fds_before"),
        get("fds_end"),
        get("fds_after"),
        verdict(fds_ok)
    )?;
    writeln!(
        r,
        "| RSS at each minute (MiB) | {} |",
        get("rss_every_minute_mib").replace(',', ", ")
    )?;
    let zero = |keys: &[&str]| keys.iter().all(|k| get(k) == "0");
    writeln!(
        r,
        "| audit log: lines / of them refused | {} / {} |",
        get("audit_lines"),
        get("audit_refused")
    )?;
    writeln!(
        r,
        "| completed sessions in the audit log exactly once, as ended, right kind / missing / wrong | {} / {} / {} — {} |",
        get("audit_completed_once"),
        get("audit_completed_missing"),
        get("audit_completed_wrong"),
        verdict(zero(&["audit_completed_missing", "audit_completed_wrong"]))
    )?;
    writeln!(
        r,
        "| failed sessions in the audit log once / not at all (failed before a request) | {} / {} |",
        get("audit_failed_logged"),
        get("audit_failed_unlogged")
    )?;
    writeln!(
        r,
        "| sessions with more than one line / lines from no session / unreadable lines / key ids not once | {} / {} / {} / {} — {} |",
        get("audit_duplicated"),
        get("audit_strangers"),
        get("audit_unreadable"),
        get("audit_keys_wrong"),
        verdict(zero(&["audit_duplicated", "audit_strangers", "audit_unreadable", "audit_keys_wrong"]))
    )?;
    writeln!(
        r,
        "| certificates revoked / CRL reloads logged | {} / {reloads} |",
        get("revocations")
    )?;
    writeln!(r, "| panics in vncgate's log | {} |", get("panics"))?;
    Ok(r)
}
