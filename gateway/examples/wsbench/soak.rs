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
//! then closed with a close frame. Every loop is bounded in count and in time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
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

/// One session that went through: its kind, the client's port, and the key's id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Done {
    kind: Kind,
    port: u16,
    key_id: Option<String>,
}

#[derive(Default)]
struct Tally {
    done: Vec<Done>,
    failed: BTreeMap<Kind, usize>,
}

impl Tally {
    fn fail(&mut self, kind: Kind, why: &str) {
        let n = self.failed.entry(kind).or_default();
        if *n < REASONS_SHOWN {
            eprintln!("wsbench: {} session failed: {why}", kind.name());
        }
        *n += 1;
    }
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
    let workers: Vec<_> = (0..plan.workers)
        .map(|i| tokio::spawn(worker(plan.clone(), i, deadline, tally.clone())))
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
            lock(&tally).done.len()
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
    let audit = check_audit(&plan.audit, &tally.done)?;

    let mut f: Fields = vec![
        ("secs", format!("{:.0}", elapsed.as_secs_f64())),
        ("workers", plan.workers.to_string()),
        ("sessions", tally.done.len().to_string()),
        (
            "per_sec",
            format!("{:.0}", tally.done.len() as f64 / elapsed.as_secs_f64()),
        ),
        ("failed", tally.failed.values().sum::<usize>().to_string()),
    ];
    for kind in Kind::ALL {
        let ok = tally.done.iter().filter(|d| d.kind == kind).count();
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
        ("fds_before", before.fds.to_string()),
        ("fds_end", end.fds.to_string()),
        ("fds_after", after.fds.to_string()),
    ]);
    f.extend(audit);
    Ok(f)
}

fn lock(tally: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    tally
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn worker(plan: Arc<SoakPlan>, index: usize, deadline: Instant, tally: Arc<Mutex<Tally>>) {
    let mut turn = index;
    while Instant::now() < deadline {
        let kind = Kind::ALL[turn % Kind::ALL.len()];
        let target = if kind == Kind::CertView {
            plan.view_target.as_str()
        } else {
            plan.targets[(turn / Kind::ALL.len()) % plan.targets.len()].as_str()
        };
        turn += 1;
        match tokio::time::timeout(SESSION_LIMIT, session(&plan, kind, target)).await {
            Ok(Ok(done)) => lock(&tally).done.push(done),
            Ok(Err(e)) => {
                lock(&tally).fail(kind, &format!("{e:#}"));
                tokio::time::sleep(BACKOFF).await;
            }
            Err(_) => {
                lock(&tally).fail(
                    kind,
                    &format!("not done within {} s", SESSION_LIMIT.as_secs()),
                );
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
}

async fn session(plan: &SoakPlan, kind: Kind, target: &str) -> anyhow::Result<Done> {
    let (tls, path, key_id) = if kind.by_key() {
        let (id, key) = issue_key(plan, target, kind.view_only())
            .await
            .context("POST /api/otk")?;
        (&plan.anonymous, format!("/ws/{target}?otk={key}"), Some(id))
    } else {
        (&plan.with_cert, format!("/ws/{target}"), None)
    };
    let sock = TcpStream::connect(plan.addr).await.context("connect")?;
    let port = sock.local_addr()?.port();
    let tls = tls
        .connect(ServerName::IpAddress(plan.addr.ip().into()), sock)
        .await
        .context("TLS handshake")?;
    let mut request = format!("wss://{}{path}", plan.addr).into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("binary"));
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(request, tls, Some(config))
        .await
        .context("WebSocket upgrade")?;
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
    Ok(Done { kind, port, key_id })
}

/// Issues a one-time key through the API: its id and the key.
async fn issue_key(
    plan: &SoakPlan,
    target: &str,
    view_only: bool,
) -> anyhow::Result<(String, String)> {
    let body = serde_json::json!({ "target": target, "ttl_seconds": 300, "view_only": view_only })
        .to_string();
    let sock = TcpStream::connect(plan.addr).await?;
    let mut tls = plan
        .anonymous
        .connect(ServerName::IpAddress(plan.addr.ip().into()), sock)
        .await
        .context("TLS handshake")?;
    let head = format!(
        "POST /api/otk HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        plan.addr,
        plan.admin_token,
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

/// Every session the clients completed must be in the audit log exactly once, as `ended`,
/// with its kind and the client's port; every key's id exactly once in the whole log.
fn check_audit(path: &std::path::Path, done: &[Done]) -> anyhow::Result<Fields> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the audit log {}", path.display()))?;
    let mut ended: BTreeMap<(Kind, u16), isize> = BTreeMap::new();
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
        if v["outcome"] != "ended" {
            refused += 1;
            continue;
        }
        let port = v["from"]
            .as_str()
            .and_then(|f| f.rsplit_once(':'))
            .and_then(|(_, p)| p.parse::<u16>().ok());
        let kind = Kind::of_audit(key_id.is_some(), v["mode"].as_str().unwrap_or_default());
        match (kind, port) {
            (Some(kind), Some(port)) => *ended.entry((kind, port)).or_default() += 1,
            _ => unreadable += 1,
        }
    }
    // Client sessions count down what the log counted up: what is left is missing (< 0) or
    // extra (> 0).
    for d in done {
        *ended.entry((d.kind, d.port)).or_default() -= 1;
    }
    let missing: isize = ended.values().filter(|n| **n < 0).map(|n| -n).sum();
    let extra: isize = ended.values().filter(|n| **n > 0).sum();
    let keys_not_once = done
        .iter()
        .filter_map(|d| d.key_id.as_ref())
        .filter(|id| key_ids.get(*id).copied() != Some(1))
        .count();
    Ok(vec![
        ("audit_lines", lines.to_string()),
        ("audit_refused", refused.to_string()),
        ("audit_unreadable", unreadable.to_string()),
        ("audit_missing", missing.to_string()),
        ("audit_extra", extra.to_string()),
        ("audit_keys_not_once", keys_not_once.to_string()),
    ])
}
