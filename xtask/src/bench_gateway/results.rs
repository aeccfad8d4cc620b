//! The figures of many runs, merged, and the table with the targets.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{
    Figures, Via, GOAL_ADDED_P99_US, GOAL_CPU_S_PER_GB, GOAL_IDLE_KIB, GOAL_OF_RELAY,
    GOAL_VS_WEBSOCKIFY, IDLE_WEBSOCKIFY, STREAM_BYTES, SUMMED, TRIALS,
};

/// One set of figures from several trials: counts summed, the rest the median.
pub fn merge(trials: &[Figures]) -> Option<Figures> {
    let first = trials.first()?;
    let mut merged = Figures::new();
    for key in first.keys() {
        let value = if SUMMED.contains(&key.as_str()) {
            let sum: u64 = trials
                .iter()
                .filter_map(|t| t.get(key)?.parse::<u64>().ok())
                .sum();
            sum.to_string()
        } else {
            let mut v: Vec<f64> = trials
                .iter()
                .filter_map(|t| t.get(key)?.parse().ok())
                .collect();
            v.sort_by(f64::total_cmp);
            match v.get(v.len() / 2) {
                Some(m) => format!("{m:.2}"),
                // Not a number (the cipher suite): the first trial's.
                None => first[key].clone(),
            }
        };
        merged.insert(key.clone(), value);
    }
    merged.insert("trials".to_owned(), trials.len().to_string());
    Some(merged)
}

/// Figures by scenario and way through.
#[derive(Debug, Default)]
pub struct Results {
    pub rows: BTreeMap<(&'static str, Via), Figures>,
    /// Printed under the table.
    pub notes: Vec<String>,
}

impl Results {
    pub fn put(&mut self, scenario: &'static str, via: Via, figures: Option<Figures>) {
        if let Some(f) = figures {
            self.rows.insert((scenario, via), f);
        }
    }

    fn num(&self, scenario: &'static str, via: Via, key: &str) -> Option<f64> {
        self.rows.get(&(scenario, via))?.get(key)?.parse().ok()
    }

