//! The running gateway of `vncgate serve`: the certificate (self-signed, files with their
//! reloader, or ACME), client certificates, the listener, the banner, signals.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use gateway::admission::gate::Gate;
use gateway::auth::client_ca::{self, ClientVerifier};
use gateway::config::{AuthMode, Config, ConfigError, TlsSource};
use gateway::tls::{CertFiles, CertStore, Identity, Reloader};

/// The certificate files to load (and watch) for `config`, and the identity loaded now.
fn load_identity(config: &Config) -> anyhow::Result<(CertFiles, Identity)> {
    Ok(match &config.tls {
        TlsSource::SelfSigned { names } => {
            let names = gateway::tls::default_names(names);
            let identity = gateway::tls::load_or_create_self_signed(&config.state_dir, &names)?;
            let how = if identity.created {
                "created"
            } else {
                "loaded"
            };
            tracing::info!(state_dir = %config.state_dir.display(), "self-signed certificate {how}");
            (gateway::tls::self_signed_files(&config.state_dir), identity)
        }
        TlsSource::Files {
            cert,
            key,
            key_passphrase_file,
        } => {
            let files = CertFiles {
                cert: cert.clone(),
                key: key.clone(),
                key_passphrase_file: key_passphrase_file.clone(),
            };
            let identity = files.load()?;
            (files, identity)
        }
    })
}

/// Reads the configuration again (the file, with the same flags over it), on SIGHUP.
pub(super) type Reread = Box<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

pub(super) fn serve(config: Config, reread: Reread) -> anyhow::Result<()> {
    // Kept in the configuration too: a reload compares it (ACME needs a restart).
    let acme = config.acme.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let (files, identity) = load_identity(&config)?;
        let store = Arc::new(CertStore::new(files.certify(&identity)?));
        // tls-alpn-01 challenges are answered by this resolver; other handshakes get `store`'s.
        let resolver = Arc::new(gateway::acme::AcmeResolver::new(store.clone()));
        let clients = match &config.access.client_ca {
            Some(files) => Some(ClientVerifier::load(files.clone())?),
            None => None,
        };
        let mut tls = gateway::tls::server_config_with_clients(
            resolver.clone(),
            clients
                .clone()
                .map(|c| c as Arc<dyn rustls::server::danger::ClientCertVerifier>),
        )?;
        let mut on_hup = Vec::new();
        // Kept until shutdown: dropping it stops renewal.
        let _acme = match acme {
            Some(acme) => {
                if let Some(cfg) = Arc::get_mut(&mut tls) {
                    gateway::acme::tls_alpn::offer_acme_alpn(cfg);
                }
                let handle = gateway::acme::spawn(acme, &config.state_dir, Some(resolver));
                gateway::acme::install(&handle, store.clone());
                Some(handle)
            }
            None => {
                // Without ACME the certificate files are watched; with it, a reload of the
                // self-signed files must never replace the ACME certificate.
                let (reload, reload_rx) = tokio::sync::mpsc::channel(1);
                tokio::spawn(
                    Reloader::new(files, store.clone())
                        .run(config.limits.cert_poll_interval, reload_rx),
                );
                on_hup.push(reload);
                None
            }
        };
        if let Some(c) = clients.clone() {
            let (crl_reload, crl_rx) = tokio::sync::mpsc::channel(1);
            tokio::spawn(client_ca::watch(
                c,
                config.limits.cert_poll_interval,
                crl_rx,
            ));
            on_hup.push(crl_reload);
        }
        let listener = gateway::server::bind(config.listen).with_context(|| {
            format!(
                "cannot listen on {}; is another program using it? (--listen ADDR:PORT)",
                config.listen
            )
        })?;
        let local = listener.local_addr()?;
        // The store must answer before the gateway says it is listening.
        let gate = Arc::new(gateway::server::open_gate(&config, local).await?);
        spawn_sighup(gate.clone(), reread, on_hup);
        let stop_requested = shutdown_signal();
        print_banner(&config, &identity, local);
        gateway::notify::notify("READY=1");
        let tls = gateway::tls::TlsServer {
            config: tls,
            certificate: store,
            clients,
        };
        let stopping = async {
            stop_requested.await;
            gateway::notify::notify("STOPPING=1");
        };
        gateway::server::serve_gate(listener, gate, tls, stopping).await?;
        Ok(())
    })
}

/// SIGHUP → read the configuration again and put it in force, then reload the certificate
/// (and the client CRLs).
fn spawn_sighup(gate: Arc<Gate>, reread: Reread, reload: Vec<tokio::sync::mpsc::Sender<()>>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; certificate files are still polled");
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration, the certificate and CRLs");
            gateway::notify::notify("RELOADING=1");
            reload_config(&gate, &reread);
            for r in &reload {
                let _ = r.try_send(());
            }
            gateway::notify::notify("READY=1");
        }
    });
    #[cfg(not(unix))]
    drop((gate, reread, reload));
}

