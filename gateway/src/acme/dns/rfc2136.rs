//! `--dns-rfc2136 SERVER --tsig-key FILE`: TXT records added and removed by RFC 2136 dynamic
//! updates signed with TSIG (RFC 8945), as BIND, Knot and PowerDNS accept them.
//!
//! The zone to update is the one the server answers an SOA query for the record's name with:
//! its own SOA in the answer (the name is a zone apex) or in the authority section.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use hickory_client::client::{Client, ClientHandle};
use hickory_client::proto::dnssec::rdata::tsig::TsigAlgorithm as HickoryAlgorithm;
use hickory_client::proto::dnssec::tsig::TSigner;
use hickory_client::proto::op::ResponseCode;
use hickory_client::proto::rr::rdata::TXT;
use hickory_client::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_client::{ClientError, ClientErrorKind};

use super::tsig::{TsigAlgorithm, TsigKey};
use super::TxtRecord;
use crate::acme::config::HostPort;

/// Allowed clock difference with the server, seconds (RFC 8945 recommends 300).
const TSIG_FUDGE_SECS: u16 = 300;

#[derive(Debug, thiserror::Error)]
pub enum Rfc2136Error {
    #[error("--dns-rfc2136 {server}: cannot resolve it: {detail}")]
    Resolve { server: HostPort, detail: String },
    #[error("--dns-rfc2136 {server}: cannot set up TSIG key {key}: {detail}")]
    Key {
        server: HostPort,
        key: String,
        detail: String,
    },
    #[error("--dns-rfc2136 {server}: {action} {fqdn} failed: {error}; check the address and port, that the server takes DNS over TCP, and that no firewall is in between")]
    Exchange {
        server: SocketAddr,
        action: &'static str,
        fqdn: String,
        error: String,
    },
    #[error("--dns-rfc2136 {server}: the server did not accept TSIG key {key:?} for the {action} of {fqdn} (its log says `tsig verify failure`, BADSIG or BADKEY): check that the name, algorithm and secret in --tsig-key {} are the ones in the server's configuration, and that both clocks are right", .key_file.display())]
    TsigRejected {
        server: SocketAddr,
        action: &'static str,
        fqdn: String,
        key: String,
        key_file: std::path::PathBuf,
    },
    #[error("{fqdn} is not a valid DNS name: {detail}")]
    Name { fqdn: String, detail: String },
    #[error("--dns-rfc2136 {server}: it is not authoritative for a zone holding {fqdn} (no SOA in its answer); point --dns-rfc2136 at the primary server of that zone")]
    NoZone { server: SocketAddr, fqdn: String },
    #[error("--dns-rfc2136 {server}: {action} of {fqdn} in zone {zone} rejected with {}; {}", rcode_name(*.rcode), rcode_hint(*.rcode, .key, .fqdn))]
    Rejected {
        server: SocketAddr,
        action: &'static str,
        fqdn: String,
        zone: String,
        key: String,
        rcode: ResponseCode,
    },
}

/// The RFC mnemonic (REFUSED, NOTAUTH…), as server logs and `dig` show it.
fn rcode_name(rcode: ResponseCode) -> String {
    match rcode {
        ResponseCode::Refused => "REFUSED".to_owned(),
        ResponseCode::NotAuth => "NOTAUTH".to_owned(),
        ResponseCode::NotZone => "NOTZONE".to_owned(),
        ResponseCode::ServFail => "SERVFAIL".to_owned(),
        ResponseCode::FormErr => "FORMERR".to_owned(),
        ResponseCode::NotImp => "NOTIMP".to_owned(),
        other => format!("{other} ({})", u16::from(other)),
    }
}

fn rcode_hint(rcode: ResponseCode, key: &str, fqdn: &str) -> String {
    match rcode {
        ResponseCode::NotAuth => format!("the server did not accept TSIG key {key:?}: check the key's name, algorithm and secret against the server's configuration"),
        ResponseCode::Refused => format!("the server does not let key {key:?} change this record: allow it in the zone's policy, for BIND `update-policy {{ grant {key} name {fqdn} TXT; }};`"),
        ResponseCode::NotZone => "the record is not inside the zone the server named: check for a delegated subzone".to_owned(),
        ResponseCode::ServFail => "the server could not apply the update: see its log (journal file permissions, a read-only zone)".to_owned(),
        _ => "see the server's log".to_owned(),
    }
}

/// A server that takes signed updates, and the key to sign them with.
#[derive(Debug, Clone)]
pub struct Rfc2136 {
    server: HostPort,
    key: TsigKey,
}

impl Rfc2136 {
    pub fn new(server: HostPort, key: TsigKey) -> Self {
        Self { server, key }
    }

    /// Adds `record` (other values on the same name stay).
    pub async fn present(&self, record: &TxtRecord, ttl_secs: u32) -> Result<(), Rfc2136Error> {
        let (addr, mut client) = self.connect(&record.fqdn).await?;
        let zone = self.find_zone(addr, &mut client, &record.fqdn).await?;
        let rec = txt(&record.fqdn, &record.value, ttl_secs)?;
        let response = client
            .append(rec, zone.clone(), false)
            .await
            .map_err(|e| self.exchange(addr, "update (adding)", &record.fqdn, e))?;
        self.check(addr, "addition", record, &zone, response.response_code())
    }

