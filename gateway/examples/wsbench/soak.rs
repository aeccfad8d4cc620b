//! `wsbench soak`: sessions opening and closing for minutes through a gateway with real
//! credentials, and what that leaves behind: the gateway's memory and descriptors over time,
//! and whether every session is in the audit log exactly once.
//!
//! `workers` tasks each run one session after another until the time is up, in turn:
//!
//! - a one-time key for full control: `POST /api/otk` (admin token), then `/ws/T?otk=KEY`;
//! - a client certificate, full control: `/ws/T` in mutual TLS;
//! - a one-time key for view-only (the gateway logs in and filters);
//! - a client certificate on the view-only target (the access list's `view-only` rule).
//!
//! A session is done when the RFB greeting came through and it was held for `hold`; it is
//! then closed with a close frame. Each session comes from its own loopback address
//! (127.1.0.1, 127.1.0.2, …), so that the audit log's `from` names exactly one session: the
//! check afterwards finds every session in the log exactly once, or says which are not.
//! Every loop is bounded in count and in time.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

use crate::backend::GREETING;
use crate::procfs::Proc;
use crate::scenarios::Fields;

/// The longest one session (key, connection, greeting, hold, close) may take.
const SESSION_LIMIT: Duration = Duration::from_secs(30);
/// The longest an API answer may be.
const MAX_ANSWER_BYTES: u64 = 16 * 1024;
/// How often the gateway's memory and descriptors are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// How long the workers may take to finish their last session after the time is up.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
/// Quiet time after the last session before the final sample and the audit check.
const SETTLE: Duration = Duration::from_secs(5);
/// A failed worker waits this long before its next session (no busy loop on a refusal).
const BACKOFF: Duration = Duration::from_millis(200);
/// A session's WebSocket read buffer: it reads a greeting and nothing more.
const READ_BUFFER: usize = 4096;
/// Reasons printed per kind of session.
const REASONS_SHOWN: usize = 3;

pub struct SoakPlan {
    pub addr: SocketAddr,
    /// Without a client certificate (one-time keys, the API).
    pub anonymous: TlsConnector,
    /// With the soak's client certificate.
    pub with_cert: TlsConnector,
    pub admin_token: String,
    /// Targets for full control and for view-only keys.
    pub targets: Vec<String>,
    /// The target the access list gives the certificate view-only.
    pub view_target: String,
    pub workers: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub hold: Duration,
    pub gateway: Proc,
    pub audit: PathBuf,
}

/// The kinds of session, taken in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    KeyFull,
    CertFull,
    KeyView,
    CertView,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::KeyFull, Kind::CertFull, Kind::KeyView, Kind::CertView];

    fn name(self) -> &'static str {
        match self {
            Kind::KeyFull => "key_full",
            Kind::CertFull => "cert_full",
            Kind::KeyView => "key_view",
            Kind::CertView => "cert_view",
        }
    }

    fn by_key(self) -> bool {
        matches!(self, Kind::KeyFull | Kind::KeyView)
    }

    fn view_only(self) -> bool {
        matches!(self, Kind::KeyView | Kind::CertView)
    }

    /// What an audit line says: a key's id or not, and the mode.
    fn of_audit(key_id: bool, mode: &str) -> Option<Kind> {
        match (key_id, mode) {
            (true, "full") => Some(Kind::KeyFull),
            (false, "full") => Some(Kind::CertFull),
            (true, "view-only") => Some(Kind::KeyView),
            (false, "view-only") => Some(Kind::CertView),
            _ => None,
        }
    }
}

/// One session tried: its kind, the address it came from, the key's id, how it went.
#[derive(Debug, Clone)]
struct Attempt {
    kind: Kind,
    from: Ipv4Addr,
    key_id: Option<String>,
    outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Completed,
    Failed,
}

#[derive(Default)]
struct Tally {
    attempts: Vec<Attempt>,
    completed: usize,
    failed: BTreeMap<Kind, usize>,
}

impl Tally {
    fn record(&mut self, attempt: Attempt, why: Option<&str>) {
        if let Some(why) = why {
            let n = self.failed.entry(attempt.kind).or_default();
            if *n < REASONS_SHOWN {
                eprintln!("wsbench: {} session failed: {why}", attempt.kind.name());
            }
            *n += 1;
        } else {
            self.completed += 1;
        }
        self.attempts.push(attempt);
    }