    fn text(&self, scenario: &'static str, via: Via, key: &str) -> Option<&str> {
        self.rows
            .get(&(scenario, via))?
            .get(key)
            .map(String::as_str)
    }
}

pub fn table(r: &Results) -> String {
    let n0 = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.0}"));
    let n1 = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.1}"));
    let n2 = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2}"));
    let mut s = String::new();
    let row = |s: &mut String, name: &str, cells: [String; 4]| {
        let _ = writeln!(s, "| {name} | {} |", cells.join(" | "));
    };
    row(
        &mut s,
        "figure",
        [
            "plain TCP, direct",
            "plain TCP relay",
            "vncgate (wss)",
            "websockify (wss)",
        ]
        .map(String::from),
    );
    s.push_str("|---|---:|---:|---:|---:|\n");
    let each = |f: &dyn Fn(Via) -> String| Via::ALL.map(f);
    for (key, what) in [("throughput1", "1 session"), ("throughput8", "8 sessions")] {
        row(
            &mut s,
            &format!("throughput, {what} (MB/s)"),
            each(&|v| n0(r.num(key, v, "mb_per_s"))),
        );
    }
    row(
        &mut s,
        "8 sessions: bytes delivered / sent",
        each(&|v| match (
            r.text("throughput8", v, "delivered"),
            r.text("throughput8", v, "sent"),
        ) {
            (Some(d), Some(s)) => format!("{d} / {s}"),
            _ => "–".to_owned(),
        }),
    );
    row(
        &mut s,
        "TLS cipher suite (negotiated)",
        each(&|v| {
            r.text("throughput1", v, "cipher")
                .map_or("–".to_owned(), |c| format!("`{c}`"))
        }),
    );
    row(
        &mut s,
        "relay CPU per GB, 1 session (s)",
        each(&|v| n2(r.num("throughput1", v, "gateway_cpu_s_per_gb"))),
    );
    for (key, what) in [("p50_us", "p50"), ("p99_us", "p99")] {
        row(
            &mut s,
            &format!("round trip {what}, 16 B (µs)"),
            each(&|v| n0(r.num("latency", v, key))),
        );
        row(
            &mut s,
            &format!("added {what} vs direct TCP (µs)"),
            each(&|v| {
                let added = r
                    .num("latency", v, key)
                    .zip(r.num("latency", Via::Direct, key))
                    .map(|(a, d)| a - d);
                if v == Via::Direct {
                    "–".to_owned()
                } else {
                    n0(added)
                }
            }),
        );
    }
    row(
        &mut s,
        "idle sessions: opened / still open after the hold",
        each(&|v| match (
            r.text("idle", v, "opened"),
            r.text("idle", v, "still_open"),
            r.text("idle", v, "sessions"),
        ) {
            (Some(o), Some(open), Some(n)) => format!("{o} of {n} / {open}"),
            _ => "–".to_owned(),
        }),
    );
    row(
        &mut s,
        "memory per idle session, RSS (KiB)",
        each(&|v| n1(r.num("idle", v, "rss_per_session_kib"))),
    );
    row(
        &mut s,
        "memory per idle session, PSS (KiB)",
        each(&|v| n1(r.num("idle", v, "pss_per_session_kib"))),
    );
    row(
        &mut s,
        "after a 256 KiB burst: idle sessions opened",
        each(&|v| match (
            r.text("idle_burst", v, "opened"),
            r.text("idle_burst", v, "sessions"),
        ) {
            (Some(o), Some(n)) => format!("{o} of {n}"),
            _ => "–".to_owned(),
        }),
    );
    row(
        &mut s,
        "after a 256 KiB burst: memory per idle session, RSS / PSS (KiB)",
        each(&|v| match (
            r.num("idle_burst", v, "rss_per_session_kib"),
            r.num("idle_burst", v, "pss_per_session_kib"),
        ) {
            (None, None) => "–".to_owned(),
            (rss, pss) => format!("{} / {}", n1(rss), n1(pss)),
        }),
    );
    s.push('\n');
    let _ = writeln!(
        s,
        "Throughput and round trips: the median of {TRIALS} interleaved trials (a throughput \
         trial: the median of its rounds, each {} MiB per session from the first byte to the \
         last; bytes delivered and sent: summed over all). MB = 10⁶ bytes.\n",
        STREAM_BYTES >> 20
    );
    for note in &r.notes {
        let _ = writeln!(s, "{note}\n");
    }
    if r.rows.contains_key(&("idle", Via::Websockify)) {
        let _ = writeln!(
            s,
            "websockify memory: {IDLE_WEBSOCKIFY} sessions (it forks a process per connection), \
             summed over its {} processes; RSS counts pages shared between them once per \
             process, PSS divides them among their sharers.\n",
            r.text("idle", Via::Websockify, "processes_after")
                .unwrap_or("?")
        );
    }

    // Recording: the same RFB stream through vncgate, relayed as it is and recorded.
    let _ = writeln!(
        s,
        "Session recording (`rfb` source: an RFB handshake, then {} MiB of Raw updates, 1 \
         session through vncgate; recorded: the gateway logs in and writes every byte to \
         disk):\n",
        STREAM_BYTES >> 20
    );
    s.push_str("| figure | not recorded | recorded |\n|---|---:|---:|\n");
    let both = |key: &str, f: &dyn Fn(Option<f64>) -> String| {
        [
            f(r.num("record_off", Via::Vncgate, key)),
            f(r.num("record_on", Via::Vncgate, key)),
        ]
    };
    for (key, what, f) in [
        (
            "mb_per_s",
            "throughput (MB/s)",
            &n0 as &dyn Fn(Option<f64>) -> String,
        ),
        ("gateway_cpu_s_per_gb", "gateway CPU per GB (s)", &n1),
    ] {
        let [off, on] = both(key, f);
        let _ = writeln!(s, "| {what} | {off} | {on} |");
    }
    s.push('\n');

    // Targets.
    let goal = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "not measured",
    };
    let t1 = |v| r.num("throughput1", v, "mb_per_s");
    let vs_ws = t1(Via::Vncgate)
        .zip(t1(Via::Websockify))
        .map(|(g, w)| g / w);
    let of_relay = t1(Via::Vncgate).zip(t1(Via::Relay)).map(|(g, t)| g / t);
    let x = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2}×"));
    let cpu = r.num("throughput1", Via::Vncgate, "gateway_cpu_s_per_gb");
    let _ = writeln!(
        s,
        "- 1 session, vncgate ≥ {GOAL_VS_WEBSOCKIFY}× websockify: {} — {}",
        x(vs_ws),
        goal(vs_ws.map(|v| v >= GOAL_VS_WEBSOCKIFY))
    );
    let _ = writeln!(
        s,
        "- 1 session, vncgate ≥ {:.0} % of the plain TCP relay: {} — {}",
        GOAL_OF_RELAY * 100.0,
        of_relay.map_or("–".to_owned(), |v| format!("{:.0} %", v * 100.0)),
        goal(of_relay.map(|v| v >= GOAL_OF_RELAY)),
    );
    let _ = writeln!(
        s,
        "- 1 session, vncgate CPU per GB relayed ≤ {GOAL_CPU_S_PER_GB} s: {} s — {}",
        n2(cpu),
        goal(cpu.map(|c| c <= GOAL_CPU_S_PER_GB)),
    );
    for via in [Via::Vncgate, Via::Websockify] {
        let d = r.num("throughput8", via, "delivered");
        let sent = r.num("throughput8", via, "sent");
        let _ = writeln!(
            s,
            "- 8 sessions, {via:?}: delivered = sent: {}",
            goal(d.zip(sent).map(|(d, s)| d == s && d > 0.0))
        );
    }
    let added = r
        .num("latency", Via::Vncgate, "p99_us")
        .zip(r.num("latency", Via::Direct, "p99_us"))
        .map(|(a, d)| a - d);
    let _ = writeln!(
        s,
        "- added p99 ≤ {GOAL_ADDED_P99_US} µs (vncgate): {} µs — {}",
        n0(added),
        goal(added.map(|a| a <= GOAL_ADDED_P99_US))
    );
    let kib = r.num("idle", Via::Vncgate, "rss_per_session_kib");
    let all_open = r
        .num("idle", Via::Vncgate, "still_open")
        .zip(r.num("idle", Via::Vncgate, "sessions"))
        .map(|(o, n)| o == n);
    let _ = writeln!(
        s,
        "- {} idle sessions ≤ {GOAL_IDLE_KIB} KiB each (vncgate RSS): {} KiB — {}; all stayed open: {}",
        r.text("idle", Via::Vncgate, "sessions").unwrap_or("–"),
        n1(kib),
        goal(kib.map(|k| k <= GOAL_IDLE_KIB)),
        goal(all_open)
    );
    s
}
