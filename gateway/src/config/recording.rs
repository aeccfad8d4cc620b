//! Session recording settings: `--record-dir DIR` (every target), or the config file's
//! `[recording]` (`dir`, `targets`, `retention`, `max_bytes`, `keys`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The largest recording by default: 4 GiB (a day of an office desktop, minutes of video).
pub const DEFAULT_MAX_BYTES: u64 = 4 << 30;

/// What gets recorded, where, for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// Recordings (`.fbs`) and their input events (`.events.jsonl`), mode 0600.
    pub dir: PathBuf,
    /// `None`: every target.
    pub targets: Option<Vec<String>>,
    /// Recordings older than this are removed (checked hourly and at start).
    pub retention: Option<Duration>,
    /// A recording stops growing here (the session goes on; the audit line says so).
    pub max_bytes: u64,
    /// Whether key presses go into the events file (off: they can be passwords).
    pub keys: bool,
}

impl Recording {
    /// Whether sessions to `target` are recorded.
    pub fn covers(&self, target: &str) -> bool {
        self.targets
            .as_ref()
            .is_none_or(|t| t.iter().any(|n| n == target))
    }
}

/// `[recording]` in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingSection {
    pub dir: Option<PathBuf>,
    pub targets: Option<Vec<String>>,
    pub retention: Option<String>,
    pub max_bytes: Option<u64>,
    pub keys: Option<bool>,
}

impl RecordingSection {
    /// `over`'s settings where it has them.
    pub fn overridden_by(self, over: Self) -> Self {
        Self {
            dir: over.dir.or(self.dir),
            targets: over.targets.or(self.targets),
            retention: over.retention.or(self.retention),
            max_bytes: over.max_bytes.or(self.max_bytes),
            keys: over.keys.or(self.keys),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What is wrong with a recording setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordingProblem {
    #[error("expected a duration like 12h, 30d or 52w (a number and h, d or w)")]
    Retention,
    #[error("recording settings need a directory: dir under [recording], or --record-dir DIR")]
    NoDir,
    #[error("there is no target named {0:?}; list configured targets or \"*\"")]
    UnknownTarget(String),
    #[error("max_bytes must be at least 1 MiB (1048576)")]
    MaxBytes,
}

/// Parses a retention: `12h`, `30d`, `52w`.
pub fn parse_retention(s: &str) -> Result<Duration, RecordingProblem> {
    let s = s.trim();
    let Some(unit_at) = s.char_indices().last().map(|(i, _)| i) else {
        return Err(RecordingProblem::Retention);
    };
    let (num, unit) = s.split_at(unit_at);
    let n: u64 = num.parse().map_err(|_| RecordingProblem::Retention)?;
    let hours = match unit {
        "h" => n,
        "d" => n.saturating_mul(24),
        "w" => n.saturating_mul(24 * 7),
        _ => return Err(RecordingProblem::Retention),
    };
    if n == 0 {
        return Err(RecordingProblem::Retention);
    }
    Ok(Duration::from_secs(hours.saturating_mul(3600)))
}

/// The validated settings, given the configured target names.
pub fn resolve(
    section: RecordingSection,
    is_target: impl Fn(&str) -> bool,
) -> Result<Option<Recording>, RecordingProblem> {
    if section.is_empty() {
        return Ok(None);
    }
    let dir = section.dir.ok_or(RecordingProblem::NoDir)?;
    let targets = match section.targets {
        None => None,
        Some(list) if list.iter().any(|t| t == "*") => None,
        Some(list) => {
            if let Some(bad) = list.iter().find(|t| !is_target(t)) {
                return Err(RecordingProblem::UnknownTarget(bad.clone()));
            }
            Some(list)
        }
    };
    let max_bytes = section.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
    if max_bytes < 1 << 20 {
        return Err(RecordingProblem::MaxBytes);
    }
    Ok(Some(Recording {
        dir,
        targets,
        retention: section
            .retention
            .as_deref()
            .map(parse_retention)
            .transpose()?,
        max_bytes,
        keys: section.keys.unwrap_or(false),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_resolve_with_their_defaults_and_say_what_is_wrong() {
        let section = |targets: Option<Vec<&str>>| RecordingSection {
            dir: Some("/var/lib/vncgate/recordings".into()),
            targets: targets.map(|t| t.into_iter().map(str::to_owned).collect()),
            ..RecordingSection::default()
        };
        let known = |t: &str| t == "desk";
        assert_eq!(resolve(RecordingSection::default(), known), Ok(None));
        let all = resolve(section(Some(vec!["*"])), known)
            .expect("valid")
            .expect("on");
        assert!(all.covers("desk") && all.covers("lab"));
        assert_eq!(
            (all.max_bytes, all.keys, all.retention),
            (DEFAULT_MAX_BYTES, false, None)
        );
        let desk = resolve(section(Some(vec!["desk"])), known)
            .expect("valid")
            .expect("on");
        assert!(desk.covers("desk") && !desk.covers("lab"));
        assert_eq!(
            resolve(section(Some(vec!["lab"])), known),
            Err(RecordingProblem::UnknownTarget("lab".into()))
        );
        let no_dir = RecordingSection {
            keys: Some(true),
            ..RecordingSection::default()
        };
        assert_eq!(resolve(no_dir, known), Err(RecordingProblem::NoDir));
        assert_eq!(parse_retention("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_retention("12h"), Ok(Duration::from_secs(12 * 3600)));
        for bad in ["", "30", "0d", "3x", "d", "3日", "日"] {
            assert!(parse_retention(bad).is_err(), "{bad}");
        }
    }
}
