//! PEM (RFC 7468) reading and writing: certificates, private keys (plain and encrypted), CRLs,
//! certificate requests.
//!
//! Certificates and plain keys are read with `rustls-pki-types`, as rustls will read them;
//! [`blocks`] reads any labelled block (an `ENCRYPTED PRIVATE KEY` for instance) and
//! [`encode`] writes one, 64 base64 characters a line.

use base64::Engine as _;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;

/// The largest PEM input read; a chain of a few certificates is under 10 KiB.
pub const MAX_PEM_BYTES: usize = 1 << 20;

pub const CERTIFICATE: &str = "CERTIFICATE";
pub const PRIVATE_KEY: &str = "PRIVATE KEY";
pub const ENCRYPTED_PRIVATE_KEY: &str = "ENCRYPTED PRIVATE KEY";
pub const X509_CRL: &str = "X509 CRL";
pub const CERTIFICATE_REQUEST: &str = "CERTIFICATE REQUEST";

/// One `-----BEGIN label-----` … `-----END label-----` block, decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct Block {
    pub label: String,
    pub der: Vec<u8>,
}

impl std::fmt::Debug for Block {
    // A block may be a private key: show only its label and size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("label", &self.label)
            .field("der_len", &self.der.len())
            .finish()
    }
}

/// All certificates in `pem`, in order (leaf first for a chain file).
pub fn certificates(what: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    check_size(what, pem)?;
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::PemMalformed {
            what: what.to_owned(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(Error::PemMissing {
            what: what.to_owned(),
            expected: CERTIFICATE,
        });
    }
    Ok(certs)
}

/// The first private key in `pem` (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(what: &str, pem: &[u8]) -> Result<PrivateKeyDer<'static>, Error> {
    check_size(what, pem)?;
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => Error::PemMissing {
            what: what.to_owned(),
            expected: PRIVATE_KEY,
        },
        other => Error::PemMalformed {
            what: what.to_owned(),
            detail: other.to_string(),
        },
    })
}

/// Every PEM block in `text`, in order. Text outside blocks (comments, `Bag Attributes` lines
/// that `openssl pkcs12` prints) is skipped.
pub fn blocks(what: &str, text: &[u8]) -> Result<Vec<Block>, Error> {
    check_size(what, text)?;
    let malformed = |detail: String| Error::PemMalformed {
        what: what.to_owned(),
        detail,
    };
    let text = std::str::from_utf8(text).map_err(|e| malformed(format!("not text: {e}")))?;
    let mut out = Vec::new();
    let mut open: Option<(String, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let line_no = index + 1;
        match open.as_mut() {
            None => {
                if let Some(label) = strip_marker(line, "BEGIN") {
                    open = Some((label.to_owned(), String::new()));
                }
            }
            Some((label, body)) => {
                if let Some(end) = strip_marker(line, "END") {
                    if end != label {
                        return Err(malformed(format!(
                            "line {line_no}: END {end} does not close BEGIN {label}"
                        )));
                    }
                    let der = base64::engine::general_purpose::STANDARD
                        .decode(body.as_bytes())
                        .map_err(|e| malformed(format!("{label} ending on line {line_no}: {e}")))?;
                    out.push(Block {
                        label: std::mem::take(label),
                        der,
                    });
                    open = None;
                } else if line.starts_with("-----") {
                    return Err(malformed(format!("line {line_no}: unexpected {line}")));
                } else if !line.contains(':') {
                    // RFC 1421 headers ("Proc-Type: …") are skipped; everything else is base64.
                    body.push_str(line);
                }
            }
        }
    }
    if let Some((label, _)) = open {
        return Err(malformed(format!("BEGIN {label} has no END")));
    }
    Ok(out)
}

/// The DER of the blocks labelled `label`, or [`Error::PemMissing`] if there are none.
pub fn blocks_labelled(
    what: &str,
    text: &[u8],
    label: &'static str,
) -> Result<Vec<Vec<u8>>, Error> {
    let found: Vec<Vec<u8>> = blocks(what, text)?
        .into_iter()
        .filter(|b| b.label == label)
        .map(|b| b.der)
        .collect();
    if found.is_empty() {
        return Err(Error::PemMissing {
            what: what.to_owned(),
            expected: label,
        });
    }
    Ok(found)
}

/// `der` as a PEM block labelled `label`, with a final newline.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    s.push_str("-----BEGIN ");
    s.push_str(label);
    s.push_str("-----\n");
    // base64 output is ASCII, so splitting its bytes at any position keeps valid UTF-8.
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str("-----END ");
    s.push_str(label);
    s.push_str("-----\n");
    s
}

fn strip_marker<'a>(line: &'a str, kind: &str) -> Option<&'a str> {
    line.strip_prefix("-----")?
        .strip_prefix(kind)?
        .strip_prefix(' ')?
        .strip_suffix("-----")
}

fn check_size(what: &str, data: &[u8]) -> Result<(), Error> {
    if data.len() > MAX_PEM_BYTES {
        return Err(Error::TooLarge {
            what: what.to_owned(),
            got: data.len(),
            max: MAX_PEM_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_names_what_is_missing() {
        let e = certificates("server.crt", b"").expect_err("no certs");
        assert_eq!(
            e.to_string(),
            "server.crt: no PEM block of type CERTIFICATE found"
        );
        let e = private_key("server.key", b"hello").expect_err("no key");
        assert!(e.to_string().starts_with("server.key: no PEM block"), "{e}");
    }

    #[test]
    fn encode_then_blocks_round_trips() {
        let der: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        let mut text = String::from("Bag Attributes\n    friendlyName: x\n");
        text.push_str(&encode(ENCRYPTED_PRIVATE_KEY, &der));
        text.push_str(&encode(CERTIFICATE, b"abc"));
        let found = blocks("x.pem", text.as_bytes()).expect("parse");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].label, ENCRYPTED_PRIVATE_KEY);
        assert_eq!(found[0].der, der);
        assert!(text
            .lines()
            .all(|l| l.len() <= 64 || l.contains("BEGIN") || l.contains("END")));
        let certs = blocks_labelled("x.pem", text.as_bytes(), CERTIFICATE).expect("cert");
        assert_eq!(certs, vec![b"abc".to_vec()]);
        assert!(format!("{:?}", found[0]).contains("der_len"));
    }

    #[test]
    fn malformed_blocks_are_reported() {
        for (bad, expect) in [
            ("-----BEGIN X-----\nAAAA\n", "has no END"),
            (
                "-----BEGIN X-----\nAAAA\n-----END Y-----\n",
                "does not close",
            ),
            (
                "-----BEGIN X-----\n!!!!\n-----END X-----\n",
                "X ending on line 3",
            ),
        ] {
            let e = blocks("f.pem", bad.as_bytes()).expect_err(bad);
            assert!(e.to_string().contains(expect), "{e}");
            assert!(e.to_string().starts_with("f.pem"), "{e}");
        }
        let e = blocks_labelled("f.pem", b"", CERTIFICATE).expect_err("none");
        assert!(matches!(e, Error::PemMissing { .. }));
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let big = vec![b'A'; MAX_PEM_BYTES + 1];
        assert!(matches!(
            blocks("big.pem", &big),
            Err(Error::TooLarge { .. })
        ));
    }
}
