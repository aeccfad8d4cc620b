//! DNS for the dns-01 challenge: publishing and removing `_acme-challenge` TXT records (an exec
//! hook, or RFC 2136 with TSIG) and checking that they are visible before the CA looks.

pub mod hook;
pub mod propagation;
pub mod rfc2136;
pub mod tsig;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_client::client::Client;
use hickory_client::proto::op::MessageFinalizer;
use hickory_client::proto::runtime::TokioRuntimeProvider;
use hickory_client::proto::tcp::TcpClientStream;
use hickory_client::proto::udp::UdpClientStream;
use hickory_client::proto::ProtoError;

use super::config::DnsProvider;
use hook::{Hook, HookError};
use propagation::PropagationError;
use rfc2136::{Rfc2136, Rfc2136Error};

/// Time allowed for one DNS exchange.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// One TXT record of a dns-01 challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxtRecord {
    /// `_acme-challenge.NAME.` — absolute, with the trailing dot. For `*.NAME` it is the record
    /// of `NAME`: a certificate for both names puts two values on the same owner.
    pub fqdn: String,
    /// base64url(SHA-256(key authorization)), 43 characters.
    pub value: String,
}

impl TxtRecord {
    /// The record for a challenge on `base` (the name without any `*.`).
    pub fn for_name(base: &str, value: String) -> Self {
        Self {
            fqdn: format!("_acme-challenge.{base}."),
            value,
        }
    }
}

/// Publishes and removes TXT records through the configured provider.
#[derive(Debug)]
pub enum DnsPublisher {
    Hook(Hook),
    Rfc2136(Rfc2136),
}

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    Rfc2136(#[from] Rfc2136Error),
    #[error(transparent)]
    Propagation(#[from] PropagationError),
}

impl DnsPublisher {
    pub fn new(provider: &DnsProvider, hook_timeout: Duration) -> Self {
        match provider {
            DnsProvider::Hook { script } => Self::Hook(Hook::new(script.clone(), hook_timeout)),
            DnsProvider::Rfc2136 { server, key } => {
                Self::Rfc2136(Rfc2136::new(server.clone(), key.clone()))
            }
        }
    }

    pub async fn present(&self, record: &TxtRecord, ttl_secs: u32) -> Result<(), DnsError> {
        match self {
            Self::Hook(h) => h.run(hook::Action::Present, record, ttl_secs).await?,
            Self::Rfc2136(r) => r.present(record, ttl_secs).await?,
        }
        Ok(())
    }

    pub async fn cleanup(&self, record: &TxtRecord, ttl_secs: u32) -> Result<(), DnsError> {
        match self {
            Self::Hook(h) => h.run(hook::Action::Cleanup, record, ttl_secs).await?,
            Self::Rfc2136(r) => r.cleanup(record).await?,
        }
        Ok(())
    }
}

/// A DNS client over TCP to `addr`; `signer` signs every request (TSIG for updates).
pub async fn tcp_client(
    addr: SocketAddr,
    signer: Option<Arc<dyn MessageFinalizer>>,
) -> Result<Client, ProtoError> {
    let (stream, sender) =
        TcpClientStream::new(addr, None, Some(QUERY_TIMEOUT), TokioRuntimeProvider::new());
    let (client, background) = Client::with_timeout(stream, sender, QUERY_TIMEOUT, signer).await?;
    // Ends when the last handle of `client` is dropped.
    tokio::spawn(background);
    Ok(client)
}

/// A DNS client over UDP to `addr`, for queries.
pub async fn udp_client(addr: SocketAddr) -> Result<Client, ProtoError> {
    let stream = UdpClientStream::builder(addr, TokioRuntimeProvider::new())
        .with_timeout(Some(QUERY_TIMEOUT))
        .build();
    let (client, background) = Client::connect(stream).await?;
    tokio::spawn(background);
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_name_is_absolute() {
        let a = TxtRecord::for_name("vnc.example.org", "v1".into());
        assert_eq!(a.fqdn, "_acme-challenge.vnc.example.org.");
    }
}
