//! The `vncgate certs` commands: each turns its flags into a request to the store and prints
//! what was done.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;
use certs::fs::Overwrite;
use certs::generate::crl::Reason;
use certs::generate::key::{KeyType, Passphrase};
use certs::generate::pkcs12::P12Encryption;
use certs::generate::profile::{self, Profile, San};
use certs::generate::store::authority::{NewCa, NewCert, Signing};
use certs::generate::store::{Name, Store};

use super::show::{self, print_files, print_identity};
use super::{CertsArgs, CertsCommand, IssueCommand, SignerArgs};

pub(super) fn run(args: CertsArgs) -> anyhow::Result<()> {
    let dir = args
        .dir
        .unwrap_or_else(|| gateway::state_dir::resolve(None).join("certs"));
    let store = Store::new(dir);
    let now = SystemTime::now();
    match args.command {
        CertsCommand::InitCa {
            name,
            days,
            path_len,
            key_type,
            passphrase_file,
            force,
        } => {
            let passphrase = read_passphrase(passphrase_file.as_deref())?;
            let written = store.init_ca(&NewCa {
                common_name: name.unwrap_or_else(default_ca_name),
                days,
                path_len,
                key_type: key_type_of(&key_type),
                passphrase: passphrase.as_ref(),
                overwrite: overwrite(force),
                now,
            })?;
            println!("Created the root CA in {}:", store.dir().display());
            println!("  ca.crt   the certificate to distribute: trust it in browsers and viewers");
            println!(
                "  ca.key   its private key (mode 0600{})",
                if passphrase.is_some() {
                    ", encrypted"
                } else {
                    ""
                }
            );
            println!("  crl.pem  its revocation list (empty)");
            print_identity(&written.info);
            Ok(())
        }
        CertsCommand::Issue(cmd) => issue(&store, cmd, now),
        CertsCommand::Request {
            name,
            sans,
            client,
            email,
            new_key,
        } => {
            let name = Name::parse(&name)?;
            let cn = new_key.cn.clone().unwrap_or_else(|| name.to_string());
            let profile = if client {
                Profile::Client {
                    common_name: cn,
                    email,
                }
            } else {
                Profile::Server {
                    common_name: cn,
                    sans: parse_sans(&name, &sans)?,
                }
            };
            let key_pass = read_passphrase(new_key.key_passphrase_file.as_deref())?;
            let key_type = key_type_of(&new_key.key_type);
            let files = store.request(
                &name,
                &profile,
                key_type,
                key_pass.as_ref(),
                overwrite(new_key.force),
                now,
            )?;
            print_files("Wrote", &files);
            println!(
                "Send {} to the CA; then: vncgate certs import {name} SIGNED.crt",
                store.request_path(&name).display()
            );
            Ok(())
        }
        CertsCommand::Import {
            name,
            signed,
            passphrase_file,
            force,
        } => {
            let name = Name::parse(&name)?;
            let pass = read_passphrase(passphrase_file.as_deref())?;
            let written = store.import(&name, &signed, pass.as_ref(), overwrite(force))?;
            print_files("Wrote", &written.files);
            print_identity(&written.info);
            Ok(())
        }
        CertsCommand::List => show::list(&store, now),
        CertsCommand::Info { name } => show::info(&store, &Name::parse(&name)?, now),
        CertsCommand::Revoke {
            name,
            reason,
            passphrase_file,
            crl_days,
        } => {
            let name = Name::parse(&name)?;
            let pass = read_passphrase(passphrase_file.as_deref())?;
            let reason = reason.as_deref().and_then(Reason::parse);
            let r = store.revoke(&name, reason, pass.as_ref(), crl_days, now)?;
            println!(
                "Revoked {name} (serial {}) in {} (CRL number {}, signed by {}).",
                r.serial,
                r.crl.display(),
                r.crl_number,
                r.ca
            );
            println!("Give the new CRL to everything that checks these certificates.");
            Ok(())
        }
        CertsCommand::Crl {
            ca,
            summary,
            renew,
            days,
            passphrase_file,
        } => {
            let ca = Name::parse(&ca)?;
            if renew {
                let pass = read_passphrase(passphrase_file.as_deref())?;
                let r = store.renew_crl(&ca, pass.as_ref(), days, now)?;
                eprintln!("Renewed {} (CRL number {}).", r.crl.display(), r.crl_number);
            }
            let (der, crl) = store.read_crl(&ca)?.with_context(|| {
                format!(
                    "{} does not exist; is {ca} a CA of this directory?",
                    store.crl_path(&ca).display()
                )
            })?;
            if summary {
                show::crl_summary(&crl);
            } else {
                print!("{}", certs::pem::encode(certs::pem::X509_CRL, &der));
            }
            Ok(())
        }
        CertsCommand::Export {
            name,
            p12,
            qemu,
            x11vnc,
            passphrase_file,
            key_passphrase_file,
            legacy,
            force,
        } => {
            let name = Name::parse(&name)?;
            let pass = read_passphrase(passphrase_file.as_deref())?;
            let key_pass = read_passphrase(key_passphrase_file.as_deref())?;
            if let Some(out) = p12 {
                let pass = pass.context(
                    "a PKCS#12 file needs a passphrase: give it with --passphrase-file FILE",
                )?;
                let enc = if legacy {
                    P12Encryption::Legacy
                } else {
                    P12Encryption::Modern
                };
                let out = store.export_p12(
                    &name,
                    &out,
                    &pass,
                    key_pass.as_ref(),
                    enc,
                    overwrite(force),
                )?;
                println!("Wrote {} (import it in the browser's certificate settings with the same passphrase).", out.display());
            } else if let Some(dir) = qemu {
                let done = store.export_qemu(
                    &name,
                    &dir,
                    key_pass.as_ref().or(pass.as_ref()),
                    overwrite(force),
                )?;
                print_files("Wrote", &done.files);
                println!(
                    "Use: -object tls-creds-x509,id=tls0,dir={},endpoint={}",
                    dir.display(),
                    done.endpoint
                );
                if done.key_encrypted {
                    println!("The key is encrypted: also give QEMU its passphrase with a secret object and passwordid=.");
                }
            } else if let Some(file) = x11vnc {
                let file = store.export_x11vnc(&name, &file, overwrite(force))?;
                println!(
                    "Wrote {} (mode 0600). Use: x11vnc -ssl {}",
                    file.display(),
                    file.display()
                );
            }
            Ok(())
        }
        CertsCommand::Protect {
            name,
            passphrase_file,
        } => {
            let path = store.protect(
                &Name::parse(&name)?,
                &Passphrase::from_file(&passphrase_file)?,
            )?;
            println!("Encrypted {}.", path.display());
            Ok(())
        }
        CertsCommand::Unprotect {
            name,
            passphrase_file,
        } => {
            let path = store.unprotect(
                &Name::parse(&name)?,
                &Passphrase::from_file(&passphrase_file)?,
            )?;
            println!("Decrypted {} (mode 0600).", path.display());
            Ok(())
        }
        CertsCommand::CaData {
            name,
            hex,
            base64: _,
        } => {
            let der = store.ca_der(&Name::parse(&name)?)?;
            if hex {
                println!("{}", certs::ca_data::encode_hex(&der));
            } else {
                println!("{}", certs::ca_data::encode_base64(&der));
            }
            Ok(())
        }
    }
}

