//! The bytes a client core and a [`super::TlsEngine`] in another module exchange (the browser
//! viewer's second wasm module): what to connect with, the server's chain, and errors. Every
//! length is checked against the input; a malformed message decodes to `None` (parameters,
//! chains) or to a plain [`Error::Tls`] (errors), never a panic.
//!
//! ```text
//! message = version(1) (params | chain | error)         a module of another build is refused
//! params  = trust identity
//! trust   = 0 count (len der)* has_name [len utf8]   CA data
//!         | 1 sha256[32]                               pinned leaf
//!         | 2                                          ask first
//! identity= 0 | 1 count (len der)* key_kind len der    (key_kind: 1 PKCS#1, 2 SEC1, 3 PKCS#8)
//! chain   = count (len der)*
//! error   = 0 len utf8 (Tls) | 1 (ClientCertificateRequired) | 2 len utf8 (Refused)
//!         | 3 sha256[32] rejection                     (CertificateRejected)
//! ```
//! Integers are u8 tags and u32 big-endian counts and lengths.

use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

use super::{CertRejection, TlsIdentity, TlsTrust};
use crate::error::Error;
use crate::wire::Reader;

/// The format's version, the first byte of every message.
const VERSION: u8 = 1;

/// What to do when the two modules disagree (a page whose parts come from two builds).
pub const MISMATCH: &str =
    "reload the page: the viewer and its TLS module come from different builds";

/// A message's start: the version, then the payload written by `f`.
fn message(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = vec![VERSION];
    f(&mut out);
    out
}

/// A reader past the version byte, or `None` for another version.
fn reader(input: &[u8]) -> Option<Reader<'_>> {
    let mut r = Reader::new(input);
    (r.u8().ok()? == VERSION).then_some(r)
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // Certificates, names and messages: far below 4 GiB (the decoder refuses what lies).
    debug_assert!(u32::try_from(b.len()).is_ok());
    out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(b);
}

fn put_list(out: &mut Vec<u8>, items: &[Vec<u8>]) {
    out.extend_from_slice(&u32::try_from(items.len()).unwrap_or(u32::MAX).to_be_bytes());
    for i in items {
        put_bytes(out, i);
    }
}

fn bytes<'a>(r: &mut Reader<'a>) -> Option<&'a [u8]> {
    let n = r.u32().ok()?;
    r.bytes(usize::try_from(n).ok()?).ok()
}

fn text(r: &mut Reader<'_>) -> Option<String> {
    String::from_utf8(bytes(r)?.to_vec()).ok()
}

fn list(r: &mut Reader<'_>) -> Option<Vec<Vec<u8>>> {
    let n = r.u32().ok()?;
    // Each item takes at least its 4-byte length: a count beyond that is a lie.
    if usize::try_from(n).ok()? > r.remaining() / 4 {
        return None;
    }
    (0..n).map(|_| bytes(r).map(<[u8]>::to_vec)).collect()
}

/// What a TLS engine is started with.
pub fn encode_params(trust: &TlsTrust, identity: Option<&TlsIdentity>) -> Vec<u8> {
    message(|out| params(out, trust, identity))
}

fn params(out: &mut Vec<u8>, trust: &TlsTrust, identity: Option<&TlsIdentity>) {
    match trust {
        TlsTrust::Ca { roots, server_name } => {
            out.push(0);
            put_list(out, roots);
            match server_name {
                Some(n) => {
                    out.push(1);
                    put_bytes(out, n.as_bytes());
                }
                None => out.push(0),
            }
        }
        TlsTrust::Pinned(pin) => {
            out.push(1);
            out.extend_from_slice(pin);
        }
        TlsTrust::AskFirst => out.push(2),
    }
    match identity {
        None => out.push(0),
        Some(id) => {
            out.push(1);
            put_list(out, &id.chain);
            let (kind, der) = match &id.key {
                PrivateKeyDer::Pkcs1(k) => (1, k.secret_pkcs1_der()),
                PrivateKeyDer::Sec1(k) => (2, k.secret_sec1_der()),
                _ => (3, id.key.secret_der()),
            };
            out.push(kind);
            put_bytes(out, der);
        }
    }
}

