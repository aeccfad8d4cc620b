//! `vncgate acme status`: what the ACME renewal loop of `vncgate serve` last did, read from the
//! state directory (`acme/status.json` and the certificate itself). The flags that turn ACME on
//! belong to `serve` (`gateway::acme::settings`).

use std::path::PathBuf;

use anyhow::Context;
use gateway::acme::status::CertificateStatus;
use gateway::acme::AcmeStore;

#[derive(clap::Args, Debug)]
#[command(
    about = "Show the ACME certificate: names, expiry, issuer, last attempt and its error",
    long_about = "Show the state of the ACME certificate that `vncgate serve --acme-domain NAME` \
                  obtains and renews: the names, the current certificate's expiry and issuer, \
                  the last attempt and its error, and when the next attempt is due. See docs/acme.md."
)]
pub struct AcmeCommandArgs {
    #[command(subcommand)]
    command: AcmeCommand,
}

#[derive(clap::Subcommand, Debug)]
enum AcmeCommand {
    /// Show the names, the certificate's expiry and issuer, and the last attempt.
    Status {
        /// The state directory of the gateway [default: as for `vncgate serve`].
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
}

pub fn run(args: AcmeCommandArgs) -> anyhow::Result<()> {
    match args.command {
        AcmeCommand::Status { state_dir } => {
            let store = AcmeStore::new(&gateway::state_dir::resolve(state_dir));
            print!("{}", report(&store, gateway::acme::unix_now())?);
            Ok(())
        }
    }
}

/// The status file with the certificate as it is on disk now.
fn report(store: &AcmeStore, now: i64) -> anyhow::Result<String> {
    let status_exists = store.status_path().exists();
    let mut status = store.load_status();
    let cert = store
        .load_certificate()
        .with_context(|| format!("reading {}", store.cert_path().display()))?;
    if !status_exists && cert.is_none() {
        anyhow::bail!(
            "no ACME state in {}: `vncgate serve --acme-domain NAME …` creates it (is --state-dir the gateway's?)",
            store.dir().display()
        );
    }
    if let Some(cert) = &cert {
        let directory = status
            .certificate
            .as_ref()
            .map(|c| c.directory.clone())
            .unwrap_or_default();
        status.certificate = Some(CertificateStatus::of(cert, &directory));
    }
    Ok(format!(
        "ACME state in {}\n{}",
        store.dir().display(),
        status.render(now)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway::acme::status::{Attempt, Status};

    #[test]
    fn reports_the_certificate_on_disk_and_the_last_error() {
        let dir = std::env::temp_dir().join(format!("vncgate-acme-cli-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = AcmeStore::new(&dir);
        let e = report(&store, 0).expect_err("nothing yet");
        assert!(e.to_string().starts_with("no ACME state in "), "{e}");
        let pair = certs::generate::self_signed_server("vnc", &["vnc.example.org".into()], 30)
            .expect("cert");
        store
            .save_certificate(&pair.cert_pem, &pair.key_pem)
            .expect("save");
        store
            .save_status(&Status {
                domains: vec!["vnc.example.org".into()],
                directory: "https://ca/dir".into(),
                challenge: "dns-01".into(),
                last_attempt: Some(Attempt {
                    started: 10,
                    finished: 20,
                    error: Some("--dns-hook /x present …: exit status: 1".into()),
                }),
                consecutive_failures: 1,
                ..Status::default()
            })
            .expect("status");
        let text = report(&store, gateway::acme::unix_now()).expect("report");
        assert!(text.contains("domains:       vnc.example.org"), "{text}");
        assert!(text.contains("certificate:   valid until "), "{text}");
        assert!(
            text.contains("(in 29 days)") || text.contains("(in 30 days)"),
            "{text}"
        );
        assert!(text.contains("issuer:      CN=vnc"), "{text}");
        assert!(text.contains("FAILED: --dns-hook /x present"), "{text}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
