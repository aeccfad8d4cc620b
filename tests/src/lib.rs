//! The end-to-end harness: starts real components (TigerVNC `Xvnc`, the `vncgate` binary,
//! Chromium through chromedriver) on loopback, each stopped when its handle is dropped.

pub mod browser;
pub mod gateway;
pub mod pki;
pub mod proc;
pub mod qemu;
pub mod record;
pub mod vnc;
pub mod x11vnc;
pub mod xvnc;
pub mod xwd;

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> anyhow::Result<Self> {
        let p = std::env::temp_dir().join(format!(
            "vncgate-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos()
        ));
        std::fs::create_dir_all(&p)?;
        Ok(Self(p))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
