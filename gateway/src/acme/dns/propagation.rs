//! Before the CA is told to look: wait until the TXT records are visible where the CA will look
//! — at every authoritative server of the zone (found through the system's resolver), or at the
//! one server given with `--dns-resolver`. The wait is bounded; the result names each server
//! that still lacks a value.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hickory_client::client::ClientHandle;
use hickory_client::proto::rr::{DNSClass, Name, RData, RecordType};

use super::TxtRecord;
use crate::acme::config::{HostPort, PropagationCheck};

/// Where the system resolver is configured.
const RESOLV_CONF: &str = "/etc/resolv.conf";

#[derive(Debug, thiserror::Error)]
pub enum PropagationError {
    #[error("cannot find a DNS resolver in {RESOLV_CONF} ({detail}) to look up the zone's authoritative servers; pass --dns-resolver ADDR:PORT to check at a server of your choice")]
    NoResolver { detail: String },
    #[error("cannot find the authoritative servers of the zone holding {fqdn} through the resolver {resolver}: {detail}; pass --dns-resolver ADDR:PORT to check at a server of your choice")]
    Discover {
        fqdn: String,
        resolver: SocketAddr,
        detail: String,
    },
    #[error("--dns-resolver {server}: cannot resolve it: {detail}")]
    Server { server: HostPort, detail: String },
    #[error("the TXT record {fqdn} is not visible after {}s: {}; check that the record goes into the zone the world sees (secondary servers must get it too), or allow more time with --dns-propagation-timeout", .waited.as_secs(), .missing.join("; "))]
    NotVisible {
        fqdn: String,
        waited: Duration,
        missing: Vec<String>,
    },
}

/// A server to check, by the name it is known by (an NS name, or `--dns-resolver`).
#[derive(Debug, Clone)]
struct Server {
    name: String,
    addrs: Vec<SocketAddr>,
}

/// Waits until every record's value is served by every server to check, or `timeout` passes.
pub async fn wait_visible(
    check: &PropagationCheck,
    records: &[TxtRecord],
    timeout: Duration,
    poll_interval: Duration,
) -> Result<(), PropagationError> {
    let started = tokio::time::Instant::now();
    let mut wanted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in records {
        wanted.entry(&r.fqdn).or_default().insert(&r.value);
    }
    let mut servers = BTreeMap::new();
    for fqdn in wanted.keys() {
        let found = servers_for(check, fqdn).await?;
        let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
        tracing::info!(fqdn, servers = %names.join(", "), "waiting for the TXT record to be visible at");
        servers.insert(*fqdn, found);
    }
    loop {
        let mut missing = Vec::new();
        let mut first_missing = None;
        for (fqdn, values) in &wanted {
            for server in servers.get(fqdn).into_iter().flatten() {
                if let Some(problem) = lacks(server, fqdn, values).await {
                    first_missing.get_or_insert(*fqdn);
                    missing.push(problem);
                }
            }
        }
        let Some(fqdn) = first_missing else {
            tracing::debug!(
                waited_ms = started.elapsed().as_millis(),
                "TXT records visible"
            );
            return Ok(());
        };
        if started.elapsed() >= timeout {
            return Err(PropagationError::NotVisible {
                fqdn: fqdn.to_owned(),
                waited: started.elapsed(),
                missing,
            });
        }
        tracing::debug!(?missing, "TXT records not visible yet");
        tokio::time::sleep(poll_interval).await;
    }
}

/// What `server` lacks of `values` at `fqdn`, or `None` if it serves them all.
async fn lacks(server: &Server, fqdn: &str, values: &BTreeSet<&str>) -> Option<String> {
    let mut last_error = String::from("no address");
    for addr in &server.addrs {
        match query_txt(*addr, fqdn).await {
            Ok(found) => {
                let absent = values.iter().filter(|v| !found.contains(**v)).count();
                return (absent > 0).then(|| {
                    format!(
                        "{} ({addr}) serves {} of its {} values",
                        server.name,
                        values.len() - absent,
                        values.len()
                    )
                });
            }
            Err(e) => last_error = e,
        }
    }
    Some(format!("{} did not answer: {last_error}", server.name))
}

