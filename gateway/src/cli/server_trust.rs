//! How the viewer checks the VNC server's own certificate (VeNCrypt X509, end to end): the
//! `--ca`, `--pin-cert` and `--fingerprint` flags shared by `vncgate session` and
//! `vncgate otk issue`, written into a session file and a link's fragment. The gateway's
//! certificate is the browser's business and never goes here.

use std::path::{Path, PathBuf};

use anyhow::Context;
use certs::generate::store::{Name, Store};
use certs::session_file::SessionFile;
use certs::Fingerprint;

#[derive(clap::Args, Debug, Default)]
pub struct ServerTrustArgs {
    /// Verify the VNC server's VeNCrypt X509 certificate (end to end, in the viewer) against
    /// this CA of the certificate directory (e.g. `ca`).
    #[arg(long, value_name = "NAME")]
    pub ca: Option<String>,
    /// Pin the VNC server's VeNCrypt X509 certificate in FILE (e.g. what `-X509Cert` serves).
    #[arg(long, value_name = "FILE", conflicts_with = "fingerprint")]
    pub pin_cert: Option<PathBuf>,
    /// Pin this SHA-256 fingerprint of the VNC server's certificate (hex, colons allowed).
    #[arg(long, value_name = "SHA256")]
    pub fingerprint: Option<String>,
    /// The certificate directory for --ca [default: <state dir>/certs].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl ServerTrustArgs {
    /// Puts the CA data and the pin into `s`; `state_dir` holds the default certificate
    /// directory.
    pub fn apply(&self, s: &mut SessionFile, state_dir: &Path) -> anyhow::Result<()> {
        if let Some(ca) = &self.ca {
            let dir = self.dir.clone().unwrap_or_else(|| state_dir.join("certs"));
            s.ca = Some(Store::new(dir).ca_der(&Name::parse(ca)?)?);
        }
        if let Some(path) = &self.pin_cert {
            let bytes = certs::fs::read_limited(path, 256 * 1024, "")?;
            let chain = certs::pem::certificates(&path.display().to_string(), &bytes)?;
            let leaf = chain
                .first()
                .with_context(|| format!("{}: no certificate", path.display()))?;
            s.fingerprint = Some(Fingerprint::of_der(leaf));
        }
        if let Some(fp) = &self.fingerprint {
            s.fingerprint = Some(fp.parse()?);
        }
        Ok(())
    }
}

/// The `&ca=…&fingerprint=…` part of a link's fragment for what `s` says (empty if nothing).
/// CA data goes as URL-safe base64 without padding, which the viewer reads like the standard
/// form.
pub fn fragment(s: &SessionFile) -> String {
    let mut out = String::new();
    if let Some(ca) = &s.ca {
        out.push_str("&ca=");
        out.push_str(&certs::ca_data::encode_base64_url(ca.as_ref()));
    }
    if let Some(fp) = &s.fingerprint {
        out.push_str("&fingerprint=");
        out.push_str(&fp.to_hex());
    }
    out
}
