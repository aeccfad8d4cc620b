//! One issuance, start to end: the account (registered once, then reused), a new order for the
//! configured names, the challenges (dns-01 in `dns01`, tls-alpn-01 here), waiting for the CA
//! to validate, finalization with a fresh P-256 key, download, and storage.

use std::time::Duration;

use instant_acme::{
    Account, AccountBuilder, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder,
    Order, OrderStatus, RetryPolicy,
};

use super::config::{AcmeConfig, ChallengeConfig};
use super::error::{AcmeError, Problem, Step};
use super::store::{AcmeStore, StoredCertificate};
use super::tls_alpn::AcmeResolver;

/// A certificate just issued (and already stored).
pub type Issued = StoredCertificate;

/// Obtains a certificate for `config.domains` and stores it. `resolver` answers tls-alpn-01
/// (it is not used for dns-01). DNS records and challenge certificates are removed whatever
/// the outcome.
pub async fn obtain(
    config: &AcmeConfig,
    store: &AcmeStore,
    resolver: Option<&AcmeResolver>,
) -> Result<Issued, AcmeError> {
    let directory = config.directory.as_str();
    let account = account(config, store).await?;
    let ids: Vec<Identifier> = config
        .domains
        .iter()
        .map(|d| Identifier::Dns(d.to_string()))
        .collect();
    let mut order = account
        .new_order(&NewOrder::new(&ids))
        .await
        .map_err(|e| AcmeError::from_acme(e, Step::NewOrder, directory))?;
    tracing::info!(domains = ?ids.len(), challenge = config.challenge.name(), "ACME order created");
    match &config.challenge {
        ChallengeConfig::Dns01(dns) => {
            super::dns01::authorize(&mut order, dns, config).await?;
        }
        ChallengeConfig::TlsAlpn01 => {
            let resolver = resolver.ok_or(AcmeError::NoResolver)?;
            authorize_tls_alpn(&mut order, resolver, config).await?;
        }
    }
    let key_pem = order
        .finalize()
        .await
        .map_err(|e| AcmeError::from_acme(e, Step::Finalize, directory))?;
    let chain_pem = order
        .poll_certificate(&retry_policy(config.timing.order_timeout))
        .await
        .map_err(|e| poll_error(e, Step::Download, config))?;
    let stored = store.save_certificate(&chain_pem, &key_pem)?;
    tracing::info!(
        issuer = %stored.info.issuer,
        not_after = %certs::inspect::format_utc(stored.info.not_after),
        path = %store.cert_path().display(),
        "ACME certificate obtained"
    );
    Ok(stored)
}

/// The stored account for this CA, or a new one (stored with mode 0600).
async fn account(config: &AcmeConfig, store: &AcmeStore) -> Result<Account, AcmeError> {
    let directory = config.directory.as_str();
    let builder = || -> Result<AccountBuilder, AcmeError> {
        match &config.ca_root {
            Some(path) => Account::builder_with_root(path).map_err(|e| AcmeError::CaRoot {
                path: path.clone(),
                detail: super::error::chain(&e),
            }),
            None => {
                Account::builder().map_err(|e| AcmeError::from_acme(e, Step::Account, directory))
            }
        }
    };
    if let Some(credentials) = store.load_account(directory)? {
        return builder()?
            .from_credentials(credentials)
            .await
            .map_err(|e| AcmeError::from_acme(e, Step::Account, directory));
    }
    let contact = config.email.as_ref().map(|e| format!("mailto:{e}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = builder()?
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            directory.to_owned(),
            None,
        )
        .await
        .map_err(|e| AcmeError::from_acme(e, Step::Account, directory))?;
    store.save_account(directory, &credentials)?;
    tracing::info!(%directory, account = account.id(), "ACME account registered");
    Ok(account)
}

/// Serves a challenge certificate per pending name, tells the CA, waits for validation, and
/// removes the certificates again.
async fn authorize_tls_alpn(
    order: &mut Order,
    resolver: &AcmeResolver,
    config: &AcmeConfig,
) -> Result<(), AcmeError> {
    let mut added = Vec::new();
    let result = async {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz
                .map_err(|e| AcmeError::from_acme(e, Step::Authorization, &config.directory))?;
            let domain = authz.identifier().to_string();
            if !needs_challenge(authz.status, &domain)? {
                continue;
            }
            let offered = offered(&authz.challenges);
            let challenge = authz.challenge(ChallengeType::TlsAlpn01).ok_or_else(|| {
                AcmeError::NoChallenge {
                    domain: domain.clone(),
                    wanted: "tls-alpn-01",
                    offered,
                }
            })?;
            resolver.add_challenge(&domain, challenge.key_authorization().digest().as_ref())?;
            added.push(domain);
        }
        if added.is_empty() {
            return Ok(());
        }
        set_ready(order, ChallengeType::TlsAlpn01, config).await?;
        wait_validated(order, "tls-alpn-01", config).await
    }
    .await;
    for domain in &added {
        resolver.remove_challenge(domain);
    }
    result
}

