//! How `vncgate certs` shows things: the list, one certificate, a CRL summary.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context;
use certs::generate::store::{KeyState, Name, Store};
use certs::inspect::{format_utc, CertInfo, CrlInfo};

use super::commands::unix;

pub(super) fn list(store: &Store, now: SystemTime) -> anyhow::Result<()> {
    let names = store.names()?;
    if names.is_empty() {
        println!(
            "{} holds no certificates yet; start with `vncgate certs init-ca`.",
            store.dir().display()
        );
        return Ok(());
    }
    let crls = store.crls()?;
    let now = unix(now);
    println!(
        "{:<20} {:<16} {:<20} {:<10} {:<9} KEY",
        "NAME", "KIND", "ISSUER", "EXPIRES", "STATUS"
    );
    let mut problems = Vec::new();
    for name in names {
        let e = store.entry(&name, &crls);
        let (kind, issuer, expires, status) = match e.chain.as_ref().map(|c| c.first()) {
            Ok(Some(leaf)) => (
                leaf.kind.to_string(),
                if leaf.self_issued {
                    "(self-signed)".to_owned()
                } else {
                    short_issuer(leaf)
                },
                format_utc(leaf.not_after)
                    .chars()
                    .take(10)
                    .collect::<String>(),
                status(leaf, e.revoked, now).to_owned(),
            ),
            Ok(None) => ("-".into(), "-".into(), "-".into(), "-".into()),
            Err(_) if e.has_request && !store.cert_path(&name).exists() => {
                ("request".into(), "-".into(), "-".into(), "pending".into())
            }
            Err(why) => {
                problems.push(format!("{name}: {why}"));
                ("-".into(), "-".into(), "-".into(), "error".into())
            }
        };
        println!(
            "{:<20} {:<16} {:<20} {:<10} {:<9} {}",
            name.as_str(),
            kind,
            clip(&issuer, 20),
            expires,
            status,
            key_word(e.key)
        );
    }
    for p in problems {
        eprintln!("{p}");
    }
    Ok(())
}

pub(super) fn info(store: &Store, name: &Name, now: SystemTime) -> anyhow::Result<()> {
    let crls = store.crls().unwrap_or_default();
    let e = store.entry(name, &crls);
    let chain = match e.chain {
        Ok(c) => c,
        Err(_) if e.has_request && !store.cert_path(name).exists() => anyhow::bail!(
            "{name} has a request ({}) but no certificate yet; import the signed one with \
             `vncgate certs import {name} SIGNED.crt`",
            store.request_path(name).display()
        ),
        Err(_) => {
            // Report the file's own error (missing, unreadable, not PEM…).
            store.read_chain(name)?;
            anyhow::bail!("{}: cannot be read", store.cert_path(name).display())
        }
    };
    let leaf = chain.first().context("empty chain")?;
    println!("Name:         {name}");
    println!(
        "Kind:         {}{}",
        leaf.kind,
        if leaf.self_issued && !leaf.kind.is_ca() {
            " (self-signed)"
        } else {
            ""
        }
    );
    println!("Subject:      {}", leaf.subject);
    println!("Issuer:       {}", leaf.issuer);
    if !leaf.sans.is_empty() {
        println!("Names:        {}", leaf.sans.join(", "));
    }
    println!(
        "Valid:        {} to {}",
        format_utc(leaf.not_before),
        format_utc(leaf.not_after)
    );
    println!("Status:       {}", status(leaf, e.revoked, unix(now)));
    println!("Serial:       {}", leaf.serial_hex());
    let path_len = match (leaf.kind.is_ca(), leaf.path_len) {
        (true, Some(n)) => format!(", path length {n}"),
        _ => String::new(),
    };
    println!(
        "Key:          {}, {} ({}){path_len}",
        leaf.key,
        store.key_path(name).display(),
        key_word(e.key)
    );
    if chain.len() > 1 {
        let rest: Vec<String> = chain
            .iter()
            .skip(1)
            .map(|c| c.common_name.clone().unwrap_or_else(|| c.subject.clone()))
            .collect();
        println!(
            "Chain:        {} certificates: this, then {}",
            chain.len(),
            rest.join(", then ")
        );
    }
    println!("SHA-256:      {}", leaf.fingerprint);
    println!("Catchphrase:  {}", leaf.catchphrase());
    Ok(())
}

pub(super) fn print_identity(info: &CertInfo) {
    println!("Subject:      {}", info.subject);
    if !info.sans.is_empty() {
        println!("Names:        {}", info.sans.join(", "));
    }
    println!("Valid until:  {}", format_utc(info.not_after));
    println!("SHA-256:      {}", info.fingerprint);
    println!("Catchphrase:  {}", info.catchphrase());
}

pub(super) fn print_files(verb: &str, files: &[PathBuf]) {
    for f in files {
        println!("{verb} {}", f.display());
    }
}

fn status(leaf: &CertInfo, revoked: bool, now: i64) -> &'static str {
    if revoked {
        "revoked"
    } else if now > leaf.not_after {
        "expired"
    } else if now < leaf.not_before {
        "not yet"
    } else {
        "valid"
    }
}

fn key_word(k: KeyState) -> &'static str {
    match k {
        KeyState::Missing => "missing",
        KeyState::Plain => "unencrypted",
        KeyState::Encrypted => "encrypted",
        KeyState::Unreadable => "unreadable",
    }
}

fn short_issuer(info: &CertInfo) -> String {
    info.issuer
        .strip_prefix("CN=")
        .unwrap_or(&info.issuer)
        .to_owned()
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(n.saturating_sub(1)).collect();
        c.push('…');
        c
    }
}

/// The CRL's issuer, number, dates and entries.
pub(super) fn crl_summary(crl: &CrlInfo) {
    let number = crl.number.as_deref().map(certs::inspect::number_text);
    println!("Issuer:       {}", crl.issuer);
    println!("CRL number:   {}", number.unwrap_or_default());
    println!("Issued:       {}", format_utc(crl.this_update));
    let next = crl.next_update.map(format_utc);
    println!("Next update:  {}", next.unwrap_or_else(|| "-".into()));
    println!("Revoked:      {}", crl.revoked.len());
    for r in &crl.revoked {
        let reason = r.reason.map(certs::inspect::reason_name).unwrap_or("-");
        let serial = certs::inspect::serial_hex(&r.serial);
        println!("  serial {serial}  {}  {reason}", format_utc(r.revoked_at));
    }
}
