//! The walk through an X.509 certificate (RFC 5280 §4.1) with the [`crate::der`] reader: what
//! [`super::CertInfo`] shows, nothing more. The signature is not checked here (rustls and
//! webpki do that where trust is decided).

use std::net::IpAddr;

use crate::der::{self, tag, Der, DerError, DerProblem};

use super::KeyAlgorithm;

const OID_BASIC_CONSTRAINTS: &str = "2.5.29.19";
const OID_SUBJECT_ALT_NAME: &str = "2.5.29.17";
const OID_EXT_KEY_USAGE: &str = "2.5.29.37";
const OID_ANY_EKU: &str = "2.5.29.37.0";
const OID_SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
const OID_CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";
const OID_COMMON_NAME: &str = "2.5.4.3";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_ED25519: &str = "1.3.101.112";

/// What the certificate says, borrowed from its DER.
pub struct Parsed<'a> {
    pub serial: &'a [u8],
    pub issuer: Name<'a>,
    pub subject: Name<'a>,
    pub not_before: i64,
    pub not_after: i64,
    pub key: KeyAlgorithm,
    pub public_key: &'a [u8],
    pub is_ca: bool,
    pub path_len: Option<u32>,
    pub server_auth: bool,
    pub client_auth: bool,
    pub sans: Vec<String>,
}

/// A distinguished name: its whole encoding, and its text (`CN=…, O=…`).
pub struct Name<'a> {
    pub der: &'a [u8],
    pub text: String,
    pub common_name: Option<String>,
}

fn invalid(what: &'static str) -> DerError {
    DerError {
        what,
        problem: DerProblem::Value,
    }
}

/// Reads a whole certificate; bytes after it are an error.
pub fn parse(bytes: &[u8]) -> Result<Parsed<'_>, DerError> {
    let mut top = Der::new(bytes);
    let mut cert = top.nested(tag::SEQUENCE, "certificate")?;
    top.finish("certificate")?;
    let mut tbs = cert.nested(tag::SEQUENCE, "tbsCertificate")?;
    cert.expect(tag::SEQUENCE, "signatureAlgorithm")?;
    cert.expect(tag::BIT_STRING, "signature")?;
    cert.finish("certificate")?;

    if let Some(v) = tbs.optional(tag::explicit(0), "version")? {
        let mut v = Der::new(v);
        v.expect(tag::INTEGER, "version")?;
        v.finish("version")?;
    }
    let serial = tbs.expect(tag::INTEGER, "serialNumber")?;
    tbs.expect(tag::SEQUENCE, "signature")?;
    let issuer = name(&mut tbs, "issuer")?;
    let mut validity = tbs.nested(tag::SEQUENCE, "validity")?;
    let not_before = time(&mut validity, "notBefore")?;
    let not_after = time(&mut validity, "notAfter")?;
    validity.finish("validity")?;
    let subject = name(&mut tbs, "subject")?;
    let (key, public_key) = subject_public_key(&mut tbs)?;
    tbs.optional(tag::implicit(1), "issuerUniqueID")?;
    tbs.optional(tag::implicit(2), "subjectUniqueID")?;
    let mut parsed = Parsed {
        serial,
        issuer,
        subject,
        not_before,
        not_after,
        key,
        public_key,
        is_ca: false,
        path_len: None,
        server_auth: false,
        client_auth: false,
        sans: Vec::new(),
    };
    if let Some(ext) = tbs.optional(tag::explicit(3), "extensions")? {
        let mut ext = Der::new(ext);
        let list = ext.nested(tag::SEQUENCE, "extensions")?;
        ext.finish("extensions")?;
        extensions(list, &mut parsed)?;
    }
    tbs.finish("tbsCertificate")?;
    Ok(parsed)
}

fn time(d: &mut Der<'_>, what: &'static str) -> Result<i64, DerError> {
    let (t, contents, _) = d.any(what)?;
    der::time(t, contents).ok_or(invalid(what))
}

