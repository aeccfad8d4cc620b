//! The scenarios. Each returns its figures as `(key, value)` pairs; every loop is bounded in
//! count and in time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::sync::{watch, Semaphore};

use crate::backend::{sent_so_far, GREETING};
use crate::client::{Conn, Endpoint};
use crate::procfs::{Memory, Proc};

pub type Fields = Vec<(&'static str, String)>;

/// The longest one throughput round may take before its sessions are given up.
const ROUND_LIMIT: Duration = Duration::from_secs(60);
/// The longest setting up one idle session (connect, TLS, upgrade, greeting) may take.
const SESSION_SETUP_LIMIT: Duration = Duration::from_secs(30);
/// The longest setting up all idle sessions may take.
const IDLE_SETUP_LIMIT: Duration = Duration::from_secs(120);
/// WebSocket read buffer of a session that moves bulk data (tungstenite's default).
const BULK_READ_BUFFER: usize = 128 * 1024;
/// WebSocket read buffer of an idle session: small, so that 10,000 fit in this process.
const IDLE_READ_BUFFER: usize = 4 * 1024;

pub struct ThroughputPlan {
    pub sessions: usize,
    /// Open each session with an RFB handshake (the `rfb` backend) before draining it.
    pub rfb: bool,
    pub stats: std::net::SocketAddr,
    pub min_time: Duration,
    pub max_rounds: usize,
    pub gateway: Option<Proc>,
}

/// One drained session.
struct Drained {
    cipher: Option<String>,
    bytes: u64,
    first_byte: Option<Instant>,
    end: Instant,
    error: Option<String>,
}

/// The viewer's side of an RFB 3.8 handshake with security None, up to the ServerInit;
/// returns the bytes received (the handshake's and any that came with it).
async fn rfb_open(conn: &mut Conn) -> anyhow::Result<u64> {
    let mut got = Vec::new();
    async fn fill(conn: &mut Conn, got: &mut Vec<u8>, n: usize) -> anyhow::Result<()> {
        while got.len() < n {
            if !conn.recv_into(got).await? {
                bail!("the server closed during the RFB handshake");
            }
        }
        Ok(())
    }
    fill(conn, &mut got, 12).await?;
    if !got.starts_with(b"RFB ") {
        bail!(
            "not an RFB server: {:?}",
            String::from_utf8_lossy(&got[..12])
        );
    }
    conn.send(b"RFB 003.008\n").await?;
    fill(conn, &mut got, 13).await?;
    let types = usize::from(got[12]);
    fill(conn, &mut got, 13 + types).await?;
    if !got[13..13 + types].contains(&1) {
        bail!(
            "the server offers no security None: {:?}",
            &got[13..13 + types]
        );
    }
    conn.send(&[1]).await?;
    let init = 13 + types + 4;
    fill(conn, &mut got, init).await?;
    if got[init - 4..init] != [0, 0, 0, 0] {
        bail!("security None refused");
    }
    conn.send(&[1]).await?; // ClientInit: shared
    fill(conn, &mut got, init + 24).await?;
    let name_len = u32::from_be_bytes([
        got[init + 20],
        got[init + 21],
        got[init + 22],
        got[init + 23],
    ]);
    let name_len = usize::try_from(name_len).unwrap_or(usize::MAX).min(4096);
    fill(conn, &mut got, init + 24 + name_len).await?;
    Ok(u64::try_from(got.len()).unwrap_or(u64::MAX))
}

async fn drain(endpoint: Endpoint, rfb: bool) -> Drained {
    let mut d = Drained {
        cipher: None,
        bytes: 0,
        first_byte: None,
        end: Instant::now(),
        error: None,
    };
    let run = async {
        let mut conn = endpoint.connect(BULK_READ_BUFFER).await?;
        d.cipher = conn.cipher();
        if rfb {
            d.bytes += rfb_open(&mut conn).await?;
        }
        let mut scratch = vec![0u8; 256 * 1024];
        while let Some(n) = conn.recv(&mut scratch).await? {
            d.first_byte.get_or_insert_with(Instant::now);
            d.bytes += u64::try_from(n).unwrap_or(u64::MAX);
        }
        d.end = Instant::now();
        conn.close().await;
        anyhow::Ok(())
    };
    match tokio::time::timeout(ROUND_LIMIT, run).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => d.error = Some(format!("{e:#}")),
        Err(_) => d.error = Some(format!("not done within {} s", ROUND_LIMIT.as_secs())),
    }
    d
}

