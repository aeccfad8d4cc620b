//! `--dns-hook SCRIPT`: TXT records published by a program of the operator's, with lego's exec
//! convention — `SCRIPT present FQDN VALUE TTL`, later `SCRIPT cleanup FQDN VALUE TTL`, FQDN
//! absolute (`_acme-challenge.host.example.org.`). Exit status 0 is success; anything else
//! aborts the attempt, and the script's stderr goes into the message.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::TxtRecord;

/// The most of the script's stderr kept for the message.
const MAX_STDERR_BYTES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Present,
    Cleanup,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Present => "present",
            Self::Cleanup => "cleanup",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("--dns-hook {script}: cannot run it: {error}; check that the file exists and is executable (chmod +x, and a #! line)")]
    Spawn {
        script: PathBuf,
        error: std::io::Error,
    },
    #[error("--dns-hook {script} {action} {fqdn}: {status}{}", stderr_suffix(.stderr))]
    Failed {
        script: PathBuf,
        action: &'static str,
        fqdn: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("--dns-hook {script} {action} {fqdn}: still running after {}s, stopped; check that it cannot hang (waiting for input, a slow API)", .timeout.as_secs())]
    Timeout {
        script: PathBuf,
        action: &'static str,
        fqdn: String,
        timeout: Duration,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        " (no output on stderr)".to_owned()
    } else {
        format!("; its stderr: {stderr}")
    }
}

/// The hook program and the longest it may run.
#[derive(Debug, Clone)]
pub struct Hook {
    script: PathBuf,
    timeout: Duration,
}

impl Hook {
    pub fn new(script: PathBuf, timeout: Duration) -> Self {
        Self { script, timeout }
    }

    /// Runs `SCRIPT ACTION FQDN VALUE TTL` and waits for it (killed after the timeout).
    pub async fn run(
        &self,
        action: Action,
        record: &TxtRecord,
        ttl_secs: u32,
    ) -> Result<(), HookError> {
        let mut child = tokio::process::Command::new(&self.script)
            .arg(action.as_str())
            .arg(&record.fqdn)
            .arg(&record.value)
            .arg(ttl_secs.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| HookError::Spawn {
                script: self.script.clone(),
                error,
            })?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let outputs = async {
            let (out, err) = tokio::join!(read_limited(stdout), read_limited(stderr));
            (out, err, child.wait().await)
        };
        let (stdout, stderr, status) = match tokio::time::timeout(self.timeout, outputs).await {
            Ok(done) => done,
            Err(_) => {
                // `child` is dropped with the future: kill_on_drop stops the script.
                return Err(HookError::Timeout {
                    script: self.script.clone(),
                    action: action.as_str(),
                    fqdn: record.fqdn.clone(),
                    timeout: self.timeout,
                });
            }
        };
        let status = status.map_err(|error| HookError::Spawn {
            script: self.script.clone(),
            error,
        })?;
        if !stdout.is_empty() {
            tracing::debug!(script = %self.script.display(), action = action.as_str(), output = %stdout, "dns hook output");
        }
        if status.success() {
            return Ok(());
        }
        Err(HookError::Failed {
            script: self.script.clone(),
            action: action.as_str(),
            fqdn: record.fqdn.clone(),
            status,
            stderr,
        })
    }
}

/// Reads a pipe to its end, keeping the first [`MAX_STDERR_BYTES`], trimmed, lossy UTF-8.
async fn read_limited<R: tokio::io::AsyncRead + Unpin>(pipe: Option<R>) -> String {
    let Some(mut pipe) = pipe else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = MAX_STDERR_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(buf.get(..n.min(room)).unwrap_or_default());
            }
        }
    }
    String::from_utf8_lossy(&kept).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &std::path::Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("hook.sh");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    #[tokio::test]
    async fn passes_lego_arguments_and_reports_failures() {
        let dir = std::env::temp_dir().join(format!("vncgate-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let log = dir.join("args");
        let rec = TxtRecord::for_name("h.example.org", "VALUE".into());
        let ok = Hook::new(
            script(&dir, &format!("echo \"$@\" > {}", log.display())),
            Duration::from_secs(10),
        );
        ok.run(Action::Present, &rec, 60).await.expect("ok");
        assert_eq!(
            std::fs::read_to_string(&log).expect("log").trim(),
            "present _acme-challenge.h.example.org. VALUE 60"
        );
        let bad = Hook::new(
            script(&dir, "echo 'zone not found' >&2; exit 3"),
            Duration::from_secs(10),
        );
        let e = bad.run(Action::Cleanup, &rec, 60).await.expect_err("fails");
        let msg = e.to_string();
        assert!(
            msg.contains("cleanup _acme-challenge.h.example.org."),
            "{msg}"
        );
        assert!(msg.contains("exit status: 3"), "{msg}");
        assert!(msg.ends_with("its stderr: zone not found"), "{msg}");
        let slow = Hook::new(script(&dir, "sleep 5"), Duration::from_millis(200));
        let e = slow.run(Action::Present, &rec, 60).await.expect_err("slow");
        assert!(matches!(e, HookError::Timeout { .. }), "{e}");
        let missing = Hook::new(dir.join("nope"), Duration::from_secs(1));
        let e = missing
            .run(Action::Present, &rec, 60)
            .await
            .expect_err("missing");
        assert!(e.to_string().contains("executable"), "{e}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
