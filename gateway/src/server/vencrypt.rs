//! Native VNC viewers on the plain port (TigerVNC `vncviewer`, gtk-vnc's `gvncviewer`,
//! Remmina): a client that connects without TLS and waits for the server gets RFB 3.8 offering
//! only VeNCrypt, with the gateway's own certificate inside (the one browsers see):
//!
//! - `X509Plain`: user name = the target, password = a one-time key (`vncgate otk issue`),
//!   redeemed as a browser's link is (single use, lockout, audit, view-only);
//! - `X509None` (with `--client-ca`): a client certificate presented inside the VeNCrypt TLS,
//!   verified against the client CA and the CRLs; the access list's default target and mode
//!   decide. (X509Vnc is not offered: a VNC password the gateway could not check would only
//!   mislead.)
//!
//! `--native-vnc-auth` chooses which are offered (gtk-vnc takes X509Plain whenever it is
//! offered, so a gateway for certificate holders offers `certificate` alone).
//!
//! Then [`session::native_vencrypt`]: the gateway logs in to the target itself and relays, with
//! the view-only filter where the mode says so. The protocol is `rfb::server`; this is the
//! shell that reads the socket and asks the gate.

use std::net::SocketAddr;

use certs::session_file::OneTimeKey;
use rfb::security::VeNCryptSubtype;
use rfb::server::{Auth, Offer, Server, ServerConfig, ServerEvent};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::connection::{env, Summary};
use super::Shared;
use crate::admission::{self, Refusal, Via};
use crate::auth::client_ca::CertRefusal;
use crate::config::NativeAuth;
use crate::metrics::AuthFailure;
use crate::otk::KeyProblem;
use crate::relay::session;

/// What a viewer that chose anything else is told (where RFB lets a reason through).
pub const HINT: &str = "this gateway speaks VeNCrypt: use X509Plain with the gateway's certificate as CA (user name: the target, password: a one-time key from vncgate otk issue), or X509None with a client certificate";

/// What the gateway offers, in the configured order (certificates first: viewers take the
/// first subtype they can do, and one holding a certificate should use it).
fn offer(shared: &Shared, ways: &[NativeAuth]) -> Offer {
    let subtypes = ways
        .iter()
        .map(|w| match w {
            NativeAuth::Certificate => VeNCryptSubtype::X509None,
            NativeAuth::OneTimeKey => VeNCryptSubtype::X509Plain,
        })
        .collect();
    Offer::VeNCrypt {
        subtypes,
        tls: shared.acceptor.config().clone(),
        hint: HINT.to_owned(),
    }
}

/// Why the handshake ended before the client showed credentials.
enum Unfinished {
    /// The TLS handshake refused the client's certificate.
    Certificate(CertRefusal),
    Other(String),
}

/// Runs the handshake until the client has shown its credentials: the TLS session (with its
/// verified certificate, if any) is then in `server`.
async fn until_authenticated<T>(io: &mut T, server: &mut Server) -> Result<Auth, Unfinished>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let other = |e: &dyn std::fmt::Display| Unfinished::Other(e.to_string());
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        crate::relay::greet::flush(io, server)
            .await
            .map_err(|e| other(&e))?;
        if let Some(ServerEvent::Authenticate(auth)) = server.poll_event() {
            return Ok(auth);
        }
        let n = io.read(&mut buf).await.map_err(|e| other(&e))?;
        if n == 0 {
            return Err(other(&"the client closed during the handshake"));
        }
        let received = server.receive(buf.get(..n).unwrap_or_default());
        if let Err(e) = received {
            // A refusal or a TLS alert goes out before the connection closes.
            let _ = crate::relay::greet::flush(io, server).await;
            return Err(match &e {
                rfb::server::ServerError::Tls(t) => match CertRefusal::of(t) {
                    Some(why) => Unfinished::Certificate(why),
                    None => other(&e),
                },
                _ => other(&e),
            });
        }
    }
}

/// Serves one native viewer on the plain port.
pub(super) async fn serve<T>(mut io: T, client: SocketAddr, shared: &Shared) -> Summary
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let rules = shared.rules();
    let ways = &rules.config.native_vnc.vencrypt;
    if ways.is_empty() {
        shared
            .metrics
            .connections_refused
            .inc(crate::metrics::Refused::PlainVncDisabled);
        return Summary::new(
            "refused",
            "client sent nothing: a native VNC client? Refused (--native-vnc-auth is off)",
        );
    }
    let mut challenge = [0u8; 16];
    if getrandom::fill(&mut challenge).is_err() {
        return Summary::new("refused", "no randomness for the VNC challenge");
    }
    let mut server = Server::new(ServerConfig {
        offer: offer(shared, ways),
        challenge,
    });
    let within = rules.config.limits.tls_handshake_timeout;
    let auth = match tokio::time::timeout(within, until_authenticated(&mut io, &mut server)).await {
        Ok(Ok(auth)) => auth,
        Ok(Err(Unfinished::Certificate(why))) => {
            shared.app.gate.certificate_refused(client, why).await;
            return Summary::new(
                "plain/native-vencrypt",
                format!("TLS handshake refused: {}", why.describe()),
            );
        }
        Ok(Err(Unfinished::Other(why))) => return Summary::new("plain/native-vencrypt", why),
        Err(_) => {
            return Summary::new(
                "plain/native-vencrypt",
                format!(
                    "the VeNCrypt handshake did not finish within {} s",
                    within.as_secs()
                ),
            )
        }
    };
    let chain: Option<Vec<rustls::pki_types::CertificateDer<'static>>> = server
        .peer_certificates()
        .map(|c| c.into_iter().map(Into::into).collect());
    let (identity, registration) = shared.client_identity(chain.as_deref());
    if let Some(id) = &identity.client_cert {
        tracing::info!(subject = %id.subject, "client certificate verified inside VeNCrypt");
    }
    let cert = registration.as_ref().map(|r| r.watch());
    let gate = &shared.app.gate;
    let via = Via::NativeVeNCrypt;
    let (target, admission) = match auth {
        Auth::Plain { username, password } => {
            let admission = match OneTimeKey::parse(password.trim()) {
                Ok(key) => {
                    gate.admit(client, via, &username, &identity, Some(key))
                        .await
                }
                Err(_) => {
                    gate.failure_for(client, &identity, AuthFailure::OneTimeKey)
                        .await;
                    admission::Admission::refuse_anonymous(Refusal::Key(KeyProblem::Unknown))
                }
            };
            (username, admission)
        }
        Auth::Certificate | Auth::VncResponse { .. } => {
            let target =
                admission::native_target(&rules.config.access, &rules.config.native_vnc, &identity);
            match target {
                Some(t) => {
                    let a = gate.admit(client, via, &t, &identity, None).await;
                    (t, a)
                }
                None => (
                    String::new(),
                    admission::Admission::refuse_anonymous(Refusal::NoDefaultTarget),
                ),
            }
        }
    };
    let s = session::native_vencrypt(
        io,
        server,
        admission,
        target,
        env(shared, client, via, cert),
    )
    .await;
    Summary::from_session("plain/native-vencrypt", s)
}
