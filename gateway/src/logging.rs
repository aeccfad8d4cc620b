//! The log: `--log-format text` (the default, for a terminal or `journalctl`) or `json` (one
//! JSON object per line, for journald's structured fields or Loki). Either way a line is one
//! line: whatever a field holds — a name from a certificate, a reason from a VNC server, a
//! header — no control character reaches the output raw (JSON escapes them; in text they are
//! written as `\u{…}`), so nothing read from the network can forge a log line or a terminal
//! escape.

use std::io::Write;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// A writer that escapes every control character but the newline that ends a line.
pub struct Escaping<W>(pub W);

impl<W: Write> Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (body, end) = match buf.split_last() {
            Some((b'\n', body)) => (body, &b"\n"[..]),
            _ => (buf, &b""[..]),
        };
        if !body.iter().any(|&b| b < 0x20 || b == 0x7f) {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut out = Vec::with_capacity(body.len() + 16);
        for &b in body {
            if b < 0x20 || b == 0x7f {
                let _ = write!(out, "\\u{{{b:x}}}");
            } else {
                out.push(b);
            }
        }
        out.extend_from_slice(end);
        self.0.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

static FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// The format [`init`] installed (text before it ran).
pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or_default()
}

/// Installs the process's log: level from `RUST_LOG` (default `info`), to stderr.
pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Escaping(std::io::stderr()));
    match format {
        // No colours: they would be escape sequences, and escaped.
        LogFormat::Text => builder.with_ansi(false).init(),
        LogFormat::Json => builder.json().with_current_span(true).init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_log_raw() {
        let mut out = Escaping(Vec::new());
        out.write_all(b"reason=evil\x1b[31m\nFAKE line\r\n")
            .expect("write");
        out.write_all(b"plain line\n").expect("write");
        let text = String::from_utf8(out.0).expect("utf-8");
        assert_eq!(
            text,
            "reason=evil\\u{1b}[31m\\u{a}FAKE line\\u{d}\nplain line\n"
        );
        assert_eq!(text.lines().count(), 2);
    }
}
