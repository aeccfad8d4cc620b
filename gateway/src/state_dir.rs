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

/// Writes `contents` to `path` atomically (temporary file, fsync, rename) with `mode`, so a
/// crash leaves either the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
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
    fn explicit_flag_wins() {
        assert_eq!(resolve(Some("/x".into())), PathBuf::from("/x"));
    }
}