/// The inverse of [`encode_params`]; `None` when `bytes` are not such parameters.
pub fn decode_params(input: &[u8]) -> Option<(TlsTrust, Option<TlsIdentity>)> {
    let mut r = reader(input)?;
    let trust = match r.u8().ok()? {
        0 => {
            let roots = list(&mut r)?;
            let server_name = match r.u8().ok()? {
                0 => None,
                1 => Some(text(&mut r)?),
                _ => return None,
            };
            TlsTrust::Ca { roots, server_name }
        }
        1 => TlsTrust::Pinned(r.array::<32>().ok()?),
        2 => TlsTrust::AskFirst,
        _ => return None,
    };
    let identity = match r.u8().ok()? {
        0 => None,
        1 => {
            let chain = list(&mut r)?;
            let kind = r.u8().ok()?;
            let der = bytes(&mut r)?.to_vec();
            let key = match kind {
                1 => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
                2 => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
                3 => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
                _ => return None,
            };
            Some(TlsIdentity { chain, key })
        }
        _ => return None,
    };
    (r.remaining() == 0).then_some((trust, identity))
}

/// A certificate chain, leaf first.
pub fn encode_chain(chain: &[Vec<u8>]) -> Vec<u8> {
    message(|out| put_list(out, chain))
}

/// The inverse of [`encode_chain`]; `None` when malformed.
pub fn decode_chain(input: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut r = reader(input)?;
    let chain = list(&mut r)?;
    (r.remaining() == 0).then_some(chain)
}

/// An engine's error. Errors engines do not produce travel as [`Error::Tls`] with their text.
pub fn encode_error(e: &Error) -> Vec<u8> {
    message(|out| error(out, e))
}

fn error(out: &mut Vec<u8>, e: &Error) {
    match e {
        Error::ClientCertificateRequired => out.push(1),
        Error::ClientCertificateRefused { alert } => {
            out.push(2);
            put_bytes(out, alert.as_bytes());
        }
        Error::CertificateRejected { why, sha256 } => {
            out.push(3);
            out.extend_from_slice(sha256);
            match why {
                CertRejection::UnknownIssuer => out.push(0),
                CertRejection::Expired => out.push(1),
                CertRejection::NotYetValid => out.push(2),
                CertRejection::WrongName { expected } => {
                    out.push(3);
                    put_bytes(out, expected.as_bytes());
                }
                CertRejection::Revoked => out.push(4),
                CertRejection::PinMismatch { pinned } => {
                    out.push(5);
                    put_bytes(out, pinned.as_bytes());
                }
                CertRejection::Other(s) => {
                    out.push(6);
                    put_bytes(out, s.as_bytes());
                }
            }
        }
        Error::Tls { detail } => {
            out.push(0);
            put_bytes(out, detail.as_bytes());
        }
        other => {
            out.push(0);
            put_bytes(out, other.to_string().as_bytes());
        }
    }
}

