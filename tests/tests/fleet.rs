//! A fleet end to end (docs/fleet.md): `redis-server` and HAProxy from Debian, two `vncgate
//! serve` processes sharing the Redis, a real Xvnc behind them, clients from loopback
//! addresses of their own through HAProxy (PROXY v2) or straight to an instance, and headless
//! Chromium for what a person sees.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use serde_json::Value;
use tests::api::{admitted, refused_with};
use tests::browser::Browser;
use tests::fleet::{Haproxy, Redis, HAPROXY_SOURCE};
use tests::gateway::Gateway;
use tests::pki::CertDir;
use tests::proc::{free_port, wait_until};
use tests::vnc::vncgate;
use tests::wss::{self, Frame};
use tests::xvnc::Xvnc;
use tests::TempDir;

const TOKEN: &str = "fleet-admin-token-0123456789";

/// Dropped in this order: the balancer, the instances, then Redis and the desktop.
struct Fleet {
    haproxy: Haproxy,
    a: Gateway,
    b: Gateway,
    redis: Redis,
    dir: TempDir,
    _desk: Xvnc,
}

fn instance(
    dir: &Path,
    name: &str,
    desk: &Xvnc,
    redis: &Redis,
    extra: &[&str],
) -> anyhow::Result<Gateway> {
    let token = dir.join("admin-token");
    std::fs::write(&token, format!("{TOKEN}\n"))?;
    let audit = dir.join(format!("audit-{name}.jsonl"));
    let mut args = vec![
        "--target".to_owned(),
        format!("desk=127.0.0.1:{}", desk.port),
        "--store".to_owned(),
        redis.url(),
        "--instance".to_owned(),
        name.to_owned(),
        "--proxy-protocol-from".to_owned(),
        HAPROXY_SOURCE.to_owned(),
        "--admin-token-file".to_owned(),
        token.display().to_string(),
        "--audit-log".to_owned(),
        audit.display().to_string(),
        "--limit".to_owned(),
        "session_heartbeat_secs=1".to_owned(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Gateway::start(&refs)
}

impl Fleet {
    fn start(tag: &str, extra: &[&str]) -> anyhow::Result<Self> {
        let dir = TempDir::new(tag)?;
        // Every session reaches Xvnc from 127.0.0.1: sessions the tests drop before their
        // handshake must not get that address blacklisted.
        let desk = Xvnc::start(
            640,
            480,
            &["-SecurityTypes", "None", "-BlacklistThreshold", "1000000"],
        )?;
        let redis = Redis::start()?;
        let a = instance(dir.path(), "a", &desk, &redis, extra)?;
        let b = instance(dir.path(), "b", &desk, &redis, extra)?;
        let haproxy = Haproxy::start(dir.path(), &[("a", a.port), ("b", b.port)], 400)?;
        Ok(Self {
            redis,
            a,
            b,
            haproxy,
            dir,
            _desk: desk,
        })
    }

    fn lb(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.haproxy.port))
    }
}

fn at(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A loopback client address: 127.0.`net`.`host`.
fn from(net: u8, host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, net, host))
}