    /// Removes exactly `record` (other values on the same name stay).
    pub async fn cleanup(&self, record: &TxtRecord) -> Result<(), Rfc2136Error> {
        let (addr, mut client) = self.connect(&record.fqdn).await?;
        let zone = self.find_zone(addr, &mut client, &record.fqdn).await?;
        let rec = txt(&record.fqdn, &record.value, 0)?;
        let response = client
            .delete_by_rdata(rec, zone.clone())
            .await
            .map_err(|e| self.exchange(addr, "update (removal)", &record.fqdn, e))?;
        self.check(addr, "removal", record, &zone, response.response_code())
    }

    async fn connect(&self, fqdn: &str) -> Result<(SocketAddr, Client), Rfc2136Error> {
        let addr = self
            .server
            .resolve()
            .await
            .map_err(|e| e.to_string())
            .and_then(|a| a.first().copied().ok_or_else(|| "no address".to_owned()))
            .map_err(|detail| Rfc2136Error::Resolve {
                server: self.server.clone(),
                detail,
            })?;
        let key_error = |detail: String| Rfc2136Error::Key {
            server: self.server.clone(),
            key: self.key.name.clone(),
            detail,
        };
        let name = Name::from_str(&self.key.name).map_err(|e| key_error(e.to_string()))?;
        let algorithm = match self.key.algorithm {
            TsigAlgorithm::HmacSha256 => HickoryAlgorithm::HmacSha256,
            TsigAlgorithm::HmacSha384 => HickoryAlgorithm::HmacSha384,
            TsigAlgorithm::HmacSha512 => HickoryAlgorithm::HmacSha512,
        };
        let signer = TSigner::new(
            self.key.secret.bytes().to_vec(),
            algorithm,
            name,
            TSIG_FUDGE_SECS,
        )
        .map_err(|e| key_error(e.to_string()))?;
        let client = super::tcp_client(addr, Some(Arc::new(signer)))
            .await
            .map_err(|e| self.exchange(addr, "connecting for", fqdn, e.into()))?;
        Ok((addr, client))
    }

    /// The zone holding `fqdn`, from the SOA the server answers with.
    async fn find_zone(
        &self,
        addr: SocketAddr,
        client: &mut Client,
        fqdn: &str,
    ) -> Result<Name, Rfc2136Error> {
        let name = Name::from_str(fqdn).map_err(|e| Rfc2136Error::Name {
            fqdn: fqdn.to_owned(),
            detail: e.to_string(),
        })?;
        let response = client
            .query(name, DNSClass::IN, RecordType::SOA)
            .await
            .map_err(|e| self.exchange(addr, "SOA query", fqdn, e))?;
        response
            .answers()
            .iter()
            .chain(response.name_servers())
            .find(|r| r.record_type() == RecordType::SOA)
            .map(|r| r.name().clone())
            .ok_or_else(|| Rfc2136Error::NoZone {
                server: addr,
                fqdn: fqdn.to_owned(),
            })
    }

    fn check(
        &self,
        addr: SocketAddr,
        action: &'static str,
        record: &TxtRecord,
        zone: &Name,
        rcode: ResponseCode,
    ) -> Result<(), Rfc2136Error> {
        if rcode == ResponseCode::NoError {
            tracing::debug!(server = %addr, %zone, fqdn = %record.fqdn, action, "RFC 2136 update done");
            return Ok(());
        }
        Err(Rfc2136Error::Rejected {
            server: addr,
            action,
            fqdn: record.fqdn.clone(),
            zone: zone.to_string(),
            key: self.key.name.clone(),
            rcode,
        })
    }

    fn exchange(
        &self,
        server: SocketAddr,
        action: &'static str,
        fqdn: &str,
        error: ClientError,
    ) -> Rfc2136Error {
        // ClientError's own text is only "proto error": the cause is in its kind.
        let error = match error.kind() {
            ClientErrorKind::Proto(p) => crate::acme::error::chain(p),
            other => crate::acme::error::chain(other),
        };
        let lower = error.to_ascii_lowercase();
        if lower.contains("tsig") || lower.contains("hmac") {
            // hickory reports BIND's unsigned BADSIG answer as a "truncated HMAC": keep its
            // words for debugging only.
            tracing::debug!(%server, detail = %error, "TSIG exchange failed");
            return Rfc2136Error::TsigRejected {
                server,
                action,
                fqdn: fqdn.to_owned(),
                key: self.key.name.clone(),
                key_file: self.key.path.clone(),
            };
        }
        Rfc2136Error::Exchange {
            server,
            action,
            fqdn: fqdn.to_owned(),
            error,
        }
    }
}

fn txt(fqdn: &str, value: &str, ttl_secs: u32) -> Result<Record, Rfc2136Error> {
    let name = Name::from_str(fqdn).map_err(|e| Rfc2136Error::Name {
        fqdn: fqdn.to_owned(),
        detail: e.to_string(),
    })?;
    let mut rec = Record::from_rdata(name, ttl_secs, RData::TXT(TXT::new(vec![value.to_owned()])));
    rec.set_dns_class(DNSClass::IN);
    Ok(rec)
}