    fn completed(&self, kind: Kind) -> usize {
        self.attempts
            .iter()
            .filter(|a| a.kind == kind && a.outcome == Outcome::Completed)
            .count()
    }
}

/// The source address of session `n`: 127.1.0.1 onwards, skipping .0 and .255 (16 million
/// sessions before it wraps, far more than a soak opens).
fn source_address(n: u32) -> Ipv4Addr {
    let host = (n / 254) % 0xfe_ff00;
    let low = n % 254 + 1;
    Ipv4Addr::from_bits(0x7f01_0000 + (host << 8) + low)
}

/// One sample of the gateway.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    rss_kib: u64,
    fds: usize,
}

impl Sample {
    fn take(gateway: &Proc, started: Instant) -> Self {
        Self {
            at: started.elapsed(),
            rss_kib: gateway.memory().rss_kib,
            fds: gateway.fds(),
        }
    }
}

pub async fn soak(plan: SoakPlan) -> anyhow::Result<Fields> {
    let plan = Arc::new(plan);
    let before = Sample::take(&plan.gateway, Instant::now());
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let deadline = started + plan.duration;
    let next_address = Arc::new(AtomicU32::new(0));
    let workers: Vec<_> = (0..plan.workers)
        .map(|i| {
            tokio::spawn(worker(
                plan.clone(),
                i,
                deadline,
                tally.clone(),
                next_address.clone(),
            ))
        })
        .collect();

    let mut samples = Vec::new();
    while Instant::now() < deadline {
        tokio::time::sleep(SAMPLE_EVERY.min(deadline - Instant::now())).await;
        let s = Sample::take(&plan.gateway, started);
        eprintln!(
            "wsbench: {:>4} s  rss {} KiB  fds {}  sessions {}",
            s.at.as_secs(),
            s.rss_kib,
            s.fds,
            lock(&tally).completed
        );
        samples.push(s);
    }
    let drained = tokio::time::timeout(DRAIN_LIMIT, async {
        for w in workers {
            let _ = w.await;
        }
    })
    .await
    .is_ok();
    if !drained {
        bail!(
            "the workers did not finish within {} s of the end",
            DRAIN_LIMIT.as_secs()
        );
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(SETTLE).await;
    let after = Sample::take(&plan.gateway, started);

    let warm = samples
        .iter()
        .find(|s| s.at >= plan.warmup)
        .or(samples.first())
        .copied()
        .context("no sample taken: the soak was too short")?;
    let end = samples.last().copied().unwrap_or(warm);
    let peak = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);

    let tally = std::mem::take(&mut *lock(&tally));
    let audit = check_audit(&plan.audit, &tally.attempts)?;

    let mut f: Fields = vec![
        ("secs", format!("{:.0}", elapsed.as_secs_f64())),
        ("workers", plan.workers.to_string()),
        ("sessions", tally.completed.to_string()),
        (
            "per_sec",
            format!("{:.0}", tally.completed as f64 / elapsed.as_secs_f64()),
        ),
        ("failed", tally.failed.values().sum::<usize>().to_string()),
    ];
    for kind in Kind::ALL {
        let ok = tally.completed(kind);
        let failed = tally.failed.get(&kind).copied().unwrap_or(0);
        f.push((kind.name(), format!("{ok}/{failed}")));
    }
    f.extend([
        ("rss_before_kib", before.rss_kib.to_string()),
        ("warm_at_s", warm.at.as_secs().to_string()),
        ("rss_warm_kib", warm.rss_kib.to_string()),
        ("rss_end_kib", end.rss_kib.to_string()),
        ("rss_peak_kib", peak.to_string()),
        ("rss_after_kib", after.rss_kib.to_string()),
        (
            "rss_end_vs_warm_pct",
            format!(
                "{:+.1}",
                (end.rss_kib as f64 / warm.rss_kib.max(1) as f64 - 1.0) * 100.0
            ),
        ),
        ("rss_every_minute_mib", every_minute(&samples)),
        ("fds_before", before.fds.to_string()),
        ("fds_end", end.fds.to_string()),
        ("fds_after", after.fds.to_string()),
    ]);
    f.extend(audit);
    Ok(f)
}

