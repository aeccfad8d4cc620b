//! The recordings in a directory, for `vncgate recordings list` and `GET /api/recordings`:
//! what their names say (start, target, session id), their size, and — read block header by
//! block header, never the pictures — their length and whether they were cut.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// One recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The file name without `.fbs`: what `GET /api/recordings/ID` and `#playback=ID` take.
    pub id: String,
    pub target: String,
    /// The session id (as in the session list and the audit log).
    pub session: String,
    /// RFC 3339, UTC, from the name.
    pub started: String,
    pub bytes: u64,
}

/// Whether `id` can name a recording (and nothing else): the characters of our names.
pub fn valid_id(id: &str) -> bool {
    (1..=200).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !id.starts_with('.')
}

/// The two files of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// `ID.fbs`: the server's stream.
    Stream,
    /// `ID.events.jsonl`: the viewer's input events.
    Events,
}

/// `DIR/ID.fbs` or `DIR/ID.events.jsonl`, if `id` is one.
pub fn path_of(dir: &Path, id: &str, part: Part) -> Option<PathBuf> {
    let suffix = match part {
        Part::Stream => "fbs",
        Part::Events => "events.jsonl",
    };
    valid_id(id).then(|| dir.join(format!("{id}.{suffix}")))
}

/// `20261204-073512-desk-9f0c2a5b1e7d4c33` → (started, target, session).
fn parse_name(id: &str) -> Option<(String, String, String)> {
    let (date, rest) = id.split_once('-')?;
    let (time, rest) = rest.split_once('-')?;
    let (target, session) = rest.rsplit_once('-')?;
    let ok = date.len() == 8
        && time.len() == 6
        && date.bytes().chain(time.bytes()).all(|b| b.is_ascii_digit());
    ok.then(|| {
        let started = format!(
            "{}-{}-{}T{}:{}:{}Z",
            &date[..4],
            &date[4..6],
            &date[6..],
            &time[..2],
            &time[2..4],
            &time[4..]
        );
        (started, target.to_owned(), session.to_owned())
    })
}

/// The recordings in `dir`, oldest first (a missing directory has none).
pub fn list(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".fbs") else {
            continue;
        };
        let Some((started, target, session)) = parse_name(id) else {
            continue;
        };
        let bytes = e.metadata().map_or(0, |m| m.len());
        out.push(Entry {
            id: id.to_owned(),
            target,
            session,
            started,
            bytes,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// How long a recording runs, and where it was cut if it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Length {
    pub blocks: u64,
    pub last_ms: u32,
    /// The offset of a block the file ends inside.
    pub cut_at: Option<u64>,
}

/// Walks the block headers of the recording at `path` (seeking past the data).
pub fn length(path: &Path) -> std::io::Result<Length> {
    let mut f = std::fs::File::open(path)?;
    let size = f.metadata()?.len();
    let mut header = [0u8; 12];
    f.read_exact(&mut header)?;
    if &header != rfb::fbs::HEADER {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not an FBS 001.000 recording",
        ));
    }
    let mut pos = 12u64;
    let mut out = Length {
        blocks: 0,
        last_ms: 0,
        cut_at: None,
    };
    while pos < size {
        let mut len = [0u8; 4];
        let len = match f.read_exact(&mut len) {
            Ok(()) => u64::from(u32::from_be_bytes(len)),
            Err(_) => {
                out.cut_at = Some(pos);
                break;
            }
        };
        let stamp_at = pos + 4 + len + (4 - len % 4) % 4;
        if stamp_at + 4 > size {
            out.cut_at = Some(pos);
            break;
        }
        f.seek(SeekFrom::Start(stamp_at))?;
        let mut ms = [0u8; 4];
        f.read_exact(&mut ms)?;
        out.last_ms = u32::from_be_bytes(ms);
        out.blocks += 1;
        pos = stamp_at + 4;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lengths_and_cuts() {
        assert_eq!(
            parse_name("20261204-073512-desk-9f0c2a5b1e7d4c33"),
            Some((
                "2026-12-04T07:35:12Z".into(),
                "desk".into(),
                "9f0c2a5b1e7d4c33".into()
            ))
        );
        assert_eq!(
            parse_name("20261204-073512-my-desk-00ff").map(|p| p.1),
            Some("my-desk".into())
        );
        assert_eq!(parse_name("notes"), None);
        for bad in ["../x", ".hidden", "a/b", "", "x y"] {
            assert!(!valid_id(bad), "{bad}");
        }
        let dir = std::env::temp_dir().join(format!("vncgate-catalog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut file = rfb::fbs::HEADER.to_vec();
        rfb::fbs::write_block(b"RFB 003.003\n", 0, &mut file);
        rfb::fbs::write_block(b"abcde", 1500, &mut file);
        let path = dir.join("20261204-073512-desk-00.fbs");
        std::fs::write(&path, &file).expect("write");
        std::fs::write(dir.join("20261204-073512-desk-00.events.jsonl"), b"").expect("write");
        let all = list(&dir).expect("list");
        assert_eq!(all.len(), 1);
        assert_eq!(
            (all[0].target.as_str(), all[0].bytes),
            ("desk", file.len() as u64)
        );
        assert_eq!(
            length(&path).expect("length"),
            Length {
                blocks: 2,
                last_ms: 1500,
                cut_at: None
            }
        );
        std::fs::write(&path, &file[..file.len() - 3]).expect("cut");
        assert_eq!(length(&path).expect("length").cut_at, Some(32));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
