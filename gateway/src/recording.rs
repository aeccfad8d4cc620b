//! Session recordings (`--record-dir`, `[recording]`; docs/recording.md): a session the
//! gateway logged in to is written as it happens, in FBS 001.000 — the server→client stream as
//! a viewer would have received it from ProtocolVersion on, with security None in place of
//! the real authentication (the gateway did that) — and its input events go to a JSON-lines
//! file beside it.
//!
//! ```text
//! relay ─► Tap (around the gateway's login stream) ─ reads: server bytes ─► writer thread
//!                                                  └ writes: client messages ─► events
//! writer thread: NAME.fbs + NAME.events.jsonl (0600), flushed per block, fsynced at the end
//! ```
//!
//! Memory is bounded: at most [`IN_FLIGHT_BLOCKS`] server chunks wait for the writer (the tap
//! stops reading the server until it catches up) and at most [`MAX_PENDING_EVENTS`] events.

pub mod catalog;
pub mod tap;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use crate::config::recording::Recording;

/// Server chunks that may wait for the writer.
pub const IN_FLIGHT_BLOCKS: usize = 64;
/// Input events that may wait for the writer; more are counted and dropped.
pub const MAX_PENDING_EVENTS: usize = 16_384;

/// What the tap hands the writer.
pub(crate) enum Msg {
    /// The stream's start (version, security None, ServerInit), then the first server bytes.
    Prologue(Vec<u8>),
    Server {
        data: Vec<u8>,
        at_ms: u32,
        /// Returned to the tap's semaphore when written.
        _permit: tokio::sync::OwnedSemaphorePermit,
    },
    Event(String),
}

/// Events queued for the writer, shared: the tap counts up, the writer down.
pub(crate) type Queued = std::sync::Arc<std::sync::atomic::AtomicUsize>;

/// Why a recording stopped before its session ended, if it did (set by the tap, read for the
/// audit line).
pub type StopReason = std::sync::Arc<std::sync::Mutex<Option<String>>>;

/// Recordings being written: the purge leaves them alone, however old their last write.
static LIVE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A recording being written.
pub struct Started {
    /// `NAME.fbs`, as the audit line names it.
    pub file_name: String,
    pub(crate) tx: mpsc::UnboundedSender<Msg>,
    pub(crate) permits: Arc<tokio::sync::Semaphore>,
    pub(crate) max_bytes: u64,
    pub(crate) keys: bool,
    pub(crate) events_queued: Queued,
    /// Why the recording stopped early, once it did.
    pub stop_reason: StopReason,
}

/// Why a session is not recorded, for its audit line.
pub const END_TO_END: &str =
    "the gateway does not log in to this desktop (no credentials held for it, and it asks for some, or the viewer's own VeNCrypt runs to it): the stream is not seen in clear";

/// Opens `NAME.fbs` and `NAME.events.jsonl` in `rec.dir` for session `id` to `target` and
/// starts their writer.
pub fn start(rec: &Recording, target: &str, id: &str) -> std::io::Result<Started> {
    std::fs::create_dir_all(&rec.dir).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("the recording directory {}: {e}", rec.dir.display()),
        )
    })?;
    let stem = format!("{}-{target}-{id}", stamp(SystemTime::now()));
    let fbs_path = rec.dir.join(format!("{stem}.fbs"));
    let events_path = rec.dir.join(format!("{stem}.events.jsonl"));
    let fbs = create(&fbs_path)?;
    let events = create(&events_path)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let fbs_name = fbs_path.display().to_string();
    let events_queued = Queued::default();
    let queued = events_queued.clone();
    live().extend([fbs_path.clone(), events_path.clone()]);
    // A thread of its own for as long as the session runs (the blocking pool is shared by
    // every connection's short tasks and has a ceiling).
    std::thread::Builder::new()
        .name("vncgate-recorder".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            match write_all(rx, fbs, events, &queued) {
                Ok(()) => tracing::info!(recording = %fbs_name, "recording closed"),
                Err(e) => tracing::error!(recording = %fbs_name, error = %e, "the recording could not be written; it ends here"),
            }
            live().retain(|p| p != &fbs_path && p != &events_path);
        })?;
    Ok(Started {
        file_name: format!("{stem}.fbs"),
        tx,
        permits: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT_BLOCKS)),
        max_bytes: rec.max_bytes,
        keys: rec.keys,
        events_queued,
        stop_reason: StopReason::default(),
    })
}