/// The admin API of the instance on `port`, with the fleet's token.
fn api(port: u16, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<(u16, Value)> {
    tests::api::call(port, Some(TOKEN), method, path, body)
}

/// A key for target desk from instance `port`'s API.
fn issue(port: u16) -> anyhow::Result<String> {
    tests::api::issue(port, TOKEN, "desk")
}

/// Opens `/ws/desk?otk=KEY` from `client` to `to`; what the gateway answered first.
fn redeem(client: IpAddr, to: SocketAddr, key: &str) -> anyhow::Result<(wss::Wss, Frame)> {
    tests::api::redeem(client, to, "desk", key)
}

fn sessions(port: u16) -> anyhow::Result<Vec<Value>> {
    tests::api::sessions(port, TOKEN)
}

/// A key issued on instance A is used through HAProxy on whichever instance it picks, once:
/// the second use is refused everywhere; of 50 simultaneous uses across both instances exactly
/// one gets the desktop; `vncgate otk issue --store` makes keys every instance accepts; Redis
/// holds SHA-256 hashes, never keys.
#[test]
fn a_key_works_once_on_any_instance_and_of_fifty_racing_uses_one_wins() -> anyhow::Result<()> {
    let f = Fleet::start("fleet-keys", &[])?;
    let key = issue(f.a.port)?;
    let (_session, first) = redeem(from(1, 1), f.lb(), &key)?;
    ensure!(admitted(&first), "the first use through HAProxy: {first:?}");
    for (n, to) in [(2, f.lb()), (3, at(f.a.port)), (4, at(f.b.port))] {
        let (_, again) = redeem(from(1, n), to, &key)?;
        ensure!(
            refused_with(&again, "already used"),
            "used again at {to}: {again:?}"
        );
    }

    let race = issue(f.b.port)?;
    let lb = f.lb();
    let outcomes: Vec<anyhow::Result<Frame>> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=50u8)
            .map(|i| {
                let race = race.clone();
                s.spawn(move || redeem(from(2, i), lb, &race).map(|(_, f)| f))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a client panicked")))
            })
            .collect()
    });
    let mut wins = 0;
    for o in &outcomes {
        match o {
            Ok(f) if admitted(f) => wins += 1,
            Ok(f) => ensure!(refused_with(f, "already used"), "a racing use: {f:?}"),
            Err(e) => anyhow::bail!("a racing client failed: {e:#}"),
        }
    }
    ensure!(wins == 1, "{wins} of 50 simultaneous uses were admitted");
    let served = ["a", "b"].map(|n| {
        std::fs::read_to_string(f.dir.path().join(format!("audit-{n}.jsonl"))).unwrap_or_default()
    });
    ensure!(
        served.iter().all(|audit| audit.contains("already used")),
        "both instances refused some of the racing uses: {served:?}"
    );

    let link = vncgate(&[
        "otk",
        "issue",
        "--target",
        "desk",
        "--store",
        &f.redis.url(),
        "--gateway",
        "https://gw.example",
    ])?;
    let cli_key = link
        .split("otk=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .context("no key in the link")?
        .trim()
        .to_owned();
    let (_cli, first) = redeem(from(1, 5), f.lb(), &cli_key)?;
    ensure!(
        admitted(&first),
        "a key from `vncgate otk issue --store`: {first:?}"
    );

    let names = f.redis.cli(&["--scan", "--pattern", "vncgate:otk:*"])?;
    ensure!(names.lines().count() == 3, "three keys stored: {names}");
    for k in [&key, &race, &cli_key] {
        ensure!(
            !names.contains(k.as_str()),
            "a key itself is in Redis: {names}"
        );
    }
    let listed = vncgate(&["otk", "list", "--store", &f.redis.url()])?;
    ensure!(listed.matches("used").count() == 3, "otk list: {listed}");
    Ok(())
}

