//! ACME integration tests against real servers started per test on 127.0.0.1: Debian's
//! `pebble` as the CA, `pebble-challtestsrv` as a DNS server fed by a `--dns-hook` script,
//! BIND `named` for RFC 2136 with TSIG, and a rustls listener with `AcmeResolver` for
//! tls-alpn-01. Needs `apt-get install -y pebble bind9 bind9-utils dnsutils`.

mod servers;

mod dns01;
mod failures;
mod renewal;
mod serve;
mod tls_alpn;

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use gateway::acme::config::{
    AcmeConfig, ChallengeConfig, Dns01Config, DnsProvider, DomainName, HostPort, PropagationCheck,
    Timing,
};
use hickory_client::client::ClientHandle;
use hickory_client::proto::rr::{DNSClass, Name, RData, RecordType};

use servers::Pebble;
pub use servers::{challtestsrv_hook, script};

/// A configuration for `pebble`, with timings short enough for tests.
pub fn config(pebble: &Pebble, domains: &[&str], challenge: ChallengeConfig) -> AcmeConfig {
    AcmeConfig {
        ca_root: Some(pebble.listener_root.clone()),
        ..config_at(&pebble.directory, domains, challenge)
    }
}

/// A configuration for the CA at `directory`, trusting the system's roots.
pub fn config_at(directory: &str, domains: &[&str], challenge: ChallengeConfig) -> AcmeConfig {
    AcmeConfig {
        domains: domains
            .iter()
            .map(|d| DomainName::parse(d).expect("domain"))
            .collect(),
        email: Some("ops@vncgate.example.org".to_owned()),
        directory: directory.to_owned(),
        ca_root: None,
        challenge,
        renew_before: None,
        timing: Timing {
            order_timeout: Duration::from_secs(20),
            retry_initial: Duration::from_millis(200),
            retry_max: Duration::from_secs(2),
            min_renewal_interval: Duration::from_secs(3600),
            hook_timeout: Duration::from_secs(10),
        },
    }
}

/// dns-01 through `provider`, checked at `dns` (the server pebble asks).
pub fn dns01(provider: DnsProvider, dns: SocketAddr) -> ChallengeConfig {
    ChallengeConfig::Dns01(Dns01Config {
        provider,
        check: PropagationCheck::At(HostPort {
            host: dns.ip().to_string(),
            port: dns.port(),
        }),
        propagation_timeout: Duration::from_secs(10),
        poll_interval: Duration::from_millis(100),
        ttl_secs: 60,
    })
}

/// The TXT values `server` has at `fqdn`.
pub async fn txt_at(server: SocketAddr, fqdn: &str) -> Vec<String> {
    let mut client = gateway::acme::dns::udp_client(server)
        .await
        .expect("dns client");
    let response = client
        .query(
            Name::from_str(fqdn).expect("name"),
            DNSClass::IN,
            RecordType::TXT,
        )
        .await
        .expect("TXT query");
    response
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::TXT(t) => Some(t.to_string()),
            _ => None,
        })
        .collect()
}

/// Waits for `cond`, polling, at most `secs` seconds.
pub async fn eventually(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
