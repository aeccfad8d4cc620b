//! The audit log: one JSON line per session — who (certificate subject and/or one-time key
//! id, never the key), from where, which target, in which mode, when it started and ended,
//! the bytes each way, and why it ended — into `--audit-log FILE` (appended, mode 0600) or,
//! without one, into the log (target `audit`). Refused attempts get a line too
//! (`"outcome":"refused"`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::admission::{Principal, Via};
use crate::auth::Mode;

/// One session, as audited.
#[derive(Debug, Clone)]
pub struct SessionRecord<'a> {
    pub outcome: Outcome,
    pub who: Option<&'a Principal>,
    pub from: SocketAddr,
    pub via: Via,
    pub target: &'a str,
    pub mode: Option<Mode>,
    pub start: SystemTime,
    pub end: SystemTime,
    pub bytes_to_target: u64,
    pub bytes_to_client: u64,
    /// Why it ended (or why it was refused), naming the side.
    pub reason: &'a str,
    /// For a target that is recorded: the recording, or why there is none.
    pub recording: Option<&'a Recorded>,
}

/// Whether a session of a recorded target was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Into this file (in the recording directory).
    File(String),
    /// Into this file, until it stopped (why).
    Partly { file: String, why: String },
    /// Not, and why.
    Not(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ended,
    Refused,
}

#[derive(Debug)]
enum Sink {
    Log,
    File {
        path: PathBuf,
        file: Mutex<std::fs::File>,
    },
}

/// Where audit lines go.
#[derive(Debug)]
pub struct Audit {
    sink: Sink,
}

impl Audit {
    /// Lines go into the log.
    pub fn to_log() -> Self {
        Self { sink: Sink::Log }
    }

    /// Lines are appended to `path` (created with mode 0600).
    pub fn to_file(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        Ok(Self {
            sink: Sink::File {
                path: path.to_owned(),
                file: Mutex::new(file),
            },
        })
    }

    /// Writes one line. A file that cannot be written is reported in the log, with the line.
    pub fn record(&self, r: &SessionRecord<'_>) {
        let line = r.to_json();
        match &self.sink {
            Sink::Log => tracing::info!(target: "audit", "{line}"),
            Sink::File { path, file } => {
                let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
                // One write per line: O_APPEND keeps lines whole.
                let mut bytes = line.into_bytes();
                bytes.push(b'\n');
                if let Err(e) = f.write_all(&bytes) {
                    tracing::error!(path = %path.display(), error = %e, line = %String::from_utf8_lossy(&bytes).trim_end(), "cannot write the audit log");
                }
            }
        }
    }
}

impl SessionRecord<'_> {
    pub fn to_json(&self) -> String {
        let who = self.who.cloned().unwrap_or_default();
        let mut v = serde_json::json!({
            "event": "session",
            "outcome": match self.outcome { Outcome::Ended => "ended", Outcome::Refused => "refused" },
            "who": who.to_string(),
            "subject": who.subject,
            "key_id": who.key_id,
            "from": self.from.to_string(),
            "via": self.via.label(),
            "target": self.target,
            "mode": self.mode.map(Mode::as_str),
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
            "duration_ms": self.end.duration_since(self.start).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            "bytes_to_target": self.bytes_to_target,
            "bytes_to_client": self.bytes_to_client,
            "reason": self.reason,
        });
        match self.recording {
            Some(Recorded::File(f)) => {
                v["recorded"] = true.into();
                v["recording"] = f.as_str().into();
            }
            Some(Recorded::Partly { file, why }) => {
                v["recorded"] = true.into();
                v["recording"] = file.as_str().into();
                v["recording_stopped"] = why.as_str().into();
            }
            Some(Recorded::Not(why)) => {
                v["recorded"] = false.into();
                v["not_recorded"] = why.as_str().into();
            }
            None => {}
        }
        v.to_string()
    }
}

/// `2026-01-02T03:04:05.678Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (the well-known era-based algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_line_of_json_with_no_key_in_it() {
        let dir = std::env::temp_dir().join(format!("vncgate-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("audit.jsonl");
        let audit = Audit::to_file(&path).expect("open");
        let who = Principal {
            subject: Some("CN=alice".into()),
            key_id: Some("00112233aabbccdd".into()),
        };
        let start = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        for _ in 0..2 {
            audit.record(&SessionRecord {
                outcome: Outcome::Ended,
                who: Some(&who),
                from: "192.0.2.7:5555".parse().expect("addr"),
                via: Via::WebSocket,
                target: "desk",
                mode: Some(Mode::ViewOnly),
                start,
                end: start + Duration::from_secs(3),
                bytes_to_target: 10,
                bytes_to_client: 20,
                reason: "the client closed the connection",
                recording: Some(&Recorded::File("20261204-073512-desk-00.fbs".into())),
            });
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[0]).expect("json");
        assert_eq!(v["start"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["recorded"], true);
        assert_eq!(v["recording"], "20261204-073512-desk-00.fbs");
        assert_eq!(v["duration_ms"], 3000);
        assert_eq!(v["mode"], "view-only");
        assert_eq!(v["key_id"], "00112233aabbccdd");
        assert_eq!(v["from"], "192.0.2.7:5555");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }
}