fn name<'a>(d: &mut Der<'a>, what: &'static str) -> Result<Name<'a>, DerError> {
    let (t, contents, whole) = d.any(what)?;
    if t != tag::SEQUENCE {
        return Err(DerError {
            what,
            problem: DerProblem::Tag {
                expected: tag::SEQUENCE,
                found: t,
            },
        });
    }
    let mut rdns = Der::new(contents);
    let mut parts = Vec::new();
    let mut common_name = None;
    while !rdns.is_empty() {
        let mut set = rdns.nested(tag::SET, what)?;
        let mut attributes = Vec::new();
        while !set.is_empty() {
            let mut atv = set.nested(tag::SEQUENCE, what)?;
            let oid = der::oid_text(atv.expect(tag::OID, what)?).ok_or(invalid(what))?;
            let (vt, value, _) = atv.any(what)?;
            atv.finish(what)?;
            let text = string_value(vt, value);
            if oid == OID_COMMON_NAME && common_name.is_none() {
                common_name = Some(text.clone());
            }
            attributes.push(format!("{}={text}", attribute_name(&oid)));
        }
        parts.push(attributes.join(" + "));
    }
    Ok(Name {
        der: whole,
        text: parts.join(", "),
        common_name,
    })
}

/// The short name people know an attribute by, else its OID.
fn attribute_name(oid: &str) -> &str {
    match oid {
        "2.5.4.3" => "CN",
        "2.5.4.4" => "surname",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "street",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.12" => "title",
        "2.5.4.17" => "postalCode",
        "2.5.4.42" => "givenName",
        "2.5.4.46" => "dnQualifier",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "Email",
        other => other,
    }
}

/// A directory string as text; a value of another type as upper-case hex.
fn string_value(t: u8, value: &[u8]) -> String {
    match t {
        tag::UTF8_STRING
        | tag::PRINTABLE_STRING
        | tag::T61_STRING
        | tag::IA5_STRING
        | tag::VISIBLE_STRING => String::from_utf8_lossy(value).into_owned(),
        tag::BMP_STRING => {
            let units: Vec<u16> = value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        tag::UNIVERSAL_STRING => value
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        _ => value.iter().map(|b| format!("{b:02X}")).collect(),
    }
}

fn subject_public_key<'a>(tbs: &mut Der<'a>) -> Result<(KeyAlgorithm, &'a [u8]), DerError> {
    const WHAT: &str = "subjectPublicKeyInfo";
    let mut spki = tbs.nested(tag::SEQUENCE, WHAT)?;
    let mut alg = spki.nested(tag::SEQUENCE, WHAT)?;
    let oid = der::oid_text(alg.expect(tag::OID, WHAT)?).ok_or(invalid(WHAT))?;
    let params = if alg.is_empty() {
        None
    } else {
        Some(alg.any(WHAT)?)
    };
    alg.finish(WHAT)?;
    let bits = spki.expect(tag::BIT_STRING, WHAT)?;
    spki.finish(WHAT)?;
    let (&unused, key) = bits.split_first().ok_or(invalid(WHAT))?;
    if unused != 0 {
        return Err(invalid(WHAT));
    }
    let algorithm = match oid.as_str() {
        OID_EC_PUBLIC_KEY => {
            let curve = params
                .filter(|(t, _, _)| *t == tag::OID)
                .and_then(|(_, c, _)| der::oid_text(c));
            let bits = match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => 256,
                Some("1.3.132.0.34") => 384,
                Some("1.3.132.0.35") => 521,
                _ => match key {
                    [4, point @ ..] => point.len() * 4,
                    [2 | 3, x @ ..] => x.len() * 8,
                    _ => 0,
                },
            };
            KeyAlgorithm::Ec { bits }
        }
        OID_RSA => {
            let mut k = Der::new(key);
            let mut seq = k.nested(tag::SEQUENCE, "RSA public key")?;
            let modulus = seq.expect(tag::INTEGER, "RSA modulus")?;
            let significant = modulus.iter().skip_while(|&&b| b == 0).count();
            KeyAlgorithm::Rsa {
                bits: significant * 8,
            }
        }
        OID_ED25519 => KeyAlgorithm::Ed25519,
        _ => KeyAlgorithm::Other(oid),
    };
    Ok((algorithm, key))
}

