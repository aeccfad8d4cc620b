//! File writes that never leave half a file and never replace one by accident.
//!
//! Every write goes to a temporary file in the same directory, is fsynced, then takes the final
//! name: by `rename` when replacing is allowed, by `link` (which fails if the name exists) when
//! it is not — so "refuse to overwrite" holds even against a concurrent writer. The directory
//! is fsynced afterwards so the new name survives a crash. Private keys get mode 0600 from the
//! moment the temporary file is created.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Error;

/// Mode of private keys and files that contain one (or a one-time key).
pub const MODE_SECRET: u32 = 0o600;
/// Mode of certificates, CRLs and requests.
pub const MODE_PUBLIC: u32 = 0o644;

/// Whether an existing file may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    Refuse,
    Replace,
}

/// Writes `contents` to `path` atomically with `mode`, replacing any existing file.
///
/// This is the function the gateway uses for its own state files.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    write_via_temp(path, contents, mode, Overwrite::Replace)
}

/// Writes `contents` to `path` atomically with `mode`; with [`Overwrite::Refuse`] an existing
/// file is an [`Error::Exists`] and is left as it was.
pub fn write_file(
    path: &Path,
    contents: &[u8],
    mode: u32,
    overwrite: Overwrite,
) -> Result<(), Error> {
    write_via_temp(path, contents, mode, overwrite).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Exists {
                path: path.to_owned(),
            }
        } else {
            Error::Io {
                action: "write",
                path: path.to_owned(),
                source: e,
            }
        }
    })
}

/// Fails with [`Error::Exists`] for the first of `paths` that exists, unless replacing is
/// allowed. Checked before a multi-file operation writes anything, so a refusal leaves no
/// partial result.
pub fn check_absent(paths: &[&Path], overwrite: Overwrite) -> Result<(), Error> {
    if overwrite == Overwrite::Replace {
        return Ok(());
    }
    match paths.iter().find(|p| p.symlink_metadata().is_ok()) {
        Some(p) => Err(Error::Exists {
            path: p.to_path_buf(),
        }),
        None => Ok(()),
    }
}

/// Reads at most `max` bytes of `path`; a larger file is an [`Error::TooLarge`]. A missing file
/// is an [`Error::NotFound`] carrying `hint`.
pub fn read_limited(path: &Path, max: usize, hint: &'static str) -> Result<Vec<u8>, Error> {
    let file = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound {
                path: path.to_owned(),
                hint,
            }
        } else {
            Error::Io {
                action: "read",
                path: path.to_owned(),
                source: e,
            }
        }
    })?;
    let mut buf = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    file.take(limit)
        .read_to_end(&mut buf)
        .map_err(Error::io("read", path))?;
    if buf.len() > max {
        return Err(Error::TooLarge {
            what: path.display().to_string(),
            got: buf.len(),
            max,
        });
    }
    Ok(buf)
}

fn write_via_temp(
    path: &Path,
    contents: &[u8],
    mode: u32,
    overwrite: Overwrite,
) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{file_name}.tmp-{}-{unique}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        match overwrite {
            Overwrite::Replace => std::fs::rename(&tmp, path)?,
            Overwrite::Refuse => {
                std::fs::hard_link(&tmp, path)?;
                std::fs::remove_file(&tmp)?;
            }
        }
        // Make the new directory entry durable; not every file system allows this on a
        // directory, and the data itself is already synced, so a failure here is ignored.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
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

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("certs-fs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn atomic_write_sets_the_mode_and_leaves_no_temporary_file() {
        let dir = scratch("mode");
        let p = dir.join("k.pem");
        write_atomic(&p, b"secret", MODE_SECRET).expect("write");
        let meta = std::fs::metadata(&p).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        write_atomic(&p, b"again", MODE_SECRET).expect("replace");
        assert_eq!(std::fs::read(&p).expect("read"), b"again");
        let names: Vec<_> = std::fs::read_dir(&dir).expect("ls").flatten().collect();
        assert_eq!(names.len(), 1);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn refuses_to_overwrite_unless_asked() {
        let dir = scratch("refuse");
        let p = dir.join("a.crt");
        write_file(&p, b"one", MODE_PUBLIC, Overwrite::Refuse).expect("first");
        let e = write_file(&p, b"two", MODE_PUBLIC, Overwrite::Refuse).expect_err("second");
        assert_eq!(
            e.to_string(),
            format!("{} already exists; pass --force to replace it", p.display())
        );
        assert_eq!(std::fs::read(&p).expect("kept"), b"one");
        assert!(check_absent(&[&dir.join("b"), &p], Overwrite::Refuse).is_err());
        check_absent(&[&p], Overwrite::Replace).expect("force");
        write_file(&p, b"two", MODE_PUBLIC, Overwrite::Replace).expect("forced");
        assert_eq!(std::fs::read(&p).expect("replaced"), b"two");
        assert_eq!(std::fs::read_dir(&dir).expect("ls").count(), 1);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn reads_are_limited_and_missing_files_say_so() {
        let dir = scratch("read");
        let p = dir.join("big");
        write_atomic(&p, &[0u8; 100], MODE_PUBLIC).expect("write");
        assert_eq!(read_limited(&p, 100, "").expect("fits").len(), 100);
        assert!(matches!(
            read_limited(&p, 99, ""),
            Err(Error::TooLarge { got: 100, .. })
        ));
        let e = read_limited(&dir.join("nope"), 10, "; make it first").expect_err("missing");
        assert!(
            e.to_string()
                .ends_with("nope does not exist; make it first"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
