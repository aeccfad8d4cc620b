//! `vncgate session`: writes a `.vncgate` session file (docs/session-file.md) that opens one
//! desktop in the viewer — flags → [`certs::session_file::SessionFile`] → a 0600 file.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use certs::fs::Overwrite;
use certs::session_file::{GatewayUrl, OneTimeKey, Quality, Scaling, SessionFile, TargetName};

#[derive(clap::Args, Debug)]
#[command(
    about = "Write a session file (.vncgate) that opens one desktop in the viewer",
    long_about = "Write a session file (.vncgate) that opens one desktop in the viewer: the gateway's \
                  address, the target, a one-time key, and how to check the VNC server's certificate \
                  (a CA to trust, or a fingerprint to pin). The file may hold a one-time key, so it is \
                  written with mode 0600; send it only to the person it is for."
)]
pub struct SessionArgs {
    /// The gateway's name for the VNC server.
    #[arg(long, value_name = "NAME")]
    target: String,
    /// A one-time key for the session.
    #[arg(long, env = "VNCGATE_OTK", hide_env_values = true, value_name = "KEY")]
    otk: Option<String>,
    #[command(flatten)]
    trust: crate::cli::server_trust::ServerTrustArgs,
    /// The gateway's address, e.g. https://gw.example.net:8443/.
    #[arg(long, value_name = "URL")]
    gateway: Option<String>,
    /// Open the desktop without sending keyboard or mouse input.
    #[arg(long)]
    view_only: bool,
    /// How the desktop fits the window.
    #[arg(long, value_parser = ["none", "fit", "remote"])]
    scaling: Option<String>,
    /// Picture quality for lossy encodings, 0 (smallest) to 9 (best).
    #[arg(long, value_name = "0-9")]
    quality: Option<u8>,
    /// Where to write the file (`-` for standard output).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
}

impl SessionArgs {
    /// The flags as a checked session.
    fn to_session(&self) -> anyhow::Result<SessionFile> {
        let bad = |flag: &str, value: &str, expected: &str| {
            anyhow::anyhow!("{flag} {value:?}: expected {expected}")
        };
        let target =
            TargetName::parse(&self.target).map_err(|e| bad("--target", &self.target, e))?;
        let mut s = SessionFile::new(target);
        if let Some(g) = &self.gateway {
            s.gateway = Some(GatewayUrl::parse(g).map_err(|e| bad("--gateway", g, e))?);
        }
        if let Some(k) = &self.otk {
            s.otk = Some(OneTimeKey::parse(k).map_err(|e| anyhow::anyhow!("--otk: expected {e}"))?);
        }
        self.trust
            .apply(&mut s, &gateway::state_dir::resolve(None))?;
        if s.ca.is_none() && s.fingerprint.is_none() {
            tracing::warn!("no --ca, --pin-cert or --fingerprint: a VeNCrypt X509 server will be checked by trust on first use in the viewer");
        }
        s.view_only = self.view_only.then_some(true);
        if let Some(sc) = &self.scaling {
            s.scaling = Some(Scaling::parse(sc).map_err(|e| bad("--scaling", sc, e))?);
        }
        if let Some(q) = self.quality {
            s.quality =
                Some(Quality::new(q).ok_or_else(|| bad("--quality", &q.to_string(), "0 to 9"))?);
        }
        Ok(s)
    }
}

/// Writes the session file.
pub fn run(args: SessionArgs) -> anyhow::Result<()> {
    let text = args.to_session()?.to_text();
    if args.output.as_os_str() == "-" {
        std::io::stdout()
            .write_all(text.as_bytes())
            .context("cannot write to standard output")?;
        return Ok(());
    }
    let overwrite = if args.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    certs::fs::write_file(
        &args.output,
        text.as_bytes(),
        certs::fs::MODE_SECRET,
        overwrite,
    )?;
    eprintln!("Wrote {} (mode 0600).", args.output.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser, Debug)]
    struct Wrapper {
        #[command(flatten)]
        args: SessionArgs,
    }

    fn parse(args: &[&str]) -> SessionArgs {
        Wrapper::try_parse_from(std::iter::once("session").chain(args.iter().copied()))
            .expect("flags")
            .args
    }

    #[test]
    fn writes_a_file_the_parser_reads_back() {
        let dir = std::env::temp_dir().join(format!("vncgate-cli-session-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = dir.join("desk.vncgate");
        let fp = certs::Fingerprint::of_der(b"gateway cert").to_string();
        let o = out.to_str().expect("utf-8");
        let args = [
            "--target",
            "desk1",
            "--otk",
            "k3y",
            "--gateway",
            "https://gw:8443/",
            "--fingerprint",
            &fp,
            "--view-only",
            "--scaling",
            "fit",
            "--quality",
            "7",
            "-o",
            o,
        ];
        run(parse(&args)).expect("write");
        let parsed =
            certs::session_file::parse(&std::fs::read(&out).expect("read")).expect("parse");
        assert_eq!(parsed.session.target.as_str(), "desk1");
        assert_eq!(
            parsed.session.otk.as_ref().map(OneTimeKey::expose),
            Some("k3y")
        );
        assert_eq!(
            parsed.session.fingerprint.map(|f| f.to_string()).as_deref(),
            Some(fp.as_str())
        );
        assert_eq!(parsed.session.quality.map(Quality::get), Some(7));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&out).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        let e = run(parse(&args)).expect_err("exists");
        assert!(e.to_string().contains("--force"), "{e}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn bad_flags_say_what_was_expected() {
        let e = parse(&["--target", "a b", "-o", "-"])
            .to_session()
            .expect_err("target");
        assert!(e.to_string().contains("letters, digits"), "{e}");
        let e = parse(&["--target", "a", "--gateway", "http://x", "-o", "-"])
            .to_session()
            .expect_err("url");
        assert!(e.to_string().contains("https://"), "{e}");
        let e = parse(&["--target", "a", "--quality", "12", "-o", "-"])
            .to_session()
            .expect_err("q");
        assert!(e.to_string().contains("0 to 9"), "{e}");
    }
}
