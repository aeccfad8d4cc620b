//! `vncgate certs`: a small certificate authority in a directory — flags → typed requests to
//! [`certs::generate::store::Store`], results printed for a person. No certificate logic lives
//! here; see `docs/certs.md` for the workflow. The flags are declared here, the commands run in
//! `commands`, and `show` prints certificates, lists and CRLs.

mod commands;
mod show;

use std::path::PathBuf;

use certs::generate::crl::Reason;
use certs::generate::key::KeyType;
use certs::generate::profile;

#[derive(clap::Args, Debug)]
#[command(
    about = "Manage certificates: a CA, server and client certificates, CRLs, exports",
    long_about = "Manage a small certificate authority kept as PEM files in one directory: \
                  create the CA, issue server and client certificates (or requests for an external CA), \
                  revoke them, and export them for browsers (PKCS#12), QEMU and x11vnc."
)]
pub struct CertsArgs {
    /// The certificate directory [default: <state dir>/certs].
    #[arg(long, global = true, value_name = "DIR")]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    command: CertsCommand,
}

#[derive(clap::Subcommand, Debug)]
enum CertsCommand {
    /// Create the root CA: ca.crt, ca.key and an empty crl.pem.
    InitCa {
        /// The CA's common name [default: "vncgate CA" and this host's name].
        #[arg(long, value_name = "CN")]
        name: Option<String>,
        /// Days the CA is valid.
        #[arg(long, default_value_t = profile::DEFAULT_ROOT_DAYS, value_name = "N")]
        days: u32,
        /// Limit how many intermediate CAs may be chained below the root.
        #[arg(long, value_name = "N")]
        path_len: Option<u8>,
        /// The kind of key.
        #[arg(long = "key", default_value = "ec-p256", value_parser = key_type_parser())]
        key_type: String,
        /// Encrypt the CA key with the passphrase on the first line of FILE.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Replace an existing CA (every certificate it signed stops being trusted).
        #[arg(long)]
        force: bool,
    },
    /// Issue a certificate signed by the CA (or self-signed).
    #[command(subcommand)]
    Issue(IssueCommand),
    /// Make a key and a certificate request (NAME.csr) for an external CA.
    Request {
        /// The entry's name: its files are NAME.key and NAME.csr, then NAME.crt.
        name: String,
        /// A DNS name or IP address the server is reached by (repeatable) [default: NAME].
        #[arg(long = "san", value_name = "DNS_OR_IP")]
        sans: Vec<String>,
        /// Request a client certificate instead of a server certificate.
        #[arg(long)]
        client: bool,
        /// The e-mail address of a client certificate.
        #[arg(long, value_name = "ADDR", requires = "client")]
        email: Option<String>,
        #[command(flatten)]
        new_key: NewKeyArgs,
    },
    /// Store the certificate an external CA signed for `request NAME` as NAME.crt.
    Import {
        /// The name given to `request`.
        name: String,
        /// The signed certificate, PEM, optionally followed by its intermediate CAs.
        signed: PathBuf,
        /// The passphrase of NAME.key, if encrypted (else the request is checked instead).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Replace an existing NAME.crt.
        #[arg(long)]
        force: bool,
    },
    /// List the certificates in the directory.
    List,
    /// Show a certificate: subject, names, validity, serial, issuer, fingerprint, catchphrase.
    Info {
        /// The entry's name (see `list`).
        name: String,
    },
    /// Revoke a certificate: add it to its CA's CRL.
    Revoke {
        /// The entry whose certificate to revoke.
        name: String,
        /// Why (recorded in the CRL).
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Reason::NAMES))]
        reason: Option<String>,
        /// The passphrase of the CA key, if encrypted.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Days until the new CRL's next update.
        #[arg(long, default_value_t = certs::generate::crl::DEFAULT_CRL_DAYS, value_name = "N")]
        crl_days: u32,
    },
    /// Print a CA's CRL (PEM), or renew it before its next update.
    Crl {
        /// The CA whose CRL to show.
        #[arg(long, default_value = "ca", value_name = "NAME")]
        ca: String,
        /// Print a summary instead of PEM.
        #[arg(long)]
        summary: bool,
        /// Re-sign the CRL with a new number and next update.
        #[arg(long)]
        renew: bool,
        /// Days until the renewed CRL's next update.
        #[arg(long, default_value_t = certs::generate::crl::DEFAULT_CRL_DAYS, value_name = "N", requires = "renew")]
        days: u32,
        /// The passphrase of the CA key, if encrypted (for --renew).
        #[arg(long, value_name = "FILE", requires = "renew")]
        passphrase_file: Option<PathBuf>,
    },
    /// Export a certificate and key for a browser (PKCS#12), QEMU or x11vnc.
    #[command(group(clap::ArgGroup::new("format").required(true).args(["p12", "qemu", "x11vnc"])))]
    Export {
        /// The entry to export.
        name: String,
        /// Write a PKCS#12 file (needs --passphrase-file).
        #[arg(long, value_name = "OUT")]
        p12: Option<PathBuf>,
        /// Write QEMU's tls-creds-x509 files into DIR.
        #[arg(long, value_name = "DIR")]
        qemu: Option<PathBuf>,
        /// Write key, certificate and chain into one PEM file for `x11vnc -ssl FILE`.
        #[arg(long, value_name = "FILE")]
        x11vnc: Option<PathBuf>,
        /// The PKCS#12 passphrase (also tried on an encrypted key).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// The passphrase of NAME.key, if encrypted and different.
        #[arg(long, value_name = "FILE")]
        key_passphrase_file: Option<PathBuf>,
        /// PKCS#12 with 3DES and a SHA-1 MAC, for old importers.
        #[arg(long, requires = "p12")]
        legacy: bool,
        /// Replace existing output files.
        #[arg(long)]
        force: bool,
    },
    /// Encrypt NAME.key with a passphrase.
    Protect {
        /// The entry whose key to encrypt.
        name: String,
        #[arg(long, value_name = "FILE")]
        passphrase_file: PathBuf,
    },
    /// Decrypt NAME.key, removing its passphrase.
    Unprotect {
        /// The entry whose key to decrypt.
        name: String,
        #[arg(long, value_name = "FILE")]
        passphrase_file: PathBuf,
    },
    /// Print a CA certificate as one line, for a URL fragment (#ca=…) or a session file.
    CaData {
        /// The CA (or self-signed certificate) to encode.
        #[arg(default_value = "ca")]
        name: String,
        /// Plain hex.
        #[arg(long, conflicts_with = "base64")]
        hex: bool,
        /// `base64:` and standard base64 (the default).
        #[arg(long)]
        base64: bool,
    },
}