/// Whether an authorization still needs its challenge done (a valid one is reused).
pub(super) fn needs_challenge(
    status: AuthorizationStatus,
    domain: &str,
) -> Result<bool, AcmeError> {
    match status {
        AuthorizationStatus::Pending => Ok(true),
        AuthorizationStatus::Valid => Ok(false),
        other => Err(AcmeError::Authorization {
            domain: domain.to_owned(),
            status: format!("{other:?}").to_ascii_lowercase(),
        }),
    }
}

pub(super) fn offered(challenges: &[instant_acme::Challenge]) -> String {
    let names: Vec<String> = challenges
        .iter()
        .map(|c| format!("{:?}", c.r#type))
        .collect();
    names.join(", ")
}

/// Tells the CA that every pending challenge of `kind` is ready to be checked.
pub(super) async fn set_ready(
    order: &mut Order,
    kind: ChallengeType,
    config: &AcmeConfig,
) -> Result<(), AcmeError> {
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz =
            authz.map_err(|e| AcmeError::from_acme(e, Step::Authorization, &config.directory))?;
        if authz.status != AuthorizationStatus::Pending {
            continue;
        }
        if let Some(mut challenge) = authz.challenge(kind.clone()) {
            challenge
                .set_ready()
                .await
                .map_err(|e| AcmeError::from_acme(e, Step::Challenge, &config.directory))?;
        }
    }
    Ok(())
}

/// Waits until the order is ready to finalize; if it became invalid, finds the challenge the
/// CA rejected and returns its problem.
pub(super) async fn wait_validated(
    order: &mut Order,
    challenge: &'static str,
    config: &AcmeConfig,
) -> Result<(), AcmeError> {
    let polled = order
        .poll_ready(&retry_policy(config.timing.order_timeout))
        .await;
    let order_problem = match polled {
        Ok(OrderStatus::Ready) => return Ok(()),
        Ok(_) => None,
        Err(instant_acme::Error::Api(p)) => Some(Problem::from_acme(&p)),
        Err(e) => return Err(poll_error(e, Step::Validation, config)),
    };
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let Ok(mut authz) = authz else { continue };
        let domain = authz.identifier().to_string();
        if authz.refresh().await.is_err() {
            continue;
        }
        if let Some(problem) = authz.challenges.iter().find_map(|c| c.error.as_ref()) {
            return Err(AcmeError::Validation {
                domain,
                challenge,
                problem: Problem::from_acme(problem),
            });
        }
    }
    Err(AcmeError::Refused {
        directory: config.directory.clone(),
        step: Step::Validation,
        problem: order_problem.unwrap_or(Problem {
            kind: String::new(),
            detail: "the order became invalid".to_owned(),
            subproblems: Vec::new(),
        }),
    })
}

fn retry_policy(timeout: Duration) -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .backoff(1.5)
        .timeout(timeout)
}

/// Maps a polling error, filling in how long was waited.
fn poll_error(error: instant_acme::Error, step: Step, config: &AcmeConfig) -> AcmeError {
    match AcmeError::from_acme(error, step, &config.directory) {
        AcmeError::Timeout { step, .. } => AcmeError::Timeout {
            step,
            waited: config.timing.order_timeout,
        },
        other => other,
    }
}