/// The inverse of [`encode_error`]. Input that is no such error becomes an [`Error::Tls`]
/// saying so.
pub fn decode_error(input: &[u8]) -> Error {
    let decoded = (|| {
        let mut r = reader(input)?;
        let e = match r.u8().ok()? {
            0 => Error::Tls {
                detail: text(&mut r)?,
            },
            1 => Error::ClientCertificateRequired,
            2 => Error::ClientCertificateRefused {
                alert: text(&mut r)?,
            },
            3 => {
                let sha256 = r.array::<32>().ok()?;
                let why = match r.u8().ok()? {
                    0 => CertRejection::UnknownIssuer,
                    1 => CertRejection::Expired,
                    2 => CertRejection::NotYetValid,
                    3 => CertRejection::WrongName {
                        expected: text(&mut r)?,
                    },
                    4 => CertRejection::Revoked,
                    5 => CertRejection::PinMismatch {
                        pinned: text(&mut r)?,
                    },
                    6 => CertRejection::Other(text(&mut r)?),
                    _ => return None,
                };
                Error::CertificateRejected { why, sha256 }
            }
            _ => return None,
        };
        (r.remaining() == 0).then_some(e)
    })();
    decoded.unwrap_or_else(|| Error::Tls {
        detail: format!(
            "the viewer's TLS module answered in a form this viewer cannot read; {MISMATCH}"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(key: PrivateKeyDer<'static>) -> TlsIdentity {
        TlsIdentity {
            chain: vec![vec![1, 2, 3], vec![]],
            key,
        }
    }

    #[test]
    fn parameters_survive_the_trip() {
        let trusts = [
            TlsTrust::Ca {
                roots: vec![vec![0x30, 1], vec![0x30; 300]],
                server_name: Some("vnc.example".into()),
            },
            TlsTrust::Ca {
                roots: vec![],
                server_name: None,
            },
            TlsTrust::Pinned([7; 32]),
            TlsTrust::AskFirst,
        ];
        let keys = [
            PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(vec![1])),
            PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(vec![2, 2])),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(vec![3, 3, 3])),
        ];
        for trust in &trusts {
            let (t, id) = decode_params(&encode_params(trust, None)).expect("decodes");
            assert_eq!((&t, id.is_none()), (trust, true));
            for key in &keys {
                let given = identity(key.clone_key());
                let (t, id) = decode_params(&encode_params(trust, Some(&given))).expect("decodes");
                let id = id.expect("identity");
                assert_eq!(&t, trust);
                assert_eq!(id.chain, given.chain);
                assert_eq!(id.key, given.key);
            }
        }
    }

    #[test]
    fn errors_survive_the_trip() {
        let rejections = [
            CertRejection::UnknownIssuer,
            CertRejection::Expired,
            CertRejection::NotYetValid,
            CertRejection::WrongName {
                expected: "a.example".into(),
            },
            CertRejection::Revoked,
            CertRejection::PinMismatch {
                pinned: "AB:CD".into(),
            },
            CertRejection::Other("odd".into()),
        ];
        let mut errors = vec![
            Error::Tls {
                detail: "bad record".into(),
            },
            Error::ClientCertificateRequired,
            Error::ClientCertificateRefused {
                alert: "UnknownCA".into(),
            },
        ];
        errors.extend(
            rejections
                .into_iter()
                .map(|why| Error::CertificateRejected {
                    why,
                    sha256: [9; 32],
                }),
        );
        for e in errors {
            assert_eq!(decode_error(&encode_error(&e)).to_string(), e.to_string());
            assert!(matches!(
                (decode_error(&encode_error(&e)), &e),
                (Error::Tls { .. }, Error::Tls { .. })
                    | (
                        Error::ClientCertificateRequired,
                        Error::ClientCertificateRequired
                    )
                    | (
                        Error::ClientCertificateRefused { .. },
                        Error::ClientCertificateRefused { .. }
                    )
                    | (
                        Error::CertificateRejected { .. },
                        Error::CertificateRejected { .. }
                    )
            ));
        }
        // Anything else travels as its words.
        let other = decode_error(&encode_error(&Error::Closed));
        assert_eq!(
            other.to_string(),
            format!("TLS with the VNC server failed: {}", Error::Closed)
        );
    }

    #[test]
    fn malformed_input_is_refused_without_panicking() {
        let good = encode_params(
            &TlsTrust::Ca {
                roots: vec![vec![1; 40]],
                server_name: Some("x".into()),
            },
            Some(&identity(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                vec![5; 10],
            )))),
        );
        for cut in 0..good.len() {
            assert!(decode_params(&good[..cut]).is_none(), "cut at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(decode_params(&trailing).is_none());
        // A count of a billion items in a few bytes allocates nothing.
        assert!(decode_chain(&[VERSION, 0x40, 0, 0, 0, 0, 0, 0, 1, 9]).is_none());
        // Another build's messages are refused, not misread.
        let mut other = encode_chain(&[vec![1]]);
        other[0] = VERSION + 1;
        assert!(decode_chain(&other).is_none());
        let mut other = encode_error(&Error::ClientCertificateRequired);
        other[0] = VERSION + 1;
        assert!(decode_error(&other)
            .to_string()
            .contains("different builds"));
        assert_eq!(
            decode_chain(&encode_chain(&[vec![1], vec![2, 3]])),
            Some(vec![vec![1], vec![2, 3]])
        );
        assert!(matches!(
            decode_error(&[VERSION, 3, 1, 2]),
            Error::Tls { .. }
        ));
        assert!(matches!(decode_error(&[]), Error::Tls { .. }));
    }
}
