//! `wsbench redeem`: one-time keys, as fast as the gateway takes them. First `keys` keys are
//! issued through `POST /api/otk`; then `concurrency` clients use them, one session each: TCP,
//! TLS, the WebSocket upgrade to `/ws/TARGET?otk=KEY`, and the RFB greeting through the
//! gateway (its admission, the store's atomic use of the key, the dial), then a close. Printed:
//! keys issued and redeemed per second, and the latency of each redemption — all of it, and
//! from the upgrade request on (what admission adds to a connection).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

use crate::scenarios::Fields;

/// The longest one redemption may take.
const SESSION_LIMIT: Duration = Duration::from_secs(20);
/// Keys issued at once.
const ISSUE_CONCURRENCY: usize = 16;

pub struct RedeemPlan {
    pub addr: SocketAddr,
    pub tls: TlsConnector,
    pub admin_token: String,
    pub target: String,
    pub keys: usize,
    pub concurrency: usize,
    pub max_time: Duration,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Pops work items until none are left or the time is up.
fn next<T>(queue: &Mutex<Vec<T>>, deadline: Instant) -> Option<T> {
    if Instant::now() > deadline {
        return None;
    }
    queue.lock().unwrap_or_else(|e| e.into_inner()).pop()
}

async fn redeem_one(plan: &RedeemPlan, key: &str) -> anyhow::Result<(f64, f64)> {
    let started = Instant::now();
    let sock = TcpStream::connect(plan.addr).await?;
    sock.set_nodelay(true)?;
    let url = format!("wss://{}/ws/{}?otk={key}", plan.addr, plan.target);
    // The upgrade request goes out right after the handshake: time it from there.
    let name = rustls::pki_types::ServerName::IpAddress(plan.addr.ip().into());
    let tls = plan
        .tls
        .connect(name, sock)
        .await
        .context("TLS handshake")?;
    let upgrading = Instant::now();
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls)
        .await
        .context("WebSocket upgrade")?;
    match ws.next().await {
        Some(Ok(Message::Binary(b))) if b.starts_with(b"RFB 003.") => {}
        Some(Ok(Message::Close(f))) => bail!(
            "refused: {}",
            f.map(|f| f.reason.to_string()).unwrap_or_default()
        ),
        other => bail!("no greeting: {other:?}"),
    }
    let done = Instant::now();
    let _ = ws.close(None).await;
    Ok((
        (done - started).as_secs_f64() * 1e3,
        (done - upgrading).as_secs_f64() * 1e3,
    ))
}

pub async fn redeem(plan: RedeemPlan) -> anyhow::Result<Fields> {
    let plan = Arc::new(plan);
    let deadline = Instant::now() + plan.max_time;
    let started = Instant::now();
    let todo = Arc::new(Mutex::new((0..plan.keys).collect::<Vec<_>>()));
    let keys = Arc::new(Mutex::new(Vec::with_capacity(plan.keys)));
    let mut tasks = Vec::new();
    for _ in 0..ISSUE_CONCURRENCY {
        let (plan, todo, keys) = (plan.clone(), todo.clone(), keys.clone());
        tasks.push(tokio::spawn(async move {
            while next(&todo, deadline).is_some() {
                let (_, key) = crate::soak::issue_key(
                    plan.addr,
                    &plan.tls,
                    &plan.admin_token,
                    &plan.target,
                    false,
                )
                .await?;
                keys.lock().unwrap_or_else(|e| e.into_inner()).push(key);
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let issue_secs = started.elapsed().as_secs_f64();
    let issued = keys.lock().unwrap_or_else(|e| e.into_inner()).len();

    let results = Arc::new(Mutex::new((Vec::new(), Vec::new(), 0usize)));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..plan.concurrency.max(1) {
        let (plan, keys, results) = (plan.clone(), keys.clone(), results.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(key) = next(&keys, deadline) {
                let r = tokio::time::timeout(SESSION_LIMIT, redeem_one(&plan, &key)).await;
                let mut out = results.lock().unwrap_or_else(|e| e.into_inner());
                match r {
                    Ok(Ok((total, admission))) => {
                        out.0.push(total);
                        out.1.push(admission);
                    }
                    Ok(Err(e)) => {
                        if out.2 < 3 {
                            eprintln!("wsbench: redemption failed: {e:#}");
                        }
                        out.2 += 1;
                    }
                    Err(_) => out.2 += 1,
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let (mut total, mut admission, failed) = {
        let r = results.lock().unwrap_or_else(|e| e.into_inner());
        (r.0.clone(), r.1.clone(), r.2)
    };
    total.sort_by(f64::total_cmp);
    admission.sort_by(f64::total_cmp);
    Ok(vec![
        ("issued", issued.to_string()),
        (
            "issued_per_sec",
            format!("{:.0}", issued as f64 / issue_secs),
        ),
        ("redeemed", total.len().to_string()),
        ("failed", failed.to_string()),
        ("concurrency", plan.concurrency.to_string()),
        ("per_sec", format!("{:.0}", total.len() as f64 / secs)),
        ("p50_ms", format!("{:.2}", percentile(&total, 0.5))),
        ("p99_ms", format!("{:.2}", percentile(&total, 0.99))),
        (
            "admission_p50_ms",
            format!("{:.2}", percentile(&admission, 0.5)),
        ),
        (
            "admission_p99_ms",
            format!("{:.2}", percentile(&admission, 0.99)),
        ),
    ])
}
