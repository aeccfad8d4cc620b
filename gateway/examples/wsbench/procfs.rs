//! A gateway's memory and CPU time, from /proc: one process (vncgate), or a process with
//! its descendants (websockify forks one per connection).

use std::collections::HashSet;

/// The gateway to observe.
#[derive(Debug, Clone, Copy)]
pub struct Proc {
    pub pid: u32,
    /// With every descendant.
    pub tree: bool,
}

/// Memory over the processes observed, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Sum of `VmRSS` (pages shared between forked processes count once per process).
    pub rss_kib: u64,
    /// Sum of `Pss` (shared pages divided between their sharers).
    pub pss_kib: u64,
    pub processes: usize,
}

impl Proc {
    fn pids(&self) -> Vec<u32> {
        if !self.tree {
            return vec![self.pid];
        }
        // Parent of every process, then the descendants breadth-first.
        let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| Some((pid, stat_fields(pid)?.get(1)?.parse().ok()?)))
            .collect();
        let mut found = vec![self.pid];
        let mut seen: HashSet<u32> = found.iter().copied().collect();
        let mut i = 0;
        while let Some(&parent) = found.get(i) {
            for &(pid, ppid) in &parents {
                if ppid == parent && seen.insert(pid) {
                    found.push(pid);
                }
            }
            i += 1;
        }
        found
    }

    pub fn memory(&self) -> Memory {
        let mut m = Memory::default();
        for pid in self.pids() {
            let Some(rss) = kib_field(&format!("/proc/{pid}/status"), "VmRSS:") else {
                continue;
            };
            m.rss_kib += rss;
            m.pss_kib += kib_field(&format!("/proc/{pid}/smaps_rollup"), "Pss:").unwrap_or(0);
            m.processes += 1;
        }
        m
    }

    /// Open file descriptors (of the process itself, not its descendants).
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid)).map_or(0, |d| d.count())
    }

    /// User and system CPU seconds so far (with reaped children's).
    pub fn cpu_secs(&self) -> f64 {
        let ticks = rustix::param::clock_ticks_per_second().max(1);
        let total: u64 = self
            .pids()
            .into_iter()
            .filter_map(stat_fields)
            .map(|f| {
                // After the state (index 0): utime, stime, cutime, cstime are 11..=14.
                (11..=14)
                    .filter_map(|i| f.get(i)?.parse::<u64>().ok())
                    .sum::<u64>()
            })
            .sum();
        total as f64 / ticks as f64
    }
}

/// The fields of /proc/PID/stat after the command name (which may hold spaces): the state
/// first, then the parent's pid, …
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn kib_field(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
