//! The dns-01 challenge of one order: a TXT record `_acme-challenge.NAME` per pending name,
//! published through the hook or RFC 2136, checked visible at the authoritative servers, then
//! the CA is told to look. Every record that was published is removed afterwards, whether the
//! CA validated or anything failed on the way.
//!
//! Traps handled here: the record of `*.example.org` is `_acme-challenge.example.org` (the
//! name without `*.`), so a certificate for `example.org` and `*.example.org` puts two values
//! on one name — both are added, neither replaces the other; and authorizations the CA still
//! holds as valid (it may reuse them) need no record.

use instant_acme::{ChallengeType, Identifier, Order};

use super::config::{AcmeConfig, Dns01Config};
use super::dns::{propagation, DnsPublisher, TxtRecord};
use super::error::{AcmeError, Step};
use super::order::{needs_challenge, offered, set_ready, wait_validated};

/// Completes the dns-01 challenges of `order`.
pub async fn authorize(
    order: &mut Order,
    dns: &Dns01Config,
    config: &AcmeConfig,
) -> Result<(), AcmeError> {
    let records = records(order, config).await?;
    if records.is_empty() {
        tracing::info!("the CA reuses earlier validations: no DNS record needed");
        return Ok(());
    }
    let publisher = DnsPublisher::new(&dns.provider, config.timing.hook_timeout);
    let mut published: Vec<&TxtRecord> = Vec::new();
    let result = async {
        for record in &records {
            publisher.present(record, dns.ttl_secs).await?;
            published.push(record);
            tracing::info!(fqdn = %record.fqdn, "TXT record published");
        }
        propagation::wait_visible(
            &dns.check,
            &records,
            dns.propagation_timeout,
            dns.poll_interval,
        )
        .await
        .map_err(super::dns::DnsError::from)?;
        tracing::info!("TXT records visible; asking the CA to validate");
        set_ready(order, ChallengeType::Dns01, config).await?;
        wait_validated(order, "dns-01", config).await
    }
    .await;
    for record in published {
        match publisher.cleanup(record, dns.ttl_secs).await {
            Ok(()) => tracing::debug!(fqdn = %record.fqdn, "TXT record removed"),
            Err(e) => {
                tracing::warn!(fqdn = %record.fqdn, "cannot remove the TXT record: {e}; remove it by hand")
            }
        }
    }
    result
}

/// The record each pending authorization needs.
async fn records(order: &mut Order, config: &AcmeConfig) -> Result<Vec<TxtRecord>, AcmeError> {
    let mut records = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz =
            authz.map_err(|e| AcmeError::from_acme(e, Step::Authorization, &config.directory))?;
        let domain = authz.identifier().to_string();
        if !needs_challenge(authz.status, &domain)? {
            continue;
        }
        let offered = offered(&authz.challenges);
        let challenge =
            authz
                .challenge(ChallengeType::Dns01)
                .ok_or_else(|| AcmeError::NoChallenge {
                    domain: domain.clone(),
                    wanted: "dns-01",
                    offered,
                })?;
        // The identifier without wildcard context: `example.org` for `*.example.org`.
        let Identifier::Dns(base) = challenge.identifier().identifier else {
            return Err(AcmeError::NoChallenge {
                domain,
                wanted: "dns-01 (for a DNS name)",
                offered: String::new(),
            });
        };
        let record = TxtRecord::for_name(base, challenge.key_authorization().dns_value());
        if !records.contains(&record) {
            records.push(record);
        }
    }
    Ok(records)
}
