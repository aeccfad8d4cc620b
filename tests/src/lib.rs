//! The end-to-end harness: starts real components (TigerVNC `Xvnc`, the `vncgate` binary,
//! Chromium through chromedriver) on loopback, each stopped when its handle is dropped.

pub mod api;
pub mod browser;
pub mod fleet;
pub mod gateway;
pub mod pki;
pub mod proc;
pub mod qemu;
pub mod record;
pub mod slow_link;
pub mod vnc;
pub mod wss;
pub mod x11vnc;
pub mod xvnc;
pub mod xwd;

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> anyhow::Result<Self> {
        // The counter keeps two tests of one process apart whatever the clock's resolution;
        // the time keeps a new process off a folder that a killed one with its pid left.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!(
            "vncgate-{tag}-{}-{n}-{}",
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