fn extensions(mut list: Der<'_>, out: &mut Parsed<'_>) -> Result<(), DerError> {
    const WHAT: &str = "extension";
    let mut seen: Vec<String> = Vec::new();
    while !list.is_empty() {
        let mut ext = list.nested(tag::SEQUENCE, WHAT)?;
        let oid = der::oid_text(ext.expect(tag::OID, WHAT)?).ok_or(invalid(WHAT))?;
        ext.optional(tag::BOOLEAN, "extension criticality")?;
        let value = ext.expect(tag::OCTET_STRING, WHAT)?;
        ext.finish(WHAT)?;
        if seen.contains(&oid) {
            return Err(DerError {
                what: "extensions",
                problem: DerProblem::Value,
            });
        }
        match oid.as_str() {
            OID_BASIC_CONSTRAINTS => basic_constraints(value, out)?,
            OID_EXT_KEY_USAGE => ext_key_usage(value, out)?,
            OID_SUBJECT_ALT_NAME => out.sans = alt_names(value)?,
            _ => {}
        }
        seen.push(oid);
    }
    Ok(())
}

fn basic_constraints(value: &[u8], out: &mut Parsed<'_>) -> Result<(), DerError> {
    const WHAT: &str = "basicConstraints";
    let mut v = Der::new(value);
    let mut seq = v.nested(tag::SEQUENCE, WHAT)?;
    v.finish(WHAT)?;
    if let Some(ca) = seq.optional(tag::BOOLEAN, WHAT)? {
        out.is_ca = matches!(ca, [b] if *b != 0);
    }
    if let Some(n) = seq.optional(tag::INTEGER, WHAT)? {
        if n.len() > 5 || n.first().is_some_and(|b| b & 0x80 != 0) {
            return Err(invalid(WHAT));
        }
        let value = n.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        out.path_len = Some(u32::try_from(value).map_err(|_| invalid(WHAT))?);
    }
    seq.finish(WHAT)
}

fn ext_key_usage(value: &[u8], out: &mut Parsed<'_>) -> Result<(), DerError> {
    const WHAT: &str = "extKeyUsage";
    let mut v = Der::new(value);
    let mut seq = v.nested(tag::SEQUENCE, WHAT)?;
    v.finish(WHAT)?;
    while !seq.is_empty() {
        let oid = der::oid_text(seq.expect(tag::OID, WHAT)?).ok_or(invalid(WHAT))?;
        match oid.as_str() {
            OID_SERVER_AUTH => out.server_auth = true,
            OID_CLIENT_AUTH => out.client_auth = true,
            OID_ANY_EKU => {
                out.server_auth = true;
                out.client_auth = true;
            }
            _ => {}
        }
    }
    Ok(())
}

/// `DNS:name`, `IP:addr`, `email:addr`, `URI:uri`, `DirName:…`, in certificate order.
fn alt_names(value: &[u8]) -> Result<Vec<String>, DerError> {
    const WHAT: &str = "subjectAltName";
    let mut v = Der::new(value);
    let mut seq = v.nested(tag::SEQUENCE, WHAT)?;
    v.finish(WHAT)?;
    let mut names = Vec::new();
    while !seq.is_empty() {
        let (t, contents, _) = seq.any(WHAT)?;
        let text = |prefix: &str| format!("{prefix}:{}", String::from_utf8_lossy(contents));
        names.push(match t {
            0x81 => text("email"),
            0x82 => text("DNS"),
            0x86 => text("URI"),
            0x87 => match ip(contents) {
                Some(addr) => format!("IP:{addr}"),
                None => format!("IP:<{} bytes>", contents.len()),
            },
            0xa4 => {
                let mut inner = Der::new(contents);
                let n = name(&mut inner, WHAT)?;
                inner.finish(WHAT)?;
                format!("DirName:{}", n.text)
            }
            0xa0 => "otherName".to_owned(),
            0x88 => match der::oid_text(contents) {
                Some(oid) => format!("RID:{oid}"),
                None => "RID".to_owned(),
            },
            other => format!("GeneralName[{}]", other & 0x1f),
        });
    }
    Ok(names)
}

fn ip(raw: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(raw) {
        return Some(IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(raw).ok().map(IpAddr::from)
}