/// RSS at each whole minute of load, in MiB: `1:98.9,2:104.7,…`.
fn every_minute(samples: &[Sample]) -> String {
    let mut out = Vec::new();
    let mut minute = 1;
    for s in samples {
        if s.at.as_secs() >= minute * 60 {
            out.push(format!("{minute}:{:.1}", s.rss_kib as f64 / 1024.0));
            minute += 1;
        }
    }
    out.join(",")
}

fn lock(tally: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    tally
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn worker(
    plan: Arc<SoakPlan>,
    index: usize,
    deadline: Instant,
    tally: Arc<Mutex<Tally>>,
    next_address: Arc<AtomicU32>,
) {
    let mut turn = index;
    while Instant::now() < deadline {
        let kind = Kind::ALL[turn % Kind::ALL.len()];
        let target = if kind == Kind::CertView {
            plan.view_target.as_str()
        } else {
            plan.targets[(turn / Kind::ALL.len()) % plan.targets.len()].as_str()
        };
        turn += 1;
        let from = source_address(next_address.fetch_add(1, Ordering::Relaxed));
        // The key's id, kept when the session fails or runs out of time.
        let mut key_id = None;
        let result = tokio::time::timeout(
            SESSION_LIMIT,
            session(&plan, kind, target, from, &mut key_id),
        )
        .await;
        let why = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("{e:#}")),
            Err(_) => Some(format!("not done within {} s", SESSION_LIMIT.as_secs())),
        };
        let attempt = Attempt {
            kind,
            from,
            key_id,
            outcome: if why.is_none() {
                Outcome::Completed
            } else {
                Outcome::Failed
            },
        };
        lock(&tally).record(attempt, why.as_deref());
        if why.is_some() {
            tokio::time::sleep(BACKOFF).await;
        }
    }
}

async fn session(
    plan: &SoakPlan,
    kind: Kind,
    target: &str,
    from: Ipv4Addr,
    key_id: &mut Option<String>,
) -> anyhow::Result<()> {
    let (tls, path) = if kind.by_key() {
        let (id, key) = issue_key(
            plan.addr,
            &plan.anonymous,
            &plan.admin_token,
            target,
            kind.view_only(),
        )
        .await
        .context("POST /api/otk")?;
        *key_id = Some(id);
        (&plan.anonymous, format!("/ws/{target}?otk={key}"))
    } else {
        (&plan.with_cert, format!("/ws/{target}"))
    };
    let sock = TcpSocket::new_v4()?;
    sock.set_nodelay(true)?;
    sock.bind(SocketAddr::from((from, 0)))
        .with_context(|| format!("bind {from}"))?;
    let sock = sock.connect(plan.addr).await.context("connect")?;
    let url = format!("wss://{}{path}", plan.addr);
    let mut ws = crate::client::upgrade(sock, tls, &url, READ_BUFFER).await?;
    let mut greeting = Vec::new();
    while greeting.len() < GREETING.len() {
        match ws.next().await {
            Some(Ok(Message::Binary(data))) => greeting.extend_from_slice(&data),
            Some(Ok(Message::Close(frame))) => bail!(
                "closed before the greeting: {}",
                frame.map(|f| f.reason.to_string()).unwrap_or_default()
            ),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e).context("before the greeting"),
            None => bail!("ended before the greeting"),
        }
    }
    if !greeting.starts_with(b"RFB 003.") {
        bail!("not an RFB greeting: {greeting:?}");
    }
    tokio::time::sleep(plan.hold).await;
    ws.close(None).await.context("close")?;
    while let Some(Ok(_)) = ws.next().await {}
    Ok(())
}