/// The TXT strings at `fqdn` according to `addr` (each record's strings joined).
async fn query_txt(addr: SocketAddr, fqdn: &str) -> Result<BTreeSet<String>, String> {
    let name = Name::from_str(fqdn).map_err(|e| e.to_string())?;
    let mut client = super::udp_client(addr).await.map_err(|e| e.to_string())?;
    let response = client
        .query(name, DNSClass::IN, RecordType::TXT)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::TXT(txt) => Some(
                txt.txt_data()
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect())
}

async fn servers_for(
    check: &PropagationCheck,
    fqdn: &str,
) -> Result<Vec<Server>, PropagationError> {
    match check {
        PropagationCheck::At(hp) => {
            let addrs = hp.resolve().await.map_err(|e| PropagationError::Server {
                server: hp.clone(),
                detail: e.to_string(),
            })?;
            Ok(vec![Server {
                name: hp.to_string(),
                addrs,
            }])
        }
        PropagationCheck::Authoritative => {
            let resolver = system_resolver()?;
            authoritative(resolver, fqdn)
                .await
                .map_err(|detail| PropagationError::Discover {
                    fqdn: fqdn.to_owned(),
                    resolver,
                    detail,
                })
        }
    }
}

/// The first `nameserver` of resolv.conf.
fn system_resolver() -> Result<SocketAddr, PropagationError> {
    let text = std::fs::read_to_string(RESOLV_CONF).map_err(|e| PropagationError::NoResolver {
        detail: e.to_string(),
    })?;
    first_nameserver(&text).ok_or(PropagationError::NoResolver {
        detail: "no usable `nameserver` line".to_owned(),
    })
}

fn first_nameserver(resolv_conf: &str) -> Option<SocketAddr> {
    resolv_conf.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some("nameserver"))
            .then(|| words.next()?.parse::<IpAddr>().ok())
            .flatten()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// The zone's NS servers with their addresses, asked of a recursive resolver.
async fn authoritative(resolver: SocketAddr, fqdn: &str) -> Result<Vec<Server>, String> {
    let mut client = super::udp_client(resolver)
        .await
        .map_err(|e| e.to_string())?;
    let name = Name::from_str(fqdn).map_err(|e| e.to_string())?;
    let soa = client
        .query(name, DNSClass::IN, RecordType::SOA)
        .await
        .map_err(|e| format!("SOA query: {e}"))?;
    let zone = soa
        .answers()
        .iter()
        .chain(soa.name_servers())
        .find(|r| r.record_type() == RecordType::SOA)
        .map(|r| r.name().clone())
        .ok_or_else(|| format!("no SOA in the answer ({})", soa.response_code()))?;
    let ns = client
        .query(zone.clone(), DNSClass::IN, RecordType::NS)
        .await
        .map_err(|e| format!("NS query for {zone}: {e}"))?;
    let mut servers = Vec::new();
    for record in ns.answers() {
        let RData::NS(target) = record.data() else {
            continue;
        };
        let mut addrs = Vec::new();
        for rtype in [RecordType::A, RecordType::AAAA] {
            if let Ok(r) = client.query(target.0.clone(), DNSClass::IN, rtype).await {
                addrs.extend(r.answers().iter().filter_map(|a| match a.data() {
                    RData::A(v4) => Some(SocketAddr::new(IpAddr::V4(v4.0), 53)),
                    RData::AAAA(v6) => Some(SocketAddr::new(IpAddr::V6(v6.0), 53)),
                    _ => None,
                }));
            }
        }
        servers.push(Server {
            name: target.0.to_string(),
            addrs,
        });
    }
    if servers.is_empty() {
        return Err(format!("zone {zone} has no NS records"));
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_nameserver() {
        let text = "# generated\nsearch example.org\nnameserver fe80::1%eth0\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n";
        assert_eq!(
            first_nameserver(text),
            Some("10.0.0.2:53".parse().expect("addr"))
        );
        assert_eq!(first_nameserver("options ndots:1\n"), None);
    }
}
