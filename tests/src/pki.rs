//! Certificates for end-to-end tests, made with `vncgate certs` as an operator would, and a
//! Chromium NSS database holding one of them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context};

use crate::vnc::vncgate;

/// A certificate directory (`vncgate certs --dir DIR …`).
pub struct CertDir(pub PathBuf);

impl CertDir {
    /// Creates the directory's root CA named `cn`.
    pub fn init(dir: &Path, cn: &str) -> anyhow::Result<Self> {
        let d = Self(dir.to_owned());
        d.run(&["init-ca", "--name", cn])?;
        Ok(d)
    }

    /// Runs `vncgate certs --dir DIR ARGS`.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let dir = self.0.display().to_string();
        let mut all = vec!["certs", "--dir", &dir];
        all.extend_from_slice(args);
        vncgate(&all)
    }

    pub fn path(&self, file: &str) -> String {
        self.0.join(file).display().to_string()
    }

    /// Issues client certificate `name` (with an e-mail address if given).
    pub fn client(&self, name: &str, email: Option<&str>) -> anyhow::Result<()> {
        let mut args = vec!["issue", "client", name];
        if let Some(e) = email {
            args.extend(["--email", e]);
        }
        self.run(&args).map(|_| ())
    }

    /// `NAME.p12` with passphrase `pass`.
    pub fn p12(&self, name: &str, pass: &str) -> anyhow::Result<PathBuf> {
        let pass_file = self.0.join(format!("{name}.p12-pass"));
        std::fs::write(&pass_file, format!("{pass}\n"))?;
        let out = self.0.join(format!("{name}.p12"));
        self.run(&[
            "export",
            name,
            "--p12",
            &out.display().to_string(),
            "--passphrase-file",
            &pass_file.display().to_string(),
        ])?;
        Ok(out)
    }
}

fn run(prog: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {prog} (package libnss3-tools)"))?;
    ensure!(
        out.status.success(),
        "{prog} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Creates an empty NSS database in `home/.pki/nssdb` and returns its `sql:` name.
fn new_nss_db(home: &Path) -> anyhow::Result<String> {
    let db = home.join(".pki/nssdb");
    std::fs::create_dir_all(&db)?;
    let d = format!("sql:{}", db.display());
    run("certutil", &["-d", &d, "-N", "--empty-password"])?;
    Ok(d)
}

/// An NSS database in `home/.pki/nssdb` (where Chromium on Linux looks) trusting the CA in
/// `ca_pem` for TLS servers.
pub fn nss_trust(home: &Path, ca_pem: &Path) -> anyhow::Result<()> {
    let d = new_nss_db(home)?;
    run(
        "certutil",
        &[
            "-d",
            &d,
            "-A",
            "-t",
            "C,,",
            "-n",
            "test CA",
            "-i",
            &ca_pem.display().to_string(),
        ],
    )
}

/// Makes `home/.pki/nssdb` (Chromium's NSS database) holding the certificate and key of
/// `p12`, as `pk12util` imports them.
pub fn nss_db(home: &Path, p12: &Path, pass: &str) -> anyhow::Result<()> {
    let d = new_nss_db(home)?;
    run(
        "pk12util",
        &["-d", &d, "-i", &p12.display().to_string(), "-W", pass],
    )?;
    Ok(())
}
