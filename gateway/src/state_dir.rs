//! The state directory (certificates, keys, later the key store), and atomic file writes.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Resolves the state directory: `--state-dir`, else `$VNCGATE_STATE_DIR`, else
/// `$XDG_STATE_HOME/vncgate`, else `~/.local/state/vncgate`.
pub fn resolve(flag: Option<PathBuf>) -> PathBuf {
    if let Some(p) = flag {
        return p;
    }
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = env("VNCGATE_STATE_DIR") {
        return p;
    }
    if let Some(p) = env("XDG_STATE_HOME") {
        return p.join("vncgate");
    }
    env("HOME")
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".local/state/vncgate")
}

/// How many unpredictable temporary names are tried before giving up.
const TEMP_NAME_TRIES: usize = 8;

/// A new temporary file beside `path`, under a name nobody can predict, created exclusively
/// (`O_EXCL`, so a file or symlink planted there is never opened or followed).
fn create_temp(
    dir: &Path,
    file_name: &str,
    mode: u32,
) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut last = None;
    for _ in 0..TEMP_NAME_TRIES {
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(std::io::Error::other)?;
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let tmp = dir.join(format!(".{file_name}.tmp-{nonce}"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no temporary name was free")))
}

/// Creates `path` empty with mode 0600 if it does not exist (and its folder), so that a
/// database opened there afterwards is private from its first byte. An existing file is left
/// as it is; failures show when the file is opened.
pub fn create_private(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if !path.exists() {
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
    }
}

/// Writes `contents` to `path` atomically (temporary file, fsync, rename) with `mode`, so a
/// crash leaves either the old file or the new one, never half of one. The temporary file
/// is created exclusively under an unpredictable name (see [`create_temp`]).
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (tmp, mut f) = create_temp(dir, &file_name, mode)?;
    let result = (|| {
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_write_sets_the_mode() {
        let dir = std::env::temp_dir().join(format!("vncgate-sd-{}", std::process::id()));
        let p = dir.join("k.pem");
        write_atomic(&p, b"secret", 0o600).expect("write");
        let meta = std::fs::metadata(&p).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&p).expect("read"), b"secret");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn a_planted_symlink_at_a_temporary_name_is_never_followed() {
        let dir = std::env::temp_dir().join(format!("vncgate-sd-link-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").expect("victim");
        // The names an attacker could guess: the old scheme's, and a few others.
        for name in [
            format!(".k.pem.tmp-{}", std::process::id()),
            ".k.pem.tmp".to_owned(),
            ".k.pem.tmp-0".to_owned(),
        ] {
            std::os::unix::fs::symlink(&victim, dir.join(name)).expect("plant");
        }
        write_atomic(&dir.join("k.pem"), b"secret", 0o600).expect("write");
        assert_eq!(std::fs::read(&victim).expect("read"), b"precious");
        assert_eq!(std::fs::read(dir.join("k.pem")).expect("read"), b"secret");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".k.pem.tmp-") && n.len() == ".k.pem.tmp-".len() + 16)
            .collect();
        assert!(left.is_empty(), "no temporary file left behind: {left:?}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn explicit_flag_wins() {
        assert_eq!(resolve(Some("/x".into())), PathBuf::from("/x"));
    }
}