/// Five failed keys spread over both instances lock the address out on both; the valid key
/// it then presents is not used up, and works from another address.
#[test]
fn five_failures_over_two_instances_lock_the_address_out_on_both() -> anyhow::Result<()> {
    let f = Fleet::start("fleet-lockout", &[])?;
    let attacker = from(3, 1);
    for i in 0..5 {
        let (_, refused) = redeem(
            attacker,
            f.lb(),
            &format!("not-a-valid-key-{i}-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        )?;
        ensure!(
            refused_with(&refused, "not valid"),
            "bad key {i}: {refused:?}"
        );
    }
    let audits: Vec<String> = ["a", "b"]
        .iter()
        .map(|n| {
            std::fs::read_to_string(f.dir.path().join(format!("audit-{n}.jsonl")))
                .unwrap_or_default()
        })
        .collect();
    ensure!(
        audits.iter().all(|a| a.contains("\"from\":\"127.0.3.1:")),
        "both instances saw the failures, with the address HAProxy passed on: {audits:?}"
    );
    let key = issue(f.a.port)?;
    for to in [at(f.a.port), at(f.b.port), f.lb()] {
        let (_, locked) = redeem(attacker, to, &key)?;
        ensure!(
            refused_with(&locked, "too many failed attempts"),
            "at {to}: {locked:?}"
        );
    }
    let (_s, first) = redeem(from(3, 2), f.lb(), &key)?;
    ensure!(
        admitted(&first),
        "the key was not used up by the locked-out address: {first:?}"
    );
    Ok(())
}

/// The session list shows the sessions of both instances with the client addresses from the
/// PROXY header; `DELETE /api/sessions/ID` on one instance ends a session on the other, whose
/// client is told why; `vncgate sessions kill` does the same; the browser shows the reason.
#[test]
fn sessions_of_both_instances_are_listed_and_ended_from_either() -> anyhow::Result<()> {
    let f = Fleet::start("fleet-sessions", &[])?;
    let mut clients = Vec::new();
    for _ in 0..2 {
        let (ws, first) = redeem(from(4, 1), f.lb(), &issue(f.a.port)?)?;
        ensure!(admitted(&first), "{first:?}");
        clients.push(ws);
    }
    let listed = wait_until(Duration::from_secs(10), "both sessions in the list", || {
        let all = sessions(f.a.port)?;
        Ok((all.len() == 2).then_some(all))
    })?;
    let instances: BTreeSet<&str> = listed
        .iter()
        .filter_map(|s| s["instance"].as_str())
        .collect();
    ensure!(
        instances == BTreeSet::from(["a", "b"]),
        "one session on each instance: {listed:?}"
    );
    for s in &listed {
        ensure!(
            s["client"]
                .as_str()
                .is_some_and(|c| c.starts_with("127.0.4.1:"))
                && s["target"] == "desk"
                && s["via"] == "websocket"
                && s["bytes_to_client"].as_u64().is_some(),
            "{s}"
        );
    }
    let from_cli = vncgate(&["sessions", "list", "--store", &f.redis.url()])?;
    ensure!(from_cli.matches("127.0.4.1:").count() == 2, "{from_cli}");

    // A's API ends the session running on B.
    let on_b = listed
        .iter()
        .find(|s| s["instance"] == "b")
        .context("b's session")?;
    let id = on_b["id"].as_str().context("id")?;
    let (status, body) = api(f.a.port, "DELETE", &format!("/api/sessions/{id}"), None)?;
    ensure!(
        status == 202 && body["instance"] == "b",
        "DELETE: {status} {body}"
    );
    let mut ended = Vec::new();
    let mut still_open = Vec::new();
    for mut c in clients {
        match c.close_reason_within(Duration::from_secs(3)) {
            Ok(r) => ended.push(r),
            Err(_) => still_open.push(c),
        }
    }
    ensure!(ended == ["ended by an administrator"], "closed: {ended:?}");
    let audit_b = std::fs::read_to_string(f.dir.path().join("audit-b.jsonl"))?;
    ensure!(
        audit_b.contains("ended by an administrator (admin token)"),
        "B's audit log names who: {audit_b}"
    );
    let (status, _) = api(f.b.port, "DELETE", &format!("/api/sessions/{id}"), None)?;
    ensure!(status == 404, "an ended session is gone: {status}");

    // The command line ends the other one.
    let on_a = listed
        .iter()
        .find(|s| s["instance"] == "a")
        .context("a's session")?;
    let a_id = on_a["id"].as_str().context("id")?.to_owned();
    wait_until(Duration::from_secs(10), "a's session in the store", || {
        Ok(
            vncgate(&["sessions", "list", "--json", "--store", &f.redis.url()])?
                .contains(&a_id)
                .then_some(()),
        )
    })?;
    vncgate(&[
        "sessions",
        "kill",
        on_a["id"].as_str().context("id")?,
        "--store",
        &f.redis.url(),
    ])?;
    let mut last = still_open.pop().context("a's client")?;
    let reason = last.close_reason_within(Duration::from_secs(5))?;
    ensure!(reason == "ended by an administrator", "{reason}");
    wait_until(Duration::from_secs(10), "no sessions left", || {
        Ok(sessions(f.b.port)?.is_empty().then_some(()))
    })?;

    // A person in the browser is told.
    let browser = Browser::start()?;
    let key = issue(f.b.port)?;
    browser.goto(&format!(
        "https://127.0.0.1:{}/#otk={key}&target=desk",
        f.haproxy.port
    ))?;
    if let Err(e) = browser.wait_for_state("connected", Duration::from_secs(30)) {
        let _ = browser.screenshot(Path::new("/tmp/fleet-browser.png"));
        let state = browser.eval(
            "const s = document.getElementById('status'); const m = document.getElementById('message'); \
             return [s ? s.dataset.state : null, m ? m.textContent : ''];",
        );
        anyhow::bail!("{e:#}; the page: {state:?}");
    }
    let theirs = wait_until(Duration::from_secs(10), "the browser's session", || {
        Ok(sessions(f.a.port)?.into_iter().next())
    })?;
    let other = if theirs["instance"] == "a" {
        f.b.port
    } else {
        f.a.port
    };
    // Another instance knows a session once its instance published it (within a second).
    wait_until(
        Duration::from_secs(10),
        "the session seen by the other instance",
        || {
            Ok(sessions(other)?
                .iter()
                .any(|s| s["id"] == theirs["id"])
                .then_some(()))
        },
    )?;
    let (status, body) = api(
        other,
        "DELETE",
        &format!("/api/sessions/{}", theirs["id"].as_str().unwrap_or("")),
        None,
    )?;
    ensure!(
        status == 202,
        "DELETE from the other instance: {status} {body}"
    );
    let msg = browser.wait_for_state("error", Duration::from_secs(15))?;
    ensure!(
        msg.contains("ended by an administrator"),
        "the page says: {msg}"
    );
    // With VNCGATE_SCREENSHOTS=DIR the page is kept for docs/screenshots.
    if let Some(dir) = std::env::var_os("VNCGATE_SCREENSHOTS") {
        browser.screenshot(&Path::new(&dir).join("ended-by-administrator.png"))?;
    }
    Ok(())
}

/// Redis stopped mid-session: the session goes on, a new key is refused with the reason, and
/// once Redis is back the fleet works again by itself. An instance killed with `kill -9`: the
/// other keeps serving through HAProxy and the dead one's sessions leave the list within the
/// heartbeat TTL. A store that is not there at start is named in a clear error.
#[test]
fn redis_lost_and_back_and_an_instance_killed() -> anyhow::Result<()> {
    let f = Fleet::start("fleet-failures", &[])?;
    let (mut running, first) = redeem(from(5, 1), f.lb(), &issue(f.a.port)?)?;
    ensure!(admitted(&first), "{first:?}");
    let pending = issue(f.a.port)?;

    let mut f = f;
    f.redis.stop();
    running.send(b"RFB 003.008\n")?;
    match running.next_frame()? {
        Frame::Binary(types) => ensure!(
            types.first().is_some_and(|&n| n > 0),
            "security types: {types:?}"
        ),
        other => anyhow::bail!("the session did not go on without Redis: {other:?}"),
    }
    let started = Instant::now();
    let (_, refused) = redeem(from(5, 2), f.lb(), &pending)?;
    ensure!(
        refused_with(&refused, "the gateway cannot check one-time keys right now"),
        "without Redis: {refused:?}"
    );
    ensure!(
        started.elapsed() < Duration::from_secs(8),
        "refused within seconds: {:?}",
        started.elapsed()
    );
    let (status, _) = api(f.a.port, "POST", "/api/otk", Some(r#"{"target":"desk"}"#))?;
    ensure!(status == 503, "issuing without Redis: {status}");
    // A wrong admin token cannot be counted: refused as unavailable, not merely as wrong.
    let out = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args(["-H", "Authorization: Bearer not-the-admin-token-0000"])
        .args([
            "-H",
            "Content-Type: application/json",
            "--data",
            r#"{"target":"desk"}"#,
        ])
        .arg(format!("https://127.0.0.1:{}/api/otk", f.a.port))
        .output()?;
    let status = String::from_utf8_lossy(&out.stdout).into_owned();
    ensure!(status == "503", "a wrong token without Redis: {status}");

    f.redis.restart()?;
    let back = wait_until(Duration::from_secs(20), "the fleet to work again", || {
        let Ok(key) = issue(f.b.port) else {
            return Ok(None);
        };
        let (ws, first) = redeem(from(5, 3), f.lb(), &key)?;
        Ok(admitted(&first).then_some(ws))
    })?;
    wait_until(
        Duration::from_secs(10),
        "the running session listed again",
        || Ok((sessions(f.b.port)?.len() == 2).then_some(())),
    )?;
    drop(back);
    drop(running);

    // kill -9 of B while it relays.
    let (on_b, first) = redeem(from(5, 4), at(f.b.port), &issue(f.a.port)?)?;
    ensure!(admitted(&first), "{first:?}");
    wait_until(Duration::from_secs(10), "b's session in the list", || {
        Ok(sessions(f.a.port)?
            .iter()
            .any(|s| s["instance"] == "b")
            .then_some(()))
    })?;
    let Fleet {
        haproxy,
        a,
        b,
        redis,
        dir,
        _desk,
    } = f;
    let killed_at = Instant::now();
    drop(b.kill());
    drop(on_b);
    wait_until(Duration::from_secs(10), "b's sessions to expire", || {
        Ok(sessions(a.port)?
            .iter()
            .all(|s| s["instance"] != "b")
            .then_some(()))
    })?;
    // Refreshed every second, an entry lives 3 s: gone within 4 s of the kill, and some
    // slack for a loaded machine.
    let gone_after = killed_at.elapsed();
    ensure!(
        gone_after <= Duration::from_secs(6),
        "b's entries lasted {gone_after:?} (TTL 3 s)"
    );
    let lb = SocketAddr::from(([127, 0, 0, 1], haproxy.port));
    for i in 0..4 {
        let (_ws, first) = redeem(from(5, 10 + i), lb, &issue(a.port)?)?;
        ensure!(
            admitted(&first),
            "through HAProxy with b dead ({i}): {first:?}"
        );
    }

    let nowhere = format!("redis://127.0.0.1:{}/0", free_port()?);
    let out = Command::new(tests::gateway::binary()?)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            &nowhere,
            "--state-dir",
        ])
        .arg(dir.path().join("nowhere"))
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "started without its store");
    ensure!(
        err.contains(&format!("cannot reach the store {nowhere}")),
        "{err}"
    );
    drop(redis);
    Ok(())
}

/// SIGTERM one instance: HAProxy sends every new session to the other while its sessions
/// drain.
#[test]
fn a_draining_instance_gets_no_new_sessions() -> anyhow::Result<()> {
    let f = Fleet::start("fleet-drain", &["--limit", "shutdown_grace_secs=20"])?;
    let (mut on_a, first) = redeem(from(6, 1), at(f.a.port), &issue(f.a.port)?)?;
    ensure!(admitted(&first), "{first:?}");
    f.a.terminate()?;
    wait_until(Duration::from_secs(5), "a to stop accepting", || {
        Ok(std::net::TcpStream::connect(at(f.a.port))
            .is_err()
            .then_some(()))
    })?;
    for i in 0..6 {
        let (_ws, first) = redeem(from(6, 10 + i), f.lb(), &issue(f.b.port)?)?;
        ensure!(
            admitted(&first),
            "new session {i} during the drain: {first:?}"
        );
    }
    on_a.send(b"RFB 003.008\n")?;
    ensure!(
        matches!(on_a.next_frame()?, Frame::Binary(_)),
        "a's session goes on while it drains"
    );
    wait_until(
        Duration::from_secs(5),
        "a's draining session in the list",
        || {
            Ok(sessions(f.b.port)?
                .iter()
                .any(|s| s["instance"] == "a")
                .then_some(()))
        },
    )?;
    Ok(())
}

/// One instance with the default store (SQLite in the state directory): the same session API
/// and `vncgate sessions` commands work, and the viewer is told why its session ended.
#[test]
fn a_single_instance_lists_and_ends_sessions_without_redis() -> anyhow::Result<()> {
    let dir = TempDir::new("single-sessions")?;
    let desk = Xvnc::start(640, 480, &["-SecurityTypes", "None"])?;
    let token = dir.path().join("admin-token");
    std::fs::write(&token, format!("{TOKEN}\n"))?;
    let gate = Gateway::start(&[
        "--target",
        &format!("desk=127.0.0.1:{}", desk.port),
        "--admin-token-file",
        &token.display().to_string(),
    ])?;
    let state = gate.state.path().display().to_string();
    let mut ws = Vec::new();
    for i in 1..=2 {
        let (w, first) = redeem(from(7, i), at(gate.port), &issue(gate.port)?)?;
        ensure!(admitted(&first), "{first:?}");
        ws.push(w);
    }
    let listed = sessions(gate.port)?;
    ensure!(
        listed.len() == 2,
        "the API lists this instance's sessions at once: {listed:?}"
    );
    ensure!(
        listed
            .iter()
            .all(|s| s["instance"] == format!("{}:{}", hostname(), gate.port)),
        "named HOSTNAME:PORT by default: {listed:?}"
    );
    let table = wait_until(Duration::from_secs(5), "`vncgate sessions list`", || {
        let out = vncgate(&["sessions", "list", "--state-dir", &state])?;
        Ok((out.matches("127.0.7.").count() == 2).then_some(out))
    })?;
    ensure!(table.starts_with("ID "), "a table with a header: {table}");

    let first_id = listed[0]["id"].as_str().context("id")?.to_owned();
    let (status, _) = api(
        gate.port,
        "DELETE",
        &format!("/api/sessions/{first_id}"),
        None,
    )?;
    ensure!(status == 202, "DELETE: {status}");
    let second_id = listed[1]["id"].as_str().context("id")?.to_owned();
    vncgate(&["sessions", "kill", &second_id, "--state-dir", &state])?;
    let mut reasons = Vec::new();
    for w in &mut ws {
        reasons.push(w.close_reason_within(Duration::from_secs(5))?);
    }
    ensure!(
        reasons.iter().all(|r| r == "ended by an administrator"),
        "{reasons:?}"
    );
    let err = vncgate(&["sessions", "kill", &second_id, "--state-dir", &state]).expect_err("gone");
    ensure!(format!("{err:#}").contains("no live session"), "{err:#}");
    let (status, body) = api(gate.port, "GET", "/api/sessions", None)?;
    ensure!(
        status == 200 && body["sessions"] == serde_json::json!([]),
        "{status} {body}"
    );
    let (status, _) = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("https://127.0.0.1:{}/api/sessions", gate.port))
        .output()
        .map(|o| (String::from_utf8_lossy(&o.stdout).into_owned(), ()))?;
    ensure!(status == "403", "the list needs an admin: {status}");
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// `rediss://`: the store's certificate is verified against `--store-ca`; a server the CA did
/// not issue is refused with the URL in the message; `vncgate serve` starts with it.
#[test]
fn a_tls_store_is_verified_with_store_ca() -> anyhow::Result<()> {
    let dir = TempDir::new("fleet-tls")?;
    let pki = CertDir::init(&dir.path().join("pki"), "Store CA")?;
    let other = CertDir::init(&dir.path().join("other"), "Other CA")?;
    pki.run(&["issue", "server", "redis", "--san", "127.0.0.1"])?;
    let redis = Redis::start_tls(&pki.path("redis.crt"), &pki.path("redis.key"))?;
    let url = redis.url();
    ensure!(url.starts_with("rediss://"), "{url}");
    let ca = pki.path("ca.crt");
    vncgate(&[
        "otk",
        "issue",
        "--target",
        "desk",
        "--store",
        &url,
        "--store-ca",
        &ca,
        "--gateway",
        "https://gw.example",
    ])?;
    let listed = vncgate(&["otk", "list", "--store", &url, "--store-ca", &ca])?;
    ensure!(
        listed.contains("pending") && listed.contains("desk"),
        "{listed}"
    );
    let err = vncgate(&[
        "otk",
        "list",
        "--store",
        &url,
        "--store-ca",
        &other.path("ca.crt"),
    ])
    .expect_err("a foreign CA");
    ensure!(
        format!("{err:#}").contains(&format!("cannot reach the store {url}")),
        "{err:#}"
    );
    let err = vncgate(&[
        "otk",
        "list",
        "--store",
        &format!("redis://127.0.0.1:{}/0", redis.port),
        "--store-ca",
        &ca,
    ])
    .expect_err("a CA without TLS");
    ensure!(format!("{err:#}").contains("rediss://"), "{err:#}");
    let gate = Gateway::start(&[
        "--target",
        "desk=127.0.0.1:5999",
        "--store",
        &url,
        "--store-ca",
        &ca,
    ])?;
    wait_until(
        Duration::from_secs(5),
        "the banner to name the store",
        || {
            Ok(gate
                .log_contains(&format!("shared store: {url}"))
                .then_some(()))
        },
    )?;
    Ok(())
}