/// One reload of the configuration, told in the log.
fn reload_config(gate: &Gate, reread: &Reread) {
    let result = reread()
        .map_err(anyhow::Error::from)
        .and_then(|c| Ok(gateway::reload::apply(gate, c)?));
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("configuration NOT reloaded, the running one stays in force: {e:#}");
            gate.recent.reloaded(false, &format!("{e:#}"));
            return;
        }
    };
    for what in &report.needs_restart {
        tracing::warn!(
            "{what} changed in the configuration: that takes effect at the next restart"
        );
    }
    for (s, why) in &report.ended {
        tracing::info!(session = %s.id, target = %s.target, who = %s.who, reason = %why.reason, "session ended by the reload");
    }
    tracing::info!("configuration reloaded: {report}");
    gate.recent.reloaded(true, &report.to_string());
}

fn print_banner(config: &Config, identity: &Identity, local: SocketAddr) {
    if gateway::logging::format() == gateway::logging::LogFormat::Json {
        // A JSON log stays JSON: the banner is one event.
        let fp = identity.fingerprint();
        tracing::info!(
            url = %format!("https://{local}/"),
            fingerprint = fp.as_ref().map(|f| f.to_string()),
            catchphrase = fp.as_ref().map(|f| f.catchphrase().to_string()),
            targets = ?config.targets.names().collect::<Vec<_>>(),
            store = %match &config.store {
                gateway::config::store::StoreConfig::Sqlite => "sqlite".to_owned(),
                gateway::config::store::StoreConfig::Redis { url, .. } => url.to_string(),
            },
            "vncgate listening"
        );
        return;
    }
    // tests/src/gateway.rs reads the first line: keep its form.
    eprintln!("vncgate listening on https://{local}/");
    if let Some(fp) = identity.fingerprint() {
        eprintln!("  certificate SHA-256 fingerprint: {fp}");
        eprintln!("  certificate catchphrase: {}", fp.catchphrase());
    }
    if let TlsSource::Files { cert, .. } = &config.tls {
        eprintln!(
            "  certificate from {} (reloaded on change and SIGHUP)",
            cert.display()
        );
    }
    if config.targets.is_empty() {
        eprintln!("  no --target given: there is nothing to relay to");
    }
    for name in config.targets.names() {
        eprintln!("  target {name}: https://{local}/#target={name}");
    }
    if config.native_vnc.danger_plain.is_none() && !config.native_vnc.vencrypt.is_empty() {
        let ways: Vec<&str> = (config.native_vnc.vencrypt.iter())
            .map(|w| match w {
                gateway::config::NativeAuth::Certificate => "client certificate (X509None)",
                gateway::config::NativeAuth::OneTimeKey => "one-time key (X509Plain)",
            })
            .collect();
        eprintln!(
            "  native VNC viewers (VeNCrypt on this port): {}",
            ways.join(", ")
        );
    }
    if let Some(t) = &config.native_vnc.in_tls {
        eprintln!("  native VNC clients inside TLS go to target {t}");
    }
    if !config.proxy_protocol_from.is_empty() {
        eprintln!(
            "  PROXY protocol required from: {}",
            config.proxy_protocol_from
        );
    }
    let access = &config.access;
    match (config.auth, &access.client_ca) {
        (AuthMode::DangerNone, _) => {
            tracing::warn!("--danger-no-auth: ANYONE who can reach {local} can use every target");
        }
        (AuthMode::Required, None) => {
            tracing::warn!("no authentication is configured besides one-time keys: only links made with `vncgate otk issue` (or POST /api/otk) are relayed; --client-ca FILE adds client certificates, --danger-no-auth relays without authentication");
        }
        (AuthMode::Required, Some(ca)) => {
            eprintln!(
                "  client certificates {} (CA {}{}); {}",
                ca.mode.as_str(),
                ca.ca.display(),
                if ca.crls.is_empty() {
                    ", no CRL".to_owned()
                } else {
                    format!(", {} CRL file(s)", ca.crls.len())
                },
                if access.acl.is_some() {
                    "access list from the config file"
                } else {
                    "no access list: every verified certificate may use every target"
                }
            );
        }
    }
    if access.admin_token_file.is_some() || !access.admins.is_empty() {
        eprintln!(
            "  admin API enabled (POST /api/otk, GET /api/sessions, DELETE /api/sessions/ID, GET /api/status)"
        );
    }
    if !access.admins.is_empty() && access.client_ca.is_some() {
        eprintln!("  operator's page for admin certificates: https://{local}/admin/");
    }
    if let Some(p) = &config.audit_log {
        eprintln!("  audit log: {}", p.display());
    }
    if let Some(r) = &config.recording {
        eprintln!(
            "  recording {} into {}{}",
            r.targets
                .as_ref()
                .map_or("every target".to_owned(), |t| format!(
                    "targets {}",
                    t.join(", ")
                )),
            r.dir.display(),
            r.retention
                .map(|k| format!(", kept {} days", k.as_secs() / 86_400))
                .unwrap_or_default()
        );
    }
    if let gateway::config::store::StoreConfig::Redis { url, .. } = &config.store {
        eprintln!("  shared store: {url} (one-time keys, lockout and sessions of the fleet)");
    }
    if let Some(t) = &config.native_vnc.danger_plain {
        tracing::warn!("--danger-allow-plain-vnc: VNC clients without TLS reach target {t}; nothing they send or receive is protected");
    }
}

/// Resolves at the first SIGTERM or SIGINT (Ctrl-C).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    // The handlers are installed now, before READY=1, so that a stop coming at once (systemd's,
    // a script's) is a graceful one and not SIGTERM's default death.
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        )
    };
    async move {
        #[cfg(unix)]
        match handlers {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested");
    }
}