/// Rounds of `sessions` sessions, each draining one `stream` connection, until `min_time`
/// has passed or `max_rounds` were run. A round's rate: its bytes over the time from the
/// first byte of any session to the end of the last.
pub async fn throughput(endpoint: &Endpoint, plan: &ThroughputPlan) -> anyhow::Result<Fields> {
    let sent_before = sent_so_far(plan.stats).await?;
    let cpu_before = plan.gateway.map(|g| g.cpu_secs());
    let started = Instant::now();
    let mut rates = Vec::new();
    let (mut delivered, mut errors) = (0u64, 0usize);
    let mut cipher = None;
    for _ in 0..plan.max_rounds.max(1) {
        let tasks: Vec<_> = (0..plan.sessions)
            .map(|_| tokio::spawn(drain(endpoint.clone(), plan.rfb)))
            .collect();
        let (mut bytes, mut first, mut last) = (0u64, None::<Instant>, None::<Instant>);
        for task in tasks {
            let d = task.await.context("session task")?;
            if let Some(e) = &d.error {
                eprintln!("wsbench: session failed: {e}");
                errors += 1;
            }
            bytes += d.bytes;
            cipher = cipher.or(d.cipher);
            if let Some(f) = d.first_byte {
                first = Some(first.map_or(f, |x| x.min(f)));
                last = Some(last.map_or(d.end, |x| x.max(d.end)));
            }
        }
        delivered += bytes;
        if let (Some(first), Some(last)) = (first, last) {
            let secs = last.duration_since(first).as_secs_f64();
            if secs > 0.0 {
                rates.push(bytes as f64 / 1e6 / secs);
            }
        }
        if started.elapsed() >= plan.min_time {
            break;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let sent = sent_so_far(plan.stats).await? - sent_before;
    rates.sort_by(f64::total_cmp);
    let median = rates.get(rates.len() / 2).copied().unwrap_or(0.0);
    let best = rates.last().copied().unwrap_or(0.0);
    let mut fields: Fields = vec![
        ("sessions", plan.sessions.to_string()),
        ("rounds", rates.len().to_string()),
        ("mb_per_s", format!("{median:.1}")),
        ("mb_per_s_best", format!("{best:.1}")),
        ("delivered", delivered.to_string()),
        ("sent", sent.to_string()),
        ("errors", errors.to_string()),
        ("wall_s", format!("{wall:.2}")),
    ];
    if let Some(c) = cipher {
        fields.push(("cipher", c));
    }
    if let (Some(g), Some(before)) = (plan.gateway, cpu_before) {
        let cpu = g.cpu_secs() - before;
        fields.push(("gateway_cpu_s", format!("{cpu:.2}")));
        if delivered > 0 {
            let per_gb = cpu / (delivered as f64 / 1e9);
            fields.push(("gateway_cpu_s_per_gb", format!("{per_gb:.2}")));
        }
    }
    Ok(fields)
}

pub struct LatencyPlan {
    pub count: usize,
    pub warmup: usize,
    pub message_bytes: usize,
    pub max_time: Duration,
}

/// Round trips through one session to the echo backend: send a message, wait for all of its
/// bytes back. `warmup` round trips first, unmeasured; stops early at `max_time`.
pub async fn latency(endpoint: &Endpoint, plan: &LatencyPlan) -> anyhow::Result<Fields> {
    let mut conn = endpoint.connect(BULK_READ_BUFFER).await?;
    let message = vec![0x5a; plan.message_bytes];
    let mut scratch = vec![0u8; 64 * 1024];
    let mut samples = Vec::with_capacity(plan.count);
    let deadline = Instant::now() + plan.max_time;
    let run = async {
        for i in 0..plan.warmup + plan.count {
            if Instant::now() >= deadline {
                break;
            }
            let t = Instant::now();
            conn.send(&message).await?;
            let mut got = 0;
            while got < plan.message_bytes {
                match conn.recv(&mut scratch).await? {
                    Some(n) => got += n,
                    None => bail!("the echo session ended"),
                }
            }
            if i >= plan.warmup {
                samples.push(t.elapsed());
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(plan.max_time + Duration::from_secs(5), run)
        .await
        .context("a round trip did not come back")??;
    conn.close().await;
    if samples.is_empty() {
        bail!("no round trip was measured");
    }
    samples.sort();
    let us = |q: f64| {
        let i = ((samples.len() - 1) as f64 * q).round() as usize;
        format!(
            "{:.1}",
            samples[i.min(samples.len() - 1)].as_secs_f64() * 1e6
        )
    };
    let mean = samples.iter().map(Duration::as_secs_f64).sum::<f64>() / samples.len() as f64;
    Ok(vec![
        ("samples", samples.len().to_string()),
        ("message_bytes", plan.message_bytes.to_string()),
        ("p50_us", us(0.50)),
        ("p90_us", us(0.90)),
        ("p99_us", us(0.99)),
        ("p999_us", us(0.999)),
        ("max_us", us(1.0)),
        ("mean_us", format!("{:.1}", mean * 1e6)),
    ])
}

pub struct IdlePlan {
    pub sessions: usize,
    /// The gateway's processes (a fleet's instances): their memory is summed.
    pub gateway: Vec<Proc>,
    pub hold: Duration,
    pub concurrency: usize,
    /// Bytes each session reads after the greeting before it counts as open and falls
    /// quiet (the `burst` source's).
    pub expect_more: usize,
}

#[derive(Default)]
struct IdleCounts {
    ready: AtomicUsize,
    failed: AtomicUsize,
    /// Ready sessions that ended before they were told to.
    ended: AtomicUsize,
}

/// One idle session: set up (bounded), greeted, then open until `stop`.
async fn idle_session(
    endpoint: Endpoint,
    gate: Arc<Semaphore>,
    counts: Arc<IdleCounts>,
    mut stop: watch::Receiver<bool>,
    expect_more: usize,
) {
    let mut scratch = vec![0u8; 64];
    let setup = async {
        let _permit = gate.acquire_owned().await?;
        let mut conn = endpoint.connect(IDLE_READ_BUFFER).await?;
        let mut got = 0;
        while got < GREETING.len() + expect_more {
            got += conn
                .recv(&mut scratch)
                .await?
                .context("closed before the greeting")?;
        }
        anyhow::Ok(conn)
    };
    let mut conn = match tokio::time::timeout(SESSION_SETUP_LIMIT, setup).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return failed(&counts, &format!("{e:#}")),
        Err(_) => return failed(&counts, "setup timed out"),
    };
    counts.ready.fetch_add(1, Ordering::Relaxed);
    loop {
        tokio::select! {
            r = conn.recv(&mut scratch) => {
                if !matches!(r, Ok(Some(_))) {
                    counts.ended.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            _ = stop.changed() => break,
        }
    }
    conn.close().await;
}

fn failed(counts: &IdleCounts, why: &str) {
    // The first few reasons are enough to tell what went wrong.
    if counts.failed.fetch_add(1, Ordering::Relaxed) < 3 {
        eprintln!("wsbench: idle session failed: {why}");
    }
}

/// Opens `sessions` idle sessions (each gets the RFB greeting through the gateway), holds
/// them for `hold`, and reports the gateway's memory before and after, and how many are
/// still open.
pub async fn idle(endpoint: &Endpoint, plan: &IdlePlan) -> anyhow::Result<Fields> {
    let memory = || {
        plan.gateway
            .iter()
            .map(Proc::memory)
            .fold(Memory::default(), |a, m| Memory {
                rss_kib: a.rss_kib + m.rss_kib,
                pss_kib: a.pss_kib + m.pss_kib,
                processes: a.processes + m.processes,
            })
    };
    let before = memory();
    let counts = Arc::new(IdleCounts::default());
    let gate = Arc::new(Semaphore::new(plan.concurrency.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let tasks: Vec<_> = (0..plan.sessions)
        .map(|_| {
            tokio::spawn(idle_session(
                endpoint.clone(),
                gate.clone(),
                counts.clone(),
                stop_rx.clone(),
                plan.expect_more,
            ))
        })
        .collect();
    while counts.ready.load(Ordering::Relaxed) + counts.failed.load(Ordering::Relaxed)
        < plan.sessions
        && started.elapsed() < IDLE_SETUP_LIMIT
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let setup_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(plan.hold).await;
    let after = memory();
    let ready = counts.ready.load(Ordering::Relaxed);
    let still_open = ready - counts.ended.load(Ordering::Relaxed);
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(15), async {
        for t in tasks {
            let _ = t.await;
        }
    })
    .await;
    let per = |a: u64, b: u64| {
        let n = ready.max(1) as f64;
        format!("{:.1}", (a as f64 - b as f64) / n)
    };
    Ok(vec![
        ("sessions", plan.sessions.to_string()),
        ("opened", ready.to_string()),
        ("failed", counts.failed.load(Ordering::Relaxed).to_string()),
        ("still_open", still_open.to_string()),
        ("setup_s", format!("{setup_secs:.1}")),
        ("hold_s", format!("{:.1}", plan.hold.as_secs_f64())),
        ("rss_before_kib", before.rss_kib.to_string()),
        ("rss_after_kib", after.rss_kib.to_string()),
        ("rss_per_session_kib", per(after.rss_kib, before.rss_kib)),
        ("pss_before_kib", before.pss_kib.to_string()),
        ("pss_after_kib", after.pss_kib.to_string()),
        ("pss_per_session_kib", per(after.pss_kib, before.pss_kib)),
        ("processes_before", before.processes.to_string()),
        ("processes_after", after.processes.to_string()),
    ])
}