fn issue(store: &Store, cmd: IssueCommand, now: SystemTime) -> anyhow::Result<()> {
    let (name, profile, signer, new_key, default_days) = match cmd {
        IssueCommand::Server {
            name,
            sans,
            signer,
            new_key,
        } => {
            let name = Name::parse(&name)?;
            let sans = parse_sans(&name, &sans)?;
            let cn = new_key.cn.clone().unwrap_or_else(|| name.to_string());
            (
                name,
                Profile::Server {
                    common_name: cn,
                    sans,
                },
                signer,
                new_key,
                profile::DEFAULT_LEAF_DAYS,
            )
        }
        IssueCommand::Client {
            name,
            email,
            signer,
            new_key,
        } => {
            let name = Name::parse(&name)?;
            let cn = new_key.cn.clone().unwrap_or_else(|| name.to_string());
            (
                name,
                Profile::Client {
                    common_name: cn,
                    email,
                },
                signer,
                new_key,
                profile::DEFAULT_LEAF_DAYS,
            )
        }
        IssueCommand::Intermediate {
            name,
            path_len,
            ca,
            passphrase_file,
            new_key,
        } => {
            let name = Name::parse(&name)?;
            let cn = new_key.cn.clone().unwrap_or_else(|| name.to_string());
            let signer = SignerArgs {
                ca,
                self_signed: false,
                passphrase_file,
            };
            let profile = Profile::IntermediateCa {
                common_name: cn,
                path_len,
            };
            (
                name,
                profile,
                signer,
                new_key,
                profile::DEFAULT_INTERMEDIATE_DAYS,
            )
        }
    };
    let ca_pass = read_passphrase(signer.passphrase_file.as_deref())?;
    let key_pass = read_passphrase(new_key.key_passphrase_file.as_deref())?;
    let signing = if signer.self_signed {
        Signing::SelfSigned
    } else {
        Signing::Ca {
            name: Name::parse(&signer.ca)?,
            passphrase: ca_pass.as_ref(),
        }
    };
    let written = store.issue(&NewCert {
        name,
        profile,
        days: new_key.days.unwrap_or(default_days),
        signing,
        key_type: key_type_of(&new_key.key_type),
        key_passphrase: key_pass.as_ref(),
        overwrite: overwrite(new_key.force),
        now,
    })?;
    print_files("Wrote", &written.files);
    print_identity(&written.info);
    Ok(())
}

fn parse_sans(name: &Name, sans: &[String]) -> anyhow::Result<Vec<San>> {
    if sans.is_empty() {
        return San::parse(name.as_str()).map(|s| vec![s]).with_context(|| {
            format!("{name} is not a DNS name or IP address; give the server's names with --san")
        });
    }
    Ok(sans
        .iter()
        .map(|s| San::parse(s))
        .collect::<Result<Vec<_>, _>>()?)
}

fn read_passphrase(path: Option<&Path>) -> anyhow::Result<Option<Passphrase>> {
    Ok(path.map(Passphrase::from_file).transpose()?)
}

/// The parser admits only [`KeyType::NAMES`], so the fallback is never taken.
fn key_type_of(name: &str) -> KeyType {
    KeyType::parse(name).unwrap_or_default()
}

fn overwrite(force: bool) -> Overwrite {
    if force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    }
}

fn default_ca_name() -> String {
    match gateway::config::host_name() {
        Some(h) => format!("vncgate CA {h}").chars().take(64).collect(),
        None => "vncgate CA".to_owned(),
    }
}

pub(super) fn unix(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