#[derive(clap::Subcommand, Debug)]
enum IssueCommand {
    /// A TLS server certificate.
    Server {
        /// The entry's name: its files are NAME.crt and NAME.key.
        name: String,
        /// A DNS name or IP address the server is reached by (repeatable) [default: NAME].
        #[arg(long = "san", value_name = "DNS_OR_IP")]
        sans: Vec<String>,
        #[command(flatten)]
        signer: SignerArgs,
        #[command(flatten)]
        new_key: NewKeyArgs,
    },
    /// A TLS client certificate (for a person or a viewer).
    Client {
        /// The entry's name: its files are NAME.crt and NAME.key.
        name: String,
        /// The e-mail address to put in the certificate.
        #[arg(long, value_name = "ADDR")]
        email: Option<String>,
        #[command(flatten)]
        signer: SignerArgs,
        #[command(flatten)]
        new_key: NewKeyArgs,
    },
    /// An intermediate CA, which can then sign with `--ca NAME`.
    Intermediate {
        /// The entry's name: its files are NAME.crt, NAME.key and NAME.crl.pem.
        name: String,
        /// How many further intermediates may follow below this one.
        #[arg(long, default_value_t = 0, value_name = "N")]
        path_len: u8,
        /// The CA that signs it.
        #[arg(long, default_value = "ca", value_name = "NAME")]
        ca: String,
        /// The passphrase of the signing CA's key, if encrypted.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        #[command(flatten)]
        new_key: NewKeyArgs,
    },
}

#[derive(clap::Args, Debug)]
struct SignerArgs {
    /// The CA that signs it: the root `ca` or an intermediate.
    #[arg(long, default_value = "ca", value_name = "NAME")]
    ca: String,
    /// Sign it with its own key instead of a CA.
    #[arg(long, conflicts_with = "ca")]
    self_signed: bool,
    /// The passphrase of the signing CA's key, if encrypted.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct NewKeyArgs {
    /// The common name [default: NAME].
    #[arg(long, value_name = "CN")]
    cn: Option<String>,
    /// Days the certificate is valid [default: 397 for servers and clients, 1825 for CAs].
    #[arg(long, value_name = "N")]
    days: Option<u32>,
    /// The kind of key: rsa-2048 for x11vnc, which reads only RSA keys.
    #[arg(long = "key", default_value = "ec-p256", value_parser = key_type_parser())]
    key_type: String,
    /// Encrypt the new key with the passphrase on the first line of FILE.
    #[arg(long, value_name = "FILE")]
    key_passphrase_file: Option<PathBuf>,
    /// Replace existing files of the same name.
    #[arg(long)]
    force: bool,
}

/// Runs one `vncgate certs` command.
pub fn run(args: CertsArgs) -> anyhow::Result<()> {
    commands::run(args)
}

fn key_type_parser() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(KeyType::NAMES)
}

#[cfg(test)]
mod tests;