/// Issues a one-time key through the API: its id and the key.
/// `POST /api/otk` to the gateway at `addr` with the admin token: the key's id and the key.
pub async fn issue_key(
    addr: SocketAddr,
    tls: &TlsConnector,
    admin_token: &str,
    target: &str,
    view_only: bool,
) -> anyhow::Result<(String, String)> {
    let body = serde_json::json!({ "target": target, "ttl_seconds": 600, "view_only": view_only })
        .to_string();
    let sock = TcpStream::connect(addr).await?;
    let mut tls = tls
        .connect(ServerName::IpAddress(addr.ip().into()), sock)
        .await
        .context("TLS handshake")?;
    let head = format!(
        "POST /api/otk HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {admin_token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await?;
    tls.write_all(body.as_bytes()).await?;
    tls.flush().await?;
    let mut answer = Vec::new();
    // A server that closes without close_notify ends the answer too.
    let _ = (&mut tls)
        .take(MAX_ANSWER_BYTES)
        .read_to_end(&mut answer)
        .await;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").context("no complete answer")?;
    if !head.starts_with("HTTP/1.1 201") {
        bail!(
            "answer {:?}: {}",
            head.lines().next().unwrap_or_default(),
            body.trim()
        );
    }
    let json: serde_json::Value = serde_json::from_str(body.trim()).context("answer body")?;
    let field = |name: &str| {
        json[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no {name:?} in the answer"))
    };
    Ok((field("id")?, field("key")?))
}

/// What the audit log says of one source address (one session).
#[derive(Default)]
struct Logged {
    lines: usize,
    /// The kind of its last `ended` line, if it has one of a known kind.
    ended: Option<Kind>,
}

/// Every completed session must be in the audit log exactly once, as `ended`, with its kind;
/// a failed one at most once; no line may name an address no session came from; and every
/// key's id appears at most once (exactly once for a completed session).
fn check_audit(path: &std::path::Path, attempts: &[Attempt]) -> anyhow::Result<Fields> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the audit log {}", path.display()))?;
    let mut by_address: BTreeMap<Ipv4Addr, Logged> = BTreeMap::new();
    let mut key_ids: BTreeMap<String, usize> = BTreeMap::new();
    let (mut lines, mut refused, mut unreadable) = (0usize, 0usize, 0usize);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        lines += 1;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            unreadable += 1;
            continue;
        };
        let key_id = v["key_id"].as_str();
        if let Some(id) = key_id {
            *key_ids.entry(id.to_owned()).or_default() += 1;
        }
        let Some(from) = v["from"]
            .as_str()
            .and_then(|f| f.parse::<SocketAddr>().ok())
            .and_then(|a| match a.ip() {
                std::net::IpAddr::V4(ip) => Some(ip),
                std::net::IpAddr::V6(_) => None,
            })
        else {
            unreadable += 1;
            continue;
        };
        let logged = by_address.entry(from).or_default();
        logged.lines += 1;
        if v["outcome"] == "ended" {
            let mode = v["mode"].as_str().unwrap_or_default();
            logged.ended = Kind::of_audit(key_id.is_some(), mode);
        } else {
            refused += 1;
        }
    }
    let mut c = AuditCount::default();
    for a in attempts {
        let logged = by_address.remove(&a.from).unwrap_or_default();
        match a.outcome {
            Outcome::Completed => match logged.lines {
                0 => c.missing += 1,
                1 if logged.ended == Some(a.kind) => c.once += 1,
                1 => c.wrong += 1,
                _ => c.duplicated += 1,
            },
            Outcome::Failed => match logged.lines {
                0 => c.failed_unlogged += 1,
                1 => c.failed_logged += 1,
                _ => c.duplicated += 1,
            },
        }
        if let Some(id) = &a.key_id {
            let n = key_ids.get(id).copied().unwrap_or(0);
            let want_once = a.outcome == Outcome::Completed;
            if n > 1 || (want_once && n != 1) {
                c.keys_wrong += 1;
            }
        }
    }
    // Lines from an address no session came from (the API's own connections write none).
    let strangers: usize = by_address.values().map(|l| l.lines).sum();
    Ok(vec![
        ("audit_lines", lines.to_string()),
        ("audit_refused", refused.to_string()),
        ("audit_unreadable", unreadable.to_string()),
        ("audit_completed_once", c.once.to_string()),
        ("audit_completed_missing", c.missing.to_string()),
        ("audit_completed_wrong", c.wrong.to_string()),
        ("audit_duplicated", c.duplicated.to_string()),
        ("audit_failed_logged", c.failed_logged.to_string()),
        ("audit_failed_unlogged", c.failed_unlogged.to_string()),
        ("audit_strangers", strangers.to_string()),
        ("audit_keys_wrong", c.keys_wrong.to_string()),
    ])
}

#[derive(Default)]
struct AuditCount {
    once: usize,
    missing: usize,
    wrong: usize,
    duplicated: usize,
    failed_logged: usize,
    failed_unlogged: usize,
    keys_wrong: usize,
}