fn create(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// `20261204-073512`, UTC: recordings sort by their start.
fn stamp(t: SystemTime) -> String {
    let s = crate::audit::rfc3339(t);
    // 2026-12-04T07:35:12.345Z
    let digits: String = s.chars().take(19).filter(char::is_ascii_digit).collect();
    format!(
        "{}-{}",
        &digits[..8.min(digits.len())],
        &digits[8.min(digits.len())..]
    )
}

/// The writer: blocks as they come, each flushed to the file (a crash loses at most the
/// block being written); at the end both files are fsynced.
fn write_all(
    mut rx: mpsc::UnboundedReceiver<Msg>,
    mut fbs: std::fs::File,
    mut events: std::fs::File,
    queued: &Queued,
) -> std::io::Result<()> {
    fbs.write_all(rfb::fbs::HEADER)?;
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Prologue(data) => write_block(&mut fbs, &data, 0)?,
            Msg::Server { data, at_ms, .. } => write_block(&mut fbs, &data, at_ms)?,
            Msg::Event(line) => {
                queued.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                events.write_all(line.as_bytes())?;
                events.write_all(b"\n")?;
            }
        }
    }
    fbs.sync_all()?;
    events.sync_all()
}

/// Writes one FBS block to `file` in as few system calls as it takes, without copying `data`.
fn write_block(file: &mut std::fs::File, data: &[u8], at_ms: u32) -> std::io::Result<()> {
    use std::io::IoSlice;
    let frame = rfb::fbs::BlockFrame::new(data.len(), at_ms);
    let mut parts = [
        IoSlice::new(&frame.head),
        IoSlice::new(data),
        IoSlice::new(frame.tail()),
    ];
    let mut parts = &mut parts[..];
    while !parts.is_empty() {
        match file.write_vectored(parts) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut parts, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes recordings in `dir` last written more than `keep` ago; returns how many files.
pub fn purge(dir: &Path, keep: Duration, now: SystemTime) -> std::io::Result<usize> {
    let mut removed = 0;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        let path: PathBuf = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.ends_with(".fbs") || name.ends_with(".events.jsonl")) || live().contains(&path) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > keep));
        if old && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes what is past the retention now and every hour, for as long as the gateway runs
/// (the settings are read from the rules in force each time).
pub async fn purge_old(gate: Arc<crate::admission::gate::Gate>) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let rules = gate.rules();
        let Some(rec) = rules.config.recording.clone() else {
            continue;
        };
        let Some(keep) = rec.retention else {
            continue;
        };
        let done =
            tokio::task::spawn_blocking(move || purge(&rec.dir, keep, SystemTime::now())).await;
        match done {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(removed = n, "recordings past their retention removed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "recordings could not be purged"),
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_recordings_are_purged() {
        let dir = std::env::temp_dir().join(format!("vncgate-purge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        for f in ["a.fbs", "a.events.jsonl", "notes.txt"] {
            std::fs::write(dir.join(f), b"x").expect("write");
        }
        let later = SystemTime::now() + Duration::from_secs(3 * 86_400);
        assert_eq!(
            purge(&dir, Duration::from_secs(7 * 86_400), later).expect("ok"),
            0
        );
        assert_eq!(
            purge(&dir, Duration::from_secs(86_400), later).expect("ok"),
            2
        );
        assert!(dir.join("notes.txt").exists(), "only recordings");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(stamp(SystemTime::UNIX_EPOCH), "19700101-000000");
    }

    #[test]
    fn blocks_written_in_parts_are_the_format_s_blocks() {
        let path = std::env::temp_dir().join(format!("vncgate-blocks-{}", std::process::id()));
        let mut file = std::fs::File::create(&path).expect("create");
        let mut want = Vec::new();
        for len in 0..9 {
            let data: Vec<u8> = (1..=len).collect();
            write_block(&mut file, &data, 1000 + u32::from(len)).expect("write");
            rfb::fbs::write_block(&data, 1000 + u32::from(len), &mut want);
        }
        drop(file);
        assert_eq!(std::fs::read(&path).expect("read"), want);
        let _ = std::fs::remove_file(&path);
    }
}
